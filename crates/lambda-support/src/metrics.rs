//! Metrics in CloudWatch's Embedded Metric Format: JSON documents on stdout, which Lambda
//! sends to the function's log group and CloudWatch turns into metrics. No agent, no API call,
//! no permission.
//!
//! The functions count with the `metrics` facade (`metrics::counter!`, `metrics::gauge!`,
//! `metrics::histogram!`); [`init`] installs `metrics_cloudwatch_embedded`'s recorder once per
//! process, and [`Metrics::flush`] writes what an invocation counted, at its end, as one
//! document per label set. Every document has the namespace [`NAMESPACE`] and the dimension
//! [`FUNCTION_DIMENSION`] = the Lambda function's name, the dimension AWS/Lambda's own metrics
//! carry, so two stacks in one account never add up into one metric; a metric's labels are
//! further dimensions of its own document (the crate writes one dimension set per document).
//!
//! The documents go to stdout directly, not through `tracing`: no log level can drop them.
//! They carry the metrics' names and numbers, the function's name, the labels (fixed words
//! chosen by the code, never a value from a request) and the `RequestId` property: nothing
//! personal, nothing secret.

use metrics_cloudwatch_embedded::{Builder, Collector};
use std::io::Write;

/// The namespace of every metric of this project.
pub const NAMESPACE: &str = "UserSignup";

/// The dimension every document has: the function's name.
pub const FUNCTION_DIMENSION: &str = "FunctionName";

/// The property that ties a document to its invocation (and to the invocation's log lines).
pub const REQUEST_ID: &str = "RequestId";

