//! API tokens. Trees: `api_tokens` (SHA-256 of the secret → [`ApiTokenRecord`]),
//! `api_token_ids` (public id → digest) and `user_api_tokens` (user id ‖ token id →
//! empty, an index), kept in step by transactions.

use super::{
    ApiTokenRecord, Counter, EXPIRED_API_TOKEN_KEPT, SledStore, StoreError, corrupt_index, count, decode, decode_all,
    encode, walk_in_batches,
};
use sled::Transactional;
use std::ops::Bound;
use uuid::Uuid;

/// Index key of an API token under its user.
pub(super) fn user_token_key(user_id: Uuid, token_id: &str) -> Vec<u8> {
    let mut key = user_id.as_bytes().to_vec();
    key.extend_from_slice(token_id.as_bytes());
    key
}

impl SledStore {
    /// Stores a new API token under the digest of its secret.
    pub fn create_api_token(&self, token: &ApiTokenRecord, digest: &[u8; 32]) -> Result<(), StoreError> {
        let _writing = self.writing();
        let value = encode(token)?;
        let index_key = user_token_key(token.user_id, &token.id);
        (&self.api_tokens, &self.api_token_ids, &self.user_api_tokens, &self.meta).transaction(
            |(tokens, ids, by_user, meta)| {
                tokens.insert(digest, value.as_slice())?;
                if ids.insert(token.id.as_bytes(), digest)?.is_none() {
                    count(meta, Counter::ApiTokens, 1)?;
                }
                by_user.insert(index_key.as_slice(), &[])?;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// The API token whose secret has `digest`.
    pub fn api_token(&self, digest: &[u8; 32]) -> Result<Option<ApiTokenRecord>, StoreError> {
        self.api_tokens
            .get(digest)?
            .map(|v| decode("api_tokens", &v))
            .transpose()
    }

    /// The API token with public id `id`.
    pub fn api_token_by_id(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        match self.api_token_ids.get(id.as_bytes())? {
            Some(digest) => self
                .api_tokens
                .get(digest)?
                .map(|v| decode("api_tokens", &v))
                .transpose(),
            None => Ok(None),
        }
    }

    /// The API tokens of `user_id`.
    pub fn api_tokens_of(&self, user_id: Uuid) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.user_api_tokens.scan_prefix(user_id.as_bytes()).keys() {
            let key = key?;
            let id = String::from_utf8(key[16..].to_vec()).map_err(|_| corrupt_index("user_api_tokens"))?;
            if let Some(token) = self.api_token_by_id(&id)? {
                out.push(token);
            }
        }
        Ok(out)
    }

    /// Every API token.
    pub fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        decode_all("api_tokens", &self.api_tokens)
    }

    /// A page of API tokens in id order: of everyone, or of `users`.
    pub fn api_tokens_page(
        &self,
        after: Option<&str>,
        users: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let ids: Vec<String> = match users {
            None => {
                let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_bytes().to_vec()));
                self.api_token_ids
                    .range::<Vec<u8>, _>((start, Bound::Unbounded))
                    .keys()
                    .take(limit)
                    .map(|key| String::from_utf8(key?.to_vec()).map_err(|_| corrupt_index("api_token_ids")))
                    .collect::<Result<_, _>>()?
            }
            Some(users) => {
                // Each user's tokens are in id order under their prefix: the first
                // `limit` after the cursor of each, merged.
                let mut ids = Vec::new();
                for user in users {
                    let start = user_token_key(*user, after.unwrap_or_default());
                    let start = if after.is_some() {
                        Bound::Excluded(start)
                    } else {
                        Bound::Included(start)
                    };
                    for key in self
                        .user_api_tokens
                        .range::<Vec<u8>, _>((start, Bound::Unbounded))
                        .keys()
                        .take_while(|key| key.as_ref().map_or(true, |k| k.starts_with(user.as_bytes())))
                        .take(limit)
                    {
                        let key = key?;
                        ids.push(String::from_utf8(key[16..].to_vec()).map_err(|_| corrupt_index("user_api_tokens"))?);
                    }
                }
                ids.sort_unstable();
                ids.truncate(limit);
                ids
            }
        };
        let mut page = Vec::with_capacity(ids.len());
        for id in ids {
            page.extend(self.api_token_by_id(&id)?);
        }
        Ok(page)
    }

    /// How many API tokens exist.
    pub fn api_token_count(&self) -> Result<u64, StoreError> {
        self.counter(Counter::ApiTokens)
    }

    /// Deletes an API token; returns it, or `None` if it did not exist.
    pub fn delete_api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let _writing = self.writing();
        let Some(digest) = self.api_token_ids.get(id.as_bytes())? else {
            return Ok(None);
        };
        let Some(token) = self
            .api_tokens
            .get(&digest)?
            .map(|v| decode::<ApiTokenRecord>("api_tokens", &v))
            .transpose()?
        else {
            return Ok(None);
        };
        let index_key = user_token_key(token.user_id, id);
        (&self.api_tokens, &self.api_token_ids, &self.user_api_tokens, &self.meta).transaction(
            |(tokens, ids, by_user, meta)| {
                tokens.remove(&digest)?;
                if ids.remove(id.as_bytes())?.is_some() {
                    count(meta, Counter::ApiTokens, -1)?;
                }
                by_user.remove(index_key.as_slice())?;
                Ok(())
            },
        )?;
        Ok(Some(token))
    }

    /// Records last-use times (written back periodically, not per request).
    pub fn touch_api_tokens(&self, uses: &[(String, i64)]) -> Result<(), StoreError> {
        let _writing = self.writing();
        for (id, at) in uses {
            let Some(digest) = self.api_token_ids.get(id.as_bytes())? else {
                continue;
            };
            let Some(value) = self.api_tokens.get(&digest)? else {
                continue;
            };
            let mut token: ApiTokenRecord = decode("api_tokens", &value)?;
            if token.last_used_at.is_none_or(|t| t < *at) {
                token.last_used_at = Some(*at);
                // Only if the token was not deleted meanwhile.
                let _ = self
                    .api_tokens
                    .compare_and_swap(&digest, Some(value), Some(encode(&token)?))?;
            }
        }
        Ok(())
    }

    /// Deletes API tokens expired more than [`EXPIRED_API_TOKEN_KEPT`] ago; returns
    /// how many.
    pub(super) fn purge_api_tokens(&self, now: i64, rest: &mut dyn FnMut()) -> Result<usize, StoreError> {
        let mut api_tokens = 0;
        walk_in_batches(&self.api_tokens, rest, |_, value| {
            let token: ApiTokenRecord = decode("api_tokens", value)?;
            if token.expires_at.is_some_and(|exp| exp + EXPIRED_API_TOKEN_KEPT <= now)
                && self.delete_api_token(&token.id)?.is_some()
            {
                api_tokens += 1;
            }
            Ok(())
        })?;
        Ok(api_tokens)
    }
}
