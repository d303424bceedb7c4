// One thread: Lambda gives an instance one invocation at a time, under a fraction of a vCPU;
// a second worker would only add wake-ups across threads (create-user's A/B, in its main).
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