/// The function's name as Lambda's own metrics give it: `AWS_LAMBDA_FUNCTION_NAME` (set by
/// Lambda, cargo lambda and sam local), else `default` (the binary's name, say).
pub fn function_name(default: &str) -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The process's recorder. Copy it into the handler; flush it after every invocation.
#[derive(Clone, Copy)]
pub struct Metrics(&'static Collector);

/// Installs the recorder for `namespace`, with the function's name ([`function_name`] of
/// `default_function_name`) as the dimension of every document. Once per process: a second
/// call fails (the `metrics` facade has one global recorder).
///
/// Counters that did not move are written as 0 rather than left out, so a quiet invocation
/// still reports (an alarm that treats missing data as breaching can tell "nothing happened"
/// from "did not run"); but only in the function's own document: see [`Metrics::flush_to`].
pub fn init(namespace: &'static str, default_function_name: &str) -> Result<Metrics, String> {
    Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension(FUNCTION_DIMENSION, function_name(default_function_name))
        .emit_zeros(true)
        .init()
        .map(Metrics)
        .map_err(|e| format!("metrics recorder: {e}"))
}

impl Metrics {
    /// Writes what was counted since the last flush to stdout, one EMF document a line, each
    /// with `request_id` as its [`REQUEST_ID`] property. In one write, so that no log line
    /// lands inside a document.
    pub fn flush(&self, request_id: &str) {
        let mut documents = Vec::new();
        let written = self
            .flush_to(&mut documents, request_id)
            .and_then(|()| std::io::stdout().lock().write_all(&documents));
        if let Err(e) = written {
            tracing::error!(error = %e, "metrics not written");
        }
    }

    /// [`Metrics::flush`] to any writer.
    ///
    /// A document with a dimension of its own (a reason, a cause) is written only when one of
    /// its counters moved. The recorder keeps every label set it has seen and would write each
    /// as 0 after every later invocation: nine zero lines per sign-up once each refusal reason
    /// has happened once. CloudWatch bills log ingestion by the byte, and an absent data point
    /// reads as 0 in a Sum alarm that treats missing data as not breaching, as ours do.
    pub fn flush_to(&self, mut writer: impl Write, request_id: &str) -> std::io::Result<()> {
        let mut documents = Vec::new();
        self.0.set_property(REQUEST_ID, request_id).flush(&mut documents)?;
        for line in documents.split_inclusive(|b| *b == b'\n') {
            if !labelled_and_quiet(line) {
                writer.write_all(line)?;
            }
        }
        Ok(())
    }
}

/// Whether an EMF document has a dimension besides [`FUNCTION_DIMENSION`] and every metric in
/// it is 0 (or an empty histogram). Anything unreadable is kept: better a line too many.
fn labelled_and_quiet(document: &[u8]) -> bool {
    use serde_json::Value;
    let Ok(root) = serde_json::from_slice::<Value>(document) else {
        return false;
    };
    let directive = &root["_aws"]["CloudWatchMetrics"][0];
    let labelled = directive["Dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .any(|d| d.as_str() != Some(FUNCTION_DIMENSION));
    let quiet = directive["Metrics"].as_array().is_some_and(|metrics| {
        metrics.iter().all(|m| {
            let value = m["Name"].as_str().map(|name| &root[name]);
            match value {
                Some(Value::Number(n)) => n.as_f64() == Some(0.0),
                Some(Value::Array(values)) => values.is_empty(),
                _ => false,
            }
        })
    });
    labelled && quiet
}

/// Reading EMF documents back, for tests: [`emf::Document::parse`] checks a line against the
/// format's specification and gives its parts.
#[cfg(any(test, feature = "testing"))]
pub mod emf {
    use serde_json::{Map, Value};

    /// One EMF document, as CloudWatch reads it.
    #[derive(Debug, Clone)]
    pub struct Document {
        pub timestamp: u64,
        pub namespace: String,
        /// The dimension sets, each a list of dimension names (top-level string keys).
        pub dimensions: Vec<Vec<String>>,
        /// The metrics' names and units.
        pub metrics: Vec<(String, Option<String>)>,
        /// The whole document: dimensions, properties and values are its top-level keys.
        pub root: Map<String, Value>,
    }

    impl Document {
        /// Parses one line, checking what CloudWatch checks: `_aws.Timestamp` a number of
        /// milliseconds, `_aws.CloudWatchMetrics[0]` with `Namespace`, `Dimensions` (arrays of
        /// names, each a top-level string) and `Metrics` (`Name`, optional `Unit`), and each
        /// metric's value a top-level number or array of numbers.
        pub fn parse(line: &str) -> Result<Self, String> {
            let root: Map<String, Value> = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
            let aws = root.get("_aws").ok_or("no _aws")?;
            let timestamp = aws["Timestamp"].as_u64().ok_or("_aws.Timestamp is not a number")?;
            let directive = aws["CloudWatchMetrics"]
                .get(0)
                .ok_or("_aws.CloudWatchMetrics[0] missing")?;
            let namespace = directive["Namespace"].as_str().ok_or("no Namespace")?.to_owned();
            let strings = |v: &Value| -> Option<Vec<String>> {
                v.as_array()?.iter().map(|s| s.as_str().map(str::to_owned)).collect()
            };
            let dimensions: Vec<Vec<String>> = directive["Dimensions"]
                .as_array()
                .ok_or("Dimensions is not an array")?
                .iter()
                .map(|set| strings(set).ok_or("a dimension set is not an array of names"))
                .collect::<Result<_, _>>()?;
            for name in dimensions.iter().flatten() {
                if !root.get(name).is_some_and(Value::is_string) {
                    return Err(format!("dimension {name} has no string value"));
                }
            }
            let metrics: Vec<(String, Option<String>)> = directive["Metrics"]
                .as_array()
                .ok_or("Metrics is not an array")?
                .iter()
                .map(|m| {
                    let name = m["Name"].as_str().ok_or("a metric without a Name")?.to_owned();
                    let unit = m.get("Unit").and_then(Value::as_str).map(str::to_owned);
                    Ok::<_, String>((name, unit))
                })
                .collect::<Result<_, _>>()?;
            for (name, _) in &metrics {
                let value = root.get(name).ok_or(format!("metric {name} has no value"))?;
                let numbers = value.is_number() || value.as_array().is_some_and(|a| a.iter().all(Value::is_number));
                if !numbers {
                    return Err(format!("metric {name}'s value {value} is not a number"));
                }
            }
            Ok(Self {
                timestamp,
                namespace,
                dimensions,
                metrics,
                root,
            })
        }

        /// Every EMF document among `text`'s lines (the others are skipped).
        pub fn all_in(text: &str) -> Vec<Self> {
            text.lines()
                .filter(|line| line.contains("\"_aws\""))
                .filter_map(|line| Self::parse(line.trim()).ok())
                .collect()
        }

        /// A metric's value: the number, or the sum of an array's.
        pub fn value(&self, metric: &str) -> Option<f64> {
            self.metrics.iter().find(|(name, _)| name == metric)?;
            match &self.root[metric] {
                Value::Array(values) => Some(values.iter().filter_map(Value::as_f64).sum()),
                value => value.as_f64(),
            }
        }

        pub fn unit(&self, metric: &str) -> Option<&str> {
            self.metrics
                .iter()
                .find(|(name, _)| name == metric)
                .and_then(|(_, unit)| unit.as_deref())
        }

        /// A top-level string: a dimension's value or a string property.
        pub fn string(&self, key: &str) -> Option<&str> {
            self.root.get(key).and_then(Value::as_str)
        }

        /// The one dimension set, sorted (the crate writes one per document).
        pub fn dimension_set(&self) -> Vec<&str> {
            let mut set: Vec<&str> = self.dimensions.iter().flatten().map(String::as_str).collect();
            set.sort_unstable();
            set
        }
    }
}

#[cfg(test)]
mod tests {
    use super::emf::Document;
    use super::*;

    // The one test of this binary that installs the global recorder.
    #[test]
    fn flushed_lines_are_emf_documents_with_the_function_dimension_and_the_request_id() {
        let metrics = init(NAMESPACE, "the-function").unwrap();
        assert!(init(NAMESPACE, "again").is_err(), "one recorder per process");
        let name = function_name("the-function");
        metrics::describe_counter!("Things", metrics::Unit::Count, "things done");
        metrics::describe_counter!("ThingsByKind", metrics::Unit::Count, "things done, by kind");
        metrics::describe_gauge!("Age", metrics::Unit::Seconds, "an age");
        metrics::counter!("Things").increment(3);
        metrics::counter!("ThingsByKind", "Kind" => "red").increment(2);
        metrics::gauge!("Age").set(12.5);

        let mut out = Vec::new();
        metrics.flush_to(&mut out, "req-1").unwrap();
        let text = String::from_utf8(out).unwrap();
        let docs: Vec<Document> = text.lines().map(|l| Document::parse(l).unwrap()).collect();
        assert_eq!(docs.len(), 2, "one document per label set: {text}");
        for doc in &docs {
            assert_eq!(doc.namespace, NAMESPACE);
            assert_eq!(doc.string(FUNCTION_DIMENSION), Some(name.as_str()));
            assert_eq!(doc.string(REQUEST_ID), Some("req-1"));
            assert_eq!(doc.dimensions.len(), 1, "one dimension set");
            assert!(doc.timestamp > 1_700_000_000_000, "milliseconds since the epoch");
        }
        let plain = docs.iter().find(|d| d.value("Things").is_some()).unwrap();
        assert_eq!(plain.dimension_set(), [FUNCTION_DIMENSION]);
        assert_eq!(
            (plain.value("Things"), plain.unit("Things")),
            (Some(3.0), Some("Count"))
        );
        assert_eq!((plain.value("Age"), plain.unit("Age")), (Some(12.5), Some("Seconds")));
        let by_kind = docs.iter().find(|d| d.value("ThingsByKind").is_some()).unwrap();
        assert_eq!(by_kind.dimension_set(), [FUNCTION_DIMENSION, "Kind"]);
        assert_eq!(by_kind.string("Kind"), Some("red"));
        assert_eq!(by_kind.value("ThingsByKind"), Some(2.0));

        // The next invocation's counters start from 0, and are written as 0, with its own id;
        // a label set that did not move is not written at all.
        let mut out = Vec::new();
        metrics.flush_to(&mut out, "req-2").unwrap();
        let docs = Document::all_in(&String::from_utf8(out).unwrap());
        let plain = docs.iter().find(|d| d.value("Things").is_some()).unwrap();
        assert_eq!(plain.value("Things"), Some(0.0));
        assert_eq!(plain.string(REQUEST_ID), Some("req-2"));
        assert_eq!(docs.len(), 1, "no zero line for the quiet label set: {docs:?}");

        // It comes back when it moves again.
        metrics::counter!("ThingsByKind", "Kind" => "red").increment(1);
        let mut out = Vec::new();
        metrics.flush_to(&mut out, "req-3").unwrap();
        let docs = Document::all_in(&String::from_utf8(out).unwrap());
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn parse_refuses_what_cloudwatch_would_not_read() {
        let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["F"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"F":"f","M":1}"#;
        assert!(Document::parse(good).is_ok());
        for (bad, what) in [
            (good.replace(r#""F":"f","#, ""), "a dimension without a value"),
            (good.replace(r#","M":1"#, ""), "a metric without a value"),
            (good.replace(r#""M":1"#, r#""M":"1""#), "a value that is a string"),
            (
                good.replace(r#""Timestamp":1"#, r#""Timestamp":"1""#),
                "a timestamp that is a string",
            ),
            (good.replace(r#""Namespace":"N","#, ""), "no namespace"),
            ("INFO not JSON".to_owned(), "a log line"),
        ] {
            assert!(Document::parse(&bad).is_err(), "{what}: {bad}");
        }
    }
}
