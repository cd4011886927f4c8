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
pub(crate) struct Args {
    /// The policy (or OpenAPI document) before the change.
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The policy (or OpenAPI document) after the change.
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// One JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// Count, for each scope removed or changed, the apps that hold it in
    /// this database today (`sqlite://FILE` or `postgres://…`).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// For OpenAPI documents: the oauth2 scheme to read (as `import-openapi --scheme`).
    #[arg(long, value_name = "NAME")]
    scheme: Option<String>,
    /// For OpenAPI documents: a path prefixed to every route (as `import-openapi --base-path`).
    #[arg(long, value_name = "P")]
    base_path: Option<String>,
}

/// Key sets (client id, app id) holding each scope, from the database.
fn holders(url: &str) -> Result<Vec<(String, String, Vec<String>)>, String> {
    use scopegate_store::{Backend, PgStore, SqliteStore, Store};
    let shown = scopegate_store::redacted(url);
    let runtime = crate::store_cmd::runtime().map_err(|e| e.to_string())?;
    let clients = runtime.block_on(async {
        match Backend::of(url) {
            Some(Backend::Sqlite) => SqliteStore::connect(url).await?.key_sets().await,
            Some(Backend::Postgres) => PgStore::connect(url).await?.key_sets().await,
            None => Ok(Vec::new()),
        }
    });
    if Backend::of(url).is_none() {
        return Err(format!("--database {shown:?} is neither sqlite:// nor postgres://"));
    }
    let clients = clients.map_err(|e| format!("--database {shown}: {e}"))?;
    Ok(clients.into_iter().map(|c| (c.client_id, c.app_id, c.scopes)).collect())
}

fn is_openapi(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["yaml", "yml", "json"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The policy a file stands for; its problems, one per line.
fn policy_of(path: &Path, options: &ImportOptions) -> Result<Policy, String> {
    if !is_openapi(path) {
        return load(path).map_err(|e| match e {
            LoadError::Io(e) => format!("{e:#}"),
            LoadError::Invalid(errors) => errors.to_string(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc = crate::import_openapi::parse(path, &text).map_err(|e| format!("{e:#}"))?;
    let imported = import(&doc, options).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{}{e}", path.display()))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let name = path.display().to_string();
    Policy::compile(&name, &imported.to_toml(&name)).map_err(|e| e.to_string())
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let options = ImportOptions {
        scheme: args.scheme.clone(),
        base_path: args.base_path.clone(),
    };
    let (old, new) = match (policy_of(&args.old, &options), policy_of(&args.new, &options)) {
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
    let key_sets = match args.database.as_deref().map(holders).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    // Per scope finding: the key sets holding that scope today. Per route
    // finding that narrows: the key sets it lets in today and not after.
    let held_by = |f: &Finding| -> Option<Vec<(String, String)>> {
        let key_sets = key_sets.as_ref()?;
        let affected = |scopes: &Vec<String>| match f.kind {
            "scope" => scopes.contains(&f.subject),
            _ => f.narrows && f.keeps_out(&old, &new, scopes),
        };
        (f.kind == "scope" || f.narrows).then(|| {
            key_sets
                .iter()
                .filter(|(_, _, scopes)| affected(scopes))
                .map(|(client, app, _)| (client.clone(), app.clone()))
                .collect()
        })
    };
    if args.json {
        let rows: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| {
                let mut row = json(f);
                if let Some(held) = held_by(f) {
                    let key = if f.kind == "scope" {
                        "held_by"
                    } else {
                        "starts_refusing"
                    };
                    row[key] = held
                        .iter()
                        .map(|(client, app)| serde_json::json!({"client_id": client, "app_id": app}))
                        .collect();
                }
                row
            })
            .collect();
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
            if let Some(held) = held_by(f) {
                let mut apps: Vec<&str> = held.iter().map(|(_, app)| app.as_str()).collect();
                apps.sort_unstable();
                apps.dedup();
                let counted = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
                let (none, some) = match f.kind {
                    "scope" => ("held today by no key set", "held today by"),
                    _ => ("starts refusing no key set", "starts refusing"),
                };
                if apps.is_empty() {
                    println!("{:<16} {none}", "");
                } else {
                    println!(
                        "{:<16} {some} {} of {}: {}",
                        "",
                        counted(held.len(), "key set", "key sets"),
                        counted(apps.len(), "app", "apps"),
                        apps.join(", ")
                    );
                }
            }
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
