//! `scopegate token`: acting on issued tokens by their value.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use scopegate_server::secrets;
use scopegate_store::{AuditEvent, Store, TokenKind};

use crate::policy_file::load_or_report;
use crate::store_cmd::{open, runtime, unix_now};

/// The audit entry of a revocation made with this command.
fn revoked(client_id: &str, subject: Option<&str>, what: &str) -> AuditEvent {
    AuditEvent {
        at: unix_now(),
        event: "revoke".into(),
        client_id: Some(client_id.to_owned()),
        subject: subject.map(str::to_owned),
        detail: format!("{what} (scopegate token revoke)"),
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Revoke a token; a refresh token takes every token of its grant with it.
    Revoke {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The access or refresh token.
        token: String,
    },
}

pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Revoke { config, token } => {
            let policy = load_or_report(config)?;
            if scopegate_server::keys::looks_like_jwt(token) {
                return revoke_jwt(&policy, token);
            }
            let hash = secrets::hash(token);
            let outcome = runtime()?.block_on(async {
                {
                    let store = open(&policy).await?;
                    let Some(t) = store.token(&hash).await? else {
                        return Ok::<_, anyhow::Error>(None);
                    };
                    let count = match t.kind {
                        TokenKind::Refresh => store.revoke_grant(&t.grant_id).await?,
                        TokenKind::Access => u64::from(store.revoke_token(&hash).await?),
                    };
                    let what = format!("{} token", t.kind.as_str());
                    store.audit(&revoked(&t.client_id, t.subject.as_deref(), &what)).await?;
                    Ok(Some((t, count)))
                }
            })?;
            let Some((t, revoked)) = outcome else {
                bail!("no such token (scopegate keeps only hashes, so check the value)")
            };
            println!(
                "revoked {} token(s) of client {} ({} token given)",
                revoked,
                t.client_id,
                t.kind.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A stateless JWT access token: its `jti` goes into the revocation table.
fn revoke_jwt(policy: &scopegate_core::Policy, token: &str) -> anyhow::Result<ExitCode> {
    use scopegate_server::keys::Keys;

    let issuer = policy.settings.issuer.clone();
    let client = runtime()?.block_on(async {
        {
            let store = open(&policy).await?;
            let keys = Keys::from_records(
                &store.signing_keys().await?,
                scopegate_server::sealing::KeyEncryptionKey::from_env()?.map(std::sync::Arc::new),
            )?;
            let Some(c) = keys.verify(token, &issuer, unix_now()) else {
                return Ok::<_, anyhow::Error>(None);
            };
            store.revoke_jti(&c.jti, Some(c.exp)).await?;
            store
                .audit(&revoked(&c.client_id, Some(&c.sub), "access token (jwt)"))
                .await?;
            Ok(Some(c.client_id))
        }
    })?;
    let Some(client) = client else {
        bail!("the JWT is not one of ours, or has already expired")
    };
    println!("revoked 1 token(s) of client {client} (access token given)");
    Ok(ExitCode::SUCCESS)
}
