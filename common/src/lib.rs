//! Types shared by the Tessera daemon (`tesserad`), its console (`tessera`) and tests.
//!
//! Layout:
//! - [`admin`]: the admin-socket protocol (handshake, requests, responses, events).
//! - [`api`]: the JSON bodies of the app-facing HTTP API (see docs/openapi.yaml): token
//!   responses, the `user` object, published keys, error bodies.
//! - [`oauth`]: the OAuth 2.0 bodies (token, error, introspection, metadata).
//! - [`claims`]: the PASETO v4.public access-token payload (see docs/decisions.md).
//! - [`scopes`]: scope lists and their space-separated wire form.
//! - [`files`]: secret-holding files written whole or not at all, mode 0600.
//! - [`duration`]: `90s`, `15m`, `1h`, `7d`.

#![deny(missing_docs)]

pub mod admin;
pub mod api;
pub mod claims;
pub mod duration;
pub mod files;
pub mod oauth;
pub mod scopes;
