//! `check`, `explain` and `scopes-for` (docs/commands.md).

use std::io::Write;

use crate::{scopegate, stderr, stdout};

const ANALYTICS: &str = "examples/app-analytics/scopegate.toml";
const MARKETPLACE: &str = "examples/marketplace/scopegate.toml";
const STOREFRONT: &str = "examples/storefront/scopegate.toml";

fn temp_policy(text: &str) -> tempfile_lite::TempFile {
    let f = tempfile_lite::TempFile::new("policy.toml");
    std::fs::File::create(&f.path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    f
}

/// A file removed when dropped (the standard library has no temp-file helper).
mod tempfile_lite {
    pub(super) struct TempFile {
        pub path: std::path::PathBuf,
    }
    impl TempFile {
        pub(super) fn new(name: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "scopegate-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self { path: dir.join(name) }
        }
        pub(super) fn arg(&self) -> &str {
            self.path.to_str().unwrap()
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

#[test]
fn check_accepts_every_shipped_example() {
    for file in [ANALYTICS, MARKETPLACE, STOREFRONT] {
        let o = scopegate(&["check", "--config", file]);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        assert!(stdout(&o).starts_with(&format!("{file}: ok (")), "{}", stdout(&o));
    }
}

#[test]
fn check_warns_of_signing_keys_in_the_clear_only_where_tokens_are_signed() {
    let clear = "signing keys will be stored in the clear";
    let run = |file: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
            .args(["check", "--config", file])
            .env_remove("SCOPEGATE_KEY_ENCRYPTION_KEY")
            .current_dir(crate::workspace_root())
            .output()
            .unwrap();
        stderr(&o)
    };
    // Opaque access tokens: no key signs anything.
    assert!(!run(ANALYTICS).contains(clear), "{}", run(ANALYTICS));
    // JWT access tokens.
    assert!(run(STOREFRONT).contains(clear), "{}", run(STOREFRONT));
}

#[test]
fn check_prints_file_line_message_per_problem_and_exits_1() {
    let f = temp_policy(
        "[[scope]]\nname = \"orders\"\nimplies = [\"read_orders\"]\n\n[[route]]\nmatch = \"GET /x\"\nany_of = [\"nope\"]\n",
    );
    let o = scopegate(&["check", "--config", f.arg()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with(&format!("{}:3: ", f.arg())), "{err}");
    assert!(lines[1].starts_with(&format!("{}:7: ", f.arg())), "{err}");
}

#[test]
fn check_says_which_scopes_are_approval_gated_because_they_imply_a_gated_one() {
    let f = temp_policy(
        "[[scope]]\nname = \"reports\"\nrequires_approval = true\n\n[[scope]]\nname = \"reports_admin\"\nimplies = [\"reports\"]\n\n[[route]]\nmatch = \"GET /r\"\nany_of = [\"reports\"]\n",
    );
    let o = scopegate(&["check", "--config", f.arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "{}:6: note: scope \"reports_admin\" needs an administrator's approval because it implies \"reports\", which has requires_approval",
            f.arg()
        )),
        "{}",
        stderr(&o)
    );
    let o = scopegate(&["scopes-for", "--config", f.arg(), "GET /r"]);
    assert_eq!(stdout(&o).lines().next(), Some("reports"));
    assert!(
        stderr(&o).contains("note: reports needs an administrator's approval"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_of_a_missing_file_is_one_line_and_non_zero() {
    let o = scopegate(&["check", "--config", "does/not/exist.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot read policy file does/not/exist.toml"), "{err}");
}

#[test]
fn explain_allow_exits_0_and_shows_route_requirement_and_holdings() {
    let o = scopegate(&[
        "explain",
        "--config",
        ANALYTICS,
        "--scopes",
        "account:write",
        "GET",
        "/account/settings",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("route      GET /account/*  (examples/app-analytics/scopegate.toml:"),
        "{out}"
    );
    assert!(out.contains("requires   any of: account:read"), "{out}");
    assert!(
        out.contains("holds      account:read account:write  (granted: account:write)"),
        "{out}"
    );
    assert!(
        out.contains("decision   allow: holds account:read (implied by account:write)"),
        "{out}"
    );
}

#[test]
fn explain_deny_exits_1_and_says_why() {
    let o = scopegate(&[
        "explain",
        "-c",
        ANALYTICS,
        "--scopes",
        "public:read",
        "PUT",
        "/products/42",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("deny (insufficient_scope, 403): holds none of products:write"),
        "{}",
        stdout(&o)
    );

    let o = scopegate(&["explain", "-c", ANALYTICS, "--anonymous", "GET", "/data/x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("deny (unauthenticated, 401)"), "{}", stdout(&o));

    let o = scopegate(&["explain", "-c", ANALYTICS, "--scopes", "", "GET", "/nowhere"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("deny (route_not_found, 404)"), "{}", stdout(&o));

    let o = scopegate(&[
        "explain",
        "-c",
        ANALYTICS,
        "--scopes",
        "",
        "GET",
        "/data/%2e%2e/account",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("deny (bad_path, 400): the path is ambiguous: percent-encoded '.'"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn explain_accepts_comma_separated_scopes_and_narrowing() {
    let o = scopegate(&[
        "explain",
        "-c",
        ANALYTICS,
        "--scopes",
        "products:write, account:write",
        "--narrow",
        "products:write",
        "POST",
        "/events/1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = scopegate(&[
        "explain",
        "-c",
        ANALYTICS,
        "--scopes",
        "products:read",
        "--narrow",
        "products:write",
        "GET",
        "/products/mine",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("X-OAuth-Scope names products:write which the caller does not hold"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn explain_shows_the_canonical_path_when_it_differs() {
    let o = scopegate(&[
        "explain",
        "-c",
        ANALYTICS,
        "--scopes",
        "products:read",
        "GET",
        "/%70roducts/mine?x=1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("canonical  /products/mine"), "{}", stdout(&o));
}

#[test]
fn explain_refuses_an_undeclared_scope_in_one_line() {
    let o = scopegate(&["explain", "-c", ANALYTICS, "--scopes", "account", "GET", "/"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("undeclared scope `account`") && err.contains("account:read"),
        "{err}"
    );
}

#[test]
fn scopes_for_prints_the_list_and_the_url_encoded_form() {
    let o = scopegate(&[
        "scopes-for",
        "-c",
        ANALYTICS,
        "PUT /products/1",
        "GET /reports/sales",
        "GET /account/x",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "account:read private:read products:write\nscope=account%3Aread%20private%3Aread%20products%3Awrite\n"
    );
}

#[test]
fn scopes_for_url_scopes_matches_the_marketplace_seed_encoding() {
    let o = scopegate(&[
        "scopes-for",
        "-c",
        MARKETPLACE,
        "--grant",
        "authorization_code",
        "--env",
        "production",
        "POST /sell/inventory/v1/offer",
        "GET /sell/account/v1/policy",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "https://api.example.com/oauth/api_scope/sell.inventory https://api.example.com/oauth/api_scope/sell.account.readonly"
    );
    assert_eq!(
        lines[1],
        "scope=https%3A%2F%2Fapi.example.com%2Foauth%2Fapi_scope%2Fsell.inventory%20https%3A%2F%2Fapi.example.com%2Foauth%2Fapi_scope%2Fsell.account.readonly"
    );
}

#[test]
fn scopes_for_names_the_unsatisfiable_endpoint() {
    let o = scopegate(&[
        "scopes-for",
        "-c",
        MARKETPLACE,
        "--grant",
        "client_credentials",
        "GET /buy/browse/v1/x",
        "GET /sell/inventory/v1/x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("\"GET /sell/inventory/v1/x\"") && err.contains("app tokens (client_credentials)"),
        "{err}"
    );
}

#[test]
fn scopes_for_refuses_unknown_grant_and_environment() {
    let o = scopegate(&["scopes-for", "-c", MARKETPLACE, "--grant", "password", "GET /"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--grant: unknown grant \"password\""),
        "{}",
        stderr(&o)
    );
    let o = scopegate(&["scopes-for", "-c", MARKETPLACE, "--env", "staging", "GET /"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--env: environment \"staging\" is not declared"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn commands_on_an_invalid_policy_print_its_errors_and_fail() {
    let f = temp_policy("[[route]]\nmatch = \"GET x\"\nrequire = \"client\"\n");
    let o = scopegate(&["scopes-for", "-c", f.arg(), "GET /"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(":2: route \"GET x\": bad `match`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn output_to_a_reader_that_stopped_reading_ends_quietly() {
    // The reader closes its end at once: the command's first write meets a
    // closed pipe. It must not report a panic.
    let bin = env!("CARGO_BIN_EXE_scopegate");
    for _ in 0..3 {
        let o = std::process::Command::new("bash")
            .args([
                "-c",
                &format!("\"{bin}\" scopes-for --config examples/marketplace/scopegate.toml --grant authorization_code 'GET /sell/account/v1/policy' | (exec 0<&-; sleep 0.2)"),
            ])
            .current_dir(crate::workspace_root())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn admin_tokens_are_shown_once_stored_hashed_audited_and_revoked_by_id() {
    let f = temp_policy(&std::fs::read_to_string(crate::workspace_root().join(ANALYTICS)).unwrap());
    let o = scopegate(&[
        "admin-token",
        "create",
        "--config",
        f.arg(),
        "--scopes",
        "admin:read admin:write",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let created: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let (id, token) = (created["id"].as_str().unwrap(), created["token"].as_str().unwrap());
    assert!(id.starts_with("sgai_") && token.starts_with("sgadm_"), "{created}");
    assert_eq!(created["scopes"], "admin:write", "write implies read: normalized");

    // Only the hash is kept: the token is nowhere in the database's files.
    let dir = f.path.parent().unwrap();
    for file in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    let listed = stdout(&scopegate(&["admin-token", "list", "--config", f.arg()]));
    assert!(
        listed.contains(id) && listed.contains("active") && !listed.contains(token),
        "{listed}"
    );

    for (scopes, fragment) in [("account:read", "undeclared scope"), ("", "name at least one")] {
        let o = scopegate(&["admin-token", "create", "--config", f.arg(), "--scopes", scopes]);
        assert_eq!(o.status.code(), Some(2), "{scopes}");
        assert!(stderr(&o).contains(fragment), "{}", stderr(&o));
    }

    assert!(
        scopegate(&["admin-token", "revoke", "--config", f.arg(), id])
            .status
            .success()
    );
    let again = scopegate(&["admin-token", "revoke", "--config", f.arg(), id]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("no active admin token"), "{}", stderr(&again));
    let listed = stdout(&scopegate(&["admin-token", "list", "--config", f.arg()]));
    assert!(listed.contains("revoked"), "{listed}");
    let audit = stdout(&scopegate(&["audit", "--config", f.arg()]));
    assert!(
        audit.contains("admin_token_create") && audit.contains("admin_token_revoke"),
        "{audit}"
    );
    assert!(!audit.contains(token), "{audit}");
}

/// `import-openapi` on a YAML document: the fragment passes `check` as it
/// is, and `explain` on each operation gives the requirement the document
/// states; what it leaves out is said on stderr.
#[test]
fn import_openapi_writes_a_policy_that_checks_and_explains_as_the_document_says() {
    let spec = crate::workspace_root().join("examples/openapi/pets.yaml");
    let o = crate::scopegate(&["import-openapi", spec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let fragment = crate::stdout(&o);
    let warnings = crate::stderr(&o);
    assert!(
        warnings.contains("#/paths/~1pet~1{petId}/delete") && warnings.contains("api_key"),
        "{warnings}"
    );
    assert!(
        warnings.contains("#/paths/~1user~1login/get") && warnings.contains("anonymous"),
        "{warnings}"
    );
    let dir = std::env::temp_dir().join(format!("scopegate-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("pets.toml");
    std::fs::write(&policy, &fragment).unwrap();
    let config = policy.to_str().unwrap();
    let o = crate::scopegate(&["check", "--config", config]);
    assert!(o.status.success(), "{}\n{fragment}", crate::stderr(&o));
    let explain = |scopes: &str, method: &str, path: &str| {
        let mut args = vec!["explain", "--config", config];
        if scopes == "-" {
            args.push("--anonymous");
        } else {
            args.extend(["--scopes", scopes]);
        }
        args.extend([method, path]);
        crate::scopegate(&args).status.code()
    };
    assert_eq!(explain("write:pets read:pets", "PUT", "/api/v3/pet"), Some(0));
    assert_eq!(
        explain("write:pets", "PUT", "/api/v3/pet"),
        Some(1),
        "an AND stays an AND"
    );
    assert_eq!(explain("admin", "POST", "/api/v3/pet"), Some(0));
    assert_eq!(explain("read:pets", "POST", "/api/v3/pet"), Some(1));
    assert_eq!(
        explain("read:pets", "GET", "/api/v3/pet/7"),
        Some(0),
        "the document's security"
    );
    assert_eq!(explain("write:pets", "DELETE", "/api/v3/pet/7"), Some(0));
    assert_eq!(
        explain("", "DELETE", "/api/v3/pet/7"),
        Some(1),
        "the api_key alternative is not honoured"
    );
    assert_eq!(explain("-", "GET", "/api/v3/store/inventory"), Some(0));
    assert_eq!(explain("-", "GET", "/api/v3/user/login"), Some(0));
    assert_eq!(explain("", "GET", "/api/v3/user/me"), Some(0));
    assert_eq!(explain("-", "GET", "/api/v3/user/me"), Some(1));
    let _ = std::fs::remove_dir_all(&dir);

    // A problem names the document and the JSON pointer, and nothing is printed.
    let bad = dir.with_extension("json");
    std::fs::write(
        &bad,
        r#"{"openapi": "3.1.0", "components": {"securitySchemes": {"o": {"type": "oauth2", "flows": {}}}},
            "paths": {"/x": {"get": {"security": [{"o": ["nope"]}]}}}}"#,
    )
    .unwrap();
    let o = crate::scopegate(&["import-openapi", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(crate::stdout(&o).is_empty());
    assert!(
        crate::stderr(&o).contains(&format!(
            "{}#/paths/~1x/get/security/0/o/0: scope \"nope\" is not declared",
            bad.display()
        )),
        "{}",
        crate::stderr(&o)
    );
    let _ = std::fs::remove_file(&bad);
}

/// A key written twice would drop an operation without a word: refused, in
/// JSON and YAML alike, with the line; YAML merge keys are applied, and a
/// document that cannot be parsed is refused like any other problem (exit 1).
#[test]
fn import_openapi_refuses_a_key_written_twice_and_applies_yaml_merge_keys() {
    let dir = std::env::temp_dir().join(format!("scopegate-import-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let import = |name: &str, text: &str| {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let o = crate::scopegate(&["import-openapi", file.to_str().unwrap()]);
        (
            o.status.code(),
            crate::stdout(&o),
            crate::stderr(&o),
            file.display().to_string(),
        )
    };
    let (code, out, err, file) = import(
        "twice.json",
        r#"{"openapi": "3.0.3", "paths": {"/x": {"get": {}}, "/x": {"put": {}}}}"#,
    );
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert_eq!(
        err,
        format!("{file}: not valid JSON: the key \"/x\" is written twice in one object at line 1 column 54\n")
    );
    let (code, _, err, file) = import(
        "twice.yaml",
        "openapi: 3.0.3\npaths:\n  /x:\n    get: {}\n  /x:\n    put: {}\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(&format!(
            "{file}: not valid YAML: paths: duplicate entry with key \"/x\" at line 3"
        )),
        "{err}"
    );
    let (code, _, err, _) = import("broken.yaml", "openapi: 3.0.3\npaths: [\n");
    assert_eq!(code, Some(1), "{err}");
    let (code, out, err, _) = import(
        "merged.yaml",
        "openapi: 3.0.3\n\
         components:\n  securitySchemes:\n    o: {type: oauth2, flows: {clientCredentials: {tokenUrl: \"https://x/t\", scopes: {read: r, write: w}}}}\n\
         x-crud: &crud\n  get: {security: [{o: [read]}]}\n  put: {security: [{o: [write]}]}\n\
         paths:\n  /a:\n    <<: *crud\n  /b:\n    <<: *crud\n    put: {security: [{o: [read, write]}]}\n",
    );
    assert_eq!(code, Some(0), "{err}");
    for route in [
        "match = \"GET /a\"\nany_of = [\"read\"]",
        "match = \"PUT /a\"\nany_of = [\"write\"]",
        "match = \"GET /b\"\nany_of = [\"read\"]",
        // The path's own `put` stands over the merged one.
        "match = \"PUT /b\"\nall_of = [\"read\", \"write\"]",
    ] {
        assert!(out.contains(route), "{route}\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `diff`: exit 2 when access widened (with who gets in), 0 when nothing
/// did, 1 on bad input naming the file; OpenAPI documents compare directly.
#[test]
fn diff_gates_a_widening_and_reads_policies_or_openapi_documents() {
    let dir = std::env::temp_dir().join(format!("scopegate-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example =
        std::fs::read_to_string(crate::workspace_root().join("examples/app-analytics/scopegate.toml")).unwrap();
    let old = dir.join("old.toml");
    let new = dir.join("new.toml");
    std::fs::write(&old, &example).unwrap();
    std::fs::write(
        &new,
        example.replacen(
            "match  = \"GET /account/*\"\nany_of = [\"account:read\"]",
            "match  = \"GET /account/*\"\nrequire = \"client\"",
            1,
        ),
    )
    .unwrap();
    let run = |a: &std::path::Path, b: &std::path::Path, json: bool| {
        let mut args = vec!["diff", a.to_str().unwrap(), b.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        crate::scopegate(&args)
    };
    let o = run(&old, &new, false);
    assert_eq!(o.status.code(), Some(2), "{}{}", crate::stdout(&o), crate::stderr(&o));
    assert!(
        crate::stdout(&o).contains("widened          route GET /account/*: any_of [account:read] -> any client"),
        "{}",
        crate::stdout(&o)
    );
    let o = run(&new, &old, true);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["widened"], false);
    assert_eq!(v["changes"][0]["narrows"], true);
    let o = run(&old, &old, false);
    assert_eq!(
        (o.status.code(), crate::stdout(&o).trim()),
        (Some(0), "no change in access")
    );
    let missing = dir.join("missing.toml");
    let o = run(&old, &missing, false);
    assert_eq!(o.status.code(), Some(1));
    assert!(crate::stderr(&o).contains("missing.toml"), "{}", crate::stderr(&o));

    // Two versions of an API description: an AND that became an OR.
    let spec = std::fs::read_to_string(crate::workspace_root().join("examples/openapi/pets.yaml")).unwrap();
    let (v1, v2) = (dir.join("v1.yaml"), dir.join("v2.yaml"));
    std::fs::write(&v1, &spec).unwrap();
    std::fs::write(
        &v2,
        spec.replacen(
            "        - petstore_auth: [write:pets, read:pets]",
            "        - petstore_auth: [write:pets]\n        - petstore_auth: [read:pets]",
            1,
        ),
    )
    .unwrap();
    let o = run(&v1, &v2, false);
    assert_eq!(o.status.code(), Some(2), "{}{}", crate::stdout(&o), crate::stderr(&o));
    assert!(crate::stdout(&o).contains("PUT /api/v3/pet"), "{}", crate::stdout(&o));

    // A second oauth2 scheme: diff takes import-openapi's --scheme (and --base-path).
    let two = |text: &str| {
        text.replacen(
            "    api_key:\n",
            "    partner_auth:\n      type: oauth2\n      flows:\n        clientCredentials:\n          \
             tokenUrl: https://pets.example/oauth/token\n          scopes: {}\n    api_key:\n",
            1,
        )
    };
    std::fs::write(&v1, two(&spec)).unwrap();
    std::fs::write(&v2, two(&std::fs::read_to_string(&v2).unwrap())).unwrap();
    let o = run(&v1, &v2, false);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        crate::stderr(&o).contains("choose one with --scheme"),
        "{}",
        crate::stderr(&o)
    );
    let (a, b) = (v1.to_str().unwrap(), v2.to_str().unwrap());
    let o = crate::scopegate(&["diff", a, b, "--scheme", "petstore_auth", "--base-path", "/edge"]);
    assert_eq!(o.status.code(), Some(2), "{}", crate::stderr(&o));
    assert!(
        crate::stdout(&o).contains("PUT /api/v3/edge/pet"),
        "{}",
        crate::stdout(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `diff --database`: a scope removed is counted per app that holds it today.
#[test]
fn diff_counts_the_apps_holding_a_removed_scope() {
    let dir = std::env::temp_dir().join(format!("scopegate-diff-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/s.db", dir.display());
    let scopes = "[[scope]]\nname = \"reports\"\n\n[[scope]]\nname = \"legacy\"\n";
    let route = "[[route]]\nmatch = \"GET /r\"\nany_of = [\"reports\"]\n";
    let old = dir.join("old.toml");
    let new = dir.join("new.toml");
    std::fs::write(&old, format!("database = \"{db}\"\n{scopes}{route}")).unwrap();
    std::fs::write(
        &new,
        format!("database = \"{db}\"\n[[scope]]\nname = \"reports\"\n{route}"),
    )
    .unwrap();
    for name in ["One", "Two"] {
        let o = crate::scopegate(&[
            "app",
            "create",
            "--config",
            old.to_str().unwrap(),
            "--name",
            name,
            "--env",
            "production",
            "--scopes",
            "legacy reports",
        ]);
        assert!(o.status.success(), "{}", crate::stderr(&o));
    }
    let o = crate::scopegate(&["diff", old.to_str().unwrap(), new.to_str().unwrap(), "--database", &db]);
    let out = crate::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", crate::stderr(&o));
    assert!(
        out.contains("narrowed         scope legacy: declared -> removed"),
        "{out}"
    );
    assert!(out.contains("held today by 2 key sets of 2 apps: "), "{out}");
    let o = crate::scopegate(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--database",
        &db,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["changes"][0]["held_by"].as_array().unwrap().len(), 2, "{v}");
    let o = crate::scopegate(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--database",
        "mysql://x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A route that narrows names the apps it lets in today and refuses after,
/// as a removed scope names the apps that hold it.
#[test]
fn diff_names_the_apps_a_narrowed_route_starts_refusing() {
    let dir = std::env::temp_dir().join(format!("scopegate-diff-narrow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/s.db", dir.display());
    let scopes = "[[scope]]\nname = \"reports\"\n\n[[scope]]\nname = \"exports\"\n";
    let (old, new) = (dir.join("old.toml"), dir.join("new.toml"));
    std::fs::write(
        &old,
        format!("database = \"{db}\"\n{scopes}[[route]]\nmatch = \"GET /r\"\nany_of = [\"reports\"]\n"),
    )
    .unwrap();
    std::fs::write(
        &new,
        format!("database = \"{db}\"\n{scopes}[[route]]\nmatch = \"GET /r\"\nall_of = [\"reports\", \"exports\"]\n"),
    )
    .unwrap();
    let mut app_ids = Vec::new();
    for (name, held) in [("Narrow", "reports"), ("Wide", "reports exports")] {
        let o = crate::scopegate(&[
            "app",
            "create",
            "--config",
            old.to_str().unwrap(),
            "--json",
            "--name",
            name,
            "--env",
            "production",
            "--scopes",
            held,
        ]);
        assert!(o.status.success(), "{}", crate::stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        app_ids.push(v["app_id"].as_str().unwrap().to_owned());
    }
    let o = crate::scopegate(&["diff", old.to_str().unwrap(), new.to_str().unwrap(), "--database", &db]);
    let out = crate::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", crate::stderr(&o));
    assert!(out.contains("narrowed         route GET /r"), "{out}");
    assert!(
        out.contains(&format!("starts refusing 1 key set of 1 app: {}", app_ids[0])),
        "only the app without `exports`: {out}"
    );
    let o = crate::scopegate(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--database",
        &db,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["changes"][0]["starts_refusing"][0]["app_id"],
        app_ids[0].as_str(),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn store_stats_counts_rows_per_table_and_store_purge_says_what_it_removed() {
    let f = temp_policy("[[scope]]\nname = \"a\"\n\n[retention]\naudit = \"90d\"\n");
    let dir = f.path.parent().unwrap().to_owned();
    let policy = std::fs::read_to_string(&f.path).unwrap();
    let db = format!("database = \"sqlite://{}/s.db\"\n", dir.display());
    std::fs::write(&f.path, format!("{db}{policy}")).unwrap();
    let o = scopegate(&[
        "app",
        "create",
        "--config",
        f.arg(),
        "--name",
        "R",
        "--env",
        "production",
        "--scopes",
        "a",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = scopegate(&["store", "stats", "--config", f.arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let apps: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("apps "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(apps, ["apps", "1"], "{out}");
    assert!(out.lines().any(|l| l.starts_with("tokens ")), "{out}");
    assert!(out.contains("audit events are kept 90 days"), "{out}");
    let o = scopegate(&["store", "purge", "--config", f.arg()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "removed 0 sessions, 0 codes, 0 tokens, 0 revocations and 0 audit events"
    );
    let bad = temp_policy("[retention]\naudit = \"soon\"\n");
    let o = scopegate(&["check", "--config", bad.arg()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(":2: `retention.audit`: \"soon\" is not a duration"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_openapi_and_diff_refuse_deeply_nested_yaml_before_parsing_it() {
    // 200 KB of nested flow sequences kept the YAML parser busy for a minute.
    let f = temp_policy("");
    let doc = f.path.with_file_name("nested.yaml");
    std::fs::write(
        &doc,
        format!("openapi: 3.0.0\nx: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    )
    .unwrap();
    let o = scopegate(&["import-openapi", doc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not read: brackets nested deeper than 64 levels at line 2 column 68"),
        "{}",
        stderr(&o)
    );
    let o = scopegate(&["diff", doc.to_str().unwrap(), doc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("nested deeper than 64 levels"), "{}", stderr(&o));
}
