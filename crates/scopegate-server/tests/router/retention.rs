//! What is kept and for how long (docs/deploy.md, "Retention"): records past
//! their use are purged in bounded batches, the audit trail is kept for
//! `[retention] audit`, and a flood of failures from one address writes a
//! few rows, not one each.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use scopegate_server::background::retention;
use scopegate_store::{AuditEvent, SessionRecord, Store};
use tower::ServiceExt;

use crate::{Harness, Seed, T0};

#[tokio::test]
async fn retention_purges_expired_records_and_audit_events_past_the_retention() {
    let h = Harness::with_policy(&format!("{}\n[retention]\naudit = \"30d\"\n", crate::POLICY)).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let seed = |expires_at| Seed {
        client: &c,
        subject: None,
        scope: "account:read",
        environment: "production",
        granted_at: T0 - 7200,
        expires_at,
    };
    let expired = h.seed_access(seed(Some(T0 - 3601))).await;
    let recent = h.seed_access(seed(Some(T0 - 60))).await;
    let forever = h.seed_access(seed(None)).await;
    for (hash, expires_at) in [(1u8, T0 - 4000), (2, T0 + 100)] {
        h.store
            .create_session(&SessionRecord {
                hash: vec![hash; 32],
                login: "dev".into(),
                created_at: T0 - 50_000,
                expires_at,
                csrf_hash: Some(vec![0; 32]),
            })
            .await
            .unwrap();
    }
    let old = |at: i64, event: &str| AuditEvent {
        at,
        event: event.into(),
        client_id: None,
        subject: None,
        detail: String::new(),
    };
    h.store
        .commit_batch(&[], &[old(T0 - 31 * 86_400, "ancient"), old(T0 - 29 * 86_400, "kept")])
        .await
        .unwrap();
    let pass = retention::run_once(&h.store, h.state.policy.settings.audit_retention, T0)
        .await
        .unwrap();
    assert_eq!(
        (pass.expired.tokens, pass.expired.sessions, pass.audit),
        (1, 1, 1),
        "{pass:?}"
    );
    let hash = scopegate_service::credentials::secrets::hash;
    assert_eq!(h.store.token(&hash(&expired)).await.unwrap(), None);
    assert!(
        h.store.token(&hash(&recent)).await.unwrap().is_some(),
        "within the hour of grace"
    );
    assert!(h.store.token(&hash(&forever)).await.unwrap().is_some());
    assert!(h.store.session(&[2; 32]).await.unwrap().is_some());
    let events: Vec<String> = h
        .store
        .audit_log(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(
        events.contains(&"kept".to_owned()) && !events.contains(&"ancient".to_owned()),
        "{events:?}"
    );
    let again = retention::run_once(&h.store, h.state.policy.settings.audit_retention, T0)
        .await
        .unwrap();
    assert_eq!(again, retention::Pass::default(), "nothing left to remove");
}

#[tokio::test]
async fn a_flood_of_failed_client_authentications_from_one_address_writes_a_few_rows_not_one_each() {
    let h = Harness::new().await;
    for i in 0..200 {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("sgci_guess{i}:wrong"));
        let mut req = Request::post("/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from("grant_type=client_credentials"))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(std::net::SocketAddr::from(([203, 0, 113, 9], 40000))));
        let response = h.app.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rows = h
        .store
        .audit_log(500)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "client_auth_failed")
        .count();
    assert!(rows > 0 && rows <= 5, "{rows} rows for 200 failures");
}
