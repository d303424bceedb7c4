// One thread: Lambda gives an instance one invocation at a time; bcrypt runs on the blocking
// pool (create-user's A/B, in its main).
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
