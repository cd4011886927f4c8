//! Upgrades (docs/production.md): a database made by an earlier build is
//! migrated at start and what it issued keeps working.

use std::process::Stdio;

use crate::server::{http, new_dir, serve_with};

/// The fixture (tests/fixtures/sqlite-schema-14, made by an earlier commit
/// of this repository) served by this build: migrated to this build's
/// schema, its access token still allowed at the gateway and active at
/// introspection, its client secret still issuing tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_by_an_earlier_version_is_migrated_and_its_credentials_work() {
    let fixture = crate::workspace_root().join("crates/scopegate/tests/fixtures/sqlite-schema-14");
    let dir = new_dir();
    std::fs::copy(fixture.join("scopegate.db"), dir.join("scopegate.db")).unwrap();
    let policy = std::fs::read_to_string(fixture.join("scopegate.toml"))
        .unwrap()
        .replace(
            "sqlite://scopegate.db",
            &format!("sqlite://{}/scopegate.db", dir.display()),
        );
    let config = dir.join("scopegate.toml");
    std::fs::write(&config, policy).unwrap();
    let made: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("credentials.json")).unwrap()).unwrap();
    let text = |key: &str| made[key].as_str().unwrap().to_owned();
    let (id, secret, token) = (text("client_id"), text("client_secret"), text("access_token"));

    let (mut child, base) = serve_with(&config, &[], "warn", Stdio::null());
    let ready: serde_json::Value = http()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = scopegate_store::Backend::Sqlite.schema_version();
    assert!(now > 14, "the fixture is older than this build");
    assert_eq!(ready["schema"]["database"], now, "{ready}");

    let call = |token: String| {
        let url = format!("{base}/account/x");
        async move { http().get(url).bearer_auth(token).send().await.unwrap() }
    };
    let allowed = call(token.clone()).await;
    assert_eq!(allowed.status(), 200);
    let seen: serde_json::Value = allowed.json().await.unwrap();
    assert_eq!(seen["headers"]["x-scopegate-client-id"], id.as_str(), "{seen}");

    let introspected: serde_json::Value = http()
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["scope"], "account:read", "{introspected}");

    let issued = http()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        issued.status(),
        200,
        "the secret made before the upgrade still authenticates"
    );
    let fresh: serde_json::Value = issued.json().await.unwrap();
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call(fresh).await.status(), 200);

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
