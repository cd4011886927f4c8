//! The SQL behind [`Store`], written once and expanded for each backend, so
//! SQLite and PostgreSQL cannot drift apart. Both accept `$N` placeholders,
//! `TRUE`/`FALSE` and the column types used here.

use sqlx::Row;

use crate::migrate::{POSTGRES, SQLITE, statements};
use crate::records::{Registration, UNUSED_REGISTRATION_SECONDS, join, split};
use crate::{
    AdminTokenRecord, AuditEvent, AuditFilter, ChallengeRecord, Change, ChangeRow, ClientSecret, CodeRecord,
    ConsentRecord, Distrusted, KeyRecord, KeySetRecord, PgStore, Purged, R, ScopeRequestRecord, SessionRecord,
    SourceSignIn, SqliteStore, Store, StoreError, Subscription, TokenKind, TokenRecord, UserRecord,
};

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

const CLIENT_COLUMNS: &str = "c.client_id, c.app_id, a.name, a.owner, c.environment, c.public, \
     c.resource_server, c.scopes, c.default_scopes, c.redirect_uris, c.created_at, c.tokens_revoked_before, \
     a.registration";

const REQUEST_COLUMNS: &str =
    "id, client_id, scopes, requested_by, reason, created_at, decided_at, decided_by, outcome";

const USER_COLUMNS: &str = "login, password_hash, permissions, enabled, created_at, tokens_revoked_before, source, subject, \
                            display_name, source_permissions, signed_in_at";
const CHALLENGE_COLUMNS: &str = "hash, kind, browser, return_to, data, outcome, used, created_at, expires_at";

const SECRET_COLUMNS: &str = "id, hash, created_at, expires_at, revoked_at, client_id, last_used_at";

const TOKEN_COLUMNS: &str = "hash, kind, grant_id, client_id, subject, grant_kind, scope, grant_scope, environment, \
     granted_at, issued_at, expires_at, used, revoked, resource";

/// Columns per token row and per audit row.
const TOKEN_FIELDS: usize = 15;
const AUDIT_FIELDS: usize = 5;

