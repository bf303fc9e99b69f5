//! Login throttling over HTTP.

use crate::harness::{TestDaemon, password};
use serde_json::json;

fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_sixth_attempt_after_five_failures_answers_429_with_retry_after() {
    let d = TestDaemon::start();
    d.register("alice").await;
    let attempt = |client: reqwest::Client, pw: String| {
        let url = d.url("/api/auth/token");
        let request = client.post(url).json(&json!({"username": "alice", "password": pw}));
        d.send(request)
    };
    let here = client_from([127, 0, 0, 1]);
    for _ in 0..5 {
        assert_eq!(attempt(here.clone(), "wrong-password".into()).await.status, 401);
    }
    let blocked = attempt(here.clone(), password("alice")).await;
    assert_eq!((blocked.status, blocked.code()), (429, "TOO_MANY_ATTEMPTS".into()));
    let retry: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(retry, 1, "the first block is 1 s");
    // The same account from another address is not locked out. (The block's length,
    // its end and the success that clears it are tested on the service's manual clock.)
    let elsewhere = attempt(client_from([127, 0, 0, 2]), password("alice")).await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
}

#[tokio::test]
async fn an_address_is_throttled_across_accounts() {
    let d = TestDaemon::with("[throttle]\nmax_failures = 2\n");
    let client = client_from([127, 0, 0, 3]);
    for i in 0..20 {
        let resp = d
            .send(
                client
                    .post(d.url("/api/auth/token"))
                    .json(&json!({"username": format!("user{i}"), "password": "wrong-password"})),
            )
            .await;
        assert_eq!(resp.status, 401, "attempt {i}");
    }
    let resp = d
        .send(
            client
                .post(d.url("/api/auth/token"))
                .json(&json!({"username": "fresh", "password": "wrong-password"})),
        )
        .await;
    assert_eq!((resp.status, resp.code()), (429, "TOO_MANY_ATTEMPTS".into()));
    assert!(resp.header("retry-after").is_some());
    // Every attempt from that address, even a real account's right password.
    d.register("ruth").await;
    let right = d
        .send(
            client
                .post(d.url("/api/auth/token"))
                .json(&json!({"username": "ruth", "password": password("ruth")})),
        )
        .await;
    right.expect_error(429, "TOO_MANY_ATTEMPTS");
    // The same account from another address is not affected.
    d.login("ruth").await;
}
