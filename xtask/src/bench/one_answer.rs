//! Whether an answer's time tells who is registered, at the production bcrypt cost, timed at
//! the runtime API's socket, the cases taking turns in one warm Rust process:
//! - create-user answering sign-ups for new addresses, for one address left pending, and for
//!   one verified ([`measure`]);
//! - sign-in refusing a wrong password, an unknown address and a pending one
//!   ([`measure_sign_in`]).
//!
//! The answers are the same by construction (unit and HTTP tests prove them byte for byte);
//! this is their time.

use super::events;
use super::functions::{Function, INIT_TIMEOUT, Language, Launcher, check};
use super::runtime_api::RuntimeApi;
use anyhow::{Context, Result};
use local_stack::{StackEnv, dynamodb_client, sdk_config};
use std::time::Duration;
use user_store::adapters::dynamodb::DynamoUserStore;
use user_store::outbox::StoredEvent;
use user_store::users::{Guard, UserStore};

/// The three states an address can be in when it signs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    New,
    Pending,
    Verified,
}

impl State {
    pub const ALL: [State; 3] = [State::New, State::Pending, State::Verified];

    pub fn name(self) -> &'static str {
        match self {
            State::New => "a new address",
            State::Pending => "a pending address",
            State::Verified => "a verified address",
        }
    }
}

/// `n` sign-ups in each state at bcrypt `cost`, the states taking turns (each round in
/// another order, so that none always follows the same one).
/// Each state's times, in [`State::ALL`]'s order.
pub async fn measure(
    launcher: &Launcher,
    env: &StackEnv,
    tag: &str,
    cost: u32,
    n: usize,
) -> Result<Vec<Vec<Duration>>> {
    let api = RuntimeApi::start()?;
    let mut instance = launcher.spawn(Language::Rust, Function::CreateUser, &api, cost)?;
    api.wait_for_next(0, INIT_TIMEOUT, &mut || instance.alive()).await?;
    let address = |what: &str, i: usize| format!("{tag}.{what}.{i}@example.com");
    let (pending, verified) = (address("pending", 0), address("verified", 0));
    let mut sign_up = async |email: &str| -> Result<Duration> {
        let outcome = api
            .invoke(events::sign_up_request(email).to_string(), &mut || instance.alive())
            .await?;
        check(Function::CreateUser, &outcome)?;
        tokio::time::sleep(launcher.pause).await;
        Ok(outcome.duration())
    };
    // Warm-up, and the two taken addresses: one left pending, one verified as verify-email
    // would (through the same store code).
    for i in 0..3 {
        sign_up(&address("warm-up", i)).await?;
    }
    sign_up(&pending).await?;
    sign_up(&verified).await?;
    verify(env, &verified).await?;
    let mut times = vec![Vec::with_capacity(n); State::ALL.len()];
    for round in 0..n {
        for k in 0..State::ALL.len() {
            let state = State::ALL[(round + k) % State::ALL.len()];
            let email = match state {
                State::New => address("new", round),
                State::Pending => pending.clone(),
                State::Verified => verified.clone(),
            };
            times[state as usize].push(sign_up(&email).await?);
        }
    }
    Ok(times)
}

/// The cases of [`measure_sign_in`]: what sign-in refuses, and a success beside them.
pub const SIGN_IN_CASES: [&str; 4] = [
    "a wrong password",
    "an unknown address",
    "a pending address, the right password",
    "a verified address, the right password (a session)",
];

