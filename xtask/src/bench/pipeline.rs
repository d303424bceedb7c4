//! End-to-end figures on the running stack, the way users run it: sign-ups over create-user's
//! function URL (`cargo lambda watch`), emails read back from LocalStack's SES outbox.

use super::events;
use crate::random;
use anyhow::{Context, Result, bail};
use local_stack::{StackEnv, ses};
use std::time::{Duration, Instant};

/// How long one email may take to arrive before the run fails.
const EMAIL_WITHIN: Duration = Duration::from_secs(300);

/// Sign-ups as a client sends them: POSTs to create-user's function URL (`CREATE_USER_URL`).
#[derive(Clone)]
pub struct SignUps {
    http: reqwest::Client,
    url: String,
}

impl SignUps {
    pub fn of(env: &StackEnv) -> Result<Self> {
        Ok(Self {
            http: local_stack::http_client(),
            url: env.var("CREATE_USER_URL")?,
        })
    }

    /// One sign-up; create-user's status and body. An error when no answer came in `timeout`.
    pub async fn send(&self, name: &str, email: &str, timeout: Duration) -> Result<(u16, String)> {
        let response = self
            .http
            .post(&self.url)
            .json(&events::sign_up(name, email))
            .timeout(timeout)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }
}

/// Waits until SES has accepted an email to `address`. The error does not name the address:
/// what xtask prints is no place for one.
async fn wait_for_email(outbox: &ses::Outbox, address: &str) -> Result<()> {
    let deadline = Instant::now() + EMAIL_WITHIN;
    while outbox.emails_to(address).await?.is_empty() {
        if Instant::now() > deadline {
            bail!("no verification email {} s after the sign-up", EMAIL_WITHIN.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// From each sign-up request to its verification email in SES, one user at a time.
pub async fn signup_to_email(env: &StackEnv, users: usize) -> Result<Vec<Duration>> {
    let sign_ups = SignUps::of(env)?;
    let outbox = ses::Outbox::at(&env.var("AWS_ENDPOINT_URL")?);
    let run = random::hex(4)?;
    let mut samples = Vec::with_capacity(users);
    for i in 0..users {
        let email = format!("e2e.{run}.{i}@example.com");
        let started = Instant::now();
        let (status, reply) = sign_ups.send("Bench User", &email, Duration::from_secs(60)).await?;
        if status != 202 {
            bail!("sign-up answered {status}: {reply}");
        }
        wait_for_email(&outbox, &email)
            .await
            .with_context(|| format!("sign-up {} of {users}", i + 1))?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}
