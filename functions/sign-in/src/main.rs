//! sign-in's entry point: one start-up for every function (lambda_support::start, which says why
//! one thread).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::start::serve(
        env!("CARGO_BIN_NAME"),
        sign_in::handler::metric::describe,
        sign_in::init::from_env(),
        sign_in::handler::handle,
    )
    .await
}
