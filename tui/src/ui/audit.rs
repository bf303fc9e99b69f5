//! Audit: the trail as the daemon pushes it, newest at the bottom, with a filter.
//! While following, the newest entry stays selected; moving up pauses.

use super::{Theme, draw_table, list_title};
use crate::app::App;
use crate::output::{Times, audit_rows};
use ratatui::Frame;
use ratatui::layout::Rect;
use std::collections::HashMap;
use tessera_common::admin::AuditEntry;

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    // Subjects are user ids: the daemon names them; an older daemon does not, and then
    // the names of the loaded users stand in.
    let names: HashMap<&str, &str> = app
        .users
        .rows
        .iter()
        .map(|u| (u.user.id.as_str(), u.user.username.as_str()))
        .collect();
    // Only the rows in view are built: the trail can hold a thousand entries and
    // redraws as entries arrive.
    let visible = app.visible_audit();
    let selected = app.audit_selected_in(visible.len());
    let rows = usize::from(area.height.saturating_sub(3)).max(1);
    let start = selected.map_or(0, |s| (s + 1).saturating_sub(rows));
    let entries: Vec<AuditEntry> = visible[start..]
        .iter()
        .take(rows)
        .map(|&e| AuditEntry {
            username: e
                .username
                .clone()
                .or_else(|| e.subject.as_deref().and_then(|s| names.get(s)).map(|n| (*n).to_owned())),
            ..e.clone()
        })
        .collect();
    let mut title = list_title(app, "Audit", visible.len(), app.audit.len());
    title.push_str(if app.follow {
        "· following "
    } else {
        "· paused (f or End follows) "
    });
    let in_view = selected.map(|s| s - start);
    draw_table(frame, theme, area, title, &audit_rows(&entries, Times::Short), in_view);
}
