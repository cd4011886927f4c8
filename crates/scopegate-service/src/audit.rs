//! The audit trail's vocabulary: every kind of event scopegate writes, named
//! once. The store keeps the name as text (`event` column, the admin API's
//! `event` field, `scopegate audit`), so a name never changes once written.

use scopegate_store::AuditEvent;

/// What happened.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AuditKind {
    // Records changed through the service layer.
    AppCreate,
    AppDelete,
    KeySetCreate,
    RedirectUriAdd,
    SecretCreate,
    SecretRevoke,
    UserCreate,
    UserPermissions,
    UserEnable,
    UserDisable,
    SessionsEnded,
    GrantRevoke,
    Revoke,
    ScopeRequest,
    ScopeRequestGrant,
    ScopeRequestRefuse,
    AdminTokenCreate,
    AdminTokenRevoke,
    SigningKeyRotate,
    DatabaseRestored,
    // The request path.
    Issue,
    Refresh,
    Refuse,
    Consent,
    Deny,
    SignIn,
    SignInFailed,
    SignInLimited,
    ClientAuthFailed,
    CodeReplay,
    RefreshReuse,
    ServerStarted,
    ServerStopped,
}

impl AuditKind {
    /// The name the trail keeps.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::AppCreate => "app_create",
            AuditKind::AppDelete => "app_delete",
            AuditKind::KeySetCreate => "key_set_create",
            AuditKind::RedirectUriAdd => "redirect_uri_add",
            AuditKind::SecretCreate => "secret_create",
            AuditKind::SecretRevoke => "secret_revoke",
            AuditKind::UserCreate => "user_create",
            AuditKind::UserPermissions => "user_permissions",
            AuditKind::UserEnable => "user_enable",
            AuditKind::UserDisable => "user_disable",
            AuditKind::SessionsEnded => "sessions_ended",
            AuditKind::GrantRevoke => "grant_revoke",
            AuditKind::Revoke => "revoke",
            AuditKind::ScopeRequest => "scope_request",
            AuditKind::ScopeRequestGrant => "scope_request_grant",
            AuditKind::ScopeRequestRefuse => "scope_request_refuse",
            AuditKind::AdminTokenCreate => "admin_token_create",
            AuditKind::AdminTokenRevoke => "admin_token_revoke",
            AuditKind::SigningKeyRotate => "signing_key_rotate",
            AuditKind::DatabaseRestored => "database_restored",
            AuditKind::Issue => "issue",
            AuditKind::Refresh => "refresh",
            AuditKind::Refuse => "refuse",
            AuditKind::Consent => "consent",
            AuditKind::Deny => "deny",
            AuditKind::SignIn => "sign_in",
            AuditKind::SignInFailed => "sign_in_failed",
            AuditKind::SignInLimited => "sign_in_limited",
            AuditKind::ClientAuthFailed => "client_auth_failed",
            AuditKind::CodeReplay => "code_replay",
            AuditKind::RefreshReuse => "refresh_reuse",
            AuditKind::ServerStarted => "server_started",
            AuditKind::ServerStopped => "server_stopped",
        }
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event stamped `at`, and logged (the log line is the trail's copy for
/// whoever reads logs rather than the database).
pub fn event(at: i64, kind: AuditKind, client_id: Option<&str>, subject: Option<&str>, detail: String) -> AuditEvent {
    let e = AuditEvent {
        at,
        event: kind.as_str().to_owned(),
        client_id: client_id.map(str::to_owned),
        subject: subject.map(str::to_owned),
        detail,
    };
    tracing::info!(event = %e.event, client_id = e.client_id.as_deref(), subject = e.subject.as_deref(), detail = %e.detail, "audit");
    e
}
