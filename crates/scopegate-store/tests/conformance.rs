//! One conformance suite, run against SQLite and PostgreSQL. Each case is a
//! generic function over `Store`; `conformance!` makes a test per backend.
//! PostgreSQL: `SCOPEGATE_TEST_POSTGRES` (default postgres://postgres@127.0.0.1:5432/test),
//! each test in a schema of its own. Without a server the tests say SKIPPED,
//! loudly; under `CI=true` they fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::str::FromStr;
use std::sync::Arc;

use scopegate_store::{
    AdminTokenRecord, AuditEvent, AuditFilter, Backend, ChallengeRecord, Change, ClientSecret, CodeRecord,
    ConsentRecord, KeyRecord, KeySetRecord, PgStore, ScopeRequestRecord, SessionRecord, SourceSignIn, SqliteStore,
    Store, TokenKind, TokenRecord, UserRecord,
};
use sqlx::postgres::PgConnectOptions;

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn sqlite() -> (SqliteStore, TempDir) {
    let dir = std::env::temp_dir().join(format!("scopegate-store-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}/test.db", dir.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, TempDir(dir))
}

async fn postgres() -> Option<(PgStore, String)> {
    let url =
        std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("sg_test_{}", rand::random::<u32>());
    let admin = match PgStore::connect(&url).await {
        Ok(s) => s,
        Err(e) => {
            scopegate_store::testing::missing(&format!("PostgreSQL conformance test: no server at {url} ({e})"));
            return None;
        }
    };
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(options).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, schema))
}

async fn drop_schema(schema: &str) {
    let url =
        std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Ok(admin) = PgStore::connect(&url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(admin.pool())
            .await;
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test] async fn $case() { let (s, _dir) = super::sqlite().await; super::$case(s).await; })*
        }
        mod postgres_backend {
            $(#[tokio::test] async fn $case() {
                if let Some((s, schema)) = super::postgres().await {
                    super::$case(s).await;
                    super::drop_schema(&schema).await;
                }
            })*
        }
    };
}

conformance!(
    a_secret_use_is_recorded_and_never_moves_back,
    distrust_before_refuses_everything_issued_and_bounds_secrets,
    self_registered_apps_no_one_consented_to_are_purged_after_a_day,
    source_sign_in_binds_a_subject_once_and_replaces_only_the_source_permissions,
    sign_in_challenges_are_single_use_and_settle_once,
    migrate_is_idempotent,
    app_and_client_round_trip,
    delete_app_removes_keys_and_tokens,
    users_round_trip_and_logins_are_unique,
    tokens_round_trip_by_hash,
    many_tokens_are_stored_in_one_call,
    refresh_rotates_once_even_when_concurrent,
    revoking_a_grant_revokes_every_token,
    audit_trail_keeps_order,
    sessions_round_trip,
    a_code_is_taken_once_even_when_concurrent,
    signing_keys_newest_first,
    a_new_consent_replaces_the_old_one,
    stateless_tokens_are_revoked_by_jti_or_by_grant,
    admin_tokens_round_trip_and_revoke_once,
    a_key_set_keeps_several_secrets_and_revokes_each_once,
    apps_page_by_id_with_their_key_sets,
    revoking_a_key_sets_or_a_users_tokens_sets_a_cutoff,
    audit_pages_filter_and_go_back_in_time,
    revoking_a_consent_revokes_every_grant_of_that_user_and_client,
    concurrent_changes_to_one_key_set_all_land,
    a_granted_scope_request_adds_its_scopes_once,
    an_app_gets_one_key_set_per_environment,
    every_change_other_nodes_must_see_is_in_the_feed,
    a_write_that_changes_nothing_records_nothing,
    nodes_started_together_make_one_signing_key,
    a_users_sessions_end_together_and_when_the_user_is_disabled,
    expired_records_are_purged_in_bounded_batches,
    the_audit_trail_is_pruned_oldest_first_and_rows_are_counted,
);

fn client(id: &str) -> KeySetRecord {
    KeySetRecord {
        client_id: id.into(),
        app_id: format!("app-{id}"),
        app_name: "Reports".into(),
        owner: Some("alice".into()),
        environment: "production".into(),
        // Secret hashes are unique: one per key set here.
        secrets: vec![secret(
            &format!("s-{id}"),
            id.bytes().fold(7u8, |h, b| h.wrapping_mul(31).wrapping_add(b)),
            None,
        )],
        public: false,
        resource_server: false,
        scopes: vec!["account:read".into(), "products:write".into()],
        default_scopes: vec!["account:read".into()],
        redirect_uris: vec!["https://app.example/cb".into()],
        created_at: 1_700_000_000,
        tokens_revoked_before: None,
        registration: Default::default(),
    }
}

fn secret(id: &str, hash: u8, expires_at: Option<i64>) -> ClientSecret {
    ClientSecret {
        id: id.into(),
        hash: vec![hash; 32],
        created_at: 1_700_000_000,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    }
}

fn token(hash: u8, kind: TokenKind, grant_id: &str, client_id: &str) -> TokenRecord {
    TokenRecord {
        hash: vec![hash; 32],
        kind,
        grant_id: grant_id.into(),
        client_id: client_id.into(),
        subject: Some("alice".into()),
        grant_kind: "authorization_code".into(),
        scope: "account:read".into(),
        grant_scope: "account:read products:write".into(),
        environment: "production".into(),
        granted_at: 100,
        issued_at: 100,
        expires_at: Some(3700),
        used: false,
        revoked: false,
        resource: None,
    }
}

async fn migrate_is_idempotent<S: Store>(s: S) {
    s.migrate().await.unwrap();
    s.migrate().await.unwrap();
}

async fn app_and_client_round_trip<S: Store>(s: S) {
    let c = client("c1");
    s.create_app(&c.app_id, &c.app_name, c.owner.as_deref(), &c)
        .await
        .unwrap();
    assert_eq!(s.key_set("c1").await.unwrap(), Some(c.clone()));
    let uris = vec!["https://a.example/cb".to_owned(), "http://127.0.0.1/cb".to_owned()];
    assert!(s.set_redirect_uris("c1", &uris).await.unwrap());
    assert_eq!(s.key_set("c1").await.unwrap().unwrap().redirect_uris, uris);
    assert!(s.set_redirect_uris("c1", &c.redirect_uris).await.unwrap());
    assert!(!s.set_redirect_uris("nope", &uris).await.unwrap());
    assert_eq!(s.key_set("nope").await.unwrap(), None);
    assert_eq!(s.key_sets().await.unwrap(), vec![c]);
}

