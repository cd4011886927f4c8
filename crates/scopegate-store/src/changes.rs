//! The change feed: what other processes' caches must learn, written to the
//! `changes` table in the same transaction as the change itself, and how a
//! node learns that there is something new to read (PostgreSQL `NOTIFY`, or
//! a short poll of SQLite's file).

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::{R, StoreError};

/// The PostgreSQL channel every change is announced on.
pub const CHANNEL: &str = "scopegate_changes";

/// How often a SQLite node looks for new rows: the bound on another process
/// (a `scopegate app …` command) being seen.
const SQLITE_POLL: Duration = Duration::from_millis(250);

/// How often a PostgreSQL node reads the table even when no `NOTIFY` came:
/// the safety net under a notification lost with its connection.
const POSTGRES_POLL: Duration = Duration::from_secs(5);

/// One change, as the nodes' caches act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// One stateless-token revocation, as [`crate::Store::revocations`] lists it
    /// (`jti:<jti>` or `gid:<grant>`).
    Revocation(String),
    /// Several stateless-token revocations at once: read the list again.
    Revocations,
    /// Stored tokens were revoked.
    Tokens,
    /// A key set changed (made, secrets, redirect URIs, scopes, its tokens
    /// revoked), by client id.
    Client(String),
    /// An app and all its key sets were deleted, by app id.
    App(String),
    /// A user changed (made, permissions, enabled, their tokens revoked), by login.
    User(String),
    /// A signing key was made or retired.
    SigningKeys,
    /// A node reloaded its policy file: the SHA-256 of its content, in hex.
    Policy(String),
    /// Every record may have changed (a restored database made safe):
    /// forget everything cached.
    Everything,
}

impl Change {
    /// The `kind` and `key` columns.
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Change::Revocation(id) => ("revocation", id),
            Change::Revocations => ("revocations", ""),
            Change::Tokens => ("tokens", ""),
            Change::Client(id) => ("client", id),
            Change::App(id) => ("app", id),
            Change::User(login) => ("user", login),
            Change::SigningKeys => ("signing_keys", ""),
            Change::Policy(hash) => ("policy", hash),
            Change::Everything => ("everything", ""),
        }
    }

    /// A row read back; `None` for a kind this version does not know (a
    /// newer node wrote it): the reader then forgets everything it caches.
    pub fn from_parts(kind: &str, key: String) -> Option<Change> {
        Some(match kind {
            "revocation" => Change::Revocation(key),
            "revocations" => Change::Revocations,
            "tokens" => Change::Tokens,
            "client" => Change::Client(key),
            "app" => Change::App(key),
            "user" => Change::User(key),
            "signing_keys" => Change::SigningKeys,
            "policy" => Change::Policy(key),
            "everything" => Change::Everything,
            _ => return None,
        })
    }
}

/// A row of the feed: its id, and the change (`None`: unknown kind).
pub type ChangeRow = (i64, Option<Change>);

/// Why a node should read the feed now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A change was announced, or it is time to look anyway.
    Look,
    /// The announcements' connection was lost: some may have been missed.
    /// Read the feed as soon as the database answers again.
    Lost,
}

/// What wakes a node to read the feed.
#[derive(Debug)]
pub struct Subscription {
    /// PostgreSQL's pool (none: SQLite, which polls).
    pool: Option<sqlx::PgPool>,
    /// The listening connection; none while it is being re-established.
    listener: Option<PgListener>,
}

impl Subscription {
    pub(crate) fn poll() -> Self {
        Self {
            pool: None,
            listener: None,
        }
    }

    pub(crate) async fn postgres(pool: &sqlx::PgPool) -> R<Self> {
        let mut this = Self {
            pool: Some(pool.clone()),
            listener: None,
        };
        this.listener = Some(this.listen().await?);
        Ok(this)
    }

    async fn listen(&self) -> R<PgListener> {
        let Some(pool) = &self.pool else {
            return Err(StoreError("no database to listen to".into()));
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// Waits until the feed should be read.
    pub async fn next(&mut self) -> Wake {
        if self.pool.is_none() {
            tokio::time::sleep(SQLITE_POLL).await;
            return Wake::Look;
        }
        let Some(listener) = self.listener.as_mut() else {
            // Announcements made while nobody listened are in the table.
            return match self.listen().await {
                Ok(listener) => {
                    self.listener = Some(listener);
                    Wake::Lost
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for changes; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Wake::Lost
                }
            };
        };
        match tokio::time::timeout(POSTGRES_POLL, listener.try_recv()).await {
            Err(_elapsed) => Wake::Look,
            Ok(Ok(Some(_notification))) => {
                // Announcements come in bursts (a batch of revocations): one
                // read of the table answers all that are already here.
                while listener.next_buffered().is_some() {}
                Wake::Look
            }
            // The connection dropped and was re-established.
            Ok(Ok(None)) => Wake::Lost,
            Ok(Err(e)) => {
                tracing::warn!(error = %StoreError::from(e), "lost the change feed's connection; reconnecting");
                self.listener = None;
                Wake::Lost
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn every_change_reads_back_as_itself() {
        for change in [
            Change::Revocation("jti:x".into()),
            Change::Revocations,
            Change::Tokens,
            Change::Client("sgci_1".into()),
            Change::App("app_1".into()),
            Change::User("ana".into()),
            Change::SigningKeys,
            Change::Policy("ab12".into()),
        ] {
            let (kind, key) = change.parts();
            assert_eq!(Change::from_parts(kind, key.to_owned()), Some(change.clone()));
        }
        assert_eq!(Change::from_parts("from_the_future", String::new()), None);
    }
}
