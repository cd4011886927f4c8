//! What operators and app developers change: apps and their key sets,
//! client secrets, users and their permissions, and revocations. One
//! implementation, with its checks and its audit trail, for the admin API
//! and the portal; each answers a [`ManageError`] in its own form.
//!
//! A change is written to the store first, then this node's caches forget
//! what it changed, then the audit event is written (durably, not through the
//! batching writer: an operator's change must not be lost from the trail).

use scopegate_core::Policy;
use scopegate_core::duration::parse_duration;
use scopegate_core::registration::{
    AppRequest, FieldError, Registration, check_app, check_login, check_redirect_uri, scope_list,
};
use scopegate_store::{AdminTokenRecord, ClientRecord, ClientSecret, ScopeRequestRecord, Store, UserRecord};

use crate::passwords::hash_password;
use crate::secrets::{self, SecretKind};
use crate::state::AppState;

/// The most secrets a key set may have active at once: enough for an
/// overlap during rotation, few enough that a forgotten one is noticed.
pub const MAX_ACTIVE_SECRETS: usize = 5;

/// Who made a change, as the audit trail names them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Actor {
    /// An admin API token, by its public id.
    AdminToken(String),
    /// A signed-in portal user, by login.
    User(String),
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::AdminToken(id) => write!(f, "admin-token {id}"),
            Actor::User(login) => write!(f, "user {login}"),
        }
    }
}

/// Why a change was not made. Nothing was written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ManageError {
    /// The thing named does not exist (or is not the caller's to see).
    NotFound(String),
    /// A field of the request is wrong.
    Invalid(FieldError),
    /// The request is well formed but conflicts with what exists.
    Conflict(String),
    /// The store failed; logged, never shown.
    Internal,
}

impl From<scopegate_store::StoreError> for ManageError {
    fn from(e: scopegate_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ManageError::Internal
    }
}

impl From<FieldError> for ManageError {
    fn from(e: FieldError) -> Self {
        ManageError::Invalid(e)
    }
}

type Result<T> = std::result::Result<T, ManageError>;

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

/// A key set just registered, and its first secret (none for a public client).
#[derive(Clone, Debug)]
pub struct Registered {
    pub key_set: ClientRecord,
    pub secret: Option<NewSecret>,
}

/// Most apps one developer registers in the portal (administrators, the admin
/// API and the command line are not held to it).
pub const MAX_APPS_PER_OWNER: i64 = 50;
/// Most scope requests of one developer that wait for a decision at once.
pub const MAX_PENDING_REQUESTS_PER_USER: i64 = 20;

/// The parts of a key set registration beyond [`AppRequest`].
#[derive(Clone, Debug, Default)]
pub struct KeySetSpec {
    pub environment: String,
    pub scopes: String,
    pub default_scopes: Option<String>,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub resource_server: bool,
}

fn key_set(
    policy: &Policy,
    app_id: &str,
    name: &str,
    owner: Option<&str>,
    spec: &KeySetSpec,
    now: i64,
) -> Result<(ClientRecord, Option<NewSecret>)> {
    let Registration { scopes, default_scopes } = check_app(
        policy,
        &AppRequest {
            name,
            environment: &spec.environment,
            scopes: &spec.scopes,
            default_scopes: spec.default_scopes.as_deref(),
            redirect_uris: &spec.redirect_uris,
            public: spec.public,
            resource_server: spec.resource_server,
        },
    )?;
    let secret = (!spec.public).then(|| secrets::new_client_secret(now, None));
    let record = ClientRecord {
        client_id: secrets::generate(SecretKind::ClientId),
        app_id: app_id.to_owned(),
        app_name: name.to_owned(),
        owner: owner.map(str::to_owned),
        environment: spec.environment.clone(),
        secrets: secret.iter().map(|(_, s)| s.clone()).collect(),
        public: spec.public,
        resource_server: spec.resource_server,
        scopes,
        default_scopes,
        redirect_uris: spec.redirect_uris.clone(),
        created_at: now,
        tokens_revoked_before: None,
    };
    let shown = secret.map(|(secret, s)| NewSecret {
        id: s.id,
        secret,
        expires_at: None,
    });
    Ok((record, shown))
}

