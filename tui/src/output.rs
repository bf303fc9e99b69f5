//! What an answer looks like: the rows of every list (shared by the subcommands'
//! aligned tables and the full-screen console's tables), and JSON for scripts.

use serde_json::{Value, json};
use tessera_common::admin::{
    Activity, AdminApiToken, AdminUser, AuditEntry, ClientView, Reply, SessionView, StatusView,
};
use tessera_common::api::{KeyStatus, KeyView};

/// The JSON a script gets for an answer: lists as arrays, users in the HTTP shape.
pub fn json_of(reply: &Reply) -> Value {
    let value = match reply {
        Reply::Status(status) => serde_json::to_value(status),
        Reply::Activity(activity) => serde_json::to_value(activity),
        Reply::Users(users) | Reply::UserPage { users, .. } => serde_json::to_value(users),
        Reply::User(user) => serde_json::to_value(user),
        Reply::Sessions(sessions) | Reply::SessionPage { sessions, .. } => serde_json::to_value(sessions),
        Reply::Count(count) => Ok(json!({ "count": count })),
        Reply::Guest { enabled } => Ok(json!({ "enabled": enabled })),
        Reply::Registration { open } => Ok(json!({ "mode": if *open { "open" } else { "closed" } })),
        Reply::ApiTokens(tokens) | Reply::TokenPage { tokens, .. } => serde_json::to_value(tokens),
        Reply::Clients(clients) => serde_json::to_value(clients),
        Reply::ClientCreated(created) => serde_json::to_value(created),
        Reply::Keys(keys) => serde_json::to_value(keys),
        Reply::Audit(entries) | Reply::AuditPage { entries, .. } => serde_json::to_value(entries),
        Reply::Backup(view) => serde_json::to_value(view),
        Reply::Grants(grants) => serde_json::to_value(grants),
        Reply::Done => Ok(json!({ "status": "ok" })),
    };
    value.unwrap_or(Value::Null)
}

/// How times appear in cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// As the daemon sends them (RFC 3339), for scripts and logs.
    Full,
    /// `YYYY-MM-DD HH:MM`, for narrow screens.
    Short,
}

impl Times {
    /// `at` in this style.
    pub fn show(self, at: &str) -> String {
        match self {
            Times::Full => at.to_owned(),
            // 2026-11-27T10:46:08Z -> 2026-11-27 10:46
            Times::Short => match (at.get(..10), at.get(11..16)) {
                (Some(date), Some(time)) => format!("{date} {time}"),
                _ => at.to_owned(),
            },
        }
    }

    fn opt(self, at: &Option<String>) -> String {
        at.as_deref().map_or_else(|| "-".into(), |t| self.show(t))
    }
}

/// A list as headers and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// Column names.
    pub headers: Vec<&'static str>,
    /// One cell per column in each row.
    pub rows: Vec<Vec<String>>,
}

impl Rows {
    /// Rows whose every cell is [`clean`]ed.
    fn new(headers: &'static [&'static str], rows: impl Iterator<Item = Vec<String>>) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: rows.map(|row| row.iter().map(|cell| clean(cell)).collect()).collect(),
        }
    }

    /// The same rows with the first column (an id) moved to the end, for a screen
    /// where the other columns matter more.
    pub fn id_last(mut self) -> Self {
        self.headers.rotate_left(1);
        for row in &mut self.rows {
            row.rotate_left(1);
        }
        self
    }

    /// Columns padded to their widest cell.
    pub fn to_text(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            padded.join("  ").trim_end().to_owned()
        };
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut out = vec![line(&headers)];
        out.extend(self.rows.iter().map(|r| line(r)));
        out.join("\n")
    }
}

fn opt(value: &Option<String>) -> String {
    value.as_deref().map_or_else(|| "-".into(), clean)
}

/// Whom an audit entry concerns: the user's username while they exist, else the id.
fn subject(e: &AuditEntry) -> String {
    opt(if e.username.is_some() { &e.username } else { &e.subject })
}

/// `text` safe to print on a terminal: control characters (escape sequences, carriage
/// returns, …) are shown escaped, as `\u{1b}`, instead of acting on the terminal.
pub fn clean(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `active` (may sign in) or `disabled`; whether the address is verified is shown
/// apart.
pub fn account_state(user: &AdminUser) -> &'static str {
    if user.disabled { "disabled" } else { "active" }
}

