//! Reading and compiling the policy file, the same way for every command.

use std::path::Path;

use anyhow::Context;
use scopegate_core::{Policy, PolicyErrors};

/// Why a policy could not be loaded.
pub(crate) enum LoadError {
    /// The file could not be read (one line).
    Io(anyhow::Error),
    /// The file was read and is invalid (one line per problem).
    Invalid(PolicyErrors),
}

pub(crate) fn load(path: &Path) -> Result<Policy, LoadError> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))
        .map_err(LoadError::Io)?;
    let mut policy = Policy::compile(&path.display().to_string(), &source).map_err(LoadError::Invalid)?;
    policy.settings.database = resolve_database(path, &policy.settings.database);
    if let Some(password) = database_password(path, &policy)? {
        policy.settings.database = scopegate_store::with_password(&policy.settings.database, &password)
            .map_err(|e| LoadError::Io(anyhow::anyhow!("{}: `database`: {e}", path.display())))?;
    }
    Ok(policy)
}

/// The environment variable that may hold the PostgreSQL password.
pub(crate) const PASSWORD_VARIABLE: &str = "SCOPEGATE_DATABASE_PASSWORD";

/// The PostgreSQL password kept out of the policy file: from the file
/// `database_password_file` names (relative to the policy file; one trailing
/// newline dropped), else from `SCOPEGATE_DATABASE_PASSWORD`.
fn database_password(path: &Path, policy: &Policy) -> Result<Option<String>, LoadError> {
    if let Some(file) = &policy.settings.database_password_file {
        let file = path.parent().unwrap_or(Path::new(".")).join(file);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("`database_password_file`: cannot read {}", file.display()))
            .map_err(LoadError::Io)?;
        let password = text.strip_suffix('\n').unwrap_or(&text);
        let password = password.strip_suffix('\r').unwrap_or(password);
        return Ok(Some(password.to_owned()));
    }
    if !policy.settings.database.starts_with("postgres") {
        return Ok(None);
    }
    Ok(std::env::var(PASSWORD_VARIABLE).ok().filter(|p| !p.is_empty()))
}

/// A relative SQLite path names a file beside the policy file, wherever the
/// command runs from (each example keeps its own database, and `app list`
/// run from another directory sees the server's); made absolute, so that
/// what `serve` and `check` print is the file itself.
pub(crate) fn resolve_database(policy_file: &Path, url: &str) -> String {
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return url.to_owned();
    };
    let (file, query) = match rest.split_once('?') {
        Some((file, query)) => (file, Some(query)),
        None => (rest, None),
    };
    if file.is_empty() || file.starts_with('/') || file.starts_with(":memory:") {
        return url.to_owned();
    }
    let dir = policy_file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let joined = dir.join(file);
    let absolute = std::path::absolute(&joined).unwrap_or(joined);
    match query {
        Some(query) => format!("sqlite://{}?{query}", absolute.display()),
        None => format!("sqlite://{}", absolute.display()),
    }
}

/// Loads the policy for a command other than `check`: problems are printed and
/// become an error that exits with `code`.
pub(crate) fn load_or_report(path: &Path) -> anyhow::Result<Policy> {
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

#[cfg(test)]
mod tests {
    use super::resolve_database;
    use std::path::Path;

    #[test]
    fn a_relative_sqlite_path_resolves_against_the_policy_files_directory() {
        let cwd = std::env::current_dir().unwrap_or_default();
        assert_eq!(
            resolve_database(Path::new("/srv/api/scopegate.toml"), "sqlite://scopegate.db"),
            "sqlite:///srv/api/scopegate.db"
        );
        assert_eq!(
            resolve_database(Path::new("/srv/api/scopegate.toml"), "sqlite:data/sg.db?mode=rwc"),
            "sqlite:///srv/api/data/sg.db?mode=rwc"
        );
        assert_eq!(
            resolve_database(Path::new("scopegate.toml"), "sqlite://sg.db"),
            format!("sqlite://{}", cwd.join("sg.db").display())
        );
        for kept in [
            "sqlite:///var/lib/sg.db",
            "sqlite::memory:",
            "postgres://localhost/test",
        ] {
            assert_eq!(resolve_database(Path::new("/srv/api/p.toml"), kept), kept);
        }
    }
}
