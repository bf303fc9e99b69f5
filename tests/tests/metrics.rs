//! Prometheus metrics (`[metrics]`): off by default; on the main listener or one of
//! their own; parsed with a Prometheus text-format parser; counters move with requests
//! and histogram buckets are consistent.

use crate::harness::{TestDaemon, s};
use prometheus_parse::{Scrape, Value};
use serde_json::json;

/// Scrapes `url` and parses the answer.
async fn scrape(d: &TestDaemon, url: &str) -> Scrape {
    let r = d.send(d.client().get(url)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain; version=0.0.4")
    );
    Scrape::parse(r.text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the counter or gauge `name` with `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {name} {labels:?}"));
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{name} is {other:?}"),
    }
}

/// The address of the metrics listener of its own, from the daemon's log.
pub(crate) fn own_listener(d: &TestDaemon) -> String {
    assert!(d.wait_for_log("metrics on http://"), "{}", d.logs());
    let logs = d.logs();
    logs.split("metrics on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let d = TestDaemon::start();
    assert_eq!(d.get("/metrics", None).await.status, 404);
    assert!(!d.logs().contains("metrics on"), "{}", d.logs());
}

#[tokio::test]
async fn counters_move_with_requests_and_histograms_are_consistent() {
    let d = TestDaemon::with("[metrics]\non_main_listener = true\nlisten = \"127.0.0.1:0\"\n");
    let url = d.url("/metrics");
    let operator = own_listener(&d);
    let before = scrape(&d, &url).await;
    let login = d.register("alice").await;
    d.get("/api/auth/me", Some(&s(&login, "accessToken"))).await;
    let wrong = json!({"username": "alice", "password": "not-her-password"});
    assert_eq!(d.post_json("/api/auth/token", wrong).await.status, 401);
    let after = scrape(&d, &url).await;
    let own = scrape(&d, &operator).await;
    let moved = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    assert_eq!(moved("tessera_logins_total", &[("outcome", "ok")]), 1.0);
    assert_eq!(moved("tessera_logins_total", &[("outcome", "failed")]), 1.0);
    assert_eq!(moved("tessera_tokens_issued_total", &[("kind", "access")]), 1.0);
    assert_eq!(moved("tessera_tokens_issued_total", &[("kind", "refresh")]), 1.0);
    assert_eq!(value(&after, "tessera_sessions_open", &[]), 1.0);
    assert_eq!(value(&after, "tessera_revocations_total", &[("cause", "logout")]), 0.0);
    // The group commit's flush + fsync rounds are the embedded store's.
    let histograms = if crate::harness::postgres::selected() {
        &["tessera_password_hash_duration_seconds"][..]
    } else {
        &[
            "tessera_store_sync_duration_seconds",
            "tessera_password_hash_duration_seconds",
        ][..]
    };
    for &histogram in histograms {
        let sample = own.samples.iter().find(|s| s.metric == histogram).expect(histogram);
        let Value::Histogram(buckets) = &sample.value else {
            panic!("{histogram} is not a histogram")
        };
        assert!(buckets.last().unwrap().count >= 1.0, "{histogram}: {buckets:?}");
    }
    if !crate::harness::postgres::selected() {
        assert!(value(&own, "tessera_store_syncs_total", &[]) >= 1.0);
    }
    assert!(value(&own, "tessera_store_size_bytes", &[]) > 0.0);
    assert!(value(&own, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(value(&own, "process_cpu_seconds_total", &[]) > 0.0);
    assert!(value(&own, "process_open_fds", &[]) > 0.0);
    assert_eq!(
        value(&after, "tessera_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    let requests = |route: &str, status: &str| {
        value(
            &after,
            "tessera_http_requests_total",
            &[("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/api/auth/register", "2xx"), 1.0);
    assert_eq!(requests("/api/auth/me", "2xx"), 1.0);
    assert_eq!(requests("/api/auth/token", "4xx"), 1.0);
    assert_eq!(requests("/metrics", "2xx"), 1.0, "the first scrape");
    let latency = after
        .samples
        .iter()
        .find(|s| s.metric == "tessera_http_request_duration_seconds" && s.labels.get("route") == Some("/api/auth/me"))
        .expect("the /me latency histogram");
    let Value::Histogram(buckets) = &latency.value else {
        panic!("not a histogram: {:?}", latency.value)
    };
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count)
    );
    let last = buckets.last().unwrap();
    assert!(last.less_than.is_infinite() && last.count == 1.0, "{buckets:?}");
}

#[tokio::test]
async fn a_listener_of_their_own_serves_them_and_the_main_one_does_not() {
    let d = TestDaemon::with("[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let url = own_listener(&d);
    let scraped = scrape(&d, &url).await;
    assert_eq!(value(&scraped, "tessera_sessions_open", &[]), 0.0);
    assert_eq!(d.get("/metrics", None).await.status, 404, "not on the main listener");
}

/// What a scrape of the public listener says, sample by sample; left out are what
/// moves with time rather than with what was asked (the uptime, histogram sums) and
/// the test's own scrapes.
fn countable(scrape: &Scrape) -> std::collections::BTreeMap<String, f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric != "tessera_uptime_seconds" && !s.metric.ends_with("_sum"))
        .filter(|s| s.labels.get("route") != Some("/metrics"))
        .filter_map(|s| {
            let value = match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
                _ => return None,
            };
            let labels: std::collections::BTreeMap<_, _> = s.labels.iter().collect();
            Some((format!("{}{labels:?}", s.metric), value))
        })
        .collect()
}

/// Each series' change from `before` to `after`.
fn changes(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> std::collections::BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

/// `forgot` must not tell whether an address has an account, and the main listener's
/// metrics are as public as the API: a `forgot` for a real account and one for an
/// unknown address move them alike, while the operator's own listener counts the
/// message that went out.
#[tokio::test]
async fn public_metrics_do_not_tell_whether_an_address_has_an_account() {
    let d = TestDaemon::with("[metrics]\non_main_listener = true\nlisten = \"127.0.0.1:0\"\n");
    let (public, operator) = (d.url("/metrics"), own_listener(&d));
    d.register("gina").await;
    // A request is counted as its answer goes out: let the registration's land.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let forgot = async |email: &str| {
        let r = d
            .post_json("/api/auth/password/forgot", json!({ "email": email }))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
    };
    let sent = async || {
        value(
            &scrape(&d, &operator).await,
            "tessera_mail_messages_total",
            &[("kind", "reset"), ("outcome", "sent")],
        )
    };
    let s0 = countable(&scrape(&d, &public).await);
    forgot("nobody@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sent().await, 0.0);
    let s1 = countable(&scrape(&d, &public).await);
    forgot("gina@example.com").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sent().await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "the reset message never went out");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let s2 = countable(&scrape(&d, &public).await);
    assert_eq!(changes(&s0, &s1), changes(&s1, &s2));
}
