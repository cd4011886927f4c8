//! [`Database`]: the store a policy's `database` URL names, one type over
//! both backends. The server's state and the command line hold this rather
//! than a type parameter; each call is one `match` on the backend, next to a
//! database round trip.

use std::future::Future;

use crate::{
    AdminTokenRecord, AuditEvent, AuditFilter, Backend, Change, ChangeRow, ClientRecord, ClientSecret, CodeRecord,
    ConsentRecord, KeyRecord, PgStore, Purged, R, ScopeRequestRecord, SessionRecord, SqliteStore, Store, StoreError,
    Subscription, TokenRecord, UserRecord, redacted,
};

/// SQLite (the embedded default) or PostgreSQL (for several nodes).
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Database {
    /// Opens the database `url` names (`sqlite://` or `postgres://`),
    /// creating and migrating it on first use.
    pub async fn open(url: &str) -> R<Self> {
        let db = match Backend::of(url) {
            Some(Backend::Sqlite) => Database::Sqlite(
                SqliteStore::connect(url)
                    .await
                    .map_err(|e| StoreError(format!("cannot open {url}: {}", e.0)))?,
            ),
            Some(Backend::Postgres) => Database::Postgres(
                PgStore::connect(url)
                    .await
                    .map_err(|e| StoreError(format!("cannot connect to {}: {}", redacted(url), e.0)))?,
            ),
            None => {
                return Err(StoreError(format!(
                    "database {:?} is neither sqlite:// nor postgres://",
                    redacted(url)
                )));
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }
}

impl From<SqliteStore> for Database {
    fn from(s: SqliteStore) -> Self {
        Database::Sqlite(s)
    }
}

impl From<PgStore> for Database {
    fn from(s: PgStore) -> Self {
        Database::Postgres(s)
    }
}

impl Store for Database {
    fn ping(&self) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.ping().await,
                Database::Postgres(s) => s.ping().await,
            }
        }
    }

    fn migrate(&self) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.migrate().await,
                Database::Postgres(s) => s.migrate().await,
            }
        }
    }

    fn parallel_commits(&self) -> usize {
        match self {
            Database::Sqlite(s) => s.parallel_commits(),
            Database::Postgres(s) => s.parallel_commits(),
        }
    }

    fn create_app(
        &self,
        app_id: &str,
        name: &str,
        owner: Option<&str>,
        client: &ClientRecord,
    ) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.create_app(app_id, name, owner, client).await,
                Database::Postgres(s) => s.create_app(app_id, name, owner, client).await,
            }
        }
    }

    fn add_key_set(&self, client: &ClientRecord) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.add_key_set(client).await,
                Database::Postgres(s) => s.add_key_set(client).await,
            }
        }
    }

    fn set_redirect_uris(&self, client_id: &str, uris: &[String]) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.set_redirect_uris(client_id, uris).await,
                Database::Postgres(s) => s.set_redirect_uris(client_id, uris).await,
            }
        }
    }

    fn client(&self, client_id: &str) -> impl Future<Output = R<Option<ClientRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.client(client_id).await,
                Database::Postgres(s) => s.client(client_id).await,
            }
        }
    }

    fn clients(&self) -> impl Future<Output = R<Vec<ClientRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.clients().await,
                Database::Postgres(s) => s.clients().await,
            }
        }
    }

    fn apps(&self, after: Option<&str>, limit: i64) -> impl Future<Output = R<Vec<ClientRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.apps(after, limit).await,
                Database::Postgres(s) => s.apps(after, limit).await,
            }
        }
    }

    fn owned_key_sets(&self, owner: &str) -> impl Future<Output = R<Vec<ClientRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.owned_key_sets(owner).await,
                Database::Postgres(s) => s.owned_key_sets(owner).await,
            }
        }
    }

    fn count_owned_apps(&self, owner: &str) -> impl Future<Output = R<i64>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.count_owned_apps(owner).await,
                Database::Postgres(s) => s.count_owned_apps(owner).await,
            }
        }
    }

    fn count_pending_requests_by(&self, requested_by: &str) -> impl Future<Output = R<i64>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.count_pending_requests_by(requested_by).await,
                Database::Postgres(s) => s.count_pending_requests_by(requested_by).await,
            }
        }
    }

    fn app(&self, app_id: &str) -> impl Future<Output = R<Vec<ClientRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.app(app_id).await,
                Database::Postgres(s) => s.app(app_id).await,
            }
        }
    }

    fn delete_app(&self, app_id: &str) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.delete_app(app_id).await,
                Database::Postgres(s) => s.delete_app(app_id).await,
            }
        }
    }

    fn revoke_client_tokens(&self, client_id: &str, at: i64) -> impl Future<Output = R<Option<u64>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_client_tokens(client_id, at).await,
                Database::Postgres(s) => s.revoke_client_tokens(client_id, at).await,
            }
        }
    }

    fn add_client_secret(
        &self,
        client_id: &str,
        secret: &ClientSecret,
        revoke_others_at: Option<i64>,
    ) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.add_client_secret(client_id, secret, revoke_others_at).await,
                Database::Postgres(s) => s.add_client_secret(client_id, secret, revoke_others_at).await,
            }
        }
    }

    fn revoke_client_secret(&self, client_id: &str, secret_id: &str, at: i64) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_client_secret(client_id, secret_id, at).await,
                Database::Postgres(s) => s.revoke_client_secret(client_id, secret_id, at).await,
            }
        }
    }

    fn create_user(&self, user: &UserRecord) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.create_user(user).await,
                Database::Postgres(s) => s.create_user(user).await,
            }
        }
    }

    fn user(&self, login: &str) -> impl Future<Output = R<Option<UserRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.user(login).await,
                Database::Postgres(s) => s.user(login).await,
            }
        }
    }

    fn users(&self) -> impl Future<Output = R<Vec<UserRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.users().await,
                Database::Postgres(s) => s.users().await,
            }
        }
    }

    fn users_page(&self, after: Option<&str>, limit: i64) -> impl Future<Output = R<Vec<UserRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.users_page(after, limit).await,
                Database::Postgres(s) => s.users_page(after, limit).await,
            }
        }
    }

    fn revoke_user_tokens(&self, login: &str, at: i64) -> impl Future<Output = R<Option<u64>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_user_tokens(login, at).await,
                Database::Postgres(s) => s.revoke_user_tokens(login, at).await,
            }
        }
    }

    fn set_permissions(&self, login: &str, permissions: &[String]) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.set_permissions(login, permissions).await,
                Database::Postgres(s) => s.set_permissions(login, permissions).await,
            }
        }
    }

    fn set_user_enabled(&self, login: &str, enabled: bool) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.set_user_enabled(login, enabled).await,
                Database::Postgres(s) => s.set_user_enabled(login, enabled).await,
            }
        }
    }

    fn insert_tokens(&self, tokens: &[TokenRecord]) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.insert_tokens(tokens).await,
                Database::Postgres(s) => s.insert_tokens(tokens).await,
            }
        }
    }

    fn token(&self, hash: &[u8]) -> impl Future<Output = R<Option<TokenRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.token(hash).await,
                Database::Postgres(s) => s.token(hash).await,
            }
        }
    }

    fn rotate_refresh(&self, old: &[u8], new: &[TokenRecord]) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.rotate_refresh(old, new).await,
                Database::Postgres(s) => s.rotate_refresh(old, new).await,
            }
        }
    }

    fn revoke_token(&self, hash: &[u8]) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_token(hash).await,
                Database::Postgres(s) => s.revoke_token(hash).await,
            }
        }
    }

    fn revoke_grant(&self, grant_id: &str) -> impl Future<Output = R<u64>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_grant(grant_id).await,
                Database::Postgres(s) => s.revoke_grant(grant_id).await,
            }
        }
    }

    fn revoke_jti(&self, jti: &str, expires_at: Option<i64>) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_jti(jti, expires_at).await,
                Database::Postgres(s) => s.revoke_jti(jti, expires_at).await,
            }
        }
    }

    fn is_revoked(&self, jti: &str, grant_id: &str) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.is_revoked(jti, grant_id).await,
                Database::Postgres(s) => s.is_revoked(jti, grant_id).await,
            }
        }
    }

    fn revocations(&self, now: i64) -> impl Future<Output = R<Vec<String>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revocations(now).await,
                Database::Postgres(s) => s.revocations(now).await,
            }
        }
    }

    fn create_session(&self, session: &SessionRecord) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.create_session(session).await,
                Database::Postgres(s) => s.create_session(session).await,
            }
        }
    }

    fn session(&self, hash: &[u8]) -> impl Future<Output = R<Option<SessionRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.session(hash).await,
                Database::Postgres(s) => s.session(hash).await,
            }
        }
    }

    fn delete_session(&self, hash: &[u8]) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.delete_session(hash).await,
                Database::Postgres(s) => s.delete_session(hash).await,
            }
        }
    }

    fn put_shown_once(
        &self,
        hash: &[u8],
        login: &str,
        sealed: &[u8],
        expires_at: i64,
    ) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.put_shown_once(hash, login, sealed, expires_at).await,
                Database::Postgres(s) => s.put_shown_once(hash, login, sealed, expires_at).await,
            }
        }
    }

    fn take_shown_once(&self, hash: &[u8], login: &str, now: i64) -> impl Future<Output = R<Option<Vec<u8>>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.take_shown_once(hash, login, now).await,
                Database::Postgres(s) => s.take_shown_once(hash, login, now).await,
            }
        }
    }

    fn delete_sessions(&self, login: &str) -> impl Future<Output = R<u64>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.delete_sessions(login).await,
                Database::Postgres(s) => s.delete_sessions(login).await,
            }
        }
    }

    fn purge_expired(&self, now: i64, limit: i64) -> impl Future<Output = R<Purged>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.purge_expired(now, limit).await,
                Database::Postgres(s) => s.purge_expired(now, limit).await,
            }
        }
    }

    fn prune_audit(&self, before: i64, limit: i64) -> impl Future<Output = R<u64>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.prune_audit(before, limit).await,
                Database::Postgres(s) => s.prune_audit(before, limit).await,
            }
        }
    }

    fn row_counts(&self) -> impl Future<Output = R<Vec<(String, i64)>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.row_counts().await,
                Database::Postgres(s) => s.row_counts().await,
            }
        }
    }

    fn insert_code(&self, code: &CodeRecord) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.insert_code(code).await,
                Database::Postgres(s) => s.insert_code(code).await,
            }
        }
    }

    fn take_code(&self, hash: &[u8]) -> impl Future<Output = R<Option<(CodeRecord, bool)>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.take_code(hash).await,
                Database::Postgres(s) => s.take_code(hash).await,
            }
        }
    }

    fn record_consent(&self, consent: &ConsentRecord) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.record_consent(consent).await,
                Database::Postgres(s) => s.record_consent(consent).await,
            }
        }
    }

    fn revoke_consent(&self, login: &str, client_id: &str, at: i64) -> impl Future<Output = R<Option<u64>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_consent(login, client_id, at).await,
                Database::Postgres(s) => s.revoke_consent(login, client_id, at).await,
            }
        }
    }

    fn consents(&self, login: &str) -> impl Future<Output = R<Vec<ConsentRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.consents(login).await,
                Database::Postgres(s) => s.consents(login).await,
            }
        }
    }

    fn signing_keys(&self) -> impl Future<Output = R<Vec<KeyRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.signing_keys().await,
                Database::Postgres(s) => s.signing_keys().await,
            }
        }
    }

    fn set_signing_key_der(&self, kid: &str, der: &[u8]) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.set_signing_key_der(kid, der).await,
                Database::Postgres(s) => s.set_signing_key_der(kid, der).await,
            }
        }
    }

    fn insert_signing_key(&self, key: &KeyRecord) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.insert_signing_key(key).await,
                Database::Postgres(s) => s.insert_signing_key(key).await,
            }
        }
    }

    fn ensure_signing_key(&self, key: &KeyRecord) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.ensure_signing_key(key).await,
                Database::Postgres(s) => s.ensure_signing_key(key).await,
            }
        }
    }

    fn rotate_signing_key(&self, key: &KeyRecord) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.rotate_signing_key(key).await,
                Database::Postgres(s) => s.rotate_signing_key(key).await,
            }
        }
    }

    fn record_change(&self, change: &Change) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.record_change(change).await,
                Database::Postgres(s) => s.record_change(change).await,
            }
        }
    }

    fn changes_after(&self, after: i64, limit: i64) -> impl Future<Output = R<Vec<ChangeRow>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.changes_after(after, limit).await,
                Database::Postgres(s) => s.changes_after(after, limit).await,
            }
        }
    }

    fn last_change(&self) -> impl Future<Output = R<i64>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.last_change().await,
                Database::Postgres(s) => s.last_change().await,
            }
        }
    }

    fn prune_changes(&self, before: i64) -> impl Future<Output = R<u64>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.prune_changes(before).await,
                Database::Postgres(s) => s.prune_changes(before).await,
            }
        }
    }

    fn subscribe(&self) -> impl Future<Output = R<Subscription>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.subscribe().await,
                Database::Postgres(s) => s.subscribe().await,
            }
        }
    }

    fn audit(&self, event: &AuditEvent) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.audit(event).await,
                Database::Postgres(s) => s.audit(event).await,
            }
        }
    }

    fn commit_batch(&self, tokens: &[TokenRecord], events: &[AuditEvent]) -> impl Future<Output = R<()>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.commit_batch(tokens, events).await,
                Database::Postgres(s) => s.commit_batch(tokens, events).await,
            }
        }
    }

    fn audit_log(&self, limit: i64) -> impl Future<Output = R<Vec<AuditEvent>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.audit_log(limit).await,
                Database::Postgres(s) => s.audit_log(limit).await,
            }
        }
    }

    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = R<Vec<(i64, AuditEvent)>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.audit_page(filter, before, limit).await,
                Database::Postgres(s) => s.audit_page(filter, before, limit).await,
            }
        }
    }

    fn create_scope_request(&self, request: &ScopeRequestRecord) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.create_scope_request(request).await,
                Database::Postgres(s) => s.create_scope_request(request).await,
            }
        }
    }

    fn scope_requests(
        &self,
        pending_only: bool,
        client_id: Option<&str>,
    ) -> impl Future<Output = R<Vec<ScopeRequestRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.scope_requests(pending_only, client_id).await,
                Database::Postgres(s) => s.scope_requests(pending_only, client_id).await,
            }
        }
    }

    fn scope_request(&self, id: &str) -> impl Future<Output = R<Option<ScopeRequestRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.scope_request(id).await,
                Database::Postgres(s) => s.scope_request(id).await,
            }
        }
    }

    fn decide_scope_request(
        &self,
        id: &str,
        grant: bool,
        by: &str,
        at: i64,
    ) -> impl Future<Output = R<Option<ScopeRequestRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.decide_scope_request(id, grant, by, at).await,
                Database::Postgres(s) => s.decide_scope_request(id, grant, by, at).await,
            }
        }
    }

    fn create_admin_token(&self, token: &AdminTokenRecord) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.create_admin_token(token).await,
                Database::Postgres(s) => s.create_admin_token(token).await,
            }
        }
    }

    fn admin_token(&self, hash: &[u8]) -> impl Future<Output = R<Option<AdminTokenRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.admin_token(hash).await,
                Database::Postgres(s) => s.admin_token(hash).await,
            }
        }
    }

    fn admin_tokens(&self) -> impl Future<Output = R<Vec<AdminTokenRecord>>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.admin_tokens().await,
                Database::Postgres(s) => s.admin_tokens().await,
            }
        }
    }

    fn revoke_admin_token(&self, id: &str, at: i64) -> impl Future<Output = R<bool>> + Send {
        async move {
            match self {
                Database::Sqlite(s) => s.revoke_admin_token(id, at).await,
                Database::Postgres(s) => s.revoke_admin_token(id, at).await,
            }
        }
    }
}
