//! Sessions & tokens: live sessions above, API tokens below; one selection runs
//! through both, and `x` revokes the selected one. Ids come last: `x` needs none,
//! and the times stay in view at 80 columns.

use super::{Theme, draw_table, list_title};
use crate::app::App;
use crate::output::{Times, session_rows, token_rows};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let (sessions, tokens) = app.visible_sessions();
    let selected = app.sessions_view.at(sessions.len() + tokens.len());
    let [top, bottom] = Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
    draw_table(
        frame,
        theme,
        top,
        list_title(app, "Live sessions", sessions.len(), app.sessions_total()),
        &session_rows(sessions.iter().copied(), Times::Short).id_last(),
        selected.filter(|i| *i < sessions.len()),
    );
    draw_table(
        frame,
        theme,
        bottom,
        format!(" API tokens ({} of {}) ", tokens.len(), app.tokens_total()),
        &token_rows(tokens.iter().copied(), Times::Short).id_last(),
        selected.and_then(|i| i.checked_sub(sessions.len())),
    );
}
