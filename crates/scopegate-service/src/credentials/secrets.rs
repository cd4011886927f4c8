//! Secrets we generate (tokens, client secrets): 256 random bits, shown once,
//! stored only as SHA-256. They are random, so a fast hash is right: no slow
//! password hash per request (user passwords are the only Argon2 case).
//!
//! Secrets stored one row each at request rate (access and refresh tokens,
//! codes, sessions) lead with a 64-bit time-ordered id, and their stored key is
//! that id followed by the SHA-256 of the whole secret. New rows then land at
//! the right edge of the table's B-tree: a batch of issuances dirties a few
//! pages instead of one random page per token, which is most of what a SQLite
//! commit costs. The id is not secret (it says when, to the millisecond, the
//! value was made, as a JWT's `iat` does); the 256 random bits after it are.
//! Values made before this scheme (32 random bytes, no id) keep their plain
//! SHA-256 key and stay valid.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// A secret shown once, with the id that names it afterwards.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSecret {
    pub id: String,
    pub secret: String,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a secret is for; its prefix makes leaked values recognizable to
/// secret scanners and to people.
#[derive(Clone, Copy, Debug)]
pub enum SecretKind {
    AccessToken,
    RefreshToken,
    ClientSecret,
    ClientId,
    /// An app's id (its key sets share it).
    AppId,
    /// A grant: every token one authorization (or client credentials
    /// request) leads to, revoked together.
    GrantId,
    /// A JWT's `jti`.
    TokenId,
    /// A bearer token of the admin API.
    AdminToken,
    /// An admin token's public id.
    AdminTokenId,
    /// A client secret's public id.
    ClientSecretId,
    /// A scope request's id.
    ScopeRequestId,
    Code,
    Session,
    Csrf,
    /// A login delegation's `login_challenge`.
    LoginChallenge,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::AccessToken => "sgat_",
            SecretKind::RefreshToken => "sgrt_",
            SecretKind::ClientSecret => "sgcs_",
            SecretKind::ClientId => "sgci_",
            SecretKind::AppId => "app_",
            SecretKind::GrantId => "sggr_",
            SecretKind::TokenId => "sgti_",
            SecretKind::AdminToken => "sgadm_",
            SecretKind::AdminTokenId => "sgai_",
            SecretKind::ClientSecretId => "sgsi_",
            SecretKind::ScopeRequestId => "sgsr_",
            SecretKind::Code => "sgac_",
            SecretKind::Session => "sgss_",
            SecretKind::Csrf => "sgcf_",
            SecretKind::LoginChallenge => "sglc_",
        }
    }

    /// Stored by key, one row per value, at request rate.
    fn time_ordered(self) -> bool {
        matches!(
            self,
            SecretKind::AccessToken | SecretKind::RefreshToken | SecretKind::Code | SecretKind::Session
        )
    }
}

/// Random bytes after a time-ordered secret's id.
const RANDOM_LEN: usize = 32;
/// Length of the base64url body of a time-ordered secret: 8 + 32 bytes.
const ORDERED_BODY_LEN: usize = 54;

/// Milliseconds since the epoch in the high 48 bits, 16 random bits below
/// (so two nodes issuing in the same millisecond still interleave cheaply).
fn time_ordered_id() -> [u8; 8] {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ((ms << 16) | u64::from(rand::random::<u16>())).to_be_bytes()
}

