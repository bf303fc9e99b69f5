//! OAuth clients: a client removed and added again under the same id, even within
//! the same second, does not bring the old client's tokens back.

use super::{OPERATOR, confidential, fixture};
use crate::secret::Secret;
use crate::service::ServiceError;
use crate::service::clients::ClientCredentials;
use std::time::Duration;

fn credentials(id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials {
        id: id.into(),
        secret: Secret::new(secret.into()),
    }
}

#[tokio::test]
async fn a_client_added_again_in_the_same_second_does_not_revive_old_tokens() {
    let f = fixture().await;
    let grant = async |id: &str, secret: &str| -> String {
        let client = f.service.authenticate_client(&credentials(id, secret)).await.unwrap();
        f.service.client_credentials_grant(&client, None).unwrap().access_token
    };
    let old = f.service.add_client(OPERATOR, confidential("phoenix")).await.unwrap();
    let old_token = grant("phoenix", old.client_secret.as_deref().unwrap()).await;
    f.service.authenticate(Some(&old_token)).await.unwrap();
    f.service.remove_client(OPERATOR, "phoenix").await.unwrap();
    // Added again while the clock still shows the second of the removal: the add
    // waits for the next second.
    let (new, ()) = tokio::join!(f.service.add_client(OPERATOR, confidential("phoenix")), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        f.clock.advance(Duration::from_secs(1));
    });
    let new = new.unwrap();
    let e = f.service.authenticate(Some(&old_token)).await.unwrap_err();
    assert!(matches!(e, ServiceError::InvalidToken { presented: true }), "{e:?}");
    assert!(!f.service.introspect(&old_token).await.unwrap().active);
    let new_token = grant("phoenix", new.client_secret.as_deref().unwrap()).await;
    f.service.authenticate(Some(&new_token)).await.unwrap();
}

#[tokio::test]
async fn remembered_client_credentials_change_no_answer() {
    let f = fixture().await;
    let auth = async |id: &str, secret: &str| {
        f.service
            .authenticate_client(&credentials(id, secret))
            .await
            .map(|c| c.id().to_owned())
    };
    let first = f.service.add_client(OPERATOR, confidential("rs")).await.unwrap();
    assert_eq!(auth("rs", first.client_secret.as_deref().unwrap()).await.unwrap(), "rs");
    assert_eq!(
        auth("rs", first.client_secret.as_deref().unwrap()).await.unwrap(),
        "rs",
        "remembered"
    );
    let wrong = format!("{}x", first.client_secret.as_deref().unwrap());
    assert!(
        matches!(auth("rs", &wrong).await, Err(ServiceError::InvalidClient)),
        "a wrong secret"
    );
    assert!(matches!(
        auth("other", first.client_secret.as_deref().unwrap()).await,
        Err(ServiceError::InvalidClient)
    ));
    f.service.remove_client(OPERATOR, "rs").await.unwrap();
    assert!(
        matches!(
            auth("rs", first.client_secret.as_deref().unwrap()).await,
            Err(ServiceError::InvalidClient)
        ),
        "removed"
    );
    f.clock.advance(Duration::from_secs(1));
    let second = f.service.add_client(OPERATOR, confidential("rs")).await.unwrap();
    assert!(
        auth("rs", first.client_secret.as_deref().unwrap()).await.is_err(),
        "the old secret"
    );
    assert_eq!(
        auth("rs", second.client_secret.as_deref().unwrap()).await.unwrap(),
        "rs"
    );
}

#[tokio::test]
async fn a_rotated_secret_ends_at_once_or_after_its_grace() {
    let f = fixture().await;
    let works = async |secret: &str| f.service.authenticate_client(&credentials("svc", secret)).await.is_ok();
    let first = f.service.add_client(OPERATOR, confidential("svc")).await.unwrap();
    let first = first.client_secret.unwrap();
    assert!(works(&first).await, "and now remembered");
    // At once: the remembered credentials are forgotten too.
    let second = f
        .service
        .rotate_client_secret(OPERATOR, "svc", Duration::ZERO)
        .await
        .unwrap()
        .client_secret
        .unwrap();
    assert!(!works(&first).await);
    assert!(works(&second).await);
    // With a grace: both, until its end, then only the new one.
    let third = f
        .service
        .rotate_client_secret(OPERATOR, "svc", Duration::from_secs(3600))
        .await
        .unwrap()
        .client_secret
        .unwrap();
    assert!(works(&second).await && works(&third).await);
    f.clock.advance(Duration::from_secs(3599));
    assert!(works(&second).await, "a second before the end");
    f.clock.advance(Duration::from_secs(1));
    assert!(!works(&second).await, "at the end");
    assert!(works(&third).await);
    // Too long a grace, an unknown client: refused, nothing changed (a public one:
    // the whole-process test).
    let refused = [
        f.service
            .rotate_client_secret(OPERATOR, "svc", Duration::from_secs(31 * 86_400))
            .await,
        f.service.rotate_client_secret(OPERATOR, "nobody", Duration::ZERO).await,
    ];
    assert!(
        matches!(refused[0], Err(ServiceError::InvalidRequest { .. })),
        "{:?}",
        refused[0]
    );
    assert!(matches!(refused[1], Err(ServiceError::NotFound(_))), "{:?}", refused[1]);
    assert!(works(&third).await);
}
