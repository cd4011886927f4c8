//! scopegate's storage: one [`Store`] trait with two real implementations on
//! sqlx, [`SqliteStore`] (the embedded default, WAL) and [`PgStore`] (for
//! several nodes). Both run the same SQL (see `impl_store!`) over their own
//! migrations, and one conformance suite (`tests/conformance.rs`) runs against both.
//!
//! It holds apps and their per-environment keys, users, tokens (by hash only)
//! and the audit trail. It is not where decisions are made: handlers load from
//! here, ask `scopegate-core`, and write the outcome back.
//!
//! Not-found is `Ok(None)` (or `Ok(false)` for an update that touched nothing);
//! any backend failure is one opaque [`StoreError`] that is logged, never shown.

mod changes;
mod database;
mod migrate;
mod records;
mod sql;
#[doc(hidden)]
pub mod testing;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use changes::{CHANNEL, Change, ChangeRow, Subscription, Wake};
pub use database::Database;
pub use records::{
    AdminTokenRecord, AuditEvent, AuditFilter, ChallengeRecord, ClientSecret, CodeRecord, ConsentRecord, Distrusted,
    KeyRecord, KeySetRecord, Purged, Registration, SECRET_USE_GRANULARITY, ScopeRequestRecord, SessionRecord,
    SourceSignIn, TokenKind, TokenRecord, UNUSED_REGISTRATION_SECONDS, UserRecord, revoked_by,
};

/// A storage failure. Its text is for logs only; callers answer 500.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

type R<T> = Result<T, StoreError>;