async fn a_key_set_keeps_several_secrets_and_revokes_each_once<S: Store>(s: S) {
    let c = client("c5");
    s.create_app(&c.app_id, &c.app_name, None, &c).await.unwrap();
    assert!(
        s.add_client_secret("c5", &secret("s2", 8, Some(2_000_000_000)), None)
            .await
            .unwrap()
    );
    let held = s.key_set("c5").await.unwrap().unwrap();
    let ids: Vec<_> = held.active_secrets(1_800_000_000).map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-c5", "s2"]);
    assert_eq!(held.active_secrets(2_000_000_000).count(), 1, "s2 expired");
    assert!(s.revoke_client_secret("c5", "s-c5", 1_800_000_000).await.unwrap());
    assert!(
        !s.revoke_client_secret("c5", "s-c5", 1_800_000_001).await.unwrap(),
        "once"
    );
    assert!(
        !s.revoke_client_secret("c1-other", "s2", 1_800_000_001).await.unwrap(),
        "not another key set's"
    );
    let held = s.key_set("c5").await.unwrap().unwrap();
    assert_eq!(
        held.active_secrets(1_800_000_000)
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        ["s2"]
    );
    assert_eq!(held.secrets[0].revoked_at, Some(1_800_000_000));
    // Replacing: the new one is the only one active, atomically.
    assert!(
        s.add_client_secret("c5", &secret("s3", 9, None), Some(1_800_000_002))
            .await
            .unwrap()
    );
    let held = s.key_set("c5").await.unwrap().unwrap();
    assert_eq!(
        held.active_secrets(1_800_000_003)
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        ["s3"]
    );
    assert!(
        !s.add_client_secret("nope", &secret("s4", 10, None), None)
            .await
            .unwrap()
    );
    let listed = s.key_sets().await.unwrap();
    assert_eq!(listed.iter().find(|c| c.client_id == "c5").unwrap().secrets.len(), 3);
}

async fn an_app_gets_one_key_set_per_environment<S: Store>(s: S) {
    let c = client("c6");
    s.create_app(&c.app_id, &c.app_name, c.owner.as_deref(), &c)
        .await
        .unwrap();
    let sandbox = KeySetRecord {
        client_id: "c6-sandbox".into(),
        environment: "sandbox".into(),
        secrets: vec![secret("s-c6-sandbox", 11, None)],
        ..c.clone()
    };
    assert!(s.add_key_set(&sandbox).await.unwrap());
    assert_eq!(s.key_set("c6-sandbox").await.unwrap(), Some(sandbox.clone()));
    let again = KeySetRecord {
        client_id: "c6-sandbox-2".into(),
        secrets: vec![],
        ..sandbox.clone()
    };
    assert!(!s.add_key_set(&again).await.unwrap(), "one key set per environment");
    let orphan = KeySetRecord {
        app_id: "no-such-app".into(),
        client_id: "c7".into(),
        secrets: vec![],
        ..sandbox
    };
    assert!(!s.add_key_set(&orphan).await.unwrap());
    assert_eq!(s.app("app-c6").await.unwrap().len(), 2);
    assert!(s.delete_app("app-c6").await.unwrap());
    assert_eq!(s.key_set("c6-sandbox").await.unwrap(), None, "the whole app goes");
}

async fn delete_app_removes_keys_and_tokens<S: Store>(s: S) {
    let c = client("c2");
    s.create_app(&c.app_id, &c.app_name, None, &c).await.unwrap();
    s.insert_tokens(&[token(1, TokenKind::Access, "f", "c2")])
        .await
        .unwrap();
    assert!(s.delete_app("app-c2").await.unwrap());
    assert_eq!(s.key_set("c2").await.unwrap(), None);
    assert_eq!(s.token(&[1; 32]).await.unwrap(), None);
    assert!(!s.delete_app("app-c2").await.unwrap());
}

async fn users_round_trip_and_logins_are_unique<S: Store>(s: S) {
    let u = UserRecord::local(
        "alice",
        "$argon2id$v=19$...".into(),
        vec!["Orders".into(), "OrderStatuses".into()],
        5,
    );
    assert!(s.create_user(&u).await.unwrap());
    assert!(!s.create_user(&u).await.unwrap(), "a login is unique");
    assert_eq!(s.user("alice").await.unwrap(), Some(u.clone()));
    assert!(s.set_permissions("alice", &["Orders".into()]).await.unwrap());
    assert!(s.set_user_enabled("alice", false).await.unwrap());
    let got = s.user("alice").await.unwrap().unwrap();
    assert_eq!((got.permissions, got.enabled), (vec!["Orders".to_owned()], false));
    assert!(!s.set_permissions("bob", &[]).await.unwrap());
    assert_eq!(s.users().await.unwrap().len(), 1);
}

async fn many_tokens_are_stored_in_one_call<S: Store>(s: S) {
    let tokens: Vec<TokenRecord> = (0..300u16)
        .map(|i| {
            let mut t = token(0, TokenKind::Access, "bulk", "c");
            t.hash = i.to_be_bytes().repeat(16);
            t
        })
        .collect();
    s.insert_tokens(&tokens).await.unwrap();
    for t in [&tokens[0], &tokens[255], &tokens[256], &tokens[299]] {
        assert_eq!(s.token(&t.hash).await.unwrap().as_ref(), Some(t));
    }
    assert_eq!(s.revoke_grant("bulk").await.unwrap(), 300);
    let mut t = token(77, TokenKind::Access, "batch", "c");
    t.hash = vec![77; 32];
    let e = AuditEvent {
        at: 1,
        event: "issue".into(),
        client_id: Some("c".into()),
        subject: None,
        detail: "batched".into(),
    };
    t.resource = Some("https://api.example/mcp".into());
    s.commit_batch(&[t.clone()], &[e]).await.unwrap();
    assert_eq!(s.token(&[77; 32]).await.unwrap(), Some(t), "the resource too");
    assert_eq!(s.audit_log(1).await.unwrap()[0].detail, "batched");
    let mut lone = token(78, TokenKind::Access, "batch", "c");
    lone.hash = vec![78; 32];
    s.commit_batch(&[lone.clone()], &[]).await.unwrap();
    assert_eq!(s.token(&[78; 32]).await.unwrap(), Some(lone), "tokens without events");
    // More rows than one statement takes: the same outcome.
    let many: Vec<TokenRecord> = (0..300u32)
        .map(|i| {
            let mut t = token(79, TokenKind::Access, "many", "c");
            t.hash = [vec![0xAB; 28], i.to_be_bytes().to_vec()].concat();
            t
        })
        .collect();
    s.commit_batch(&many, &[]).await.unwrap();
    for t in [&many[0], &many[299]] {
        assert_eq!(s.token(&t.hash).await.unwrap().as_ref(), Some(t));
    }
}

