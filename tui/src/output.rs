//! Printing answers: aligned tables for people, the daemon's JSON for scripts.

use serde_json::{Value, json};
use tessera_common::admin::{AdminUser, AuditEntry, Reply, SessionView, StatusView};
use tessera_common::api::KeyView;

/// The JSON a script gets for an answer: lists as arrays, users in the HTTP shape.
pub fn json_of(reply: &Reply) -> Value {
    let value = match reply {
        Reply::Status(status) => serde_json::to_value(status),
        Reply::Users(users) => serde_json::to_value(users),
        Reply::User(user) => serde_json::to_value(user),
        Reply::Sessions(sessions) => serde_json::to_value(sessions),
        Reply::Count(count) => Ok(json!({ "count": count })),
        Reply::Guest { enabled } => Ok(json!({ "enabled": enabled })),
        Reply::Registration { open } => Ok(json!({ "mode": if *open { "open" } else { "closed" } })),
        Reply::ApiTokens(tokens) => serde_json::to_value(tokens),
        Reply::Clients(clients) => serde_json::to_value(clients),
        Reply::ClientCreated(created) => serde_json::to_value(created),
        Reply::Keys(keys) => serde_json::to_value(keys),
        Reply::Audit(entries) => serde_json::to_value(entries),
        Reply::Done => Ok(json!({ "status": "ok" })),
    };
    value.unwrap_or(Value::Null)
}

/// Columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

fn users(users: &[AdminUser]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.user.username.clone(),
                u.user.email.clone(),
                u.user.role.clone(),
                if u.disabled { "disabled".into() } else { "active".into() },
                u.user.created_at.clone(),
                u.user.id.clone(),
            ]
        })
        .collect();
    table(&["USERNAME", "EMAIL", "ROLE", "STATE", "CREATED", "ID"], &rows)
}

fn user(u: &AdminUser) -> String {
    [
        ("id", u.user.id.clone()),
        ("username", u.user.username.clone()),
        ("email", u.user.email.clone()),
        ("display name", u.user.display_name.clone()),
        ("role", u.user.role.clone()),
        ("email verified", u.user.email_verified.to_string()),
        ("state", if u.disabled { "disabled".into() } else { "active".into() }),
        ("created", u.user.created_at.clone()),
    ]
    .iter()
    .map(|(k, v)| format!("{k:<15} {v}"))
    .collect::<Vec<_>>()
    .join("\n")
}

fn sessions(sessions: &[SessionView]) -> String {
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.username.clone(),
                s.scopes.join(" "),
                s.created_at.clone(),
                s.expires_at.clone(),
            ]
        })
        .collect();
    table(&["ID", "USER", "SCOPES", "CREATED", "EXPIRES"], &rows)
}

fn status(s: &StatusView) -> String {
    [
        ("version", s.version.clone()),
        ("uptime", format!("{}s", s.uptime_seconds)),
        ("users", s.users.to_string()),
        ("live sessions", s.sessions.to_string()),
        ("api tokens", s.api_tokens.to_string()),
        ("oauth clients", s.clients.to_string()),
        ("guest mode", if s.guest_enabled { "on".into() } else { "off".into() }),
        (
            "registration",
            if s.registration_open {
                "open".into()
            } else {
                "closed".into()
            },
        ),
        ("keys", s.key_ids.join(", ")),
        (
            "activity",
            format!(
                "{} logins, {} failures, {} refreshes, {} revocations, {} admin actions",
                s.counters.logins,
                s.counters.failures,
                s.counters.refreshes,
                s.counters.revocations,
                s.counters.admin_actions
            ),
        ),
    ]
    .iter()
    .map(|(k, v)| format!("{k:<14} {v}"))
    .collect::<Vec<_>>()
    .join("\n")
}

fn keys(keys: &[KeyView]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.kid.clone(),
                format!("{:?}", k.status).to_lowercase(),
                k.created_at.clone(),
            ]
        })
        .collect();
    table(&["KID", "STATUS", "CREATED"], &rows)
}

/// One audit entry as a line.
pub fn audit_line(e: &AuditEntry) -> String {
    format!(
        "{}  {:<22} {:<38} {:<15} {}",
        e.at,
        e.event,
        opt(&e.subject),
        opt(&e.origin),
        opt(&e.detail)
    )
}

/// The human-readable form of an answer.
pub fn human(reply: &Reply) -> String {
    match reply {
        Reply::Status(s) => status(s),
        Reply::Users(list) => users(list),
        Reply::User(u) => user(u),
        Reply::Sessions(list) => sessions(list),
        Reply::Count(n) => format!("{n} session(s) revoked"),
        Reply::Guest { enabled } => format!("guest mode: {}", if *enabled { "on" } else { "off" }),
        Reply::Registration { open } => format!("registration: {}", if *open { "open" } else { "closed" }),
        Reply::ApiTokens(list) => table(
            &["ID", "USER", "NAME", "SCOPES", "EXPIRES", "LAST USED"],
            &list
                .iter()
                .map(|t| {
                    vec![
                        t.token.id.clone(),
                        t.username.clone(),
                        t.token.name.clone(),
                        t.token.scopes.join(" "),
                        opt(&t.token.expires_at),
                        opt(&t.token.last_used_at),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Reply::Clients(list) => table(
            &["CLIENT", "SCOPES", "CREATED"],
            &list
                .iter()
                .map(|c| vec![c.client_id.clone(), c.scopes.join(" "), c.created_at.clone()])
                .collect::<Vec<_>>(),
        ),
        Reply::ClientCreated(c) => format!(
            "client id      {}\nclient secret  {}\nscopes         {}\nThe secret is shown only now; the daemon keeps only its digest.",
            c.client_id,
            c.client_secret,
            c.scopes.join(" ")
        ),
        Reply::Keys(list) => keys(list),
        Reply::Audit(entries) => entries.iter().map(audit_line).collect::<Vec<_>>().join("\n"),
        Reply::Done => "done".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxxx  y\nz");
    }

    #[test]
    fn json_shapes() {
        assert_eq!(json_of(&Reply::Count(2)), json!({"count": 2}));
        assert_eq!(json_of(&Reply::Registration { open: false }), json!({"mode": "closed"}));
        assert_eq!(json_of(&Reply::Users(vec![])), json!([]));
    }
}
