//! create-user's entry point: one start-up for every function (lambda_support::start, which says why
//! one thread).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::start::serve(
        env!("CARGO_BIN_NAME"),
        create_user::handler::metric::describe,
        create_user::init::from_env(),
        create_user::handler::handle,
    )
    .await
}
