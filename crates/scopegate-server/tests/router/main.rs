//! The token, introspection and revocation endpoints through the router
//! (`tower::ServiceExt::oneshot`), on a real SQLite store and a clock the
//! tests move. Tokens for the refresh rules are seeded straight into the
//! store, as the authorization code grant would have issued them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

mod admin;
mod gateway;
mod jwt;
mod limits;
mod portal;
mod quotas;
mod refresh;
mod retention;
mod sessions;
mod token;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use scopegate_core::Policy;
use scopegate_server::{AppState, router};
use scopegate_service::credentials::secrets::{self, SecretKind};
use scopegate_store::{KeySetRecord, SqliteStore, Store, TokenKind, TokenRecord, UserRecord};
use tower::ServiceExt;

pub const POLICY: &str = r#"
environments = ["sandbox", "production"]

[[scope]]
name   = "account"
levels = ["read", "write"]

[[scope]]
name = "read_orders"
requires_permissions = ["Orders"]

[[scope]]
name    = "orders"
implies = ["read_orders"]
requires_permissions = ["Orders", "OrderStatuses"]

[[scope]]
name   = "sell.inventory"
grants = ["authorization_code"]

[[scope]]
name         = "feed"
environments = ["production"]

[[scope]]
name      = "no_expiry"
no_expiry = true

[[scope]]
name         = "decrypt"
max_lifetime = "90d"
"#;

pub struct Harness {
    pub app: axum::Router,
    pub state: AppState,
    pub store: SqliteStore,
    pub now: Arc<AtomicI64>,
    pub keys: Arc<scopegate_service::credentials::keys::Keys>,
    pub dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Client {
    pub id: String,
    pub secret: String,
}

pub const T0: i64 = 1_800_000_000;

impl Harness {
    pub async fn new() -> Harness {
        Harness::with_policy(POLICY).await
    }

    /// The same policy with access tokens as RFC 9068 JWTs.
    pub async fn jwt() -> Harness {
        // EdDSA, not the default ES256: the forgery tests sign with its key.
        Harness::with_policy(&format!(
            "{POLICY}\n[tokens]\nformat = \"jwt\"\nalgorithm = \"EdDSA\"\n"
        ))
        .await
    }

