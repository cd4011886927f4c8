//! The admin API's own policy: its scopes and routes, decided by the same
//! engine as every API scopegate guards. `admin:write` implies `admin:read`.
//! A dry run (`POST /admin/api/decide`, `POST /admin/api/scopes-for`)
//! changes nothing, so it is a read.

use crate::policy::{Policy, PolicyErrors};

/// Where the admin policy comes from, as its errors and `explain` name it.
pub const ADMIN_POLICY_FILE: &str = "(built-in admin API policy)";

const ADMIN_POLICY: &str = r#"
[[scope]]
name   = "admin"
levels = ["read", "write"]
level_descriptions.read  = "Read apps, key sets, users, grants, tokens and the audit trail"
level_descriptions.write = "Change them: create, rotate, revoke, grant and refuse"

[[scope]]
name        = "admin:sign-in"
description = "Read, accept and reject login challenges (a provider's login app; nothing else)"

[[route]]
match  = "GET /admin/api/sign-in/*"
any_of = ["admin:sign-in", "admin:write"]

[[route]]
match  = "PUT /admin/api/sign-in/*/accept"
any_of = ["admin:sign-in", "admin:write"]

[[route]]
match  = "PUT /admin/api/sign-in/*/reject"
any_of = ["admin:sign-in", "admin:write"]

[[route]]
match  = "GET /admin/api/*"
any_of = ["admin:read"]

[[route]]
match  = "POST /admin/api/decide"
any_of = ["admin:read"]

[[route]]
match  = "POST /admin/api/scopes-for"
any_of = ["admin:read"]

[[route]]
match  = "* /admin/api/*"
any_of = ["admin:write"]
"#;

/// The compiled admin policy.
pub fn admin_policy() -> Result<Policy, PolicyErrors> {
    Policy::compile(ADMIN_POLICY_FILE, ADMIN_POLICY)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::admin_policy;
    use crate::Caller;

    #[test]
    fn admin_read_reads_and_admin_write_changes() {
        let policy = admin_policy().unwrap();
        let holds = |list: &str| policy.catalog.close(&policy.catalog.parse_list(list).unwrap());
        let (read, write) = (holds("admin:read"), holds("admin:write"));
        let allowed = |held, method, path| policy.decide(method, path, Caller::Client(held)).is_allow();
        assert!(allowed(&read, "GET", "/admin/api/apps"));
        assert!(allowed(&read, "POST", "/admin/api/decide"), "a dry run is a read");
        assert!(allowed(&read, "POST", "/admin/api/scopes-for"), "and so is a cover");
        assert!(!allowed(&read, "POST", "/admin/api/apps"));
        assert!(!allowed(&read, "DELETE", "/admin/api/apps/x"));
        assert!(allowed(&write, "GET", "/admin/api/apps"), "write implies read");
        assert!(allowed(&write, "DELETE", "/admin/api/apps/x"));
        assert!(!policy.decide("GET", "/admin/api/apps", Caller::Anonymous).is_allow());
    }

    #[test]
    fn admin_sign_in_reads_accepts_and_rejects_challenges_and_nothing_else() {
        let policy = admin_policy().unwrap();
        let holds = |list: &str| policy.catalog.close(&policy.catalog.parse_list(list).unwrap());
        let (sign_in, read, write) = (holds("admin:sign-in"), holds("admin:read"), holds("admin:write"));
        let allowed = |held, method, path| policy.decide(method, path, Caller::Client(held)).is_allow();
        for (method, path) in [
            ("GET", "/admin/api/sign-in/C"),
            ("PUT", "/admin/api/sign-in/C/accept"),
            ("PUT", "/admin/api/sign-in/C/reject"),
        ] {
            assert!(allowed(&sign_in, method, path), "{method} {path}");
            assert!(allowed(&write, method, path), "admin:write too: {method} {path}");
            assert!(!allowed(&read, method, path), "not admin:read: {method} {path}");
        }
        for (method, path) in [
            ("GET", "/admin/api/apps"),
            ("GET", "/admin/api/users"),
            ("POST", "/admin/api/apps"),
            ("PUT", "/admin/api/sign-in/C/other"),
            ("POST", "/admin/api/decide"),
        ] {
            assert!(
                !allowed(&sign_in, method, path),
                "admin:sign-in may not {method} {path}"
            );
        }
    }
}
