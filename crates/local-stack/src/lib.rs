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

/// Where every local service listens: loopback only, never a public interface.
pub const LOOPBACK: &str = "127.0.0.1";

/// The URL of the local service listening on `port` (plain HTTP, as the emulators speak).
pub fn loopback_url(port: u16) -> String {
    format!("http://{LOOPBACK}:{port}")
}

/// The functions as `cargo lambda watch` serves them: its address on loopback, and the URL of
/// one function's route (its function URL: an HTTP API v2 event of that path).
pub mod watch {
    /// `cargo lambda watch` listening on `port`.
    pub fn url(port: u16) -> String {
        crate::loopback_url(port)
    }

    /// The function URL of `function` (cargo lambda's name, the binary's) at `path`.
    pub fn function_url(watch_url: &str, function: &str, path: &str) -> String {
        format!("{watch_url}/lambda-url/{function}{path}")
    }

    /// The routes of the HTTP API under `cargo lambda watch`, as `stack.env` names them:
    /// variable, function, path.
    pub const ROUTES: [(&str, &str, &str); 4] = [
        ("CREATE_USER_URL", "create-user", "/users"),
        ("RESEND_URL", "create-user", "/users/verification"),
        ("VERIFY_URL", "verify-email", "/users/verify"),
        ("SIGN_IN_URL", "sign-in", "/sessions"),
    ];

    /// What the verification link opens locally: verify-email's `GET /users/verify`.
    pub fn verify_url_base(watch_url: &str) -> String {
        let (_, function, path) = ROUTES[2];
        function_url(watch_url, function, path)
    }
}

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
