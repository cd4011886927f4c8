//! Opening the policy's database for a command: the backend its URL names,
//! created and migrated on first use.

/// The policy's database (`sqlite://` or `postgres://`), migrated.
pub(crate) async fn open(policy: &scopegate_core::Policy) -> anyhow::Result<scopegate_store::Database> {
    scopegate_store::Database::open(&policy.settings.database)
        .await
        .map_err(said)
}

/// A store error as a command says it: without the `store: ` the log has.
pub(crate) fn said(e: scopegate_store::StoreError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.to_string().trim_start_matches("store: "))
}

/// A Tokio runtime for commands that touch the store or the network.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The surroundings of a service operation run from the command line: it
/// acts as the operating-system user, and has no caches to keep true (every
/// running `serve` learns of the change through the change feed).
pub(crate) fn context<'a>(
    store: &'a scopegate_store::Database,
    policy: &'a scopegate_core::Policy,
    actor: &'a scopegate_service::Actor,
) -> scopegate_service::Context<'a, scopegate_store::Database> {
    scopegate_service::Context {
        store,
        policy,
        now: unix_now(),
        actor,
        caches: &scopegate_service::NoCaches,
    }
}

/// A refusal from the service layer as the command line says it: a field
/// by the flag that gave it.
pub(crate) fn refused(e: scopegate_service::ServiceError) -> anyhow::Error {
    use scopegate_service::ServiceError;
    match e {
        ServiceError::Invalid(f) => {
            let flag = match f.field {
                "environment" => "--env".to_owned(),
                "redirect_uris" => "--redirect-uri".to_owned(),
                "permissions" => "--permission".to_owned(),
                "password" => "--password-stdin".to_owned(),
                _ => f.flag(),
            };
            // A message that opens with the value given reads on from the flag.
            if f.message.starts_with('"') {
                anyhow::anyhow!("{flag} {}", f.message)
            } else {
                anyhow::anyhow!("{flag}: {}", f.message)
            }
        }
        ServiceError::NotFound(m) | ServiceError::Conflict(m) => anyhow::anyhow!("{m}"),
        ServiceError::Internal => anyhow::anyhow!("the database failed; the log says why"),
    }
}