/// Everything scopegate persists. Every method is one atomic step.
pub trait Store: Clone + Send + Sync + 'static {
    /// One round trip to the database (readiness).
    fn ping(&self) -> impl Future<Output = R<()>> + Send;
    /// Creates or upgrades the schema (idempotent). Refuses a database whose
    /// schema is newer than this build knows (a downgrade), changing nothing.
    fn migrate(&self) -> impl Future<Output = R<()>> + Send;
    /// The schema version the database is at: its last migration applied
    /// (0 for a database never migrated).
    fn schema_version(&self) -> impl Future<Output = R<i64>> + Send;
    /// How many batch commits may be in flight at once (see the server's writer).
    fn parallel_commits(&self) -> usize;

    /// Registers an app with its first key set (and its secrets).
    fn create_app(
        &self,
        app_id: &str,
        name: &str,
        owner: Option<&str>,
        client: &KeySetRecord,
    ) -> impl Future<Output = R<()>> + Send;
    /// Adds a key set in another environment to the app `client.app_id`;
    /// `false` if there is no such app or it already has keys there.
    fn add_key_set(&self, client: &KeySetRecord) -> impl Future<Output = R<bool>> + Send;
    /// Replaces a key set's redirect URIs; `false` if there is no such key set.
    fn set_redirect_uris(&self, client_id: &str, uris: &[String]) -> impl Future<Output = R<bool>> + Send;
    fn key_set(&self, client_id: &str) -> impl Future<Output = R<Option<KeySetRecord>>> + Send;
    fn key_sets(&self) -> impl Future<Output = R<Vec<KeySetRecord>>> + Send;
    /// The key sets of up to `limit` apps whose ids sort after `after`, by
    /// app id, then by creation.
    fn apps(&self, after: Option<&str>, limit: i64) -> impl Future<Output = R<Vec<KeySetRecord>>> + Send;
    /// The key sets of the apps `owner` owns, by app id, then by creation.
    fn owned_key_sets(&self, owner: &str) -> impl Future<Output = R<Vec<KeySetRecord>>> + Send;
    /// How many apps `owner` owns.
    fn count_owned_apps(&self, owner: &str) -> impl Future<Output = R<i64>> + Send;
    /// How many scope requests filed by `requested_by` await a decision.
    fn count_pending_requests_by(&self, requested_by: &str) -> impl Future<Output = R<i64>> + Send;
    /// The key sets of one app (none: no such app).
    fn app(&self, app_id: &str) -> impl Future<Output = R<Vec<KeySetRecord>>> + Send;
    /// Deletes an app, all its key sets and their tokens.
    fn delete_app(&self, app_id: &str) -> impl Future<Output = R<bool>> + Send;
    /// Revokes every token of a key set issued until `at`, stored and
    /// stateless; `None` if there is no such key set, else how many stored
    /// tokens were live.
    fn revoke_key_set_tokens(&self, client_id: &str, at: i64) -> impl Future<Output = R<Option<u64>>> + Send;
    /// Adds a secret to a confidential key set; with `revoke_others_at`, every
    /// other active secret is revoked at that time, in the same transaction.
    /// `false` if there is no such confidential key set.
    fn add_client_secret(
        &self,
        client_id: &str,
        secret: &ClientSecret,
        revoke_others_at: Option<i64>,
    ) -> impl Future<Output = R<bool>> + Send;
    /// `false` if the key set has no such active secret.
    fn revoke_client_secret(&self, client_id: &str, secret_id: &str, at: i64) -> impl Future<Output = R<bool>> + Send;

    /// Adds a user; `false` if the login is taken.
    fn create_user(&self, user: &UserRecord) -> impl Future<Output = R<bool>> + Send;
    fn user(&self, login: &str) -> impl Future<Output = R<Option<UserRecord>>> + Send;
    fn users(&self) -> impl Future<Output = R<Vec<UserRecord>>> + Send;
    /// Up to `limit` users whose logins sort after `after`.
    fn users_page(&self, after: Option<&str>, limit: i64) -> impl Future<Output = R<Vec<UserRecord>>> + Send;
    /// Revokes every token of a user issued until `at`, as [`Store::revoke_key_set_tokens`].
    fn revoke_user_tokens(&self, login: &str, at: i64) -> impl Future<Output = R<Option<u64>>> + Send;
    fn set_permissions(&self, login: &str, permissions: &[String]) -> impl Future<Output = R<bool>> + Send;
    /// The user of `source` known there as `subject`.
    fn user_by_subject(&self, source: &str, subject: &str) -> impl Future<Output = R<Option<UserRecord>>> + Send;
    /// Records a sign-in through the user's source: binds the subject (if
    /// none yet), replaces the source's permissions and name, sets the
    /// time. `false` (nothing written) unless user `login` is of that
    /// source with that subject or none.
    fn record_source_sign_in(&self, sign_in: &SourceSignIn<'_>) -> impl Future<Output = R<bool>> + Send;
    /// Disabling a user also ends every session of theirs, in the same
    /// transaction, so enabling them again revives none.
    fn set_user_enabled(&self, login: &str, enabled: bool) -> impl Future<Output = R<bool>> + Send;

    /// Stores freshly issued tokens, all or none.
    fn insert_tokens(&self, tokens: &[TokenRecord]) -> impl Future<Output = R<()>> + Send;
    fn token(&self, hash: &[u8]) -> impl Future<Output = R<Option<TokenRecord>>> + Send;
    /// Marks refresh token `old` used and stores `new`, atomically, only if `old`
    /// was neither used nor revoked. `false` means reuse: of two concurrent
    /// refreshes at most one returns `true`.
    fn rotate_refresh(&self, old: &[u8], new: &[TokenRecord]) -> impl Future<Output = R<bool>> + Send;
    /// Revokes one token; `false` if it was unknown or already revoked.
    fn revoke_token(&self, hash: &[u8]) -> impl Future<Output = R<bool>> + Send;
    /// Revokes every token of a grant, stored ones and stateless (JWT) ones;
    /// returns how many stored tokens were live.
    fn revoke_grant(&self, grant_id: &str) -> impl Future<Output = R<u64>> + Send;
    /// Revokes one stateless token by its `jti`, remembered until `expires_at`.
    fn revoke_jti(&self, jti: &str, expires_at: Option<i64>) -> impl Future<Output = R<()>> + Send;
    /// Whether a stateless token with this `jti` and grant was revoked.
    fn is_revoked(&self, jti: &str, grant_id: &str) -> impl Future<Output = R<bool>> + Send;
    /// Every revocation still in force at `now`: `jti:<jti>` and `gid:<grant>`.
    fn revocations(&self, now: i64) -> impl Future<Output = R<Vec<String>>> + Send;

    fn create_session(&self, session: &SessionRecord) -> impl Future<Output = R<()>> + Send;
    fn session(&self, hash: &[u8]) -> impl Future<Output = R<Option<SessionRecord>>> + Send;
    fn delete_session(&self, hash: &[u8]) -> impl Future<Output = R<bool>> + Send;
    /// Keeps what one page shows once (sealed), by the SHA-256 of its key.
    fn put_shown_once(
        &self,
        hash: &[u8],
        login: &str,
        sealed: &[u8],
        expires_at: i64,
    ) -> impl Future<Output = R<()>> + Send;
    /// Takes (and removes) what `put_shown_once` kept for `login`, unless it
    /// expired by `now`: (sealed). Of concurrent takes one gets it.
    fn take_shown_once(&self, hash: &[u8], login: &str, now: i64) -> impl Future<Output = R<Option<Vec<u8>>>> + Send;
    /// Ends every session of a user; how many there were.
    fn delete_sessions(&self, login: &str) -> impl Future<Output = R<u64>> + Send;

    /// Removes up to `limit` records of each kind that can no longer be
    /// used at `now`: expired sessions and codes, tokens past their expiry,
    /// and revocations of stateless tokens that have expired. Bounded, so
    /// that a pass never holds the database long; safe with several nodes
    /// (each delete is one statement on what is already dead).
    fn purge_expired(&self, now: i64, limit: i64) -> impl Future<Output = R<Purged>> + Send;
    /// Removes up to `limit` audit events recorded before `before`, oldest first.
    fn prune_audit(&self, before: i64, limit: i64) -> impl Future<Output = R<u64>> + Send;
    /// How many rows each table holds, by table name.
    fn row_counts(&self) -> impl Future<Output = R<Vec<(String, i64)>>> + Send;
    /// Makes a restored database safe, in one transaction: every token and
    /// grant issued until `at` is refused (each key set's and user's cutoff,
    /// and every stored token revoked), codes and sessions are removed,
    /// admin tokens revoked, and every client secret still usable expires
    /// at `secrets_expire_at` at the latest. Every node forgets what it caches.
    fn distrust_before(&self, at: i64, secrets_expire_at: i64) -> impl Future<Output = R<Distrusted>> + Send;
    /// Records that a client secret authenticated at `at` (bookkeeping for
    /// the portal's "last used", not a change: no feed entry, no audit).
    fn note_secret_used(&self, secret_id: &str, at: i64) -> impl Future<Output = R<()>> + Send;
    /// Writes a consistent copy of the whole database, while it is in use,
    /// to the new file `to` (SQLite; PostgreSQL is backed up with `pg_dump`).
    fn backup_to(&self, to: &std::path::Path) -> impl Future<Output = R<()>> + Send;

    fn create_challenge(&self, challenge: &ChallengeRecord) -> impl Future<Output = R<()>> + Send;
    fn challenge(&self, hash: &[u8]) -> impl Future<Output = R<Option<ChallengeRecord>>> + Send;
    /// Records a delegation's answer, once, on an unused challenge that has
    /// not expired by `now`; `false` if there was none such.
    fn settle_challenge(&self, hash: &[u8], outcome: &str, now: i64) -> impl Future<Output = R<bool>> + Send;
    /// Marks a challenge used and returns it, with whether this was its
    /// first use. Of concurrent takes exactly one sees `true`.
    fn take_challenge(&self, hash: &[u8]) -> impl Future<Output = R<Option<(ChallengeRecord, bool)>>> + Send;

    fn insert_code(&self, code: &CodeRecord) -> impl Future<Output = R<()>> + Send;
    /// Marks a code used and returns it, with whether this was its first use.
    /// Of concurrent redemptions exactly one sees `true`.
    fn take_code(&self, hash: &[u8]) -> impl Future<Output = R<Option<(CodeRecord, bool)>>> + Send;

    /// Records (or replaces) a user's consent to a client.
    fn record_consent(&self, consent: &ConsentRecord) -> impl Future<Output = R<()>> + Send;
    /// Withdraws a user's consent to a client and revokes every grant the
    /// user made to it, stored tokens and stateless ones; `None` if there was
    /// no such consent, else how many stored tokens were live.
    fn revoke_consent(&self, login: &str, client_id: &str, at: i64) -> impl Future<Output = R<Option<u64>>> + Send;
    /// A user's consents, newest first.
    fn consents(&self, login: &str) -> impl Future<Output = R<Vec<ConsentRecord>>> + Send;

    /// Every signing key, newest first.
    fn signing_keys(&self) -> impl Future<Output = R<Vec<KeyRecord>>> + Send;
    /// Replaces a key's stored private part (sealing it under a KEK).
    fn set_signing_key_der(&self, kid: &str, der: &[u8]) -> impl Future<Output = R<bool>> + Send;
    fn insert_signing_key(&self, key: &KeyRecord) -> impl Future<Output = R<()>> + Send;
    /// Adds `key` and retires the others, unless a key of `key.alg` is in
    /// use: what a starting node does, under the same lock as migrations, so
    /// that nodes started together make one key. `false`: nothing written.
    fn ensure_signing_key(&self, key: &KeyRecord) -> impl Future<Output = R<bool>> + Send;
    /// Adds `key` and retires every other key in use, atomically and one
    /// rotation at a time across nodes (rotation).
    fn rotate_signing_key(&self, key: &KeyRecord) -> impl Future<Output = R<()>> + Send;

    /// Records a change for other processes' caches. The store's own
    /// writes record theirs in their transaction; this is for what is not in
    /// the database (a policy reload).
    fn record_change(&self, change: &Change) -> impl Future<Output = R<()>> + Send;
    /// Up to `limit` changes with ids above `after`, oldest first.
    fn changes_after(&self, after: i64, limit: i64) -> impl Future<Output = R<Vec<ChangeRow>>> + Send;
    /// The newest change's id (0: none yet).
    fn last_change(&self) -> impl Future<Output = R<i64>> + Send;
    /// Forgets changes recorded before `before`; returns how many.
    fn prune_changes(&self, before: i64) -> impl Future<Output = R<u64>> + Send;
    /// What wakes this process when there may be changes to read.
    fn subscribe(&self) -> impl Future<Output = R<Subscription>> + Send;

    fn audit(&self, event: &AuditEvent) -> impl Future<Output = R<()>> + Send;
    /// Stores tokens and audit events in one transaction: the group commit of
    /// a single writer, which never contends with itself for the write lock.
    fn commit_batch(&self, tokens: &[TokenRecord], events: &[AuditEvent]) -> impl Future<Output = R<()>> + Send;
    /// The newest audit events, newest first.
    fn audit_log(&self, limit: i64) -> impl Future<Output = R<Vec<AuditEvent>>> + Send;
    /// Up to `limit` matching events older than the event `before` (an id
    /// this returned), newest first, each with its id.
    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = R<Vec<(i64, AuditEvent)>>> + Send;

    /// `false` if the key set does not exist (nothing written).
    fn create_scope_request(&self, request: &ScopeRequestRecord) -> impl Future<Output = R<bool>> + Send;
    /// Requests, oldest first: every one, only pending ones, or one key set's.
    fn scope_requests(
        &self,
        pending_only: bool,
        client_id: Option<&str>,
    ) -> impl Future<Output = R<Vec<ScopeRequestRecord>>> + Send;
    fn scope_request(&self, id: &str) -> impl Future<Output = R<Option<ScopeRequestRecord>>> + Send;
    /// Decides a pending request; granting adds its scopes to the key set's,
    /// in the same transaction. `None` if there is no such pending request.
    fn decide_scope_request(
        &self,
        id: &str,
        grant: bool,
        by: &str,
        at: i64,
    ) -> impl Future<Output = R<Option<ScopeRequestRecord>>> + Send;

    /// `false` if the id or the hash is taken (nothing written).
    fn create_admin_token(&self, token: &AdminTokenRecord) -> impl Future<Output = R<bool>> + Send;
    fn admin_token(&self, hash: &[u8]) -> impl Future<Output = R<Option<AdminTokenRecord>>> + Send;
    /// Oldest first.
    fn admin_tokens(&self) -> impl Future<Output = R<Vec<AdminTokenRecord>>> + Send;
    /// `false` if there is no such token or it was already revoked.
    fn revoke_admin_token(&self, id: &str, at: i64) -> impl Future<Output = R<bool>> + Send;
}