/// `n` sign-ins of each of [`SIGN_IN_CASES`] at bcrypt `cost` (the users' hashes made at it),
/// taking turns; each case's times, in that order. The limits are raised for this process (a
/// setting, as the benchmark's stack raises the sign-up's): one client and one account try many
/// times here.
pub async fn measure_sign_in(
    launcher: &Launcher,
    env: &StackEnv,
    tag: &str,
    cost: u32,
    n: usize,
) -> Result<Vec<Vec<Duration>>> {
    let mut launcher = launcher.clone();
    for variable in ["SIGNIN_LIMIT_PER_IP", "SIGNIN_FAILURES_PER_ACCOUNT"] {
        launcher.env.push((variable.to_owned(), "10000000".to_owned()));
    }
    let (verified, pending) = (
        format!("{tag}.verified@example.com"),
        format!("{tag}.pending@example.com"),
    );
    const PASSWORD: &str = "correct horse battery";
    store_user(env, &verified, PASSWORD, cost, true).await?;
    store_user(env, &pending, PASSWORD, cost, false).await?;
    let api = RuntimeApi::start()?;
    let mut instance = launcher.spawn_rust("sign-in", &api, cost)?;
    api.wait_for_next(0, INIT_TIMEOUT, &mut || instance.alive()).await?;
    let mut sign_in = async |email: &str, password: &str, expected: u16| -> Result<Duration> {
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let event = lambda_support::testing::HttpApiRequest {
            path: "/sessions",
            route_key: "POST /sessions",
            body: Some(body),
            ..Default::default()
        }
        .event();
        let outcome = api.invoke(event.to_string(), &mut || instance.alive()).await?;
        let reply: serde_json::Value = serde_json::from_str(&outcome.body).context("sign-in's answer")?;
        anyhow::ensure!(
            outcome.ok && reply["statusCode"] == expected,
            "sign-in answered {}",
            outcome.body
        );
        tokio::time::sleep(launcher.pause).await;
        Ok(outcome.duration())
    };
    for _ in 0..3 {
        sign_in(&verified, PASSWORD, 200).await?;
    }
    let mut times = vec![Vec::with_capacity(n); SIGN_IN_CASES.len()];
    for round in 0..n {
        for k in 0..SIGN_IN_CASES.len() {
            let case = (round + k) % SIGN_IN_CASES.len();
            let unknown = format!("{tag}.unknown.{round}@example.com");
            let took = match case {
                0 => sign_in(&verified, "wrong horse battery", 401).await?,
                1 => sign_in(&unknown, PASSWORD, 401).await?,
                2 => sign_in(&pending, PASSWORD, 401).await?,
                _ => sign_in(&verified, PASSWORD, 200).await?,
            };
            times[case].push(took);
        }
    }
    Ok(times)
}

/// A user of `email` with `password` hashed at `cost`, verified or left pending, stored as a
/// sign-up and verify-email store one (through the same store code).
async fn store_user(env: &StackEnv, email: &str, password: &str, cost: u32, verified: bool) -> Result<()> {
    let endpoints = env.endpoints()?;
    let config = sdk_config(&endpoints).await;
    let store = DynamoUserStore::new(dynamodb_client(&config, &endpoints), env.var("USERS_TABLE")?);
    let now = time::OffsetDateTime::now_utc();
    let user = user_store::users::NewUser {
        id: uuid::Uuid::new_v4(),
        name: "Bench User".into(),
        email: email.into(),
        email_key: user_events::email_key(email),
        password_hash: user_store::passwords::hash(password.into(), cost).await?,
        created_at: now,
    };
    let created = StoredEvent::from(&user_events::UserCreated::new(uuid::Uuid::new_v4(), now, user.public()));
    store
        .create_pending(&user, now + time::Duration::hours(1), &created, now)
        .await?;
    if verified {
        verify(env, email).await?;
    }
    Ok(())
}

/// Makes the pending user of `email` verified, with its `user.verified`, as verify-email does.
async fn verify(env: &StackEnv, email: &str) -> Result<()> {
    let endpoints = env.endpoints()?;
    let config = sdk_config(&endpoints).await;
    let store = DynamoUserStore::new(dynamodb_client(&config, &endpoints), env.var("USERS_TABLE")?);
    let now = time::OffsetDateTime::now_utc();
    let Some(Guard::Pending { user_id, credential_id }) = store.guard(&user_events::email_key(email), now).await?
    else {
        anyhow::bail!("the address signed up a moment ago is not pending");
    };
    let user = store.user(user_id).await?.context("the pending user")?;
    let event = StoredEvent::from(&user_events::UserVerified::new(now, user.user.clone()));
    store.verify(&user, credential_id, &event, now).await?;
    Ok(())
}
