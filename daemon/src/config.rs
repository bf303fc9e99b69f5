//! Configuration: the TOML file (contract §6) plus overrides, validated into [`Config`].
//!
//! Every problem is collected, not just the first, so `tesserad check-config` can list
//! them all (one line each, starting with the key). Precedence: command-line flag >
//! environment > file > built-in default; the flag/env layer is applied by the caller
//! through [`Overrides`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A validated daemon configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address (`server.listen`).
    pub listen: SocketAddr,
    /// `iss` of every token (`server.issuer`); `None` derives it from the bound
    /// listen address (see [`Config::issuer`]).
    pub issuer: Option<String>,
    /// Connection limits of the HTTP server (`server.max_connections`, …).
    pub connections: ConnectionLimits,
    /// Where the store lives (`storage.data_dir`).
    pub data_dir: PathBuf,
    /// Admin socket path (`admin.socket`; default `<data_dir>/admin.sock`).
    pub admin_socket: PathBuf,
    /// Group allowed on the admin socket (`admin.group`), if any.
    pub admin_group: Option<String>,
    /// Token lifetimes (`[tokens]`).
    pub tokens: TokenTtls,
    /// Initial registration state (`registration.mode = "open"`).
    pub registration_open: bool,
    /// Whether `/oauth/token` accepts the password grant (`oauth.password_grant`).
    pub password_grant: bool,
    /// Initial guest-mode state (`guest.enabled`).
    pub guest_enabled: bool,
    /// Minimum password length in characters (`password.min_length`).
    pub password_min_length: usize,
    /// Login throttling (`[throttle]`).
    pub throttle: ThrottleConfig,
    /// Argon2id cost (`[argon2]`).
    pub argon2: Argon2Config,
    /// Role name → scopes (`[roles.*]`); always holds `admin`, `user` and `guest`.
    pub roles: BTreeMap<String, Vec<String>>,
}

/// What one HTTP client may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may sit without a request.
    pub idle_timeout: Duration,
    /// Requests served on one connection before it is closed.
    pub max_requests: u64,
}

/// Token lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTtls {
    /// Access-token lifetime.
    pub access: Duration,
    /// Refresh-token lifetime (slides with each rotation).
    pub refresh: Duration,
    /// Hard bound on a session, counted from login.
    pub session_max_age: Duration,
    /// Guest-token lifetime.
    pub guest: Duration,
}

/// Login throttling parameters (contract §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures of an (account, address) pair before it is blocked.
    pub max_failures: u32,
    /// How long failures are remembered.
    pub window: Duration,
    /// Longest block.
    pub max_delay: Duration,
}

/// Argon2id parameters for human passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Time cost (passes).
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// Values from the command line or environment that win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen` / `TESSERA_LISTEN`.
    pub listen: Option<String>,
    /// `--data-dir` / `TESSERA_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
}

/// Why a configuration could not be used: one line per problem, each starting with its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    /// `key: what is wrong`, one per problem.
    pub problems: Vec<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "./tessera-data";

impl Config {
    /// Reads and validates a TOML file, then applies `overrides`.
    pub fn from_file(path: &Path, overrides: &Overrides) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![format!("{}: cannot read config file: {e}", path.display())],
        })?;
        Self::from_toml(&text, overrides)
    }

    /// Validates TOML text, then applies `overrides`.
    pub fn from_toml(text: &str, overrides: &Overrides) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            problems: vec![format!("config: not valid TOML: {}", e.message())],
        })?;
        Reader::new(table).build(overrides)
    }

    /// The embedded default (contract §1), with `overrides` applied.
    pub fn embedded(overrides: &Overrides) -> Result<Self, ConfigError> {
        Reader::new(toml::Table::new()).build(overrides)
    }

    /// A configuration for tests: loopback on an ephemeral port, data in `dir`,
    /// cheap Argon2 parameters, guest mode on.
    pub fn for_test(dir: &Path) -> Self {
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.to_path_buf()),
        };
        let text = "[argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n[guest]\nenabled = true\n";
        match Self::from_toml(text, &overrides) {
            Ok(config) => config,
            Err(e) => unreachable!("the test configuration is valid: {e}"),
        }
    }

    /// The issuer: `server.issuer`, else `http://` + the address actually bound (which
    /// differs from `listen` when that asks for port 0).
    pub fn issuer(&self, bound: SocketAddr) -> String {
        self.issuer.clone().unwrap_or_else(|| format!("http://{bound}"))
    }

    /// Scopes of `role`, or `None` for an unknown role.
    pub fn role_scopes(&self, role: &str) -> Option<&[String]> {
        self.roles.get(role).map(Vec::as_slice)
    }
}

