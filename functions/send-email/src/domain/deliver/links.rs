//! The verification links an email carries, minted when it is sent.

use time::OffsetDateTime;
use tokens::key::{Key, KeyError};
use tokens::verification::{Confirmation, VerificationKey};

/// The verification links: `{base}?token=<token>`, the token minted with the verification key
/// when the email is sent, so that its lifetime starts then.
pub struct Links {
    pub key: Key<VerificationKey>,
    /// The page the link opens (`VERIFY_URL_BASE`): the API's own `GET /users/verify`, or an
    /// app's page that POSTs the token to it.
    pub base: String,
}

impl Links {
    pub(super) async fn link(&self, what: &Confirmation) -> Result<(String, i64), KeyError> {
        let key = self.key.get().await?;
        let token = key.mint(what, OffsetDateTime::now_utc()).map_err(KeyError::Invalid)?;
        let separator = if self.base.contains('?') { '&' } else { '?' };
        Ok((format!("{}{separator}token={token}", self.base), key.ttl_seconds()))
    }
}
