//! Settings: guest mode, registration and key rotation as a list to act on, with
//! the published keys and the configured roles below.

use super::{Theme, block, draw_table};
use crate::app::{App, Setting};
use crate::output::{Times, key_rows, on_off, open_closed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [list, keys] = Layout::vertical([Constraint::Length(6), Constraint::Min(4)]).areas(area);
    let status = app.status.as_ref();
    let value = |f: &dyn Fn(&tessera_common::admin::StatusView) -> String| status.map_or_else(|| "-".to_owned(), f);
    let items: Vec<ListItem> = Setting::ALL
        .iter()
        .map(|setting| {
            let (name, now, key) = match setting {
                Setting::Guest => ("guest mode", value(&|s| on_off(s.guest_enabled).into()), "g"),
                Setting::Registration => ("registration", value(&|s| open_closed(s.registration_open).into()), "r"),
                Setting::Keys => ("signing key", "rotate".to_owned(), "k"),
            };
            ListItem::new(Line::from(vec![
                Span::raw(format!(" {name:<14}")),
                Span::styled(format!("{now:<8}"), theme.title()),
                Span::styled(format!("Enter or {key}"), theme.dim()),
            ]))
        })
        .collect();
    let roles = status.map_or_else(String::new, |s| format!(" · roles: {} ", s.roles.join(", ")));
    let widget = List::new(items)
        .block(block(format!(" Settings{roles}"), theme))
        .highlight_style(theme.selected());
    let mut state = ListState::default().with_selected(app.settings_view.at(Setting::ALL.len()));
    frame.render_stateful_widget(widget, list, &mut state);
    let title = format!(" Published keys ({}) ", app.keys.len());
    draw_table(frame, theme, keys, title, &key_rows(&app.keys, Times::Short), None);
}