/// Users: username, email, whether it is verified, role, state (see
/// [`account_state`]), last login, created, id.
pub fn user_rows<'a>(users: impl IntoIterator<Item = &'a AdminUser>, times: Times) -> Rows {
    Rows::new(
        &[
            "USERNAME",
            "EMAIL",
            "VERIFIED",
            "ROLE",
            "STATE",
            "LAST LOGIN",
            "CREATED",
            "ID",
        ],
        users.into_iter().map(|u| {
            vec![
                u.user.username.clone(),
                u.user.email.clone(),
                if u.user.email_verified { "yes" } else { "no" }.into(),
                u.user.role.clone(),
                account_state(u).into(),
                times.opt(&u.last_login_at),
                times.show(&u.user.created_at),
                u.user.id.clone(),
            ]
        }),
    )
}

/// Live sessions: id, user, scopes, created, expires.
pub fn session_rows<'a>(sessions: impl IntoIterator<Item = &'a SessionView>, times: Times) -> Rows {
    Rows::new(
        &["ID", "USER", "KIND", "CLIENT", "SCOPES", "CREATED", "EXPIRES"],
        sessions.into_iter().map(|s| {
            vec![
                s.id.clone(),
                s.username.clone(),
                s.kind.clone(),
                s.client_id.clone().unwrap_or_else(|| "-".into()),
                if s.scopes.is_empty() {
                    "-".into()
                } else {
                    s.scopes.join(" ")
                },
                times.show(&s.created_at),
                times.show(&s.expires_at),
            ]
        }),
    )
}

/// API tokens: id, user, name, scopes, expires, last used.
pub fn token_rows<'a>(tokens: impl IntoIterator<Item = &'a AdminApiToken>, times: Times) -> Rows {
    Rows::new(
        &["ID", "USER", "NAME", "SCOPES", "EXPIRES", "LAST USED"],
        tokens.into_iter().map(|t| {
            vec![
                t.token.id.clone(),
                t.username.clone(),
                t.token.name.clone(),
                t.token.scopes.join(" "),
                times.opt(&t.token.expires_at),
                times.opt(&t.token.last_used_at),
            ]
        }),
    )
}

/// OAuth clients: id, scopes, created.
pub fn client_rows<'a>(clients: impl IntoIterator<Item = &'a ClientView>, times: Times) -> Rows {
    Rows::new(
        &["CLIENT", "SCOPES", "KIND", "ID TOKEN", "REDIRECT URIS", "CREATED"],
        clients.into_iter().map(|c| {
            vec![
                c.client_id.clone(),
                c.scopes.join(" "),
                client_kind(c).into(),
                c.id_token_signed_response_alg.to_string(),
                c.redirect_uris.join(" "),
                times.show(&c.created_at),
            ]
        }),
    )
}

/// `public` or `confidential`, with `first-party` when it skips consent.
pub fn client_kind(c: &ClientView) -> &'static str {
    match (c.public, c.first_party) {
        (true, true) => "public first-party",
        (true, false) => "public",
        (false, true) => "confidential first-party",
        (false, false) => "confidential",
    }
}

/// `active` or `retiring`.
pub fn key_status(key: &KeyView) -> &'static str {
    match key.status {
        KeyStatus::Active => "active",
        KeyStatus::Retiring => "retiring",
    }
}

/// Signing keys: kid, status, created.
pub fn key_rows(keys: &[KeyView], times: Times) -> Rows {
    Rows::new(
        &["KID", "STATUS", "CREATED"],
        keys.iter()
            .map(|k| vec![k.kid.clone(), key_status(k).into(), times.show(&k.created_at)]),
    )
}

/// Audit entries: time, event, subject, origin, detail.
pub fn audit_rows<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>, times: Times) -> Rows {
    Rows::new(
        &["AT", "EVENT", "SUBJECT", "ORIGIN", "DETAIL"],
        entries.into_iter().map(|e| {
            vec![
                times.show(&e.at),
                e.event.clone(),
                subject(e),
                opt(&e.origin),
                opt(&e.detail),
            ]
        }),
    )
}

/// One audit entry as a line, in columns wide enough for the longest event name
/// (`admin.registration.closed`), an account id and an IPv4 address.
pub fn audit_line(e: &AuditEntry) -> String {
    format!(
        "{}  {:<25}  {:<36}  {:<15}  {}",
        clean(&e.at),
        clean(&e.event),
        subject(e),
        opt(&e.origin),
        opt(&e.detail)
    )
}

