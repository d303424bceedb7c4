//! What the functions' integration tests share: where the local stack (`cargo xtask up`) is,
//! SDK configuration pointed at it, and a look into LocalStack's SES outbox.

use aws_config::{BehaviorVersion, SdkConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The stack's coordinates: `.local/stack.env`, overridden by the process environment (which
/// `cargo xtask test` sets).
pub fn stack() -> HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/stack.env");
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

/// SDK configuration for LocalStack, with the stack's test credentials and region, and the
/// deadlines the functions use (so an adapter under test times out as it would in Lambda).
pub async fn sdk_config(stack: &HashMap<String, String>) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(lambda_support::aws::timeouts())
        .region(aws_config::Region::new(stack["AWS_REGION"].clone()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            stack["AWS_ACCESS_KEY_ID"].clone(),
            stack["AWS_SECRET_ACCESS_KEY"].clone(),
            None,
            None,
            "testkit",
        ))
        .endpoint_url(&stack["AWS_ENDPOINT_URL"])
        .load()
        .await
}

/// A DynamoDB client for DynamoDB Local.
pub fn dynamodb(sdk: &SdkConfig, stack: &HashMap<String, String>) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .endpoint_url(&stack["AWS_ENDPOINT_URL_DYNAMODB"])
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// Every email LocalStack's SES has accepted for `address` (`GET /_aws/ses`).
pub fn emails_to(stack: &HashMap<String, String>, address: &str) -> Vec<Value> {
    let url = format!("{}/_aws/ses", stack["AWS_ENDPOINT_URL"]);
    let body: Value = ureq::get(&url)
        .call()
        .expect("LocalStack answers")
        .body_mut()
        .read_json()
        .expect("JSON");
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["Destination"]["ToAddresses"]
                .as_array()
                .is_some_and(|to| to.iter().any(|t| t == address))
        })
        .cloned()
        .collect()
}

/// A dependency that hangs: a TCP listener that accepts every connection and never answers
/// (not a closed port, which fails at once). Connections are held until it is dropped.
pub struct HangingListener {
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HangingListener {
    pub fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        Self { url, stop }
    }
}

impl Drop for HangingListener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
