//! Everything a store holds, record by record, in an order that keeps references
//! whole (users before their sessions, sessions before their tokens): what
//! `tesserad migrate` reads from the embedded store and writes to PostgreSQL.

use super::{Barred, Revoked};
use crate::records::{
    ApiTokenRecord, AuditRecord, ClientRecord, CodeRecord, FactorsRecord, GrantRecord, KeyRecord, LinkRecord,
    RefreshRecord, SessionRecord, UserRecord,
};
use uuid::Uuid;

/// One stored record.
#[derive(Debug, Clone)]
pub enum Item {
    /// A user, with when they last opened a session.
    User(UserRecord, Option<i64>),
    /// A session.
    Session(SessionRecord),
    /// A refresh token under its digest.
    Refresh([u8; 32], RefreshRecord),
    /// A browser cookie's digest and its session.
    Cookie([u8; 32], Uuid),
    /// A revoked session's entry.
    Revoked(Revoked),
    /// A barred user's entry.
    Barred(Barred),
    /// A denied access token: jti and expiry.
    Denied(String, i64),
    /// An API token under its digest.
    ApiToken([u8; 32], ApiTokenRecord),
    /// A client.
    Client(ClientRecord),
    /// A removed client's id and when it was removed.
    ClientRemoved(String, i64),
    /// A signing key.
    Key(KeyRecord),
    /// An operator's setting.
    Setting(String, String),
    /// The token horizon (seconds).
    Horizon(i64),
    /// When the store was upgraded from a version without a revocation index.
    IndexedSince(i64),
    /// A link token under its digest.
    Link([u8; 32], LinkRecord),
    /// An authorization code under its digest.
    Code([u8; 32], CodeRecord),
    /// A consent: user, client, grant.
    Grant(Uuid, String, GrantRecord),
    /// A user's second factors.
    Factors(Uuid, FactorsRecord),
    /// An audit entry (sequence numbers are renumbered, order kept).
    Audit(AuditRecord),
}

/// How many rows of each table were copied, and how many were left behind because
/// what they belonged to was gone (the embedded store keeps a deleted session's
/// refresh tokens until they expire; the database deletes them with it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Table name → (rows copied, rows left behind).
    pub tables: std::collections::BTreeMap<&'static str, (u64, u64)>,
}

impl Copied {
    /// Counts one row of `table`, copied or left behind.
    pub fn count(&mut self, table: &'static str, copied: bool) {
        let entry = self.tables.entry(table).or_default();
        if copied {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
}
