//! `cargo xtask`: the project's automation, one module per concern. The binary (`main.rs`)
//! is the CLI; the library is also used by xtask's own tests.

pub mod bench;
pub mod bridge;
pub mod commands;
pub mod env_file;
pub mod install;
pub mod layout;
pub mod load;
pub mod probe;
pub mod process;
pub mod provision;
pub mod runtime_api;
pub mod sam_local;
pub mod services;
pub mod template;
pub mod ui;