/// `INSERT INTO table (columns) VALUES (…), (…)` for `rows` rows of `fields`,
/// with `$N` placeholders if `numbered`, else anonymous `?` (SQLite): sqlx
/// looks up the name of each named SQLite parameter, a linear scan, so binding
/// 900 `$N` parameters was quadratic.
fn multi_row(head: &str, fields: usize, rows: usize, numbered: bool) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(head.len() + rows * (fields * 6 + 2));
    sql.push_str(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..fields {
            sql.push_str(if c == 0 { "" } else { ", " });
            if numbered {
                let _ = write!(sql, "${}", r * fields + c + 1);
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

fn multi_row_insert(rows: usize, numbered: bool) -> String {
    multi_row(
        &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES "),
        TOKEN_FIELDS,
        rows,
        numbered,
    )
}

fn multi_row_audit(rows: usize) -> String {
    multi_row(
        "INSERT INTO audit (at, event, client_id, subject, detail) VALUES ",
        AUDIT_FIELDS,
        rows,
        false,
    )
}

/// Most rows per SQLite batch statement.
const ROWS_PER_STATEMENT: usize = 32;

/// `rows` in statements of at most 32 rows. Every statement shape is cached
/// on the one batch connection, so there are at most 32 shapes per table, each
/// small: sized exactly without a cap, 20 ms of audit events (hundreds of
/// rows, each size its own cached statement of up to 2,500 variables) grew the
/// process by 30 MB. A typical batch (15 tokens) is one statement per table:
/// every statement is a round trip to sqlx's SQLite thread.
fn cached_shapes<T>(rows: &[T]) -> std::slice::Chunks<'_, T> {
    rows.chunks(ROWS_PER_STATEMENT)
}

/// PostgreSQL: tokens and audit events of any number in one statement of one
/// shape (arrays unnested by a data-modifying `WITH`): one round trip and an
/// implicit transaction, and one cached statement.
const PG_BATCH: &str = "WITH t AS (INSERT INTO tokens (hash, kind, grant_id, client_id, subject, grant_kind, scope, \
     grant_scope, environment, granted_at, issued_at, expires_at, used, revoked, resource) \
     SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::boolean[], $14::boolean[], $15::text[])), \
     a AS (INSERT INTO audit (at, event, client_id, subject, detail) \
     SELECT * FROM UNNEST($16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[])) SELECT 1";

impl SqliteStore {
    /// One transaction; rows in [`cached_shapes`].
    async fn write_batch(&self, tokens: &[TokenRecord], events: &[AuditEvent]) -> R<()> {
        let mut tx = self.batch_pool.begin().await?;
        for chunk in cached_shapes(tokens) {
            let sql = multi_row_insert(chunk.len(), false);
            Self::bind_tokens(sqlx::query(&sql), chunk).execute(&mut *tx).await?;
        }
        for chunk in cached_shapes(events) {
            let sql = multi_row_audit(chunk.len());
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.at)
                    .bind(&e.event)
                    .bind(&e.client_id)
                    .bind(&e.subject)
                    .bind(&e.detail);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl PgStore {
    /// One [`PG_BATCH`] statement.
    async fn write_batch(&self, tokens: &[TokenRecord], events: &[AuditEvent]) -> R<()> {
        fn col<'a, T, U>(rows: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
            rows.iter().map(f).collect()
        }
        sqlx::query(PG_BATCH)
            .bind(col(tokens, |t| t.hash.as_slice()))
            .bind(col(tokens, |t| t.kind.as_str()))
            .bind(col(tokens, |t| t.grant_id.as_str()))
            .bind(col(tokens, |t| t.client_id.as_str()))
            .bind(col(tokens, |t| t.subject.as_deref()))
            .bind(col(tokens, |t| t.grant_kind.as_str()))
            .bind(col(tokens, |t| t.scope.as_str()))
            .bind(col(tokens, |t| t.grant_scope.as_str()))
            .bind(col(tokens, |t| t.environment.as_str()))
            .bind(col(tokens, |t| t.granted_at))
            .bind(col(tokens, |t| t.issued_at))
            .bind(col(tokens, |t| t.expires_at))
            .bind(col(tokens, |t| t.used))
            .bind(col(tokens, |t| t.revoked))
            .bind(col(tokens, |t| t.resource.as_deref()))
            .bind(col(events, |e| e.at))
            .bind(col(events, |e| e.event.as_str()))
            .bind(col(events, |e| e.client_id.as_deref()))
            .bind(col(events, |e| e.subject.as_deref()))
            .bind(col(events, |e| e.detail.as_str()))
            .execute(&self.batch_pool)
            .await?;
        Ok(())
    }
}

/// The tables `row_counts` reports, in the order `scopegate store stats` prints them.
const COUNTED_TABLES: &[&str] = &[
    "apps",
    "clients",
    "client_secrets",
    "users",
    "sessions",
    "sign_in_challenges",
    "consents",
    "codes",
    "tokens",
    "revocations",
    "scope_requests",
    "admin_tokens",
    "signing_keys",
    "changes",
    "audit",
];

macro_rules! impl_store {
    ($store:ty, $row:ty, $migrations:expr, $parallel_commits:expr, $numbered:expr, $begin_write:expr, $startup_lock:expr, $record_change:expr) => {
        impl $store {
            fn client_row(r: &$row) -> R<KeySetRecord> {
                Ok(KeySetRecord {
                    client_id: r.try_get(0)?,
                    app_id: r.try_get(1)?,
                    app_name: r.try_get(2)?,
                    owner: r.try_get(3)?,
                    environment: r.try_get(4)?,
                    secrets: Vec::new(),
                    public: r.try_get(5)?,
                    resource_server: r.try_get(6)?,
                    scopes: split(r.try_get(7)?),
                    default_scopes: split(r.try_get(8)?),
                    redirect_uris: split(r.try_get(9)?),
                    created_at: r.try_get(10)?,
                    tokens_revoked_before: r.try_get(11)?,
                    registration: Registration::from_stored(r.try_get::<Option<String>, _>(12)?.as_deref()),
                })
            }

            /// Key sets matching `filter` (over `c`, binding `$1` and `$2` when
            /// given), with their secrets, in one snapshot.
            async fn clients_where(&self, filter: &str, first: Option<&str>, second: Option<i64>) -> R<Vec<KeySetRecord>> {
                let mut tx = self.pool.begin().await?;
                let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients c JOIN apps a ON a.id = c.app_id WHERE {filter} ORDER BY c.app_id, c.created_at, c.client_id");
                let mut q = sqlx::query(&sql);
                if let Some(v) = first { q = q.bind(v); }
                if let Some(v) = second { q = q.bind(v); }
                let rows = q.fetch_all(&mut *tx).await?;
                let mut clients = rows.iter().map(Self::client_row).collect::<R<Vec<_>>>()?;
                let sql = format!("SELECT {SECRET_COLUMNS} FROM client_secrets WHERE client_id IN (SELECT c.client_id FROM clients c WHERE {filter}) ORDER BY created_at, id");
                let mut q = sqlx::query(&sql);
                if let Some(v) = first { q = q.bind(v); }
                if let Some(v) = second { q = q.bind(v); }
                let rows = q.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                let mut by_client: std::collections::HashMap<String, Vec<ClientSecret>> = std::collections::HashMap::new();
                for row in &rows {
                    let (client_id, secret) = Self::secret_row(row)?;
                    by_client.entry(client_id).or_default().push(secret);
                }
                for c in &mut clients {
                    c.secrets = by_client.remove(&c.client_id).unwrap_or_default();
                }
                Ok(clients)
            }

            fn request_row(r: &$row) -> R<ScopeRequestRecord> {
                Ok(ScopeRequestRecord {
                    id: r.try_get(0)?,
                    client_id: r.try_get(1)?,
                    scopes: split(r.try_get(2)?),
                    requested_by: r.try_get(3)?,
                    reason: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                    decided_at: r.try_get(6)?,
                    decided_by: r.try_get(7)?,
                    outcome: r.try_get(8)?,
                })
            }

            /// A key set row of app `app_id` and its secrets, in `tx`.
            /// Retires every key in use and makes `k` the one that signs.
            async fn start_signing_key(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                k: &KeyRecord,
            ) -> R<()> {
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(k.created_at)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_der, public_x, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, NULL)",
                )
                .bind(&k.kid)
                .bind(&k.alg)
                .bind(&k.private_der)
                .bind(&k.public_x)
                .bind(k.created_at)
                .execute(&mut **tx)
                .await?;
                Self::changed(&mut **tx, &Change::SigningKeys).await
            }

            async fn insert_key_set(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                app_id: &str,
                c: &KeySetRecord,
            ) -> R<()> {
                sqlx::query(
                    "INSERT INTO clients (client_id, app_id, environment, public, resource_server, scopes, \
                     default_scopes, redirect_uris, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&c.client_id)
                .bind(app_id)
                .bind(&c.environment)
                .bind(c.public)
                .bind(c.resource_server)
                .bind(join(&c.scopes))
                .bind(join(&c.default_scopes))
                .bind(join(&c.redirect_uris))
                .bind(c.created_at)
                .execute(&mut **tx)
                .await?;
                for secret in &c.secrets {
                    Self::insert_secret(&mut **tx, &c.client_id, secret).await?;
                }
                Ok(())
            }

            /// A secret row and the key set it belongs to.
            fn secret_row(r: &$row) -> R<(String, ClientSecret)> {
                Ok((
                    r.try_get(5)?,
                    ClientSecret {
                        id: r.try_get(0)?,
                        hash: r.try_get(1)?,
                        created_at: r.try_get(2)?,
                        expires_at: r.try_get(3)?,
                        revoked_at: r.try_get(4)?,
                        last_used_at: r.try_get(6)?,
                    },
                ))
            }

            async fn insert_secret<'c, E>(executor: E, client_id: &str, s: &ClientSecret) -> R<()>
            where
                E: sqlx::Executor<'c, Database = <$row as sqlx::Row>::Database>,
            {
                sqlx::query(&format!("INSERT INTO client_secrets ({SECRET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(&s.id)
                    .bind(&s.hash)
                    .bind(s.created_at)
                    .bind(s.expires_at)
                    .bind(s.revoked_at)
                    .bind(client_id)
                    .bind(s.last_used_at)
                    .execute(executor)
                    .await?;
                Ok(())
            }

            /// Records `change` in the feed, in the caller's transaction.
            async fn changed<'c, E>(executor: E, change: &Change) -> R<()>
            where
                E: sqlx::Executor<'c, Database = <$row as sqlx::Row>::Database>,
            {
                let (kind, key) = change.parts();
                sqlx::query($record_change).bind(unix_now()).bind(kind).bind(key).execute(executor).await?;
                Ok(())
            }

            fn user_row(r: &$row) -> R<UserRecord> {
                Ok(UserRecord {
                    login: r.try_get(0)?,
                    password_hash: r.try_get(1)?,
                    permissions: split(r.try_get(2)?),
                    enabled: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    tokens_revoked_before: r.try_get(5)?,
                    source: r.try_get(6)?,
                    subject: r.try_get(7)?,
                    display_name: r.try_get(8)?,
                    source_permissions: split(r.try_get(9)?),
                    signed_in_at: r.try_get(10)?,
                })
            }

            fn challenge_row(r: &$row) -> R<ChallengeRecord> {
                Ok(ChallengeRecord {
                    hash: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    browser: r.try_get(2)?,
                    return_to: r.try_get(3)?,
                    data: r.try_get(4)?,
                    outcome: r.try_get(5)?,
                    used: r.try_get(6)?,
                    created_at: r.try_get(7)?,
                    expires_at: r.try_get(8)?,
                })
            }

            fn token_row(r: &$row) -> R<TokenRecord> {
                Ok(TokenRecord {
                    hash: r.try_get(0)?,
                    kind: TokenKind::parse(r.try_get(1)?),
                    grant_id: r.try_get(2)?,
                    client_id: r.try_get(3)?,
                    subject: r.try_get(4)?,
                    grant_kind: r.try_get(5)?,
                    scope: r.try_get(6)?,
                    grant_scope: r.try_get(7)?,
                    environment: r.try_get(8)?,
                    granted_at: r.try_get(9)?,
                    issued_at: r.try_get(10)?,
                    expires_at: r.try_get(11)?,
                    used: r.try_get(12)?,
                    revoked: r.try_get(13)?,
                    resource: r.try_get(14)?,
                })
            }

            fn bind_tokens<'q>(
                mut q: sqlx::query::Query<'q, <$row as sqlx::Row>::Database, <<$row as sqlx::Row>::Database as sqlx::Database>::Arguments<'q>>,
                tokens: &'q [TokenRecord],
            ) -> sqlx::query::Query<'q, <$row as sqlx::Row>::Database, <<$row as sqlx::Row>::Database as sqlx::Database>::Arguments<'q>> {
                for t in tokens {
                    q = q
                        .bind(&t.hash)
                        .bind(t.kind.as_str())
                        .bind(&t.grant_id)
                        .bind(&t.client_id)
                        .bind(&t.subject)
                        .bind(&t.grant_kind)
                        .bind(&t.scope)
                        .bind(&t.grant_scope)
                        .bind(&t.environment)
                        .bind(t.granted_at)
                        .bind(t.issued_at)
                        .bind(t.expires_at)
                        .bind(t.used)
                        .bind(t.revoked)
                        .bind(&t.resource);
                }
                q
            }
        }

        impl Store for $store {
            fn parallel_commits(&self) -> usize {
                $parallel_commits
            }

            async fn ping(&self) -> R<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn migrate(&self) -> R<()> {
                // One transaction, under the backend's migration lock: nodes
                // started together on one database queue here; the first
                // migrates, the others then find nothing to do. (Two
                // concurrent `CREATE TABLE IF NOT EXISTS` can still collide
                // in PostgreSQL's catalog, so even that is under the lock.)
                let mut tx = self.pool.begin_with($begin_write).await?;
                sqlx::query($startup_lock).execute(&mut *tx).await?;
                sqlx::query("CREATE TABLE IF NOT EXISTS scopegate_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
                    .execute(&mut *tx)
                    .await?;
                let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM scopegate_migrations")
                    .fetch_all(&mut *tx)
                    .await?;
                let known = $migrations.last().map_or(0, |(version, _)| *version);
                if let Some(newer) = done.iter().copied().filter(|v| *v > known).max() {
                    // Dropping the transaction rolls it back: nothing changes.
                    return Err(StoreError(format!(
                        "the database's schema is at version {newer}, written by a newer scopegate; this one \
                         knows versions up to {known}. A downgrade is not possible: run the newer scopegate, \
                         or restore a backup made before the upgrade (docs/production.md)"
                    )));
                }
                let mut applied = Vec::new();
                for (version, sql) in $migrations {
                    if done.contains(version) {
                        continue;
                    }
                    for statement in statements(sql) {
                        sqlx::query(statement).execute(&mut *tx).await?;
                    }
                    sqlx::query("INSERT INTO scopegate_migrations (version, applied_at) VALUES ($1, $2)")
                        .bind(version)
                        .bind(unix_now())
                        .execute(&mut *tx)
                        .await?;
                    applied.push(*version);
                }
                tx.commit().await?;
                for version in applied {
                    tracing::info!(version, "applied migration");
                }
                Ok(())
            }

            async fn distrust_before(&self, at: i64, secrets_expire_at: i64) -> R<Distrusted> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                sqlx::query("UPDATE clients SET tokens_revoked_before = $1").bind(at).execute(&mut *tx).await?;
                sqlx::query("UPDATE users SET tokens_revoked_before = $1").bind(at).execute(&mut *tx).await?;
                let tokens = sqlx::query("UPDATE tokens SET revoked = TRUE WHERE revoked = FALSE AND used = FALSE AND (expires_at IS NULL OR expires_at > $1)")
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("UPDATE tokens SET revoked = TRUE WHERE revoked = FALSE").execute(&mut *tx).await?;
                let codes = sqlx::query("DELETE FROM codes").execute(&mut *tx).await?.rows_affected();
                let sessions = sqlx::query("DELETE FROM sessions").execute(&mut *tx).await?.rows_affected();
                let grants = sqlx::query("DELETE FROM consents").execute(&mut *tx).await?.rows_affected();
                let secrets = sqlx::query(
                    "UPDATE client_secrets SET expires_at = $1 WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)",
                )
                .bind(secrets_expire_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let admin_tokens = sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE revoked_at IS NULL")
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                Self::changed(&mut *tx, &Change::Everything).await?;
                tx.commit().await?;
                Ok(Distrusted { tokens, codes, sessions, grants, secrets, admin_tokens })
            }

            async fn note_secret_used(&self, secret_id: &str, at: i64) -> R<()> {
                sqlx::query("UPDATE client_secrets SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)")
                    .bind(at)
                    .bind(secret_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn backup_to(&self, to: &std::path::Path) -> R<()> {
                self.backup_file(to).await
            }

            async fn schema_version(&self) -> R<i64> {
                // Read after `migrate`, which makes the table.
                let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM scopegate_migrations")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(version.unwrap_or(0))
            }

            async fn create_app(&self, app_id: &str, name: &str, owner: Option<&str>, c: &KeySetRecord) -> R<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                sqlx::query("INSERT INTO apps (id, name, owner, created_at, registration) VALUES ($1, $2, $3, $4, $5)")
                    .bind(app_id)
                    .bind(name)
                    .bind(owner)
                    .bind(c.created_at)
                    .bind(c.stored_registration())
                    .execute(&mut *tx)
                    .await?;
                Self::insert_key_set(&mut tx, app_id, c).await?;
                Self::changed(&mut *tx, &Change::Client(c.client_id.clone())).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_key_set(&self, c: &KeySetRecord) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let app: Option<String> = sqlx::query_scalar("SELECT id FROM apps WHERE id = $1")
                    .bind(&c.app_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let taken: Option<String> = sqlx::query_scalar("SELECT client_id FROM clients WHERE app_id = $1 AND environment = $2")
                    .bind(&c.app_id)
                    .bind(&c.environment)
                    .fetch_optional(&mut *tx)
                    .await?;
                if app.is_none() || taken.is_some() {
                    return Ok(false);
                }
                Self::insert_key_set(&mut tx, &c.app_id, c).await?;
                Self::changed(&mut *tx, &Change::Client(c.client_id.clone())).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn set_redirect_uris(&self, client_id: &str, uris: &[String]) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query("UPDATE clients SET redirect_uris = $1 WHERE client_id = $2")
                    .bind(join(uris))
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                Self::changed(&mut *tx, &Change::Client(client_id.to_owned())).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn key_set(&self, client_id: &str) -> R<Option<KeySetRecord>> {
                // One snapshot: a rotation between two reads must not pair the
                // key set with a stale list of secrets.
                let mut tx = self.pool.begin().await?;
                let row = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM clients c JOIN apps a ON a.id = c.app_id WHERE c.client_id = $1"))
                    .bind(client_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(mut client) = row.as_ref().map(Self::client_row).transpose()? else {
                    return Ok(None);
                };
                let rows = sqlx::query(&format!("SELECT {SECRET_COLUMNS} FROM client_secrets WHERE client_id = $1 ORDER BY created_at, id"))
                    .bind(client_id)
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &rows {
                    client.secrets.push(Self::secret_row(row)?.1);
                }
                tx.commit().await?;
                Ok(Some(client))
            }

            async fn key_sets(&self) -> R<Vec<KeySetRecord>> {
                self.clients_where("TRUE", None, None).await
            }

            async fn owned_key_sets(&self, owner: &str) -> R<Vec<KeySetRecord>> {
                self.clients_where("c.app_id IN (SELECT id FROM apps WHERE owner = $1)", Some(owner), None).await
            }

            async fn count_owned_apps(&self, owner: &str) -> R<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE owner = $1").bind(owner).fetch_one(&self.pool).await?)
            }

            async fn count_pending_requests_by(&self, requested_by: &str) -> R<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM scope_requests WHERE requested_by = $1 AND decided_at IS NULL")
                    .bind(requested_by)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn apps(&self, after: Option<&str>, limit: i64) -> R<Vec<KeySetRecord>> {
                self.clients_where(
                    "c.app_id IN (SELECT id FROM apps WHERE id > $1 ORDER BY id LIMIT $2)",
                    Some(after.unwrap_or("")),
                    Some(limit),
                )
                .await
            }

            async fn app(&self, app_id: &str) -> R<Vec<KeySetRecord>> {
                self.clients_where("c.app_id = $1", Some(app_id), None).await
            }

            async fn delete_app(&self, app_id: &str) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                sqlx::query("DELETE FROM tokens WHERE client_id IN (SELECT client_id FROM clients WHERE app_id = $1)")
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM client_secrets WHERE client_id IN (SELECT client_id FROM clients WHERE app_id = $1)")
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM clients WHERE app_id = $1").bind(app_id).execute(&mut *tx).await?;
                let done = sqlx::query("DELETE FROM apps WHERE id = $1").bind(app_id).execute(&mut *tx).await?;
                Self::changed(&mut *tx, &Change::App(app_id.to_owned())).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_key_set_tokens(&self, client_id: &str, at: i64) -> R<Option<u64>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let found = sqlx::query("UPDATE clients SET tokens_revoked_before = $1 WHERE client_id = $2")
                    .bind(at)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                if found.rows_affected() == 0 {
                    return Ok(None);
                }
                let done = sqlx::query("UPDATE tokens SET revoked = TRUE WHERE client_id = $1 AND revoked = FALSE AND used = FALSE AND (expires_at IS NULL OR expires_at > $2)")
                    .bind(client_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE tokens SET revoked = TRUE WHERE client_id = $1 AND revoked = FALSE")
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                Self::changed(&mut *tx, &Change::Client(client_id.to_owned())).await?;
                tx.commit().await?;
                Ok(Some(done.rows_affected()))
            }

            async fn revoke_user_tokens(&self, login: &str, at: i64) -> R<Option<u64>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let found = sqlx::query("UPDATE users SET tokens_revoked_before = $1 WHERE login = $2")
                    .bind(at)
                    .bind(login)
                    .execute(&mut *tx)
                    .await?;
                if found.rows_affected() == 0 {
                    return Ok(None);
                }
                let done = sqlx::query("UPDATE tokens SET revoked = TRUE WHERE subject = $1 AND revoked = FALSE AND used = FALSE AND (expires_at IS NULL OR expires_at > $2)")
                    .bind(login)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE tokens SET revoked = TRUE WHERE subject = $1 AND revoked = FALSE")
                    .bind(login)
                    .execute(&mut *tx)
                    .await?;
                Self::changed(&mut *tx, &Change::User(login.to_owned())).await?;
                tx.commit().await?;
                Ok(Some(done.rows_affected()))
            }

            async fn add_client_secret(&self, client_id: &str, secret: &ClientSecret, revoke_others_at: Option<i64>) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let confidential: Option<bool> = sqlx::query_scalar("SELECT public FROM clients WHERE client_id = $1")
                    .bind(client_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if confidential != Some(false) {
                    return Ok(false);
                }
                if let Some(at) = revoke_others_at {
                    sqlx::query("UPDATE client_secrets SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL")
                        .bind(at)
                        .bind(client_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::insert_secret(&mut *tx, client_id, secret).await?;
                Self::changed(&mut *tx, &Change::Client(client_id.to_owned())).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_client_secret(&self, client_id: &str, secret_id: &str, at: i64) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query(
                    "UPDATE client_secrets SET revoked_at = $1 WHERE client_id = $2 AND id = $3 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $1)",
                )
                .bind(at)
                .bind(client_id)
                .bind(secret_id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::changed(&mut *tx, &Change::Client(client_id.to_owned())).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_user(&self, u: &UserRecord) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query(
                    "INSERT INTO users (login, password_hash, permissions, enabled, created_at, source, subject, display_name, \
                     source_permissions, signed_in_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                )
                .bind(&u.login)
                .bind(&u.password_hash)
                .bind(join(&u.permissions))
                .bind(u.enabled)
                .bind(u.created_at)
                .bind(&u.source)
                .bind(&u.subject)
                .bind(&u.display_name)
                .bind(join(&u.source_permissions))
                .bind(u.signed_in_at)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::changed(&mut *tx, &Change::User(u.login.clone())).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn user(&self, login: &str) -> R<Option<UserRecord>> {
                let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1"))
                    .bind(login)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::user_row).transpose()
            }

            async fn users(&self) -> R<Vec<UserRecord>> {
                let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY login"))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::user_row).collect()
            }

            async fn users_page(&self, after: Option<&str>, limit: i64) -> R<Vec<UserRecord>> {
                let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE login > $1 ORDER BY login LIMIT $2"))
                    .bind(after.unwrap_or(""))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::user_row).collect()
            }

            async fn set_permissions(&self, login: &str, permissions: &[String]) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query("UPDATE users SET permissions = $1 WHERE login = $2")
                    .bind(join(permissions))
                    .bind(login)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::changed(&mut *tx, &Change::User(login.to_owned())).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn user_by_subject(&self, source: &str, subject: &str) -> R<Option<UserRecord>> {
                let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE source = $1 AND subject = $2"))
                    .bind(source)
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::user_row).transpose()
            }

            async fn record_source_sign_in(&self, s: &SourceSignIn<'_>) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query(
                    "UPDATE users SET subject = $1, display_name = $2, source_permissions = $3, signed_in_at = $4 \
                     WHERE login = $5 AND source = $6 AND (subject IS NULL OR subject = $1)",
                )
                .bind(s.subject)
                .bind(s.display_name)
                .bind(join(s.permissions))
                .bind(s.at)
                .bind(s.login)
                .bind(s.source)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::changed(&mut *tx, &Change::User(s.login.to_owned())).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_challenge(&self, c: &ChallengeRecord) -> R<()> {
                sqlx::query(&format!("INSERT INTO sign_in_challenges ({CHALLENGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                    .bind(&c.hash)
                    .bind(&c.kind)
                    .bind(&c.browser)
                    .bind(&c.return_to)
                    .bind(&c.data)
                    .bind(&c.outcome)
                    .bind(c.used)
                    .bind(c.created_at)
                    .bind(c.expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn challenge(&self, hash: &[u8]) -> R<Option<ChallengeRecord>> {
                let row = sqlx::query(&format!("SELECT {CHALLENGE_COLUMNS} FROM sign_in_challenges WHERE hash = $1"))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::challenge_row).transpose()
            }

            async fn settle_challenge(&self, hash: &[u8], outcome: &str, now: i64) -> R<bool> {
                let done = sqlx::query(
                    "UPDATE sign_in_challenges SET outcome = $1 WHERE hash = $2 AND outcome IS NULL AND used = FALSE AND expires_at > $3",
                )
                .bind(outcome)
                .bind(hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn take_challenge(&self, hash: &[u8]) -> R<Option<(ChallengeRecord, bool)>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let first = sqlx::query("UPDATE sign_in_challenges SET used = TRUE WHERE hash = $1 AND used = FALSE")
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                let row = sqlx::query(&format!("SELECT {CHALLENGE_COLUMNS} FROM sign_in_challenges WHERE hash = $1"))
                    .bind(hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.as_ref().map(|r| Ok((Self::challenge_row(r)?, first))).transpose()
            }

            async fn set_user_enabled(&self, login: &str, enabled: bool) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query("UPDATE users SET enabled = $1 WHERE login = $2")
                    .bind(enabled)
                    .bind(login)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                if !enabled {
                    sqlx::query("DELETE FROM sessions WHERE login = $1").bind(login).execute(&mut *tx).await?;
                }
                Self::changed(&mut *tx, &Change::User(login.to_owned())).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn insert_tokens(&self, tokens: &[TokenRecord]) -> R<()> {
                self.commit_batch(tokens, &[]).await
            }

            async fn token(&self, hash: &[u8]) -> R<Option<TokenRecord>> {
                let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1"))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::token_row).transpose()
            }

            async fn rotate_refresh(&self, old: &[u8], new: &[TokenRecord]) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query("UPDATE tokens SET used = TRUE WHERE hash = $1 AND kind = 'refresh' AND used = FALSE AND revoked = FALSE")
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                if !new.is_empty() {
                    let sql = multi_row_insert(new.len(), $numbered);
                    Self::bind_tokens(sqlx::query(&sql), new).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_token(&self, hash: &[u8]) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query("UPDATE tokens SET revoked = TRUE WHERE hash = $1 AND revoked = FALSE")
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::changed(&mut *tx, &Change::Tokens).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_grant(&self, grant_id: &str) -> R<u64> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query("UPDATE tokens SET revoked = TRUE WHERE grant_id = $1 AND revoked = FALSE")
                    .bind(grant_id)
                    .execute(&mut *tx)
                    .await?;
                let id = format!("gid:{grant_id}");
                sqlx::query("INSERT INTO revocations (id, expires_at) VALUES ($1, NULL) ON CONFLICT (id) DO NOTHING")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                Self::changed(&mut *tx, &Change::Revocation(id)).await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn revoke_jti(&self, jti: &str, expires_at: Option<i64>) -> R<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let id = format!("jti:{jti}");
                sqlx::query("INSERT INTO revocations (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
                    .bind(&id)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                Self::changed(&mut *tx, &Change::Revocation(id)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn is_revoked(&self, jti: &str, grant_id: &str) -> R<bool> {
                let hit: Option<String> = sqlx::query_scalar("SELECT id FROM revocations WHERE id = $1 OR id = $2 LIMIT 1")
                    .bind(format!("jti:{jti}"))
                    .bind(format!("gid:{grant_id}"))
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(hit.is_some())
            }

            async fn revocations(&self, now: i64) -> R<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT id FROM revocations WHERE expires_at IS NULL OR expires_at > $1")
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn create_session(&self, x: &SessionRecord) -> R<()> {
                sqlx::query("INSERT INTO sessions (hash, login, created_at, expires_at, csrf_hash) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&x.hash)
                    .bind(&x.login)
                    .bind(x.created_at)
                    .bind(x.expires_at)
                    .bind(&x.csrf_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session(&self, hash: &[u8]) -> R<Option<SessionRecord>> {
                let row = sqlx::query("SELECT hash, login, created_at, expires_at, csrf_hash FROM sessions WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(SessionRecord {
                        hash: r.try_get(0)?,
                        login: r.try_get(1)?,
                        created_at: r.try_get(2)?,
                        expires_at: r.try_get(3)?,
                        csrf_hash: r.try_get(4)?,
                    })
                })
                .transpose()
            }

            async fn delete_session(&self, hash: &[u8]) -> R<bool> {
                let done = sqlx::query("DELETE FROM sessions WHERE hash = $1").bind(hash).execute(&self.pool).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn put_shown_once(&self, hash: &[u8], login: &str, sealed: &[u8], expires_at: i64) -> R<()> {
                sqlx::query("INSERT INTO shown_once (hash, login, sealed, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(hash)
                    .bind(login)
                    .bind(sealed)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn take_shown_once(&self, hash: &[u8], login: &str, now: i64) -> R<Option<Vec<u8>>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let sealed: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT sealed FROM shown_once WHERE hash = $1 AND login = $2 AND expires_at > $3")
                        .bind(hash)
                        .bind(login)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                let taken = sqlx::query("DELETE FROM shown_once WHERE hash = $1 AND login = $2")
                    .bind(hash)
                    .bind(login)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(sealed.filter(|_| taken.rows_affected() == 1))
            }

            async fn delete_sessions(&self, login: &str) -> R<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE login = $1").bind(login).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn purge_expired(&self, now: i64, limit: i64) -> R<Purged> {
                let purge = |sql: &'static str| {
                    let pool = &self.pool;
                    async move { Ok::<u64, StoreError>(sqlx::query(sql).bind(now).bind(limit).execute(pool).await?.rows_affected()) }
                };
                Ok(Purged {
                    sessions: purge("DELETE FROM sessions WHERE hash IN (SELECT hash FROM sessions WHERE expires_at <= $1 LIMIT $2)").await?,
                    codes: purge("DELETE FROM codes WHERE hash IN (SELECT hash FROM codes WHERE expires_at <= $1 LIMIT $2)").await?,
                    tokens: purge("DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens WHERE expires_at <= $1 LIMIT $2)").await?,
                    revocations: purge("DELETE FROM revocations WHERE id IN (SELECT id FROM revocations WHERE expires_at <= $1 LIMIT $2)").await?,
                    shown_once: purge("DELETE FROM shown_once WHERE hash IN (SELECT hash FROM shown_once WHERE expires_at <= $1 LIMIT $2)").await?,
                    challenges: purge(
                        "DELETE FROM sign_in_challenges WHERE hash IN (SELECT hash FROM sign_in_challenges WHERE expires_at <= $1 LIMIT $2)",
                    )
                    .await?,
                    registrations: sqlx::query(
                        "DELETE FROM apps WHERE id IN (SELECT a.id FROM apps a WHERE a.registration = 'dynamic' AND a.created_at <= $1 \
                         AND NOT EXISTS (SELECT 1 FROM clients c JOIN consents k ON k.client_id = c.client_id WHERE c.app_id = a.id) LIMIT $2)",
                    )
                    .bind(now.saturating_sub(UNUSED_REGISTRATION_SECONDS))
                    .bind(limit)
                    .execute(&self.pool)
                    .await?
                    .rows_affected(),
                })
            }

            async fn prune_audit(&self, before: i64, limit: i64) -> R<u64> {
                let done = sqlx::query("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 ORDER BY id LIMIT $2)")
                    .bind(before)
                    .bind(limit)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn row_counts(&self) -> R<Vec<(String, i64)>> {
                let mut counts = Vec::new();
                for table in COUNTED_TABLES {
                    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&self.pool).await?;
                    counts.push(((*table).to_owned(), n));
                }
                Ok(counts)
            }

            async fn insert_code(&self, c: &CodeRecord) -> R<()> {
                sqlx::query(
                    "INSERT INTO codes (hash, client_id, subject, redirect_uri, redirect_sent, scope, code_challenge, grant_id, \
                     granted_at, expires_at, used, resource) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&c.hash)
                .bind(&c.client_id)
                .bind(&c.subject)
                .bind(&c.redirect_uri)
                .bind(c.redirect_sent)
                .bind(&c.scope)
                .bind(&c.code_challenge)
                .bind(&c.grant_id)
                .bind(c.granted_at)
                .bind(c.expires_at)
                .bind(c.used)
                .bind(&c.resource)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn take_code(&self, hash: &[u8]) -> R<Option<(CodeRecord, bool)>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let first = sqlx::query("UPDATE codes SET used = TRUE WHERE hash = $1 AND used = FALSE")
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                let row = sqlx::query(
                    "SELECT hash, client_id, subject, redirect_uri, redirect_sent, scope, code_challenge, grant_id, granted_at, \
                     expires_at, used, resource FROM codes WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                row.map(|r| {
                    let code = CodeRecord {
                        hash: r.try_get(0)?,
                        client_id: r.try_get(1)?,
                        subject: r.try_get(2)?,
                        redirect_uri: r.try_get(3)?,
                        redirect_sent: r.try_get(4)?,
                        scope: r.try_get(5)?,
                        code_challenge: r.try_get(6)?,
                        grant_id: r.try_get(7)?,
                        granted_at: r.try_get(8)?,
                        expires_at: r.try_get(9)?,
                        used: r.try_get(10)?,
                        resource: r.try_get(11)?,
                    };
                    Ok((code, first))
                })
                .transpose()
            }

            async fn record_consent(&self, c: &ConsentRecord) -> R<()> {
                sqlx::query(
                    "INSERT INTO consents (client_id, login, scope, granted_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (client_id, login) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                )
                .bind(&c.client_id)
                .bind(&c.login)
                .bind(&c.scope)
                .bind(c.granted_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn revoke_consent(&self, login: &str, client_id: &str, at: i64) -> R<Option<u64>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let gone = sqlx::query("DELETE FROM consents WHERE login = $1 AND client_id = $2")
                    .bind(login)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                if gone.rows_affected() == 0 {
                    return Ok(None);
                }
                // Every grant the user made to the client: each code starts one.
                sqlx::query(
                    "INSERT INTO revocations (id, expires_at) SELECT DISTINCT 'gid:' || grant_id, CAST(NULL AS BIGINT) FROM codes \
                     WHERE client_id = $1 AND subject = $2 ON CONFLICT (id) DO NOTHING",
                )
                .bind(client_id)
                .bind(login)
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query(
                    "UPDATE tokens SET revoked = TRUE WHERE client_id = $1 AND subject = $2 AND revoked = FALSE AND used = FALSE \
                     AND (expires_at IS NULL OR expires_at > $3)",
                )
                .bind(client_id)
                .bind(login)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE tokens SET revoked = TRUE WHERE client_id = $1 AND subject = $2 AND revoked = FALSE")
                    .bind(client_id)
                    .bind(login)
                    .execute(&mut *tx)
                    .await?;
                Self::changed(&mut *tx, &Change::Revocations).await?;
                tx.commit().await?;
                Ok(Some(done.rows_affected()))
            }

            async fn consents(&self, login: &str) -> R<Vec<ConsentRecord>> {
                let rows = sqlx::query(
                    "SELECT client_id, login, scope, granted_at FROM consents WHERE login = $1 ORDER BY granted_at DESC, client_id",
                )
                .bind(login)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ConsentRecord { client_id: r.try_get(0)?, login: r.try_get(1)?, scope: r.try_get(2)?, granted_at: r.try_get(3)? })
                    })
                    .collect()
            }

            async fn signing_keys(&self) -> R<Vec<KeyRecord>> {
                let rows = sqlx::query(
                    "SELECT kid, alg, private_der, public_x, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(KeyRecord {
                            kid: r.try_get(0)?,
                            alg: r.try_get(1)?,
                            private_der: r.try_get(2)?,
                            public_x: r.try_get(3)?,
                            created_at: r.try_get(4)?,
                            retired_at: r.try_get(5)?,
                        })
                    })
                    .collect()
            }

            async fn insert_signing_key(&self, k: &KeyRecord) -> R<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_der, public_x, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&k.kid)
                .bind(&k.alg)
                .bind(&k.private_der)
                .bind(&k.public_x)
                .bind(k.created_at)
                .bind(k.retired_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_signing_key_der(&self, kid: &str, der: &[u8]) -> R<bool> {
                let done = sqlx::query("UPDATE signing_keys SET private_der = $1 WHERE kid = $2")
                    .bind(der)
                    .bind(kid)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn rotate_signing_key(&self, k: &KeyRecord) -> R<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                // One rotation at a time across nodes: two at once would each
                // retire what they saw and leave both new keys signing.
                sqlx::query($startup_lock).execute(&mut *tx).await?;
                Self::start_signing_key(&mut tx, k).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ensure_signing_key(&self, k: &KeyRecord) -> R<bool> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                sqlx::query($startup_lock).execute(&mut *tx).await?;
                let in_use: Option<i64> =
                    sqlx::query_scalar("SELECT created_at FROM signing_keys WHERE retired_at IS NULL AND alg = $1 LIMIT 1")
                        .bind(&k.alg)
                        .fetch_optional(&mut *tx)
                        .await?;
                if in_use.is_some() {
                    return Ok(false);
                }
                Self::start_signing_key(&mut tx, k).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn record_change(&self, change: &Change) -> R<()> {
                Self::changed(&self.pool, change).await
            }

            async fn changes_after(&self, after: i64, limit: i64) -> R<Vec<ChangeRow>> {
                let rows = sqlx::query("SELECT id, kind, key FROM changes WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let kind: String = r.try_get(1)?;
                        Ok((r.try_get(0)?, Change::from_parts(&kind, r.try_get(2)?)))
                    })
                    .collect()
            }

            async fn last_change(&self) -> R<i64> {
                let last: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM changes").fetch_one(&self.pool).await?;
                Ok(last.unwrap_or(0))
            }

            async fn prune_changes(&self, before: i64) -> R<u64> {
                let done = sqlx::query("DELETE FROM changes WHERE at < $1").bind(before).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn subscribe(&self) -> R<Subscription> {
                self.subscription().await
            }

            async fn audit(&self, e: &AuditEvent) -> R<()> {
                self.commit_batch(&[], std::slice::from_ref(e)).await
            }

            async fn commit_batch(&self, tokens: &[TokenRecord], events: &[AuditEvent]) -> R<()> {
                if tokens.is_empty() && events.is_empty() {
                    return Ok(());
                }
                self.write_batch(tokens, events).await
            }

            async fn audit_page(&self, filter: &AuditFilter, before: Option<i64>, limit: i64) -> R<Vec<(i64, AuditEvent)>> {
                let rows = sqlx::query(
                    "SELECT id, at, event, client_id, subject, detail FROM audit WHERE id < $1 \
                     AND ($2 IS NULL OR client_id = $2) AND ($3 IS NULL OR subject = $3) AND ($4 IS NULL OR event = $4) \
                     ORDER BY id DESC LIMIT $5",
                )
                .bind(before.unwrap_or(i64::MAX))
                .bind(filter.client_id.as_deref())
                .bind(filter.subject.as_deref())
                .bind(filter.event.as_deref())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0)?,
                            AuditEvent {
                                at: r.try_get(1)?,
                                event: r.try_get(2)?,
                                client_id: r.try_get(3)?,
                                subject: r.try_get(4)?,
                                detail: r.try_get(5)?,
                            },
                        ))
                    })
                    .collect()
            }

            async fn audit_log(&self, limit: i64) -> R<Vec<AuditEvent>> {
                let rows = sqlx::query("SELECT at, event, client_id, subject, detail FROM audit ORDER BY id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditEvent {
                            at: r.try_get(0)?,
                            event: r.try_get(1)?,
                            client_id: r.try_get(2)?,
                            subject: r.try_get(3)?,
                            detail: r.try_get(4)?,
                        })
                    })
                    .collect()
            }

            async fn create_scope_request(&self, q: &ScopeRequestRecord) -> R<bool> {
                let done = sqlx::query(&format!(
                    "INSERT INTO scope_requests ({REQUEST_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
                     WHERE EXISTS (SELECT 1 FROM clients WHERE client_id = $2)"
                ))
                .bind(&q.id)
                .bind(&q.client_id)
                .bind(join(&q.scopes))
                .bind(&q.requested_by)
                .bind(&q.reason)
                .bind(q.created_at)
                .bind(q.decided_at)
                .bind(&q.decided_by)
                .bind(&q.outcome)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn scope_requests(&self, pending_only: bool, client_id: Option<&str>) -> R<Vec<ScopeRequestRecord>> {
                let rows = sqlx::query(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM scope_requests WHERE ($1 = FALSE OR decided_at IS NULL) \
                     AND ($2 IS NULL OR client_id = $2) ORDER BY created_at, id"
                ))
                .bind(pending_only)
                .bind(client_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::request_row).collect()
            }

            async fn scope_request(&self, id: &str) -> R<Option<ScopeRequestRecord>> {
                let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM scope_requests WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::request_row).transpose()
            }

            async fn decide_scope_request(&self, id: &str, grant: bool, by: &str, at: i64) -> R<Option<ScopeRequestRecord>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let outcome = if grant { "granted" } else { "refused" };
                let done = sqlx::query("UPDATE scope_requests SET decided_at = $1, decided_by = $2, outcome = $3 WHERE id = $4 AND decided_at IS NULL")
                    .bind(at)
                    .bind(by)
                    .bind(outcome)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM scope_requests WHERE id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let request = Self::request_row(&row)?;
                if grant {
                    let current: Option<String> = sqlx::query_scalar("SELECT scopes FROM clients WHERE client_id = $1")
                        .bind(&request.client_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let mut scopes = split(&current.unwrap_or_default());
                    for s in &request.scopes {
                        if !scopes.contains(s) {
                            scopes.push(s.clone());
                        }
                    }
                    sqlx::query("UPDATE clients SET scopes = $1 WHERE client_id = $2")
                        .bind(join(&scopes))
                        .bind(&request.client_id)
                        .execute(&mut *tx)
                        .await?;
                }
                if grant {
                    Self::changed(&mut *tx, &Change::Client(request.client_id.clone())).await?;
                }
                tx.commit().await?;
                Ok(Some(request))
            }

            async fn create_admin_token(&self, t: &AdminTokenRecord) -> R<bool> {
                let done = sqlx::query(
                    "INSERT INTO admin_tokens (id, hash, scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&t.id)
                .bind(&t.hash)
                .bind(join(&t.scopes))
                .bind(t.created_at)
                .bind(t.revoked_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn admin_token(&self, hash: &[u8]) -> R<Option<AdminTokenRecord>> {
                let row = sqlx::query("SELECT id, hash, scopes, created_at, revoked_at FROM admin_tokens WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::admin_token_row).transpose()
            }

            async fn admin_tokens(&self) -> R<Vec<AdminTokenRecord>> {
                let rows = sqlx::query(
                    "SELECT id, hash, scopes, created_at, revoked_at FROM admin_tokens ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::admin_token_row).collect()
            }

            async fn revoke_admin_token(&self, id: &str, at: i64) -> R<bool> {
                let done = sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        impl $store {
            fn admin_token_row(r: &$row) -> R<AdminTokenRecord> {
                Ok(AdminTokenRecord {
                    id: r.try_get(0)?,
                    hash: r.try_get(1)?,
                    scopes: split(r.try_get(2)?),
                    created_at: r.try_get(3)?,
                    revoked_at: r.try_get(4)?,
                })
            }
        }
    };
}

// SQLite takes one writer at a time; PostgreSQL overlaps commits (and groups
// their WAL flushes), so batches are committed four at a time, each in one
// statement. The last argument: `$N` placeholders (PostgreSQL) or `?` (SQLite).
// A SQLite transaction that reads before it writes must take the write lock
// first (IMMEDIATE): a deferred one that finds another writer committed since
// its read began fails at once with SQLITE_BUSY_SNAPSHOT, whatever the busy
// timeout. PostgreSQL row locks need no such care.
impl_store!(
    SqliteStore,
    sqlx::sqlite::SqliteRow,
    SQLITE,
    1,
    false,
    "BEGIN IMMEDIATE",
    // BEGIN IMMEDIATE already holds the database's one write lock.
    "SELECT 1",
    "INSERT INTO changes (at, kind, key) VALUES ($1, $2, $3)"
);
impl_store!(
    PgStore,
    sqlx::postgres::PgRow,
    POSTGRES,
    4,
    true,
    "BEGIN",
    // Per schema, so that stores in different schemas of one database
    // (the conformance suite's) do not wait for each other.
    "SELECT pg_advisory_xact_lock(1936679783, hashtext(current_schema()))",
    // The NOTIFY is delivered when (and only if) the transaction commits.
    "WITH c AS (INSERT INTO changes (at, kind, key) VALUES ($1, $2, $3) RETURNING id) \
     SELECT pg_notify('scopegate_changes', CAST(id AS TEXT)) FROM c"
);
