//! What is drawn over a screen: the help overlay, confirmation dialogs, forms and
//! the one-time secret of a new client. Their key hints come from the key table.

use super::{Theme, block, centered, pairs_spans};
use crate::app::{App, Mode};
use crate::form::{Form, ROLE_LABEL};
use crate::keymap::{self, When};
use crate::output::clean;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use tessera_common::admin::{AuditEntry, ClientCreated};

/// Widest a dialog gets.
const DIALOG_WIDTH: u16 = 76;
/// Width of one column of the help overlay.
const HELP_COLUMN: u16 = 38;

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    match &app.mode {
        Mode::Browsing | Mode::Searching => {}
        Mode::Help(scroll) => help(frame, theme, area, *scroll),
        Mode::Confirm(confirm) => {
            let body = vec![Line::from(clean(&confirm.body))];
            dialog(frame, theme, area, &confirm.title, body, When::Confirming);
        }
        Mode::Form(form) => dialog(
            frame,
            theme,
            area,
            &form.title(),
            form_lines(form, app.roles(), theme),
            When::Form,
        ),
        Mode::Entry(entry) => dialog(
            frame,
            theme,
            area,
            "Audit entry",
            entry_lines(entry, theme),
            When::Notice,
        ),
        Mode::Secret(created) => dialog(
            frame,
            theme,
            area,
            "OAuth client",
            secret_lines(created, theme),
            When::Notice,
        ),
    }
}

/// The key hints of `when`, as one line.
fn hints(theme: Theme, when: When) -> Line<'static> {
    let pairs = keymap::footer(when, crate::keymap::Screen::Overview);
    let mut spans = Vec::new();
    for (i, pair) in pairs_spans(&pairs, theme).into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.extend(pair);
    }
    Line::from(spans)
}

/// A centred box: `title`, the `body`, a blank line and the key hints of `when`.
fn dialog(frame: &mut Frame, theme: Theme, area: Rect, title: &str, mut body: Vec<Line<'static>>, when: When) {
    body.push(Line::from(""));
    body.push(hints(theme, when));
    let width = DIALOG_WIDTH.min(area.width);
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let height: usize = body
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum::<usize>()
        + 2;
    let rect = centered(area, width, height as u16);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(body)
            .block(block(format!(" {title} "), theme))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// A form's fields, their labels in a column as wide as the longest; a role field
/// lists the roles the daemon knows.
fn form_lines(form: &Form, roles: &[String], theme: Theme) -> Vec<Line<'static>> {
    let width = form.fields.iter().map(|f| f.label.chars().count()).max().unwrap_or(0) + 2;
    let mut lines: Vec<Line<'static>> = form
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let focused = i == form.focus;
            let shown = if field.secret {
                "•".repeat(field.value.chars().count())
            } else {
                field.value.clone()
            };
            let cursor = if focused { "▏" } else { "" };
            let marker = if focused { "› " } else { "  " };
            let label_style = if focused { theme.key() } else { theme.dim() };
            let mut spans = vec![
                Span::raw(marker),
                Span::styled(format!("{:<width$}", field.label), label_style),
                Span::raw(format!("{shown}{cursor}")),
            ];
            if field.label == ROLE_LABEL && !roles.is_empty() {
                spans.push(Span::styled(format!("  one of: {}", roles.join(", ")), theme.dim()));
            }
            Line::from(spans)
        })
        .collect();
    if form.waiting {
        lines.push(Line::from(Span::styled("waiting for the daemon…", theme.dim())));
    }
    if let Some(error) = &form.error {
        lines.push(Line::from(Span::styled(error.clone(), theme.error())));
    }
    lines
}

/// Every field of an audit entry, the detail whole (wrapped by the dialog).
fn entry_lines(e: &AuditEntry, theme: Theme) -> Vec<Line<'static>> {
    let field = |name: &str, value: Option<&str>| {
        Line::from(vec![
            Span::styled(format!("{name:<9}"), theme.dim()),
            Span::raw(clean(value.unwrap_or("-"))),
        ])
    };
    vec![
        field("seq", Some(&e.seq.to_string())),
        field("at", Some(&e.at)),
        field("event", Some(&e.event)),
        field("subject", e.subject.as_deref()),
        field("username", e.username.as_deref()),
        field("origin", e.origin.as_deref()),
        field("detail", e.detail.as_deref()),
        field("request", e.request_id.as_deref()),
    ]
}

