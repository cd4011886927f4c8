//! `scopegate store`: what the database holds, and removing what is past its use.

use std::path::PathBuf;
use std::process::ExitCode;

use scopegate_store::Store;

use crate::policy_file::load_or_report;
use crate::store_cmd::{open, runtime, unix_now};

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
    }
}
