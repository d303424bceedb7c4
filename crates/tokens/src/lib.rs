//! The sign-up flow's two tokens, each signed with a key of its own (HS256, pinned):
//!
//! - [`session`]: the session JWT a verified user holds (`sub` = user id, `iss`, `aud`, `jti`,
//!   `exp`), issued by verify-email and sign-in;
//! - [`verification`]: the one-time link token of the verification email, minted by
//!   send-email and checked by verify-email. Its own key, audience and purpose, so a session
//!   JWT is never a verification token nor the other way round; bound to the user, to the
//!   sign-up it confirms and to the address it was sent to.
//!
//! Both keys live in SSM SecureStrings and are read on first use ([`key::Key`]): a key is the
//! knowledge of one function's deployment, never of the template or the code.

use lambda_support::config::Vars;

pub mod key;
pub mod session;
pub mod verification;

/// The `iss` of every token of the project unless `JWT_ISSUER` says otherwise (the template's
/// `JwtIssuer` default too).
pub const DEFAULT_ISSUER: &str = "user-signup";

/// The tokens' issuer, from `JWT_ISSUER`: the functions that mint or check a token read it alike.
pub fn issuer(vars: &Vars) -> String {
    vars.get("JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into())
}

/// HS256 needs a key at least as long as its output to be as strong as it claims.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a key could not be made from a secret, or a token signed with it.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a signing secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
    SecretTooShort(usize),
    #[error("a token lifetime must be 1-{max} seconds, got {got}")]
    Lifetime { got: i64, max: i64 },
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

fn check_secret(secret: &[u8]) -> Result<(), TokenError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(TokenError::SecretTooShort(secret.len()));
    }
    Ok(())
}

fn check_lifetime(seconds: i64, max: i64) -> Result<(), TokenError> {
    if !(1..=max).contains(&seconds) {
        return Err(TokenError::Lifetime { got: seconds, max });
    }
    Ok(())
}
