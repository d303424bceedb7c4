//! [`UserStore`] on the table: users and their email guards, each change one transaction with
//! its outbox event.

use super::DynamoUserStore;
use super::items::{Read, guard_key, outbox_key, rfc3339, s, seconds, unreadable, user_key};
use super::transact::{Names, Values, built};
use crate::dynamo::unavailable;
use crate::outbox::StoredEvent;
use crate::users::{
    Credentials, Guard, NewCredential, NewUser, PasswordHash, StoreError, StoredUser, UserState, UserStore, live,
};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use user_events::PublicUser;
use uuid::Uuid;

/// The table's TTL attribute (epoch seconds), on pending users and guards.
pub const EXPIRES_AT: &str = "expires_at";

impl Read<'_> {
    /// `verified = false` with an expiry: pending until then. Anything else is verified (a
    /// user stored before sign-ups were verified has neither attribute).
    fn state(&self) -> Result<UserState, StoreError> {
        match (self.flag("verified"), self.epoch_seconds(EXPIRES_AT)) {
            (Some(false), Some(expires_at)) => Ok(UserState::Pending { expires_at }),
            (Some(false), None) => Err(StoreError::Unavailable("a pending item without expires_at".into())),
            _ => Ok(UserState::Verified),
        }
    }
}

/// A user item as [`StoredUser`]. A user stored before credentials had ids has its first one.
fn stored_user(user_id: Uuid, item: &HashMap<String, AttributeValue>) -> Result<StoredUser, StoreError> {
    let item = Read(item);
    let text = |name: &str| item.text(name).map(str::to_owned).ok_or_else(|| unreadable(name));
    let created_at = OffsetDateTime::parse(&text("created_at")?, &Rfc3339).map_err(|_| unreadable("created_at"))?;
    Ok(StoredUser {
        user: PublicUser {
            id: user_id,
            name: text("name")?,
            email: text("email")?,
            created_at,
        },
        email_key: text("email_key")?,
        credential_id: item
            .uuid("credential_id")
            .unwrap_or(user_events::first_credential(user_id)),
        state: item.state()?,
    })
}

