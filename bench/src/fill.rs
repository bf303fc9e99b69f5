//! `fill`: writes N users, each with S live sessions and their refresh tokens, straight
//! into a store through the daemon's own store module (no HTTP, no Argon2 per user),
//! so that `bench/scale` can start the daemon on a large store in minutes.
//!
//! Usage: `fill DATA_DIR N PASSWORD [S]` (S defaults to 1). User `i` is `user{i}` /
//! `user{i}@example.com`; every user gets the same Argon2id hash of PASSWORD, at the
//! cheap parameters the scale benchmark runs the daemon with (`m=64,t=1,p=1`).
//!
//! `fill --open DATA_DIR` only opens the store and prints how long that took and the
//! process's RSS then: the storage engine's own footprint, without the daemon.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::path::PathBuf;
use std::time::Instant;
use tesserad::store::{RefreshRecord, SessionKind, SessionRecord, SessionStart, SledStore as Store, UserRecord};
use uuid::Uuid;

/// Sessions last 30 days, refresh tokens 7: the daemon's defaults.
const SESSION_SECONDS: i64 = 30 * 86_400;
const REFRESH_SECONDS: i64 = 7 * 86_400;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, dir] = args.as_slice()
        && flag == "--open"
    {
        let start = Instant::now();
        let store = Store::open(&PathBuf::from(dir))?;
        let seconds = start.elapsed().as_secs_f64();
        let status = std::fs::read_to_string("/proc/self/status")?;
        let rss = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: ?");
        println!(
            "open_s={seconds:.2} rss_kib={}",
            rss.split_whitespace().nth(1).unwrap_or("?")
        );
        drop(store);
        return Ok(());
    }
    let (dir, count, password, sessions) = match args.as_slice() {
        [_, dir, count, password] => (dir, count, password, 1),
        [_, dir, count, password, sessions] => (dir, count, password, sessions.parse()?),
        _ => return Err("usage: fill DATA_DIR N PASSWORD [SESSIONS_PER_USER]".into()),
    };
    let count: u64 = count.parse()?;
    let salt = SaltString::encode_b64(&rand_digest()?[..16]).map_err(|e| e.to_string())?;
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(64, 1, 1, None).map_err(|e| e.to_string())?,
    );
    let hash = argon
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    let store = Store::open(&PathBuf::from(dir))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let start = Instant::now();
    for i in 0..count {
        let user = UserRecord {
            id: Uuid::now_v7(),
            username: format!("user{i}"),
            email: format!("user{i}@example.com"),
            display_name: format!("user{i}"),
            role: "user".into(),
            email_verified: false,
            password_hash: hash.clone(),
            disabled: false,
            created_at: now,
        };
        store.create_user(&user)?;
        for _ in 0..sessions {
            open_session(&store, &user, now)?;
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("fill: {} users in {:.1} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    store.commit().await?;
    eprintln!(
        "fill: {count} users with {sessions} sessions each in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Stores a session of `user` with a refresh token nobody holds.
fn open_session(store: &Store, user: &UserRecord, now: i64) -> Result<(), Box<dyn std::error::Error>> {
    let session = SessionRecord {
        id: Uuid::now_v7(),
        user_id: user.id,
        scopes: vec!["read".into(), "write".into()],
        created_at: now,
        expires_at: now + SESSION_SECONDS,
        revoked_at: None,
        kind: SessionKind::App,
        client_id: None,
        browser_login: None,
    };
    let refresh = RefreshRecord {
        session_id: session.id,
        issued_at: now,
        expires_at: now + REFRESH_SECONDS,
        rotated_at: None,
        client_id: None,
    };
    if !store.create_session(user, &session, SessionStart::Refresh(&rand_digest()?, &refresh))? {
        return Err(format!("{} changed while filling", user.username).into());
    }
    Ok(())
}

/// 32 random bytes: a stand-in for the digest of a refresh token nobody holds.
fn rand_digest() -> Result<[u8; 32], getrandom::Error> {
    let mut digest = [0u8; 32];
    getrandom::fill(&mut digest)?;
    Ok(digest)
}