/// Walks the TOML table, collecting values and problems.
struct Reader {
    table: toml::Table,
    problems: Vec<String>,
}

impl Reader {
    fn new(table: toml::Table) -> Self {
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

    fn build(mut self, overrides: &Overrides) -> Result<Config, ConfigError> {
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

        let file_dir = self.string("storage", "data_dir").map(PathBuf::from);
        let data_dir = overrides
            .data_dir
            .clone()
            .or(file_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let admin_socket = self
            .string("admin", "socket")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("admin.sock"));
        let admin_group = self.string("admin", "group").filter(|s| !s.is_empty());

        let tokens = TokenTtls {
            access: self.duration("tokens", "access_ttl", "1h"),
            refresh: self.duration("tokens", "refresh_ttl", "7d"),
            session_max_age: self.duration("tokens", "session_max_age", "30d"),
            guest: self.duration("tokens", "guest_ttl", "1h"),
        };

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
        let password_grant = self.boolean("oauth", "password_grant", false);
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
                data_dir,
                admin_socket,
                admin_group,
                tokens,
                registration_open,
                password_grant,
                guest_enabled,
                password_min_length,
                throttle,
                argon2,
                roles,
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
    "storage",
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

/// Parses `90s`, `15m`, `1h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (a number followed by s, m, h or d)"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => {
            return Err(format!(
                "{text:?} is not a duration (a number followed by s, m, h or d)"
            ));
        }
    };
    // Bounded to 100 years so every derived timestamp stays representable.
    match secs {
        Some(s) if s <= 100 * 365 * 86_400 => Ok(Duration::from_secs(s)),
        _ => Err(format!("{text:?} is longer than 100 years")),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn embedded_default_matches_contract() {
        let c = Config::embedded(&Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer(c.listen), "http://127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./tessera-data"));
        assert_eq!(c.admin_socket, PathBuf::from("./tessera-data/admin.sock"));
        assert_eq!(c.tokens.access, Duration::from_secs(3600));
        assert_eq!(c.tokens.session_max_age, Duration::from_secs(30 * 86_400));
        assert!(c.registration_open && !c.guest_enabled && !c.password_grant);
        assert_eq!(
            c.argon2,
            Argon2Config {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert_eq!(c.role_scopes("user").unwrap(), ["read", "write"]);
        let set: BTreeSet<&str> = c.roles.keys().map(String::as_str).collect();
        assert!(["admin", "user", "guest"].iter().all(|r| set.contains(r)));
    }

    #[test]
    fn overrides_win_over_file() {
        let text = "[server]\nlisten = \"127.0.0.1:9000\"\n[storage]\ndata_dir = \"/tmp/a\"\n";
        let o = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            data_dir: None,
        };
        let c = Config::from_toml(text, &o).unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.issuer(c.listen), "http://127.0.0.1:9100");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/a"));
        assert_eq!(c.admin_socket, PathBuf::from("/tmp/a/admin.sock"));
    }

    #[test]
    fn every_problem_is_listed_with_its_key() {
        let text = "[server]\nlisten = \"0.0.0.0:80\"\n[tokens]\naccess_ttl = \"5x\"\nguest_ttl = \"0s\"\n\
                    [registration]\nmode = \"maybe\"\n[argon2]\niterations = 0\n[bogus]\nx = 1\n\
                    [throttle]\nmax_failures = \"five\"\ntypo = 1\n[roles.ops]\nscopes = [\"a b\"]\n";
        let err = Config::from_toml(text, &Overrides::default()).unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        for key in [
            "server.issuer",
            "tokens.access_ttl",
            "tokens.guest_ttl",
            "registration.mode",
            "argon2.iterations",
            "bogus",
            "throttle.max_failures",
            "throttle.typo",
            "roles.ops.scopes",
        ] {
            assert!(keys.contains(&key), "{key} missing from {:?}", err.problems);
        }
    }

    #[test]
    fn roles_merge_over_defaults() {
        let text = "[roles.ops]\nscopes = [\"read\", \"ops\"]\n[roles.user]\nscopes = [\"read\"]\n";
        let c = Config::from_toml(text, &Overrides::default()).unwrap();
        assert_eq!(c.role_scopes("ops").unwrap(), ["read", "ops"]);
        assert_eq!(c.role_scopes("user").unwrap(), ["read"]);
        assert_eq!(c.role_scopes("admin").unwrap(), ["read", "write", "admin"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("1").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("99999999999999d").is_err());
    }
}
