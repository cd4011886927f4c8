//! `scopegate import-mcp FILE`: `[[mcp_route]]` rows, one per tool, prompt
//! and resource an MCP server lists, each with its description and an
//! `any_of` to fill in (docs/mcp.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use scopegate_core::mcp_import::{TO_FILL, imported_routes, to_toml};

use crate::policy_file::load_or_report;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The server's answer to tools/list (or prompts/list, resources/list,
    /// resources/templates/list) as JSON: the JSON-RPC response, its result,
    /// or an array of them.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// A policy whose `[[mcp_route]]` rows already route some operations:
    /// only the others are printed.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The largest list answer read.
const MAX_BYTES: u64 = 16 << 20;

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("{}", args.file.display()))?
        .len();
    if size > MAX_BYTES {
        anyhow::bail!(
            "{}: not read: {size} bytes, more than {} MB",
            args.file.display(),
            MAX_BYTES >> 20
        );
    }
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let document: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", args.file.display()))?;
    let policy = args.config.as_deref().map(load_or_report).transpose()?;
    let routes = match imported_routes(&document, policy.as_ref()) {
        Ok(routes) => routes,
        Err(why) => {
            eprintln!("scopegate: {}: {why}", args.file.display());
            return Ok(ExitCode::from(1));
        }
    };
    if routes.is_empty() {
        eprintln!("every operation {} lists is routed already", args.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "# From {}: one [[mcp_route]] per tool, prompt and resource. Replace each \"{TO_FILL}\"\n\
         # with the scope that allows it (`scopegate check` refuses the fragment until\n\
         # then), and paste the rows below [mcp].",
        args.file.display()
    );
    print!("{}", to_toml(&routes));
    Ok(ExitCode::SUCCESS)
}
