//! What one developer may create (docs/portal.md, "Limits"), and the
//! administration overview in pages.

use axum::http::StatusCode;
use scopegate_service::operations::apps::MAX_APPS_PER_OWNER;
use scopegate_service::operations::scope_requests::MAX_PENDING_REQUESTS_PER_USER;
use scopegate_store::{KeySetRecord, ScopeRequestRecord, Store};

use crate::sessions::{send, sign_in_with, user};
use crate::{Harness, T0};

fn key_set(i: usize, owner: &str) -> KeySetRecord {
    KeySetRecord {
        client_id: format!("sgci_{owner}{i:03}"),
        app_id: format!("app_{owner}{i:03}"),
        app_name: format!("App {i:03}"),
        owner: Some(owner.into()),
        environment: "sandbox".into(),
        secrets: vec![],
        public: true,
        resource_server: false,
        scopes: vec!["account:read".into()],
        default_scopes: vec![],
        redirect_uris: vec![],
        created_at: T0,
        tokens_revoked_before: None,
        registration: Default::default(),
    }
}

async fn seed_apps(h: &Harness, owner: &str, n: usize) {
    for i in 0..n {
        let k = key_set(i, owner);
        h.store
            .create_app(&k.app_id, &k.app_name, Some(owner), &k)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_developer_registers_at_most_the_quota_of_apps_in_the_portal() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    seed_apps(&h, "dev", usize::try_from(MAX_APPS_PER_OWNER).unwrap()).await;
    let cookies = sign_in_with(&h, "dev", "sgcf_b", "").await;
    let r = send(
        &h,
        "POST",
        "/portal/apps/new",
        &[("cookie", &cookies)],
        Some("csrf=sgcf_b&name=One+more&environment=sandbox&scopes=account%3Aread"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("already has 50 apps"), "{}", r.body);
    assert_eq!(h.store.count_owned_apps("dev").await.unwrap(), MAX_APPS_PER_OWNER);
}

#[tokio::test]
async fn a_developer_has_at_most_the_quota_of_scope_requests_waiting() {
    let policy = format!(
        "{}\n[[scope]]\nname = \"reports\"\nrequires_approval = true\n",
        crate::POLICY
    );
    let h = Harness::with_policy(&policy).await;
    user(&h, "dev", &[]).await;
    seed_apps(&h, "dev", 1).await;
    for i in 0..MAX_PENDING_REQUESTS_PER_USER {
        let request = ScopeRequestRecord {
            id: format!("sgsr_{i}"),
            client_id: "sgci_dev000".into(),
            scopes: vec!["reports".into()],
            requested_by: "dev".into(),
            reason: String::new(),
            created_at: T0,
            decided_at: None,
            decided_by: None,
            outcome: None,
        };
        assert!(h.store.create_scope_request(&request).await.unwrap());
    }
    let cookies = sign_in_with(&h, "dev", "sgcf_b", "").await;
    let r = send(
        &h,
        "POST",
        "/portal/apps/app_dev000/keys/sgci_dev000/requests",
        &[("cookie", &cookies)],
        Some("csrf=sgcf_b&scopes=reports&reason=more"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("already has 20 requests waiting"), "{}", r.body);
    assert_eq!(
        h.store.count_pending_requests_by("dev").await.unwrap(),
        MAX_PENDING_REQUESTS_PER_USER
    );
}

#[tokio::test]
async fn the_administration_overview_shows_apps_and_users_a_page_at_a_time() {
    let h = Harness::new().await;
    user(&h, "boss", &["admin"]).await;
    seed_apps(&h, "dev", 60).await;
    let boss = sign_in_with(&h, "boss", "sgcf_b", "").await;
    let first = send(&h, "GET", "/portal/admin/", &[("cookie", &boss)], None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(
        first.body.contains("App 049") && !first.body.contains("App 050"),
        "the first 50"
    );
    assert!(
        first
            .body
            .contains("href=\"/portal/admin/?apps_after=app_dev049#apps\""),
        "{}",
        first.body
    );
    let second = send(
        &h,
        "GET",
        "/portal/admin/?apps_after=app_dev049",
        &[("cookie", &boss)],
        None,
    )
    .await;
    assert!(second.body.contains("App 050") && second.body.contains("App 059") && !second.body.contains("App 049"));
    assert!(!second.body.contains("apps_after="), "no page after the last");
}