/// Registers an app with its first key set.
pub async fn create_app<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    name: &str,
    owner: Option<&str>,
    spec: &KeySetSpec,
) -> Result<Registered> {
    if let (Actor::User(login), Some(owner)) = (actor, owner) {
        if state.store.count_owned_apps(owner).await? >= MAX_APPS_PER_OWNER {
            return Err(ManageError::Invalid(FieldError::new(
                "name",
                format!(
                    "{login} already has {MAX_APPS_PER_OWNER} apps, the most a developer may register; delete one, or ask an administrator"
                ),
            )));
        }
    }
    let now = state.now();
    let app_id = secrets::generate(SecretKind::ClientId).replacen("sgci_", "app_", 1);
    let (record, secret) = key_set(&state.policy, &app_id, name, owner, spec, now)?;
    if let Some(owner) = owner {
        check_login("owner", owner)?;
        if state.store.user(owner).await?.is_none() {
            return Err(FieldError::new("owner", format!("no user {owner:?}")).into());
        }
    }
    state.store.create_app(&app_id, name, owner, &record).await?;
    audit(
        state,
        actor,
        "app_create",
        Some(&record.client_id),
        format!(
            "app_id={app_id} environment={} scopes=\"{}\"",
            record.environment,
            record.scopes.join(" ")
        ),
    )
    .await?;
    Ok(Registered {
        key_set: record,
        secret,
    })
}

/// Adds a key set in another environment to an app.
pub async fn add_key_set<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    app_id: &str,
    spec: &KeySetSpec,
) -> Result<Registered> {
    let existing = state.store.app(app_id).await?;
    let Some(first) = existing.first() else {
        return Err(ManageError::NotFound(format!("no app {app_id:?}")));
    };
    if existing.iter().any(|k| k.environment == spec.environment) {
        return Err(ManageError::Conflict(format!(
            "app {app_id} already has keys in environment {:?}",
            spec.environment
        )));
    }
    let now = state.now();
    let (record, secret) = key_set(
        &state.policy,
        app_id,
        &first.app_name,
        first.owner.as_deref(),
        spec,
        now,
    )?;
    if !state.store.add_key_set(&record).await? {
        return Err(ManageError::Conflict(format!(
            "app {app_id} already has keys in environment {:?}",
            spec.environment
        )));
    }
    audit(
        state,
        actor,
        "key_set_create",
        Some(&record.client_id),
        format!(
            "app_id={app_id} environment={} scopes=\"{}\"",
            record.environment,
            record.scopes.join(" ")
        ),
    )
    .await?;
    Ok(Registered {
        key_set: record,
        secret,
    })
}

/// Deletes an app, its key sets and every token issued to them.
pub async fn delete_app<S: Store>(state: &AppState<S>, actor: &Actor, app_id: &str) -> Result<()> {
    let key_sets = state.store.app(app_id).await?;
    if key_sets.is_empty() || !state.store.delete_app(app_id).await? {
        return Err(ManageError::NotFound(format!("no app {app_id:?}")));
    }
    for k in &key_sets {
        state.clients.forget(k.client_id.as_str());
    }
    state.forget_credentials();
    audit(state, actor, "app_delete", None, format!("app_id={app_id}")).await
}

/// A key set by its client id.
pub async fn key_set_of<S: Store>(state: &AppState<S>, client_id: &str) -> Result<ClientRecord> {
    state
        .store
        .client(client_id)
        .await?
        .ok_or_else(|| ManageError::NotFound(format!("no key set {client_id:?}")))
}

/// Parses an optional lifetime such as `90d` into an expiry time.
pub fn expiry(field: &'static str, expires_in: Option<&str>, now: i64) -> Result<Option<i64>> {
    let Some(text) = expires_in else { return Ok(None) };
    let Some(d) = parse_duration(text).filter(|d| !d.is_zero()) else {
        return Err(FieldError::new(field, format!("{text:?}: give a duration such as 90d, 12h or 30m")).into());
    };
    Ok(Some(now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))))
}

