//! Sending an email: the transport's port, how a send fails, and its errors made fit to log
//! (without the recipient's address).

use super::PortError;
use crate::domain::emails::Email;
use std::future::Future;

/// Why an email is not known to be sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The transport did not take it (no connection, or it refused the request): not sent,
    /// and safe to send again.
    #[error("not sent: {0}")]
    NotSent(PortError),
    /// The request may have reached the transport, and no answer said what became of it: it
    /// may be sent. Sending again may be a second email.
    #[error("outcome unknown (it may have been sent): {0}")]
    OutcomeUnknown(PortError),
    /// Not sent because of the send rate (SES's throttling answer, or this instance's pacing):
    /// good to send later, with nothing wrong with the email.
    #[error("not sent, over the send rate: {0}")]
    Throttled(PortError),
}

impl SendError {
    pub(super) fn map(self, f: impl FnOnce(PortError) -> PortError) -> Self {
        match self {
            SendError::NotSent(e) => SendError::NotSent(f(e)),
            SendError::OutcomeUnknown(e) => SendError::OutcomeUnknown(f(e)),
            SendError::Throttled(e) => SendError::Throttled(f(e)),
        }
    }
}

/// Sends an email; returns the transport's message id. Never retries a request that may have
/// reached the transport: that is the caller's decision ([`SendError::OutcomeUnknown`]).
pub trait Mailer: Send + Sync {
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// The error without the recipient's address in it (in any ASCII case), so it can be logged.
pub(super) fn redact(error: PortError, address: &str) -> PortError {
    if address.is_empty() {
        return error;
    }
    // ASCII lower-casing keeps every byte where it was, so the offsets found in `lower` are
    // offsets in `text` (non-ASCII letters are matched exactly).
    let text = error.0;
    let (lower, needle) = (text.to_ascii_lowercase(), address.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&text[rest..at]);
        out.push_str("<recipient>");
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    PortError(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_spelling_and_nothing_else() {
        let r = |text: &str, address: &str| redact(PortError(text.into()), address).0;
        assert_eq!(r("to a@b.io and A@B.IO.", "a@b.io"), "to <recipient> and <recipient>.");
        assert_eq!(r("throttled", "a@b.io"), "throttled");
        assert_eq!(r("x", ""), "x");
        assert_eq!(r("İ to ü@b.io", "ü@b.io"), "İ to <recipient>", "non-ASCII text");
    }
}
