//! Mail transports: SES (the v1 API: LocalStack's free edition does not emulate SES v2), and a
//! `log` transport for dry runs that only records that it would have sent.

use crate::domain::deliver::{Mailer, PortError};
use crate::domain::emails::Email;
use aws_sdk_ses::Client;
use aws_sdk_ses::error::DisplayErrorContext;
use aws_sdk_ses::types::{Body, Content, Destination, Message};

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

fn content(text: &str) -> Result<Content, PortError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| PortError(e.to_string()))
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, PortError> {
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
            .map_err(|e| PortError(DisplayErrorContext(&e).to_string()))?;
        Ok(out.message_id)
    }
}

/// Dry runs: logs the subject (never the recipient or the body: the log line is not a mailbox)
/// and sends nothing.
pub struct LogMailer;

impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<String, PortError> {
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
    async fn send(&self, email: &Email) -> Result<String, PortError> {
        match self {
            AnyMailer::Ses(m) => m.send(email).await,
            AnyMailer::Log(m) => m.send(email).await,
        }
    }
}
