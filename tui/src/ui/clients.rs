//! Clients: the registered OAuth clients; `a` adds one (its secret is shown once),
//! `x` removes the selected one.

use super::{Theme, draw_table, list_title};
use crate::app::App;
use crate::output::{Times, client_rows};
use ratatui::Frame;
use ratatui::layout::Rect;

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let clients = app.visible_clients();
    let title = list_title(app, "OAuth clients", clients.len(), app.clients.len());
    let selected = app.clients_view.at(clients.len());
    draw_table(
        frame,
        theme,
        area,
        title,
        &client_rows(clients.iter().copied(), Times::Short),
        selected,
    );
}
