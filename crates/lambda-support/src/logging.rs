//! Logs as Lambda's advanced logging controls ask for them (`AWS_LAMBDA_LOG_FORMAT=JSON`,
//! the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO), with one difference
//! from `lambda_runtime::tracing::init_default_subscriber`: only this project's own crates
//! may log below INFO.
//!
//! At TRACE, lambda_runtime logs every raw event (a sign-up's password) and the AWS SDK logs
//! request and response bodies (the bcrypt hash on its way to DynamoDB). A level or a
//! `RUST_LOG=aws_smithy_runtime=trace` directive set while debugging must not turn that on,
//! so the cap is a second filter that the environment cannot reach.
//!
//! Every line of an invocation carries its `request_id` and `trace_id` ([`invocation_span`]),
//! and in JSON ([`FlatJson`]) the fields of every span it is logged in sit at the top level,
//! next to the line's own: one `{ $.trace_id = "1-..." }` search in CloudWatch Logs finds
//! every line of a trace, whichever span added the field.

use serde_json::{Map, Value};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};
use user_events::trace::TraceHeader;

/// Crates whose logs we wrote and know to be free of secrets at every level: the functions
/// and the crates of ours they link.
pub const OWN_CRATES: [&str; 9] = [
    "create_user",
    "send_email",
    "verify_email",
    "sign_in",
    "publish_outbox",
    "user_events",
    "user_store",
    "tokens",
    "lambda_support",
];

/// The most any other crate (the runtime, the SDK, hyper, rustls, ...) may log.
pub const DEPENDENCY_CAP: LevelFilter = LevelFilter::INFO;

/// The cap as a filter: TRACE for our crates, [`DEPENDENCY_CAP`] for everything else.
pub fn cap() -> Targets {
    OWN_CRATES
        .iter()
        .fold(Targets::new().with_default(DEPENDENCY_CAP), |targets, krate| {
            targets.with_target(*krate, LevelFilter::TRACE)
        })
}

/// The level the environment asks for, and any `RUST_LOG` directives.
fn requested() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy()
}

/// The lines, without their filters: JSON ([`FlatJson`]), or text (span fields before the
/// message). No timestamp: Lambda adds one to every line.
pub fn lines<S, W>(json: bool, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    if json {
        fmt::layer()
            .with_writer(writer)
            .fmt_fields(fmt::format::JsonFields::new())
            .event_format(FlatJson)
            .boxed()
    } else {
        // Colour only for a person at a terminal: CloudWatch shows escape codes as they are.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .without_time()
            .with_ansi(ansi)
            .boxed()
    }
}

/// One JSON object per line: `level`, `message`, the line's fields and the fields of every
/// span it was logged in, all at the top level (the line's own, then the innermost span's,
/// win a clash). tracing-subscriber's JSON nests span fields under `span`/`spans`, where a
/// search for `$.trace_id` does not find them; json-subscriber flattens them but adds each
/// span's name as a `name` field, which in this project reads as a user's name.
pub struct FlatJson;

