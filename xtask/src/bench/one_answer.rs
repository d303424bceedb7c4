//! Whether a sign-up's time tells who is registered: create-user (Rust) answering sign-ups for
//! new addresses, for one address left pending, and for one verified, interleaved in one
//! process at the production bcrypt cost, timed at the runtime API's socket. The answer is the
//! same by construction (a unit and an HTTP test prove it byte for byte); this is its time.

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

/// Each state's sign-up times.
#[derive(Debug, Default)]
pub struct AddressTimes {
    pub new: Vec<Duration>,
    pub pending: Vec<Duration>,
    pub verified: Vec<Duration>,
}

impl AddressTimes {
    pub fn of(&self, state: State) -> &[Duration] {
        match state {
            State::New => &self.new,
            State::Pending => &self.pending,
            State::Verified => &self.verified,
        }
    }

    fn push(&mut self, state: State, took: Duration) {
        match state {
            State::New => self.new.push(took),
            State::Pending => self.pending.push(took),
            State::Verified => self.verified.push(took),
        }
    }
}

/// `n` sign-ups in each state at bcrypt `cost`, the states taking turns (each round in
/// another order, so that none always follows the same one).
pub async fn measure(launcher: &Launcher, env: &StackEnv, tag: &str, cost: u32, n: usize) -> Result<AddressTimes> {
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
    let mut times = AddressTimes::default();
    for round in 0..n {
        for k in 0..State::ALL.len() {
            let state = State::ALL[(round + k) % State::ALL.len()];
            let email = match state {
                State::New => address("new", round),
                State::Pending => pending.clone(),
                State::Verified => verified.clone(),
            };
            times.push(state, sign_up(&email).await?);
        }
    }
    Ok(times)
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