impl UserStore for DynamoUserStore {
    async fn guard(&self, email_key: &str, now: OffsetDateTime) -> Result<Option<Guard>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(guard_key(email_key)))
            // A guard committed a moment ago must be seen: the write after it is conditioned on it.
            .consistent_read(true)
            .projection_expression("user_id, credential_id, verified, expires_at")
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else { return Ok(None) };
        let item = Read(&item);
        let user_id = item.uuid("user_id").ok_or_else(|| unreadable("user_id"))?;
        Ok(match item.state()? {
            UserState::Verified => Some(Guard::Verified { user_id }),
            UserState::Pending { expires_at } if live(expires_at, now) => Some(Guard::Pending {
                user_id,
                credential_id: item.uuid("credential_id").ok_or_else(|| unreadable("credential_id"))?,
            }),
            UserState::Pending { .. } => None,
        })
    }

    async fn create_pending(
        &self,
        user: &NewUser,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let created_at = rfc3339(user.created_at)?;
        let credential_id = s(user_events::first_credential(user.id).to_string());
        let pending = [
            ("verified".to_owned(), AttributeValue::Bool(false)),
            (EXPIRES_AT.to_owned(), seconds(expires_at)),
        ];
        let mut user_item = HashMap::from([
            ("pk".to_owned(), s(user_key(&user.id))),
            ("id".to_owned(), s(user.id.to_string())),
            ("name".to_owned(), s(&user.name)),
            ("email".to_owned(), s(&user.email)),
            ("email_key".to_owned(), s(&user.email_key)),
            ("password_hash".to_owned(), s(user.password_hash.expose())),
            ("credential_id".to_owned(), credential_id.clone()),
            ("created_at".to_owned(), created_at.clone()),
        ]);
        user_item.extend(pending.clone());
        let mut guard_item = HashMap::from([
            ("pk".to_owned(), s(guard_key(&user.email_key))),
            ("user_id".to_owned(), s(user.id.to_string())),
            ("credential_id".to_owned(), credential_id),
            ("created_at".to_owned(), created_at),
        ]);
        guard_item.extend(pending);
        // The order is the one `cancellation` reads the reasons in.
        let items = vec![
            self.put(user_item, "attribute_not_exists(pk)", Values::default())?,
            // Absent, or pending and expired (DynamoDB's TTL has not deleted it yet).
            self.put(
                guard_item,
                "attribute_not_exists(pk) OR (verified = :false AND expires_at <= :now)",
                Values::default()
                    .with(":false", AttributeValue::Bool(false))
                    .with(":now", seconds(now)),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[GUARD_ITEM]).await
    }

    async fn replace_credential(
        &self,
        credential: &NewCredential,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let values = || {
            Values::default()
                .with(":false", AttributeValue::Bool(false))
                .with(":now", seconds(now))
                .with(":credential", s(credential.credential_id.to_string()))
                .with(":expires", seconds(expires_at))
        };
        let items = vec![
            self.update(
                user_key(&credential.user_id),
                "SET #name = :name, email = :email, password_hash = :hash, credential_id = :credential, expires_at = :expires",
                "verified = :false AND expires_at > :now",
                Names::default().with("#name", "name"),
                values()
                    .with(":name", s(&credential.name))
                    .with(":email", s(&credential.email))
                    .with(":hash", s(credential.password_hash.expose())),
            )?,
            self.update(
                guard_key(&credential.email_key),
                "SET credential_id = :credential, expires_at = :expires",
                "user_id = :user AND verified = :false AND expires_at > :now",
                Names::default(),
                values().with(":user", s(credential.user_id.to_string())),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0, 1]).await
    }

    async fn record_for_verified(
        &self,
        email_key: &str,
        user_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(guard_key(email_key)))
            .condition_expression("user_id = :user AND (attribute_not_exists(verified) OR verified = :true)")
            .expression_attribute_values(":user", s(user_id.to_string()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(built)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0]).await
    }

    async fn record(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<(), StoreError> {
        self.transact(vec![self.outbox_put(event, now)?], &[]).await
    }

    async fn request_again(
        &self,
        user_id: Uuid,
        email_key: &str,
        credential_id: Uuid,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let values = || {
            Values::default()
                .with(":false", AttributeValue::Bool(false))
                .with(":now", seconds(now))
                .with(":credential", s(credential_id.to_string()))
                .with(":expires", seconds(expires_at))
        };
        let items = vec![
            self.update(
                user_key(&user_id),
                "SET expires_at = :expires",
                "verified = :false AND expires_at > :now AND credential_id = :credential",
                Names::default(),
                values(),
            )?,
            self.update(
                guard_key(email_key),
                "SET expires_at = :expires",
                "user_id = :user AND verified = :false AND expires_at > :now AND credential_id = :credential",
                Names::default(),
                values().with(":user", s(user_id.to_string())),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0, 1]).await
    }

    async fn user(&self, user_id: Uuid) -> Result<Option<StoredUser>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_key(&user_id)))
            .consistent_read(true)
            .projection_expression("id, #name, email, email_key, credential_id, created_at, verified, expires_at")
            .expression_attribute_names("#name", "name")
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|item| stored_user(user_id, &item)).transpose()
    }

    async fn verify(
        &self,
        user: &StoredUser,
        credential_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let values = || {
            Values::default()
                .with(":false", AttributeValue::Bool(false))
                .with(":true", AttributeValue::Bool(true))
        };
        let items = vec![
            self.update(
                user_key(&user.user.id),
                "SET verified = :true, verified_at = :at REMOVE expires_at",
                "verified = :false AND credential_id = :credential AND expires_at > :now",
                Names::default(),
                values()
                    .with(":at", rfc3339(now)?)
                    .with(":credential", s(credential_id.to_string()))
                    .with(":now", seconds(now)),
            )?,
            self.update(
                guard_key(&user.email_key),
                "SET verified = :true REMOVE expires_at",
                "user_id = :user AND verified = :false",
                Names::default(),
                values().with(":user", s(user.user.id.to_string())),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0, 1]).await
    }

    async fn credentials(&self, user_id: Uuid) -> Result<Option<Credentials>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_key(&user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else { return Ok(None) };
        let hash = Read(&item)
            .text("password_hash")
            .ok_or_else(|| unreadable("password_hash"))?
            .to_owned();
        Ok(Some(Credentials {
            user: stored_user(user_id, &item)?,
            password_hash: PasswordHash::new(hash),
        }))
    }

    async fn replace_hash(&self, user_id: Uuid, old: &PasswordHash, new: &PasswordHash) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(&user_id)))
            .update_expression("SET password_hash = :new")
            .condition_expression("password_hash = :old")
            .expression_attribute_values(":new", s(new.expose()))
            .expression_attribute_values(":old", s(old.expose()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::StateChanged)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(outbox_key(&event_id)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// Position of the email guard in the sign-up transaction (user, guard, outbox).
pub(super) const GUARD_ITEM: usize = 1;

#[cfg(test)]
mod tests {
    use super::*;

    /// Users stored before sign-ups were verified carry no `verified`: they keep their accounts.
    #[test]
    fn legacy_items_without_verified_read_as_verified() {
        let item = |attrs: &[(&str, AttributeValue)]| -> HashMap<String, AttributeValue> {
            attrs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
        };
        let at = AttributeValue::N("1893456000".into());
        assert_eq!(Read(&item(&[])).state(), Ok(UserState::Verified));
        assert_eq!(
            Read(&item(&[("verified", AttributeValue::Bool(true))])).state(),
            Ok(UserState::Verified)
        );
        assert_eq!(
            Read(&item(&[("verified", AttributeValue::Bool(false)), (EXPIRES_AT, at)])).state(),
            Ok(UserState::Pending {
                expires_at: OffsetDateTime::from_unix_timestamp(1893456000).unwrap()
            })
        );
        assert!(
            Read(&item(&[("verified", AttributeValue::Bool(false))]))
                .state()
                .is_err()
        );
    }
}
