//! JWTs for new users: HS256, `sub` = user id, `iat`, `exp`, `iss`. Decoding pins HS256 so a
//! token cannot choose its own algorithm.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// HS256 needs a key at least as long as its output to be as strong as it claims.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
    SecretTooShort(usize),
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

pub struct JwtIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl_seconds: i64,
}

impl JwtIssuer {
    pub fn new(secret: &[u8], issuer: String, ttl_seconds: i64) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::SecretTooShort(secret.len()));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer,
            ttl_seconds,
        })
    }

    pub fn issue(&self, user_id: Uuid, now: OffsetDateTime) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            iat,
            exp: iat + self.ttl_seconds,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature (HS256 only), expiry and issuer.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_verifiable_hs256_tokens_and_refuses_short_secrets() {
        let issuer = JwtIssuer::new(&[1u8; 32], "signup".into(), 60).unwrap();
        let id = Uuid::new_v4();
        let token = issuer.issue(id, OffsetDateTime::now_utc()).unwrap();
        let claims = issuer.verify(&token).unwrap();
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, Algorithm::HS256);
        let other = JwtIssuer::new(&[2u8; 32], "signup".into(), 60).unwrap();
        assert!(other.verify(&token).is_err(), "another secret must not verify");
        assert!(matches!(
            JwtIssuer::new(&[1u8; 31], "x".into(), 60),
            Err(TokenError::SecretTooShort(31))
        ));
    }
}
