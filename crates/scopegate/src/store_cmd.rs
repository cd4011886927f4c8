//! Opening the policy's database for a command: the backend its URL names,
//! created and migrated on first use.

/// The policy's database (`sqlite://` or `postgres://`), migrated.
pub async fn open(policy: &scopegate_core::Policy) -> anyhow::Result<scopegate_store::Database> {
    scopegate_store::Database::open(&policy.settings.database)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_start_matches("store: ")))
}

/// A Tokio runtime for commands that touch the store or the network.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
