//! Prometheus metrics (`GET /metrics`, the classic text format, version 0.0.4), built
//! with `prometheus-client`. HTTP requests are counted here, by route template and
//! status class, with a latency histogram. Every other series is read at scrape time
//! from the counters and gauges the service keeps, the same ones the console's
//! Overview shows, so nothing is counted twice. The series and their labels are listed
//! in the README ("Operating").
//!
//! Two exposures: the metrics listener of its own (`metrics.listen`, the operator's)
//! serves every series; the main listener (`metrics.on_main_listener`, as public as
//! the API) leaves out the series one anonymous request can move differently for an
//! address with an account and one without (`forgot` writes a link and mails only for
//! a real account): mail, the store's writes and size, and the process's own.

use crate::mail::MailKind;
use crate::service::{Cause, Service, TokenKind};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

/// Every route's template, as the `route` label names it.
const ROUTES: [&str; 34] = [
    "/api/auth/register",
    "/api/auth/verify-email/request",
    "/api/auth/verify-email",
    "/api/auth/password/forgot",
    "/api/auth/password/reset",
    "/api/auth/exists",
    "/reset-password",
    "/oauth/authorize",
    "/oauth/logout",
    "/api/auth/token",
    "/api/auth/login",
    "/api/auth/token/refresh",
    "/api/auth/refresh",
    "/api/auth/guest",
    "/api/auth/logout",
    "/api/auth/me",
    "/api/auth/keys",
    "/api/auth/api-tokens",
    "/api/auth/password/change",
    "/api/auth/sessions",
    "/api/auth/mfa",
    "/api/auth/mfa/totp",
    "/api/auth/mfa/totp/confirm",
    "/api/auth/mfa/recovery-codes",
    "/api/auth/mfa/verify",
    "/oauth/token",
    "/oauth/introspect",
    "/oauth/revoke",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/oauth/jwks",
    "/oauth/userinfo",
    "/healthz",
    "/metrics",
];
/// The template of `/api/auth/api-tokens/{id}`.
const API_TOKEN: &str = "/api/auth/api-tokens/{id}";
/// The template of `/api/auth/sessions/{id}`.
const OWN_SESSION: &str = "/api/auth/sessions/{id}";
/// The template of `/api/auth/verify-email/{token}` (the token is a secret).
pub(super) const VERIFY_LINK: &str = "/api/auth/verify-email/{token}";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

type Latency = Family<RouteLabel, Histogram, fn() -> Histogram>;

/// The HTTP layer's own series.
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        fn latency() -> Histogram {
            // 0.25 ms to about 4 s.
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
        }
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency as fn() -> Histogram),
        }
    }
}

impl HttpMetrics {
    /// Counts one answered request.
    pub fn observe(&self, path: &str, status: u16, elapsed: Duration) {
        let route = route_template(path);
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests.get_or_create(&RequestLabels { route, status }).inc();
        self.latency
            .get_or_create(&RouteLabel { route })
            .observe(elapsed.as_secs_f64());
    }
}

/// The route template `path` matched, or `other` (so a scan of random paths cannot
/// grow the label set).
fn route_template(path: &str) -> &'static str {
    if let Some(route) = ROUTES.iter().find(|r| **r == path) {
        return route;
    }
    if let Some(id) = path.strip_prefix("/api/auth/api-tokens/")
        && !id.is_empty()
        && !id.contains('/')
    {
        return API_TOKEN;
    }
    if let Some(id) = path.strip_prefix("/api/auth/sessions/")
        && !id.is_empty()
        && !id.contains('/')
    {
        return OWN_SESSION;
    }
    match path.strip_prefix("/api/auth/verify-email/") {
        Some(token) if !token.is_empty() && !token.contains('/') => VERIFY_LINK,
        _ => "other",
    }
}

/// What a scrape reads: every series (the HTTP layer's and the service's) and the
/// service, whose store counts are read before encoding (the encoder is not async).
#[derive(Debug)]
pub struct Scrape {
    registry: Registry,
    read: Arc<StoreReadings>,
    service: Arc<Service>,
}

