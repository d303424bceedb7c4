//! publish-outbox's entry point: one start-up for every function (lambda_support::start, which
//! says why one thread).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::start::run(
        env!("CARGO_BIN_NAME"),
        publish_outbox::metric::describe,
        publish_outbox::init::from_env(),
        |(store, publisher, min_age), event| publish_outbox::handle(store, publisher, *min_age, event),
    )
    .await
}
