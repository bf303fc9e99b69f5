//! The integrity check (`tesserad check`): every index agrees with the records it
//! indexes, the stored counts with what is stored, and every record decodes. Read-only; meant for a stopped
//! daemon's store, typically right after a restore.

use super::users::StoredUser;
use super::{
    ApiTokenRecord, CodeRecord, Counter, GrantRecord, LinkRecord, SessionKind, SessionRecord, SledStore, StoreError,
    decode, links,
};
use uuid::Uuid;

impl SledStore {
    /// Every disagreement found, one line each; empty when the store is consistent.
    pub fn check_integrity(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut users = 0u64;
        for entry in self.users.iter() {
            let (key, value) = entry?;
            let user = StoredUser::decode(&value)?.user;
            users += 1;
            if key.as_ref() != user.id.as_bytes() {
                problems.push(format!("users: record {} stored under another key", user.id));
            }
            for (index, name, login) in [
                (&self.users_by_name, "users_by_name", user.username.to_lowercase()),
                (&self.users_by_email, "users_by_email", user.email.to_lowercase()),
            ] {
                if index.get(login.as_bytes())?.as_deref() != Some(user.id.as_bytes()) {
                    problems.push(format!("{name}: no entry {login:?} for user {}", user.id));
                }
            }
            let barred = self.barred.get(user.id.as_bytes())?.is_some();
            if user.disabled && !barred {
                problems.push(format!("barred: disabled user {} is not barred", user.id));
            }
        }
        for (index, name) in [
            (&self.users_by_name, "users_by_name"),
            (&self.users_by_email, "users_by_email"),
        ] {
            for entry in index.iter() {
                let (login, id) = entry?;
                let Ok(id) = Uuid::from_slice(&id) else {
                    problems.push(format!("{name}: a malformed id"));
                    continue;
                };
                if self.user(id)?.is_none() {
                    problems.push(format!(
                        "{name}: {:?} points at missing user {id}",
                        String::from_utf8_lossy(&login)
                    ));
                }
            }
        }
        let mut open = 0u64;
        for entry in self.sessions.iter() {
            let (_, value) = entry?;
            let session: SessionRecord = decode("sessions", &value)?;
            open += 1;
            if session.revoked_at.is_some() {
                problems.push(format!("sessions: revoked session {} still stored", session.id));
            }
            let listed = self
                .logins_of(session.user_id)?
                .open
                .into_iter()
                .find(|(id, _)| *id == session.id);
            match listed {
                None => problems.push(format!("logins: session {} is not among its user's", session.id)),
                Some((_, end)) if end != session.expires_at => {
                    problems.push(format!("logins: session {} has the wrong end", session.id));
                }
                Some(_) => {}
            }
        }
        for value in self.users.iter().values() {
            for (id, _) in StoredUser::decode(&value?)?.logins.open {
                if self.sessions.get(id.as_bytes())?.is_none() {
                    problems.push(format!("logins: session {id} is listed without its record"));
                }
            }
        }
        for entry in self.api_token_ids.iter() {
            let (id, digest) = entry?;
            let token: Option<ApiTokenRecord> = self
                .api_tokens
                .get(&digest)?
                .map(|v| decode("api_tokens", &v))
                .transpose()?;
            if token.is_none_or(|t| t.id.as_bytes() != id.as_ref()) {
                problems.push(format!(
                    "api_token_ids: {:?} points at no matching token",
                    String::from_utf8_lossy(&id)
                ));
            }
        }
        if self.api_token_ids.len() != self.api_tokens.len() {
            problems.push("api_tokens: records and ids differ in number".into());
        }
        self.check_links(&mut problems)?;
        for entry in self.browser_cookies.iter() {
            let (_, id) = entry?;
            let session = Uuid::from_slice(&id)
                .ok()
                .map(|id| self.session(id))
                .transpose()?
                .flatten();
            if session.is_some_and(|s| s.kind != SessionKind::Browser) {
                problems.push("browser_cookies: a cookie of a session that is not a browser session".into());
            }
        }
        for entry in self.codes.iter() {
            let (_, value) = entry?;
            let _: CodeRecord = decode("codes", &value)?;
        }
        for entry in self.grants.iter() {
            let (key, value) = entry?;
            let _: GrantRecord = decode("grants", &value)?;
            let user = key.get(..16).and_then(|id| Uuid::from_slice(id).ok());
            if user.is_none_or(|id| self.users.get(id.as_bytes()).ok().flatten().is_none()) {
                problems.push("grants: a consent of a missing user".into());
            }
        }
        for (counter, actual) in [
            (Counter::Users, users),
            (Counter::Sessions, open),
            (Counter::Refresh, self.refresh.len() as u64),
            (Counter::ApiTokens, self.api_token_ids.len() as u64),
        ] {
            let stored = self.counter(counter)?;
            if stored != actual {
                problems.push(format!("meta: {} is {stored}, the store holds {actual}", counter.key()));
            }
        }
        Ok(problems)
    }

    /// Link tokens and their per-user index agree.
    fn check_links(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        for entry in self.links.iter() {
            let (digest, value) = entry?;
            let link: LinkRecord = decode("links", &value)?;
            let Ok(digest) = <[u8; 32]>::try_from(digest.as_ref()) else {
                problems.push("links: a malformed key".into());
                continue;
            };
            if self
                .user_links
                .get(links::user_link_key(link.user_id, link.kind, &digest))?
                .is_none()
            {
                problems.push(format!("user_links: no entry for a link of user {}", link.user_id));
            }
        }
        for key in self.user_links.iter().keys() {
            let key = key?;
            if key.get(17..).is_none_or(|d| self.links.get(d).ok().flatten().is_none()) {
                problems.push("user_links: an entry without its link".into());
            }
        }
        Ok(())
    }
}
