//! Opening the policy's database for a command: the backend its URL names,
//! created and migrated on first use.

/// Runs `$body` with `$store` bound to the policy's store, whichever backend.
macro_rules! with_store {
    ($policy:expr, $store:ident => $body:expr) => {{
        let url = $policy.settings.database.clone();
        match scopegate_store::Backend::of(&url) {
            Some(scopegate_store::Backend::Sqlite) => {
                let $store = scopegate_store::SqliteStore::connect(&url)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open {url}: {e}"))?;
                scopegate_store::Store::migrate(&$store).await?;
                $body
            }
            Some(scopegate_store::Backend::Postgres) => {
                let $store = scopegate_store::PgStore::connect(&url)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}", scopegate_store::redacted(&url)))?;
                scopegate_store::Store::migrate(&$store).await?;
                $body
            }
            None => anyhow::bail!("database {url:?} is neither sqlite:// nor postgres://"),
        }
    }};
}

pub(crate) use with_store;

/// A Tokio runtime for commands that touch the store or the network.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
