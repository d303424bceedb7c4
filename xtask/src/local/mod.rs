//! AWS's stand-in on this machine: everything `cargo xtask up` installs, starts and provisions
//! (its installs and run state live under `.local/`), by concern:
//!
//! - [`up`] and [`down`]: the whole stack, brought up (installed, started, provisioned, its
//!   `stack.env` written) and down;
//! - [`template`]: `template.yaml`, the one definition of the infrastructure, and what the
//!   stack derives from it;
//! - [`install`]: the emulators and tools, pinned, under `.local/`;
//! - [`listeners`]: who listens on a port, so a service that answers is the one started;
//! - [`process`]: the processes xtask starts: background services that outlive it, and
//!   foreground commands with their output in a log;
//! - [`services`]: the stack's services (LocalStack, DynamoDB Local, cargo lambda watch, the
//!   bridge): how each starts and how we know it is ready;
//! - [`provision`]: the template's resources, created on the running emulators;
//! - [`redrive`]: the email DLQ's messages moved back to its queue;
//! - [`sam`]: what `sam local` needs to run against the stack, and its base image;
//! - [`sam_build`]: `sam build`'s output, rebuilt when older than its sources;
//! - [`docker`]: a Docker engine for `sam local`, started (and stopped) where none answers;
//! - [`packages`]: the system packages that needs, installed through apt-get where xtask can;
//! - [`tls`]: the stack's own CA and server certificate, for LocalStack's HTTPS (and the
//!   benchmark's).
//!
//! Named `local`, not `stack`, so that each name has one meaning: *the local stack* is the
//! running set of services (what `stack.env` describes and the `local-stack` crate reaches,
//! with SDK clients, from xtask and from the functions' tests); this module is what runs it;
//! LocalStack is one of those services, and `localstack/` holds its own files.

pub mod docker;
pub mod down;
pub mod install;
pub mod listeners;
pub mod packages;
pub mod process;
pub mod provision;
pub mod redrive;
pub mod sam;
pub mod sam_build;
pub mod services;
pub mod template;
pub mod tls;
pub mod up;
