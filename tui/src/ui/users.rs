//! Users: the table with `/` search, and the selected user's details pane (their
//! sessions and API tokens) beside it on wide terminals, below it on narrow ones.

use super::{Theme, block, draw_table, list_title};
use crate::app::App;
use crate::output::{Times, account_state, clean, user_rows};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// Terminals at least this wide show the details beside the table.
const SIDE_BY_SIDE: u16 = 120;

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let users = app.visible_users();
    let rows = user_rows(users.iter().copied(), Times::Short);
    let title = list_title(app, "Users", users.len(), app.users_total());
    let selected = app.users_view.at(users.len());
    let (table, detail) = match app.detail {
        None => (area, None),
        Some(_) if area.width >= SIDE_BY_SIDE => {
            let [t, d] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
            (t, Some(d))
        }
        Some(_) => {
            let [t, d] = Layout::vertical([Constraint::Min(5), Constraint::Length(9)]).areas(area);
            (t, Some(d))
        }
    };
    draw_table(frame, theme, table, title, &rows, selected);
    if let Some(area) = detail {
        draw_detail(frame, app, theme, area);
    }
}

fn draw_detail(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let (Some(user), Some(detail)) = (app.selected_user(), app.detail.as_ref()) else {
        return;
    };
    let t = Times::Short;
    let label = |text: &str| Span::styled(format!("{text:<11}"), theme.dim());
    let mut lines = vec![
        Line::from(vec![
            label("user"),
            Span::raw(clean(&format!(
                "{} <{}> \"{}\"",
                user.user.username, user.user.email, user.user.display_name
            ))),
        ]),
        Line::from(vec![
            label("role"),
            Span::raw(format!(
                "{} · {} · {} · id {}",
                user.user.role,
                account_state(user),
                if user.user.email_verified {
                    "address verified"
                } else {
                    "address not verified"
                },
                user.user.id
            )),
        ]),
        Line::from(vec![
            label("created"),
            Span::raw(t.show(&user.user.created_at)),
            Span::styled("  last login ", theme.dim()),
            Span::raw(
                user.last_login_at
                    .as_deref()
                    .map_or_else(|| "never".into(), |at| t.show(at)),
            ),
        ]),
        Line::from(Span::styled(
            format!("sessions ({})", detail.sessions.len()),
            theme.title(),
        )),
    ];
    lines.extend(detail.sessions.iter().map(|s| {
        Line::from(format!(
            "  {}  {} → {}",
            s.id,
            t.show(&s.created_at),
            s.expires_at.get(..10).unwrap_or(&s.expires_at)
        ))
    }));
    lines.push(Line::from(Span::styled(
        format!("API tokens ({})", detail.tokens.len()),
        theme.title(),
    )));
    lines.extend(detail.tokens.iter().map(|k| {
        Line::from(clean(&format!(
            "  {} \"{}\"  {}  last used {}",
            k.token.id,
            k.token.name,
            k.token.scopes.join(" "),
            k.token
                .last_used_at
                .as_deref()
                .map_or_else(|| "never".into(), |at| t.show(at))
        )))
    }));
    let title = format!(" {} (Enter or Esc closes) ", clean(&user.user.username));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(title, theme))
            .wrap(Wrap { trim: false }),
        area,
    );
}
