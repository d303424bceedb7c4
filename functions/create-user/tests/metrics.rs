//! What a request reports as EMF, through the recorder the function installs (a test binary of
//! its own: the recorder is global to the process).

use create_user::domain::signup::SignUp;
use create_user::handler::{self, metric};
use lambda_runtime::{Context, LambdaEvent};
use lambda_support::metrics::{Metrics, emf::Document};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use user_store::testing::{MemoryPublisher, MemoryStore};

/// Handles `event`, flushes, and answers the status and the documents written.
async fn request(
    metrics: Metrics,
    signup: &SignUp<MemoryStore, MemoryPublisher>,
    event: Value,
) -> (u64, Vec<Document>) {
    let (reply, rest) = handler::handle(signup, LambdaEvent::new(event, Context::default())).await;
    rest.await;
    let mut out = Vec::new();
    metrics.flush_to(&mut out, "req-1").unwrap();
    let text = String::from_utf8(out).unwrap();
    let docs: Vec<Document> = text.lines().map(|l| Document::parse(l).unwrap()).collect();
    for doc in &docs {
        assert_eq!(doc.namespace, "UserSignup");
        assert_eq!(doc.string("RequestId"), Some("req-1"));
        let want: &[&str] = if doc.string(metric::REASON).is_some() {
            &["FunctionName", "Reason"]
        } else if doc.string(metric::OUTCOME).is_some() {
            &["FunctionName", "Outcome"]
        } else {
            &["FunctionName"]
        };
        assert_eq!(doc.dimension_set(), want, "{text}");
    }
    (reply["statusCode"].as_u64().unwrap(), docs)
}

/// The value of `name` over the documents with the `Reason` `reason` (None: without one).
fn sum(docs: &[Document], name: &str, reason: Option<&str>) -> Option<f64> {
    docs.iter()
        .filter(|d| d.string(metric::REASON) == reason)
        .filter_map(|d| d.value(name))
        .reduce(|a, b| a + b)
}

#[tokio::test]
async fn every_request_counts_its_answer_and_a_sign_up_its_hash_time() {
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, "create-user").unwrap();
    metric::describe();
    let mut signup = create_user::testing::signup(MemoryStore::default(), MemoryPublisher::default());
    signup.limit.max = 8;
    let body = json!({"name": "Ann", "email": "metrics@x.io", "password": "correct horse"}).to_string();
    let sign_up = || create_user::testing::sign_up(&body);

    // Accepted: one sign-up, no rejection, no error, and bcrypt's time.
    let (status, docs) = request(metrics, &signup, sign_up()).await;
    assert_eq!(status, 202);
    assert_eq!(sum(&docs, metric::SIGN_UPS, None), Some(1.0), "{docs:?}");
    let outcome = |docs: &[Document], outcome: &str| {
        docs.iter()
            .filter(|d| d.string(metric::OUTCOME) == Some(outcome))
            .filter_map(|d| d.value(metric::SIGN_UP_OUTCOMES))
            .sum::<f64>()
    };
    assert_eq!(outcome(&docs, "created"), 1.0, "{docs:?}");
    assert_eq!(sum(&docs, metric::REJECTIONS, None), Some(0.0));
    assert_eq!(sum(&docs, metric::SERVER_ERRORS, None), Some(0.0));
    let plain = docs.iter().find(|d| d.value(metric::SIGN_UPS).is_some()).unwrap();
    for name in [metric::SIGN_UPS, metric::REJECTIONS, metric::SERVER_ERRORS] {
        assert_eq!(plain.unit(name), Some("Count"), "{name}");
    }
    let hash = docs.iter().find(|d| d.value(metric::HASH_TIME).is_some()).unwrap();
    assert_eq!(hash.unit(metric::HASH_TIME), Some("Milliseconds"));
    assert_eq!(
        hash.root[metric::HASH_TIME].as_array().map(Vec::len),
        Some(1),
        "one sample: {hash:?}"
    );
    assert!(hash.value(metric::HASH_TIME).unwrap() > 0.0);

    // The same email again: accepted as well, hashed as well, its outcome what an operator
    // may know and the caller not.
    let (status, docs) = request(metrics, &signup, sign_up()).await;
    assert_eq!(status, 202);
    assert_eq!(sum(&docs, metric::SIGN_UPS, None), Some(1.0), "{docs:?}");
    assert_eq!(outcome(&docs, "replaced"), 1.0, "{docs:?}");
    assert!(
        sum(&docs, metric::HASH_TIME, None).unwrap() > 0.0,
        "a hash, as for a new address"
    );

    // Over the per-client limit: a rejection for too_many_requests.
    for _ in 0..6 {
        request(metrics, &signup, sign_up()).await;
    }
    let (status, docs) = request(metrics, &signup, sign_up()).await;
    assert_eq!(status, 429);
    assert_eq!(sum(&docs, metric::SIGN_UPS, None), Some(0.0), "{docs:?}");
    assert_eq!(sum(&docs, metric::REJECTIONS, None), Some(1.0));
    assert_eq!(
        sum(&docs, metric::REJECTIONS_BY_REASON, Some("too_many_requests")),
        Some(1.0)
    );
    let by_reason = docs
        .iter()
        .find(|d| d.value(metric::REJECTIONS_BY_REASON).is_some())
        .unwrap();
    assert_eq!(by_reason.unit(metric::REJECTIONS_BY_REASON), Some("Count"));
    assert_eq!(sum(&docs, metric::HASH_TIME, None), None, "no hash, no sample");

    // Reasons are the answers' error codes.
    for (event, code) in [
        (create_user::testing::sign_up(r#"{"name":""}"#), "validation"),
        (create_user::testing::sign_up("{"), "invalid_json"),
        (create_user::testing::sign_up(&"x".repeat(1 << 20)), "payload_too_large"),
    ] {
        let (status, docs) = request(metrics, &signup, event).await;
        assert!((400..500).contains(&status), "{code}: {status}");
        assert_eq!(sum(&docs, metric::REJECTIONS, None), Some(1.0), "{code}: {docs:?}");
        assert_eq!(
            sum(&docs, metric::REJECTIONS_BY_REASON, Some(code)),
            Some(1.0),
            "{code}: {docs:?}"
        );
        let by_reason: f64 = docs.iter().filter_map(|d| d.value(metric::REJECTIONS_BY_REASON)).sum();
        assert_eq!(by_reason, 1.0, "{code}: one reason: {docs:?}");
    }

    // The store's transactions keep conflicting: a retryable 503, a server error.
    signup.limit.max = 1000;
    signup.store.conflicts.store(u32::MAX, Ordering::SeqCst);
    let other = json!({"name": "Bo", "email": "metrics.503@x.io", "password": "correct horse"}).to_string();
    let (status, docs) = request(metrics, &signup, create_user::testing::sign_up(&other)).await;
    assert_eq!(status, 503);
    assert_eq!(sum(&docs, metric::SERVER_ERRORS, None), Some(1.0), "{docs:?}");
    assert_eq!(sum(&docs, metric::REJECTIONS, None), Some(0.0));
    assert_eq!(
        sum(&docs, metric::SERVER_ERRORS_BY_REASON, Some("service_unavailable")),
        Some(1.0)
    );

    // A quiet flush (no request) still reports the counters, as 0.
    let mut out = Vec::new();
    metrics.flush_to(&mut out, "req-2").unwrap();
    let docs = Document::all_in(&String::from_utf8(out).unwrap());
    for name in [metric::SIGN_UPS, metric::REJECTIONS, metric::SERVER_ERRORS] {
        assert_eq!(sum(&docs, name, None), Some(0.0), "{name}: {docs:?}");
    }
}
