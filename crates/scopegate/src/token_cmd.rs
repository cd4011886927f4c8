//! `scopegate token`: acting on issued tokens by their value.

use std::path::PathBuf;
use std::process::ExitCode;

use scopegate_service::Actor;
use scopegate_service::credentials::keys::{Keys, looks_like_jwt};
use scopegate_service::credentials::sealing::KeyEncryptionKey;
use scopegate_service::operations::tokens;
use scopegate_store::Store;

use crate::policy_file::load_or_report;
use crate::store_cmd::{context, open, refused, runtime};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Revoke a token; a refresh token takes every token of its grant with it.
    Revoke {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The access or refresh token.
        token: String,
    },
}

pub(crate) fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Revoke { config, token } => {
            let policy = load_or_report(config)?;
            let revoked = runtime()?.block_on(async {
                let store = open(&policy).await?;
                // Only a JWT needs the signing keys (and the key-encryption key).
                let keys = if looks_like_jwt(token) {
                    let kek = KeyEncryptionKey::from_env()?.map(std::sync::Arc::new);
                    Some(Keys::from_records(&store.signing_keys().await?, kek)?)
                } else {
                    None
                };
                let actor = Actor::command_line("scopegate token revoke");
                tokens::revoke(&context(&store, &policy, &actor), keys.as_ref(), token, None)
                    .await
                    .map_err(refused)
            })?;
            println!(
                "revoked {} token(s) of client {} ({} token given)",
                revoked.revoked, revoked.client_id, revoked.kind
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
