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
            let [t, d] = Layout::vertical([Constraint::Min(5), Constraint::Length(11)]).areas(area);
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
    // Both lists share the rows left, so many sessions never hide the API tokens.
    // Lines wider than the pane wrap.
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let used: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
    let room = usize::from(area.height.saturating_sub(2)).saturating_sub(used + 1);
    let (for_sessions, for_tokens) = share(room, detail.sessions.len(), detail.tokens.len());
    let name = clean(&user.user.username);
    lines.extend(fit(
        detail.sessions.iter().map(|s| {
            Line::from(format!(
                "  {}  {} → {}",
                s.id,
                t.show(&s.created_at),
                s.expires_at.get(..10).unwrap_or(&s.expires_at)
            ))
        }),
        detail.sessions.len(),
        for_sessions,
        &format!("tessera session list {name}"),
    ));
    lines.push(Line::from(Span::styled(
        format!("API tokens ({})", detail.tokens.len()),
        theme.title(),
    )));
    lines.extend(fit(
        detail.tokens.iter().map(|k| {
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
        }),
        detail.tokens.len(),
        for_tokens,
        &format!("tessera token list {name}"),
    ));
    let title = format!(" {} (Enter or Esc closes) ", clean(&user.user.username));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(title, theme))
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// Splits `room` rows between two lists of `a` and `b` entries: each gets what it
/// needs when both fit, and at least half the room otherwise (the rest goes to the
/// other).
fn share(room: usize, a: usize, b: usize) -> (usize, usize) {
    let for_a = a.min((room / 2).max(room.saturating_sub(b)));
    (for_a, b.min(room - for_a))
}

/// The first of `len` lines that fit in `rows`, the last row saying how many more
/// there are and the command that lists them all.
fn fit<'a>(lines: impl Iterator<Item = Line<'a>>, len: usize, rows: usize, all: &str) -> Vec<Line<'a>> {
    if len <= rows {
        return lines.collect();
    }
    let shown = rows.saturating_sub(1);
    let mut out: Vec<Line<'a>> = lines.take(shown).collect();
    if rows > 0 {
        out.push(Line::from(format!("  … {} more: {all}", len - shown)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn two_lists_share_the_rows_left() {
        assert_eq!(share(10, 3, 4), (3, 4), "both fit");
        assert_eq!(share(6, 17, 2), (4, 2), "the tokens stay in view");
        assert_eq!(share(6, 1, 10), (1, 5));
        assert_eq!(share(6, 17, 10), (3, 3));
        assert_eq!(share(0, 5, 5), (0, 0));
    }
}