/// The embedded default.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// The same pool: SQLite's durability is set per database (WAL, NORMAL).
    batch_pool: sqlx::SqlitePool,
}

/// PostgreSQL, for several nodes.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: sqlx::PgPool,
    /// Connections for issuance batches only, with `synchronous_commit = off`:
    /// the durability SQLite's WAL with `synchronous = NORMAL` gives. A crash
    /// of scopegate loses nothing; a crash of the database server may lose
    /// the last ~0.6 s of issued tokens, which then simply no longer work
    /// (fail closed). Revocations, rotations, apps and users use `pool`,
    /// fully durable.
    batch_pool: sqlx::PgPool,
}

/// The database holds signing keys and every hash: readable by its owner
/// only. SQLite gives the `-wal` and `-shm` files the main file's mode, so
/// the main file is made with 0600 before SQLite creates it, and an existing
/// file (or journal) readable by others is narrowed to 0600.
#[cfg(unix)]
fn owner_only(database: &std::path::Path) -> R<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let text = database.to_string_lossy();
    if text.is_empty() || text == ":memory:" || text.starts_with("file::memory:") {
        return Ok(());
    }
    let fail = |e: std::io::Error| StoreError(format!("{}: {e}", database.display()));
    if !database.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(database)
            .map_err(fail)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", database.display()));
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_: &std::path::Path) -> R<()> {
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing, readable by its owner only) `sqlite://FILE` in WAL mode.
    pub async fn connect(url: &str) -> R<Self> {
        let parsed = SqliteConnectOptions::from_str(url)?;
        owner_only(parsed.get_filename())?;
        let options = parsed
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // SQLite's default, stated: tokens are keyed in issuance order
            // (see scopegate-server's `secrets`), so a batch dirties a few
            // pages and a 1,000-page checkpoint is rare and short. (With random
            // keys it stalled a commit 10+ ms; 100 pages then helped, now it
            // costs a quarter of the throughput.)
            .pragma("wal_autocheckpoint", "1000");
        let pool = sqlite_pool(8, &options).await?;
        // SQLite has one writer at a time anyway: one connection for the
        // batches keeps their cached statements in one place.
        let batch_pool = sqlite_pool(1, &options).await?;
        Ok(Self { pool, batch_pool })
    }
}