fn secret_lines(created: &ClientCreated, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled("client id      ", theme.dim()),
        Span::raw(clean(&created.client_id)),
    ])];
    if let Some(secret) = &created.client_secret {
        lines.push(Line::from(vec![
            Span::styled("client secret  ", theme.dim()),
            Span::styled(secret.clone(), theme.title()),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("scopes         ", theme.dim()),
        Span::raw(created.scopes.join(" ")),
    ]));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        match created.client_secret {
            Some(_) => "Copy the secret now: it will not be shown again. The daemon keeps only its digest.",
            None => "A public client: it has no secret.",
        },
        theme.error(),
    )));
    lines
}

/// The overlay's lines cut into columns of at most `per_column` lines: a section
/// starts a new column when its title and first entry do not fit, and a column that
/// starts inside a section repeats its title.
fn help_columns(
    sections: &[(String, Vec<(String, &'static str)>)],
    per_column: usize,
    theme: Theme,
) -> Vec<Vec<Line<'static>>> {
    let mut chunks: Vec<Vec<Line<'static>>> = vec![Vec::new()];
    for (title, entries) in sections {
        let heading = |more: bool| {
            let text = if more { format!("{title} (more)") } else { title.clone() };
            Line::from(Span::styled(text, theme.title()))
        };
        let used = chunks.last().map_or(0, Vec::len);
        if used > 0 && used + 3 <= per_column {
            if let Some(c) = chunks.last_mut() {
                c.push(Line::from(""));
            }
        } else if used > 0 {
            chunks.push(Vec::new());
        }
        if let Some(c) = chunks.last_mut() {
            c.push(heading(false));
        }
        for (keys, label) in entries {
            if chunks.last().is_some_and(|c| c.len() >= per_column) {
                chunks.push(vec![heading(true)]);
            }
            let line = Line::from(vec![
                Span::styled(format!("  {keys:<12}"), theme.key()),
                Span::raw(*label),
            ]);
            if let Some(c) = chunks.last_mut() {
                c.push(line);
            }
        }
    }
    chunks
}

/// What the Users columns mean, after the keys in the overlay.
const USERS_COLUMNS: [(&str, &str); 2] = [
    ("STATE", "disabled: cannot sign in"),
    ("VERIFIED", "email address confirmed"),
];

/// Every binding of the key table, then what the Users columns mean, in columns,
/// scrolled by `scroll` lines.
fn help(frame: &mut Frame, theme: Theme, area: Rect, scroll: u16) {
    let mut sections: Vec<(String, Vec<(String, &'static str)>)> = keymap::help_sections();
    sections.push((
        "Users columns".to_owned(),
        USERS_COLUMNS.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    ));
    let width = area.width.saturating_sub(2).min(HELP_COLUMN * 4 + 2);
    let columns = (width.saturating_sub(2) / HELP_COLUMN).max(1) as usize;
    let total: usize = sections.iter().map(|(_, entries)| entries.len() + 2).sum();
    let mut per_column = total.div_ceil(columns).max(2);
    let chunks = loop {
        let chunks = help_columns(&sections, per_column, theme);
        if chunks.len() <= columns {
            break chunks;
        }
        per_column += 1;
    };
    let per_column = chunks.iter().map(Vec::len).max().unwrap_or(0);
    let height = (per_column as u16 + 2).min(area.height);
    let rect = centered(area, width, height);
    let outer = block(" Keys (↑/↓ scroll, Esc closes) ".to_owned(), theme);
    let inner = outer.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(outer, rect);
    let max_scroll = per_column.saturating_sub(inner.height as usize) as u16;
    let scroll = scroll.min(max_scroll);
    let areas = Layout::horizontal((0..columns).map(|_| Constraint::Length(HELP_COLUMN))).split(inner);
    for (chunk, column) in chunks.into_iter().zip(areas.iter()) {
        frame.render_widget(Paragraph::new(chunk).scroll((scroll, 0)), *column);
    }
}
