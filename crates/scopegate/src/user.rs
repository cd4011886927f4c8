//! `scopegate user`: people who sign in and consent.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use scopegate_core::registration::check_login;
use scopegate_service::operations::users;
use scopegate_service::{Actor, ServiceError};
use scopegate_store::Store;

use crate::policy_file::load_or_report;
use crate::store_cmd::{context, open, refused, runtime};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Create a user; the password is read from the first line of standard
    /// input. With `--idp NAME`, admit a user of that identity provider
    /// instead (no password): their first sign-in there whose login claim is
    /// LOGIN binds the account (for `users = "existing"`).
    Create {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        login: String,
        /// Read the password from standard input (required for a local user: never on the command line).
        #[arg(long, required_unless_present = "idp", conflicts_with = "idp")]
        password_stdin: bool,
        /// The `[[identity_provider]]` the user signs in at (no password here).
        #[arg(long, value_name = "NAME")]
        idp: Option<String>,
        /// A permission the user holds (repeatable); `admin` makes a portal administrator.
        #[arg(long = "permission", value_name = "P")]
        permissions: Vec<String>,
    },
    /// Show one user: where they sign in, their permissions by source, their
    /// last sign-in there and when its permissions lapse.
    Show {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        login: String,
        #[arg(long)]
        json: bool,
    },
    /// List users, their permissions and whether they may sign in.
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's permissions (none given: no permissions). Takes effect at the next refresh.
    SetPermissions {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        login: String,
        #[arg(long = "permission", value_name = "P")]
        permissions: Vec<String>,
    },
    /// Stop a user from signing in; their grants stop refreshing.
    Disable {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        login: String,
    },
    /// Let a disabled user sign in again.
    Enable {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        login: String,
    },
}

fn valid_name(s: &str) -> bool {
    check_login("login", s).is_ok()
}

pub(crate) fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List { config, json } => {
            let policy = load_or_report(config)?;
            let users = runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    Ok::<_, anyhow::Error>(store.users().await?)
                }
            })?;
            if *json {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| serde_json::json!({"login": u.login, "permissions": u.permissions.join(" "), "enabled": u.enabled}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for u in &users {
                    let state = if u.enabled { "enabled " } else { "disabled" };
                    println!("{:<24} {state}  {}", u.login, u.permissions.join(" "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::SetPermissions {
            config,
            login,
            permissions,
        } => {
            if let Some(p) = permissions.iter().find(|p| !valid_name(p)) {
                bail!("--permission {p:?}: use letters, digits and - _ . @");
            }
            let policy = load_or_report(config)?;
            let user = runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = Actor::command_line("scopegate user set-permissions");
                users::set_permissions(&context(&store, &policy, &actor), login, permissions)
                    .await
                    .map_err(by_login)
            })?;
            let permissions = &user.permissions;
            println!(
                "user {login} now holds: {}",
                if permissions.is_empty() {
                    "no permissions".to_owned()
                } else {
                    permissions.join(" ")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Disable { config, login } | Command::Enable { config, login } => {
            let enabled = matches!(command, Command::Enable { .. });
            let policy = load_or_report(config)?;
            runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = Actor::command_line(if enabled {
                    "scopegate user enable"
                } else {
                    "scopegate user disable"
                });
                users::set_enabled(&context(&store, &policy, &actor), login, enabled)
                    .await
                    .map_err(by_login)
            })?;
            println!("user {login} {}", if enabled { "enabled" } else { "disabled" });
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { config, login, json } => {
            let policy = load_or_report(config)?;
            let user = runtime()?.block_on(async {
                let store = open(&policy).await?;
                users::get(&store, login).await.map_err(by_login)
            })?;
            show(&user, &policy, *json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Create {
            config,
            login,
            permissions,
            idp: Some(idp),
            ..
        } => {
            let policy = load_or_report(config)?;
            let user = runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = Actor::command_line("scopegate user create");
                users::admit(&context(&store, &policy, &actor), idp, login, permissions)
                    .await
                    .map_err(by_login)
            })?;
            println!("user {} admitted: they sign in at {idp}", user.login);
            Ok(ExitCode::SUCCESS)
        }
        Command::Create {
            config,
            login,
            permissions,
            ..
        } => {
            let policy = load_or_report(config)?;
            if !valid_name(login) {
                bail!("--login {login:?}: use letters, digits and - _ . @ (at most 128)");
            }
            if let Some(p) = permissions.iter().find(|p| !valid_name(p)) {
                bail!("--permission {p:?}: use letters, digits and - _ . @");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let user = runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = Actor::command_line("scopegate user create");
                users::create(&context(&store, &policy, &actor), login, password, permissions)
                    .await
                    .map_err(by_login)
            })?;
            let permissions = &user.permissions;
            println!(
                "user {login} created{}",
                if permissions.is_empty() {
                    String::new()
                } else {
                    format!(" with permissions {}", permissions.join(" "))
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn show(user: &scopegate_store::UserRecord, policy: &scopegate_core::Policy, json: bool) {
    let sign_in = &policy.settings.sign_in;
    let now = crate::store_cmd::unix_now();
    let time = |t: Option<i64>| t.map(crate::audit_cmd::utc);
    let lapses = users::source_lapses_at(user, sign_in);
    let holds = users::permissions_at(user, sign_in, now);
    if json {
        let v = serde_json::json!({
            "login": user.login,
            "name": user.display_name,
            "source": user.source,
            "subject": user.subject,
            "enabled": user.enabled,
            "created_at": time(Some(user.created_at)),
            "permissions": user.permissions,
            "source_permissions": user.source_permissions,
            "signed_in_at": time(user.signed_in_at),
            "source_permissions_lapse_at": time(lapses),
            "holds": holds,
        });
        println!("{v:#}");
        return;
    }
    let list = |l: &[String]| if l.is_empty() { "none".to_owned() } else { l.join(" ") };
    println!("login        {}", user.login);
    if let Some(name) = &user.display_name {
        println!("name         {name}");
    }
    match &user.subject {
        Some(sub) => println!("source       {} (subject {sub})", user.source),
        None => println!("source       {}", user.source),
    }
    println!("enabled      {}", if user.enabled { "yes" } else { "no" });
    println!("permissions  local: {}", list(&user.permissions));
    if user.source != scopegate_core::sign_in::LOCAL {
        let when = match (time(user.signed_in_at), time(lapses)) {
            (None, _) => " (not signed in yet)".to_owned(),
            (Some(at), None) => format!(" (signed in {at})"),
            (Some(at), Some(lapse)) if users::source_counts(user, sign_in, now) => {
                format!(" (signed in {at}, lapse {lapse})")
            }
            (Some(at), Some(lapse)) => format!(" (signed in {at}, lapsed {lapse})"),
        };
        println!("             {}: {}{when}", user.source, list(&user.source_permissions));
    }
    println!("holds now    {}", list(&holds));
}

/// A refusal naming the user, by the flag that named them.
fn by_login(e: ServiceError) -> anyhow::Error {
    match e {
        ServiceError::NotFound(m) | ServiceError::Conflict(m) => anyhow::anyhow!("--login: {m}"),
        other => refused(other),
    }
}
