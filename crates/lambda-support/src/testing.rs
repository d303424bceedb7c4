//! Fixtures for tests (the `testing` feature): the invoking event of an HTTP API request
//! ([`HttpApiRequest`]), an invocation's context with a deadline
//! ([`context_with_deadline_in`]), and what a test binary logs ([`logs`]).
//!
//! The capture holds what a test binary logs at INFO and above, as the fmt layer writes it:
//! for tests that check what a function logs (and that it logs no secret). One global
//! subscriber for all the tests of a binary (a thread-local one misses events whose callsite
//! another test's thread registered first), so a test looks for the lines that name its own
//! ids.

mod http_api;

pub use http_api::HttpApiRequest;

/// An invocation's context whose deadline is `left` from now, as Lambda's runtime API gives it
/// (epoch milliseconds).
pub fn context_with_deadline_in(left: std::time::Duration) -> lambda_runtime::Context {
    let deadline = std::time::SystemTime::now() + left;
    let mut context = lambda_runtime::Context::default();
    context.deadline = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    context
}

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

/// The lines `work` logs in Lambda's JSON format, through the functions' own formatter
/// ([`crate::logging::lines`]): what a reader of the deployed log sees.
pub fn json_lines_of(work: impl FnOnce()) -> Vec<String> {
    use tracing_subscriber::layer::SubscriberExt;
    let logs = Logs::default();
    let subscriber = tracing_subscriber::registry().with(crate::logging::lines(true, logs.clone()));
    tracing::subscriber::with_default(subscriber, work);
    logs.lines_with("")
}