/// Adds a secret to a confidential key set; with `replace`, every other
/// secret stops working at once.
pub async fn add_secret<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    client_id: &str,
    expires_at: Option<i64>,
    replace: bool,
) -> Result<NewSecret> {
    let client = key_set_of(state, client_id).await?;
    let now = state.now();
    if client.public {
        return Err(ManageError::Conflict(format!(
            "{client_id} is a public client: it has no secrets"
        )));
    }
    if !replace && client.active_secrets(now).count() >= MAX_ACTIVE_SECRETS {
        return Err(ManageError::Conflict(format!(
            "{client_id} already has {MAX_ACTIVE_SECRETS} active secrets: revoke one first"
        )));
    }
    if expires_at.is_some_and(|at| at <= now) {
        return Err(FieldError::new("expires_in", "the expiry must be in the future").into());
    }
    let (secret, record): (String, ClientSecret) = secrets::new_client_secret(now, expires_at);
    if !state
        .store
        .add_client_secret(client_id, &record, replace.then_some(now))
        .await?
    {
        return Err(ManageError::NotFound(format!("no key set {client_id:?}")));
    }
    state.clients.forget(client_id);
    let detail = format!(
        "secret_id={}{}{}",
        record.id,
        expires_at.map_or_else(String::new, |at| format!(" expires_at={at}")),
        if replace { " (replaces every other secret)" } else { "" }
    );
    audit(state, actor, "secret_create", Some(client_id), detail).await?;
    Ok(NewSecret {
        id: record.id,
        secret,
        expires_at,
    })
}

pub async fn revoke_secret<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    client_id: &str,
    secret_id: &str,
) -> Result<()> {
    if !state
        .store
        .revoke_client_secret(client_id, secret_id, state.now())
        .await?
    {
        return Err(ManageError::NotFound(format!(
            "{client_id:?} has no active secret {secret_id:?}"
        )));
    }
    state.clients.forget(client_id);
    audit(
        state,
        actor,
        "secret_revoke",
        Some(client_id),
        format!("secret_id={secret_id}"),
    )
    .await
}

/// Revokes every token of a key set issued so far.
pub async fn revoke_key_set_tokens<S: Store>(state: &AppState<S>, actor: &Actor, client_id: &str) -> Result<u64> {
    let Some(count) = state.store.revoke_client_tokens(client_id, state.now()).await? else {
        return Err(ManageError::NotFound(format!("no key set {client_id:?}")));
    };
    state.clients.forget(client_id);
    state.forget_credentials();
    audit(
        state,
        actor,
        "revoke",
        Some(client_id),
        format!("every token of the key set ({count} live)"),
    )
    .await?;
    Ok(count)
}

/// Revokes every token of a user issued so far, in every app.
pub async fn revoke_user_tokens<S: Store>(state: &AppState<S>, actor: &Actor, login: &str) -> Result<u64> {
    let Some(count) = state.store.revoke_user_tokens(login, state.now()).await? else {
        return Err(ManageError::NotFound(format!("no user {login:?}")));
    };
    state.users.forget(login);
    state.forget_credentials();
    let detail = format!("every token of the user ({count} live)");
    audit_with_subject(state, actor, "revoke", None, Some(login), detail).await?;
    Ok(count)
}

/// Withdraws a user's consent to an app's key set: every token of every
/// grant the user made to it stops working at once.
pub async fn revoke_grant<S: Store>(state: &AppState<S>, actor: &Actor, login: &str, client_id: &str) -> Result<u64> {
    let Some(count) = state.store.revoke_consent(login, client_id, state.now()).await? else {
        return Err(ManageError::NotFound(format!(
            "{login:?} has not granted {client_id:?} access"
        )));
    };
    // Stateless tokens: the grants' revocations are in the store; take them now.
    if let Err(e) = state.revocations.reload(&state.store, state.now()).await {
        tracing::warn!(error = %e, "cannot reload revocations after a grant was revoked");
    }
    state.forget_credentials();
    let detail = format!("the user's grant ({count} live tokens)");
    audit_with_subject(state, actor, "grant_revoke", Some(client_id), Some(login), detail).await?;
    Ok(count)
}

