//! `scopegate check`: the same compilation `serve` does, reported.

use std::path::Path;
use std::process::ExitCode;

use crate::policy_file::{LoadError, load};

pub fn run(config: &Path) -> anyhow::Result<ExitCode> {
    match load(config) {
        Ok(policy) => {
            println!(
                "{}: ok ({} scopes, {} routes, environments: {}; database {})",
                config.display(),
                policy.catalog.len(),
                policy.routes().len(),
                policy.environments.join(", "),
                policy.settings.database
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(LoadError::Invalid(errors)) => {
            eprintln!("{errors}");
            Ok(ExitCode::from(1))
        }
        Err(LoadError::Io(e)) => Err(e),
    }
}
