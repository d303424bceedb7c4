//! Events for tests, from one source: the producers' and consumers' tests build theirs here
//! (the `testing` feature) instead of each writing its own copy of the contract.

use super::{PublicUser, Recipient, RequestReason, SignUpAttempted, UserCreated, VerificationRequested};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user named `name` with `email`, with a fresh id, created now.
pub fn user(name: &str, email: &str) -> PublicUser {
    PublicUser {
        id: Uuid::new_v4(),
        name: name.into(),
        email: email.into(),
        created_at: OffsetDateTime::now_utc(),
    }
}

/// The `user.created` event of a new [`user`]: a fresh event id, occurring as it is created.
pub fn user_created(name: &str, email: &str) -> UserCreated {
    let user = user(name, email);
    UserCreated::new(Uuid::new_v4(), user.created_at, user)
}

/// A resend of the verification email of a pending user with `email`.
pub fn verification_requested(email: &str) -> VerificationRequested {
    let user = Recipient {
        id: Uuid::new_v4(),
        email: email.into(),
    };
    VerificationRequested::new(OffsetDateTime::now_utc(), user, Uuid::new_v4(), RequestReason::Resend)
}

/// A sign-up with the address of a verified user with `email`.
pub fn sign_up_attempted(email: &str) -> SignUpAttempted {
    let user = Recipient {
        id: Uuid::new_v4(),
        email: email.into(),
    };
    SignUpAttempted::new(OffsetDateTime::now_utc(), user)
}

/// A fresh X-Ray trace header of a sampled trace, as Lambda hands one to an invocation.
pub fn trace_header() -> crate::trace::TraceHeader {
    let [id, parent] = [Uuid::new_v4().simple().to_string(), Uuid::new_v4().simple().to_string()];
    let seconds = OffsetDateTime::now_utc().unix_timestamp();
    let header = format!("Root=1-{seconds:08x}-{};Parent={};Sampled=1", &id[..24], &parent[..16]);
    crate::trace::TraceHeader::parse(&header).expect("a well-formed header")
}
