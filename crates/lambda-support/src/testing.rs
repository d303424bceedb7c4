//! Fixtures for tests (the `testing` feature): the invoking event of an HTTP API request
//! ([`HttpApiRequest`]), and what a test binary logs ([`logs`]).
//!
//! The capture holds what a test binary logs at INFO and above, as the fmt layer writes it:
//! for tests that check what a function logs (and that it logs no secret). One global
//! subscriber for all the tests of a binary (a thread-local one misses events whose callsite
//! another test's thread registered first), so a test looks for the lines that name its own
//! ids.

mod http_api;

pub use http_api::HttpApiRequest;

use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Every line logged so far that contains `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The capture, installed on first use.
pub fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .without_time()
            .init();
        logs
    })
    .clone()
}
