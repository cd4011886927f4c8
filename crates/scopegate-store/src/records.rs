//! What the store holds, as plain values. Secrets appear only as hashes.

/// One key set of an app in one environment: an OAuth client.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeySetRecord {
    pub client_id: String,
    pub app_id: String,
    pub app_name: String,
    pub owner: Option<String>,
    pub environment: String,
    /// Every secret the key set was given, revoked and expired ones
    /// included, oldest first; none for a public client.
    pub secrets: Vec<ClientSecret>,
    pub public: bool,
    /// May introspect every token of its environment.
    pub resource_server: bool,
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub created_at: i64,
    /// Every token whose grant was made at or before this time is revoked.
    pub tokens_revoked_before: Option<i64>,
    /// Who registered its app.
    pub registration: Registration,
}

/// Who registered an app (docs/mcp.md).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Registration {
    /// The provider: the command line, the admin API or the portal.
    #[default]
    Provider,
    /// The client itself, at `/oauth2/register` (RFC 7591).
    Dynamic,
    /// Nobody: its client id is the URL of its Client ID Metadata Document.
    MetadataDocument,
}

impl Registration {
    /// As stored, and as the admin API and the portal show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Provider => "provider",
            Registration::Dynamic => "dynamic",
            Registration::MetadataDocument => "metadata_document",
        }
    }

    /// As stored: NULL is the provider's.
    pub fn from_stored(stored: Option<&str>) -> Registration {
        match stored {
            Some("dynamic") => Registration::Dynamic,
            Some("metadata_document") => Registration::MetadataDocument,
            _ => Registration::Provider,
        }
    }

    fn stored(self) -> Option<&'static str> {
        (self != Registration::Provider).then(|| self.as_str())
    }
}

impl KeySetRecord {
    /// The value its app's `registration` column holds.
    pub fn stored_registration(&self) -> Option<&'static str> {
        self.registration.stored()
    }
}

/// A self-registered app (RFC 7591) that no user has consented to within
/// this many seconds is removed by the purge: registration is open to anyone.
pub const UNUSED_REGISTRATION_SECONDS: i64 = 86_400;

impl KeySetRecord {
    /// The secrets that authenticate at `now`.
    pub fn active_secrets(&self, now: i64) -> impl Iterator<Item = &ClientSecret> {
        self.secrets.iter().filter(move |s| s.is_active(now))
    }
}

/// One client secret of a key set, known by its SHA-256 only. A key set may
/// have several active at once, so that a secret is rotated without downtime.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ClientSecret {
    /// Public: shown in lists, used to revoke.
    pub id: String,
    pub hash: Vec<u8>,
    pub created_at: i64,
    /// After this it no longer authenticates.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// When it last authenticated, to within [`SECRET_USE_GRANULARITY`]
    /// seconds (`None`: never, or not since this was recorded).
    pub last_used_at: Option<i64>,
}

/// How often a node records a secret's use at most: "last used" is this
/// precise, and costs one write per secret per this many seconds.
pub const SECRET_USE_GRANULARITY: i64 = 300;

impl ClientSecret {
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub login: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The permissions set locally (CLI, admin API, portal); a sign-in
    /// through the user's source never touches them.
    pub permissions: Vec<String>,
    pub enabled: bool,
    pub created_at: i64,
    /// Every token of this user whose grant was made at or before this time is revoked.
    pub tokens_revoked_before: Option<i64>,
    /// Where the user signs in: `local`, `idp:<name>` or `delegated`.
    pub source: String,
    /// The user's identifier at the source (an ID token's `sub`, a
    /// delegation's `subject`); `None` for a local user, or for one admitted
    /// by an operator who has not signed in yet.
    pub subject: Option<String>,
    /// The name the source gave at the last sign-in.
    pub display_name: Option<String>,
    /// The permissions the source gave at the last sign-in through it.
    pub source_permissions: Vec<String>,
    /// When the user last signed in through the source.
    pub signed_in_at: Option<i64>,
}

impl UserRecord {
    /// A user who signs in with a scopegate password (`password_hash`
    /// empty: none, and no password ever matches).
    pub fn local(login: &str, password_hash: String, permissions: Vec<String>, created_at: i64) -> UserRecord {
        UserRecord {
            login: login.to_owned(),
            password_hash,
            permissions,
            enabled: true,
            created_at,
            tokens_revoked_before: None,
            source: "local".to_owned(),
            subject: None,
            display_name: None,
            source_permissions: Vec::new(),
            signed_in_at: None,
        }
    }
}

/// A sign-in through a user's source, as the store records it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SourceSignIn<'a> {
    pub login: &'a str,
    pub source: &'a str,
    pub subject: &'a str,
    pub display_name: Option<&'a str>,
    pub permissions: &'a [String],
    pub at: i64,
}

/// A sign-in under way at an upstream provider or a delegation, by the
/// SHA-256 of its handle.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub hash: Vec<u8>,
    /// `idp` or `delegation`.
    pub kind: String,
    /// SHA-256 of the CSRF cookie of the browser that started it.
    pub browser: Vec<u8>,
    /// Where the browser goes once signed in (a path of ours).
    pub return_to: String,
    /// What finishing needs (JSON); may hold a PKCE verifier and a nonce.
    pub data: String,
    /// A delegation's answer (JSON), once given.
    pub outcome: Option<String>,
    pub used: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for ChallengeRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeRecord")
            .field("kind", &self.kind)
            .field("return_to", &self.return_to)
            .field("used", &self.used)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("login", &self.login)
            .field("permissions", &self.permissions)
            .field("enabled", &self.enabled)
            .field("source", &self.source)
            .field("source_permissions", &self.source_permissions)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    pub(crate) fn parse(s: &str) -> TokenKind {
        if s == "refresh" {
            TokenKind::Refresh
        } else {
            TokenKind::Access
        }
    }
}