/// What the store said at the start of a scrape.
#[derive(Debug, Default)]
struct StoreReadings {
    sessions: AtomicU64,
    /// [`u64::MAX`] when the store cannot tell.
    bytes: AtomicU64,
}

/// Who reads a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// The metrics listener of its own: every series.
    Operator,
    /// The main listener: no series that tells whether an address has an account.
    Public,
}

/// The registry of every series for `exposure`: the HTTP layer's and the service's.
pub fn registry(http: &Arc<HttpMetrics>, service: Arc<Service>, exposure: Exposure) -> Scrape {
    let mut registry = Registry::default();
    registry.register(
        "tessera_http_requests",
        "HTTP requests answered, by route template and status class",
        http.requests.clone(),
    );
    registry.register(
        "tessera_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template",
        http.latency.clone(),
    );
    let (syncs, hashes) = service.durations();
    if let Some(syncs) = syncs.filter(|_| exposure == Exposure::Operator) {
        registry.register(
            "tessera_store_sync_duration_seconds",
            "Time of each group-commit flush + fsync round",
            syncs,
        );
    }
    registry.register(
        "tessera_password_hash_duration_seconds",
        "Time of each Argon2id hash or verification on its thread",
        hashes,
    );
    let read = Arc::new(StoreReadings::default());
    registry.register_collector(Box::new(ServiceSeries(
        Arc::clone(&service),
        Arc::clone(&read),
        exposure,
    )));
    Scrape {
        registry,
        read,
        service,
    }
}

/// `GET /metrics`: reads the store's counts, then encodes every series.
pub fn routes(scrape: Arc<Scrape>) -> BoxedFilter<(Response,)> {
    warp::path!("metrics")
        .and(warp::get())
        .then(move || {
            let scrape = Arc::clone(&scrape);
            async move {
                let sessions = scrape.service.activity().await.sessions;
                scrape.read.sessions.store(sessions, Ordering::Relaxed);
                let bytes = scrape.service.store_size().await.ok().flatten();
                scrape.read.bytes.store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
                encode(&scrape.registry)
            }
        })
        .boxed()
}

