//! The verification token: the `token` of the link in a verification email. It proves that
//! whoever presents it could read that email, and nothing else.
//!
//! An HS256 JWT with a key of its own (never the session key), audience [`AUDIENCE`] and
//! purpose [`PURPOSE`], so neither kind of token passes for the other. Its claims bind it to:
//! - the user (`sub`) and the sign-up it confirms (`cred`, the credential that sign-up set: a
//!   later sign-up with the same pending address replaces the password and with it the
//!   credential, and the older links stop working);
//! - the address it was sent to (`adr`: an HMAC of the address under the token's key, so the
//!   token, which travels in a URL, carries no address in the clear).
//!
//! Single use is the user's state, not the token's: verify-email verifies a pending user once,
//! so every link of that user is spent by the first one used. Nothing is stored per token.

use crate::key::FromSecret;
use crate::{TokenError, check_lifetime, check_secret};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub const AUDIENCE: &str = "verify-email";
pub const PURPOSE: &str = "verify_email";
/// The longest a link may stay valid: a week.
pub const MAX_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Longer is no token of ours: the page that shows it and the parser refuse it unread.
pub const MAX_TOKEN_BYTES: usize = 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    cred: Uuid,
    adr: String,
    pur: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: Uuid,
}

/// Who mints verification tokens, and for how long they are good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    pub issuer: String,
    pub ttl_seconds: i64,
}

/// What one verification email confirms: this user's sign-up (its credential) at this address
/// (its email key, the lower-cased form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub user_id: Uuid,
    pub credential_id: Uuid,
    pub email_key: String,
}

/// A token's claims once its signature, audience, purpose and expiry have been checked. The
/// address it is bound to is only known as its HMAC: [`VerificationKey::is_bound_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub user_id: Uuid,
    pub credential_id: Uuid,
    address_mac: String,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Not a token of ours: malformed, empty, tampered with, signed with another key (the
    /// session's, say), or for another audience or purpose.
    #[error("not a verification token: {0}")]
    Invalid(String),
    /// Ours, and past its `exp`.
    #[error("the verification token has expired")]
    Expired,
}

pub struct VerificationKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    address_key: hmac::Key,
    policy: VerifyPolicy,
    /// Its secret's version, named in the header of what it signs.
    kid: Option<String>,
}

impl FromSecret for VerificationKey {
    type Policy = VerifyPolicy;

    fn from_secret(secret: &[u8], kid: Option<String>, policy: &VerifyPolicy) -> Result<Self, TokenError> {
        Ok(Self {
            kid,
            ..Self::new(secret, policy.clone())?
        })
    }

    fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

impl VerificationKey {
    pub fn new(secret: &[u8], policy: VerifyPolicy) -> Result<Self, TokenError> {
        check_secret(secret)?;
        check_lifetime(policy.ttl_seconds, MAX_TTL_SECONDS)?;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            address_key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            policy,
            kid: None,
        })
    }

    /// HS256, naming the key's version.
    fn header(&self) -> Header {
        Header {
            kid: self.kid.clone(),
            ..Header::new(Algorithm::HS256)
        }
    }

    /// A key for tests: issuer `test`, a day.
    pub fn for_tests(secret: &[u8]) -> Self {
        let policy = VerifyPolicy {
            issuer: "test".into(),
            ttl_seconds: 24 * 3600,
        };
        Self::new(secret, policy).expect("a test secret of 32 bytes or more")
    }

    /// How long a token minted now stays good (the email says it in words).
    pub fn ttl_seconds(&self) -> i64 {
        self.policy.ttl_seconds
    }

    /// A token for `what`, good from `now` for the policy's lifetime.
    pub fn mint(&self, what: &Confirmation, now: OffsetDateTime) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let claims = Claims {
            sub: what.user_id,
            cred: what.credential_id,
            adr: self.address_mac(&what.email_key),
            pur: PURPOSE.to_owned(),
            iss: self.policy.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            iat,
            exp: iat + self.policy.ttl_seconds,
            jti: Uuid::new_v4(),
        };
        Ok(jsonwebtoken::encode(&self.header(), &claims, &self.encoding)?)
    }

    /// Checks signature (HS256 only), audience, issuer, purpose and expiry (to the second: no
    /// leeway, a link's lifetime is what the email says).
    pub fn check(&self, token: &str) -> Result<Checked, CheckError> {
        if !looks_like_a_token(token) {
            return Err(CheckError::Invalid(
                "not three base64url parts of a bounded length".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                // Checked after the signature: an expired token is one of ours.
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => CheckError::Expired,
                _ => CheckError::Invalid(e.to_string()),
            })?
            .claims;
        if claims.pur != PURPOSE {
            return Err(CheckError::Invalid(format!("purpose {:?}", claims.pur)));
        }
        Ok(Checked {
            user_id: claims.sub,
            credential_id: claims.cred,
            address_mac: claims.adr,
        })
    }

    /// Whether a checked token was minted for the address `email_key` (compared in constant
    /// time).
    pub fn is_bound_to(&self, checked: &Checked, email_key: &str) -> bool {
        let expected = self.address_mac(email_key);
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), checked.address_mac.as_bytes()).is_ok()
    }

    /// 128 bits of HMAC-SHA-256 over the address, base64url.
    fn address_mac(&self, email_key: &str) -> String {
        let tag = hmac::sign(&self.address_key, format!("address:{email_key}").as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }
}

