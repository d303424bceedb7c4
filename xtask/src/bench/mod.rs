//! The benchmark: the Rust functions beside their Python peer, on a stack of its own.
//! `commands::bench` runs the parts in order:
//!
//! - [`functions`]: function processes under the benchmark's own [`runtime_api`], fed
//!   [`events`]: cold starts, warm latency, peak memory;
//! - [`one_answer`]: whether a sign-up's time tells a new address from a taken one;
//! - [`throughput`]: send-email draining a queue through the bridge's event source mapping;
//! - [`curves`]: how cost grows with load (sign-ups at once, pollers), and how busy the cores
//!   were at each step;
//! - [`pipeline`] and [`load`]: the whole stack from sign-up to its email, one at a time
//!   and many at once;
//! - [`artifacts`]: the deployment zips of both;
//! - [`report`] (with [`stats`] and [`chart`]): what it all says, as `bench/results.md` and
//!   `bench/results.svg`;
//! - [`profiles`]: the release-profile study (`--profiles`);
//! - [`instructions`]: instructions per warm invocation under callgrind (`--instructions`).

pub mod artifacts;
pub mod chart;
pub mod curves;
pub mod events;
pub mod functions;
pub mod instructions;
pub mod load;
pub mod one_answer;
pub mod pipeline;
pub mod profiles;
pub mod report;
pub mod runtime_api;
pub mod stats;
pub mod throughput;
