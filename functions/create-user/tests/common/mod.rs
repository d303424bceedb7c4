//! What the integration tests share: where the local stack is.

use std::collections::HashMap;

/// The stack's coordinates: `.local/stack.env`, overridden by the process environment (which
/// `cargo xtask test` sets).
pub fn stack() -> HashMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/stack.env");
    let mut vars: HashMap<String, String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    for (key, value) in std::env::vars() {
        if vars.contains_key(&key) {
            vars.insert(key, value);
        }
    }
    assert!(
        vars.contains_key("AWS_ENDPOINT_URL"),
        "no local stack: run `cargo xtask test`, or `cargo xtask up` before `cargo test`"
    );
    vars
}
