//! `scopegate import-openapi SPEC`: an OpenAPI 3 or Swagger 2.0 document (YAML or JSON) as
//! a policy fragment on stdout; warnings on stderr and as TOML comments;
//! problems with the JSON pointer of each, exit 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use scopegate_core::openapi::{ImportOptions, import};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The OpenAPI document (`.yaml`, `.yml` or `.json`).
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// The oauth2 security scheme whose scopes to use (needed if there are several).
    #[arg(long, value_name = "NAME")]
    scheme: Option<String>,
    /// A path prefixed to every route, after the first server URL's path.
    #[arg(long, value_name = "P")]
    base_path: Option<String>,
}

/// The document as JSON values, whichever of the two it is written in.
pub fn parse(path: &std::path::Path, text: &str) -> anyhow::Result<serde_json::Value> {
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json {
        return serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", path.display()));
    }
    serde_norway::from_str(text).with_context(|| format!("{}: not valid YAML", path.display()))
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.spec).with_context(|| format!("cannot read {}", args.spec.display()))?;
    let doc = parse(&args.spec, &text)?;
    let options = ImportOptions {
        scheme: args.scheme.clone(),
        base_path: args.base_path.clone(),
    };
    match import(&doc, &options) {
        Ok(imported) => {
            for line in imported.told() {
                let joint = if line.starts_with('#') { "" } else { ": " };
                eprintln!("warning: {}{joint}{line}", args.spec.display());
            }
            print!("{}", imported.to_toml(&args.spec.display().to_string()));
            eprintln!("{}: imported {}", args.spec.display(), imported.summary());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}{e}", args.spec.display());
            }
            eprintln!(
                "{}: not imported ({} problem(s) above)",
                args.spec.display(),
                errors.len()
            );
            Ok(ExitCode::from(1))
        }
    }
}
