//! Secrets handed to clients (API tokens, invitation tokens, PINs) and how they are stored.
//!
//! Tokens carry 256 random bits and are stored as SHA-256 digests: a fast hash is enough for
//! a secret that cannot be guessed. PINs have only 4-8 digits, so they get a per-user salt and
//! PBKDF2 with many rounds to make an offline search of a stolen file expensive.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// PBKDF2 rounds for PINs: enough to slow an offline search, low enough that a bulk import of
/// 10,000 rows with generated PINs finishes in seconds. A PIN is only as strong as the online
/// rate limit in front of it.
const PIN_ROUNDS: u32 = 10_000;

/// A secret shown to its owner exactly once. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Policy(format!("no randomness available: {e}")))?;
    Ok(bytes)
}

/// A new bearer secret: `prefix` + 64 hex digits (256 bits).
pub fn new_token(prefix: &str) -> Result<Secret> {
    Ok(Secret(format!(
        "{prefix}{}",
        hex::encode(random_bytes::<32>()?)
    )))
}

/// The stored form of a token: hex SHA-256.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two digests.
pub fn digests_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A PIN of 4 to 8 digits?
pub fn pin_problem(pin: &str) -> Option<String> {
    let ok = (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit());
    (!ok).then(|| "must be 4 to 8 digits".to_owned())
}

/// A random 6-digit PIN.
pub fn new_pin() -> Result<Secret> {
    let n = u32::from_le_bytes(random_bytes::<4>()?) % 1_000_000;
    Ok(Secret(format!("{n:06}")))
}

pub fn hash_pin(pin: &str) -> Result<String> {
    let salt = random_bytes::<16>()?;
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), &salt, PIN_ROUNDS, &mut out);
    Ok(format!(
        "pbkdf2-sha256${PIN_ROUNDS}${}${}",
        hex::encode(salt),
        hex::encode(out)
    ))
}

pub fn verify_pin(pin: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(rounds), Some(salt), Some(hash)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(rounds), Ok(salt)) = (rounds.parse::<u32>(), hex::decode(salt)) else {
        return false;
    };
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), &salt, rounds, &mut out);
    digests_match(&hex::encode(out), hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token("tnt_").unwrap();
        let b = new_token("tnt_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 4 + 64);
        assert_ne!(token_digest(a.expose()), a.expose());
        assert!(digests_match(
            &token_digest(a.expose()),
            &token_digest(a.expose())
        ));
        assert!(!digests_match(
            &token_digest(a.expose()),
            &token_digest(b.expose())
        ));
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }

    #[test]
    fn pins() {
        assert!(pin_problem("1234").is_none());
        assert!(pin_problem("12345678").is_none());
        assert!(pin_problem("123").is_some());
        assert!(pin_problem("123456789").is_some());
        assert!(pin_problem("12a4").is_some());
        let stored = hash_pin("4711").unwrap();
        assert!(verify_pin("4711", &stored));
        assert!(!verify_pin("4712", &stored));
        assert!(!stored.contains("4711"));
        assert!(pin_problem(new_pin().unwrap().expose()).is_none());
    }
}
