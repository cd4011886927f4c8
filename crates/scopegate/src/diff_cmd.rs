//! `scopegate diff OLD NEW`: who can call what, before and after. OLD and
//! NEW are policy files, or OpenAPI documents (`.yaml`, `.yml`, `.json`,
//! imported as `import-openapi` does). Exit 0 when nothing widened access,
//! 2 when something did, 1 on bad input, so that CI can gate a change.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use scopegate_core::Policy;
use scopegate_core::diff::{Finding, diff};
use scopegate_core::openapi::{ImportOptions, import};

use crate::policy_file::{LoadError, load};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The policy (or OpenAPI document) before the change.
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The policy (or OpenAPI document) after the change.
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// One JSON object instead of lines.
    #[arg(long)]
    json: bool,
}

fn is_openapi(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["yaml", "yml", "json"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The policy a file stands for; its problems, one per line.
fn policy_of(path: &Path) -> Result<Policy, String> {
    if !is_openapi(path) {
        return load(path).map_err(|e| match e {
            LoadError::Io(e) => format!("{e:#}"),
            LoadError::Invalid(errors) => errors.to_string(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc = crate::import_openapi::parse(path, &text).map_err(|e| format!("{e:#}"))?;
    let imported = import(&doc, &ImportOptions::default()).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{}{e}", path.display()))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let name = path.display().to_string();
    Policy::compile(&name, &imported.to_toml(&name)).map_err(|e| e.to_string())
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (old, new) = match (policy_of(&args.old), policy_of(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (old, new) => {
            for e in [old.err(), new.err()].into_iter().flatten() {
                eprintln!("{e}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    let findings = diff(&old, &new);
    let widened = findings.iter().any(|f| f.widens);
    if args.json {
        let rows: Vec<serde_json::Value> = findings.iter().map(json).collect();
        println!("{}", serde_json::json!({"widened": widened, "changes": rows}));
    } else if findings.is_empty() {
        println!("no change in access");
    } else {
        for f in &findings {
            let mark = match (f.widens, f.narrows) {
                (true, true) => "widened+narrowed",
                (true, false) => "widened",
                (false, true) => "narrowed",
                (false, false) => "same access",
            };
            println!(
                "{mark:<16} {} {}: {} -> {} ({})",
                f.kind, f.subject, f.before, f.after, f.why
            );
        }
    }
    Ok(ExitCode::from(if widened { 2 } else { 0 }))
}

fn json(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "kind": f.kind, "subject": f.subject, "before": f.before, "after": f.after,
        "widens": f.widens, "narrows": f.narrows, "why": f.why,
    })
}
