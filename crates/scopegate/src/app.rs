//! `scopegate app`: registering apps and their keys.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use scopegate_core::registration::{AppRequest, Registration, check_app};
use scopegate_server::secrets::{self, SecretKind};
use scopegate_store::{ClientRecord, Store};

use crate::policy_file::load_or_report;
use crate::store_cmd::{runtime, unix_now, with_store};

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
    /// Replace a confidential client's secret; prints the new one once. The old one stops working.
    RotateSecret {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        client_id: String,
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
        Command::RotateSecret { config, client_id } => rotate_secret(config, client_id),
        Command::Delete { config, client_id } => delete(config, client_id),
    }
}

fn client_json(c: &ClientRecord) -> serde_json::Value {
    serde_json::json!({
        "client_id": c.client_id, "name": c.app_name, "environment": c.environment, "public": c.public,
        "resource_server": c.resource_server, "scopes": c.scopes.join(" "), "default_scopes": c.default_scopes.join(" "),
        "redirect_uris": c.redirect_uris, "owner": c.owner,
    })
}

fn show(config: &std::path::Path, client_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let client = runtime()?
        .block_on(async { with_store!(policy, store => Ok::<_, anyhow::Error>(store.client(client_id).await?)) })?;
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
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate_secret(config: &std::path::Path, client_id: &str) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let secret = secrets::generate(SecretKind::ClientSecret);
    let hash = secrets::hash(&secret);
    let outcome = runtime()?.block_on(async {
        with_store!(policy, store => {
            match store.client(client_id).await? {
                None => Ok::<_, anyhow::Error>(Err(format!("no app has the client_id {client_id:?}"))),
                Some(c) if c.public => Ok(Err(format!("{client_id} is a public client: it has no secret to rotate"))),
                Some(_) => Ok(Ok(store.set_client_secret(client_id, &hash).await?)),
            }
        })
    })?;
    match outcome {
        Err(message) => bail!(message),
        Ok(_) => println!("client_secret: {secret}\n(shown once: the previous secret no longer works)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(config: &std::path::Path, client_id: &str) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(config)?;
    let deleted = runtime()?
        .block_on(async { with_store!(policy, store => Ok::<_, anyhow::Error>(store.delete_app(client_id).await?)) })?;
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
    let secret = (!args.public).then(|| secrets::generate(SecretKind::ClientSecret));
    let client = ClientRecord {
        client_id: secrets::generate(SecretKind::ClientId),
        app_id: secrets::generate(SecretKind::ClientId).replacen("sgci_", "app_", 1),
        app_name: args.name.clone(),
        owner: args.owner.clone(),
        environment: args.env.clone(),
        secret_hash: secret.as_deref().map(secrets::hash),
        public: args.public,
        resource_server: args.resource_server,
        scopes,
        default_scopes,
        redirect_uris: args.redirect_uris.clone(),
        created_at: unix_now(),
    };
    runtime()?.block_on(async {
        with_store!(policy, store => {
            if let Some(owner) = &args.owner {
                if store.user(owner).await?.is_none() {
                    bail!("--owner: no user {owner:?}; create it first with `scopegate user create`");
                }
            }
            store.create_app(&client.app_id, &client.app_name, client.owner.as_deref(), &client).await?;
        });
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
    let clients =
        runtime()?.block_on(async { with_store!(policy, store => Ok::<_, anyhow::Error>(store.clients().await?)) })?;
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
