//! Portal users' passwords: what one must be, and its stored form (argon2id, in the PHC string
//! format, so the parameters travel with the hash and can be raised later without a migration).
//!
//! Only portal users have one: DESIGN gives login-less users PINs and no sign-in. A password is
//! set when its user claims their identity by accepting an invitation, and changed by its owner.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use super::secret::random_bytes;
use crate::error::{Error, Result};

/// Shorter passwords fall to guessing; NIST SP 800-63B asks for at least 8 where a second
/// factor is missing, and a portal that approves remote access to a customer asks for more.
pub const MIN_CHARS: usize = 12;
/// Longer ones buy nothing and make every hash cost more to the server.
pub const MAX_BYTES: usize = 128;

/// Why `password` may not be used, if it may not.
pub fn problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_CHARS {
        return Some(format!("must be at least {MIN_CHARS} characters"));
    }
    if password.len() > MAX_BYTES {
        return Some(format!("must be at most {MAX_BYTES} bytes"));
    }
    if password.trim().is_empty() || password.chars().any(char::is_control) {
        return Some("must be printable text, not only spaces".to_owned());
    }
    None
}

/// The stored form of `password`: argon2id with the parameters OWASP recommends (19 MiB, two
/// passes, one lane) and a random 16-byte salt. About 30 ms of one core: callers run it off the
/// request's thread.
pub fn hash(password: &str) -> Result<String> {
    let salt = random_bytes::<16>()?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Setup(format!("hashing a password: {e}")))
}

/// Whether `password` is the one `stored` was made from. The comparison of the outputs is
/// constant-time (argon2's own).
pub fn verify(stored: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// A stored form no password matches, verified in place of a missing one, so a sign-in as an
/// unknown address costs the server (and the caller's wait) what a wrong password costs.
pub fn stand_in() -> &'static str {
    static STAND_IN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        hash("a stand-in nobody signs in with").unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$c3RhbmRpbnNhbHQ$c3RhbmRpbmhhc2hjM3RoYW5kaW4".into()
        })
    });
    &STAND_IN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_checked_against_its_hash_and_nothing_else() {
        let stored = hash("correct horse battery").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify(&stored, "correct horse battery"));
        assert!(!verify(&stored, "correct horse batterY"));
        assert!(!verify("not a hash", "correct horse battery"));
        assert_ne!(hash("correct horse battery").unwrap(), stored, "salted");
        assert!(!verify(stand_in(), "a stand-in nobody signs in with!"));
    }

    #[test]
    fn rules_are_told_at_their_edges() {
        assert!(problem(&"a".repeat(MIN_CHARS - 1)).is_some());
        assert_eq!(problem(&"a".repeat(MIN_CHARS)), None);
        assert_eq!(
            problem(&"é".repeat(MIN_CHARS)),
            None,
            "characters, not bytes"
        );
        assert_eq!(problem(&"a".repeat(MAX_BYTES)), None);
        assert!(problem(&"a".repeat(MAX_BYTES + 1)).is_some());
        assert!(problem(&" ".repeat(MIN_CHARS)).is_some());
        assert!(problem("twelve chars\u{0}!").is_some());
    }
}
