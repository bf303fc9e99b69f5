//! Overview: daemon facts (connection, version, uptime, guest and registration,
//! keys, counts) and a chart per activity metric.

use super::{Theme, block};
use crate::app::{App, Conn};
use crate::history::Metric;
use crate::output::{duration, on_off, open_closed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, RenderDirection, Sparkline};
use tessera_common::api::KeyStatus;

/// Seconds per chart column.
const BUCKET: usize = 5;
/// Width of a chart row's label.
const LABEL: u16 = 17;
/// Width of a chart row's current value.
const VALUE: u16 = 8;

pub fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [facts, charts] = Layout::vertical([Constraint::Length(7), Constraint::Min(3)]).areas(area);
    draw_facts(frame, app, theme, facts);
    draw_charts(frame, app, theme, charts);
}

fn draw_facts(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let connection = match &app.conn {
        Conn::Connecting => Span::styled("connecting", theme.dim()),
        Conn::Up { daemon } => Span::styled(format!("connected to tesserad {daemon}"), theme.ok()),
        Conn::Down { .. } => Span::styled("reconnecting", theme.error()),
    };
    let dash = || "-".to_owned();
    let status = app.status.as_ref();
    let uptime = app
        .history
        .latest()
        .map(|a| a.uptime_seconds)
        .or(status.map(|s| s.activity.uptime_seconds))
        .map_or_else(dash, duration);
    let key_of = |wanted: KeyStatus| {
        let kids: Vec<&str> = app
            .keys
            .iter()
            .filter(|k| k.status == wanted)
            .map(|k| k.kid.as_str())
            .collect();
        if kids.is_empty() {
            "none".to_owned()
        } else {
            kids.join(", ")
        }
    };
    let label = |text: &str| Span::styled(format!("{text:<13}"), theme.dim());
    let lines = vec![
        Line::from(vec![label("daemon"), connection, Span::raw(format!(" · up {uptime}"))]),
        Line::from(vec![
            label("guest mode"),
            Span::raw(status.map_or_else(dash, |s| on_off(s.guest_enabled).to_owned())),
            Span::styled("   registration ", theme.dim()),
            Span::raw(status.map_or_else(dash, |s| open_closed(s.registration_open).to_owned())),
        ]),
        Line::from(vec![
            label("accounts"),
            Span::raw(status.map_or_else(dash, |s| {
                format!(
                    "{} users · {} live sessions · {} API tokens · {} OAuth clients",
                    s.users, s.activity.sessions, s.api_tokens, s.clients
                )
            })),
        ]),
        Line::from(vec![label("active key"), Span::raw(key_of(KeyStatus::Active))]),
        Line::from(vec![label("retiring"), Span::raw(key_of(KeyStatus::Retiring))]),
    ];
    frame.render_widget(Paragraph::new(lines).block(block(" Tessera ".into(), theme)), area);
}

/// The peak of each `BUCKET`-second group of `samples`, newest last.
fn buckets(samples: &[u64]) -> Vec<u64> {
    let skip = samples.len() % BUCKET;
    let mut out: Vec<u64> = Vec::new();
    if skip > 0 {
        out.push(samples[..skip].iter().copied().max().unwrap_or(0));
    }
    out.extend(
        samples[skip..]
            .chunks(BUCKET)
            .map(|c| c.iter().copied().max().unwrap_or(0)),
    );
    out
}

fn draw_charts(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let chart_width = area.width.saturating_sub(2 + LABEL + VALUE) as usize;
    let minutes = (chart_width * BUCKET).div_ceil(60);
    let title = format!(" Activity: now, and the peak of every {BUCKET} s over the last {minutes} min ");
    let outer = block(title, theme);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let height = (inner.height / Metric::ALL.len() as u16).max(1);
    let rows = Layout::vertical(Metric::ALL.iter().map(|_| Constraint::Length(height))).split(inner);
    for (metric, row) in Metric::ALL.iter().zip(rows.iter()) {
        let [label, value, chart] =
            Layout::horizontal([Constraint::Length(LABEL), Constraint::Length(VALUE), Constraint::Min(0)]).areas(*row);
        let bottom = |r: Rect| Rect {
            y: r.y + r.height - 1,
            height: 1,
            ..r
        };
        frame.render_widget(Paragraph::new(Span::styled(metric.label(), theme.dim())), bottom(label));
        let now = app.history.now(*metric);
        frame.render_widget(Paragraph::new(format!("{now:>6}  ")), bottom(value));
        let samples = app.history.series(*metric, chart.width as usize * BUCKET);
        // Newest at the right edge.
        let mut data = buckets(&samples);
        data.reverse();
        let sparkline = Sparkline::default()
            .data(&data)
            .direction(RenderDirection::RightToLeft)
            .style(theme.chart());
        frame.render_widget(sparkline, chart);
    }
}

#[cfg(test)]
mod tests {
    use super::buckets;

    #[test]
    fn buckets_keep_the_peak_and_end_with_the_newest() {
        assert_eq!(buckets(&[1, 2, 3, 4, 5, 6, 7]), [2, 7]);
        assert_eq!(buckets(&[0, 0, 9, 0, 0]), [9]);
        assert!(buckets(&[]).is_empty());
    }
}
