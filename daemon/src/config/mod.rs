//! Configuration: the TOML file (see README, "Configuration reference") plus overrides, validated into [`Config`].
//!
//! Every problem is collected, not just the first, so `tesserad check-config` can list
//! them all (one line each, starting with the key). Precedence: command-line flag >
//! environment > file > built-in default; the flag/env layer is applied by the caller
//! through [`Overrides`]. The types are here; [`reader`] walks the TOML.

mod reader;
mod sections;

use reader::Reader;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use tessera_common::duration::parse_duration;

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
    /// The listener's certificate and key (`server.tls_cert_file`,
    /// `server.tls_key_file`); `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The data directory (`storage.data_dir`): the embedded store, the admin socket
    /// and the mail outbox by default.
    pub data_dir: PathBuf,
    /// Which store holds the data (`storage.backend`, `[storage.postgres]`).
    pub storage: Storage,
    /// Admin socket path (`admin.socket`; default `<data_dir>/admin.sock`).
    pub admin_socket: PathBuf,
    /// Group allowed on the admin socket (`admin.group`), if any.
    pub admin_group: Option<String>,
    /// Token lifetimes (`[tokens]`).
    pub tokens: TokenTtls,
    /// Verified access tokens remembered (`tokens.verified_cache_entries`; 0: none).
    pub verified_cache_entries: usize,
    /// Initial registration state (`registration.mode = "open"`).
    pub registration_open: bool,
    /// Whether `/oauth/token` accepts the password grant (`oauth.password_grant`).
    pub password_grant: bool,
    /// The name on the sign-in pages (`oauth.app_name`).
    pub app_name: String,
    /// The label of TOTP entries in authenticator apps (`mfa.issuer_name`; default
    /// `app_name`).
    pub mfa_issuer_name: String,
    /// Lifetime of a browser session at the sign-in pages (`oauth.browser_session_ttl`).
    pub browser_session_ttl: Duration,
    /// Lifetime of an authorization code (`oauth.code_ttl`, 10 s to 10 min).
    pub code_ttl: Duration,
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
    /// Audit entries older than this are deleted by the hourly purge (`audit.retain`),
    /// besides the bound on their number.
    pub audit_retain: Duration,
    /// Where `GET /metrics` is served (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Email: verification and password-reset messages (`[mail]`, `[mail.smtp]`).
    pub mail: MailConfig,
    /// Register without tokens and refuse logins until the address is verified
    /// (`registration.require_verified_email`).
    pub require_verified_email: bool,
    /// Serve `GET /api/auth/exists` (`registration.expose_exists`).
    pub expose_exists: bool,
    /// Browser origins allowed to call the HTTP API from scripts
    /// (`http.cors_allowed_origins`): exact origins, lower-cased, or `*` alone; empty
    /// for no CORS headers at all.
    pub cors_allowed_origins: Vec<String>,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// sled in the data directory (`backend = "sled"`, the default), with this many
    /// MiB of page cache (`cache_mib`, default 64).
    Embedded {
        /// sled's page cache in MiB.
        cache_mib: u32,
    },
    /// A PostgreSQL database that several daemons may share (`backend = "postgres"`).
    Postgres(PostgresConfig),
}

/// `[storage.postgres]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A file holding the connection URL, password included (`url_file`).
    pub url_file: PathBuf,
    /// Connections each daemon keeps at most (`pool_size`).
    pub pool_size: usize,
    /// How long the daemon trusts its view of revocations without hearing from the
    /// database (`max_staleness`); past it, it refuses the tokens it cannot check.
    pub max_staleness: Duration,
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

/// Where the Prometheus metrics are served; nowhere by default (counters reveal
/// activity: logins, failures, revocations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// A listener of their own (`metrics.listen`), plain HTTP.
    pub listen: Option<SocketAddr>,
    /// Also on the main listener (`metrics.on_main_listener`).
    pub on_main_listener: bool,
}

/// How and what the daemon mails (see README, "Email").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// Where messages go (`mail.transport`, with `mail.dir` or `[mail.smtp]`).
    pub transport: MailTransport,
    /// The `From` mailbox (`mail.from`), as written.
    pub from: String,
    /// Base of the links in messages (`mail.public_url`); `None`: the issuer.
    pub public_url: Option<String>,
    /// Send a verification message after each registration (`mail.verify_on_register`).
    pub verify_on_register: bool,
    /// Lifetime of a verification link (`mail.verify_ttl`).
    pub verify_ttl: Duration,
    /// Lifetime of a reset link (`mail.reset_ttl`).
    pub reset_ttl: Duration,
    /// Messages of one kind to one address per hour (`mail.max_per_hour`).
    pub max_per_hour: u32,
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// One RFC 5322 `.eml` file per message in this directory (created 0700).
    File(PathBuf),
    /// An SMTP relay.
    Smtp(SmtpConfig),
}

/// An SMTP relay (`[mail.smtp]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// How the connection is protected.
    pub tls: SmtpTls,
    /// User name for AUTH; `None`: no authentication.
    pub username: Option<String>,
    /// File holding the AUTH password (read at start).
    pub password_file: Option<PathBuf>,
    /// PEM certificates of a private CA to trust besides the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// `mail.smtp.tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte.
    Tls,
    /// No TLS (loopback hosts only).
    None,
}

/// PEM files of the listener's certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
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

/// Login throttling parameters (see docs/decisions.md).
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

