//! One module per `cargo xtask` command.

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
