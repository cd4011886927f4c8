//! [`Database`]: the store a policy's `database` URL names, one type over
//! both backends. The server's state and the command line hold this rather
//! than a type parameter; each call is one `match` on the backend, next to a
//! database round trip.

use crate::{
    AdminTokenRecord, AuditEvent, AuditFilter, Backend, ChallengeRecord, Change, ChangeRow, ClientSecret, CodeRecord,
    ConsentRecord, Distrusted, KeyRecord, KeySetRecord, PgStore, Purged, R, ScopeRequestRecord, SessionRecord,
    SourceSignIn, SqliteStore, Store, StoreError, Subscription, TokenRecord, UserRecord, redacted,
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
    async fn user_by_subject(&self, source: &str, subject: &str) -> R<Option<UserRecord>> {
        match self {
            Database::Sqlite(s) => s.user_by_subject(source, subject).await,
            Database::Postgres(s) => s.user_by_subject(source, subject).await,
        }
    }

    async fn record_source_sign_in(&self, sign_in: &SourceSignIn<'_>) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.record_source_sign_in(sign_in).await,
            Database::Postgres(s) => s.record_source_sign_in(sign_in).await,
        }
    }

    async fn create_challenge(&self, challenge: &ChallengeRecord) -> R<()> {
        match self {
            Database::Sqlite(s) => s.create_challenge(challenge).await,
            Database::Postgres(s) => s.create_challenge(challenge).await,
        }
    }

    async fn challenge(&self, hash: &[u8]) -> R<Option<ChallengeRecord>> {
        match self {
            Database::Sqlite(s) => s.challenge(hash).await,
            Database::Postgres(s) => s.challenge(hash).await,
        }
    }

    async fn settle_challenge(&self, hash: &[u8], outcome: &str, now: i64) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.settle_challenge(hash, outcome, now).await,
            Database::Postgres(s) => s.settle_challenge(hash, outcome, now).await,
        }
    }

    async fn take_challenge(&self, hash: &[u8]) -> R<Option<(ChallengeRecord, bool)>> {
        match self {
            Database::Sqlite(s) => s.take_challenge(hash).await,
            Database::Postgres(s) => s.take_challenge(hash).await,
        }
    }

    async fn ping(&self) -> R<()> {
        match self {
            Database::Sqlite(s) => s.ping().await,
            Database::Postgres(s) => s.ping().await,
        }
    }

    async fn migrate(&self) -> R<()> {
        match self {
            Database::Sqlite(s) => s.migrate().await,
            Database::Postgres(s) => s.migrate().await,
        }
    }

    async fn distrust_before(&self, at: i64, secrets_expire_at: i64) -> R<Distrusted> {
        match self {
            Database::Sqlite(s) => s.distrust_before(at, secrets_expire_at).await,
            Database::Postgres(s) => s.distrust_before(at, secrets_expire_at).await,
        }
    }

    async fn note_secret_used(&self, secret_id: &str, at: i64) -> R<()> {
        match self {
            Database::Sqlite(s) => s.note_secret_used(secret_id, at).await,
            Database::Postgres(s) => s.note_secret_used(secret_id, at).await,
        }
    }

    async fn backup_to(&self, to: &std::path::Path) -> R<()> {
        match self {
            Database::Sqlite(s) => s.backup_to(to).await,
            Database::Postgres(s) => s.backup_to(to).await,
        }
    }

    async fn schema_version(&self) -> R<i64> {
        match self {
            Database::Sqlite(s) => s.schema_version().await,
            Database::Postgres(s) => s.schema_version().await,
        }
    }

    fn parallel_commits(&self) -> usize {
        match self {
            Database::Sqlite(s) => s.parallel_commits(),
            Database::Postgres(s) => s.parallel_commits(),
        }
    }

    async fn create_app(&self, app_id: &str, name: &str, owner: Option<&str>, client: &KeySetRecord) -> R<()> {
        match self {
            Database::Sqlite(s) => s.create_app(app_id, name, owner, client).await,
            Database::Postgres(s) => s.create_app(app_id, name, owner, client).await,
        }
    }

    async fn add_key_set(&self, client: &KeySetRecord) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.add_key_set(client).await,
            Database::Postgres(s) => s.add_key_set(client).await,
        }
    }

    async fn set_redirect_uris(&self, client_id: &str, uris: &[String]) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.set_redirect_uris(client_id, uris).await,
            Database::Postgres(s) => s.set_redirect_uris(client_id, uris).await,
        }
    }

    async fn key_set(&self, client_id: &str) -> R<Option<KeySetRecord>> {
        match self {
            Database::Sqlite(s) => s.key_set(client_id).await,
            Database::Postgres(s) => s.key_set(client_id).await,
        }
    }

    async fn key_sets(&self) -> R<Vec<KeySetRecord>> {
        match self {
            Database::Sqlite(s) => s.key_sets().await,
            Database::Postgres(s) => s.key_sets().await,
        }
    }

    async fn apps(&self, after: Option<&str>, limit: i64) -> R<Vec<KeySetRecord>> {
        match self {
            Database::Sqlite(s) => s.apps(after, limit).await,
            Database::Postgres(s) => s.apps(after, limit).await,
        }
    }

    async fn owned_key_sets(&self, owner: &str) -> R<Vec<KeySetRecord>> {
        match self {
            Database::Sqlite(s) => s.owned_key_sets(owner).await,
            Database::Postgres(s) => s.owned_key_sets(owner).await,
        }
    }

    async fn count_owned_apps(&self, owner: &str) -> R<i64> {
        match self {
            Database::Sqlite(s) => s.count_owned_apps(owner).await,
            Database::Postgres(s) => s.count_owned_apps(owner).await,
        }
    }

    async fn count_pending_requests_by(&self, requested_by: &str) -> R<i64> {
        match self {
            Database::Sqlite(s) => s.count_pending_requests_by(requested_by).await,
            Database::Postgres(s) => s.count_pending_requests_by(requested_by).await,
        }
    }

    async fn app(&self, app_id: &str) -> R<Vec<KeySetRecord>> {
        match self {
            Database::Sqlite(s) => s.app(app_id).await,
            Database::Postgres(s) => s.app(app_id).await,
        }
    }

    async fn delete_app(&self, app_id: &str) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.delete_app(app_id).await,
            Database::Postgres(s) => s.delete_app(app_id).await,
        }
    }

    async fn revoke_key_set_tokens(&self, client_id: &str, at: i64) -> R<Option<u64>> {
        match self {
            Database::Sqlite(s) => s.revoke_key_set_tokens(client_id, at).await,
            Database::Postgres(s) => s.revoke_key_set_tokens(client_id, at).await,
        }
    }

    async fn add_client_secret(
        &self,
        client_id: &str,
        secret: &ClientSecret,
        revoke_others_at: Option<i64>,
    ) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.add_client_secret(client_id, secret, revoke_others_at).await,
            Database::Postgres(s) => s.add_client_secret(client_id, secret, revoke_others_at).await,
        }
    }

    async fn revoke_client_secret(&self, client_id: &str, secret_id: &str, at: i64) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.revoke_client_secret(client_id, secret_id, at).await,
            Database::Postgres(s) => s.revoke_client_secret(client_id, secret_id, at).await,
        }
    }

    async fn create_user(&self, user: &UserRecord) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.create_user(user).await,
            Database::Postgres(s) => s.create_user(user).await,
        }
    }

    async fn user(&self, login: &str) -> R<Option<UserRecord>> {
        match self {
            Database::Sqlite(s) => s.user(login).await,
            Database::Postgres(s) => s.user(login).await,
        }
    }

    async fn users(&self) -> R<Vec<UserRecord>> {
        match self {
            Database::Sqlite(s) => s.users().await,
            Database::Postgres(s) => s.users().await,
        }
    }

    async fn users_page(&self, after: Option<&str>, limit: i64) -> R<Vec<UserRecord>> {
        match self {
            Database::Sqlite(s) => s.users_page(after, limit).await,
            Database::Postgres(s) => s.users_page(after, limit).await,
        }
    }

    async fn revoke_user_tokens(&self, login: &str, at: i64) -> R<Option<u64>> {
        match self {
            Database::Sqlite(s) => s.revoke_user_tokens(login, at).await,
            Database::Postgres(s) => s.revoke_user_tokens(login, at).await,
        }
    }

    async fn set_permissions(&self, login: &str, permissions: &[String]) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.set_permissions(login, permissions).await,
            Database::Postgres(s) => s.set_permissions(login, permissions).await,
        }
    }

    async fn set_user_enabled(&self, login: &str, enabled: bool) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.set_user_enabled(login, enabled).await,
            Database::Postgres(s) => s.set_user_enabled(login, enabled).await,
        }
    }

    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> R<()> {
        match self {
            Database::Sqlite(s) => s.insert_tokens(tokens).await,
            Database::Postgres(s) => s.insert_tokens(tokens).await,
        }
    }

    async fn token(&self, hash: &[u8]) -> R<Option<TokenRecord>> {
        match self {
            Database::Sqlite(s) => s.token(hash).await,
            Database::Postgres(s) => s.token(hash).await,
        }
    }

    async fn rotate_refresh(&self, old: &[u8], new: &[TokenRecord]) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.rotate_refresh(old, new).await,
            Database::Postgres(s) => s.rotate_refresh(old, new).await,
        }
    }

    async fn revoke_token(&self, hash: &[u8]) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.revoke_token(hash).await,
            Database::Postgres(s) => s.revoke_token(hash).await,
        }
    }

    async fn revoke_grant(&self, grant_id: &str) -> R<u64> {
        match self {
            Database::Sqlite(s) => s.revoke_grant(grant_id).await,
            Database::Postgres(s) => s.revoke_grant(grant_id).await,
        }
    }

    async fn revoke_jti(&self, jti: &str, expires_at: Option<i64>) -> R<()> {
        match self {
            Database::Sqlite(s) => s.revoke_jti(jti, expires_at).await,
            Database::Postgres(s) => s.revoke_jti(jti, expires_at).await,
        }
    }

    async fn is_revoked(&self, jti: &str, grant_id: &str) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.is_revoked(jti, grant_id).await,
            Database::Postgres(s) => s.is_revoked(jti, grant_id).await,
        }
    }

    async fn revocations(&self, now: i64) -> R<Vec<String>> {
        match self {
            Database::Sqlite(s) => s.revocations(now).await,
            Database::Postgres(s) => s.revocations(now).await,
        }
    }

    async fn create_session(&self, session: &SessionRecord) -> R<()> {
        match self {
            Database::Sqlite(s) => s.create_session(session).await,
            Database::Postgres(s) => s.create_session(session).await,
        }
    }

    async fn session(&self, hash: &[u8]) -> R<Option<SessionRecord>> {
        match self {
            Database::Sqlite(s) => s.session(hash).await,
            Database::Postgres(s) => s.session(hash).await,
        }
    }

    async fn delete_session(&self, hash: &[u8]) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.delete_session(hash).await,
            Database::Postgres(s) => s.delete_session(hash).await,
        }
    }

    async fn put_shown_once(&self, hash: &[u8], login: &str, sealed: &[u8], expires_at: i64) -> R<()> {
        match self {
            Database::Sqlite(s) => s.put_shown_once(hash, login, sealed, expires_at).await,
            Database::Postgres(s) => s.put_shown_once(hash, login, sealed, expires_at).await,
        }
    }

    async fn take_shown_once(&self, hash: &[u8], login: &str, now: i64) -> R<Option<Vec<u8>>> {
        match self {
            Database::Sqlite(s) => s.take_shown_once(hash, login, now).await,
            Database::Postgres(s) => s.take_shown_once(hash, login, now).await,
        }
    }

    async fn delete_sessions(&self, login: &str) -> R<u64> {
        match self {
            Database::Sqlite(s) => s.delete_sessions(login).await,
            Database::Postgres(s) => s.delete_sessions(login).await,
        }
    }

    async fn purge_expired(&self, now: i64, limit: i64) -> R<Purged> {
        match self {
            Database::Sqlite(s) => s.purge_expired(now, limit).await,
            Database::Postgres(s) => s.purge_expired(now, limit).await,
        }
    }

    async fn prune_audit(&self, before: i64, limit: i64) -> R<u64> {
        match self {
            Database::Sqlite(s) => s.prune_audit(before, limit).await,
            Database::Postgres(s) => s.prune_audit(before, limit).await,
        }
    }

    async fn row_counts(&self) -> R<Vec<(String, i64)>> {
        match self {
            Database::Sqlite(s) => s.row_counts().await,
            Database::Postgres(s) => s.row_counts().await,
        }
    }

    async fn insert_code(&self, code: &CodeRecord) -> R<()> {
        match self {
            Database::Sqlite(s) => s.insert_code(code).await,
            Database::Postgres(s) => s.insert_code(code).await,
        }
    }

    async fn take_code(&self, hash: &[u8]) -> R<Option<(CodeRecord, bool)>> {
        match self {
            Database::Sqlite(s) => s.take_code(hash).await,
            Database::Postgres(s) => s.take_code(hash).await,
        }
    }

    async fn record_consent(&self, consent: &ConsentRecord) -> R<()> {
        match self {
            Database::Sqlite(s) => s.record_consent(consent).await,
            Database::Postgres(s) => s.record_consent(consent).await,
        }
    }

    async fn revoke_consent(&self, login: &str, client_id: &str, at: i64) -> R<Option<u64>> {
        match self {
            Database::Sqlite(s) => s.revoke_consent(login, client_id, at).await,
            Database::Postgres(s) => s.revoke_consent(login, client_id, at).await,
        }
    }

    async fn consents(&self, login: &str) -> R<Vec<ConsentRecord>> {
        match self {
            Database::Sqlite(s) => s.consents(login).await,
            Database::Postgres(s) => s.consents(login).await,
        }
    }

    async fn signing_keys(&self) -> R<Vec<KeyRecord>> {
        match self {
            Database::Sqlite(s) => s.signing_keys().await,
            Database::Postgres(s) => s.signing_keys().await,
        }
    }

    async fn set_signing_key_der(&self, kid: &str, der: &[u8]) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.set_signing_key_der(kid, der).await,
            Database::Postgres(s) => s.set_signing_key_der(kid, der).await,
        }
    }

    async fn insert_signing_key(&self, key: &KeyRecord) -> R<()> {
        match self {
            Database::Sqlite(s) => s.insert_signing_key(key).await,
            Database::Postgres(s) => s.insert_signing_key(key).await,
        }
    }

    async fn ensure_signing_key(&self, key: &KeyRecord) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.ensure_signing_key(key).await,
            Database::Postgres(s) => s.ensure_signing_key(key).await,
        }
    }

    async fn rotate_signing_key(&self, key: &KeyRecord) -> R<()> {
        match self {
            Database::Sqlite(s) => s.rotate_signing_key(key).await,
            Database::Postgres(s) => s.rotate_signing_key(key).await,
        }
    }

    async fn record_change(&self, change: &Change) -> R<()> {
        match self {
            Database::Sqlite(s) => s.record_change(change).await,
            Database::Postgres(s) => s.record_change(change).await,
        }
    }

    async fn changes_after(&self, after: i64, limit: i64) -> R<Vec<ChangeRow>> {
        match self {
            Database::Sqlite(s) => s.changes_after(after, limit).await,
            Database::Postgres(s) => s.changes_after(after, limit).await,
        }
    }

    async fn last_change(&self) -> R<i64> {
        match self {
            Database::Sqlite(s) => s.last_change().await,
            Database::Postgres(s) => s.last_change().await,
        }
    }

    async fn prune_changes(&self, before: i64) -> R<u64> {
        match self {
            Database::Sqlite(s) => s.prune_changes(before).await,
            Database::Postgres(s) => s.prune_changes(before).await,
        }
    }

    async fn subscribe(&self) -> R<Subscription> {
        match self {
            Database::Sqlite(s) => s.subscribe().await,
            Database::Postgres(s) => s.subscribe().await,
        }
    }

    async fn audit(&self, event: &AuditEvent) -> R<()> {
        match self {
            Database::Sqlite(s) => s.audit(event).await,
            Database::Postgres(s) => s.audit(event).await,
        }
    }

    async fn commit_batch(&self, tokens: &[TokenRecord], events: &[AuditEvent]) -> R<()> {
        match self {
            Database::Sqlite(s) => s.commit_batch(tokens, events).await,
            Database::Postgres(s) => s.commit_batch(tokens, events).await,
        }
    }

    async fn audit_log(&self, limit: i64) -> R<Vec<AuditEvent>> {
        match self {
            Database::Sqlite(s) => s.audit_log(limit).await,
            Database::Postgres(s) => s.audit_log(limit).await,
        }
    }

    async fn audit_page(&self, filter: &AuditFilter, before: Option<i64>, limit: i64) -> R<Vec<(i64, AuditEvent)>> {
        match self {
            Database::Sqlite(s) => s.audit_page(filter, before, limit).await,
            Database::Postgres(s) => s.audit_page(filter, before, limit).await,
        }
    }

    async fn create_scope_request(&self, request: &ScopeRequestRecord) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.create_scope_request(request).await,
            Database::Postgres(s) => s.create_scope_request(request).await,
        }
    }

    async fn scope_requests(&self, pending_only: bool, client_id: Option<&str>) -> R<Vec<ScopeRequestRecord>> {
        match self {
            Database::Sqlite(s) => s.scope_requests(pending_only, client_id).await,
            Database::Postgres(s) => s.scope_requests(pending_only, client_id).await,
        }
    }

    async fn scope_request(&self, id: &str) -> R<Option<ScopeRequestRecord>> {
        match self {
            Database::Sqlite(s) => s.scope_request(id).await,
            Database::Postgres(s) => s.scope_request(id).await,
        }
    }

    async fn decide_scope_request(&self, id: &str, grant: bool, by: &str, at: i64) -> R<Option<ScopeRequestRecord>> {
        match self {
            Database::Sqlite(s) => s.decide_scope_request(id, grant, by, at).await,
            Database::Postgres(s) => s.decide_scope_request(id, grant, by, at).await,
        }
    }

    async fn create_admin_token(&self, token: &AdminTokenRecord) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.create_admin_token(token).await,
            Database::Postgres(s) => s.create_admin_token(token).await,
        }
    }

    async fn admin_token(&self, hash: &[u8]) -> R<Option<AdminTokenRecord>> {
        match self {
            Database::Sqlite(s) => s.admin_token(hash).await,
            Database::Postgres(s) => s.admin_token(hash).await,
        }
    }

    async fn admin_tokens(&self) -> R<Vec<AdminTokenRecord>> {
        match self {
            Database::Sqlite(s) => s.admin_tokens().await,
            Database::Postgres(s) => s.admin_tokens().await,
        }
    }

    async fn revoke_admin_token(&self, id: &str, at: i64) -> R<bool> {
        match self {
            Database::Sqlite(s) => s.revoke_admin_token(id, at).await,
            Database::Postgres(s) => s.revoke_admin_token(id, at).await,
        }
    }
}
