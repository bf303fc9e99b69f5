//! Login throttling through the service, on the manual clock (see docs/decisions.md): the block
//! after `max_failures`, attempts during a block that neither hash nor count, and the
//! success that clears the pair.

use super::{fixture, password};
use crate::service::ServiceError;
use std::time::Duration;

fn retry_after(result: Result<crate::service::Issued, ServiceError>) -> Duration {
    match result {
        Err(ServiceError::TooManyAttempts { retry_after }) => retry_after,
        other => panic!("expected TOO_MANY_ATTEMPTS, got {other:?}"),
    }
}

#[tokio::test]
async fn blocked_attempts_do_not_count_and_a_success_clears_the_pair() {
    let f = fixture().await;
    f.register("alice").await;
    for _ in 0..5 {
        assert!(matches!(
            f.login("alice", "wrong-password").await,
            Err(ServiceError::LoginFailed)
        ));
    }
    // Blocked for 2^0 s, right password or not; none of this counts as a failure.
    assert_eq!(
        retry_after(f.login("alice", &password("alice")).await),
        Duration::from_secs(1)
    );
    for _ in 0..10 {
        assert_eq!(
            retry_after(f.login("alice", "wrong-password").await),
            Duration::from_secs(1)
        );
    }
    assert_eq!(f.counters().await.failures, 5, "blocked attempts are not failures");
    f.clock.advance(Duration::from_millis(400));
    assert_eq!(
        retry_after(f.login("alice", "wrong-password").await),
        Duration::from_secs(1),
        "seconds left, rounded up"
    );
    f.clock.advance(Duration::from_millis(600));
    f.login("alice", &password("alice")).await.unwrap();
    // The success cleared the pair: one more failure is not a block.
    assert!(matches!(
        f.login("alice", "wrong-password").await,
        Err(ServiceError::LoginFailed)
    ));
    f.login("alice", &password("alice")).await.unwrap();
}

#[tokio::test]
async fn each_failure_past_the_limit_doubles_the_block() {
    let f = fixture().await;
    f.register("alice").await;
    for _ in 0..5 {
        assert!(f.login("alice", "wrong-password").await.is_err());
    }
    for expected in [1, 2, 4, 8] {
        assert_eq!(
            retry_after(f.login("alice", "wrong-password").await),
            Duration::from_secs(expected)
        );
        f.clock.advance(Duration::from_secs(expected));
        // The block is over: this failure counts and doubles the next block.
        assert!(matches!(
            f.login("alice", "wrong-password").await,
            Err(ServiceError::LoginFailed)
        ));
    }
}

#[tokio::test]
async fn failures_are_forgotten_after_the_window() {
    let f = fixture().await;
    f.register("alice").await;
    for _ in 0..4 {
        assert!(f.login("alice", "wrong-password").await.is_err());
    }
    f.clock.advance(Duration::from_secs(15 * 60 + 1));
    assert!(matches!(
        f.login("alice", "wrong-password").await,
        Err(ServiceError::LoginFailed)
    ));
    f.login("alice", &password("alice")).await.unwrap();
}
