//! Drawing: a pure function of the [`App`] state. The frame is the tab bar, the
//! current screen (one module each), the status line (connection and messages) and
//! the footer of keys; dialogs and the help overlay are drawn on top.

mod audit;
mod clients;
mod dialogs;
mod overview;
mod sessions;
mod settings;
mod users;

use crate::app::{App, Conn, Mode};
use crate::keymap::{self, Screen};
use crate::output::Rows;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Tabs, Wrap};

/// Colours, or none at all (`NO_COLOR`): every style goes through here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set to a non-empty value (no-color.org).
    pub fn from_env() -> Self {
        Self::new(std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()))
    }

    /// With or without colours.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// Titles and headers.
    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected row or tab.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Keys in the footer and overlay.
    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// Errors and "reconnecting".
    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Good news.
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    /// Less important text.
    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Charts.
    pub fn chart(self) -> Style {
        self.fg(Color::Blue)
    }
}

/// Draws the whole console.
pub fn draw(frame: &mut Frame, app: &App, theme: Theme) {
    let area = frame.area();
    let footer = footer_lines(app, theme, area.width);
    let status_text = status_line(app, theme);
    let status_rows = wrapped_rows(&status_text, area.width);
    let [tabs, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(status_rows),
        Constraint::Length(footer.len() as u16),
    ])
    .areas(area);
    draw_tabs(frame, app, theme, tabs);
    match app.screen {
        Screen::Overview => overview::draw(frame, app, theme, body),
        Screen::Users => users::draw(frame, app, theme, body),
        Screen::Sessions => sessions::draw(frame, app, theme, body),
        Screen::Clients => clients::draw(frame, app, theme, body),
        Screen::Audit => audit::draw(frame, app, theme, body),
        Screen::Settings => settings::draw(frame, app, theme, body),
    }
    frame.render_widget(Paragraph::new(status_text).wrap(Wrap { trim: true }), status);
    frame.render_widget(Paragraph::new(footer), keys);
    dialogs::draw(frame, app, theme, area);
}

fn draw_tabs(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let titles = Screen::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| Line::from(format!("{} {}", i + 1, s.title())));
    let tabs = Tabs::new(titles)
        .select(app.screen.index())
        .highlight_style(theme.selected().add_modifier(Modifier::BOLD))
        .divider("│")
        .padding(" ", " ");
    frame.render_widget(tabs, area);
}

/// Rows `line` takes wrapped at word boundaries to `width` columns (at most 3).
fn wrapped_rows(line: &Line<'_>, width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let mut rows = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        let needed = if used == 0 { len } else { used + 1 + len };
        if needed > width && used > 0 {
            rows += 1;
            used = len;
        } else {
            used = needed;
        }
        // A word longer than the width is cut over as many rows as it needs.
        while used > width {
            rows += 1;
            used -= width;
        }
    }
    rows.min(3)
}

/// Connection state first, then the message if any (else the daemon and socket).
fn status_line(app: &App, theme: Theme) -> Line<'static> {
    let mut spans = match &app.conn {
        Conn::Connecting => vec![Span::styled(format!("… connecting to {}", app.socket), theme.dim())],
        Conn::Up { .. } => vec![Span::styled("● connected", theme.ok())],
        Conn::Down { reason } => vec![
            Span::styled("○ reconnecting", theme.error()),
            Span::raw(format!(" ({reason}); retrying every second")),
        ],
    };
    match (&app.message, &app.conn) {
        (Some(message), _) => {
            spans.push(Span::raw(" │ "));
            let style = if message.error { theme.error() } else { theme.ok() };
            spans.push(Span::styled(crate::output::clean(&message.text), style));
        }
        (None, Conn::Up { daemon }) => {
            spans.push(Span::styled(
                format!(" tesserad {daemon} · {}", app.socket),
                theme.dim(),
            ));
        }
        (None, _) => {}
    }
    Line::from(spans)
}

/// `key label` pairs as styled spans.
fn pairs_spans(pairs: &[(String, &'static str)], theme: Theme) -> Vec<Vec<Span<'static>>> {
    pairs
        .iter()
        .map(|(k, label)| vec![Span::styled(k.clone(), theme.key()), Span::raw(format!(" {label}"))])
        .collect()
}

/// The footer: the keys that work here, wrapped to `width`.
fn footer_lines(app: &App, theme: Theme, width: u16) -> Vec<Line<'static>> {
    let pairs = keymap::footer(app.when(), app.screen);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for spans in pairs_spans(&pairs, theme) {
        let len: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        if used > 0 && used + 2 + len > width as usize {
            lines.push(Line::from(std::mem::take(&mut current)));
            used = 0;
        }
        if used > 0 {
            current.push(Span::raw("  "));
            used += 2;
        }
        used += len;
        current.extend(spans);
    }
    if !current.is_empty() {
        lines.push(Line::from(current));
    }
    lines
}

/// A bordered block with a title.
fn block(title: String, theme: Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.title()))
}

/// The block title of a list: name, counts, and the search if any.
fn list_title(app: &App, name: &str, shown: usize, total: usize) -> String {
    let mut title = if shown == total {
        format!(" {name} ({total}) ")
    } else {
        format!(" {name} ({shown} of {total}) ")
    };
    let filter = app.filter();
    if matches!(app.mode, Mode::Searching) {
        title.push_str(&format!("search: {filter}▏ "));
    } else if !filter.is_empty() {
        title.push_str(&format!("search: {filter} (Esc clears) "));
    }
    title
}

/// Column widths for `rows` in `width`: each as wide as its widest cell (capped),
/// dropping columns from the right that do not fit.
fn widths(rows: &Rows, width: u16) -> Vec<Constraint> {
    const CAP: usize = 52;
    let mut w: Vec<usize> = rows.headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows.rows {
        for (w, cell) in w.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(CAP);
        }
    }
    let available = width as usize;
    let mut used = 0;
    let mut out = Vec::new();
    for (i, col) in w.iter().enumerate() {
        let gap = usize::from(i > 0);
        if used + gap + col > available {
            let rest = available.saturating_sub(used + gap);
            if rest >= 6 {
                out.push(Constraint::Length(rest as u16));
            }
            break;
        }
        used += gap + col;
        out.push(Constraint::Length(*col as u16));
    }
    out
}

/// A table of `rows` in `area` inside a titled block, with `selected` highlighted
/// and kept in view.
fn draw_table(frame: &mut Frame, theme: Theme, area: Rect, title: String, rows: &Rows, selected: Option<usize>) {
    let block = block(title, theme);
    let inner = block.inner(area);
    let constraints = widths(rows, inner.width);
    let header = Row::new(rows.headers.iter().map(|h| Cell::from(*h))).style(theme.title());
    let body = rows
        .rows
        .iter()
        .map(|r| Row::new(r.iter().map(|c| Cell::from(c.clone()))));
    let table = Table::new(body, constraints)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

/// A rectangle of `width` × `height` centred in `area` (clipped to it).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
mod tests;
