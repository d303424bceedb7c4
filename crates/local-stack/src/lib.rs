//! Talking to the local stack (`cargo xtask up`): where it is and how to reach it.
//!
//! - [`StackEnv`]: its coordinates, `.local/stack.env`, which xtask writes and everything else
//!   (cargo lambda, the tests, a shell, the AWS CLI) reads;
//! - [`sdk_config`] and [`dynamodb_client`]: SDK clients pointed at its emulators;
//! - [`http_client`]: HTTP to its loopback services, never through the user's proxy;
//! - [`ses`]: LocalStack's record of the emails SES accepted.
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
