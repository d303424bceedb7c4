//! The X-Ray trace header that travels with `user.created`, so that one trace id ties a sign-up
//! to its welcome email.
//!
//! Lambda hands each invocation a header (`Root=1-<time>-<id>;Parent=<span>;Sampled=1`). A
//! publish to SNS carries it as the `X-Amzn-Trace-Id` HTTP header; SNS passes it on to SQS,
//! which keeps it as the message's `AWSTraceHeader` system attribute, and Lambda's event source
//! mapping (locally, the bridge) puts that attribute in the SQS record. The event body never
//! carries it: the contract is the same bytes whether a trace travels with them or not.

/// The HTTP header a publish carries the trace in (the AWS SDK's spelling).
pub const HTTP_HEADER: &str = "x-amzn-trace-id";

/// The SQS system attribute the trace arrives in.
pub const SQS_ATTRIBUTE: &str = "AWSTraceHeader";

/// The longest header kept. Real ones are under 100 bytes; a longer value is not one.
const MAX_LEN: usize = 512;

/// A well-formed X-Ray trace header: printable ASCII with a `Root` of the form
/// `1-<8 hex digits>-<24 hex digits>`. Anything else is no header at all: a consumer reads
/// the attribute from a queue anyone allowed to send may write to, and the trace id goes into
/// log lines, so only this shape gets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    header: String,
    /// Where the trace id (the `Root`'s value) sits in `header`.
    root: std::ops::Range<usize>,
}

impl TraceHeader {
    pub fn parse(header: &str) -> Option<Self> {
        if header.len() > MAX_LEN || !header.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut start = 0;
        for part in header.split(';') {
            if let Some(id) = part.strip_prefix("Root=")
                && is_trace_id(id)
            {
                let at = start + "Root=".len();
                return Some(Self {
                    header: header.to_owned(),
                    root: at..at + id.len(),
                });
            }
            start += part.len() + 1;
        }
        None
    }

    /// The header as it travels.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The trace id (`1-5759e988-bd862e3fe1be46a994272793`): what X-Ray's console and a log
    /// search look for.
    pub fn trace_id(&self) -> &str {
        &self.header[self.root.clone()]
    }
}

/// `1-` then 8 and 24 lower-case or upper-case hex digits, `-` between.
fn is_trace_id(id: &str) -> bool {
    let mut parts = id.split('-');
    let hex = |part: Option<&str>, len: usize| {
        part.is_some_and(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    parts.next() == Some("1") && hex(parts.next(), 8) && hex(parts.next(), 24) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn reads_the_trace_id_wherever_root_sits() {
        for header in [
            format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"),
            format!("Parent=53995c3f42cd8ad8;Root={ROOT}"),
            format!("Root={ROOT}"),
            format!("Sampled=0;Lineage=a87bd80c:1|68fd508a:5;Root={ROOT};Parent=53995c3f42cd8ad8"),
        ] {
            let trace = TraceHeader::parse(&header).unwrap_or_else(|| panic!("{header}"));
            assert_eq!(trace.trace_id(), ROOT);
            assert_eq!(trace.as_str(), header);
        }
    }

    #[test]
    fn anything_but_a_well_formed_header_is_none() {
        for header in [
            String::new(),
            "Parent=53995c3f42cd8ad8;Sampled=1".into(),
            "Root=".into(),
            "Root=1-5759e988".into(),
            "Root=2-5759e988-bd862e3fe1be46a994272793".into(),
            "Root=1-5759e98g-bd862e3fe1be46a994272793".into(),
            "Root=1-5759e988-bd862e3fe1be46a9942727930".into(),
            "Root=1-5759e988-bd862e3fe1be46a994272793-1".into(),
            format!("Root={ROOT};Parent=a b"),
            format!("Root={ROOT};Parent=\n"),
            format!("Root={ROOT};Lineage=é"),
            format!("Root={ROOT};Parent={}", "a".repeat(MAX_LEN)),
        ] {
            assert_eq!(TraceHeader::parse(&header), None, "{header:?}");
        }
    }
}
