//! The sections of the configuration that take more than a value each: the roles
//! and their scopes, CORS origins, mail and its SMTP relay, and storage.

use super::reader::Reader;
use super::{MailConfig, MailTransport, PostgresConfig, SmtpConfig, SmtpTls, Storage};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

impl Reader {
    pub(super) fn roles(&mut self) -> BTreeMap<String, Vec<String>> {
        let mut roles: BTreeMap<String, Vec<String>> = [
            ("admin", &["read", "write", "admin"][..]),
            ("user", &["read", "write"][..]),
            ("guest", &["read"][..]),
        ]
        .into_iter()
        .map(|(role, scopes)| (role.to_owned(), scopes.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
        let Some(section) = self.table.remove("roles") else {
            return roles;
        };
        let toml::Value::Table(section) = section else {
            self.problem("roles", "expected a table of roles");
            return roles;
        };
        for (role, value) in section {
            let key = format!("roles.{role}");
            if !is_valid_name(&role) {
                self.problem(&key, "role names are 1-32 of [A-Za-z0-9_-]");
                continue;
            }
            let toml::Value::Table(mut body) = value else {
                self.problem(&key, "expected a table with `scopes`");
                continue;
            };
            let scopes = match body.remove("scopes") {
                Some(toml::Value::Array(items)) => items,
                Some(_) | None => {
                    self.problem(&format!("{key}.scopes"), "expected an array of scope names");
                    continue;
                }
            };
            for extra in body.keys() {
                self.problem(&format!("{key}.{extra}"), "unknown key");
            }
            let mut list = Vec::new();
            for item in scopes {
                match item {
                    toml::Value::String(s) if is_valid_scope(&s) => list.push(s),
                    other => self.problem(
                        &format!("{key}.scopes"),
                        format!("{other} is not a scope name (RFC 6749 scope characters, no spaces)"),
                    ),
                }
            }
            roles.insert(role, tessera_common::scopes::dedup(list));
        }
        roles
    }

    /// `http.cors_allowed_origins`: exact origins (`https://app.example.com`, compared
    /// lower-cased as browsers send them), or `["*"]`.
    pub(super) fn cors_origins(&mut self) -> Vec<String> {
        const KEY: &str = "http.cors_allowed_origins";
        let items = match self.take("http", "cors_allowed_origins") {
            None => return Vec::new(),
            Some(toml::Value::Array(items)) => items,
            Some(other) => {
                self.problem(KEY, format!("expected an array of origins, found {}", other.type_str()));
                return Vec::new();
            }
        };
        let mut origins = Vec::new();
        for item in items {
            match item {
                toml::Value::String(s) if s == "*" || is_origin(&s) => origins.push(s.to_ascii_lowercase()),
                other => self.problem(
                    KEY,
                    format!("{other} is not an origin: scheme://host[:port], http or https, no path, or \"*\""),
                ),
            }
        }
        if origins.len() > 1 && origins.iter().any(|o| o == "*") {
            self.problem(KEY, "\"*\" allows every origin and cannot be listed with others");
        }
        origins.sort();
        origins.dedup();
        origins
    }

    /// `[mail]` and, with `transport = "smtp"`, `[mail.smtp]` (see README, "Email").
    pub(super) fn mail(&mut self, data_dir: &std::path::Path) -> MailConfig {
        let transport = self.string("mail", "transport");
        let dir = self
            .string("mail", "dir")
            .filter(|s| !s.is_empty())
            .map_or_else(|| data_dir.join("outbox"), PathBuf::from);
        let transport = match transport.as_deref() {
            None | Some("file") => MailTransport::File(dir),
            Some("smtp") => MailTransport::Smtp(self.smtp()),
            Some(other) => {
                self.problem(
                    "mail.transport",
                    format!("expected \"file\" or \"smtp\", found {other:?}"),
                );
                MailTransport::File(dir)
            }
        };
        if !matches!(transport, MailTransport::Smtp(_)) {
            // Checked only when used (see README, "Email"): drop it unread.
            self.table.remove("mail.smtp");
        }
        let from = self
            .string("mail", "from")
            .unwrap_or_else(|| "Tessera <no-reply@localhost>".to_owned());
        if from.parse::<lettre::message::Mailbox>().is_err() {
            self.problem(
                "mail.from",
                format!("{from:?} is not a mailbox (\"Name <address>\" or an address)"),
            );
        }
        let public_url = self
            .string("mail", "public_url")
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            self.problem("mail.public_url", format!("{url:?} is not an http(s) URL"));
        }
        MailConfig {
            transport,
            from,
            public_url,
            verify_on_register: self.boolean("mail", "verify_on_register", false),
            verify_ttl: self.duration("mail", "verify_ttl", "24h"),
            reset_ttl: self.duration("mail", "reset_ttl", "1h"),
            max_per_hour: self.integer("mail", "max_per_hour", 5, 1, 10_000),
        }
    }

    pub(super) fn storage(&mut self) -> Storage {
        const P: &str = "storage.postgres";
        let postgres = self.table.contains_key(P);
        let backend = self.string("storage", "backend");
        let cache_set = self.table.get("storage").and_then(|t| t.get("cache_mib")).is_some();
        let cache_mib = self.integer("storage", "cache_mib", DEFAULT_CACHE_MIB, 8, 1 << 20);
        let embedded = Storage::Embedded { cache_mib };
        match backend.as_deref() {
            None | Some("sled") => {
                if postgres {
                    self.table.remove(P);
                    self.problem(P, "set only with storage.backend = \"postgres\"");
                }
                embedded
            }
            Some("postgres") => {
                if cache_set {
                    self.problem(
                        "storage.cache_mib",
                        "set only with the embedded store (storage.backend = \"sled\")",
                    );
                }
                let url_file = self.string(P, "url_file").filter(|s| !s.is_empty()).map(PathBuf::from);
                let pool_size = self.integer(P, "pool_size", 16, 1, 1000) as usize;
                let max_staleness = self.duration(P, "max_staleness", "5s");
                if max_staleness < Duration::from_secs(1) {
                    self.problem("storage.postgres.max_staleness", "must be at least 1s");
                }
                let Some(url_file) = url_file else {
                    self.problem(
                        "storage.postgres.url_file",
                        "required with storage.backend = \"postgres\" (a file holding the connection URL)",
                    );
                    return embedded;
                };
                if let Err(e) = crate::store::PostgresUrl::read(&url_file) {
                    self.problem("storage.postgres.url_file", e);
                }
                Storage::Postgres(PostgresConfig {
                    url_file,
                    pool_size,
                    max_staleness,
                })
            }
            Some(other) => {
                self.problem(
                    "storage.backend",
                    format!("expected \"sled\" or \"postgres\", found {other:?}"),
                );
                embedded
            }
        }
    }

    pub(super) fn smtp(&mut self) -> SmtpConfig {
        const S: &str = "mail.smtp";
        let host = self.string(S, "host").unwrap_or_else(|| "localhost".to_owned());
        let port = self.integer(S, "port", 587, 1, 65_535) as u16;
        let tls = match self.string(S, "tls").as_deref() {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(other) => {
                self.problem(
                    "mail.smtp.tls",
                    format!("expected \"starttls\", \"tls\" or \"none\", found {other:?}"),
                );
                SmtpTls::StartTls
            }
        };
        if tls == SmtpTls::None && !is_loopback_host(&host) {
            self.problem(
                "mail.smtp.tls",
                format!("\"none\" sends passwords and links in clear text; it is allowed only for a loopback host, not {host:?}"),
            );
        }
        let path = |reader: &mut Self, key| reader.string(S, key).filter(|s| !s.is_empty()).map(PathBuf::from);
        let username = self.string(S, "username").filter(|s| !s.is_empty());
        let password_file = path(self, "password_file");
        if password_file.is_some() != username.is_some() {
            self.problem("mail.smtp.password_file", "set with mail.smtp.username, or neither");
        }
        SmtpConfig {
            host,
            port,
            tls,
            username,
            password_file,
            ca_file: path(self, "ca_file"),
        }
    }
}

/// sled's page cache by default, in MiB: the store's hot part at a few hundred
/// thousand users (see the README's "Sizing").
const DEFAULT_CACHE_MIB: u32 = 64;

/// `http://host[:port]` or `https://host[:port]` (an IPv6 host in brackets): what a
/// browser sends in `Origin`.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, "")) => (addr, None),
            Some((addr, tail)) => match tail.strip_prefix(':') {
                Some(port) => (addr, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
        && !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c))
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
}

/// `localhost`, 127.0.0.0/8 or `::1` (brackets allowed).
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
fn is_valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}
