//! `scopegate keys`: the keys that sign JWT access tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use scopegate_server::keys::generate_key;
use scopegate_store::Store;

use crate::policy_file::load_or_report;
use crate::store_cmd::{runtime, unix_now, with_store};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Start signing with a new key. Old keys are retired but stay published in
    /// the JWKS, so tokens they signed keep verifying until they expire.
    /// Restart `serve` (every node) to pick up the new key.
    Rotate {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// List signing keys (never their private parts).
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
}

pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Rotate { config } => {
            let policy = load_or_report(config)?;
            let key = generate_key(unix_now(), policy.settings.tokens.algorithm)?;
            runtime()?.block_on(async {
                with_store!(policy, store => Ok::<_, anyhow::Error>(store.rotate_signing_key(&key).await?))
            })?;
            println!("signing with key {} from the next start of `scopegate serve`", key.kid);
            Ok(ExitCode::SUCCESS)
        }
        Command::List { config } => {
            let policy = load_or_report(config)?;
            let keys = runtime()?.block_on(async {
                with_store!(policy, store => Ok::<_, anyhow::Error>(store.signing_keys().await?))
            })?;
            for k in &keys {
                let state = if k.retired_at.is_some() { "retired" } else { "signing" };
                println!("{}  {}  {state}", k.kid, k.alg);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
