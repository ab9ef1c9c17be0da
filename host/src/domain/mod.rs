//! The domain: records, their rules and validation. No HTTP, no redb, no policy engine.

pub mod change_request;
pub mod clock;
pub mod credential;
pub mod ids;
pub mod journal;
pub mod link;
pub mod mail;
pub mod member;
pub mod org;
pub mod password;
pub mod plan;
pub mod privilege;
pub mod remote_support;
pub mod resource;
pub mod rfc3339;
pub mod secret;
pub mod share;
pub mod text;
pub mod webhook;
