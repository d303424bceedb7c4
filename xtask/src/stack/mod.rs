//! The local stack `cargo xtask up` runs, by concern:
//!
//! - [`template`]: `template.yaml`, the one definition of the infrastructure, and what the
//!   stack derives from it;
//! - [`install`]: the emulators and tools, pinned, under `.local/`;
//! - [`process`]: the processes xtask starts: background services that outlive it, and
//!   foreground commands with their output in a log;
//! - [`services`]: the stack's services (LocalStack, DynamoDB Local, cargo lambda watch, the
//!   bridge): how each starts and how we know it is ready;
//! - [`provision`]: the template's resources, created on the running emulators;
//! - [`sam_local`]: what `sam local` needs to run against the stack.
//!
//! The stack's coordinates (`stack.env`) and SDK clients for it are the `local-stack` crate's.

pub mod install;
pub mod process;
pub mod provision;
pub mod sam_local;
pub mod services;
pub mod template;
