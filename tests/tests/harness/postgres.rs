//! PostgreSQL for whole-process tests. With `TESSERA_TEST_BACKEND=postgres` every test
//! daemon stores in a fresh database of the cluster at `TESSERA_TEST_POSTGRES_URL`
//! (`.ci/run` starts a throwaway one and runs the suite on each backend); tests of
//! several daemons on one database use [`new_database`] whatever the backend.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// True when the suite runs on the PostgreSQL backend.
pub fn selected() -> bool {
    std::env::var("TESSERA_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The cluster's URL (a superuser on its `postgres` database), if there is one.
pub fn cluster_url() -> Option<String> {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// True (after a line on stderr, or a failure under `TESSERA_TEST_STRICT`) when there
/// is no cluster to test against.
pub fn missing() -> bool {
    !super::prerequisite(
        cluster_url().is_some(),
        "a PostgreSQL cluster (TESSERA_TEST_POSTGRES_URL)",
    )
}

/// Runs `work` with a connection to `url`, on a thread and a runtime of its own
/// (callers may be inside the test's runtime).
fn with_client<T: Send + 'static>(
    url: &str,
    work: impl AsyncFnOnce(&tokio_postgres::Client) -> T + Send + 'static,
) -> T {
    let url = url.trim().to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            work(&client).await
        })
    })
    .join()
    .unwrap()
}

/// Runs `sql` on the cluster's `postgres` database.
pub fn admin(sql: &str) {
    on_database(&cluster_url().expect("TESSERA_TEST_POSTGRES_URL"), sql);
}

/// Runs `sql` on the database at `url`.
pub fn on_database(url: &str, sql: &str) {
    let sql = sql.to_owned();
    with_client(url, async move |c| c.batch_execute(&sql).await.unwrap());
}

/// A new, empty database on the cluster; returns its URL.
pub fn new_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "t_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin(&format!("CREATE DATABASE {name}"));
    let url = cluster_url().unwrap();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    format!("{base}/{name}?sslmode=disable")
}

/// The `[storage]` TOML of a daemon on the database at `url`, whose URL file is
/// written in `dir` (a trailing newline, as an editor would leave it).
pub fn storage_toml(dir: &Path, url: &str) -> String {
    let file = dir.join("postgres.url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    format!(
        "[storage]\nbackend = \"postgres\"\n[storage.postgres]\nurl_file = \"{}\"\n",
        file.display()
    )
}

/// The `[storage]` TOML for a daemon in `dir` when the suite runs on PostgreSQL: its
/// database, made on first use and kept across restarts.
pub fn for_dir(dir: &Path) -> Option<String> {
    if !selected() {
        return None;
    }
    let file = dir.join("postgres.url");
    let url = match std::fs::read_to_string(&file) {
        Ok(url) => url.trim().to_owned(),
        Err(_) => new_database(),
    };
    Some(storage_toml(dir, &url))
}

/// A PostgreSQL cluster of a test's own, which it may stop and start under running
/// daemons without disturbing the other tests: `initdb` in a temp dir, run as the
/// unprivileged user `.ci/postgres.sh` made, on a free loopback port, trusting
/// loopback connections.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    bindir: String,
    user: String,
    port: u16,
    tls: bool,
}

impl PrivateCluster {
    /// Creates and starts the cluster; `None` (the test skips) without the tools.
    pub fn start() -> Option<Self> {
        Self::create(false)
    }

    /// A cluster that accepts TCP connections only over TLS, with a certificate for
    /// 127.0.0.1 that [`PrivateCluster::ca_file`] holds (the admin side of the tests
    /// uses the Unix socket).
    pub fn start_tls() -> Option<Self> {
        Self::create(true)
    }