/// Whether `value` has the shape of a stored scopegate token (`sg??_` and a
/// base64url body as [`generate`] makes them, or as earlier versions made
/// them): anything else is no token of ours, known without asking the store.
pub fn could_be_stored_token(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() > 5
        && b.starts_with(b"sg")
        && b[2..4].iter().all(u8::is_ascii_lowercase)
        && b[4] == b'_'
        && (43..=ORDERED_BODY_LEN).contains(&(b.len() - 5))
        && b[5..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// A fresh random value with its kind's prefix.
pub fn generate(kind: SecretKind) -> String {
    let random: [u8; RANDOM_LEN] = rand::random();
    match kind {
        k if k.time_ordered() => {
            let mut body = [0u8; 8 + RANDOM_LEN];
            body[..8].copy_from_slice(&time_ordered_id());
            body[8..].copy_from_slice(&random);
            format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(body))
        }
        // A grant's id is indexed too, so it also leads with the time, in hex
        // to keep text order; 80 random bits make it unique, not secret.
        // Secret and request ids lead with it so that lists sort by creation.
        SecretKind::GrantId | SecretKind::TokenId | SecretKind::ClientSecretId | SecretKind::ScopeRequestId => format!(
            "{}{}{}",
            kind.prefix(),
            hex_lower(&time_ordered_id()),
            URL_SAFE_NO_PAD.encode(&random[..10])
        ),
        SecretKind::ClientId | SecretKind::AppId | SecretKind::AdminTokenId => {
            format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(&random[..16]))
        }
        _ => format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(random)),
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The time-ordered id a presented secret leads with, if it has the shape of
/// one of ours that does.
fn ordered_id(secret: &str) -> Option<[u8; 8]> {
    let body = [
        SecretKind::AccessToken,
        SecretKind::RefreshToken,
        SecretKind::Code,
        SecretKind::Session,
    ]
    .iter()
    .find_map(|k| secret.strip_prefix(k.prefix()))?;
    if body.len() != ORDERED_BODY_LEN {
        return None;
    }
    // 12 base64 characters are exactly 9 bytes; the id is the first 8.
    let mut head = [0u8; 9];
    URL_SAFE_NO_PAD.decode_slice(&body.as_bytes()[..12], &mut head).ok()?;
    let mut id = [0u8; 8];
    id.copy_from_slice(&head[..8]);
    Some(id)
}

/// The stored key of a secret: its SHA-256, led by its time-ordered id when it
/// has one (see the module comment).
pub fn hash(secret: &str) -> Vec<u8> {
    let digest = Sha256::digest(secret.as_bytes());
    match ordered_id(secret) {
        Some(id) => {
            let mut key = Vec::with_capacity(8 + digest.len());
            key.extend_from_slice(&id);
            key.extend_from_slice(&digest);
            key
        }
        None => digest.to_vec(),
    }
}

/// Whether `presented` hashes to `stored`, in constant time.
pub fn verify(presented: &str, stored: &[u8]) -> bool {
    hash(presented).ct_eq(stored).into()
}

/// A fresh client secret, and the record the store keeps of it.
pub fn new_client_secret(now: i64, expires_at: Option<i64>) -> (String, scopegate_store::ClientSecret) {
    let secret = generate(SecretKind::ClientSecret);
    let record = scopegate_store::ClientSecret {
        id: generate(SecretKind::ClientSecretId),
        hash: hash(&secret),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    (secret, record)
}

/// Whether `presented` is one of a key set's secrets active at `now`. Every
/// active secret is compared, in constant time each, so the answer's timing
/// says nothing about which one matched.
pub fn verify_client_secret(presented: &str, client: &scopegate_store::KeySetRecord, now: i64) -> bool {
    matching_client_secret(presented, client, now).is_some()
}

/// Which of a key set's secrets active at `now` `presented` is, if any.
/// Every active secret is compared, in constant time each, and the match is
/// chosen without a branch, as in [`verify_client_secret`].
pub fn matching_client_secret<'a>(
    presented: &str,
    client: &'a scopegate_store::KeySetRecord,
    now: i64,
) -> Option<&'a scopegate_store::ClientSecret> {
    use subtle::ConditionallySelectable;
    let presented = hash(presented);
    let (found, index) =
        client
            .secrets
            .iter()
            .enumerate()
            .fold((subtle::Choice::from(0), 0u32), |(found, index), (i, s)| {
                let hit = presented.ct_eq(&s.hash) & subtle::Choice::from(u8::from(s.is_active(now)));
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                (found | hit, u32::conditional_select(&index, &i, hit))
            });
    bool::from(found).then(|| client.secrets.get(index as usize)).flatten()
}

