//! Users and their e-mail index: an address (compared without case) names at most one user.

use crate::domain::ids::UserId;
use crate::domain::member::User;
use crate::storage::{StorageError, Tx, View, tables};

fn email_key(email: &str) -> String {
    email.to_lowercase()
}

impl Tx<'_> {
    /// Stores a new user; its address must be no other user's.
    pub fn insert_user(&self, user: &User) -> Result<(), StorageError> {
        if let Some(email) = &user.email {
            self.claim_email(user.id, email)?;
        }
        self.put(tables::USERS, user.id.key(), user)
    }

    /// Stores a changed user, moving its address in the index when it changed (the new one
    /// must be no other user's; an erased user's address is free again).
    pub fn update_user(&self, old: &User, new: &User) -> Result<(), StorageError> {
        debug_assert_eq!(old.id, new.id);
        let (before, after) = (
            old.email.as_deref().map(email_key),
            new.email.as_deref().map(email_key),
        );
        if before != after {
            if let Some(email) = &new.email {
                self.claim_email(new.id, email)?;
            }
            if let Some(before) = &before {
                self.remove_unique(tables::USER_BY_EMAIL, before)?;
            }
        }
        self.put(tables::USERS, new.id.key(), new)
    }

    fn claim_email(&self, user: UserId, email: &str) -> Result<(), StorageError> {
        let key = email_key(email);
        match self.view().unique(tables::USER_BY_EMAIL, &key)? {
            Some(other) if other != user.key() => Err(StorageError::Duplicate(format!(
                "`{email}` is another account's address"
            ))),
            Some(_) => Ok(()),
            None => self.set_unique(tables::USER_BY_EMAIL, &key, user.key()),
        }
    }
}

impl View<'_> {
    pub fn user(&self, id: UserId) -> Result<Option<User>, StorageError> {
        self.record(tables::USERS, id.key())
    }

    /// The user at this address, whatever its case.
    pub fn user_by_email(&self, email: &str) -> Result<Option<UserId>, StorageError> {
        Ok(self
            .unique(tables::USER_BY_EMAIL, &email_key(email))?
            .map(UserId::from_key))
    }
}