/// Creates a user who can sign in and consent.
pub async fn create_user<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    login: &str,
    password: &str,
    permissions: &[String],
) -> Result<UserRecord> {
    check_login("login", login)?;
    for p in permissions {
        check_login("permissions", p)?;
    }
    let password_hash = hash_password(password).map_err(|e| FieldError::new("password", e))?;
    let user = UserRecord {
        login: login.to_owned(),
        password_hash,
        permissions: dedup(permissions),
        enabled: true,
        created_at: state.now(),
        tokens_revoked_before: None,
    };
    if !state.store.create_user(&user).await? {
        return Err(ManageError::Conflict(format!("user {login:?} already exists")));
    }
    let detail = format!("permissions=\"{}\"", user.permissions.join(" "));
    audit_with_subject(state, actor, "user_create", None, Some(login), detail).await?;
    Ok(user)
}

pub async fn user<S: Store>(state: &AppState<S>, login: &str) -> Result<UserRecord> {
    state
        .store
        .user(login)
        .await?
        .ok_or_else(|| ManageError::NotFound(format!("no user {login:?}")))
}

/// Replaces a user's permissions. Grants whose scopes need a permission the
/// user lost stop carrying it at the next check (the gateway re-checks).
pub async fn set_permissions<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    login: &str,
    permissions: &[String],
) -> Result<UserRecord> {
    for p in permissions {
        check_login("permissions", p)?;
    }
    let permissions = dedup(permissions);
    if !state.store.set_permissions(login, &permissions).await? {
        return Err(ManageError::NotFound(format!("no user {login:?}")));
    }
    state.users.forget(login);
    state.forget_credentials();
    let detail = format!("permissions=\"{}\"", permissions.join(" "));
    audit_with_subject(state, actor, "user_permissions", None, Some(login), detail).await?;
    user(state, login).await
}

pub async fn set_enabled<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    login: &str,
    enabled: bool,
) -> Result<UserRecord> {
    if !state.store.set_user_enabled(login, enabled).await? {
        return Err(ManageError::NotFound(format!("no user {login:?}")));
    }
    state.users.forget(login);
    state.forget_credentials();
    let event = if enabled { "user_enable" } else { "user_disable" };
    audit_with_subject(state, actor, event, None, Some(login), String::new()).await?;
    user(state, login).await
}

/// Ends every session of a user ("sign out everywhere"): the portal for
/// oneself, the admin API and the portal's administration for anyone.
pub async fn end_sessions<S: Store>(state: &AppState<S>, actor: &Actor, login: &str) -> Result<u64> {
    if state.store.user(login).await?.is_none() {
        return Err(ManageError::NotFound(format!("no user {login:?}")));
    }
    let ended = state.store.delete_sessions(login).await?;
    audit_with_subject(
        state,
        actor,
        "sessions_ended",
        None,
        Some(login),
        format!("sessions={ended}"),
    )
    .await?;
    Ok(ended)
}

fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

async fn audit<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    event: &str,
    client_id: Option<&str>,
    detail: String,
) -> Result<()> {
    audit_with_subject(state, actor, event, client_id, None, detail).await
}

async fn audit_with_subject<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    event: &str,
    client_id: Option<&str>,
    subject: Option<&str>,
    detail: String,
) -> Result<()> {
    let detail = if detail.is_empty() {
        format!("by {actor}")
    } else {
        format!("{detail} by {actor}")
    };
    let e = state.audit_event(event, client_id, subject, detail);
    state.store.audit(&e).await?;
    Ok(())
}

/// What one token's revocation took with it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RevokedToken {
    pub client_id: String,
    /// `access` or `refresh` (a refresh token takes its whole grant).
    pub kind: &'static str,
    /// Stored tokens that were live (a JWT counts as one).
    pub revoked: u64,
}