impl<S, N> fmt::FormatEvent<S, N> for FlatJson
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &fmt::FmtContext<'_, S, N>,
        mut writer: fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = Map::new();
        line.insert("level".into(), event.metadata().level().as_str().into());
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            // The span's fields as `JsonFields` wrote them when it was opened and recorded.
            if let Some(fields) = span.extensions().get::<fmt::FormattedFields<N>>()
                && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
            {
                line.extend(fields);
            }
        }
        event.record(&mut FieldsOf(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Writes a line's fields into its JSON object, numbers and booleans as such.
struct FieldsOf<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for FieldsOf<'_> {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

/// Installs the global subscriber: stdout, which Lambda sends to CloudWatch Logs.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    tracing_subscriber::registry()
        .with(lines(json, std::io::stdout).with_filter(requested()).with_filter(cap()))
        .init();
    // Shows in the logs that TRACE is in effect: the secret scan of `cargo xtask test`, which
    // runs the functions at TRACE, requires it.
    tracing::trace!("{TRACE_MARKER}");
}

/// The line [`init`] logs at TRACE.
pub const TRACE_MARKER: &str = "logging at TRACE: dependencies capped at INFO";

/// The span an invocation runs in ([`crate::InvocationSpan`] opens it): its `request_id` and,
/// when Lambda traces it (its `Lambda-Runtime-Trace-Id`, `context.xray_trace_id`), the X-Ray
/// `trace_id`. At ERROR level so that it is there whatever level the lines inside are logged at.
pub fn invocation_span(request_id: &str, trace_header: Option<&str>) -> tracing::Span {
    let trace = trace_header.and_then(TraceHeader::parse);
    tracing::error_span!(
        "invocation",
        request_id,
        trace_id = trace.as_ref().map(TraceHeader::trace_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Logs;
    use tracing::Level;

    const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    /// One invocation as a function logs it: our span, a nested one that records a field once
    /// known (as send-email's per-message span does), one line.
    fn log_one_invocation(json: bool) -> String {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::registry().with(lines(json, logs.clone()).with_filter(cap()));
        tracing::subscriber::with_default(subscriber, || {
            let _invocation = invocation_span("r-1", Some(HEADER)).entered();
            let message = tracing::info_span!("message", message_id = "m-1", user_id = tracing::field::Empty);
            let _message = message.enter();
            message.record("user_id", "u-1");
            tracing::info!(sent = true, "welcome email sent");
        });
        let lines = logs.lines_with("welcome email sent");
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines[0].clone()
    }

    #[test]
    fn a_json_line_carries_every_span_field_at_the_top_level() {
        let line: serde_json::Value = serde_json::from_str(&log_one_invocation(true)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({
                "level": "INFO",
                "message": "welcome email sent",
                "sent": true,
                "request_id": "r-1",
                "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
                "message_id": "m-1",
                "user_id": "u-1",
            })
        );
    }

    #[test]
    fn a_text_line_carries_the_same_fields() {
        let line = log_one_invocation(false);
        for field in [
            "request_id=\"r-1\"",
            "trace_id=\"1-5759e988-bd862e3fe1be46a994272793\"",
            "message_id=\"m-1\"",
            "user_id=\"u-1\"",
            "sent=true",
        ] {
            assert!(line.contains(field), "{field} not in {line}");
        }
    }

    #[test]
    fn an_invocation_without_a_well_formed_trace_has_no_trace_id() {
        for header in [None, Some("Parent=53995c3f42cd8ad8"), Some("Root=1-<script>")] {
            let logs = Logs::default();
            let subscriber = tracing_subscriber::registry().with(lines(true, logs.clone()));
            tracing::subscriber::with_default(subscriber, || {
                let _span = invocation_span("r-2", header).entered();
                tracing::info!("inside");
            });
            let line: serde_json::Value = serde_json::from_str(&logs.lines_with("inside")[0]).unwrap();
            assert_eq!(line["request_id"], "r-2");
            assert!(line.get("trace_id").is_none(), "{header:?}: {line}");
        }
    }

    #[test]
    fn dependencies_are_capped_at_info_and_our_crates_are_not() {
        let cap = cap();
        for target in [
            "lambda_runtime::layers::api_response",
            "aws_smithy_runtime::client",
            "hyper",
            "h2::codec",
        ] {
            assert!(!cap.would_enable(target, &Level::DEBUG), "{target} at DEBUG");
            assert!(!cap.would_enable(target, &Level::TRACE), "{target} at TRACE");
            assert!(cap.would_enable(target, &Level::INFO), "{target} at INFO");
        }
        for target in [
            "create_user::handler",
            "send_email",
            "publish_outbox",
            "user_store::outbox",
        ] {
            assert!(cap.would_enable(target, &Level::TRACE), "{target}");
        }
    }

    /// The list is the workspace's functions and the crates of ours they link, read from the
    /// manifests: a crate left out would have its DEBUG and TRACE lines dropped unnoticed.
    #[test]
    fn own_crates_are_the_functions_and_the_workspace_crates_they_link() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read =
            |path: std::path::PathBuf| std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        // `name = { path = "crates/..." }` in [workspace.dependencies].
        let ours: Vec<String> = read(root.join("Cargo.toml"))
            .lines()
            .filter(|l| l.contains("path = \"crates/"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        let mut linked = std::collections::BTreeSet::new();
        for function in std::fs::read_dir(root.join("functions")).unwrap() {
            let manifest = read(function.unwrap().path().join("Cargo.toml"));
            let name = manifest.lines().find_map(|l| l.strip_prefix("name = ")).unwrap();
            linked.insert(name.trim_matches('"').to_owned());
            let dependencies = manifest.split("\n[dependencies]\n").nth(1).unwrap();
            let dependencies = dependencies.split("\n[").next().unwrap();
            for line in dependencies.lines() {
                let dependency = line.split(['.', ' ', '=']).next().unwrap_or_default();
                if ours.iter().any(|c| c == dependency) {
                    linked.insert(dependency.to_owned());
                }
            }
        }
        let linked: std::collections::BTreeSet<String> = linked.into_iter().map(|c| c.replace('-', "_")).collect();
        let listed: std::collections::BTreeSet<String> = OWN_CRATES.iter().map(|c| c.to_string()).collect();
        assert_eq!(listed, linked);
    }
}
