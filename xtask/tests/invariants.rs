//! The promises about time that keep "one email per user" true, in one place. Each number lives
//! with its owner (the template's timeouts and visibility, send-email's claim lease, the
//! bridge's margins); this test is where their relations are written down and checked, so that
//! changing one of them alone fails here instead of doubling or losing an email in production.

use std::time::Duration;
use xtask::bridge::event_source::{in_flight_visibility, retry_after};
use xtask::bridge::{FUNCTION, send_email_limits};
use xtask::layout::Layout;
use xtask::local::template::Template;

fn template() -> Template {
    Template::load(&Layout::workspace_root().join("template.yaml")).unwrap()
}

/// send-email's claim lease, as the function itself holds it.
fn claim_lease() -> Duration {
    Duration::from_secs(send_email::adapters::dynamodb_claims::LEASE_SECONDS)
}

fn email_queue_visibility(template: &Template) -> Duration {
    let seconds = template.properties("EmailQueue").unwrap()["VisibilityTimeout"]
        .as_u64()
        .expect("EmailQueue.VisibilityTimeout is a literal number of seconds");
    Duration::from_secs(seconds)
}

#[test]
fn the_claim_lease_outlasts_the_function_and_is_outlasted_by_the_queue() {
    let template = template();
    let timeout = template.function_timeout(FUNCTION).unwrap();
    let lease = claim_lease();
    let visibility = email_queue_visibility(&template);
    // A lease shorter than the timeout lets a live send be taken over: two emails.
    assert!(lease >= timeout, "lease {lease:?} < send-email's Timeout {timeout:?}");
    // A lease at or past the visibility timeout means a redelivery after a consumer died still
    // finds the claim live, fails, and walks the message to the DLQ: no email.
    assert!(
        lease < visibility,
        "lease {lease:?} >= the queue's VisibilityTimeout {visibility:?}"
    );
    // AWS's guidance for SQS event sources: a visibility timeout of at least six times the
    // function's timeout, so that retries of throttled invocations are not lost to it.
    assert!(
        visibility >= 6 * timeout,
        "VisibilityTimeout {visibility:?} < 6 x Timeout {timeout:?}"
    );
}

#[test]
fn the_bridge_keeps_the_same_promises_locally() {
    let template = template();
    let (timeout, bridge_lease) = send_email_limits(&template).unwrap();
    assert_eq!(
        bridge_lease,
        claim_lease(),
        "the bridge derives send-email's lease from its Timeout: they must be the same"
    );
    let source = template.sqs_event_source(FUNCTION).unwrap();
    let in_flight = in_flight_visibility(&source, timeout, bridge_lease);
    assert!(
        in_flight > bridge_lease && in_flight > timeout,
        "in-flight visibility {in_flight:?} must outlast the lease and the timeout"
    );
    let retry = retry_after(bridge_lease);
    assert!(retry > bridge_lease, "a retry before the lease ends meets a live claim");
    assert!(
        retry <= email_queue_visibility(&template),
        "the bridge retries later than AWS would"
    );
    // docs/local-stack.md (the bridge) states these two figures.
    assert_eq!(
        in_flight,
        Duration::from_secs(35),
        "update docs/local-stack.md's 35 s too"
    );
    assert_eq!(retry, Duration::from_secs(31), "update docs/local-stack.md's 31 s too");
}

/// publish-outbox's claims last its Timeout (`publish_outbox::TIMEOUT`): that constant must be
/// the template's, so that a claim never expires under the live run that took it (another run
/// would publish its item again) and a dead run's claims free up when Lambda would have ended it.
#[test]
fn the_outbox_claim_lease_is_publish_outboxs_timeout() {
    let template = template();
    assert_eq!(
        template.function_timeout("publish-outbox").unwrap(),
        publish_outbox::TIMEOUT,
        "publish_outbox::TIMEOUT (its claims' lease) must be its Timeout in template.yaml"
    );
    assert!(
        publish_outbox::STOP_MARGIN < publish_outbox::TIMEOUT,
        "a run whose stop margin is its whole timeout publishes nothing"
    );
}
