//! Answers that carry, beside a record, what is shown only once: a new token's secret, an
//! invitation token when the server mails nothing, a generated PIN. The record's fields are
//! flattened into the answer, so a client reads the record as everywhere else and finds the
//! one-time value beside it.

use schemars::JsonSchema;
use serde::Serialize;

use crate::domain::secret::Secret;

/// A record and the secret of the credential it describes (an API token).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}WithToken")]
pub struct WithToken<T> {
    #[serde(flatten)]
    pub record: T,
    /// The token itself. Only this answer shows it; the server keeps a hash.
    pub token: String,
}

impl<T> WithToken<T> {
    pub fn new(record: T, secret: &Secret) -> Self {
        Self {
            record,
            token: secret.expose().to_owned(),
        }
    }
}

/// A record made or renewed with an invitation, and where the invitation's token went.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Invited{T}")]
pub struct Invited<T> {
    #[serde(flatten)]
    pub record: T,
    /// The invitation's token, answered to the caller only when the server sends no e-mail
    /// (no `[smtp]`): the caller passes it on to the invitee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
    /// `true` when the token went to the invitee by e-mail and is in no answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub invitation_mailed: bool,
    /// A PIN the server generated for the member (`auto_pin`); only this answer shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

impl<T> Invited<T> {
    /// `token` is `None` when the invitation was mailed (or none was made: `mailed` false).
    pub fn new(record: T, token: Option<&Secret>, mailed: bool) -> Self {
        Self {
            record,
            invitation_token: token.map(|t| t.expose().to_owned()),
            invitation_mailed: mailed,
            pin: None,
        }
    }
}