/// The text exposition of every series in `registry`.
fn encode(registry: &Registry) -> Response {
    let mut body = String::new();
    let mut response = match prometheus_client::encoding::prometheus_text::encode(&mut body, registry) {
        Ok(()) => Response::new(body.into()),
        Err(_) => {
            let mut failed = Response::new("cannot encode the metrics\n".into());
            *failed.status_mut() = warp::http::StatusCode::INTERNAL_SERVER_ERROR;
            failed
        }
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The service's counters and gauges, read at each scrape.
#[derive(Debug)]
struct ServiceSeries(Arc<Service>, Arc<StoreReadings>, Exposure);

/// Writes one counter.
fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Writes one gauge.
fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Writes a counter with one label.
fn labelled(
    encoder: &mut DescriptorEncoder,
    (name, help, label): (&str, &str, &'static str),
    values: &[(&'static str, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (value, count) in values {
        ConstCounter::new(*count).encode(family.encode_family(&[(label, *value)])?)?;
    }
    Ok(())
}

impl Collector for ServiceSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let service = &self.0;
        let t = service.totals();
        let sessions = self.1.sessions.load(Ordering::Relaxed);
        let e = &mut encoder;
        labelled(
            e,
            ("tessera_logins", "Login attempts by outcome", "outcome"),
            &[
                ("ok", t.logins),
                ("failed", t.failures),
                ("throttled", t.throttled),
                ("overloaded", t.overloaded),
                ("mfa_required", t.mfa_required),
                ("mfa_failed", t.mfa_failed),
            ],
        )?;
        let issued: Vec<(&'static str, u64)> = TokenKind::ALL
            .iter()
            .zip(t.issued)
            .map(|(kind, n)| (kind.name(), n))
            .collect();
        labelled(
            e,
            ("tessera_tokens_issued", "Tokens handed out, by kind", "kind"),
            &issued,
        )?;
        counter(e, "tessera_refresh_rotations", "Refresh-token rotations", t.refreshes)?;
        counter(
            e,
            "tessera_refresh_reuse_detected",
            "Replayed refresh tokens (each revoked its session)",
            t.reuse_detected,
        )?;
        let revocations: Vec<(&'static str, u64)> = Cause::ALL
            .iter()
            .zip(t.revocations)
            .map(|(cause, n)| (cause.name(), n))
            .collect();
        labelled(
            e,
            (
                "tessera_revocations",
                "Events that ended a session or token early, by cause",
                "cause",
            ),
            &revocations,
        )?;
        let operator = self.2 == Exposure::Operator;
        if operator {
            let mut mail = e.encode_descriptor(
                "tessera_mail_messages",
                "Messages sent, or failed for good (after retries, or dropped from a full queue), by kind",
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (i, kind) in MailKind::ALL.iter().enumerate() {
                for (outcome, count) in [("sent", t.mail_sent[i]), ("failed", t.mail_failed[i])] {
                    ConstCounter::new(count)
                        .encode(mail.encode_family(&[("kind", kind.name()), ("outcome", outcome)])?)?;
                }
            }
        }
        counter(
            e,
            "tessera_admin_actions",
            "Operator actions on the admin socket",
            t.admin_actions,
        )?;
        if let Some(syncs) = service.store_syncs().filter(|_| operator) {
            counter(e, "tessera_store_syncs", "Group-commit flush + fsync rounds", syncs)?;
        }
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        gauge(
            e,
            "tessera_sessions_open",
            "Sessions stored and not revoked",
            as_i64(sessions),
        )?;
        gauge(
            e,
            "tessera_password_hash_queue",
            "Password hashes admitted and not yet answered",
            as_i64(service.hash_queue()),
        )?;
        let bytes = self.1.bytes.load(Ordering::Relaxed);
        if bytes != u64::MAX && operator {
            gauge(
                e,
                "tessera_store_size_bytes",
                "Size of the store's files on disk",
                as_i64(bytes),
            )?;
        }
        gauge(
            e,
            "tessera_uptime_seconds",
            "Seconds since the daemon started",
            as_i64(service.uptime_seconds()),
        )?;
        let mut info = e.encode_descriptor(
            "tessera_build_info",
            "The daemon's version (always 1)",
            None,
            ConstGauge::new(1i64).metric_type(),
        )?;
        ConstGauge::new(1i64).encode(info.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?)?;
        if operator { process(e) } else { Ok(()) }
    }
}

/// The process's CPU time (`getrusage`), resident memory and open file descriptors
/// (from `/proc/self`).
fn process(e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    use nix::sys::resource::{UsageWho, getrusage};
    if let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) {
        let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        let cpu = ConstCounter::new(seconds(usage.user_time()) + seconds(usage.system_time()));
        cpu.encode(e.encode_descriptor(
            "process_cpu_seconds",
            "CPU time used, user and system",
            None,
            cpu.metric_type(),
        )?)?;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<i64>().ok());
    if let Some(kib) = rss_kib {
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory",
            kib.saturating_mul(1024),
        )?;
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let open = i64::try_from(fds.count()).unwrap_or(i64::MAX);
        gauge(e, "process_open_fds", "Open file descriptors", open)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_a_bounded_set_of_templates() {
        assert_eq!(route_template("/api/auth/token"), "/api/auth/token");
        assert_eq!(route_template("/api/auth/api-tokens/tok_123"), API_TOKEN);
        assert_eq!(route_template("/api/auth/api-tokens/a/b"), "other");
        assert_eq!(route_template("/api/auth/sessions/0192f1e4"), OWN_SESSION);
        assert_eq!(route_template("/wp-admin.php"), "other");
        assert_eq!(route_template("/api/auth/verify-email/tsr_ve_secret"), VERIFY_LINK);
        assert_eq!(
            route_template("/api/auth/verify-email/request"),
            "/api/auth/verify-email/request"
        );
        assert_eq!(route_template("/oauth/authorize"), "/oauth/authorize");
    }
}
