//! `scopegate store`: what the database holds, and removing what is past its use.

use std::path::PathBuf;
use std::process::ExitCode;

use scopegate_store::Store;

use crate::policy_file::load_or_report;
use crate::store_cmd::{context, open, refused, runtime, said, unix_now};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Rows per table, and how long the audit trail is kept.
    Stats {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Remove now what `serve` removes every five minutes: expired sessions,
    /// codes, tokens and JWT revocations, and audit events past `[retention] audit`.
    Purge {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Copy a SQLite database, while it serves, to a new file readable by
    /// its owner only (PostgreSQL: use pg_dump).
    Backup {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The copy to make; it must not exist yet.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Make a restored database safe to serve: refuse every token and grant
    /// issued before now, end sessions, revoke admin tokens, let client
    /// secrets work only for a grace period, and rotate the signing key.
    Restored {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// How long the client secrets in the backup keep working, so that
        /// apps can move to a new one (`0s`: they stop now).
        #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_grace)]
        secrets_grace: std::time::Duration,
    },
}

fn parse_grace(s: &str) -> Result<std::time::Duration, String> {
    scopegate_core::duration::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration: a number and a unit, for example 0s, 12h or 7d"))
}

pub(crate) fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Stats { config } => {
            let policy = load_or_report(config)?;
            let counts = runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    Ok::<_, anyhow::Error>(store.row_counts().await?)
                }
            })?;
            let width = counts.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
            for (table, rows) in &counts {
                println!("{table:<width$}  {rows}");
            }
            match policy.settings.audit_retention {
                Some(keep) => println!(
                    "audit events are kept {} days ([retention] audit)",
                    keep.as_secs() / 86_400
                ),
                None => println!("audit events are kept forever ([retention] audit = \"forever\")"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { config } => {
            let policy = load_or_report(config)?;
            let pass = runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    Ok::<_, anyhow::Error>(
                        scopegate_server::background::retention::run_once(
                            &store,
                            policy.settings.audit_retention,
                            unix_now(),
                        )
                        .await?,
                    )
                }
            })?;
            let e = pass.expired;
            println!(
                "removed {} sessions, {} codes, {} tokens, {} revocations and {} audit events",
                e.sessions, e.codes, e.tokens, e.revocations, pass.audit
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { config, to } => {
            let policy = load_or_report(config)?;
            runtime()?.block_on(async {
                let store = open(&policy).await?;
                store.backup_to(to).await.map_err(said)
            })?;
            println!("backed up {} to {}", policy.settings.database, to.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restored { config, secrets_grace } => {
            let policy = load_or_report(config)?;
            let kek = scopegate_service::credentials::sealing::KeyEncryptionKey::from_env()?;
            let grace = i64::try_from(secrets_grace.as_secs()).unwrap_or(i64::MAX);
            let safe = runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = scopegate_service::Actor::command_line("scopegate store restored");
                scopegate_service::operations::restores::distrust(
                    &context(&store, &policy, &actor),
                    grace,
                    kek.as_ref(),
                )
                .await
                .map_err(refused)
            })?;
            let d = safe.distrusted;
            println!(
                "refused every token issued before now ({} were live) and removed {} grants, {} codes and {} sessions",
                d.tokens, d.grants, d.codes, d.sessions
            );
            let at = scopegate_core::timestamp::Utc::from_unix(safe.secrets_expire_at);
            println!(
                "{} client secrets stop working at {:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z: each app moves to a new secret before then",
                d.secrets, at.year, at.month, at.day, at.hour, at.minute, at.second
            );
            println!(
                "revoked {} admin tokens; JWTs are signed with the new key {}",
                d.admin_tokens, safe.kid
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
