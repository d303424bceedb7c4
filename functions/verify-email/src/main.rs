//! verify-email's entry point: one start-up for every function (lambda_support::start, which says why
//! one thread).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::start::serve(
        env!("CARGO_BIN_NAME"),
        verify_email::handler::metric::describe,
        verify_email::init::from_env(),
        verify_email::handler::handle,
    )
    .await
}