/// The store's size, and what the last compaction did.
fn store_size(s: &StatusView) -> String {
    let mut text = format!("{} bytes", s.store_bytes);
    if let Some(c) = &s.compacted {
        text.push_str(&format!(
            " (compacted {}: {} bytes before, {} after)",
            clean(&c.at),
            c.before_bytes,
            c.after_bytes
        ));
    }
    text
}

/// `on` or `off`.
pub fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// `open` or `closed`.
pub fn open_closed(open: bool) -> &'static str {
    if open { "open" } else { "closed" }
}

/// `1d 02h 03m`, `2h 03m`, `3m 04s`.
pub fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h) {
        (0, 0) => format!("{m}m {s:02}s"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h:02}h {m:02}m"),
    }
}

fn fields(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<14} {}", clean(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn activity(a: &Activity) -> Vec<(&'static str, String)> {
    let c = &a.counters;
    vec![
        ("uptime", format!("{}s", a.uptime_seconds)),
        ("live sessions", a.sessions.to_string()),
        (
            "activity",
            format!(
                "{} logins, {} failures, {} tokens issued, {} refreshes, {} reuse detected, {} revocations, {} admin actions",
                c.logins, c.failures, c.issued, c.refreshes, c.reuse_detected, c.revocations, c.admin_actions
            ),
        ),
        ("hash queue", a.hash_queue.to_string()),
    ]
}

fn status(s: &StatusView) -> String {
    let mut pairs = vec![("version", s.version.clone())];
    pairs.extend(activity(&s.activity));
    pairs.extend([
        ("users", s.users.to_string()),
        ("api tokens", s.api_tokens.to_string()),
        ("oauth clients", s.clients.to_string()),
        ("guest mode", on_off(s.guest_enabled).into()),
        ("registration", open_closed(s.registration_open).into()),
        ("keys", s.key_ids.join(", ")),
        ("roles", s.roles.join(", ")),
        ("store on disk", store_size(s)),
        (
            "records",
            format!(
                "{} users, {} sessions, {} refresh tokens, {} API tokens, {} clients, {} denied, {} audit",
                s.records.users,
                s.records.sessions,
                s.records.refresh_tokens,
                s.records.api_tokens,
                s.records.clients,
                s.records.denied,
                s.records.audit
            ),
        ),
    ]);
    fields(&pairs)
}

fn user(u: &AdminUser) -> String {
    [
        ("id", u.user.id.clone()),
        ("username", u.user.username.clone()),
        ("email", u.user.email.clone()),
        ("display name", u.user.display_name.clone()),
        ("role", u.user.role.clone()),
        ("email verified", u.user.email_verified.to_string()),
        ("state", account_state(u).into()),
        ("created", u.user.created_at.clone()),
        ("last login", opt(&u.last_login_at)),
    ]
    .iter()
    .map(|(k, v)| format!("{k:<15} {}", clean(v)))
    .collect::<Vec<_>>()
    .join("\n")
}

