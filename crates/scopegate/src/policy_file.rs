//! Reading and compiling the policy file, the same way for every command.

use std::path::Path;

use anyhow::Context;
use scopegate_core::{Policy, PolicyErrors};

/// Why a policy could not be loaded.
pub enum LoadError {
    /// The file could not be read (one line).
    Io(anyhow::Error),
    /// The file was read and is invalid (one line per problem).
    Invalid(PolicyErrors),
}

pub fn load(path: &Path) -> Result<Policy, LoadError> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))
        .map_err(LoadError::Io)?;
    Policy::compile(&path.display().to_string(), &source).map_err(LoadError::Invalid)
}

/// Loads the policy for a command other than `check`: problems are printed and
/// become an error that exits with `code`.
pub fn load_or_report(path: &Path) -> anyhow::Result<Policy> {
    match load(path) {
        Ok(policy) => Ok(policy),
        Err(LoadError::Io(e)) => Err(e),
        Err(LoadError::Invalid(errors)) => {
            eprintln!("{errors}");
            anyhow::bail!(
                "{} is not a valid policy ({} problem(s) above); run `scopegate check`",
                path.display(),
                errors.errors.len()
            )
        }
    }
}
