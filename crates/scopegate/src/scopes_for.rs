//! `scopegate scopes-for`: the smallest scope set for a list of endpoints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use scopegate_core::{CoverFor, GrantKind, scope::encode_scope_param};

use crate::policy_file::load_or_report;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The policy file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Only scopes this grant may carry: client_credentials (app tokens) or
    /// authorization_code (user tokens).
    #[arg(long, value_name = "GRANT")]
    grant: Option<String>,
    /// Only scopes available in this environment.
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// Endpoints the app will call, each "METHOD PATH", or an MCP operation
    /// as "mcp OPERATION" (e.g. "mcp tools/call create_order").
    #[arg(required = true, value_name = "METHOD PATH")]
    endpoints: Vec<String>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(&args.config)?;
    let grant = match args.grant.as_deref() {
        None => None,
        Some(g) => match GrantKind::parse(g) {
            Some(kind) => Some(kind),
            None => bail!(
                "--grant: unknown grant {g:?}; use client_credentials (app tokens) or authorization_code (user tokens)"
            ),
        },
    };
    if let Some(env) = &args.env
        && !policy.environments.contains(env)
    {
        bail!(
            "--env: environment {env:?} is not declared in {} ({})",
            policy.file,
            policy.environments.join(", ")
        );
    }
    let cover = policy.scopes_for(
        &args.endpoints,
        CoverFor {
            grant,
            environment: args.env.as_deref(),
        },
    )?;
    let names: Vec<&str> = policy.catalog.names(&cover.scopes).collect();
    if names.is_empty() {
        eprintln!("note: any authenticated client may call these endpoints; no scope is needed");
    }
    for id in cover.scopes.iter() {
        let info = policy.catalog.info(id);
        if info.requires_approval {
            let why = info
                .approval_through
                .map(|g| format!(" (it implies {})", policy.catalog.name(g)))
                .unwrap_or_default();
            eprintln!(
                "note: {} needs an administrator's approval{why}: developers request it in the portal",
                info.name.as_str()
            );
        }
    }
    println!("{}", names.join(" "));
    println!("scope={}", encode_scope_param(names.iter().copied()));
    Ok(ExitCode::SUCCESS)
}