async fn tokens_round_trip_by_hash<S: Store>(s: S) {
    let mut t = token(3, TokenKind::Access, "fam", "c");
    t.subject = None;
    t.expires_at = None;
    t.resource = Some("https://api.example/mcp".into());
    s.insert_tokens(&[t.clone(), token(4, TokenKind::Refresh, "fam", "c")])
        .await
        .unwrap();
    assert_eq!(s.token(&[3; 32]).await.unwrap(), Some(t));
    assert_eq!(s.token(&[4; 32]).await.unwrap().unwrap().kind, TokenKind::Refresh);
    assert_eq!(s.token(&[5; 32]).await.unwrap(), None);
}

async fn refresh_rotates_once_even_when_concurrent<S: Store>(s: S) {
    s.insert_tokens(&[token(10, TokenKind::Refresh, "fam", "c")])
        .await
        .unwrap();
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                s.rotate_refresh(&[10; 32], &[token(20 + i, TokenKind::Refresh, "fam", "c")])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += u32::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "exactly one concurrent refresh may succeed");
    assert!(s.token(&[10; 32]).await.unwrap().unwrap().used);
    assert!(
        !s.rotate_refresh(&[10; 32], &[]).await.unwrap(),
        "a used refresh token cannot rotate again"
    );
}

async fn revoking_a_grant_revokes_every_token<S: Store>(s: S) {
    s.insert_tokens(&[
        token(30, TokenKind::Access, "fam", "c"),
        token(31, TokenKind::Refresh, "fam", "c"),
        token(32, TokenKind::Access, "other", "c"),
    ])
    .await
    .unwrap();
    assert_eq!(s.revoke_grant("fam").await.unwrap(), 2);
    assert!(s.token(&[30; 32]).await.unwrap().unwrap().revoked);
    assert!(s.token(&[31; 32]).await.unwrap().unwrap().revoked);
    assert!(!s.token(&[32; 32]).await.unwrap().unwrap().revoked);
    assert_eq!(s.revoke_grant("fam").await.unwrap(), 0);
    assert!(s.revoke_token(&[32; 32]).await.unwrap());
    assert!(!s.revoke_token(&[32; 32]).await.unwrap(), "already revoked");
    assert!(!s.revoke_token(&[99; 32]).await.unwrap(), "unknown");
}

async fn audit_trail_keeps_order<S: Store>(s: S) {
    for (i, event) in ["issue", "refresh", "revoke"].iter().enumerate() {
        s.audit(&AuditEvent {
            at: i as i64,
            event: (*event).into(),
            client_id: Some("c".into()),
            subject: None,
            detail: String::new(),
        })
        .await
        .unwrap();
    }
    let log = s.audit_log(2).await.unwrap();
    let batch: Vec<AuditEvent> = (0..3)
        .map(|i| AuditEvent {
            at: 10 + i,
            event: format!("b{i}"),
            client_id: None,
            subject: None,
            detail: String::new(),
        })
        .collect();
    s.commit_batch(&[], &batch).await.unwrap();
    let newest = s.audit_log(1).await.unwrap();
    assert_eq!(newest[0].event, "b2", "a batch keeps its order");
    assert_eq!(
        log.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["revoke", "refresh"]
    );
}

async fn sessions_round_trip<S: Store>(s: S) {
    let x = SessionRecord {
        hash: vec![1; 32],
        login: "alice".into(),
        created_at: 1,
        expires_at: 2,
        csrf_hash: Some(vec![9; 32]),
    };
    s.create_session(&x).await.unwrap();
    assert_eq!(s.session(&[1; 32]).await.unwrap(), Some(x));
    assert!(s.delete_session(&[1; 32]).await.unwrap());
    assert_eq!(s.session(&[1; 32]).await.unwrap(), None);
}

async fn a_code_is_taken_once_even_when_concurrent<S: Store>(s: S) {
    let code = CodeRecord {
        hash: vec![5; 32],
        client_id: "c".into(),
        subject: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_sent: true,
        scope: "orders".into(),
        code_challenge: Some("abc".into()),
        grant_id: "fam".into(),
        granted_at: 10,
        expires_at: 70,
        used: false,
        resource: Some("https://api.example/mcp".into()),
    };
    s.insert_code(&code).await.unwrap();
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.take_code(&[5; 32]).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        let (got, first) = t.await.unwrap().unwrap();
        assert_eq!(got.client_id, "c");
        assert_eq!(got.resource.as_deref(), Some("https://api.example/mcp"));
        firsts += u32::from(first);
    }
    assert_eq!(firsts, 1, "exactly one redemption is the first");
    assert_eq!(s.take_code(&[6; 32]).await.unwrap(), None);
}

async fn signing_keys_newest_first<S: Store>(s: S) {
    assert!(s.signing_keys().await.unwrap().is_empty());
    for (kid, at) in [("k1", 10), ("k2", 20)] {
        let k = KeyRecord {
            kid: kid.into(),
            alg: "EdDSA".into(),
            private_der: vec![1, 2, 3],
            public_x: "x".into(),
            created_at: at,
            retired_at: None,
        };
        s.insert_signing_key(&k).await.unwrap();
    }
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k2", "k1"]);
    assert_eq!(keys[0].private_der, vec![1, 2, 3]);
    let k3 = KeyRecord {
        kid: "k3".into(),
        alg: "EdDSA".into(),
        private_der: vec![4],
        public_x: "y".into(),
        created_at: 30,
        retired_at: None,
    };
    s.rotate_signing_key(&k3).await.unwrap();
    let keys = s.signing_keys().await.unwrap();
    let live: Vec<_> = keys
        .iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.kid.as_str())
        .collect();
    assert_eq!(live, ["k3"], "rotation retires every other key");
    assert_eq!(keys.len(), 3, "retired keys stay, for verification");
}

