//! `scopegate app`: registering apps and their keys.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use scopegate_core::duration::{format_duration, parse_duration};
use scopegate_core::registration::{AppRequest, Registration, check_app};
use scopegate_server::secrets::{self, SecretKind};
use scopegate_store::{AuditEvent, ClientRecord, Store};

use crate::policy_file::load_or_report;
use crate::store_cmd::{open, runtime, unix_now};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Register an app's keys in one environment; prints client_id and client_secret once.
    Create(CreateArgs),
    /// List every app's keys (never their secrets).
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one app's keys: environment, scopes, redirect URIs (never the secret).
    Show {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        client_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replace a confidential client's secrets with a new one; prints it once. The old ones stop working.
    RotateSecret {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        client_id: String,
    },
    /// Add another secret to a confidential client, the others staying active
    /// (rotation without downtime); prints it once.
    AddSecret {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        client_id: String,
        /// The secret stops working after this long (e.g. 90d, 12h).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// Revoke one secret of a client by its id (`app show` lists them).
    RevokeSecret {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        client_id: String,
        /// The secret's id (`sgsi_…`).
        secret_id: String,
    },
    /// Delete the app owning these keys, all its keys and every token issued to them.
    Delete {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        client_id: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// The app's name, shown on consent pages.
    #[arg(long)]
    name: String,
    /// The environment these keys belong to.
    #[arg(long)]
    env: String,
    /// Scopes assigned to the keys, space- or comma-separated.
    #[arg(long)]
    scopes: String,
    /// Scopes a token gets when none are requested (default: all assigned).
    #[arg(long, value_name = "SCOPES")]
    default_scopes: Option<String>,
    /// A redirect URI for the authorization code grant (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    public: bool,
    /// May introspect every token of its environment.
    #[arg(long)]
    resource_server: bool,
    /// Ties the app to a portal user.
    #[arg(long, value_name = "LOGIN")]
    owner: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "shell")]
    json: bool,
    /// Print `CLIENT_ID=…` and `CLIENT_SECRET=…` lines for a POSIX shell:
    /// `eval "$(scopegate app create … --shell)"`.
    #[arg(long)]
    shell: bool,
}

pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create(args) => create(args),
        Command::List { config, json } => list(config, *json),
        Command::Show {
            config,
            client_id,
            json,
        } => show(config, client_id, *json),
        Command::RotateSecret { config, client_id } => add_secret(config, client_id, None, true),
        Command::AddSecret {
            config,
            client_id,
            expires_in,
        } => add_secret(config, client_id, expires_in.as_deref(), false),
        Command::RevokeSecret {
            config,
            client_id,
            secret_id,
        } => revoke_secret(config, client_id, secret_id),
        Command::Delete { config, client_id } => delete(config, client_id),
    }
}

fn client_json(c: &ClientRecord) -> serde_json::Value {
    serde_json::json!({
        "app_id": c.app_id, "client_id": c.client_id, "name": c.app_name, "environment": c.environment, "public": c.public,
        "resource_server": c.resource_server, "scopes": c.scopes.join(" "), "default_scopes": c.default_scopes.join(" "),
        "redirect_uris": c.redirect_uris, "owner": c.owner,
        "secrets": c.secrets.iter().map(|s| serde_json::json!({
            "id": s.id, "created_at": s.created_at, "expires_at": s.expires_at, "revoked_at": s.revoked_at,
            "active": s.is_active(unix_now()),
        })).collect::<Vec<_>>(),
    })
}

