// One thread: Lambda gives an instance one invocation at a time and under one vCPU at this
// memory size, so a second worker would only add wake-ups across threads (bcrypt still runs on
// the blocking pool). Against the multi-threaded runtime, in one A/B run (--functions-only):
// overhead p50 3.9 -> 3.6 ms, within the noise between runs.
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