/// Revokes one token by its value: an access token alone, a refresh token
/// with every token of its grant, a JWT by its `jti` until it expires.
pub async fn revoke_token<S: Store>(state: &AppState<S>, actor: &Actor, token: &str) -> Result<RevokedToken> {
    let now = state.now();
    let unknown = || ManageError::NotFound("no such token (scopegate keeps only hashes: check the value)".into());
    if crate::keys::looks_like_jwt(token) {
        let Some(c) = state.keys.verify(token, &state.policy.settings.issuer, now) else {
            return Err(ManageError::NotFound(
                "the JWT is not one of ours, or has already expired".into(),
            ));
        };
        state.store.revoke_jti(&c.jti, Some(c.exp)).await?;
        state.revoked_jwt(&c.jti);
        let subject = (c.sub != c.client_id).then_some(c.sub.as_str());
        audit_with_subject(
            state,
            actor,
            "revoke",
            Some(&c.client_id),
            subject,
            "access token (jwt)".into(),
        )
        .await?;
        return Ok(RevokedToken {
            client_id: c.client_id,
            kind: "access",
            revoked: 1,
        });
    }
    let hash = secrets::hash(token);
    let t = state.store.token(&hash).await?.ok_or_else(unknown)?;
    let revoked = match t.kind {
        scopegate_store::TokenKind::Refresh => {
            let n = state.store.revoke_grant(&t.grant_id).await?;
            state.revoked_grant(&t.grant_id);
            n
        }
        scopegate_store::TokenKind::Access => {
            let n = u64::from(state.store.revoke_token(&hash).await?);
            state.tokens.forget_hash(&hash);
            state.forget_credentials();
            n
        }
    };
    let what = format!("{} token", t.kind.as_str());
    audit_with_subject(state, actor, "revoke", Some(&t.client_id), t.subject.as_deref(), what).await?;
    Ok(RevokedToken {
        client_id: t.client_id,
        kind: t.kind.as_str(),
        revoked,
    })
}

/// Revokes an admin API token by its id.
pub async fn revoke_admin_token<S: Store>(state: &AppState<S>, actor: &Actor, id: &str) -> Result<()> {
    if !state.store.revoke_admin_token(id, state.now()).await? {
        return Err(ManageError::NotFound(format!("no active admin token {id:?}")));
    }
    audit(state, actor, "admin_token_revoke", None, format!("id={id}")).await
}

/// What a scope request became.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Requested {
    /// Every scope was one a developer may take: assigned at once.
    Assigned(ScopeRequestRecord),
    /// Waiting for an administrator.
    Pending(ScopeRequestRecord),
}

/// The longest reason a request may give.
pub const MAX_REASON: usize = 1000;

/// Files a request for `scopes` (space- or comma-separated) on a key set.
/// Scopes a developer may take without an administrator (no
/// `requires_approval`) are assigned at once, as a request granted by its
/// requester; otherwise an administrator decides.
pub async fn request_scopes<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    requested_by: &str,
    client_id: &str,
    scopes: &str,
    reason: &str,
) -> Result<Requested> {
    let key_set = key_set_of(state, client_id).await?;
    if matches!(actor, Actor::User(_))
        && state.store.count_pending_requests_by(requested_by).await? >= MAX_PENDING_REQUESTS_PER_USER
    {
        return Err(FieldError::new(
            "scopes",
            format!(
                "{requested_by} already has {MAX_PENDING_REQUESTS_PER_USER} requests waiting for an administrator; wait for a decision first"
            ),
        )
        .into());
    }
    let policy = &state.policy;
    let names = scope_list(policy, "scopes", scopes, &key_set.environment)?;
    if names.is_empty() {
        return Err(FieldError::new("scopes", "name at least one scope").into());
    }
    let catalog = &policy.catalog;
    let held = catalog.close(&catalog.known(&key_set.scopes.join(" ")));
    if let Some(already) = names
        .iter()
        .find(|n| catalog.lookup(n).is_some_and(|id| held.contains(id)))
    {
        return Err(FieldError::new(
            "scopes",
            format!("{already} is already assigned to {client_id} (or implied)"),
        )
        .into());
    }
    if reason.chars().count() > MAX_REASON || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new("reason", format!("at most {MAX_REASON} characters of text")).into());
    }
    let now = state.now();
    let request = ScopeRequestRecord {
        id: secrets::generate(SecretKind::ScopeRequestId),
        client_id: client_id.to_owned(),
        scopes: names,
        requested_by: requested_by.to_owned(),
        reason: reason.to_owned(),
        created_at: now,
        decided_at: None,
        decided_by: None,
        outcome: None,
    };
    if !state.store.create_scope_request(&request).await? {
        return Err(ManageError::NotFound(format!("no key set {client_id:?}")));
    }
    let detail = format!("id={} scopes=\"{}\"", request.id, request.scopes.join(" "));
    audit(state, actor, "scope_request", Some(client_id), detail).await?;
    let self_service = request
        .scopes
        .iter()
        .all(|n| catalog.lookup(n).is_some_and(|id| !catalog.info(id).requires_approval));
    if self_service {
        let granted = decide_scope_request(state, actor, &request.id, true).await?;
        return Ok(Requested::Assigned(granted));
    }
    Ok(Requested::Pending(request))
}

