//! Embedded migrations, one list per backend, applied in order inside one
//! transaction (under a lock, so that nodes started together wait for the
//! one that migrates) and recorded in `scopegate_migrations`.

pub(crate) const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_authorize.sql")),
    (3, include_str!("../migrations/sqlite/0003_signing_keys.sql")),
    (4, include_str!("../migrations/sqlite/0004_tokens_clustered.sql")),
    (5, include_str!("../migrations/sqlite/0005_consents.sql")),
    (6, include_str!("../migrations/sqlite/0006_revocations.sql")),
    (7, include_str!("../migrations/sqlite/0007_grant_id.sql")),
    (8, include_str!("../migrations/sqlite/0008_admin_tokens.sql")),
    (9, include_str!("../migrations/sqlite/0009_client_secrets.sql")),
    (10, include_str!("../migrations/sqlite/0010_tokens_revoked_before.sql")),
    (11, include_str!("../migrations/sqlite/0011_scope_requests.sql")),
    (12, include_str!("../migrations/sqlite/0012_changes.sql")),
    (13, include_str!("../migrations/sqlite/0013_sessions.sql")),
    (14, include_str!("../migrations/sqlite/0014_sign_in.sql")),
    (15, include_str!("../migrations/sqlite/0015_resource.sql")),
    (16, include_str!("../migrations/sqlite/0016_client_registration.sql")),
    (17, include_str!("../migrations/sqlite/0017_secret_last_used.sql")),
];

pub(crate) const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_authorize.sql")),
    (3, include_str!("../migrations/postgres/0003_signing_keys.sql")),
    (4, include_str!("../migrations/postgres/0004_consents.sql")),
    (5, include_str!("../migrations/postgres/0005_revocations.sql")),
    (6, include_str!("../migrations/postgres/0006_grant_id.sql")),
    (7, include_str!("../migrations/postgres/0007_admin_tokens.sql")),
    (8, include_str!("../migrations/postgres/0008_client_secrets.sql")),
    (9, include_str!("../migrations/postgres/0009_tokens_revoked_before.sql")),
    (10, include_str!("../migrations/postgres/0010_scope_requests.sql")),
    (11, include_str!("../migrations/postgres/0011_changes.sql")),
    (12, include_str!("../migrations/postgres/0012_sessions.sql")),
    (13, include_str!("../migrations/postgres/0013_sign_in.sql")),
    (14, include_str!("../migrations/postgres/0014_resource.sql")),
    (15, include_str!("../migrations/postgres/0015_client_registration.sql")),
    (16, include_str!("../migrations/postgres/0016_secret_last_used.sql")),
];

/// Splits a migration file into statements (no statement here contains ';').
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').map(str::trim).filter(|s| {
        !s.lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
    })
}

#[cfg(test)]
mod tests {
    use super::{POSTGRES, SQLITE, statements};

    /// The splitter cuts at every ';', comments included: a ';' in a comment
    /// would hand the database half a sentence as SQL.
    #[test]
    fn every_migration_statement_starts_with_sql() {
        for (version, sql) in SQLITE.iter().chain(POSTGRES) {
            for statement in statements(sql) {
                let first = statement
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with("--"))
                    .unwrap_or("");
                let keyword = first.split_whitespace().next().unwrap_or("");
                assert!(
                    ["CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"].contains(&keyword),
                    "migration {version}: {first:?}"
                );
            }
        }
    }
}
