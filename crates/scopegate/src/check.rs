//! `scopegate check`: the same compilation `serve` does, reported.

use std::path::Path;
use std::process::ExitCode;

use crate::policy_file::{LoadError, load};

pub(crate) fn run(config: &Path) -> anyhow::Result<ExitCode> {
    match load(config) {
        Ok(policy) => {
            let mcp = policy.routes().iter().filter(|r| r.pattern.is_mcp()).count();
            let routes = match mcp {
                0 => format!("{} routes", policy.routes().len()),
                n => format!("{} routes, {n} mcp routes", policy.routes().len() - n),
            };
            println!(
                "{}: ok ({} scopes, {routes}, environments: {}; database {})",
                config.display(),
                policy.catalog.len(),
                policy.environments.join(", "),
                scopegate_store::redacted(&policy.settings.database)
            );
            // A scope that implies a gated one would hand it out without
            // approval: it is gated too, and said so.
            for (_, info) in policy.catalog.iter() {
                if let Some(gated) = info.approval_through {
                    eprintln!(
                        "{}:{}: note: scope \"{}\" needs an administrator's approval because it implies \"{}\", which has requires_approval",
                        config.display(),
                        info.line,
                        info.name.as_str(),
                        policy.catalog.name(gated)
                    );
                }
            }
            // Keys sign only JWT access tokens: with opaque ones there is nothing to warn of.
            let signs = policy.settings.tokens.format == scopegate_core::TokenFormat::Jwt;
            match scopegate_service::credentials::sealing::KeyEncryptionKey::from_env() {
                Ok(Some(_)) => {}
                Ok(None) if !signs => {}
                Ok(None) => eprintln!(
                    "warning: signing keys will be stored in the clear; set {} (see `scopegate keys new-kek`, docs/security.md)",
                    scopegate_service::credentials::sealing::KEK_ENV
                ),
                Err(e) => eprintln!("warning: {e}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(LoadError::Invalid(errors)) => {
            eprintln!("{errors}");
            Ok(ExitCode::from(1))
        }
        Err(LoadError::Io(e)) => Err(e),
    }
}
