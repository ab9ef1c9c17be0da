//! API tokens and their indexes: the digest (a token names one record) and each user's tokens.

use crate::domain::credential::ApiToken;
use crate::domain::ids::{TokenId, UserId};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    /// Stores a new token, listed under its user (the operator's has none).
    pub fn insert_token(&self, token: &ApiToken) -> Result<(), StorageError> {
        self.put(tables::TOKENS, token.id.key(), token)?;
        self.insert_unique(tables::TOKEN_BY_HASH, &token.digest, token.id.key())?;
        if let Some(user) = token.user_id {
            self.add_child(tables::USER_TOKENS, user.key(), token.id.key())?;
        }
        Ok(())
    }

    /// Stores a token's new state (its revocation).
    pub fn put_token(&self, token: &ApiToken) -> Result<(), StorageError> {
        self.put(tables::TOKENS, token.id.key(), token)
    }

    /// Removes one token (an ended sign-in session): its digest names nothing any more.
    pub fn delete_token(&self, token: &ApiToken) -> Result<(), StorageError> {
        self.remove_unique(tables::TOKEN_BY_HASH, &token.digest)?;
        if let Some(user) = token.user_id {
            self.remove_child(tables::USER_TOKENS, user.key(), token.id.key())?;
        }
        self.delete(tables::TOKENS, token.id.key())
    }

    /// Removes every token of `user`: their digests name nothing any more.
    pub fn delete_tokens_of(&self, user: UserId) -> Result<(), StorageError> {
        let view = self.view();
        for id in view.tokens_of(user)? {
            if let Some(token) = view.token(id)? {
                self.remove_unique(tables::TOKEN_BY_HASH, &token.digest)?;
                self.delete(tables::TOKENS, id.key())?;
            }
        }
        self.remove_children(tables::USER_TOKENS, user.key())
    }
}

impl View<'_> {
    pub fn token(&self, id: TokenId) -> Result<Option<ApiToken>, StorageError> {
        self.record(tables::TOKENS, id.key())
    }

    /// The token whose secret has this digest (the caller compares digests in constant time).
    pub fn token_by_digest(&self, digest: &str) -> Result<Option<ApiToken>, StorageError> {
        match self.unique(tables::TOKEN_BY_HASH, digest)? {
            Some(id) => self.recurring_record(tables::TOKENS, id),
            None => Ok(None),
        }
    }

    /// Every token issued to `user`, revoked ones included, in creation order.
    pub fn tokens_of(&self, user: UserId) -> Result<Vec<TokenId>, StorageError> {
        super::ids(self, tables::USER_TOKENS, user.key(), TokenId::from_key)
    }

    /// Up to `limit` tokens after `after`, in id (creation) order.
    pub fn all_tokens(
        &self,
        after: Option<TokenId>,
        limit: usize,
    ) -> Result<Vec<ApiToken>, StorageError> {
        super::all(self, tables::TOKENS, after.map(TokenId::key), limit)
    }
}