async fn a_new_consent_replaces_the_old_one<S: Store>(s: S) {
    let c = |scope: &str, at| ConsentRecord {
        client_id: "c".into(),
        login: "alice".into(),
        scope: scope.into(),
        granted_at: at,
    };
    s.record_consent(&c("read_orders", 1)).await.unwrap();
    s.record_consent(&c("orders", 2)).await.unwrap();
    assert_eq!(s.consents("alice").await.unwrap(), vec![c("orders", 2)]);
    assert!(s.consents("bob").await.unwrap().is_empty());
}

async fn stateless_tokens_are_revoked_by_jti_or_by_grant<S: Store>(s: S) {
    assert!(!s.is_revoked("j1", "g1").await.unwrap());
    s.revoke_jti("j1", Some(100)).await.unwrap();
    s.revoke_jti("j1", Some(100)).await.unwrap();
    assert!(s.is_revoked("j1", "g1").await.unwrap());
    assert!(!s.is_revoked("j2", "g1").await.unwrap());
    s.revoke_grant("g1").await.unwrap();
    assert!(
        s.is_revoked("j2", "g1").await.unwrap(),
        "revoking a grant reaches its stateless tokens"
    );
    assert!(!s.is_revoked("j2", "g2").await.unwrap());
    let mut live = s.revocations(50).await.unwrap();
    live.sort();
    assert_eq!(live, ["gid:g1", "jti:j1"]);
    assert_eq!(
        s.revocations(100).await.unwrap(),
        ["gid:g1"],
        "a jti revocation ends with the token's expiry"
    );
}

async fn admin_tokens_round_trip_and_revoke_once<S: Store>(s: S) {
    let token = |id: &str, byte: u8, at: i64| AdminTokenRecord {
        id: id.into(),
        hash: vec![byte; 32],
        scopes: vec!["admin:read".into(), "admin:write".into()],
        created_at: at,
        revoked_at: None,
    };
    assert!(s.create_admin_token(&token("sgai_b", 2, 20)).await.unwrap());
    assert!(s.create_admin_token(&token("sgai_a", 1, 10)).await.unwrap());
    assert!(
        !s.create_admin_token(&token("sgai_a", 3, 30)).await.unwrap(),
        "id taken"
    );
    assert!(
        !s.create_admin_token(&token("sgai_c", 1, 30)).await.unwrap(),
        "hash taken"
    );
    assert_eq!(s.admin_token(&[1; 32]).await.unwrap(), Some(token("sgai_a", 1, 10)));
    assert_eq!(s.admin_token(&[9; 32]).await.unwrap(), None);
    let ids: Vec<String> = s.admin_tokens().await.unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["sgai_a", "sgai_b"], "oldest first, nothing half-written");
    assert!(s.revoke_admin_token("sgai_a", 50).await.unwrap());
    assert!(!s.revoke_admin_token("sgai_a", 60).await.unwrap(), "already revoked");
    assert!(!s.revoke_admin_token("sgai_nope", 60).await.unwrap(), "unknown");
    assert_eq!(s.admin_token(&[1; 32]).await.unwrap().unwrap().revoked_at, Some(50));
}

async fn apps_page_by_id_with_their_key_sets<S: Store>(s: S) {
    for id in ["p3", "p1", "p2"] {
        let c = client(id);
        s.create_app(&c.app_id, &c.app_name, None, &c).await.unwrap();
    }
    let sandbox = KeySetRecord {
        client_id: "p1-sandbox".into(),
        environment: "sandbox".into(),
        secrets: vec![],
        ..client("p1")
    };
    assert!(s.add_key_set(&sandbox).await.unwrap());
    let ids = |page: &[KeySetRecord]| page.iter().map(|c| c.client_id.clone()).collect::<Vec<_>>();
    let first = s.apps(None, 2).await.unwrap();
    assert_eq!(ids(&first), ["p1", "p1-sandbox", "p2"]);
    assert_eq!(first[0].secrets.len(), 1, "with their secrets");
    let next = s.apps(Some("app-p2"), 2).await.unwrap();
    assert_eq!(ids(&next), ["p3"]);
    assert!(s.apps(Some("app-p3"), 2).await.unwrap().is_empty());
    assert!(s.app("app-none").await.unwrap().is_empty());
}

async fn revoking_a_key_sets_or_a_users_tokens_sets_a_cutoff<S: Store>(s: S) {
    let c = client("r1");
    s.create_app(&c.app_id, &c.app_name, None, &c).await.unwrap();
    s.insert_tokens(&[
        token(41, TokenKind::Access, "g41", "r1"),
        token(42, TokenKind::Refresh, "g41", "r1"),
    ])
    .await
    .unwrap();
    assert_eq!(s.revoke_key_set_tokens("r1", 150).await.unwrap(), Some(2));
    assert!(s.token(&[41; 32]).await.unwrap().unwrap().revoked);
    assert_eq!(s.key_set("r1").await.unwrap().unwrap().tokens_revoked_before, Some(150));
    assert_eq!(s.revoke_key_set_tokens("none", 150).await.unwrap(), None);

    let u = UserRecord::local("rita", "x".into(), vec![], 5);
    s.create_user(&u).await.unwrap();
    let mut t = token(43, TokenKind::Access, "g43", "r1");
    t.subject = Some("rita".into());
    s.insert_tokens(&[t]).await.unwrap();
    assert_eq!(s.revoke_user_tokens("rita", 160).await.unwrap(), Some(1));
    assert!(s.token(&[43; 32]).await.unwrap().unwrap().revoked);
    assert_eq!(s.user("rita").await.unwrap().unwrap().tokens_revoked_before, Some(160));
    assert_eq!(s.revoke_user_tokens("nobody", 160).await.unwrap(), None);
    assert!(scopegate_store::revoked_by(Some(160), 160) && !scopegate_store::revoked_by(Some(160), 161));
    let page = s.users_page(Some("r"), 10).await.unwrap();
    assert_eq!(page.iter().map(|u| u.login.as_str()).collect::<Vec<_>>(), ["rita"]);
}