/// Whether `text` has a token's shape: three non-empty base64url parts, at most
/// [`MAX_TOKEN_BYTES`]. What a page may echo back, and what is worth checking at all.
pub fn looks_like_a_token(text: &str) -> bool {
    let base64url = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    text.len() <= MAX_TOKEN_BYTES && text.split('.').count() == 3 && text.split('.').all(base64url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionIssuer;

    fn confirmation() -> Confirmation {
        Confirmation {
            user_id: Uuid::new_v4(),
            credential_id: Uuid::new_v4(),
            email_key: "ann@x.io".into(),
        }
    }

    #[test]
    fn a_minted_token_checks_and_is_bound_to_its_user_sign_up_and_address() {
        let key = VerificationKey::for_tests(&[5u8; 32]);
        let what = confirmation();
        let token = key.mint(&what, OffsetDateTime::now_utc()).unwrap();
        let checked = key.check(&token).unwrap();
        assert_eq!(
            (checked.user_id, checked.credential_id),
            (what.user_id, what.credential_id)
        );
        assert!(key.is_bound_to(&checked, "ann@x.io"));
        assert!(!key.is_bound_to(&checked, "bob@x.io"));
        assert!(
            !token.contains("ann"),
            "no address in the clear: the token travels in a URL"
        );
        let claims = token.split('.').nth(1).unwrap();
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert!(!claims.contains("ann@x.io"), "{claims}");
    }

    #[test]
    fn tampered_foreign_and_malformed_tokens_are_invalid() {
        let key = VerificationKey::for_tests(&[5u8; 32]);
        let token = key.mint(&confirmation(), OffsetDateTime::now_utc()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["sub"] = serde_json::json!(Uuid::new_v4());
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        let tampered = parts.join(".");
        let other_key = VerificationKey::for_tests(&[6u8; 32])
            .mint(&confirmation(), OffsetDateTime::now_utc())
            .unwrap();
        // The session JWT, even signed with the same secret, is for another audience and purpose.
        let session = SessionIssuer::for_tests(&[5u8; 32])
            .issue(Uuid::new_v4(), OffsetDateTime::now_utc())
            .unwrap();
        let long = format!("{}.{}.{}", "a".repeat(400), "b".repeat(400), "c".repeat(400));
        for (what, token) in [
            ("tampered", tampered.as_str()),
            ("another key", &other_key),
            ("a session JWT", &session),
            ("empty", ""),
            ("not a JWT", "hello"),
            ("two parts", "a.b"),
            ("padding and spaces", "a=.b .c"),
            ("too long", &long),
        ] {
            assert!(matches!(key.check(token), Err(CheckError::Invalid(_))), "{what}");
        }
    }

    #[test]
    fn an_expired_token_is_expired_to_the_second() {
        let key = VerificationKey::new(
            &[5u8; 32],
            VerifyPolicy {
                issuer: "test".into(),
                ttl_seconds: 60,
            },
        )
        .unwrap();
        let minted = OffsetDateTime::now_utc() - time::Duration::seconds(61);
        let token = key.mint(&confirmation(), minted).unwrap();
        assert_eq!(key.check(&token), Err(CheckError::Expired));
        let token = key.mint(&confirmation(), minted + time::Duration::seconds(5)).unwrap();
        assert!(key.check(&token).is_ok());
    }

    #[test]
    fn every_token_is_new_and_lifetimes_are_bounded() {
        let key = VerificationKey::for_tests(&[5u8; 32]);
        let what = confirmation();
        let now = OffsetDateTime::now_utc();
        assert_ne!(key.mint(&what, now).unwrap(), key.mint(&what, now).unwrap());
        let policy = |ttl_seconds| VerifyPolicy {
            issuer: "i".into(),
            ttl_seconds,
        };
        assert!(VerificationKey::new(&[5u8; 32], policy(MAX_TTL_SECONDS + 1)).is_err());
        assert!(VerificationKey::new(&[5u8; 32], policy(0)).is_err());
        assert!(VerificationKey::new(&[5u8; 31], policy(60)).is_err());
    }
}