/// How long opening a file another process is creating may keep answering
/// "database is locked" before that is the answer.
const SQLITE_OPEN_PATIENCE: Duration = Duration::from_secs(5);

/// SQLITE_BUSY or SQLITE_LOCKED, in any of their extended forms.
fn is_busy(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6)
}

/// A pool on `options`. Switching a new file to WAL takes a lock that SQLite
/// does not wait for (its busy handler is not called there), so nodes that
/// start together on a new file are told "database is locked": they try again.
async fn sqlite_pool(max: u32, options: &SqliteConnectOptions) -> R<sqlx::SqlitePool> {
    let give_up = std::time::Instant::now() + SQLITE_OPEN_PATIENCE;
    loop {
        match SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options.clone())
            .await
        {
            Err(sqlx::Error::Database(e))
                if std::time::Instant::now() < give_up
                    && e.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(is_busy) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return Ok(other?),
        }
    }
}

impl SqliteStore {
    /// `VACUUM INTO`: one read transaction, so a consistent copy of a WAL
    /// database in use (writers go on meanwhile), compacted, without its
    /// `-wal` file. The copy is made readable by its owner only, before
    /// anything is written to it: it holds what the database holds.
    async fn backup_file(&self, to: &std::path::Path) -> R<()> {
        let path = to
            .to_str()
            .ok_or_else(|| StoreError(format!("{}: the path is not UTF-8", to.display())))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(to)
            .map_err(|e| StoreError(format!("{}: {e}", to.display())))?;
        let copied = sqlx::query("VACUUM INTO $1").bind(path).execute(&self.pool).await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(to);
            return Err(e.into());
        }
        Ok(())
    }

    /// Another process on this file is seen by polling the feed.
    async fn subscription(&self) -> R<Subscription> {
        Ok(Subscription::poll())
    }
}