    pub async fn with_policy(source: &str) -> Harness {
        let dir = std::env::temp_dir().join(format!("scopegate-router-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}/t.db", dir.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let policy = Arc::new(Policy::compile("test.toml", source).unwrap());
        let now = Arc::new(AtomicI64::new(T0));
        let clock_now = Arc::clone(&now);
        let keys = Arc::new(
            scopegate_service::credentials::keys::Keys::load_or_create(
                &store,
                T0,
                policy.settings.tokens.algorithm,
                None,
            )
            .await
            .unwrap(),
        );
        let keys_for_tests = Arc::clone(&keys);
        let state = AppState::new(
            policy,
            store.clone(),
            Arc::new(move || clock_now.load(Ordering::SeqCst)),
            keys,
        );
        Harness {
            app: router(state.clone()),
            state,
            store,
            now,
            keys: keys_for_tests,
            dir: TempDir(dir),
        }
    }

    pub fn advance(&self, secs: i64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }

    /// Registers a confidential client in `env` with these scopes (defaults: `default`).
    pub async fn client(&self, env: &str, scopes: &str, default: &str, resource_server: bool) -> Client {
        let (secret, secret_record) = secrets::new_client_secret(T0, None);
        let id = secrets::generate(SecretKind::ClientId);
        let split = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let record = KeySetRecord {
            client_id: id.clone(),
            app_id: format!("app-{id}"),
            app_name: "Test".into(),
            owner: None,
            environment: env.into(),
            secrets: vec![secret_record],
            public: false,
            resource_server,
            scopes: split(scopes),
            default_scopes: split(default),
            redirect_uris: vec![],
            created_at: T0,
            tokens_revoked_before: None,
            registration: Default::default(),
        };
        self.store
            .create_app(&record.app_id, "Test", None, &record)
            .await
            .unwrap();
        Client { id, secret }
    }

    pub async fn user(&self, login: &str, permissions: &[&str]) {
        let u = UserRecord::local(
            login,
            "x".into(),
            permissions.iter().map(|p| (*p).to_owned()).collect(),
            T0,
        );
        assert!(self.store.create_user(&u).await.unwrap());
    }

    /// Seeds a user grant's refresh token, as the authorization code grant issues it.
    pub async fn seed_refresh(&self, client: &Client, subject: &str, grant_scope: &str, granted_at: i64) -> String {
        let secret = secrets::generate(SecretKind::RefreshToken);
        let t = TokenRecord {
            hash: secrets::hash(&secret),
            kind: TokenKind::Refresh,
            grant_id: secrets::generate(SecretKind::GrantId),
            client_id: client.id.clone(),
            subject: Some(subject.into()),
            grant_kind: "authorization_code".into(),
            scope: grant_scope.into(),
            grant_scope: grant_scope.into(),
            environment: "production".into(),
            granted_at,
            issued_at: T0,
            expires_at: Some(T0 + 30 * 86_400),
            used: false,
            revoked: false,
            resource: None,
        };
        self.store.insert_tokens(&[t]).await.unwrap();
        secret
    }

    /// POSTs a form with HTTP Basic client authentication (if given) and extra headers.
    pub async fn post(
        &self,
        path: &str,
        client: Option<&Client>,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = client {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.id, c.secret));
            req = req.header(header::AUTHORIZATION, format!("Basic {basic}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Reply { status, headers, json }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        }
    }

    /// An API request through the gateway (or `/authz`) with these headers.
    pub async fn api(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        // As every HTTP/1.1 client sends it (RFC 9112 section 3.2).
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req = req.header("host", "api.example");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Seeds an opaque access token as the token endpoint would have issued it.
    pub async fn seed_access(&self, seed: Seed<'_>) -> String {
        let secret = secrets::generate(SecretKind::AccessToken);
        let t = TokenRecord {
            hash: secrets::hash(&secret),
            kind: TokenKind::Access,
            grant_id: secrets::generate(SecretKind::GrantId),
            client_id: seed.client.id.clone(),
            subject: seed.subject.map(str::to_owned),
            grant_kind: if seed.subject.is_some() {
                "authorization_code"
            } else {
                "client_credentials"
            }
            .into(),
            scope: seed.scope.into(),
            grant_scope: seed.scope.into(),
            environment: seed.environment.into(),
            granted_at: seed.granted_at,
            issued_at: seed.granted_at,
            expires_at: seed.expires_at,
            used: false,
            revoked: false,
            resource: None,
        };
        self.store.insert_tokens(&[t]).await.unwrap();
        secret
    }

    pub async fn token(&self, client: &Client, form: &[(&str, &str)]) -> Reply {
        self.post("/oauth2/token", Some(client), form, &[]).await
    }
}

/// What [`Harness::seed_access`] seeds.
pub struct Seed<'a> {
    pub client: &'a Client,
    pub subject: Option<&'a str>,
    pub scope: &'a str,
    pub environment: &'a str,
    pub granted_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: serde_json::Value,
}

impl Reply {
    pub fn ok(&self) -> &serde_json::Value {
        assert_eq!(self.status, StatusCode::OK, "{:#}", self.json);
        &self.json
    }

    /// Asserts an RFC 6749 error with this code whose description has `fragment`.
    pub fn error(&self, code: &str, fragment: &str) {
        assert_eq!(self.json["error"], code, "{:#}", self.json);
        let description = self.json["error_description"].as_str().unwrap_or("");
        assert!(description.contains(fragment), "{description:?} lacks {fragment:?}");
        assert_eq!(self.headers[header::CACHE_CONTROL], "no-store");
    }
}

/// A confidential key set with exactly this client id and secret (ids that
/// `app create` would never make: for the parsing rules of credentials).
pub(crate) async fn key_set_with_id(h: &Harness, app_id: &str, client_id: &str, secret: &str) {
    let record = scopegate_store::KeySetRecord {
        client_id: client_id.into(),
        app_id: app_id.into(),
        app_name: app_id.into(),
        owner: None,
        environment: "production".into(),
        secrets: vec![scopegate_store::ClientSecret {
            id: format!("sgsi_{app_id}"),
            hash: scopegate_service::credentials::secrets::hash(secret),
            created_at: T0,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        }],
        public: false,
        resource_server: false,
        scopes: vec!["account:read".into()],
        default_scopes: vec!["account:read".into()],
        redirect_uris: vec![],
        created_at: T0,
        tokens_revoked_before: None,
        registration: Default::default(),
    };
    scopegate_store::Store::create_app(&h.store, app_id, app_id, None, &record)
        .await
        .unwrap();
}