async fn audit_pages_filter_and_go_back_in_time<S: Store>(s: S) {
    for (i, (event, client)) in [("issue", "a"), ("revoke", "a"), ("issue", "b"), ("issue", "a")]
        .iter()
        .enumerate()
    {
        s.audit(&AuditEvent {
            at: i as i64,
            event: (*event).into(),
            client_id: Some((*client).into()),
            subject: None,
            detail: format!("n{i}"),
        })
        .await
        .unwrap();
    }
    let filter = AuditFilter {
        client_id: Some("a".into()),
        event: Some("issue".into()),
        ..AuditFilter::default()
    };
    let first = s.audit_page(&filter, None, 1).await.unwrap();
    assert_eq!(first[0].1.detail, "n3", "newest first");
    let next = s.audit_page(&filter, Some(first[0].0), 5).await.unwrap();
    assert_eq!(next.iter().map(|(_, e)| e.detail.as_str()).collect::<Vec<_>>(), ["n0"]);
    let all = s.audit_page(&AuditFilter::default(), None, 10).await.unwrap();
    assert_eq!(all.len(), 4);
}

async fn revoking_a_consent_revokes_every_grant_of_that_user_and_client<S: Store>(s: S) {
    let consent = ConsentRecord {
        client_id: "cc".into(),
        login: "alice".into(),
        scope: "account:read".into(),
        granted_at: 100,
    };
    s.record_consent(&consent).await.unwrap();
    let code = CodeRecord {
        hash: vec![51; 32],
        client_id: "cc".into(),
        subject: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_sent: true,
        scope: "account:read".into(),
        code_challenge: None,
        grant_id: "g-jwt".into(),
        granted_at: 100,
        expires_at: 160,
        used: true,
        resource: None,
    };
    s.insert_code(&code).await.unwrap();
    let mut kept = token(52, TokenKind::Access, "g-other", "cc");
    kept.subject = Some("bob".into());
    s.insert_tokens(&[token(53, TokenKind::Refresh, "g-jwt", "cc"), kept])
        .await
        .unwrap();
    assert_eq!(s.revoke_consent("alice", "cc", 150).await.unwrap(), Some(1));
    assert!(
        s.is_revoked("any-jti", "g-jwt").await.unwrap(),
        "stateless tokens of the grant too"
    );
    assert!(s.token(&[53; 32]).await.unwrap().unwrap().revoked);
    assert!(
        !s.token(&[52; 32]).await.unwrap().unwrap().revoked,
        "another user's grant stays"
    );
    assert!(s.consents("alice").await.unwrap().is_empty());
    assert_eq!(s.revoke_consent("alice", "cc", 151).await.unwrap(), None);
}

/// Transactions that read before they write must not fail when another
/// writer commits in between (SQLite: BEGIN IMMEDIATE, not BUSY_SNAPSHOT).
async fn concurrent_changes_to_one_key_set_all_land<S: Store>(s: S) {
    let c = client("cw");
    s.create_app(&c.app_id, &c.app_name, None, &c).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let replace = (i % 3 == 0).then_some(1_800_000_000);
            s.add_client_secret("cw", &secret(&format!("cw-{i}"), 100 + i, None), replace)
                .await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap(), "every change lands");
    }
    assert_eq!(s.key_set("cw").await.unwrap().unwrap().secrets.len(), 17);
}

async fn a_granted_scope_request_adds_its_scopes_once<S: Store>(s: S) {
    let c = client("sr");
    s.create_app(&c.app_id, &c.app_name, None, &c).await.unwrap();
    let request = |id: &str, scopes: &[&str]| ScopeRequestRecord {
        id: id.into(),
        client_id: "sr".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        requested_by: "dev".into(),
        reason: "feeds".into(),
        created_at: 10,
        decided_at: None,
        decided_by: None,
        outcome: None,
    };
    assert!(
        s.create_scope_request(&request("q1", &["feed", "account:read"]))
            .await
            .unwrap()
    );
    assert!(s.create_scope_request(&request("q2", &["ads"])).await.unwrap());
    assert!(
        !s.create_scope_request(&ScopeRequestRecord {
            client_id: "none".into(),
            ..request("q3", &["x"])
        })
        .await
        .unwrap()
    );
    assert_eq!(s.scope_requests(true, None).await.unwrap().len(), 2);
    let granted = s.decide_scope_request("q1", true, "admin", 20).await.unwrap().unwrap();
    assert_eq!(
        (granted.outcome.as_deref(), granted.decided_by.as_deref()),
        (Some("granted"), Some("admin"))
    );
    assert_eq!(
        s.key_set("sr").await.unwrap().unwrap().scopes,
        ["account:read", "products:write", "feed"]
    );
    assert!(
        s.decide_scope_request("q1", false, "admin", 21)
            .await
            .unwrap()
            .is_none(),
        "decided once"
    );
    assert!(
        s.decide_scope_request("q2", false, "admin", 22)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.key_set("sr").await.unwrap().unwrap().scopes.len(),
        3,
        "a refusal adds nothing"
    );
    assert!(s.scope_requests(true, None).await.unwrap().is_empty());
    assert_eq!(s.scope_requests(false, Some("sr")).await.unwrap().len(), 2);
    assert_eq!(
        s.scope_request("q2").await.unwrap().unwrap().outcome.as_deref(),
        Some("refused")
    );
}

/// The database and its journal hold signing keys and every hash: readable
/// by their owner only, also when an older file was not.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_and_its_journal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("scopegate-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("s.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
        .audit(&AuditEvent {
            at: 1,
            event: "x".into(),
            client_id: None,
            subject: None,
            detail: String::new(),
        })
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path}");
    }
    drop(store);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _again = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600,
        "narrowed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What other nodes' caches must learn, each in the same transaction as the
