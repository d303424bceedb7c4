//! The benchmark's parts; `commands::bench` runs them and writes the report.

pub mod chart;
pub mod functions;
pub mod pipeline;
pub mod profiles;
pub mod stats;
pub mod throughput;
