//! The token endpoint's rules for what a client presents back to it, as pure
//! decisions: an authorization code (RFC 6749 section 4.1.3, RFC 7636
//! section 4.6) and a refresh token (RFC 6749 section 6, RFC 9700 section
//! 4.14). The handler loads the stored grant, asks here, and persists what
//! follows; a refusal says whether it also revokes the whole grant.

use crate::oauth::{ErrorCode, OAuthError};

/// An authorization code as the store holds it, taken by this redemption.
#[derive(Clone, Copy, Debug)]
pub struct StoredCode<'a> {
    pub client_id: &'a str,
    pub expires_at: i64,
    pub redirect_uri: &'a str,
    /// Whether the authorization request named its `redirect_uri`.
    pub redirect_sent: bool,
    pub code_challenge: Option<&'a str>,
    /// This redemption is the first: the store marked the code used just now.
    pub first_use: bool,
}

/// What the client sent with the code. Its `Debug` never shows the verifier.
#[derive(Clone, Copy)]
pub struct PresentedCode<'a> {
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

impl std::fmt::Debug for PresentedCode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedCode")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &self.code_verifier.map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a code or a refresh token is not redeemed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RedeemRefusal {
    /// No such code or refresh token (or not a refresh token).
    Unknown,
    /// Issued to another client: never redeemed, never revealing more.
    OtherClient,
    /// Already redeemed once: a replay, which revokes every token of the grant.
    Replayed,
    Expired,
    RedirectMismatch,
    VerifierMismatch,
    VerifierMissing,
    /// A verifier for a code whose request had no challenge (a downgrade).
    VerifierUnexpected,
    /// A scope's `max_lifetime`, counted from the grant, has passed.
    GrantOutlived,
}

impl RedeemRefusal {
    /// Whether this refusal also revokes every token of the grant.
    pub fn revokes_grant(self) -> bool {
        self == RedeemRefusal::Replayed
    }

    /// The RFC 6749 section 5.2 error, for a code (`code = true`) or a refresh token.
    pub fn error(self, code: bool) -> OAuthError {
        let grant = |d: &str| OAuthError::new(ErrorCode::InvalidGrant, d);
        match (self, code) {
            (RedeemRefusal::Unknown, true) => grant("unknown authorization code"),
            (RedeemRefusal::Unknown | RedeemRefusal::OtherClient, false) => {
                grant("unknown refresh token, or one issued to another client")
            }
            (RedeemRefusal::OtherClient, true) => grant("the code was issued to another client"),
            (RedeemRefusal::Replayed, true) => grant("the code was already used; every token it issued is now revoked"),
            (RedeemRefusal::Replayed, false) => {
                grant("this refresh token was already used; every token of its grant is now revoked")
            }
            (RedeemRefusal::Expired, true) => grant("the code has expired"),
            (RedeemRefusal::Expired, false) => grant("the refresh token is expired or revoked"),
            (RedeemRefusal::RedirectMismatch, _) => grant("redirect_uri does not match the authorization request"),
            (RedeemRefusal::VerifierMismatch, _) => grant("code_verifier does not match the code_challenge"),
            (RedeemRefusal::VerifierMissing, _) => {
                OAuthError::new(ErrorCode::InvalidRequest, "missing parameter \"code_verifier\"")
            }
            (RedeemRefusal::VerifierUnexpected, _) => {
                grant("code_verifier sent, but the authorization request had no code_challenge")
            }
            (RedeemRefusal::GrantOutlived, _) => {
                grant("the grant has outlived a scope's max_lifetime; obtain a new grant")
            }
        }
    }
}