/// change: the feed lists them in order.
async fn every_change_other_nodes_must_see_is_in_the_feed<S: Store>(s: S) {
    let start = s.last_change().await.unwrap();
    let c = client("feed");
    s.create_app(&c.app_id, "Feed", None, &c).await.unwrap();
    s.set_redirect_uris("feed", &["https://x.example/cb".into()])
        .await
        .unwrap();
    s.add_client_secret("feed", &secret("s2", 99, None), Some(5))
        .await
        .unwrap();
    s.revoke_client_secret("feed", "s2", 6).await.unwrap();
    s.revoke_key_set_tokens("feed", 7).await.unwrap();
    let u = UserRecord::local("ana", "h".into(), vec![], 1);
    s.create_user(&u).await.unwrap();
    s.set_permissions("ana", &["Orders".into()]).await.unwrap();
    s.set_user_enabled("ana", false).await.unwrap();
    s.revoke_user_tokens("ana", 8).await.unwrap();
    s.insert_tokens(&[token(1, TokenKind::Access, "g1", "feed")])
        .await
        .unwrap();
    s.revoke_token(&[1; 32]).await.unwrap();
    s.revoke_grant("g1").await.unwrap();
    s.revoke_jti("j1", Some(9)).await.unwrap();
    let key = KeyRecord {
        kid: "k1".into(),
        alg: "ES256".into(),
        private_der: vec![1],
        public_x: "x".into(),
        created_at: 10,
        retired_at: None,
    };
    s.rotate_signing_key(&key).await.unwrap();
    s.record_change(&Change::Policy("ab".into())).await.unwrap();
    s.delete_app(&c.app_id).await.unwrap();
    let feed: Vec<Change> = s
        .changes_after(start, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, c)| c.unwrap())
        .collect();
    let client = || Change::Client("feed".into());
    let user = || Change::User("ana".into());
    assert_eq!(
        feed,
        [
            client(),
            client(),
            client(),
            client(),
            client(),
            user(),
            user(),
            user(),
            user(),
            Change::Tokens,
            Change::Revocation("gid:g1".into()),
            Change::Revocation("jti:j1".into()),
            Change::SigningKeys,
            Change::Policy("ab".into()),
            Change::App(c.app_id.clone()),
        ]
    );
    let ids: Vec<i64> = s.changes_after(start, 100).await.unwrap().iter().map(|r| r.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids rise: {ids:?}");
    assert_eq!(s.last_change().await.unwrap(), *ids.last().unwrap());
    assert_eq!(s.changes_after(start, 2).await.unwrap().len(), 2, "a page is bounded");
    assert_eq!(s.prune_changes(i64::MAX).await.unwrap(), ids.len() as u64);
    assert!(s.changes_after(0, 100).await.unwrap().is_empty());
}

async fn a_write_that_changes_nothing_records_nothing<S: Store>(s: S) {
    let start = s.last_change().await.unwrap();
    assert!(!s.revoke_client_secret("nobody", "s", 1).await.unwrap());
    assert!(!s.set_permissions("nobody", &[]).await.unwrap());
    assert!(!s.set_user_enabled("nobody", true).await.unwrap());
    assert!(!s.revoke_token(&[7; 32]).await.unwrap());
    assert_eq!(s.revoke_key_set_tokens("nobody", 1).await.unwrap(), None);
    assert!(s.changes_after(start, 100).await.unwrap().is_empty());
}

/// Nodes started together on an empty database each offer a key: one wins,
/// and every node then signs with it.
async fn nodes_started_together_make_one_signing_key<S: Store>(s: S) {
    let key = |kid: &str| KeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        private_der: vec![1],
        public_x: "x".into(),
        created_at: 10,
        retired_at: None,
    };
    let (ka, kb, kc) = (key("a"), key("b"), key("c"));
    let (a, b, c) = tokio::join!(
        s.ensure_signing_key(&ka),
        s.ensure_signing_key(&kb),
        s.ensure_signing_key(&kc)
    );
    let made = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(made.iter().filter(|m| **m).count(), 1, "{made:?}");
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    let mut other = key("d");
    other.alg = "RS256".into();
    assert!(
        s.ensure_signing_key(&other).await.unwrap(),
        "another algorithm replaces it"
    );
    let live: Vec<_> = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].kid, "d");
    // Nodes rotating at the same moment leave one key signing.
    for round in 0..5 {
        let (ke, kf) = (key(&format!("e{round}")), key(&format!("f{round}")));
        let (e, f) = tokio::join!(s.rotate_signing_key(&ke), s.rotate_signing_key(&kf));
        e.unwrap();
        f.unwrap();
        let live = s
            .signing_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .count();
        assert_eq!(live, 1, "round {round}");
    }
}

/// Several nodes started together on a fresh database (or one a migration
/// behind): one migrates, the others wait and find nothing left to do.
#[tokio::test]
async fn nodes_started_together_migrate_once() {
    // SQLite: three pools on one new file.
    let dir = std::env::temp_dir().join(format!("scopegate-migrate-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let url = format!("sqlite://{}/m.db", dir.display());
    let (a, b, c) = tokio::join!(
        SqliteStore::connect(&url),
        SqliteStore::connect(&url),
        SqliteStore::connect(&url)
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let (x, y, z) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    x.unwrap();
    y.unwrap();
    z.unwrap();
    assert!(a.signing_keys().await.unwrap().is_empty());

    // PostgreSQL: three stores on one new schema.
    let url =
        std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Some(schema) = postgres_unmigrated().await else {
        return;
    };
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let (a, b, c) = tokio::join!(
        PgStore::connect_with(options.clone()),
        PgStore::connect_with(options.clone()),
        PgStore::connect_with(options),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let (x, y, z) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    let results = [x, y, z];
    drop_schema(&schema).await;
    for r in results {
        r.unwrap();
    }
}

/// A new empty schema (no migration run yet), or `None` without a server.
async fn postgres_unmigrated() -> Option<String> {
    let url =
        std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = match PgStore::connect(&url).await {
        Ok(s) => s,
        Err(e) => {
            scopegate_store::testing::missing(&format!("PostgreSQL migration test: no server at {url} ({e})"));
            return None;
        }
    };
    let schema = format!("sg_test_{}", rand::random::<u32>());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .unwrap();
    Some(schema)
}

/// A change committed on one node wakes another that listens.
#[tokio::test]
async fn a_change_on_one_node_wakes_the_others() {
    let Some((store, schema)) = postgres().await else {
        return;
    };
    let url =
        std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let other = PgStore::connect_with(
        PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]),
    )
    .await
    .unwrap();
    let mut subscription = other.subscribe().await.unwrap();
    let before = other.last_change().await.unwrap();
    store.record_change(&Change::Tokens).await.unwrap();
    // Woken by the NOTIFY, well before the 5 s poll.
    let woke = tokio::time::timeout(std::time::Duration::from_secs(3), subscription.next()).await;
    let seen = other.changes_after(before, 10).await;
    drop_schema(&schema).await;
    assert_eq!(woke.unwrap(), scopegate_store::Wake::Look);
    let seen = seen.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, Some(Change::Tokens));
}

fn session(hash: u8, login: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        hash: vec![hash; 32],
        login: login.into(),
        created_at: 1,
        expires_at,
        csrf_hash: Some(vec![hash; 32]),
    }
}

