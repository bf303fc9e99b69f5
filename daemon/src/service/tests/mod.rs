//! The service on a real store in a temp dir, driven by a manual clock: the rules
//! that depend on time are tested here without sleeping. Whole-process tests (in
//! `tests/`) keep the wire contract.

mod authorize;
mod cache;
mod clients;
mod counters;
mod expiry;
mod revocation;
mod throttle;
mod upkeep;

use super::accounts::{Login, Registration};
use super::{Issued, Operator, Origin, Service};
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::secret::Secret;
use crate::store::Store;
use std::sync::Arc;
use time::OffsetDateTime;

/// A service on a fresh store, its clock, and the directory holding the store.
struct Fixture {
    service: Service,
    clock: Arc<ManualClock>,
    config: Arc<Config>,
    dir: tempfile::TempDir,
}

const OPERATOR: Operator = Operator { uid: 0 };

fn origin() -> Origin {
    Origin {
        addr: std::net::Ipv4Addr::LOCALHOST.into(),
    }
}

/// The test configuration plus `extra` TOML (tables not already in it).
async fn fixture_with(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let overrides = crate::config::Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
    };
    let text = format!("[argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n{extra}");
    let config = Arc::new(Config::from_toml(&text, &overrides).unwrap());
    let clock = ManualClock::new(start());
    let service = open(&config, dir.path(), &clock).await;
    Fixture {
        service,
        clock,
        config,
        dir,
    }
}

async fn open(config: &Arc<Config>, dir: &std::path::Path, clock: &Arc<ManualClock>) -> Service {
    let store = Store::open_embedded(dir, crate::store::CACHE_BYTES).unwrap();
    Service::open(config.clone(), store, clock.clone(), "http://tessera.test".into())
        .await
        .unwrap()
}

/// Where the manual clock starts.
fn start() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

async fn fixture() -> Fixture {
    fixture_with("").await
}

fn password(name: &str) -> String {
    format!("password-of-{name}")
}

/// `client add ID --scopes read`: a confidential client with a secret.
pub(super) fn confidential(id: &str) -> crate::service::clients::NewClient {
    crate::service::clients::NewClient {
        client_id: id.into(),
        scopes: vec!["read".into()],
        ..Default::default()
    }
}

impl Fixture {
    /// Registers `name` (password [`password`]) and returns the session's tokens.
    async fn register(&self, name: &str) -> Issued {
        let input = Registration {
            username: Some(name.into()),
            email: Some(format!("{name}@example.com")),
            password: Some(Secret::new(password(name))),
            display_name: None,
        };
        match self.service.register(input, origin()).await.unwrap() {
            super::accounts::Registered::Session(issued) => issued,
            super::accounts::Registered::Unverified(user) => panic!("no session for {user:?}"),
        }
    }

    /// Logs `name` in with `password`.
    async fn login(&self, name: &str, password: &str) -> Result<Issued, super::ServiceError> {
        let input = Login {
            login: Some(name.into()),
            password: Some(Secret::new(password.into())),
            scopes: None,
            client: None,
        };
        self.service.login(input, origin()).await
    }

    /// Stops the service (flushing it, as a shutdown does) and starts a new one on the
    /// same store, configuration and clock.
    async fn restart(self) -> Fixture {
        self.service.flush().await.unwrap();
        drop(self.service);
        let service = open(&self.config, self.dir.path(), &self.clock).await;
        Fixture { service, ..self }
    }

    /// Seconds the clock has moved since the fixture started.
    fn clock_elapsed(&self) -> u64 {
        u64::try_from((self.clock.now() - start()).whole_seconds()).unwrap()
    }

    /// The clock's time, Unix seconds.
    fn clock_now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// The activity counters now.
    async fn counters(&self) -> tessera_common::admin::Counters {
        self.service.activity().await.counters
    }
}