impl PgStore {
    /// PostgreSQL has its own tools for this, which the operator already runs.
    async fn backup_file(&self, _to: &std::path::Path) -> R<()> {
        Err(StoreError(
            "a PostgreSQL database is backed up with pg_dump (docs/production.md), not by scopegate".into(),
        ))
    }

    /// Every node is woken by `NOTIFY` on [`CHANNEL`].
    async fn subscription(&self) -> R<Subscription> {
        Subscription::postgres(&self.pool).await
    }

    pub async fn connect(url: &str) -> R<Self> {
        Self::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with explicit options (the conformance suite uses its own schema).
    pub async fn connect_with(options: PgConnectOptions) -> R<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        let batch_pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.options([("synchronous_commit", "off")]))
            .await?;
        Ok(Self { pool, batch_pool })
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

/// The userinfo of a `postgres://` URL split off: (`user[:password]`, rest
/// after `@`), or `None` if it has none.
fn userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((scheme, &rest[..at], &rest[at + 1..]))
}

/// The URL as it may be shown (logs, errors, the start-up line): a password
/// in it replaced by `***`.
pub fn redacted(url: &str) -> String {
    match userinfo(url) {
        Some((scheme, info, rest)) if info.contains(':') => {
            let user = info.split(':').next().unwrap_or_default();
            format!("{scheme}{user}:***@{rest}")
        }
        _ => url.to_owned(),
    }
}

