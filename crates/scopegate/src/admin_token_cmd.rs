//! `scopegate admin-token`: bearer tokens for the admin API. A token is
//! printed once, at creation; the store keeps its SHA-256, and lists show
//! its public id, which is also what revokes it. Every change is audited.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use scopegate_service::operations::admin_tokens;
use scopegate_service::{Actor, ServiceError};
use scopegate_store::Store;

use crate::policy_file::load_or_report;
use crate::store_cmd::{context, open, refused, runtime};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Create an admin token; it is printed this once.
    Create {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// `admin:read` (read), `admin:write` (change; implies read).
        #[arg(long)]
        scopes: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List admin tokens (never the token itself).
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin token by its id.
    Revoke {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The id `create` and `list` print (`sgai_…`).
        id: String,
    },
}

pub(crate) fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create { config, scopes, json } => {
            let policy = load_or_report(config)?;
            let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
            let (token, record) = runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = Actor::command_line("scopegate admin-token create");
                admin_tokens::create(&context(&store, &policy, &actor), &scopes)
                    .await
                    .map_err(refused)
            })?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({"id": record.id, "token": token, "scopes": record.scopes.join(" ")})
                );
            } else {
                println!("id:     {}", record.id);
                println!("scopes: {}", record.scopes.join(" "));
                println!("token:  {token}\n(shown once: store it now; scopegate keeps only its hash)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { config, json } => {
            let policy = load_or_report(config)?;
            let tokens = runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    Ok::<_, anyhow::Error>(store.admin_tokens().await?)
                }
            })?;
            if *json {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id,
                            "scopes": t.scopes.join(" "),
                            "created_at": t.created_at,
                            "revoked_at": t.revoked_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for t in &tokens {
                    let state = t.revoked_at.map_or("active", |_| "revoked");
                    println!("{}  {:<8} {}", t.id, state, t.scopes.join(" "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke { config, id } => {
            let policy = load_or_report(config)?;
            runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = Actor::command_line("scopegate admin-token revoke");
                match admin_tokens::revoke(&context(&store, &policy, &actor), id).await {
                    Err(ServiceError::NotFound(_)) => {
                        bail!("no active admin token with id {id:?} (see `scopegate admin-token list`)")
                    }
                    done => done.map_err(refused),
                }
            })?;
            println!("revoked admin token {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