/// Grants (adding the scopes to the key set) or refuses a pending request.
pub async fn decide_scope_request<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    id: &str,
    grant: bool,
) -> Result<ScopeRequestRecord> {
    let by = actor.to_string();
    let Some(decided) = state.store.decide_scope_request(id, grant, &by, state.now()).await? else {
        return Err(ManageError::NotFound(format!("no pending scope request {id:?}")));
    };
    state.clients.forget(decided.client_id.as_str());
    state.forget_credentials();
    let event = if grant {
        "scope_request_grant"
    } else {
        "scope_request_refuse"
    };
    let detail = format!("id={id} scopes=\"{}\"", decided.scopes.join(" "));
    audit(state, actor, event, Some(&decided.client_id), detail).await?;
    Ok(decided)
}

/// Adds a redirect URI to a key set (checked as at registration).
pub async fn add_redirect_uri<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    client_id: &str,
    uri: &str,
) -> Result<ClientRecord> {
    let mut key_set = key_set_of(state, client_id).await?;
    check_redirect_uri(uri, key_set.public)?;
    if key_set.redirect_uris.iter().any(|u| u == uri) {
        return Ok(key_set);
    }
    key_set.redirect_uris.push(uri.to_owned());
    if !state.store.set_redirect_uris(client_id, &key_set.redirect_uris).await? {
        return Err(ManageError::NotFound(format!("no key set {client_id:?}")));
    }
    state.clients.forget(client_id);
    audit(state, actor, "redirect_uri_add", Some(client_id), format!("uri={uri}")).await?;
    Ok(key_set)
}

/// A new admin API token and its record; the token is shown once.
pub async fn create_admin_token<S: Store>(
    state: &AppState<S>,
    actor: &Actor,
    scopes: &[String],
) -> Result<(String, AdminTokenRecord)> {
    let Ok(policy) = scopegate_core::admin::admin_policy() else {
        return Err(ManageError::Internal);
    };
    let catalog = &policy.catalog;
    let set = catalog
        .parse_list(&scopes.join(" "))
        .map_err(|e| FieldError::new("scopes", format!("{e}; admin tokens take admin:read and admin:write")))?;
    if set.is_empty() {
        return Err(FieldError::new("scopes", "name at least one of admin:read, admin:write").into());
    }
    let normalized = catalog.normalize(catalog.close(&set).set());
    let token = secrets::generate(SecretKind::AdminToken);
    let record = AdminTokenRecord {
        id: secrets::generate(SecretKind::AdminTokenId),
        hash: secrets::hash(&token),
        scopes: catalog.names(&normalized).map(str::to_owned).collect(),
        created_at: state.now(),
        revoked_at: None,
    };
    if !state.store.create_admin_token(&record).await? {
        return Err(ManageError::Conflict(
            "an admin token with this id exists; try again".into(),
        ));
    }
    let detail = format!("id={} scopes=\"{}\"", record.id, record.scopes.join(" "));
    audit(state, actor, "admin_token_create", None, detail).await?;
    Ok((token, record))
}

/// Starts a new signing key and retires the others (they stay published
/// until their tokens expire). Every node on the database loads it through
/// the change feed, as after `scopegate keys rotate`.
pub async fn rotate_signing_key<S: Store>(state: &AppState<S>, actor: &Actor) -> Result<String> {
    let key = state
        .keys
        .new_key(state.now(), state.policy.settings.tokens.algorithm)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot make a signing key");
            ManageError::Internal
        })?;
    state.store.rotate_signing_key(&key).await?;
    audit(state, actor, "signing_key_rotate", None, format!("kid={}", key.kid)).await?;
    Ok(key.kid)
}
