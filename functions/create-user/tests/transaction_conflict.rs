//! Real DynamoDB cancels two transactions that touch one item at the same moment with reason
//! `TransactionConflict`; DynamoDB Local serialises them and never does. So this one condition
//! is served canned: the real SDK client talks HTTP to a listener that answers as DynamoDB
//! would (its JSON protocol, its error shape), and create-user's real adapter and use case
//! handle it. The emulator tests (local_stack.rs) cover everything else about the adapter.

use create_user::domain::signup::{SignUp, SignUpError};
use create_user::domain::validation::SignUpRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};
use user_store::users::StoreError;

/// What the canned DynamoDB answers to a TransactWriteItems, in turn (the last one repeats).
#[derive(Clone, Copy)]
enum Answer {
    Conflict,
    Committed,
}

struct CannedDynamoDb {
    url: String,
    transactions: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
}

impl CannedDynamoDb {
    fn start(answers: &'static [Answer]) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("a local port"));
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let transactions = Arc::new(AtomicUsize::new(0));
        let (srv, count) = (server.clone(), transactions.clone());
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let target = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("x-amz-target"))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default();
                let (status, body) = if target.ends_with(".TransactWriteItems") {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    match answers[n.min(answers.len() - 1)] {
                        Answer::Committed => (200, "{}".to_owned()),
                        Answer::Conflict => (
                            400,
                            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#.to_owned(),
                        ),
                    }
                } else {
                    // GetItem of the email guard: not there.
                    (200, "{}".to_owned())
                };
                let response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(
                        "content-type: application/x-amz-json-1.0"
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    );
                let _ = request.respond(response);
            }
        });
        Self {
            url,
            transactions,
            server,
        }
    }
}

impl Drop for CannedDynamoDb {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

async fn signup_against(dynamodb: &CannedDynamoDb) -> SignUp<DynamoUserStore, SnsPublisher> {
    let vars = testkit::stack();
    let sdk = testkit::sdk_config(&vars).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&dynamodb.url)
            .build(),
    );
    create_user::testing::signup(
        DynamoUserStore::new(client, "users".into()),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), vars["USER_EVENTS_TOPIC_ARN"].clone()),
    )
}

fn request() -> SignUpRequest {
    SignUpRequest {
        name: "Ann".into(),
        email: format!("conflict.{}@example.com", uuid::Uuid::new_v4().simple()),
        password: "correct horse".into(),
    }
}

#[tokio::test]
async fn a_conflict_is_retried_and_the_sign_up_succeeds() {
    let dynamodb = CannedDynamoDb::start(&[Answer::Conflict, Answer::Committed]);
    let signup = signup_against(&dynamodb).await;
    let done = signup.run(request(), None).await.expect("the retry commits");
    assert_eq!(dynamodb.transactions.load(Ordering::SeqCst), 2);
    assert_eq!(done.outcome, create_user::domain::signup::Outcome::Created);
}

#[tokio::test]
async fn conflicts_that_do_not_clear_are_a_retryable_503_not_an_internal_error() {
    let dynamodb = CannedDynamoDb::start(&[Answer::Conflict]);
    let signup = signup_against(&dynamodb).await;
    let error = signup.run(request(), None).await.unwrap_err();
    assert_eq!(error, SignUpError::Store(StoreError::Conflict));
    assert_eq!(
        dynamodb.transactions.load(Ordering::SeqCst),
        signup.conflict_retry.attempts as usize,
        "bounded retries"
    );
}