/// RFC 6749 section 4.1.3 with RFC 7636: a code is single-use, bound to its
/// client and its redirect URI, and to the PKCE verifier when a challenge
/// was sent (and only then). `s256_matches(verifier, challenge)` is RFC
/// 7636's S256 comparison, done by the caller.
pub fn decide_code(
    stored: &StoredCode<'_>,
    presented: &PresentedCode<'_>,
    now: i64,
    s256_matches: impl FnOnce(&str, &str) -> bool,
) -> Result<(), RedeemRefusal> {
    if stored.client_id != presented.client_id {
        return Err(RedeemRefusal::OtherClient);
    }
    if !stored.first_use {
        return Err(RedeemRefusal::Replayed);
    }
    if stored.expires_at <= now {
        return Err(RedeemRefusal::Expired);
    }
    let redirect_ok = match presented.redirect_uri {
        Some(uri) => uri == stored.redirect_uri,
        None => !stored.redirect_sent,
    };
    if !redirect_ok {
        return Err(RedeemRefusal::RedirectMismatch);
    }
    match (stored.code_challenge, presented.code_verifier) {
        (Some(challenge), Some(verifier)) if s256_matches(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(RedeemRefusal::VerifierMismatch),
        (Some(_), None) => Err(RedeemRefusal::VerifierMissing),
        (None, Some(_)) => Err(RedeemRefusal::VerifierUnexpected),
        (None, None) => Ok(()),
    }
}

/// A stored token presented as a refresh token.
#[derive(Clone, Copy, Debug)]
pub struct StoredRefresh<'a> {
    pub is_refresh: bool,
    pub client_id: &'a str,
    pub used: bool,
    /// Neither expired nor revoked at this moment.
    pub live: bool,
}

/// RFC 6749 section 6 and RFC 9700 section 4.14.2: a refresh token is
/// bound to its client and rotates; presenting a used one is a replay that
/// revokes its grant.
pub fn decide_refresh(stored: Option<&StoredRefresh<'_>>, client_id: &str) -> Result<(), RedeemRefusal> {
    let Some(stored) = stored.filter(|s| s.is_refresh) else {
        return Err(RedeemRefusal::Unknown);
    };
    if stored.client_id != client_id {
        return Err(RedeemRefusal::OtherClient);
    }
    if stored.used {
        return Err(RedeemRefusal::Replayed);
    }
    if !stored.live {
        return Err(RedeemRefusal::Expired);
    }
    Ok(())
}

