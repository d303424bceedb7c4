//! One module per `cargo xtask` command, named for the command as it is typed: each is a thin
//! `run` that hands its arguments to the module that owns the work, and holds nothing else
//! (rust-analyzer's xtask is the model). So `commands::bench` is the word `bench` on the
//! command line and [`crate::bench`] is the benchmark; `commands::bridge` starts
//! [`crate::bridge`]; `up`, `down` and `redrive` are [`crate::local`]'s, `test` is
//! [`crate::suite`]'s, `lint` is [`crate::checks`]'s, `gen` writes
//! [`crate::local::template::localstack`]'s file.

pub mod bench;
pub mod bridge;
pub mod demo;
pub mod down;
pub mod generate;
pub mod lint;
pub mod redrive;
pub mod sam_image;
pub mod status;
pub mod test;
pub mod up;
