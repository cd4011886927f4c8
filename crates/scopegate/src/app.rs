//! `scopegate app`: registering apps and their keys.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use scopegate_core::duration::format_duration;
use scopegate_service::operations::apps;
use scopegate_service::operations::client_secrets;
use scopegate_service::operations::key_sets::{KeySetSpec, Registered};
use scopegate_service::{Actor, ServiceError};
use scopegate_store::{KeySetRecord, Store};

use crate::policy_file::load_or_report;
use crate::store_cmd::{context, open, refused, runtime, unix_now};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Register an app with its key set in one environment; prints client_id and client_secret once.
    Create(CreateArgs),
    /// List every key set of every app (never their secrets).
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one key set: environment, scopes, redirect URIs, secrets' ids (never a secret).
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
pub(crate) struct CreateArgs {
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

pub(crate) fn run(command: &Command) -> anyhow::Result<ExitCode> {
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

fn client_json(c: &KeySetRecord) -> serde_json::Value {
    serde_json::json!({
        "app_id": c.app_id, "client_id": c.client_id, "name": c.app_name, "environment": c.environment, "public": c.public,
        "resource_server": c.resource_server, "scopes": c.scopes.join(" "), "default_scopes": c.default_scopes.join(" "),
        "redirect_uris": c.redirect_uris, "owner": c.owner,
        "secrets": c.secrets.iter().map(|s| serde_json::json!({
            "id": s.id, "created_at": s.created_at, "expires_at": s.expires_at, "revoked_at": s.revoked_at,
            "last_used_at": s.last_used_at, "active": s.is_active(unix_now()),
        })).collect::<Vec<_>>(),
    })
}

fn show(config: &std::path::Path, client_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let client = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            Ok::<_, anyhow::Error>(store.key_set(client_id).await?)
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
            let used = secret.last_used_at.map_or_else(
                || "never used".to_owned(),
                |at| {
                    format!(
                        "last used {} ago",
                        format_duration(std::time::Duration::from_secs(at.abs_diff(now)))
                    )
                },
            );
            println!("secret          {}  {state}, {used}", secret.id);
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
    let record = runtime()?.block_on(async {
        let store = open(&policy).await?;
        let actor = Actor::command_line(if replace {
            "scopegate app rotate-secret"
        } else {
            "scopegate app add-secret"
        });
        let cx = context(&store, &policy, &actor);
        let expires_at = client_secrets::expiry("expires_in", expires_in, cx.now).map_err(refused)?;
        match client_secrets::add(&cx, client_id, expires_at, replace).await {
            Err(ServiceError::NotFound(_)) => bail!("no app has the client_id {client_id:?}"),
            done => done.map_err(refused),
        }
    })?;
    let secret = &record.secret;
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
    runtime()?.block_on(async {
        let store = open(&policy).await?;
        let actor = Actor::command_line("scopegate app revoke-secret");
        match client_secrets::revoke(&context(&store, &policy, &actor), client_id, secret_id).await {
            Err(ServiceError::NotFound(_)) => {
                bail!("{client_id} has no active secret {secret_id:?} (see `scopegate app show`)")
            }
            done => done.map_err(refused),
        }
    })?;
    println!("revoked secret {secret_id} of {client_id}");
    Ok(ExitCode::SUCCESS)
}

fn delete(config: &std::path::Path, client_id: &str) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    runtime()?.block_on(async {
        let store = open(&policy).await?;
        let actor = Actor::command_line("scopegate app delete");
        let Some(key_set) = store.key_set(client_id).await? else {
            bail!("no app has the client_id {client_id:?}");
        };
        apps::delete(&context(&store, &policy, &actor), &key_set.app_id)
            .await
            .map_err(refused)
    })?;
    println!("deleted the app of {client_id}, its keys and their tokens");
    Ok(ExitCode::SUCCESS)
}

fn create(args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(&args.config)?;
    let spec = KeySetSpec {
        environment: args.env.clone(),
        scopes: args.scopes.clone(),
        default_scopes: args.default_scopes.clone(),
        redirect_uris: args.redirect_uris.clone(),
        public: args.public,
        resource_server: args.resource_server,
    };
    let Registered {
        key_set: client,
        secret,
    } = runtime()?.block_on(async {
        let store = open(&policy).await?;
        let actor = Actor::command_line("scopegate app create");
        match apps::create(
            &context(&store, &policy, &actor),
            &args.name,
            args.owner.as_deref(),
            &spec,
        )
        .await
        {
            Err(ServiceError::Invalid(f)) if f.field == "owner" => {
                bail!("--owner: {}; create it first with `scopegate user create`", f.message)
            }
            done => done.map_err(refused),
        }
    })?;
    let secret = secret.map(|s| s.secret);
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
            Ok::<_, anyhow::Error>(store.key_sets().await?)
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