async fn a_users_sessions_end_together_and_when_the_user_is_disabled<S: Store>(s: S) {
    let u = UserRecord::local("alice", "$argon2id$v=19$...".into(), vec![], 5);
    assert!(s.create_user(&u).await.unwrap());
    for (hash, login) in [(1, "alice"), (2, "alice"), (3, "bob")] {
        s.create_session(&session(hash, login, 100)).await.unwrap();
    }
    assert_eq!(s.delete_sessions("alice").await.unwrap(), 2);
    assert_eq!(s.session(&[1; 32]).await.unwrap(), None);
    assert!(
        s.session(&[3; 32]).await.unwrap().is_some(),
        "another user's session stays"
    );
    s.create_session(&session(4, "alice", 100)).await.unwrap();
    assert!(s.set_user_enabled("alice", false).await.unwrap());
    assert!(s.set_user_enabled("alice", true).await.unwrap());
    assert_eq!(
        s.session(&[4; 32]).await.unwrap(),
        None,
        "enabling again revives nothing"
    );
}

async fn expired_records_are_purged_in_bounded_batches<S: Store>(s: S) {
    for hash in 1..=5 {
        s.create_session(&session(hash, "alice", 10 * i64::from(hash)))
            .await
            .unwrap();
    }
    let mut live = token(20, TokenKind::Access, "g1", "c1");
    live.expires_at = Some(1_000);
    let mut dead = token(21, TokenKind::Refresh, "g1", "c1");
    dead.expires_at = Some(30);
    let mut forever = token(22, TokenKind::Access, "g2", "c1");
    forever.expires_at = None;
    s.insert_tokens(&[live, dead, forever]).await.unwrap();
    s.revoke_jti("old", Some(30)).await.unwrap();
    s.revoke_jti("new", Some(1_000)).await.unwrap();
    let first = s.purge_expired(30, 2).await.unwrap();
    assert_eq!(
        (first.sessions, first.tokens, first.revocations),
        (2, 1, 1),
        "{first:?}"
    );
    let second = s.purge_expired(30, 2).await.unwrap();
    assert_eq!(second.sessions, 1, "the third expired session, in the next batch");
    assert_eq!(s.purge_expired(30, 2).await.unwrap().total(), 0);
    assert!(s.session(&[4; 32]).await.unwrap().is_some());
    assert!(s.token(&[20; 32]).await.unwrap().is_some());
    assert!(
        s.token(&[22; 32]).await.unwrap().is_some(),
        "a token that never expires stays"
    );
    assert_eq!(s.token(&[21; 32]).await.unwrap(), None);
    assert!(s.is_revoked("new", "none").await.unwrap());
}

async fn the_audit_trail_is_pruned_oldest_first_and_rows_are_counted<S: Store>(s: S) {
    let events: Vec<AuditEvent> = (0..5)
        .map(|i| AuditEvent {
            at: i * 10,
            event: format!("e{i}"),
            client_id: None,
            subject: None,
            detail: String::new(),
        })
        .collect();
    s.commit_batch(&[], &events).await.unwrap();
    assert_eq!(s.prune_audit(35, 3).await.unwrap(), 3);
    assert_eq!(s.prune_audit(35, 3).await.unwrap(), 1);
    let left: Vec<String> = s.audit_log(10).await.unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(left, ["e4"]);
    let counts = s.row_counts().await.unwrap();
    assert!(counts.contains(&("audit".to_owned(), 1)), "{counts:?}");
    assert!(counts.iter().any(|(table, _)| table == "tokens"));
}

async fn source_sign_in_binds_a_subject_once_and_replaces_only_the_source_permissions<S: Store>(s: S) {
    let mut admitted = UserRecord::local("ana", String::new(), vec!["Local".into()], 1);
    admitted.source = "idp:corp".into();
    assert!(s.create_user(&admitted).await.unwrap());
    let first = SourceSignIn {
        login: "ana",
        source: "idp:corp",
        subject: "sub-1",
        display_name: Some("Ana"),
        permissions: &["Orders".into(), "admin".into()],
        at: 10,
    };
    assert!(
        s.record_source_sign_in(&first).await.unwrap(),
        "an admitted user binds the first subject"
    );
    let got = s.user_by_subject("idp:corp", "sub-1").await.unwrap().unwrap();
    assert_eq!(got.login, "ana");
    assert_eq!(got.permissions, ["Local"], "local permissions are kept apart");
    assert_eq!(got.source_permissions, ["Orders", "admin"]);
    assert_eq!((got.display_name.as_deref(), got.signed_in_at), (Some("Ana"), Some(10)));
    let again = SourceSignIn {
        permissions: &["Orders".into()],
        at: 20,
        ..first.clone()
    };
    assert!(s.record_source_sign_in(&again).await.unwrap());
    let got = s.user("ana").await.unwrap().unwrap();
    assert_eq!(
        (got.source_permissions, got.signed_in_at),
        (vec!["Orders".to_owned()], Some(20)),
        "replaced whole"
    );
    let other = SourceSignIn {
        subject: "sub-2",
        ..first.clone()
    };
    assert!(
        !s.record_source_sign_in(&other).await.unwrap(),
        "another subject never takes the login"
    );
    let other_source = SourceSignIn {
        source: "idp:other",
        ..first.clone()
    };
    assert!(
        !s.record_source_sign_in(&other_source).await.unwrap(),
        "nor another source"
    );
    assert_eq!(s.user_by_subject("idp:other", "sub-1").await.unwrap(), None);
    let mut twin = UserRecord::local("ana2", String::new(), vec![], 1);
    twin.source = "idp:corp".into();
    twin.subject = Some("sub-1".into());
    assert!(!s.create_user(&twin).await.unwrap(), "one user per source and subject");
}

