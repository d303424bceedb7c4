//! `cargo xtask`: the project's automation, one module per concern. The binary (`main.rs`)
//! is the CLI; the library is also used by xtask's own tests.
//!
//! Each concern's module owns its work; [`commands`] only parses and dispatches to them:
//!
//! - [`local`]: the local stack: installing, starting, provisioning and stopping the emulators
//!   and the functions, from `template.yaml`, and what `sam local` needs beside it;
//! - [`bridge`]: what Lambda's event sources do on AWS, locally: the SQS event source mapping,
//!   the schedules and API Gateway's HTTP API;
//! - [`demo`]: the main job, one sign-up shown from request to session;
//! - [`suite`]: the test suite `cargo xtask test` runs, and what it sets up first;
//! - [`secret_scan`]: the functions' logs hold no secret (after the tests and the benchmark);
//! - [`bench`](mod@bench): the benchmark, with its own runtime API server and load generator;
//! - [`checks`]: the static checks `cargo xtask lint` runs;
//! - [`layout`], [`ui`], [`random`]: where things live, what the terminal shows, random names;
//! - [`commands`]: one thin module per `cargo xtask` command.
//!
//! How to reach a running stack (its `stack.env`, SDK clients, SES's outbox) is the
//! `local-stack` crate's, shared with the functions' tests.

pub mod bench;
pub mod bridge;
pub mod checks;
pub mod commands;
pub mod demo;
pub mod layout;
pub mod local;
pub mod random;
pub mod secret_scan;
pub mod suite;
pub mod ui;

/// A `cargo` command: the cargo running `cargo xtask` (`CARGO`, which cargo sets for what it
/// runs), so that a nested build uses the same toolchain; plain `cargo` outside cargo.
pub fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}
