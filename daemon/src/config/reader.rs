//! Walks the TOML table key by key: each value is checked and taken out, defaults fill
//! what is absent, and whatever is left over is an unknown key. Every problem is
//! collected with its key.

use super::{
    Argon2Config, Config, ConfigError, ConnectionLimits, DEFAULT_DATA_DIR, DEFAULT_LISTEN, MetricsConfig, Overrides,
    ThrottleConfig, TlsFiles, TokenTtls,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tessera_common::duration::parse_duration;

/// Walks the TOML table, collecting values and problems.
pub(super) struct Reader {
    pub(super) table: toml::Table,
    problems: Vec<String>,
}

impl Reader {
    pub(super) fn new(table: toml::Table) -> Self {
        Self {
            table,
            problems: Vec::new(),
        }
    }

    pub(super) fn problem(&mut self, key: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("{key}: {what}"));
    }

    /// Removes and returns `section.key`, reporting a wrong section type.
    pub(super) fn take(&mut self, section: &str, key: &str) -> Option<toml::Value> {
        match self.table.get_mut(section) {
            None => None,
            Some(toml::Value::Table(t)) => t.remove(key),
            Some(_) => None,
        }
    }

    pub(super) fn string(&mut self, section: &str, key: &str) -> Option<String> {
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

    pub(super) fn boolean(&mut self, section: &str, key: &str, default: bool) -> bool {
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

    pub(super) fn integer(&mut self, section: &str, key: &str, default: u32, min: u32, max: u32) -> u32 {
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

    pub(super) fn duration(&mut self, section: &str, key: &str, default: &str) -> Duration {
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
        let mfa_issuer_name = self
            .string("mfa", "issuer_name")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| app_name.clone());
        if mfa_issuer_name.chars().count() > 64 || mfa_issuer_name.chars().any(|c| c.is_control() || c == ':') {
            self.problem(
                "mfa.issuer_name",
                "at most 64 characters, none of them ':' or control characters",
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
                mfa_issuer_name,
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
    "mfa",
    "guest",
    "password",
    "throttle",
    "argon2",
    "roles",
];
