//! What the admin API answers: the store's records as JSON, without any
//! secret or hash, each with its OpenAPI schema.

use scopegate_core::sign_in::SignInSettings;
use scopegate_service::operations::users;
use scopegate_store::{AuditEvent, ClientSecret, ConsentRecord, KeySetRecord, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;

/// An app: a name, an owner, and one key set per environment.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct App {
    #[schema(example = "app_3xF…")]
    pub app_id: String,
    pub name: String,
    /// The portal user the app belongs to.
    pub owner: Option<String>,
    /// Who registered it: `provider` (the command line, the admin API or
    /// the portal), `dynamic` (itself, RFC 7591) or `metadata_document`
    /// (nobody: its client id is its metadata document's URL).
    #[schema(example = "provider")]
    pub registration: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    pub key_sets: Vec<KeySet>,
}

impl App {
    /// Groups key sets (ordered by app) into apps.
    pub(super) fn group(key_sets: Vec<KeySetRecord>, now: i64) -> Vec<App> {
        let mut apps: Vec<App> = Vec::new();
        for k in key_sets {
            match apps.last_mut() {
                Some(app) if app.app_id == k.app_id => {
                    app.created_at = app.created_at.min(k.created_at);
                    app.key_sets.push(KeySet::new(k, now));
                }
                _ => apps.push(App {
                    app_id: k.app_id.clone(),
                    name: k.app_name.clone(),
                    owner: k.owner.clone(),
                    registration: k.registration.as_str(),
                    created_at: k.created_at,
                    key_sets: vec![KeySet::new(k, now)],
                }),
            }
        }
        apps
    }
}

/// The keys of an app in one environment: an OAuth client.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct KeySet {
    #[schema(example = "sgci_…")]
    pub client_id: String,
    pub app_id: String,
    pub environment: String,
    /// No secret; PKCE required.
    pub public: bool,
    /// May introspect every token of its environment.
    pub resource_server: bool,
    pub scopes: Vec<String>,
    /// What a token gets when it asks for no scope.
    pub default_scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub created_at: i64,
    /// Every token granted at or before this time was revoked.
    pub tokens_revoked_before: Option<i64>,
    /// Every secret, revoked and expired ones included (never the value).
    pub secrets: Vec<Secret>,
}

impl KeySet {
    pub(super) fn new(k: KeySetRecord, now: i64) -> Self {
        Self {
            secrets: k.secrets.iter().map(|s| Secret::new(s, now)).collect(),
            client_id: k.client_id,
            app_id: k.app_id,
            environment: k.environment,
            public: k.public,
            resource_server: k.resource_server,
            scopes: k.scopes,
            default_scopes: k.default_scopes,
            redirect_uris: k.redirect_uris,
            created_at: k.created_at,
            tokens_revoked_before: k.tokens_revoked_before,
        }
    }
}

/// A client secret, by id.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct Secret {
    #[schema(example = "sgsi_…")]
    pub id: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Authenticates now.
    pub active: bool,
}

impl Secret {
    fn new(s: &ClientSecret, now: i64) -> Self {
        Self {
            id: s.id.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            active: s.is_active(now),
        }
    }
}

/// A user who signs in and consents.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct User {
    pub login: String,
    /// The permissions set locally (CLI, admin API, portal): `admin` makes a
    /// portal administrator; others gate scopes (`requires_permissions`). A
    /// sign-in through the user's source never changes them.
    pub permissions: Vec<String>,
    /// May sign in; a disabled user's tokens stop working.
    pub enabled: bool,
    pub created_at: i64,
    pub tokens_revoked_before: Option<i64>,
    /// Where the user signs in: `local` (a password), `idp:<name>` or `delegated`.
    #[schema(example = "idp:corp")]
    pub source: String,
    /// Their identifier at the source (`sub`); none for a local user, or one
    /// admitted who has not signed in yet.
    pub subject: Option<String>,
    /// The name the source gave.
    pub name: Option<String>,
    /// What the source gave at the last sign-in through it.
    pub source_permissions: Vec<String>,
    /// Unix seconds of that sign-in.
    pub signed_in_at: Option<i64>,
    /// When `source_permissions` stop counting (`permissions_max_age`); none: never.
    pub source_permissions_lapse_at: Option<i64>,
    /// Every permission the user holds now: the local ones and the source's unless lapsed.
    pub holds: Vec<String>,
}

impl User {
    pub(super) fn of(u: UserRecord, sign_in: &SignInSettings, now: i64) -> Self {
        Self {
            holds: users::permissions_at(&u, sign_in, now),
            source_permissions_lapse_at: users::source_lapses_at(&u, sign_in),
            login: u.login,
            permissions: u.permissions,
            enabled: u.enabled,
            created_at: u.created_at,
            tokens_revoked_before: u.tokens_revoked_before,
            source: u.source,
            subject: u.subject,
            name: u.display_name,
            source_permissions: u.source_permissions,
            signed_in_at: u.signed_in_at,
        }
    }
}

/// A user's consent to an app's key set: the scopes it may hold for them.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct Grant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

impl From<ConsentRecord> for Grant {
    fn from(c: ConsentRecord) -> Self {
        Self {
            client_id: c.client_id,
            scopes: c
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            granted_at: c.granted_at,
        }
    }
}

/// A user with the grants they made.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct UserDetail {
    #[serde(flatten)]
    pub user: User,
    pub grants: Vec<Grant>,
}

/// One entry of the audit trail.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct AuditEntry {
    pub id: i64,
    pub at: i64,
    #[schema(example = "issue")]
    pub event: String,
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub detail: String,
}

impl AuditEntry {
    pub(super) fn new(id: i64, e: AuditEvent) -> Self {
        Self {
            id,
            at: e.at,
            event: e.event,
            client_id: e.client_id,
            subject: e.subject,
            detail: e.detail,
        }
    }
}

/// An admin API token, by id.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct AdminToken {
    #[schema(example = "sgai_…")]
    pub id: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A page of a list.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct Page<T> {
    pub items: Vec<T>,
    /// The next page, with the same filters; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
