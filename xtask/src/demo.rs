//! The demo (`cargo xtask demo`), the main job: the stack up, one sign-up over HTTP, the
//! user.created event and the verification email it turns into, then the email's link followed
//! as a user would (the page opened, its token POSTed): the verified user and its session; and
//! last a sign-in with the password: a session again. Shown as they happen.

use crate::layout::Layout;
use crate::local::up;
use crate::{random, ui};
use anyhow::{Context, Result, bail};
use local_stack::{StackEnv, queue_arn, sdk_config, ses};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub async fn run(layout: &Layout, up_args: &up::UpArgs) -> Result<()> {
    up::run(layout, up_args).await?;
    let env = StackEnv::read(&layout.stack_env())?;
    let endpoints = env.endpoints()?;
    let config = sdk_config(&endpoints).await;
    let tap = Tap::subscribe(&config, &env.var("USER_EVENTS_TOPIC_ARN")?).await?;
    let email = format!("demo.{}@example.com", random::hex(4)?);

    let started = Instant::now();
    sign_up(&env.var("CREATE_USER_URL")?, &email).await?;
    let event = tap.next_message(Duration::from_secs(20)).await;
    tap.remove().await;
    println!(
        "\n2. user.created on the topic (read from a temporary queue subscribed to it)\n{}",
        indent(&pretty(&event?))
    );

    let outbox = ses::Outbox::at(&endpoints.localstack);
    let mail = ui::step(
        "Waiting for the verification email in LocalStack's SES",
        async |progress| {
            loop {
                if let Some(mail) = outbox.emails_to(&email).await?.pop() {
                    return Ok(mail);
                }
                if started.elapsed() > Duration::from_secs(60) {
                    bail!("no email after 60 s; see .local/logs/sqs-bridge.log and cargo-lambda-watch.log");
                }
                progress.tick("waiting");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        },
    )
    .await?;
    println!(
        "\n3. The verification email, {} ms after the sign-up request (GET {}/_aws/ses)\n{}",
        started.elapsed().as_millis(),
        endpoints.localstack,
        indent(&serde_json::to_string_pretty(&mail)?)
    );
    follow_the_link(&env.var("VERIFY_URL")?, &mail).await?;
    sign_in(&env.var("SIGN_IN_URL")?, &email).await?;
    println!(
        "{}",
        NEXT_STEPS.replace("{state}", &layout.stack_env().display().to_string())
    );
    Ok(())
}

/// What a user does with the email: open its link (a page that asks for the sign-up's
/// password; opening it changes nothing), then press its button, which POSTs the token with the
/// password. The demo POSTs them as JSON, as an app's page does, and prints the answer: the
/// user, verified, and its session JWT.
async fn follow_the_link(verify_url: &str, mail: &Value) -> Result<()> {
    let text = mail["Body"]["text_part"].as_str().unwrap_or_default();
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with(verify_url) && word.contains("token="))
        .context("no verification link in the email")?;
    let token = link.split("token=").nth(1).unwrap_or_default();
    let http = local_stack::http_client();
    let page = http.get(link).send().await.with_context(|| format!("GET {link}"))?;
    println!(
        "\n4. GET the link: {} {} (a page whose button POSTs the token with the password; opening it changes nothing)",
        page.status().as_u16(),
        page.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    );
    let request = json!({"token": token, "password": PASSWORD});
    println!("\n5. POST {verify_url}  {{\"token\": \"<the link's token>\", \"password\": \"...\"}}");
    let response = http
        .post(verify_url)
        .json(&request)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .with_context(|| format!("POST {verify_url}"))?;
    let status = response.status();
    let body = response.text().await?;
    println!("   -> {}\n{}", status.as_u16(), indent(&pretty(&body)));
    if status.as_u16() != 200 {
        bail!("the verification failed; see .local/logs/cargo-lambda-watch.log");
    }
    Ok(())
}

/// The user signs in again with its password, as it will once its session has expired: a new
/// session.
async fn sign_in(url: &str, email: &str) -> Result<()> {
    let request = json!({"email": email, "password": PASSWORD});
    println!("\n6. POST {url}  {{\"email\": \"{email}\", \"password\": \"...\"}}");
    let response = local_stack::http_client()
        .post(url)
        .json(&request)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response.text().await?;
    println!("   -> {}\n{}", status.as_u16(), indent(&pretty(&body)));
    if status.as_u16() != 200 {
        bail!("the sign-in failed; see .local/logs/cargo-lambda-watch.log");
    }
    Ok(())
}

/// The demo user's password.
const PASSWORD: &str = "correct horse battery";

/// One sign-up through create-user's function URL, printed with its answer.
async fn sign_up(url: &str, email: &str) -> Result<()> {
    let request = json!({"name": "Demo User", "email": email, "password": PASSWORD});
    println!("\n1. POST {url}  {request}");
    let response = local_stack::http_client()
        .post(url)
        .json(&request)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response.text().await?;
    println!("   -> {}\n{}", status.as_u16(), indent(&pretty(&body)));
    if status.as_u16() != 202 {
        bail!("the sign-up failed; see .local/logs/cargo-lambda-watch.log");
    }
    Ok(())
}

const NEXT_STEPS: &str = r#"
The stack keeps running. Try next, in a shell:

  set -a; . {state}; set +a; export PATH="$PWD/.local/tools-venv/bin:$PATH"
  curl -s -X POST "$CREATE_USER_URL" -H 'content-type: application/json' \
       -d '{"name":"You","email":"you@example.com","password":"correct horse battery"}'
  curl -s "$AWS_ENDPOINT_URL/_aws/ses"        # the emails SES accepted: the link is in the last one
  curl -s -X POST "$VERIFY_URL" -H 'content-type: application/json' \
       -d '{"token":"<the link'"'"'s token>","password":"correct horse battery"}'
  curl -s -X POST "$SIGN_IN_URL" -H 'content-type: application/json' \
       -d '{"email":"you@example.com","password":"correct horse battery"}'
  awslocal sns publish --topic-arn "$USER_EVENTS_TOPIC_ARN" --message file://events/user-created.json \
       --message-attributes file://events/user-created.attributes.json
  cargo xtask status                          # what runs where; logs in .local/logs/
  cargo xtask down                            # stop it all
"#;

/// A temporary queue subscribed to the topic, to show what create-user published.
struct Tap {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    queue_url: String,
    subscription_arn: String,
}

impl Tap {
    async fn subscribe(config: &aws_config::SdkConfig, topic: &str) -> Result<Self> {
        let (sqs, sns) = (aws_sdk_sqs::Client::new(config), aws_sdk_sns::Client::new(config));
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("demo-tap-{}", random::hex(4)?))
            .send()
            .await?
            .queue_url
            .context("no queue URL")?;
        let queue_arn = queue_arn(&sqs, &queue_url).await?;
        let subscription = sns
            .subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await?;
        Ok(Self {
            sqs,
            sns,
            queue_url,
            subscription_arn: subscription.subscription_arn.context("no subscription")?,
        })
    }

    async fn next_message(&self, wait: Duration) -> Result<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .wait_time_seconds(wait.as_secs() as i32)
            .send()
            .await?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|m| m.body)
            .context("no user.created event arrived")
    }

    async fn remove(self) {
        let _ = self
            .sns
            .unsubscribe()
            .subscription_arn(&self.subscription_arn)
            .send()
            .await;
        let _ = self.sqs.delete_queue().queue_url(&self.queue_url).send().await;
    }
}

fn pretty(json_text: &str) -> String {
    serde_json::from_str::<Value>(json_text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| json_text.to_owned())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}")).collect::<Vec<_>>().join("\n")
}
