//! The memory store's [`UserStore`]: users and their guards, each change checked against the
//! state it was read in, as the table's transactions are.

use super::{MemoryStore, MemoryUser, key_of};
use crate::outbox::StoredEvent;
use crate::users::{
    Credentials, Guard, NewCredential, NewUser, PasswordHash, StoreError, StoredUser, UserState, UserStore, live,
};
use std::sync::atomic::Ordering;
use time::OffsetDateTime;
use uuid::Uuid;

impl MemoryStore {
    /// What the guard of `email_key` says at `now` (not counted as a read).
    fn guard_at(&self, email_key: &str, now: OffsetDateTime) -> Option<Guard> {
        self.user_of(email_key).and_then(|user| match user.stored.state {
            UserState::Verified => Some(Guard::Verified {
                user_id: user.stored.user.id,
            }),
            UserState::Pending { expires_at } if live(expires_at, now) => Some(Guard::Pending {
                user_id: user.stored.user.id,
                credential_id: user.stored.credential_id,
            }),
            UserState::Pending { .. } => None,
        })
    }
}

impl UserStore for MemoryStore {
    async fn guard(&self, email_key: &str, now: OffsetDateTime) -> Result<Option<Guard>, StoreError> {
        self.guard_checks.fetch_add(1, Ordering::SeqCst);
        Ok(self.guard_at(email_key, now))
    }

    async fn create_pending(
        &self,
        user: &NewUser,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if self.guard_at(&user.email_key, now).is_some() {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        let stored = StoredUser {
            user: user.public(),
            email_key: user.email_key.clone(),
            credential_id: user_events::first_credential(user.id),
            state: UserState::Pending { expires_at },
        };
        let password_hash = user.password_hash.expose().to_owned();
        self.users
            .lock()
            .unwrap()
            .insert(user.id, MemoryUser { stored, password_hash });
        self.guards.lock().unwrap().insert(user.email_key.clone(), user.id);
        Ok(())
    }

    async fn replace_credential(
        &self,
        credential: &NewCredential,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let current = self.user_of(&credential.email_key);
        if !current.is_some_and(|u| u.stored.user.id == credential.user_id && Self::live_pending(&u, now)) {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        let mut users = self.users.lock().unwrap();
        let user = users.get_mut(&credential.user_id).unwrap();
        user.stored.user.name = credential.name.clone();
        user.stored.user.email = credential.email.clone();
        user.stored.credential_id = credential.credential_id;
        user.stored.state = UserState::Pending { expires_at };
        user.password_hash = credential.password_hash.expose().to_owned();
        Ok(())
    }

    async fn record_for_verified(
        &self,
        email_key: &str,
        user_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let verified = self
            .user_of(email_key)
            .is_some_and(|u| u.stored.user.id == user_id && u.stored.state == UserState::Verified);
        if !verified {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)
    }

    async fn record(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<(), StoreError> {
        self.write(event, now)
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
        let current = self.user_of(email_key);
        let still = current.is_some_and(|u| {
            u.stored.user.id == user_id && u.stored.credential_id == credential_id && Self::live_pending(&u, now)
        });
        if !still {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        self.users.lock().unwrap().get_mut(&user_id).unwrap().stored.state = UserState::Pending { expires_at };
        Ok(())
    }

    async fn user(&self, user_id: Uuid) -> Result<Option<StoredUser>, StoreError> {
        Ok(self.users.lock().unwrap().get(&user_id).map(|u| u.stored.clone()))
    }

    async fn verify(
        &self,
        user: &StoredUser,
        credential_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let current = self.users.lock().unwrap().get(&user.user.id).cloned();
        let guarded = self.guards.lock().unwrap().get(&user.email_key) == Some(&user.user.id);
        let still = current.is_some_and(|u| Self::live_pending(&u, now) && u.stored.credential_id == credential_id);
        if !(still && guarded) {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        self.users.lock().unwrap().get_mut(&user.user.id).unwrap().stored.state = UserState::Verified;
        Ok(())
    }

    async fn credentials(&self, user_id: Uuid) -> Result<Option<Credentials>, StoreError> {
        Ok(self.users.lock().unwrap().get(&user_id).map(|u| Credentials {
            user: u.stored.clone(),
            password_hash: PasswordHash::new(u.password_hash.clone()),
        }))
    }

    async fn replace_hash(&self, user_id: Uuid, old: &PasswordHash, new: &PasswordHash) -> Result<(), StoreError> {
        let mut users = self.users.lock().unwrap();
        match users.get_mut(&user_id) {
            Some(user) if user.password_hash == old.expose() => {
                user.password_hash = new.expose().to_owned();
                Ok(())
            }
            _ => Err(StoreError::StateChanged),
        }
    }

    async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
        self.published.lock().unwrap().insert(key_of(event_id));
        Ok(())
    }
}
