//! Passwords: bcrypt, always on the blocking pool (a hash at cost 12 is ~250 ms of one CPU; on
//! the async executor it would stall every other task of the instance for as long), and never
//! in a log line: [`PasswordHash`]'s Debug shows nothing of it.

use crate::users::PasswordHash;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct HashError(String);

/// bcrypt reads at most 72 bytes of a password: the sign-up refuses longer ones (never
/// truncates them), so none can match.
pub const MAX_BYTES: usize = 72;

/// Whether `password` is one a sign-up could have stored (1 to [`MAX_BYTES`] bytes, no NUL):
/// what a check of a password (sign-in's, verification's) refuses before any work, as invalid
/// input rather than a wrong password.
pub fn could_be_stored(password: &str) -> bool {
    !password.is_empty() && password.len() <= MAX_BYTES && !password.contains('\0')
}

/// `password` hashed at `cost`.
pub async fn hash(password: String, cost: u32) -> Result<PasswordHash, HashError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| HashError(format!("hashing task: {e}")))?
        .map(PasswordHash::new)
        .map_err(|e| HashError(format!("bcrypt: {e}")))
}

/// Whether `password` is the one `hash` was made of (the same work whether it is or not).
pub async fn verify(password: String, hash: &PasswordHash) -> Result<bool, HashError> {
    let hash = hash.expose().to_owned();
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
        .await
        .map_err(|e| HashError(format!("verifying task: {e}")))?
        .map_err(|e| HashError(format!("bcrypt: {e}")))
}

/// The cost a hash was made at, if it is a bcrypt hash (`$2b$12$...`).
pub fn cost_of(hash: &PasswordHash) -> Option<u32> {
    let text = hash.expose();
    (text.len() == 60 && text.as_bytes()[0] == b'$').then(|| text.get(4..6)?.parse().ok())?
}

/// A hash no password matches in practice, at `cost`: what a password is checked against when
/// there is no user, so that an unknown address costs what a known one does. (Its salt and
/// hash are a real bcrypt hash's, of a password nobody has; the cost is rewritten, which makes
/// it a hash of nothing, and bcrypt works through `cost` all the same.)
pub fn dummy(cost: u32) -> PasswordHash {
    const SALT_AND_HASH: &str = "RY.oly0ZJNgHF.Cur/kejeP9vz4eKMHti/a/R04i.9DzV2pDAPnSu";
    PasswordHash::new(format!("$2b${cost:02}${SALT_AND_HASH}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_say_their_cost() {
        let hash = hash("correct horse".into(), 4).await.unwrap();
        assert!(verify("correct horse".into(), &hash).await.unwrap());
        assert!(!verify("wrong horse".into(), &hash).await.unwrap());
        assert_eq!(cost_of(&hash), Some(4));
        assert_eq!(cost_of(&PasswordHash::new("plain".into())), None);
    }

    /// The dummy is a well-formed hash of the cost asked for, that bcrypt works through (it
    /// takes as long as a real one: the cost is in the string) and that nothing matches.
    #[tokio::test]
    async fn the_dummy_costs_what_it_says_and_matches_nothing() {
        for cost in [4, 5, 12] {
            let dummy = dummy(cost);
            assert_eq!(cost_of(&dummy), Some(cost));
            if cost < 12 {
                assert_eq!(verify("correct horse".into(), &dummy).await, Ok(false));
                assert_eq!(verify(String::new(), &dummy).await, Ok(false));
            }
        }
        // Cost 5 is twice cost 4's work: the cost rewritten is the cost paid.
        let time = |cost| async move {
            let started = std::time::Instant::now();
            for _ in 0..4 {
                verify("x".into(), &dummy(cost)).await.unwrap();
            }
            started.elapsed()
        };
        let (four, six) = (time(4).await, time(6).await);
        assert!(
            six > four * 2,
            "cost 6 ({six:?}) is 4x cost 4 ({four:?}) of bcrypt's rounds"
        );
    }
}
