//! Walks the TOML table key by key: each value is checked and taken out, defaults fill
//! what is absent, and whatever is left over is an unknown key. Every problem is
//! collected with its key.

use super::{
    Argon2Config, Config, ConfigError, ConnectionLimits, DEFAULT_DATA_DIR, DEFAULT_LISTEN, MailConfig, MailTransport,
    MetricsConfig, Overrides, PostgresConfig, SmtpConfig, SmtpTls, Storage, ThrottleConfig, TlsFiles, TokenTtls,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tessera_common::duration::parse_duration;

/// Walks the TOML table, collecting values and problems.
pub(super) struct Reader {
    table: toml::Table,
    problems: Vec<String>,
}

impl Reader {
    pub(super) fn new(table: toml::Table) -> Self {
        Self {
            table,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, key: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("{key}: {what}"));
    }

    /// Removes and returns `section.key`, reporting a wrong section type.
    fn take(&mut self, section: &str, key: &str) -> Option<toml::Value> {
        match self.table.get_mut(section) {
            None => None,
            Some(toml::Value::Table(t)) => t.remove(key),
            Some(_) => None,
        }
    }

    fn string(&mut self, section: &str, key: &str) -> Option<String> {
        match self.take(section, key)? {
            toml::Value::String(s) => Some(s),
            other => {
                self.problem(
                    &format!("{section}.{key}"),
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, section: &str, key: &str, default: bool) -> bool {
        match self.take(section, key) {
            None => default,
            Some(toml::Value::Boolean(b)) => b,
            Some(other) => {
                self.problem(
                    &format!("{section}.{key}"),
                    format!("expected true or false, found {}", other.type_str()),
                );
                default
            }
        }
    }

    fn integer(&mut self, section: &str, key: &str, default: u32, min: u32, max: u32) -> u32 {
        let name = format!("{section}.{key}");
        match self.take(section, key) {
            None => default,
            Some(toml::Value::Integer(i)) => match u32::try_from(i) {
                Ok(v) if (min..=max).contains(&v) => v,
                _ => {
                    self.problem(&name, format!("must be between {min} and {max}, found {i}"));
                    default
                }
            },
            Some(other) => {
                self.problem(&name, format!("expected an integer, found {}", other.type_str()));
                default
            }
        }
    }

    fn duration(&mut self, section: &str, key: &str, default: &str) -> Duration {
        let name = format!("{section}.{key}");
        let text = self.string(section, key).unwrap_or_else(|| default.to_owned());
        match parse_duration(&text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.problem(&name, "must be longer than zero");
                Duration::from_secs(1)
            }
            Err(e) => {
                self.problem(&name, e);
                Duration::from_secs(1)
            }
        }
    }

    fn roles(&mut self) -> BTreeMap<String, Vec<String>> {
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
    fn cors_origins(&mut self) -> Vec<String> {
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
    fn mail(&mut self, data_dir: &std::path::Path) -> MailConfig {
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

    fn storage(&mut self) -> Storage {
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

    fn smtp(&mut self) -> SmtpConfig {
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

    pub(super) fn build(mut self, overrides: &Overrides) -> Result<Config, ConfigError> {
        // `[mail.smtp]` and `[storage.postgres]` are read as sections of their own.
        for (section, sub) in [("mail", "smtp"), ("storage", "postgres")] {
            if let Some(toml::Value::Table(table)) = self.table.get_mut(section)
                && let Some(value) = table.remove(sub)
            {
                self.table.insert(format!("{section}.{sub}"), value);
            }
        }
        for (section, value) in &self.table {
            if !KNOWN_SECTIONS.contains(&section.as_str()) {
                self.problems.push(format!("{section}: unknown section"));
            } else if !value.is_table() {
                self.problems.push(format!("{section}: expected a table"));
            }
        }

        let file_listen = self.string("server", "listen");
        let listen_text = overrides
            .listen
            .clone()
            .or(file_listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = match listen_text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                self.problem("server.listen", format!("{listen_text:?} is not an IP:port address"));
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };
        let issuer = self
            .string("server", "issuer")
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('/').to_owned());
        if issuer.is_none() && listen.ip().is_unspecified() {
            self.problem("server.issuer", "must be set when server.listen is a wildcard address");
        }

        let connections = ConnectionLimits {
            max_connections: self.integer("server", "max_connections", 512, 1, 1_000_000) as usize,
            header_timeout: self.duration("server", "header_timeout", "10s"),
            idle_timeout: self.duration("server", "idle_timeout", "60s"),
            max_requests: u64::from(self.integer("server", "max_requests_per_connection", 1000, 1, 1_000_000)),
        };

        let cert = self.string("server", "tls_cert_file").filter(|s| !s.is_empty());
        let key = self.string("server", "tls_key_file").filter(|s| !s.is_empty());
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            }),
            (None, None) => None,
            (Some(_), None) => {
                self.problem("server.tls_key_file", "must be set with server.tls_cert_file");
                None
            }
            (None, Some(_)) => {
                self.problem("server.tls_cert_file", "must be set with server.tls_key_file");
                None
            }
        };

        let file_dir = self.string("storage", "data_dir").map(PathBuf::from);
        let data_dir = overrides
            .data_dir
            .clone()
            .or(file_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let storage = self.storage();
        let admin_socket = self
            .string("admin", "socket")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("admin.sock"));
        let admin_group = self.string("admin", "group").filter(|s| !s.is_empty());
        if admin_group.is_some() && admin_socket.starts_with(&data_dir) {
            // The data directory is made 0700 (it holds the signing keys), so no group
            // can reach a socket inside it; opening the directory to the group would let
            // it traverse to the store's files.
            self.problem(
                "admin.group",
                format!(
                    "cannot work while the admin socket ({}) is inside the data directory, which only its owner may enter; set admin.socket in a directory of that group with mode 0750, e.g. /run/tessera/admin.sock",
                    admin_socket.display()
                ),
            );
        }

        let tokens = TokenTtls {
            access: self.duration("tokens", "access_ttl", "1h"),
            refresh: self.duration("tokens", "refresh_ttl", "7d"),
            session_max_age: self.duration("tokens", "session_max_age", "30d"),
            guest: self.duration("tokens", "guest_ttl", "1h"),
        };
        let verified_cache_entries = self.integer("tokens", "verified_cache_entries", 16_384, 0, 1_000_000) as usize;

        let registration_open = match self.string("registration", "mode").as_deref() {
            None | Some("open") => true,
            Some("closed") => false,
            Some(other) => {
                self.problem(
                    "registration.mode",
                    format!("expected \"open\" or \"closed\", found {other:?}"),
                );
                true
            }
        };
        let require_verified_email = self.boolean("registration", "require_verified_email", false);
        let expose_exists = self.boolean("registration", "expose_exists", false);
        let mail = self.mail(&data_dir);
        let password_grant = self.boolean("oauth", "password_grant", false);
        let app_name = self
            .string("oauth", "app_name")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "Tessera".to_owned());
        if app_name.chars().count() > 64 || app_name.chars().any(char::is_control) {
            self.problem(
                "oauth.app_name",
                "at most 64 characters, none of them control characters",
            );
        }
        let browser_session_ttl = self.duration("oauth", "browser_session_ttl", "12h");
        let code_ttl = self.duration("oauth", "code_ttl", "60s");
        if !(10..=600).contains(&code_ttl.as_secs()) {
            self.problem("oauth.code_ttl", "must be between 10s and 10m");
        }
        let guest_enabled = self.boolean("guest", "enabled", false);
        let password_min_length = self.integer("password", "min_length", 8, 1, 128) as usize;

        let throttle = ThrottleConfig {
            max_failures: self.integer("throttle", "max_failures", 5, 1, 1000),
            window: self.duration("throttle", "window", "15m"),
            max_delay: self.duration("throttle", "max_delay", "15m"),
        };
        let argon2 = Argon2Config {
            memory_kib: self.integer("argon2", "memory_kib", 19_456, 8, 4 * 1024 * 1024),
            iterations: self.integer("argon2", "iterations", 2, 1, 64),
            parallelism: self.integer("argon2", "parallelism", 1, 1, 16),
        };
        if argon2.memory_kib < 8 * argon2.parallelism {
            self.problem("argon2.memory_kib", "must be at least 8 × argon2.parallelism");
        }
        let roles = self.roles();
        let cors_allowed_origins = self.cors_origins();
        let audit_retain = self.duration("audit", "retain", "90d");
        let metrics_listen = self.string("metrics", "listen").filter(|s| !s.is_empty());
        let metrics = MetricsConfig {
            listen: metrics_listen.and_then(|text| match text.parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    self.problem("metrics.listen", format!("{text:?} is not an IP:port address"));
                    None
                }
            }),
            on_main_listener: self.boolean("metrics", "on_main_listener", false),
        };

        let leftovers: Vec<String> = self
            .table
            .iter()
            .filter_map(|(section, value)| value.as_table().map(|t| (section, t)))
            .flat_map(|(section, t)| t.keys().map(move |k| format!("{section}.{k}: unknown key")))
            .collect();
        self.problems.extend(leftovers);

        if self.problems.is_empty() {
            Ok(Config {
                listen,
                issuer,
                connections,
                tls,
                data_dir,
                storage,
                admin_socket,
                admin_group,
                tokens,
                verified_cache_entries,
                registration_open,
                password_grant,
                app_name,
                browser_session_ttl,
                code_ttl,
                guest_enabled,
                password_min_length,
                throttle,
                argon2,
                roles,
                audit_retain,
                metrics,
                mail,
                require_verified_email,
                expose_exists,
                cors_allowed_origins,
            })
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// sled's page cache by default, in MiB: the store's hot part at a few hundred
/// thousand users (see the README's "Sizing").
const DEFAULT_CACHE_MIB: u32 = 64;

const KNOWN_SECTIONS: &[&str] = &[
    "server",
    "http",
    "metrics",
    "mail",
    "mail.smtp",
    "audit",
    "storage",
    "storage.postgres",
    "admin",
    "tokens",
    "registration",
    "oauth",
    "guest",
    "password",
    "throttle",
    "argon2",
    "roles",
];

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
