//! Signing keys at rest: sealed with AES-256-GCM under a key-encryption key
//! (KEK) that never enters the database, given in `SCOPEGATE_KEY_ENCRYPTION_KEY`
//! (32 bytes, base64url) or in the file `SCOPEGATE_KEY_ENCRYPTION_KEY_FILE`
//! names. A sealed key is `SGK1 ‖ nonce ‖ ciphertext ‖ tag`, bound to its
//! `kid`; a key stored before a KEK was configured is plain PKCS#8 and is
//! sealed when a node next starts with the KEK.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

pub const KEK_ENV: &str = "SCOPEGATE_KEY_ENCRYPTION_KEY";
pub const KEK_FILE_ENV: &str = "SCOPEGATE_KEY_ENCRYPTION_KEY_FILE";
const MAGIC: &[u8; 4] = b"SGK1";

/// Why a KEK could not be read, or a key not opened.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SealingError(String);

/// The key-encryption key. Never printed.
pub struct KeyEncryptionKey(LessSafeKey);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// From 32 bytes written in base64url (padding and surrounding whitespace allowed).
    pub fn parse(text: &str, source: &str) -> Result<Self, SealingError> {
        let text = text.trim().trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| SealingError(format!("{source}: not base64url")))?;
        if bytes.len() != 32 {
            return Err(SealingError(format!(
                "{source}: {} bytes; a key-encryption key is 32 bytes (43 base64url characters)",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealingError(format!("{source}: unusable key")))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// The KEK the environment configures, if any.
    pub fn from_env() -> Result<Option<Self>, SealingError> {
        if let Ok(text) = std::env::var(KEK_ENV) {
            return Self::parse(&text, KEK_ENV).map(Some);
        }
        if let Some(path) = std::env::var_os(KEK_FILE_ENV) {
            return Self::from_file(std::path::Path::new(&path)).map(Some);
        }
        Ok(None)
    }

    /// The KEK in the file at `path`, which must be readable by its owner
    /// only: a key-encryption key others can read protects nothing.
    pub fn from_file(path: &std::path::Path) -> Result<Self, SealingError> {
        let named = || format!("{KEK_FILE_ENV}={}", path.display());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| SealingError(format!("{}: {e}", named())))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(SealingError(format!(
                    "{}: the file is open to other users (mode {:o}); make it readable by its owner only: chmod 600 {}",
                    named(),
                    mode & 0o777,
                    path.display()
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| SealingError(format!("{}: {e}", named())))?;
        Self::parse(&text, KEK_FILE_ENV)
    }

    /// A new random KEK, as `parse` reads it.
    pub fn generate() -> Result<String, SealingError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealingError("no randomness".into()))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Seals `plain` (a PKCS#8 key) for the key named `kid`.
    pub fn seal(&self, plain: &[u8], kid: &str) -> Result<Vec<u8>, SealingError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealingError("no randomness".into()))?;
        let mut sealed = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealingError("cannot seal a signing key".into()))?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`KeyEncryptionKey::seal`] made for `kid`.
    pub fn open(&self, sealed: &[u8], kid: &str) -> Result<Vec<u8>, SealingError> {
        let wrong = || {
            SealingError(format!(
                "signing key {kid}: cannot be opened with this key-encryption key"
            ))
        };
        let rest = sealed.strip_prefix(MAGIC).ok_or_else(wrong)?;
        if rest.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut body = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut body)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

/// Whether a stored key is sealed.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

/// A stored key's PKCS#8: opened with `kek` when sealed.
pub fn unseal(stored: &[u8], kid: &str, kek: Option<&KeyEncryptionKey>) -> Result<Vec<u8>, SealingError> {
    match (is_sealed(stored), kek) {
        (false, _) => Ok(stored.to_vec()),
        (true, Some(kek)) => kek.open(stored, kid),
        (true, None) => Err(SealingError(format!(
            "signing key {kid} is sealed: set {KEK_ENV} (or {KEK_FILE_ENV}) to its key-encryption key"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_key_encryption_key_file_open_to_other_users_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("scopegate-kek-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kek");
        std::fs::write(&path, KeyEncryptionKey::generate().unwrap()).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = KeyEncryptionKey::from_file(&path).unwrap_err().to_string();
            assert!(e.contains(&format!("open to other users (mode {mode:o})")), "{e}");
            assert!(e.contains("chmod 600"), "{e}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(KeyEncryptionKey::from_file(&path).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::parse(&KeyEncryptionKey::generate().unwrap(), "test").unwrap()
    }

    #[test]
    fn a_sealed_key_opens_with_its_kek_and_kid_only() {
        let (a, b) = (kek(), kek());
        let sealed = a.seal(b"pkcs8 bytes", "kid-1").unwrap();
        assert!(is_sealed(&sealed) && !sealed.windows(11).any(|w| w == b"pkcs8 bytes"));
        assert_eq!(a.open(&sealed, "kid-1").unwrap(), b"pkcs8 bytes");
        assert!(a.open(&sealed, "kid-2").is_err(), "bound to its kid");
        assert!(b.open(&sealed, "kid-1").is_err(), "another KEK");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(a.open(&tampered, "kid-1").is_err());
        assert!(
            unseal(&sealed, "kid-1", None)
                .unwrap_err()
                .to_string()
                .contains(KEK_ENV)
        );
        assert_eq!(unseal(b"plain", "kid-1", None).unwrap(), b"plain");
    }

    #[test]
    fn a_kek_is_32_bytes_of_base64url() {
        assert!(
            KeyEncryptionKey::parse("c2hvcnQ", "x")
                .unwrap_err()
                .to_string()
                .contains("32 bytes")
        );
        assert!(KeyEncryptionKey::parse("not base64!", "x").is_err());
        let text = KeyEncryptionKey::generate().unwrap();
        assert_eq!(text.len(), 43);
        assert!(KeyEncryptionKey::parse(&format!(" {text}=\n"), "x").is_ok());
        assert_eq!(format!("{:?}", kek()), "KeyEncryptionKey(..)");
    }
}
