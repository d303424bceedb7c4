//! The session JWT: HS256, `sub` = user id, `iss`, `aud`, `iat`, `exp` and a unique `jti` (so a
//! token can be revoked or its reuse detected). Issued by verify-email, when an address is
//! proven, and by sign-in. Decoding pins HS256 so a token cannot choose its own algorithm, and
//! checks issuer and audience.

use crate::key::FromSecret;
use crate::{TokenError, check_lifetime, check_secret};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_support::config::{ConfigError, Vars};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The longest lifetime a session may be given: a bearer token that leaks is good to whoever
/// holds it until it expires, and these cannot be revoked without a deny list.
pub const MAX_TTL_SECONDS: i64 = 24 * 3600;

/// The template's defaults (`JwtAudience`, `JwtTtlSeconds`).
pub const DEFAULT_AUDIENCE: &str = "user-signup";
pub const DEFAULT_TTL_SECONDS: i64 = 3600;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Who issues sessions, for whom, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: i64,
}

impl SessionPolicy {
    /// The policy from `JWT_ISSUER`, `JWT_AUDIENCE` and `JWT_TTL_SECONDS` (1 to
    /// [`MAX_TTL_SECONDS`]): verify-email and sign-in issue one kind of session.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: crate::issuer(vars),
            audience: vars.get("JWT_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            ttl_seconds: vars.number("JWT_TTL_SECONDS", DEFAULT_TTL_SECONDS, 1..=MAX_TTL_SECONDS)?,
        })
    }
}

pub struct SessionIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    policy: SessionPolicy,
    /// Its secret's version, named in the header of what it signs.
    kid: Option<String>,
}

impl FromSecret for SessionIssuer {
    type Policy = SessionPolicy;

    fn from_secret(secret: &[u8], kid: Option<String>, policy: &SessionPolicy) -> Result<Self, TokenError> {
        Ok(Self {
            kid,
            ..Self::new(secret, policy.clone())?
        })
    }

    fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

impl SessionIssuer {
    pub fn new(secret: &[u8], policy: SessionPolicy) -> Result<Self, TokenError> {
        check_secret(secret)?;
        check_lifetime(policy.ttl_seconds, MAX_TTL_SECONDS)?;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
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

    /// An issuer for tests: issuer and audience `test`, one hour.
    pub fn for_tests(secret: &[u8]) -> Self {
        let policy = SessionPolicy {
            issuer: "test".into(),
            audience: "test".into(),
            ttl_seconds: 3600,
        };
        Self::new(secret, policy).expect("a test secret of 32 bytes or more")
    }

    pub fn issue(&self, user_id: Uuid, now: OffsetDateTime) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.policy.issuer.clone(),
            aud: self.policy.audience.clone(),
            iat,
            exp: iat + self.policy.ttl_seconds,
            jti: Uuid::new_v4().to_string(),
        };
        Ok(jsonwebtoken::encode(&self.header(), &claims, &self.encoding)?)
    }

    /// Verifies signature (HS256 only), expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_audience(&[&self.policy.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(audience: &str, ttl_seconds: i64) -> SessionPolicy {
        SessionPolicy {
            issuer: "signup".into(),
            audience: audience.into(),
            ttl_seconds,
        }
    }

    #[test]
    fn issues_verifiable_hs256_tokens_and_refuses_short_secrets() {
        let issuer = SessionIssuer::new(&[1u8; 32], policy("app", 60)).unwrap();
        let id = Uuid::new_v4();
        let token = issuer.issue(id, OffsetDateTime::now_utc()).unwrap();
        let claims = issuer.verify(&token).unwrap();
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.aud, "app");
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, Algorithm::HS256);
        let other = SessionIssuer::new(&[2u8; 32], policy("app", 60)).unwrap();
        assert!(other.verify(&token).is_err(), "another secret must not verify");
        assert!(matches!(
            SessionIssuer::new(&[1u8; 31], policy("app", 60)),
            Err(TokenError::SecretTooShort(31))
        ));
    }

    #[test]
    fn every_token_has_its_own_id_and_is_for_one_audience() {
        let issuer = SessionIssuer::new(&[1u8; 32], policy("app", 60)).unwrap();
        let now = OffsetDateTime::now_utc();
        let (a, b) = (
            issuer.issue(Uuid::nil(), now).unwrap(),
            issuer.issue(Uuid::nil(), now).unwrap(),
        );
        let (a, b) = (issuer.verify(&a).unwrap(), issuer.verify(&b).unwrap());
        assert_ne!(a.jti, b.jti);
        assert!(Uuid::parse_str(&a.jti).is_ok());
        let elsewhere = SessionIssuer::new(&[1u8; 32], policy("another-app", 60)).unwrap();
        let token = issuer.issue(Uuid::nil(), now).unwrap();
        assert!(
            elsewhere.verify(&token).is_err(),
            "a token for another audience is refused"
        );
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert!(matches!(
            SessionIssuer::new(&[1u8; 32], policy("app", MAX_TTL_SECONDS + 1)),
            Err(TokenError::Lifetime { .. })
        ));
        assert!(matches!(
            SessionIssuer::new(&[1u8; 32], policy("app", 0)),
            Err(TokenError::Lifetime { got: 0, .. })
        ));
        assert!(SessionIssuer::new(&[1u8; 32], policy("app", MAX_TTL_SECONDS)).is_ok());
    }
}