/// The human-readable form of an answer.
pub fn human(reply: &Reply) -> String {
    let full = Times::Full;
    match reply {
        Reply::Status(s) => status(s),
        Reply::Activity(a) => fields(&activity(a)),
        Reply::Users(list) | Reply::UserPage { users: list, .. } if list.is_empty() => "no users".into(),
        Reply::Users(list) | Reply::UserPage { users: list, .. } => user_rows(list, full).to_text(),
        Reply::User(u) => user(u),
        Reply::Sessions(list) | Reply::SessionPage { sessions: list, .. } if list.is_empty() => {
            "no live sessions".into()
        }
        Reply::Sessions(list) | Reply::SessionPage { sessions: list, .. } => session_rows(list, full).to_text(),
        Reply::Count(n) => format!("{n} session(s) revoked"),
        Reply::Guest { enabled } => format!("guest mode: {}", on_off(*enabled)),
        Reply::Registration { open } => format!("registration: {}", open_closed(*open)),
        Reply::ApiTokens(list) | Reply::TokenPage { tokens: list, .. } if list.is_empty() => "no API tokens".into(),
        Reply::ApiTokens(list) | Reply::TokenPage { tokens: list, .. } => token_rows(list, full).to_text(),
        Reply::Clients(list) if list.is_empty() => "no clients".into(),
        Reply::Clients(list) => client_rows(list, full).to_text(),
        Reply::ClientCreated(c) => match &c.client_secret {
            Some(secret) => format!(
                "client id      {}\nclient secret  {secret}\nscopes         {}\nThe secret is shown only now; the daemon keeps only its digest.",
                c.client_id,
                c.scopes.join(" ")
            ),
            None => format!(
                "client id      {}\nscopes         {}\nA public client: it has no secret.",
                c.client_id,
                c.scopes.join(" ")
            ),
        },
        Reply::Keys(list) => key_rows(list, full).to_text(),
        Reply::Audit(entries) | Reply::AuditPage { entries, .. } if entries.is_empty() => "no audit entries".into(),
        Reply::Audit(entries) | Reply::AuditPage { entries, .. } => {
            entries.iter().map(audit_line).collect::<Vec<_>>().join("\n")
        }
        Reply::Grants(list) if list.is_empty() => "no grants".into(),
        Reply::Grants(list) => Rows::new(
            &["CLIENT", "SCOPES", "GRANTED"],
            list.iter()
                .map(|g| vec![g.client_id.clone(), g.scopes.join(" "), g.granted_at.clone()]),
        )
        .to_text(),
        Reply::Backup(b) => format!(
            "{} bytes, {} entries ({} changed while it ran), schema version {}, format {}",
            b.bytes, b.entries, b.changed, b.schema, b.format
        ),
        Reply::Done => "done".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = Rows {
            headers: vec!["A", "BB"],
            rows: vec![vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        };
        assert_eq!(t.to_text(), "A    BB\nxxx  y\nz");
    }

    #[test]
    fn json_shapes() {
        assert_eq!(json_of(&Reply::Count(2)), json!({"count": 2}));
        assert_eq!(json_of(&Reply::Registration { open: false }), json!({"mode": "closed"}));
        assert_eq!(json_of(&Reply::Users(vec![])), json!([]));
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(clean("plain ünïcode"), "plain ünïcode");
        assert_eq!(clean("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\\u{a}");
        let entry = AuditEntry {
            seq: 1,
            at: "2026-11-27T10:00:00Z".into(),
            event: "login.failure".into(),
            subject: Some("\u{1b}]0;owned\u{7}".into()),
            username: None,
            origin: None,
            detail: Some("x\u{9b}31m".into()),
            request_id: None,
        };
        for text in [audit_line(&entry), audit_rows([&entry], Times::Short).to_text()] {
            assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
            assert!(text.contains("\\u{1b}]0;owned\\u{7}"), "{text}");
        }
    }

    #[test]
    fn audit_lines_keep_their_columns_for_the_longest_event_name() {
        let entry = |event: &str| AuditEntry {
            seq: 1,
            at: "2026-11-27T10:00:00Z".into(),
            event: event.into(),
            subject: Some("0196d0e4-0000-7000-8000-000000000000".into()),
            username: None,
            origin: Some("uid=0".into()),
            detail: None,
            request_id: None,
        };
        let short = audit_line(&entry("login.success"));
        let long = audit_line(&entry("admin.registration.closed"));
        let column = |line: &str| line.find("0196d0e4").unwrap();
        assert_eq!(column(&short), column(&long), "{short}\n{long}");
        assert_eq!(short.find("uid=0"), long.find("uid=0"));
    }

    #[test]
    fn empty_lists_say_so() {
        assert_eq!(human(&Reply::Sessions(vec![])), "no live sessions");
        assert_eq!(human(&Reply::ApiTokens(vec![])), "no API tokens");
        assert_eq!(human(&Reply::Users(vec![])), "no users");
        assert_eq!(human(&Reply::Clients(vec![])), "no clients");
    }

    #[test]
    fn short_times_and_durations() {
        assert_eq!(Times::Short.show("2026-11-27T10:46:08Z"), "2026-11-27 10:46");
        assert_eq!(Times::Short.show("soon"), "soon");
        assert_eq!(Times::Full.show("2026-11-27T10:46:08Z"), "2026-11-27T10:46:08Z");
        assert_eq!(duration(59), "0m 59s");
        assert_eq!(duration(3 * 3600 + 4 * 60 + 5), "3h 04m");
        assert_eq!(duration(86_400 + 3600 + 60), "1d 01h 01m");
    }
}