fn show(config: &std::path::Path, client_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let client = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            Ok::<_, anyhow::Error>(store.client(client_id).await?)
        }
    })?;
    let Some(c) = client else {
        bail!("no app has the client_id {client_id:?}")
    };
    if json {
        println!("{}", client_json(&c));
    } else {
        println!("client_id       {}", c.client_id);
        println!("name            {}", c.app_name);
        println!("environment     {}", c.environment);
        println!(
            "type            {}",
            if c.public {
                "public (PKCE, no secret)"
            } else if c.resource_server {
                "confidential, resource server"
            } else {
                "confidential"
            }
        );
        println!("scopes          {}", c.scopes.join(" "));
        println!("default scopes  {}", c.default_scopes.join(" "));
        println!(
            "redirect URIs   {}",
            if c.redirect_uris.is_empty() {
                "none".to_owned()
            } else {
                c.redirect_uris.join(" ")
            }
        );
        println!("owner           {}", c.owner.as_deref().unwrap_or("none"));
        let now = unix_now();
        for secret in &c.secrets {
            let state = match (secret.revoked_at, secret.expires_at) {
                (Some(_), _) => "revoked".to_owned(),
                (None, Some(at)) if at <= now => "expired".to_owned(),
                (None, Some(at)) => format!(
                    "active, expires in {}",
                    format_duration(std::time::Duration::from_secs(at.abs_diff(now)))
                ),
                (None, None) => "active".to_owned(),
            };
            println!("secret          {}  {state}", secret.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn add_secret(
    config: &std::path::Path,
    client_id: &str,
    expires_in: Option<&str>,
    replace: bool,
) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let now = unix_now();
    let expires_at = match expires_in {
        None => None,
        Some(d) => {
            let Some(d) = parse_duration(d).filter(|d| !d.is_zero()) else {
                bail!("--expires-in {d:?}: give a duration such as 90d, 12h or 30m");
            };
            Some(now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
        }
    };
    let (secret, record) = secrets::new_client_secret(now, expires_at);
    let outcome = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            match store.client(client_id).await? {
                None => Ok::<_, anyhow::Error>(Err(format!("no app has the client_id {client_id:?}"))),
                Some(c) if c.public => Ok(Err(format!("{client_id} is a public client: it has no secrets"))),
                Some(c) => {
                    store
                        .add_client_secret(client_id, &record, replace.then_some(now))
                        .await?;
                    let detail = format!(
                        "secret_id={}{}",
                        record.id,
                        if replace { " (replaces every other secret)" } else { "" }
                    );
                    store
                        .audit(&AuditEvent {
                            at: now,
                            event: "secret_create".into(),
                            client_id: Some(c.client_id),
                            subject: None,
                            detail,
                        })
                        .await?;
                    Ok(Ok(()))
                }
            }
        }
    })?;
    if let Err(message) = outcome {
        bail!(message);
    }
    println!("secret_id:     {}", record.id);
    println!("client_secret: {secret}");
    if replace {
        println!("(shown once: the previous secrets no longer work)");
    } else {
        println!("(shown once: the other secrets keep working until revoked or expired)");
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke_secret(config: &std::path::Path, client_id: &str, secret_id: &str) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let now = unix_now();
    let revoked = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            let revoked = store.revoke_client_secret(client_id, secret_id, now).await?;
            if revoked {
                let detail = format!("secret_id={secret_id}");
                store
                    .audit(&AuditEvent {
                        at: now,
                        event: "secret_revoke".into(),
                        client_id: Some(client_id.to_owned()),
                        subject: None,
                        detail,
                    })
                    .await?;
            }
            Ok::<_, anyhow::Error>(revoked)
        }
    })?;
    if !revoked {
        bail!("{client_id} has no active secret {secret_id:?} (see `scopegate app show`)");
    }
    println!("revoked secret {secret_id} of {client_id}");
    Ok(ExitCode::SUCCESS)
}

fn delete(config: &std::path::Path, client_id: &str) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let deleted = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            let Some(client) = store.client(client_id).await? else {
                return Ok::<_, anyhow::Error>(false);
            };
            Ok(store.delete_app(&client.app_id).await?)
        }
    })?;
    if !deleted {
        bail!("no app has the client_id {client_id:?}");
    }
    println!("deleted the app of {client_id}, its keys and their tokens");
    Ok(ExitCode::SUCCESS)
}

fn create(args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(&args.config)?;
    let request = AppRequest {
        name: &args.name,
        environment: &args.env,
        scopes: &args.scopes,
        default_scopes: args.default_scopes.as_deref(),
        redirect_uris: &args.redirect_uris,
        public: args.public,
        resource_server: args.resource_server,
    };
    let Registration { scopes, default_scopes } = check_app(&policy, &request).map_err(|e| {
        let flag = match e.field {
            "environment" => "--env".to_owned(),
            "redirect_uris" => "--redirect-uri".to_owned(),
            _ => e.flag(),
        };
        anyhow::anyhow!("{flag}: {}", e.message)
    })?;
    let now = unix_now();
    let secret = (!args.public).then(|| secrets::new_client_secret(now, None));
    let client = ClientRecord {
        client_id: secrets::generate(SecretKind::ClientId),
        app_id: secrets::generate(SecretKind::ClientId).replacen("sgci_", "app_", 1),
        app_name: args.name.clone(),
        owner: args.owner.clone(),
        environment: args.env.clone(),
        secrets: secret.iter().map(|(_, record)| record.clone()).collect(),
        public: args.public,
        resource_server: args.resource_server,
        scopes,
        default_scopes,
        redirect_uris: args.redirect_uris.clone(),
        created_at: now,
        tokens_revoked_before: None,
    };
    let secret = secret.map(|(secret, _)| secret);
    runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            if let Some(owner) = &args.owner {
                if store.user(owner).await?.is_none() {
                    bail!("--owner: no user {owner:?}; create it first with `scopegate user create`");
                }
            }
            store
                .create_app(&client.app_id, &client.app_name, client.owner.as_deref(), &client)
                .await?;
        };
        Ok::<_, anyhow::Error>(())
    })?;
    if args.shell {
        // Ids and secrets are letters, digits, `-` and `_`: nothing a shell reads specially.
        println!("CLIENT_ID='{}'", client.client_id);
        if let Some(s) = &secret {
            println!("CLIENT_SECRET='{s}'");
        }
    } else if args.json {
        println!(
            "{}",
            serde_json::json!({
                "app_id": client.app_id,
                "client_id": client.client_id,
                "client_secret": secret,
                "environment": client.environment,
                "scopes": client.scopes.join(" "),
                "default_scopes": client.default_scopes.join(" "),
            })
        );
    } else {
        println!("client_id:     {}", client.client_id);
        match &secret {
            Some(s) => println!("client_secret: {s}\n(shown once: store it now; scopegate keeps only its hash)"),
            None => println!("public client: no secret; use PKCE (S256)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(config: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let clients = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            Ok::<_, anyhow::Error>(store.clients().await?)
        }
    })?;
    if json {
        let rows: Vec<_> = clients.iter().map(client_json).collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for c in &clients {
            println!(
                "{}  {:<12} {:<20} scopes: {}",
                c.client_id,
                c.environment,
                c.app_name,
                c.scopes.join(" ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