impl MailConfig {
    /// The base of links in messages: `mail.public_url`, else `issuer`.
    pub fn link_base<'a>(&'a self, issuer: &'a str) -> &'a str {
        self.public_url.as_deref().unwrap_or(issuer)
    }
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

    /// The embedded default (see README, "Two commands"), with `overrides` applied.
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

    /// The issuer: `server.issuer`, else `http://` (`https://` with TLS) + the address
    /// actually bound (which differs from `listen` when that asks for port 0).
    pub fn issuer(&self, bound: SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.issuer.clone().unwrap_or_else(|| format!("{scheme}://{bound}"))
    }

    /// What is allowed but likely a mistake, one line each starting with the key
    /// (`check-config` prints them; the daemon logs them at start).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if matches!(self.storage, Storage::Postgres(_)) && self.issuer.is_none() {
            warnings.push(
                "server.issuer: derived from the listen address; daemons sharing a database must all set the same \
                 issuer, or their tokens will not be accepted across them"
                    .to_owned(),
            );
        }
        warnings
    }

    /// Scopes of `role`, or `None` for an unknown role.
    pub fn role_scopes(&self, role: &str) -> Option<&[String]> {
        self.roles.get(role).map(Vec::as_slice)
    }
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
        assert_eq!(c.audit_retain, Duration::from_secs(90 * 86_400));
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
    fn the_postgres_backend_is_checked_and_warns_about_a_derived_issuer() {
        let c = Config::embedded(&Overrides::default()).unwrap();
        assert_eq!(c.storage, Storage::Embedded { cache_mib: 64 });
        assert!(c.warnings().is_empty());

        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("url");
        std::fs::write(&url, "postgres://u:p@db:5432/tessera?sslmode=verify-full\n").unwrap();
        let text = format!(
            "[storage]\nbackend = \"postgres\"\n[storage.postgres]\nurl_file = \"{}\"\npool_size = 4\n",
            url.display()
        );
        let c = Config::from_toml(&text, &Overrides::default()).unwrap();
        let Storage::Postgres(postgres) = &c.storage else {
            panic!("{:?}", c.storage)
        };
        assert_eq!(
            (postgres.pool_size, postgres.max_staleness),
            (4, Duration::from_secs(5))
        );
        let warnings = c.warnings();
        assert!(
            warnings.len() == 1 && warnings[0].starts_with("server.issuer: "),
            "{warnings:?}"
        );
        let with_issuer = format!("[server]\nissuer = \"https://auth.example\"\n{text}");
        assert!(
            Config::from_toml(&with_issuer, &Overrides::default())
                .unwrap()
                .warnings()
                .is_empty()
        );

        let problems = |text: &str| Config::from_toml(text, &Overrides::default()).unwrap_err().problems;
        assert_eq!(
            problems("[storage]\nbackend = \"postgres\"\n")[0].split(':').next(),
            Some("storage.postgres.url_file")
        );
        let missing = problems("[storage]\nbackend = \"postgres\"\n[storage.postgres]\nurl_file = \"/nonexistent\"\n");
        assert!(
            missing[0].starts_with("storage.postgres.url_file: cannot read /nonexistent"),
            "{missing:?}"
        );
        assert!(problems("[storage]\nbackend = \"mysql\"\n")[0].starts_with("storage.backend: "));
        let stray = problems("[storage.postgres]\npool_size = 3\n");
        assert_eq!(stray.len(), 1, "{stray:?}");
        assert!(stray[0].starts_with("storage.postgres: "), "{stray:?}");
        // sled's cache: set in MiB, bounded, and only for the embedded store.
        let sized = Config::from_toml("[storage]\ncache_mib = 512\n", &Overrides::default()).unwrap();
        assert_eq!(sized.storage, Storage::Embedded { cache_mib: 512 });
        assert!(problems("[storage]\ncache_mib = 2\n")[0].starts_with("storage.cache_mib: must be between 8 and "));
        let cached = problems(&format!("[storage]\ncache_mib = 256\n{}", &text["[storage]\n".len()..]));
        assert_eq!(cached.len(), 1, "{cached:?}");
        assert!(
            cached[0].starts_with("storage.cache_mib: set only with the embedded store"),
            "{cached:?}"
        );
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
    fn cors_origins_are_exact_origins_or_a_lone_star() {
        let origins = |list: &str| {
            Config::from_toml(
                &format!("[http]\ncors_allowed_origins = {list}\n"),
                &Overrides::default(),
            )
        };
        let c = origins(r#"["https://App.example.com", "http://localhost:5173", "http://[::1]:3000"]"#).unwrap();
        assert_eq!(
            c.cors_allowed_origins,
            ["http://[::1]:3000", "http://localhost:5173", "https://app.example.com"]
        );
        assert_eq!(origins(r#"["*"]"#).unwrap().cors_allowed_origins, ["*"]);
        assert!(
            Config::embedded(&Overrides::default())
                .unwrap()
                .cors_allowed_origins
                .is_empty()
        );
        for bad in [
            r#"["https://app.example.com/"]"#,
            r#"["https://app.example.com/path"]"#,
            r#"["app.example.com"]"#,
            r#"["ftp://app.example.com"]"#,
            r#"["https://app.example.com:port"]"#,
            r#"["*", "https://app.example.com"]"#,
            r#""https://app.example.com""#,
        ] {
            let err = origins(bad).unwrap_err();
            assert!(
                err.problems.iter().all(|p| p.starts_with("http.cors_allowed_origins:")),
                "{bad}: {:?}",
                err.problems
            );
        }
    }
}
