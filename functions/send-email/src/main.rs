//! send-email's entry point: one start-up for every function (lambda_support::start, which says
//! why one thread).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::start::run(
        env!("CARGO_BIN_NAME"),
        send_email::handler::metric::describe,
        send_email::init::from_env(),
        |(deliver, requeue), event| send_email::handler::handle(deliver.clone(), requeue, event),
    )
    .await
}