/// An issued token, known by its SHA-256 only.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TokenRecord {
    pub hash: Vec<u8>,
    pub kind: TokenKind,
    /// The grant: every token it and its refreshes produced.
    pub grant_id: String,
    pub client_id: String,
    /// The user's login, for user tokens.
    pub subject: Option<String>,
    /// `client_credentials` or `authorization_code`; a refresh keeps it.
    pub grant_kind: String,
    /// This token's scope, normalized, space-separated.
    pub scope: String,
    /// The grant's scope: what a refresh may narrow from.
    pub grant_scope: String,
    pub environment: String,
    /// When the original grant was made (for `max_lifetime`).
    pub granted_at: i64,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    /// A refresh token already exchanged.
    pub used: bool,
    pub revoked: bool,
    /// The resource (RFC 8707) the grant is for, when its client named one:
    /// the token's audience.
    pub resource: Option<String>,
}

impl TokenRecord {
    /// Live at `now`: not revoked, not used (refresh), not expired.
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && !self.used && self.expires_at.is_none_or(|at| now < at)
    }
}

/// Which audit events to list; `None` matches any.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AuditFilter {
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub event: Option<String>,
}

/// Whether a token granted at `granted_at` was revoked by a cutoff.
pub fn revoked_by(cutoff: Option<i64>, granted_at: i64) -> bool {
    cutoff.is_some_and(|at| granted_at <= at)
}

/// One line of the audit trail: issuance, refresh, revocation, refusal.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditEvent {
    pub at: i64,
    pub event: String,
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub detail: String,
}

pub(crate) fn join(items: &[String]) -> String {
    items.join(" ")
}

pub(crate) fn split(s: &str) -> Vec<String> {
    s.split(' ').filter(|i| !i.is_empty()).map(str::to_owned).collect()
}

/// A signed-in user's session at the authorize endpoint.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionRecord {
    pub hash: Vec<u8>,
    pub login: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// SHA-256 of the CSRF cookie of the browser that signed in; `None`
    /// for a session made before sessions were bound (never valid).
    pub csrf_hash: Option<Vec<u8>>,
}

/// What [`crate::Store::distrust_before`] did to a restored database.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Distrusted {
    /// Stored tokens (access and refresh) that were live and are now revoked.
    pub tokens: u64,
    /// Authorization codes and portal sessions removed.
    pub codes: u64,
    pub sessions: u64,
    /// Consents removed: each user consents again at the next authorization.
    pub grants: u64,
    /// Client secrets that now expire at the given time.
    pub secrets: u64,
    /// Admin API tokens revoked.
    pub admin_tokens: u64,
}

/// What one purge pass removed: records past their use.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Purged {
    pub sessions: u64,
    pub codes: u64,
    pub tokens: u64,
    pub revocations: u64,
    /// One-time views never looked at.
    pub shown_once: u64,
    /// Sign-ins started elsewhere and never finished.
    pub challenges: u64,
    /// Self-registered apps no user consented to ([`UNUSED_REGISTRATION_SECONDS`]).
    pub registrations: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.sessions
            + self.codes
            + self.tokens
            + self.revocations
            + self.shown_once
            + self.challenges
            + self.registrations
    }
}

/// An authorization code, known by its SHA-256 only.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CodeRecord {
    pub hash: Vec<u8>,
    pub client_id: String,
    pub subject: String,
    /// The redirect URI the code was issued for.
    pub redirect_uri: String,
    /// Whether the authorization request named it (then the token request must too).
    pub redirect_sent: bool,
    /// The consented scope, normalized.
    pub scope: String,
    /// PKCE S256 challenge, if the client sent one.
    pub code_challenge: Option<String>,
    /// The grant the code starts.
    pub grant_id: String,
    pub granted_at: i64,
    pub expires_at: i64,
    pub used: bool,
    /// The resource (RFC 8707) the authorization request named.
    pub resource: Option<String>,
}

/// A key that signs JWT access tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    /// JOSE algorithm, e.g. `EdDSA`.
    pub alg: String,
    /// PKCS#8 DER of the private key.
    pub private_der: Vec<u8>,
    /// The public key, base64url (the JWK `x`).
    pub public_x: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A user's newest approval of a client's request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConsentRecord {
    pub client_id: String,
    pub login: String,
    /// The approved scope, normalized.
    pub scope: String,
    pub granted_at: i64,
}

/// A bearer token of the admin API. The token itself is never stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AdminTokenRecord {
    /// Public: shown in lists, used to revoke.
    pub id: String,
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    /// `admin:read`, `admin:write`.
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A developer's request for scopes on one key set.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ScopeRequestRecord {
    pub id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// The login of who asked.
    pub requested_by: String,
    pub reason: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// Who decided: a login or `admin-token <id>`.
    pub decided_by: Option<String>,
    /// `granted` or `refused`; `None` while pending.
    pub outcome: Option<String>,
}
