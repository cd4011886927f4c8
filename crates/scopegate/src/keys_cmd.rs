//! `scopegate keys`: the keys that sign JWT access tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use scopegate_service::Actor;
use scopegate_service::credentials::sealing::{KEK_ENV, KEK_FILE_ENV, KeyEncryptionKey};
use scopegate_service::operations::signing_keys;
use scopegate_store::Store;

use crate::policy_file::load_or_report;
use crate::store_cmd::{context, open, refused, runtime};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Start signing with a new key. Old keys are retired but stay published in
    /// the JWKS, so tokens they signed keep verifying until they expire.
    /// Every running `serve` on the database signs with it within a second.
    Rotate {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// List signing keys (never their private parts), and whether each is sealed.
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print a new random key-encryption key (32 bytes, base64url) for
    /// SCOPEGATE_KEY_ENCRYPTION_KEY or the file SCOPEGATE_KEY_ENCRYPTION_KEY_FILE names.
    NewKek,
}

pub(crate) fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Rotate { config } => {
            let policy = load_or_report(config)?;
            let kek = KeyEncryptionKey::from_env()?;
            let kid = runtime()?.block_on(async {
                let store = open(&policy).await?;
                let actor = Actor::command_line("scopegate keys rotate");
                signing_keys::rotate(&context(&store, &policy, &actor), kek.as_ref())
                    .await
                    .map_err(refused)
            })?;
            println!("signing with key {kid} from the next start of `scopegate serve`");
            Ok(ExitCode::SUCCESS)
        }
        Command::List { config } => {
            let policy = load_or_report(config)?;
            let keys = runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    Ok::<_, anyhow::Error>(store.signing_keys().await?)
                }
            })?;
            for k in &keys {
                let state = if k.retired_at.is_some() { "retired" } else { "signing" };
                let at_rest = if scopegate_service::credentials::sealing::is_sealed(&k.private_der) {
                    "sealed"
                } else {
                    "in the clear"
                };
                println!("{}  {}  {state}  {at_rest}", k.kid, k.alg);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::NewKek => {
            println!("{}", KeyEncryptionKey::generate()?);
            eprintln!("set it as {KEK_ENV}, or write it to a file (mode 0600) that {KEK_FILE_ENV} names");
            Ok(ExitCode::SUCCESS)
        }
    }
}
