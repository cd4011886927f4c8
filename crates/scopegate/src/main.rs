//! The `scopegate` command: one binary for every part of scopegate.

mod admin_token_cmd;
mod app;
mod audit_cmd;
#[cfg(test)]
mod captured_log;
mod check;
mod diff_cmd;
mod explain;
mod import_mcp;
mod import_openapi;
mod keys_cmd;
mod log_format;
mod log_json;
mod log_writer;
mod otel;
mod policy_file;
mod reload;
mod scheduling;
mod scopes_for;
mod serve;
mod stats_cmd;
mod store_cmd;
mod token_cmd;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the request path allocates small, short-lived buffers on every
/// worker thread; glibc's malloc spent about 7% of a proxied request there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Scoped access to your HTTP API: an OAuth 2.0 authorization server and the
/// enforcement point in front of the API, driven by one policy file.
#[derive(Parser, Debug)]
#[command(name = "scopegate", version = version(), about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a policy file; print FILE:LINE: message per problem and exit 1 if any.
    Check {
        /// The policy file.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Show how the policy decides one request: the matched route, what it
    /// requires, what the caller holds after implication, and the decision.
    /// Exit 0 allow, 1 deny, 2 bad input.
    Explain(explain::Args),
    /// Run the authorization server on the policy's `listen` address.
    Serve(serve::Args),
    /// Register and list apps and their keys.
    #[command(subcommand)]
    App(app::Command),
    /// Create users who sign in and consent.
    #[command(subcommand)]
    User(user::Command),
    /// Revoke issued tokens.
    #[command(subcommand)]
    Token(token_cmd::Command),
    /// Create, list and revoke bearer tokens for the admin API.
    #[command(subcommand)]
    AdminToken(admin_token_cmd::Command),
    /// Rotate and list the keys that sign JWT access tokens.
    #[command(subcommand)]
    Keys(keys_cmd::Command),
    /// What the database holds (`stats`), and removing what is past its use (`purge`).
    #[command(subcommand)]
    Store(stats_cmd::Command),
    /// Show the newest entries of the audit trail: issuance, refresh, reuse,
    /// revocation, refusal, sign-in and consent, oldest first.
    Audit(audit_cmd::Args),
    /// Print the smallest scope set that lets an app call every listed endpoint:
    /// first the space-separated list, then `scope=` and its URL-encoded form.
    ScopesFor(scopes_for::Args),
    /// Print a policy fragment (scopes and routes) from an OpenAPI 3 (or Swagger 2.0) document's
    /// oauth2 scheme and each operation's security requirement.
    ImportOpenapi(import_openapi::Args),
    /// Print [[mcp_route]] rows, one per tool, prompt and resource, from an MCP
    /// server's tools/list (or other list) answer, each to fill in with its scope.
    ImportMcp(import_mcp::Args),
    /// What a change does to access: routes that became public, requirements
    /// that widened or narrowed, new routes, scopes implying more or less.
    /// Exit 0 when nothing widened, 2 when something did, 1 on bad input.
    Diff(diff_cmd::Args),
}

/// `--version`: this build, and the database schema version it migrates each
/// backend to (a database at a newer one is refused: docs/production.md).
fn version() -> &'static str {
    use scopegate_store::Backend;
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{} (database schema: SQLite {}, PostgreSQL {})",
            env!("CARGO_PKG_VERSION"),
            Backend::Sqlite.schema_version(),
            Backend::Postgres.schema_version()
        )
    });
    &TEXT
}

/// A command whose output goes to a reader that stopped reading (`| head`)
/// ends quietly, as a shell reports SIGPIPE (141), instead of reporting a
/// panic: Rust ignores SIGPIPE, so `println!` fails on the closed pipe.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => check::run(&config),
        Command::Explain(args) => explain::run(&args),
        Command::ScopesFor(args) => scopes_for::run(&args),
        Command::ImportOpenapi(args) => import_openapi::run(&args),
        Command::ImportMcp(args) => import_mcp::run(&args),
        Command::Diff(args) => diff_cmd::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::App(command) => app::run(&command),
        Command::User(command) => user::run(&command),
        Command::Token(command) => token_cmd::run(&command),
        Command::AdminToken(command) => admin_token_cmd::run(&command),
        Command::Keys(command) => keys_cmd::run(&command),
        Command::Audit(args) => audit_cmd::run(&args),
        Command::Store(command) => stats_cmd::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scopegate: {e:#}");
            ExitCode::from(2)
        }
    }
}
