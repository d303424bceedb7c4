//! Mail transports: SES (the v1 API: LocalStack's free edition does not emulate SES v2), and a
//! `log` transport for dry runs that only records that it would have sent.

use crate::domain::deliver::{Mailer, PortError, SendError};
use crate::domain::emails::Email;
use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ses::Client;
use aws_sdk_ses::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use lambda_support::aws::{AtMostOnce, Reach};
use std::time::Duration;

/// How long one SendEmail may take before its outcome counts as unknown. SES publishes no
/// latency figure; it answers in about a hundred milliseconds, and in seconds when it is
/// degraded (aws-sdk-rust#844: SES response timeouts under the SDK's defaults). An attempt is
/// never retried once its request may have arrived ([`AtMostOnce`]), so a slow answer costs
/// no second email, but an answer that comes after this is lost, and the email may be sent
/// again later (see `domain::deliver`): the longer it is, the rarer that is. It is bounded by
/// the function's 30 s timeout, with the claim (3 s), the pacing wait
/// ([`crate::adapters::pacing::MAX_WAIT`]) and the claim's settling (3 s) before and after it.
pub const SES_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole SendEmail: the one attempt that sends, after up to two that failed to connect
/// (each within the connect timeout) or were throttled.
pub const SES_OPERATION_TIMEOUT: Duration = Duration::from_secs(13);

/// The SES client the functions send with: the environment's configuration, SES's own
/// deadlines, and no retry of a request that may have reached SES.
pub fn ses_client(sdk: &SdkConfig) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(lambda_support::aws::CONNECT_TIMEOUT)
        .operation_attempt_timeout(SES_ATTEMPT_TIMEOUT)
        .operation_timeout(SES_OPERATION_TIMEOUT)
        .build();
    let config = aws_sdk_ses::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .retry_classifier(AtMostOnce)
        .build();
    Client::from_conf(config)
}

pub struct SesMailer {
    client: Client,
    from: String,
    /// Every send names it (`EMAIL_CONFIGURATION_SET`): its suppression list keeps SES from
    /// sending to addresses that bounced or complained (see the template's).
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, from: String, configuration_set: Option<String>) -> Self {
        Self {
            client,
            from,
            configuration_set,
        }
    }
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::NotSent(PortError(e.to_string())))
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .source(&self.from)
            .set_configuration_set_name(self.configuration_set.clone())
            .destination(Destination::builder().to_addresses(&email.to).build())
            .message(message)
            .send()
            .await
            .map_err(|e| {
                let error = PortError(DisplayErrorContext(&e).to_string());
                // SES's answer to a send over the account's rate: "Throttling - Maximum sending
                // rate exceeded" (and the daily quota's), a 400.
                let throttled = e.code().is_some_and(|code| code.starts_with("Throttling"));
                match lambda_support::aws::reach(&e) {
                    Reach::No if throttled => SendError::Throttled(error),
                    Reach::No => SendError::NotSent(error),
                    Reach::Maybe => SendError::OutcomeUnknown(error),
                }
            })?;
        Ok(out.message_id)
    }
}

/// Dry runs: logs the subject (never the recipient or the body: the log line is not a mailbox)
/// and sends nothing.
pub struct LogMailer;

impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let id = format!("dry-run-{}", uuid::Uuid::new_v4());
        tracing::info!(subject = %email.subject, message_id = %id, "EMAIL_TRANSPORT=log: not sending");
        Ok(id)
    }
}

/// The configured transport.
pub enum AnyMailer {
    Ses(SesMailer),
    Log(LogMailer),
}

impl Mailer for AnyMailer {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        match self {
            AnyMailer::Ses(m) => m.send(email).await,
            AnyMailer::Log(m) => m.send(email).await,
        }
    }
}