/// A refreshed access token may not be issued past a scope's
/// `max_lifetime` (the access expiry the lifetimes give is already at or
/// before now).
pub fn decide_refresh_lifetime(access_expires_at: Option<i64>, now: i64) -> Result<(), RedeemRefusal> {
    match access_expires_at {
        Some(at) if at <= now => Err(RedeemRefusal::GrantOutlived),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn code() -> StoredCode<'static> {
        StoredCode {
            client_id: "app",
            expires_at: NOW + 60,
            redirect_uri: "https://app.example/cb",
            redirect_sent: true,
            code_challenge: Some("challenge"),
            first_use: true,
        }
    }

    fn presented() -> PresentedCode<'static> {
        PresentedCode {
            client_id: "app",
            redirect_uri: Some("https://app.example/cb"),
            code_verifier: Some("verifier"),
        }
    }

    fn s256(verifier: &str, challenge: &str) -> bool {
        verifier == "verifier" && challenge == "challenge"
    }

    #[test]
    fn a_code_is_redeemed_by_its_client_with_its_redirect_and_verifier() {
        assert_eq!(decide_code(&code(), &presented(), NOW, s256), Ok(()));
    }

    #[test]
    fn a_code_is_bound_to_its_client() {
        let other = PresentedCode {
            client_id: "other",
            ..presented()
        };
        assert_eq!(decide_code(&code(), &other, NOW, s256), Err(RedeemRefusal::OtherClient));
    }

    #[test]
    fn a_replayed_code_is_refused_and_revokes_its_grant() {
        let used = StoredCode {
            first_use: false,
            ..code()
        };
        let refused = decide_code(&used, &presented(), NOW, s256);
        assert_eq!(refused, Err(RedeemRefusal::Replayed));
        assert!(RedeemRefusal::Replayed.revokes_grant());
        assert!(!RedeemRefusal::Expired.revokes_grant());
    }

    #[test]
    fn an_expired_code_is_refused() {
        assert_eq!(
            decide_code(&code(), &presented(), NOW + 60, s256),
            Err(RedeemRefusal::Expired)
        );
    }

    #[test]
    fn the_redirect_uri_must_match_the_authorization_request() {
        let wrong = PresentedCode {
            redirect_uri: Some("https://app.example/cb2"),
            ..presented()
        };
        assert_eq!(
            decide_code(&code(), &wrong, NOW, s256),
            Err(RedeemRefusal::RedirectMismatch)
        );
        let missing = PresentedCode {
            redirect_uri: None,
            ..presented()
        };
        assert_eq!(
            decide_code(&code(), &missing, NOW, s256),
            Err(RedeemRefusal::RedirectMismatch)
        );
        let not_sent = StoredCode {
            redirect_sent: false,
            ..code()
        };
        assert_eq!(decide_code(&not_sent, &missing, NOW, s256), Ok(()));
    }

    #[test]
    fn pkce_is_enforced_when_a_challenge_was_sent_and_never_downgraded() {
        let wrong = PresentedCode {
            code_verifier: Some("guess"),
            ..presented()
        };
        assert_eq!(
            decide_code(&code(), &wrong, NOW, s256),
            Err(RedeemRefusal::VerifierMismatch)
        );
        let none = PresentedCode {
            code_verifier: None,
            ..presented()
        };
        assert_eq!(
            decide_code(&code(), &none, NOW, s256),
            Err(RedeemRefusal::VerifierMissing)
        );
        assert_eq!(
            RedeemRefusal::VerifierMissing.error(true).code,
            ErrorCode::InvalidRequest
        );
        let no_challenge = StoredCode {
            code_challenge: None,
            ..code()
        };
        assert_eq!(
            decide_code(&no_challenge, &presented(), NOW, s256),
            Err(RedeemRefusal::VerifierUnexpected)
        );
        assert_eq!(decide_code(&no_challenge, &none, NOW, s256), Ok(()));
    }

    fn refresh() -> StoredRefresh<'static> {
        StoredRefresh {
            is_refresh: true,
            client_id: "app",
            used: false,
            live: true,
        }
    }

    #[test]
    fn a_refresh_token_is_bound_to_its_client_and_single_use() {
        assert_eq!(decide_refresh(Some(&refresh()), "app"), Ok(()));
        assert_eq!(decide_refresh(None, "app"), Err(RedeemRefusal::Unknown));
        assert_eq!(
            decide_refresh(Some(&refresh()), "other"),
            Err(RedeemRefusal::OtherClient)
        );
        let access = StoredRefresh {
            is_refresh: false,
            ..refresh()
        };
        assert_eq!(decide_refresh(Some(&access), "app"), Err(RedeemRefusal::Unknown));
        let used = StoredRefresh {
            used: true,
            ..refresh()
        };
        assert_eq!(decide_refresh(Some(&used), "app"), Err(RedeemRefusal::Replayed));
        let dead = StoredRefresh {
            live: false,
            ..refresh()
        };
        assert_eq!(decide_refresh(Some(&dead), "app"), Err(RedeemRefusal::Expired));
        // Unknown and foreign read the same to the client.
        assert_eq!(
            RedeemRefusal::Unknown.error(false).description,
            RedeemRefusal::OtherClient.error(false).description
        );
    }

    #[test]
    fn a_refresh_past_a_scopes_max_lifetime_is_refused() {
        assert_eq!(
            decide_refresh_lifetime(Some(NOW), NOW),
            Err(RedeemRefusal::GrantOutlived)
        );
        assert_eq!(decide_refresh_lifetime(Some(NOW + 1), NOW), Ok(()));
        assert_eq!(decide_refresh_lifetime(None, NOW), Ok(()));
    }

    #[test]
    fn a_presented_code_never_prints_its_verifier() {
        assert!(!format!("{:?}", presented()).contains("verifier\""));
        assert!(format!("{:?}", presented()).contains("<redacted>"));
    }
}
