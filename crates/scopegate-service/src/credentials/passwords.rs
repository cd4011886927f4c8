//! User passwords: Argon2id (the only slow hash in scopegate; our own random
//! secrets use SHA-256, see [`super::secrets`]).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;

/// The PHC string for `password`, or why it cannot be used.
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("the password must be at least {MIN_LEN} characters"));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the stored PHC string (constant time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(hash_password("short").is_err());
    }
}
