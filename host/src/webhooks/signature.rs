//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): what a receiver checks.
//!
//! The secret is `whsec_` followed by the base64 of 32 random bytes; the key is those bytes.
//! Each request carries `webhook-id` (the event's id: the same on every retry),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: `v1,` followed by
//! the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`. Receivers verify it with the
//! Standard Webhooks libraries (`standardwebhooks` for JavaScript, Python, Go, Rust, ...,
//! `svix` too) and reject timestamps more than five minutes off their clock.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";
const KEY_BYTES: usize = 32;

/// A new secret, as shown once to whoever creates the endpoint.
pub fn new_secret() -> Result<String, String> {
    let mut key = [0_u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The `webhook-signature` header's value for one attempt.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|k| STANDARD.decode(k).ok())
        .ok_or("not a webhook secret")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| format!("signing key: {e}"))?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification, signed the way its reference
    /// libraries sign it.
    #[test]
    fn signs_the_specifications_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_new_secret_is_32_random_bytes() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        let key = STANDARD
            .decode(a.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
    }
}
