//! Whole-process tests: each starts the real `tesserad` on an ephemeral port in a
//! temp dir and talks to it over real HTTP.

mod harness;

mod accounts;
mod admin_socket;
mod api_tokens;
mod authorize;
mod backup;
mod console;
mod cors;
mod docs_examples;
mod email;
mod full_screen;
mod guest;
mod http_errors;
mod keys;
mod lifecycle;
mod limits;
mod logging;
mod metrics;
mod mfa;
mod node;
mod oauth;
mod oauth_interop;
mod oidc;
mod openapi;
mod own_account;
mod paging;
mod races;
mod relying_parties;
mod safety;
mod scale_out;
mod sessions;
mod systemd;
mod throttle;
mod tls;