/// `url` with `password` put in (percent-encoded); an error if it has one
/// already or names no user.
pub fn with_password(url: &str, password: &str) -> Result<String, String> {
    let Some((scheme, info, rest)) = userinfo(url) else {
        return Err(format!(
            "{} names no user to give the password to (postgres://USER@HOST/DB)",
            redacted(url)
        ));
    };
    if info.contains(':') {
        return Err(format!(
            "{} has a password already; keep it in one place",
            redacted(url)
        ));
    }
    let mut encoded = String::with_capacity(password.len());
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(format!("{scheme}{info}:{encoded}@{rest}"))
}

/// Which backend a `database` URL names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The schema version this build migrates a database of this backend to.
    pub fn schema_version(self) -> i64 {
        let migrations = match self {
            Backend::Sqlite => migrate::SQLITE,
            Backend::Postgres => migrate::POSTGRES,
        };
        migrations.last().map_or(0, |(version, _)| *version)
    }

    /// The name operators know it by.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{redacted, with_password};

    #[test]
    fn a_database_password_is_never_shown() {
        assert_eq!(
            redacted("postgres://sg:s3cret@db:5432/sg"),
            "postgres://sg:***@db:5432/sg"
        );
        assert_eq!(redacted("postgres://sg@db/sg"), "postgres://sg@db/sg");
        assert_eq!(redacted("sqlite://scopegate.db"), "sqlite://scopegate.db");
        assert_eq!(redacted("postgres://sg:p@ss@db/sg"), "postgres://sg:***@db/sg");
    }

    #[test]
    fn a_password_from_elsewhere_is_put_into_the_url_encoded() {
        assert_eq!(
            with_password("postgres://sg@db/sg", "p@ss:w/rd%").unwrap(),
            "postgres://sg:p%40ss%3Aw%2Frd%25@db/sg"
        );
        assert!(
            with_password("postgres://sg:x@db/sg", "y")
                .unwrap_err()
                .contains("has a password already")
        );
        assert!(
            with_password("postgres://db/sg", "y")
                .unwrap_err()
                .contains("names no user")
        );
    }
}