async fn sign_in_challenges_are_single_use_and_settle_once<S: Store>(s: S) {
    let c = ChallengeRecord {
        hash: vec![9; 32],
        kind: "delegation".into(),
        browser: vec![1; 32],
        return_to: "/oauth2/authorize?client_id=c".into(),
        data: "{}".into(),
        outcome: None,
        used: false,
        created_at: 100,
        expires_at: 700,
    };
    s.create_challenge(&c).await.unwrap();
    assert_eq!(s.challenge(&c.hash).await.unwrap(), Some(c.clone()));
    assert!(
        !s.settle_challenge(&c.hash, "{}", 700).await.unwrap(),
        "not once expired"
    );
    assert!(s.settle_challenge(&c.hash, r#"{"accept":1}"#, 699).await.unwrap());
    assert!(
        !s.settle_challenge(&c.hash, r#"{"reject":1}"#, 699).await.unwrap(),
        "an answer is given once"
    );
    let (taken, first) = s.take_challenge(&c.hash).await.unwrap().unwrap();
    assert!(first);
    assert_eq!(taken.outcome.as_deref(), Some(r#"{"accept":1}"#));
    let (_, first) = s.take_challenge(&c.hash).await.unwrap().unwrap();
    assert!(!first, "single use");
    assert_eq!(s.take_challenge(&[0; 32]).await.unwrap(), None);
    assert_eq!(s.purge_expired(700, 10).await.unwrap().challenges, 1);
    assert_eq!(s.challenge(&c.hash).await.unwrap(), None);
}

async fn self_registered_apps_no_one_consented_to_are_purged_after_a_day<S: Store>(s: S) {
    use scopegate_store::{Registration, UNUSED_REGISTRATION_SECONDS};
    let made = |id: &str, registration: Registration| KeySetRecord {
        owner: None,
        secrets: Vec::new(),
        public: true,
        created_at: 1000,
        registration,
        ..client(id)
    };
    for (id, how) in [
        ("dyn-unused", Registration::Dynamic),
        ("dyn-used", Registration::Dynamic),
        ("https://agent.example/c.json", Registration::MetadataDocument),
        ("ours", Registration::Provider),
    ] {
        let k = made(id, how);
        s.create_app(&k.app_id, "Agent", None, &k).await.unwrap();
    }
    assert_eq!(
        s.key_set("dyn-unused").await.unwrap().unwrap().registration,
        Registration::Dynamic
    );
    assert_eq!(
        s.key_set("https://agent.example/c.json")
            .await
            .unwrap()
            .unwrap()
            .registration,
        Registration::MetadataDocument
    );
    s.record_consent(&ConsentRecord {
        client_id: "dyn-used".into(),
        login: "alice".into(),
        scope: "account:read".into(),
        granted_at: 1100,
    })
    .await
    .unwrap();
    let early = s
        .purge_expired(1000 + UNUSED_REGISTRATION_SECONDS - 1, 100)
        .await
        .unwrap();
    assert_eq!(early.registrations, 0, "not yet a day old");
    let purged = s.purge_expired(1000 + UNUSED_REGISTRATION_SECONDS, 100).await.unwrap();
    assert_eq!(purged.registrations, 1);
    assert!(s.key_set("dyn-unused").await.unwrap().is_none());
    for kept in ["dyn-used", "https://agent.example/c.json", "ours"] {
        assert!(s.key_set(kept).await.unwrap().is_some(), "{kept}");
    }
}

/// A database a newer scopegate migrated is refused, and left as it was: a
/// downgrade is not possible, and says so.
#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_and_left_as_it_was() {
    let (s, dir) = sqlite().await;
    let known = Backend::Sqlite.schema_version();
    assert_eq!(s.schema_version().await.unwrap(), known);
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}/test.db", dir.0.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO scopegate_migrations (version, applied_at) VALUES ($1, 0)")
        .bind(known + 1)
        .execute(&raw)
        .await
        .unwrap();
    let refused = s.migrate().await.unwrap_err().to_string();
    assert!(
        refused.contains(&format!("schema is at version {}", known + 1))
            && refused.contains("A downgrade is not possible"),
        "{refused}"
    );
    assert_eq!(s.schema_version().await.unwrap(), known + 1);

    let Some((p, schema)) = postgres().await else {
        return;
    };
    let known = Backend::Postgres.schema_version();
    assert_eq!(p.schema_version().await.unwrap(), known);
    sqlx::query("INSERT INTO scopegate_migrations (version, applied_at) VALUES ($1, 0)")
        .bind(known + 1)
        .execute(p.pool())
        .await
        .unwrap();
    let refused = p.migrate().await.unwrap_err().to_string();
    assert!(refused.contains("A downgrade is not possible"), "{refused}");
    assert_eq!(p.schema_version().await.unwrap(), known + 1);
    drop_schema(&schema).await;
}

async fn distrust_before_refuses_everything_issued_and_bounds_secrets<S: Store>(s: S) {
    let c = client("c1");
    s.create_app(&c.app_id, &c.app_name, c.owner.as_deref(), &c)
        .await
        .unwrap();
    let mut live = token(3, TokenKind::Access, "fam", "c1");
    live.expires_at = None;
    s.insert_tokens(&[live, token(4, TokenKind::Refresh, "fam", "c1")])
        .await
        .unwrap();
    let d = s.distrust_before(500, 1_000).await.unwrap();
    assert_eq!((d.tokens, d.secrets), (2, 1), "{d:?}");
    assert!(s.token(&[3; 32]).await.unwrap().unwrap().revoked);
    assert!(s.token(&[4; 32]).await.unwrap().unwrap().revoked);
    let after = s.key_set("c1").await.unwrap().unwrap();
    assert_eq!(after.tokens_revoked_before, Some(500));
    assert_eq!(after.secrets[0].expires_at, Some(1_000));
    // A secret that expires sooner keeps its own expiry.
    assert_eq!(s.distrust_before(600, 2_000).await.unwrap().secrets, 0);
    assert_eq!(
        s.key_set("c1").await.unwrap().unwrap().secrets[0].expires_at,
        Some(1_000)
    );
}

async fn a_secret_use_is_recorded_and_never_moves_back<S: Store>(s: S) {
    let c = client("c1");
    s.create_app(&c.app_id, &c.app_name, c.owner.as_deref(), &c)
        .await
        .unwrap();
    let used = |s: &S| {
        let s = s.clone();
        async move { s.key_set("c1").await.unwrap().unwrap().secrets[0].last_used_at }
    };
    assert_eq!(used(&s).await, None);
    s.note_secret_used("s-c1", 2_000).await.unwrap();
    assert_eq!(used(&s).await, Some(2_000));
    s.note_secret_used("s-c1", 1_000).await.unwrap();
    assert_eq!(
        used(&s).await,
        Some(2_000),
        "an older use, recorded late, changes nothing"
    );
}
