//! The server's own secret: 32 random bytes in a file beside (not inside) the database.
//!
//! Two things the database holds must not be trusted or readable by whoever holds a copy of the
//! file (a backup, a stolen disk image, a restored file from elsewhere):
//! - compiled plugin artifacts are native code that wasmtime loads without validating; each
//!   carries a MAC under this key, so an artifact that this server did not write is compiled
//!   again from its component instead of loaded;
//! - idempotent answers replay one-time secrets (invitation tokens, PINs, API tokens); they
//!   are stored sealed (ChaCha20-Poly1305) under this key.
//!
//! A key per purpose is derived with HMAC-SHA256, so one purpose's tags never verify as
//! another's. `tenantry backup` copies the database only: a server restored elsewhere makes a
//! new key, recompiles its plugins once, and cannot replay sealed answers (it says so).

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

const KEY_BYTES: usize = 32;
/// The length of a [`tag`](ServerKey::tag).
pub const TAG_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// What a derived key is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    ArtifactTag,
    SealedAnswer,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::ArtifactTag => b"tenantry artifact tag v1",
            Self::SealedAnswer => b"tenantry sealed answer v1",
        }
    }
}

#[derive(Clone)]
pub struct ServerKey {
    key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(<secret>)")
    }
}

fn key_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Setup(format!("server key `{}`: {what}", path.display()))
}

impl ServerKey {
    /// Reads the key at `path`, or creates it (mode 0600) when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; KEY_BYTES] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| key_error(path, format!("must hold exactly {KEY_BYTES} bytes")))?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(key_error(path, e)),
        }
    }

    fn create(path: &Path) -> Result<Self> {
        let mut key = [0_u8; KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| key_error(path, e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| key_error(path, e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| key_error(path, e))?;
        file.write_all(&key).map_err(|e| key_error(path, e))?;
        file.sync_all().map_err(|e| key_error(path, e))?;
        Ok(Self { key })
    }

    /// A key for tests that need no file.
    pub fn ephemeral() -> Result<Self> {
        let mut key = [0_u8; KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| Error::Setup(format!("no randomness: {e}")))?;
        Ok(Self { key })
    }

    fn derived(&self, purpose: Purpose) -> [u8; KEY_BYTES] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(purpose.label());
        mac.finalize().into_bytes().into()
    }

    fn mac(&self, purpose: Purpose, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.derived(purpose))
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac
    }

    /// A tag over `parts`.
    pub fn tag(&self, purpose: Purpose, parts: &[&[u8]]) -> [u8; TAG_BYTES] {
        self.mac(purpose, parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is this server's tag over `parts` (constant time).
    pub fn verify(&self, purpose: Purpose, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(purpose, parts).verify_slice(tag).is_ok()
    }

    /// Encrypts and authenticates `plain`, bound to `context` (which must be given again to
    /// open it): nonce, then ciphertext and tag.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let cipher = ChaCha20Poly1305::new(&self.derived(Purpose::SealedAnswer).into());
        let mut nonce = [0_u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| Error::Setup(format!("no randomness: {e}")))?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| Error::Setup("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plain text of what [`seal`](Self::seal) made with this key and `context`; `None`
    /// for another key, another context or altered bytes.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, body) = sealed.split_at_checked(NONCE_BYTES)?;
        let cipher = ChaCha20Poly1305::new(&self.derived(Purpose::SealedAnswer).into());
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key");
        let first = ServerKey::load_or_create(&path).unwrap();
        let again = ServerKey::load_or_create(&path).unwrap();
        let tag = first.tag(Purpose::ArtifactTag, &[b"abc"]);
        assert!(again.verify(Purpose::ArtifactTag, &[b"abc"], &tag));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(ServerKey::load_or_create(&path).is_err());
    }

    #[test]
    fn tags_depend_on_key_purpose_and_every_part() {
        let key = ServerKey::ephemeral().unwrap();
        let other = ServerKey::ephemeral().unwrap();
        let tag = key.tag(Purpose::ArtifactTag, &[b"ab", b"c"]);
        assert!(key.verify(Purpose::ArtifactTag, &[b"ab", b"c"], &tag));
        assert!(!key.verify(Purpose::ArtifactTag, &[b"a", b"bc"], &tag));
        assert!(!key.verify(Purpose::SealedAnswer, &[b"ab", b"c"], &tag));
        assert!(!other.verify(Purpose::ArtifactTag, &[b"ab", b"c"], &tag));
    }

    #[test]
    fn sealed_text_opens_only_with_its_key_and_context() {
        let key = ServerKey::ephemeral().unwrap();
        let sealed = key.seal(b"ctx", b"tnt_secret").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"tnt_secret"));
        assert_eq!(key.open(b"ctx", &sealed).unwrap(), b"tnt_secret");
        assert!(key.open(b"other", &sealed).is_none());
        assert!(
            ServerKey::ephemeral()
                .unwrap()
                .open(b"ctx", &sealed)
                .is_none()
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(b"ctx", &altered).is_none());
    }
}
