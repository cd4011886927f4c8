//! What operators run scopegate with (docs/deploy.md): JSON log lines, the
//! PostgreSQL password kept out of the policy file, `/readyz`.

use std::process::Stdio;

use crate::server::http;

fn policy_in(dir: &std::path::Path, edit: impl FnOnce(String) -> String) -> std::path::PathBuf {
    let source =
        std::fs::read_to_string(crate::workspace_root().join("examples/app-analytics/scopegate.toml")).unwrap();
    let db = format!("sqlite://{}/scopegate.db", dir.display());
    let config = dir.join("scopegate.toml");
    std::fs::write(&config, edit(source.replace("sqlite://scopegate.db", &db))).unwrap();
    config
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scopegate-ops-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line_with_values_not_debug_forms() {
    let dir = temp_dir("json");
    let config = policy_in(&dir, |p| p);
    let (child, base) = crate::server::serve_with(&config, &["--log-format", "json"], "info", Stdio::piped());
    let (client_id, client_secret) = crate::server::create_app(&config, "Logged", "account:read");
    let client_id = client_id.as_str();
    let r = http()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(client_id, Some(&client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http().get(format!("{base}/account/x")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    crate::terminate(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON object ({e}): {l}")))
        .collect();
    for l in &lines {
        for key in ["time", "level", "target"] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
    }
    let issued = lines
        .iter()
        .find(|l| l["message"] == "audit" && l["event"] == "issue")
        .unwrap_or_else(|| panic!("no issuance audit line in {text}"));
    assert_eq!(issued["client_id"], client_id, "the value itself, not Some(\"…\")");
    assert!(issued.get("subject").is_none());
    assert!(
        lines.iter().any(|l| l["level"] == "INFO" && l["message"] == "stopped"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `database_password_file` (or `SCOPEGATE_DATABASE_PASSWORD`) puts the
/// password into the connection, and no line scopegate prints shows it.
#[test]
fn the_database_password_comes_from_a_file_and_is_never_printed() {
    let dir = temp_dir("password");
    std::fs::write(dir.join("pg-password"), "s3cret-Pa55\n").unwrap();
    let url =
        std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let config = policy_in(&dir, |p| {
        p.replace(&format!("sqlite://{}/scopegate.db", dir.display()), &url)
            .replacen("[tokens]", "database_password_file = \"pg-password\"\n\n[tokens]", 1)
    });
    let o = crate::scopegate(&["check", "--config", config.to_str().unwrap()]);
    let printed = format!("{}{}", crate::stdout(&o), crate::stderr(&o));
    assert!(o.status.success(), "{printed}");
    assert!(
        printed.contains("postgres:***@") || printed.contains(":***@"),
        "{printed}"
    );
    assert!(!printed.contains("s3cret"), "{printed}");

    // A password in two places is refused, naming neither.
    let twice = policy_in(&dir, |p| {
        p.replace(
            &format!("sqlite://{}/scopegate.db", dir.display()),
            "postgres://sg:other@127.0.0.1/sg",
        )
        .replacen("[tokens]", "database_password_file = \"pg-password\"\n\n[tokens]", 1)
    });
    let o = crate::scopegate(&["check", "--config", twice.to_str().unwrap()]);
    let printed = format!("{}{}", crate::stdout(&o), crate::stderr(&o));
    assert!(!o.status.success());
    assert!(printed.contains("has a password already"), "{printed}");
    assert!(!printed.contains("other") && !printed.contains("s3cret"), "{printed}");

    // Only PostgreSQL takes one.
    let sqlite = policy_in(&dir, |p| {
        p.replacen("[tokens]", "database_password_file = \"pg-password\"\n\n[tokens]", 1)
    });
    let o = crate::scopegate(&["check", "--config", sqlite.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        crate::stderr(&o).contains("only a postgres:// `database` takes a password"),
        "{}",
        crate::stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_ready_when_the_database_answers_and_healthz_stays_liveness() {
    let s = crate::server::Server::start("app-analytics");
    let r = http().get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["database"], "ok");
    assert!(body["policy"].as_str().unwrap().ends_with("scopegate.toml"));
    let known = scopegate_store::Backend::Sqlite.schema_version();
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        body["schema"],
        serde_json::json!({"database": known, "this_build": known})
    );
    assert_eq!(http().get(s.url("/healthz")).send().await.unwrap().status(), 200);
}

#[test]
fn version_names_the_build_and_the_schema_of_each_backend() {
    let o = crate::scopegate(&["--version"]);
    assert!(o.status.success());
    let printed = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        printed.trim(),
        format!(
            "scopegate {} (database schema: SQLite {}, PostgreSQL {})",
            env!("CARGO_PKG_VERSION"),
            scopegate_store::Backend::Sqlite.schema_version(),
            scopegate_store::Backend::Postgres.schema_version()
        )
    );
}

/// On SQLite the other process is a command on the same file: a secret it
/// replaces stops working on the running server within a second (the change
/// feed, read every 250 ms), not after the client cache's 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_on_the_sqlite_file_reaches_the_running_server_within_a_second() {
    let s = crate::server::Server::start("app-analytics");
    let (id, secret) = s.app(&["--name", "Rotated", "--env", "production", "--scopes", "account:read"]);
    let call = |secret: String| {
        let (url, id) = (s.url("/account/x"), id.clone());
        async move {
            http()
                .get(url)
                .basic_auth(id, Some(secret))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(secret.clone()).await, 200, "cached now");
    let o = crate::scopegate(&["app", "rotate-secret", "--config", s.config.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let rotated = std::time::Instant::now();
    while call(secret.clone()).await != 401 {
        assert!(
            rotated.elapsed() < std::time::Duration::from_secs(1),
            "the old secret still works after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[test]
fn under_log_format_json_the_listening_line_is_a_json_object_too() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("json-listening");
    let config = policy_in(&dir, |p| p);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let object: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(object["level"], "INFO");
    assert!(
        object["address"].as_str().unwrap().starts_with("http://127.0.0.1:"),
        "{object}"
    );
    assert_eq!(object["issuer"], "http://127.0.0.1:8080");
    assert!(object["time"].as_str().unwrap().ends_with('Z'));
}

/// The trail says when each node started, with its version and the schema
/// it found, as it says when one stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_start_is_an_audit_event_with_its_version_and_schema() {
    let s = crate::server::Server::start("app-analytics");
    let config = s.config.to_str().unwrap().to_owned();
    let mut started = None;
    for _ in 0..50 {
        let o = crate::scopegate(&["audit", "--config", &config, "--json"]);
        let trail: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        started = trail
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == "server_started")
            .cloned();
        if started.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let started = started.expect("no server_started event");
    let detail = started["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "version {}, database schema {}, listening on ",
            env!("CARGO_PKG_VERSION"),
            scopegate_store::Backend::Sqlite.schema_version()
        )),
        "{detail}"
    );
}

/// A backup made while the server runs restores and serves; restored, it
/// would let a token revoked after the backup work again, and `store
/// restored` refuses it (and everything issued before), while the app's
/// secret keeps working for the grace period to move to a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_serves_and_store_restored_refuses_what_the_restore_revived() {
    let mut s = crate::server::Server::start("app-analytics");
    let config = s.config.to_str().unwrap().to_owned();
    let dir = s.config.parent().unwrap().to_path_buf();
    let (id, secret) = s.app(&["--name", "Kept", "--env", "production", "--scopes", "account:read"]);
    let token_of = |base: String, id: String, secret: String| async move {
        let r = http()
            .post(format!("{base}/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let call = |base: String, token: String| async move {
        http()
            .get(format!("{base}/account/x"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    // A command's change reaches the running server through the change feed
    // (read every 250 ms on SQLite): the status `call` settles on.
    let settled = |base: String, token: String, want: u16| async move {
        let mut status = 0;
        for _ in 0..40 {
            status = call(base.clone(), token.clone()).await;
            if status == want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        status
    };
    let token = token_of(s.url(""), id.clone(), secret.clone()).await;
    assert_eq!(call(s.url(""), token.clone()).await, 200);

    let backup = dir.join("backup.db");
    let o = crate::scopegate(&["store", "backup", "--config", &config, "--to", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    let again = crate::scopegate(&["store", "backup", "--config", &config, "--to", backup.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        crate::stderr(&again).contains("backup.db: File exists"),
        "{}",
        crate::stderr(&again)
    );

    // After the backup, the token is revoked.
    let o = crate::scopegate(&["token", "revoke", "--config", &config, &token]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    assert_eq!(settled(s.url(""), token.clone(), 401).await, 401);

    // The restore: stopped, the copy put in place, started.
    s.stop();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("scopegate.db{suffix}")));
    }
    std::fs::copy(&backup, dir.join("scopegate.db")).unwrap();
    s.restart();
    assert_eq!(
        call(s.url(""), token.clone()).await,
        200,
        "the backup knows nothing of the revocation"
    );

    let o = crate::scopegate(&["store", "restored", "--config", &config, "--secrets-grace", "1h"]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(printed.contains("1 client secrets stop working at "), "{printed}");
    assert_eq!(
        settled(s.url(""), token.clone(), 401).await,
        401,
        "a token issued before the restore is refused"
    );
    // The cutoff is in whole seconds: a token of the same second is refused too.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let fresh = token_of(s.url(""), id, secret).await;
    assert_eq!(
        call(s.url(""), fresh).await,
        200,
        "the secret works through the grace period"
    );
    let trail = crate::scopegate(&["audit", "--config", &config, "--json"]);
    let trail = String::from_utf8_lossy(&trail.stdout);
    assert!(
        trail.contains("\"database_restored\"") && trail.contains("signing_key_rotate"),
        "{trail}"
    );
}
