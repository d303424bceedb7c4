//! A key's secret rotated in SSM (LocalStack's, `cargo xtask up`), as docs/deploying.md's
//! rotation procedure does it: `put-parameter --overwrite`, a new version. The key signs with
//! the new version after its refresh and names it in `kid`; the version before still checks the
//! tokens signed with it (read from SSM by `name:version`); the one before that does not.

use std::time::Duration;
use time::OffsetDateTime;
use tokens::key::{FromSecret, Key, KeyError, SecretSource, kid_of};
use tokens::verification::{Confirmation, VerificationKey, VerifyPolicy};
use uuid::Uuid;

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, secret: &str) {
    ssm.put_parameter()
        .name(name)
        .value(secret)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("LocalStack's SSM takes the parameter");
}

#[tokio::test]
async fn a_rotated_parameter_is_signed_with_after_the_refresh_and_the_version_before_still_checks() {
    let vars = testkit::stack();
    let sdk = testkit::sdk_config(&vars).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = format!("/user-signup-tests/rotation-{}", Uuid::new_v4().simple());
    put(&ssm, &name, &"a".repeat(32)).await;

    let refresh = Duration::from_millis(300);
    let source = SecretSource::SsmParameter {
        name: name.clone(),
        refresh,
    };
    let key: Key<VerificationKey> = Key::from_source(&source, policy(), &ssm).unwrap();
    let what = Confirmation {
        user_id: Uuid::new_v4(),
        credential_id: Uuid::new_v4(),
        email_key: "ann@x.io".into(),
    };
    let mint = |key: &VerificationKey| key.mint(&what, OffsetDateTime::now_utc()).unwrap();
    let first = mint(&key.get().await.unwrap());
    assert_eq!(kid_of(&first).as_deref(), Some("1"), "the parameter's version");

    put(&ssm, &name, &"b".repeat(32)).await;
    let still = mint(&key.get().await.unwrap());
    assert_eq!(
        kid_of(&still).as_deref(),
        Some("1"),
        "until the refresh, the key read before"
    );
    tokio::time::sleep(refresh).await;
    let second = mint(&key.get().await.unwrap());
    assert_eq!(kid_of(&second).as_deref(), Some("2"), "after it, the new version");

    for token in [&first, &second] {
        let checker = key.for_kid(kid_of(token).as_deref()).await.unwrap();
        assert!(checker.check(token).is_ok(), "{:?}", kid_of(token));
    }

    // A second rotation: version 1 is no longer valid, version 2 is (read back by version).
    put(&ssm, &name, &"c".repeat(32)).await;
    tokio::time::sleep(refresh).await;
    assert_eq!(key.get().await.unwrap().kid(), Some("3"));
    assert!(matches!(key.for_kid(Some("1")).await, Err(KeyError::UnknownKid(_))));
    let checker = key.for_kid(Some("2")).await.unwrap();
    assert!(checker.check(&second).is_ok());

    // And a fresh instance, which never held version 2, reads it by version.
    let fresh: Key<VerificationKey> = Key::from_source(&source, policy(), &ssm).unwrap();
    let checker = fresh.for_kid(Some("2")).await.unwrap();
    assert!(checker.check(&second).is_ok());
    ssm.delete_parameter().name(&name).send().await.ok();
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        issuer: "test".into(),
        ttl_seconds: 3600,
    }
}
