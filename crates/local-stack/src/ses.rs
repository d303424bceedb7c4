//! LocalStack's SES outbox: every email SES accepted, as LocalStack records it
//! (`GET /_aws/ses`). Where the pipeline's last step shows: an email or none.

use anyhow::{Context, Result};
use serde_json::Value;
use std::time::Duration;

/// The whole listing, however many emails a long run has accumulated.
const LISTING_WITHIN: Duration = Duration::from_secs(30);

/// LocalStack's SES outbox, read over one client: a polling loop reuses its connections.
#[derive(Clone)]
pub struct Outbox {
    http: reqwest::Client,
    url: String,
}

impl Outbox {
    /// The outbox of the LocalStack at `localstack` (`AWS_ENDPOINT_URL`).
    pub fn at(localstack: &str) -> Self {
        Self {
            http: crate::http_client(),
            url: format!("{}/_aws/ses", localstack.trim_end_matches('/')),
        }
    }

    /// Every email LocalStack's SES has accepted, oldest first.
    pub async fn emails(&self) -> Result<Vec<Value>> {
        let url = &self.url;
        let mut body: Value = self
            .http
            .get(url)
            .timeout(LISTING_WITHIN)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("GET {url}"))?
            .json()
            .await
            .with_context(|| format!("GET {url}: not JSON"))?;
        Ok(body["messages"].as_array_mut().map(std::mem::take).unwrap_or_default())
    }

    /// The emails LocalStack's SES has accepted for `address`, in any case (one mailbox: the
    /// sign-up flow treats `Ann@X.io` and `ann@x.io` as one address).
    pub async fn emails_to(&self, address: &str) -> Result<Vec<Value>> {
        let mut emails = self.emails().await?;
        emails.retain(|email| recipients(email).any(|to| to.eq_ignore_ascii_case(address)));
        Ok(emails)
    }
}

/// The addresses an email from [`Outbox::emails`] was sent to.
pub fn recipients(email: &Value) -> impl Iterator<Item = &str> {
    email["Destination"]["ToAddresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}