/// The PKCE S256 challenge for `verifier` (RFC 7636 section 4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Constant-time equality of two presented strings (CSRF tokens, challenges).
pub fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// Whether two byte strings are equal, in constant time for equal lengths.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_matching_secret_is_the_active_one_presented() {
        let (first, a) = new_client_secret(100, None);
        let (second, b) = new_client_secret(100, Some(500));
        let (revoked, mut c) = new_client_secret(100, None);
        c.revoked_at = Some(200);
        let client = scopegate_store::KeySetRecord {
            client_id: "sgci_x".into(),
            app_id: "app_x".into(),
            app_name: "X".into(),
            owner: None,
            environment: "production".into(),
            secrets: vec![a.clone(), b.clone(), c],
            public: false,
            resource_server: false,
            scopes: Vec::new(),
            default_scopes: Vec::new(),
            redirect_uris: Vec::new(),
            created_at: 100,
            tokens_revoked_before: None,
            registration: Default::default(),
        };
        let id = |presented: &str, now| matching_client_secret(presented, &client, now).map(|s| s.id.clone());
        assert_eq!(id(&first, 300), Some(a.id));
        assert_eq!(id(&second, 300), Some(b.id));
        assert_eq!(id(&second, 500), None, "expired");
        assert_eq!(id(&revoked, 300), None, "revoked");
        assert_eq!(id("sgcs_wrong", 300), None);
        assert!(verify_client_secret(&first, &client, 300) && !verify_client_secret(&revoked, &client, 300));
    }

    #[test]
    fn only_values_shaped_like_our_tokens_could_be_stored_tokens() {
        for kind in [SecretKind::AccessToken, SecretKind::RefreshToken, SecretKind::Code] {
            assert!(could_be_stored_token(&generate(kind)));
        }
        for garbage in [
            "",
            "sgat_",
            "sgat_x",
            "sgat_unknown",
            "hello world",
            "Bearer",
            &"a".repeat(80),
        ] {
            assert!(!could_be_stored_token(garbage), "{garbage}");
        }
        assert!(!could_be_stored_token(&format!("sgat_{}", "a".repeat(55))));
        assert!(!could_be_stored_token(&format!("sgat_{}!", "a".repeat(50))));
    }

    #[test]
    fn stored_tokens_are_keyed_in_issuance_order() {
        let first = hash(&generate(SecretKind::AccessToken));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = hash(&generate(SecretKind::AccessToken));
        assert_eq!(first.len(), 40);
        assert!(first < second, "a later token sorts after an earlier one");
    }

    #[test]
    fn grant_secret_and_request_ids_sort_in_issuance_order_as_text() {
        for kind in [
            SecretKind::GrantId,
            SecretKind::ClientSecretId,
            SecretKind::ScopeRequestId,
        ] {
            let first = generate(kind);
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert!(first < generate(kind), "{kind:?}");
        }
    }

    #[test]
    fn the_key_covers_the_whole_secret_not_only_its_id() {
        let token = generate(SecretKind::RefreshToken);
        let mut forged = token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(hash(&token)[..8], hash(&forged)[..8]);
        assert_ne!(hash(&token), hash(&forged));
        assert!(verify(&token, &hash(&token)));
        assert!(!verify(&forged, &hash(&token)));
    }

    #[test]
    fn secrets_without_an_id_keep_their_plain_sha256_key() {
        let legacy = format!("sgat_{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert_eq!(hash(&legacy), Sha256::digest(legacy.as_bytes()).to_vec());
        let client_secret = generate(SecretKind::ClientSecret);
        assert_eq!(hash(&client_secret).len(), 32);
        assert_eq!(hash("not ours at all").len(), 32);
    }
}
