//! Talking to the local stack (`cargo xtask up`): where it is and how to reach it.
//!
//! - [`StackEnv`]: its coordinates, `.local/stack.env`, which xtask writes and everything else
//!   (cargo lambda, the tests, a shell, the AWS CLI) reads;
//! - [`sdk_config`] and [`dynamodb_client`]: SDK clients pointed at its emulators;
//! - [`http_client`]: HTTP to its loopback services, never through the user's proxy;
//! - [`ses`]: LocalStack's record of the emails SES accepted;
//! - [`state`]: where a stack keeps its files (its `stack.env`, its services' logs).
//!
//! xtask uses it directly; the functions' tests through `testkit`.

mod http;
mod sdk;
pub mod ses;
mod stack_env;

pub use http::http_client;
pub use sdk::{
    ACCESS_KEY_ID, Endpoints, REGION, SECRET_ACCESS_KEY, dynamodb_client, queue_arn, sdk_config, sdk_config_loader,
};
pub use stack_env::StackEnv;

/// A stack's state directory (`.local`, or `cargo xtask --state-dir`): the names of the files
/// xtask writes there and the tests read.
pub mod state {
    use std::path::{Path, PathBuf};

    /// The stack's coordinates (see [`crate::StackEnv`]).
    pub const STACK_ENV: &str = "stack.env";
    /// The service that runs the functions, `cargo lambda watch`: their stdout is its log.
    pub const WATCH: &str = "cargo-lambda-watch";

    /// Where the services' logs go.
    pub fn logs_dir(state_dir: &Path) -> PathBuf {
        state_dir.join("logs")
    }

    /// The log of one service, by its name.
    pub fn log(state_dir: &Path, service: &str) -> PathBuf {
        logs_dir(state_dir).join(format!("{service}.log"))
    }
}