    /// The PEM file that makes the server's certificate trusted.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    fn create(tls: bool) -> Option<Self> {
        let (bindir, user) = match (
            std::env::var("TESSERA_TEST_PG_BINDIR"),
            std::env::var("TESSERA_TEST_PG_USER"),
        ) {
            (Ok(bindir), Ok(user)) => (bindir, user),
            _ => {
                super::prerequisite(
                    false,
                    "PostgreSQL server binaries (TESSERA_TEST_PG_BINDIR, from .ci/postgres.sh)",
                );
                return None;
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("tessera-pg-test")
            .tempdir_in("/tmp")
            .unwrap();
        let chowned = std::process::Command::new("chown")
            .arg(&user)
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chowned.success(), "chown {user}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            dir,
            bindir,
            user,
            port,
            tls,
        };
        let data = cluster.dir.path().join("data");
        cluster.as_user(
            &format!("{}/initdb", cluster.bindir),
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "tessera",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        if tls {
            let rcgen::CertifiedKey { cert, key_pair } =
                rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
            let (crt, key) = (cluster.ca_file(), cluster.dir.path().join("server.key"));
            std::fs::write(&crt, cert.pem()).unwrap();
            std::fs::write(&key, key_pair.serialize_pem()).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            let owned = std::process::Command::new("chown")
                .arg(&cluster.user)
                .arg(&crt)
                .arg(&key)
                .status()
                .unwrap();
            assert!(owned.success());
            // Plain TCP is refused: only hostssl lines admit anyone over the network.
            let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\n";
            std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        }
        cluster.ctl("start");
        Some(cluster)
    }

    /// The URL of a new database on this cluster.
    pub fn new_database(&self) -> String {
        let socket = self.dir.path().display().to_string().replace('/', "%2F");
        let admin = format!("postgres://tessera@{socket}:{}/postgres", self.port);
        with_client(&admin, async |c| {
            c.batch_execute("CREATE DATABASE tessera").await.unwrap()
        });
        format!("postgres://tessera@127.0.0.1:{}/tessera?sslmode=disable", self.port)
    }

    /// `pg_ctl start` or `stop` (fast: open connections are cut).
    pub fn ctl(&self, action: &str) {
        let data = self.dir.path().join("data").display().to_string();
        let log = self.dir.path().join("log").display().to_string();
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            let dir = self.dir.path().display();
            options += &format!(" -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key");
        }
        let pg_ctl = format!("{}/pg_ctl", self.bindir);
        match action {
            "stop" => self.as_user(&pg_ctl, &["-D", &data, "stop", "-m", "fast", "-w"]),
            _ => self.as_user(
                &pg_ctl,
                &["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start"],
            ),
        }
    }

    fn as_user(&self, program: &str, args: &[&str]) {
        let status = self.command(program, args).status().unwrap();
        assert!(status.success(), "{program} {args:?}");
    }

    /// `program ARGS` run as the cluster's user, from `/`, its output dropped.
    fn command(&self, program: &str, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new("setpriv");
        command
            .current_dir("/")
            .args([
                format!("--reuid={}", self.user),
                format!("--regid={}", self.user),
                "--init-groups".into(),
            ])
            .arg("--")
            .arg(program)
            .args(args)
            .stdout(std::process::Stdio::null());
        command
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let pg_ctl = format!("{}/pg_ctl", self.bindir);
        let stop = ["-D", &data, "stop", "-m", "immediate", "-w"];
        let _ = self
            .command(&pg_ctl, &stop)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The text values `sql` selects (one column) on the database of the daemon in `dir`.
pub fn query(dir: &Path, sql: &str) -> Vec<String> {
    let url = std::fs::read_to_string(dir.join("postgres.url")).unwrap();
    let sql = sql.to_owned();
    with_client(&url, async move |c| {
        let rows = c.query(&sql, &[]).await.unwrap();
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    })
}

/// Every row of every table of the daemon's database in `dir`, as text.
pub fn every_row(dir: &Path) -> String {
    let tables = query(
        dir,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    );
    let mut all = String::new();
    for table in tables {
        for row in query(dir, &format!("SELECT CAST(t AS TEXT) FROM \"{table}\" t")) {
            all.push_str(&row);
            all.push('\n');
        }
    }
    all
}
