//! create-user's init as Lambda runs it (`init::from_env`, the real local stack), with SSM
//! hanging: a listener that accepts the connection and never answers. Init waits for DynamoDB's
//! warm-up alone and logs it; the JWT secret's read goes on after init, and the first ask for the
//! secret waits for it (`token.rs`'s unit tests show it starts no read of its own).
//!
//! One test in this binary: it sets the process environment, as Lambda does before init.

use create_user::token::IssuerError;
use testkit::HangingListener;

#[tokio::test]
async fn init_ends_while_the_secrets_read_hangs_and_the_first_ask_waits_for_that_read() {
    let hang = HangingListener::start();
    let vars = testkit::stack();
    // SAFETY: the only test of this binary, on the test's one runtime thread, before anything
    // reads the environment (the listener's thread never does).
    unsafe {
        for (key, value) in &vars {
            std::env::set_var(key, value);
        }
        std::env::set_var("AWS_ENDPOINT_URL_SSM", &hang.url);
        std::env::set_var("JWT_SECRET_PARAM", "/test/hanging/jwt-secret");
        std::env::remove_var("JWT_SECRET");
    }
    let logs = lambda_support::testing::logs();

    let signup = create_user::init::from_env().await.expect("init");
    let init_calls = logs.lines_with("init calls");
    assert!(
        matches!(&init_calls[..], [line] if line.contains("dynamodb_ms=")),
        "init logs the one call it waited for: {init_calls:?}"
    );
    assert!(signup.tokens.ready().is_none(), "SSM never answered");

    match signup.tokens.issuer().await {
        Err(IssuerError::Unreadable(cause)) => assert!(cause.contains("/test/hanging/jwt-secret"), "{cause}"),
        other => panic!("SSM hangs: {:?}", other.map(|_| "an issuer")),
    }
    let after_init = logs.lines_with("init calls after init");
    assert!(
        matches!(&after_init[..], [line] if line.contains("ssm_ms=")),
        "the read in flight at init's end settled after it: {after_init:?}"
    );
    assert_eq!(
        logs.lines_with("JWT secret not read after init").len(),
        1,
        "init's read failed and said so"
    );
}
