//! `scopegate admin-token`: bearer tokens for the admin API. A token is
//! printed once, at creation; the store keeps its SHA-256, and lists show
//! its public id, which is also what revokes it. Every change is audited.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use scopegate_core::admin::admin_policy;
use scopegate_server::secrets::{self, SecretKind};
use scopegate_store::{AdminTokenRecord, AuditEvent, Store};

use crate::policy_file::load_or_report;
use crate::store_cmd::{open, runtime, unix_now};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
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

fn audit(event: &str, detail: String) -> AuditEvent {
    AuditEvent {
        at: unix_now(),
        event: event.into(),
        client_id: None,
        subject: None,
        detail,
    }
}

/// The normalized admin scopes `list` names, or why not.
fn admin_scopes(list: &str) -> anyhow::Result<Vec<String>> {
    let policy = admin_policy().map_err(|e| anyhow::anyhow!("the built-in admin policy: {e}"))?;
    let catalog = &policy.catalog;
    let set = catalog
        .parse_list(list)
        .map_err(|e| anyhow::anyhow!("--scopes: {e}; admin tokens take admin:read and admin:write"))?;
    if set.is_empty() {
        bail!("--scopes: name at least one of admin:read, admin:write");
    }
    let normalized = catalog.normalize(catalog.close(&set).set());
    Ok(catalog.names(&normalized).map(str::to_owned).collect())
}

pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create { config, scopes, json } => {
            let scopes = admin_scopes(scopes)?;
            let policy = load_or_report(config)?;
            let token = secrets::generate(SecretKind::AdminToken);
            let record = AdminTokenRecord {
                id: secrets::generate(SecretKind::AdminTokenId),
                hash: secrets::hash(&token),
                scopes,
                created_at: unix_now(),
                revoked_at: None,
            };
            runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    if !store.create_admin_token(&record).await? {
                        bail!("an admin token with this id already exists; run the command again");
                    }
                    let detail = format!("id={} scopes=\"{}\"", record.id, record.scopes.join(" "));
                    store.audit(&audit("admin_token_create", detail)).await?;
                    Ok::<_, anyhow::Error>(())
                }
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
            let revoked = runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    let revoked = store.revoke_admin_token(id, unix_now()).await?;
                    if revoked {
                        store.audit(&audit("admin_token_revoke", format!("id={id}"))).await?;
                    }
                    Ok::<_, anyhow::Error>(revoked)
                }
            })?;
            if !revoked {
                bail!("no active admin token with id {id:?} (see `scopegate admin-token list`)");
            }
            println!("revoked admin token {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
