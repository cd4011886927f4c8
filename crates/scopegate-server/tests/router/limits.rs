//! `[limits]` (docs/security.md): each limit answers 429 with
//! `Retry-After` once its rate is spent, counts the key it names and no
//! other, and `X-Forwarded-For` names the client only through a trusted
//! proxy.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use scopegate_service::credentials::passwords::hash_password;
use scopegate_store::{Store, UserRecord};
use serde_json::Value;
use tower::ServiceExt;

use crate::{Client, Harness, POLICY, Seed, T0};

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A 429 with a `Retry-After` of at least one second.
    fn is_limited(&self) -> bool {
        self.status == StatusCode::TOO_MANY_REQUESTS
            && self.headers[header::RETRY_AFTER]
                .to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s >= 1)
    }
}

async fn limited_harness(limits: &str) -> Harness {
    Harness::with_policy(&format!(
        "{POLICY}\n[[route]]\nmatch = \"GET /api/*\"\nrequire = \"client\"\n\n{limits}"
    ))
    .await
}

/// Sends `request` as if it came from `from` (the socket's peer address).
async fn send(h: &Harness, mut request: Request<Body>, from: &str) -> Answer {
    let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = h.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn token_request(client: &Client) -> Request<Body> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.id, client.secret));
    Request::post("/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from("grant_type=client_credentials"))
        .unwrap()
}

fn api_request(token: &str, forwarded_for: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/api/x")
        .header(header::HOST, "api.example")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.body(Body::empty()).unwrap()
}

fn sign_in_request(login: &str, password: &str) -> Request<Body> {
    Request::post("/portal/sign-in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, "sg_csrf=sgcf_t")
        .body(Body::from(format!("csrf=sgcf_t&login={login}&password={password}")))
        .unwrap()
}

#[tokio::test]
async fn token_requests_past_the_client_limit_are_429_with_retry_after() {
    let h = limited_harness("[limits]\ntoken_per_client = \"2/1h\"").await;
    let app = h.client("production", "account:read", "account:read", false).await;
    let other = h.client("production", "account:read", "account:read", false).await;
    for _ in 0..2 {
        assert_eq!(send(&h, token_request(&app), "192.0.2.1").await.status, StatusCode::OK);
    }
    // From another address too: the budget is the client's.
    let refused = send(&h, token_request(&app), "192.0.2.2").await;
    assert!(refused.is_limited(), "{} {}", refused.status, refused.body);
    assert_eq!(refused.json()["error"], "rate_limited");
    assert!(
        refused.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("for this client")
    );
    // Another client is not touched.
    assert_eq!(
        send(&h, token_request(&other), "192.0.2.1").await.status,
        StatusCode::OK
    );
    // Wrong secrets spend nothing of the client's budget.
    let h = limited_harness("[limits]\ntoken_per_client = \"1/1h\"").await;
    let app = h.client("production", "account:read", "account:read", false).await;
    let forged = Client {
        id: app.id.clone(),
        secret: "sgcs_wrong".into(),
    };
    for _ in 0..3 {
        assert_eq!(
            send(&h, token_request(&forged), "198.51.100.1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(send(&h, token_request(&app), "192.0.2.1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_requests_past_the_address_limit_are_429() {
    let h = limited_harness("[limits]\ntoken_per_address = \"3/1h\"").await;
    let app = h.client("production", "account:read", "account:read", false).await;
    let forged = Client {
        id: app.id.clone(),
        secret: "sgcs_wrong".into(),
    };
    for _ in 0..3 {
        send(&h, token_request(&forged), "198.51.100.7").await;
    }
    let refused = send(&h, token_request(&app), "198.51.100.7").await;
    assert!(refused.is_limited(), "{} {}", refused.status, refused.body);
    // An IPv6 host's whole /64 shares one budget; other addresses have theirs.
    assert_eq!(send(&h, token_request(&app), "192.0.2.1").await.status, StatusCode::OK);
    for last in ["1", "2", "3"] {
        send(&h, token_request(&app), &format!("[2001:db8:5:5::{last}]")).await;
    }
    assert!(
        send(&h, token_request(&app), "[2001:db8:5:5:ffff::9]")
            .await
            .is_limited()
    );
    assert_eq!(
        send(&h, token_request(&app), "[2001:db8:5:6::1]").await.status,
        StatusCode::OK
    );
}

/// An app and a live access token of it (`account:read`).
async fn app_and_token(h: &Harness) -> (Client, String) {
    let app = h.client("production", "account:read", "account:read", false).await;
    let token = h
        .seed_access(Seed {
            client: &app,
            subject: None,
            scope: "account:read",
            environment: "production",
            granted_at: T0,
            expires_at: Some(T0 + 3600),
        })
        .await;
    (app, token)
}

/// Waits for the batching writer to store an audit event that `wanted`.
async fn audited(h: &Harness, wanted: impl Fn(&scopegate_store::AuditEvent) -> bool) {
    for _ in 0..100 {
        let log = Store::audit_log(&h.store, 50).await.unwrap();
        if log.iter().any(&wanted) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{:?}", Store::audit_log(&h.store, 50).await.unwrap());
}

async fn user(h: &Harness, login: &str) {
    let u = UserRecord::local(login, hash_password("a long password").unwrap(), vec![], T0);
    assert!(h.store.create_user(&u).await.unwrap());
}

#[tokio::test]
async fn a_locked_sign_in_is_locked_for_its_address_only() {
    let h = limited_harness("[limits]\nsign_in_failures = \"3/1h\"").await;
    user(&h, "ana").await;
    for _ in 0..3 {
        let wrong = send(&h, sign_in_request("ana", "guess"), "203.0.113.66").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    // Locked at the attacker's address, even with the right password: the
    // password is not even looked at.
    let locked = send(&h, sign_in_request("ana", "a+long+password"), "203.0.113.66").await;
    assert!(locked.is_limited(), "{} {}", locked.status, locked.body);
    assert!(locked.body.contains("Too many sign-in attempts"), "{}", locked.body);
    // Ana, elsewhere, signs in.
    let ana = send(&h, sign_in_request("ana", "a+long+password"), "192.0.2.10").await;
    assert_eq!(ana.status, StatusCode::SEE_OTHER, "{}", ana.body);
    // The audit trail says who was limited where.
    audited(&h, |e| {
        e.event == "sign_in_limited" && e.detail.contains("203.0.113.66")
    })
    .await;
}

#[tokio::test]
async fn sign_in_attempts_per_address_are_limited() {
    let h = limited_harness("[limits]\nsign_in_per_address = \"2/1h\"").await;
    user(&h, "ana").await;
    user(&h, "bo").await;
    send(&h, sign_in_request("ana", "guess"), "203.0.113.7").await;
    send(&h, sign_in_request("bo", "guess"), "203.0.113.7").await;
    // Spraying one password over many logins stops at the address's budget.
    assert!(
        send(&h, sign_in_request("cy", "guess"), "203.0.113.7")
            .await
            .is_limited()
    );
    assert_eq!(
        send(&h, sign_in_request("bo", "a+long+password"), "192.0.2.3")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn failed_gateway_authentications_past_the_limit_are_429() {
    let h = limited_harness("[limits]\ngateway_failures_per_address = \"2/1h\"").await;
    let (_, good) = app_and_token(&h).await;
    assert_eq!(
        send(&h, api_request(&good, None), "198.51.100.9").await.status,
        StatusCode::OK
    );
    for _ in 0..2 {
        let bad = send(&h, api_request("sgat_guess", None), "198.51.100.9").await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    }
    let refused = send(&h, api_request("sgat_guess", None), "198.51.100.9").await;
    assert!(refused.is_limited(), "{} {}", refused.status, refused.body);
    assert_eq!(refused.json()["error"], "rate_limited");
    // The address is held off whatever it presents, until the budget refills.
    assert!(send(&h, api_request(&good, None), "198.51.100.9").await.is_limited());
    // Forward-auth's peer is the proxy asking, not the client: with no
    // trusted proxy it is not counted, so that one client behind the proxy
    // cannot lock out the others.
    let authz = Request::get("/authz/api/x")
        .header(header::AUTHORIZATION, format!("Bearer {good}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h, authz, "198.51.100.9").await.status, StatusCode::OK);
    // Others are not affected.
    assert_eq!(
        send(&h, api_request(&good, None), "192.0.2.1").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_through_a_trusted_proxy() {
    let h = Harness::with_policy(&format!(
        "trusted_proxies = [\"10.0.0.0/8\"]\n{POLICY}\n[[route]]\nmatch = \"GET /api/*\"\nrequire = \"client\"\n\n[limits]\ngateway_failures_per_address = \"1/1h\""
    ))
    .await;
    let (app, good) = app_and_token(&h).await;
    // Through the trusted proxy, two clients are told apart.
    send(&h, api_request("sgat_guess", Some("203.0.113.1")), "10.0.0.5").await;
    assert!(
        send(&h, api_request(&good, Some("203.0.113.1")), "10.0.0.5")
            .await
            .is_limited()
    );
    assert_eq!(
        send(&h, api_request(&good, Some("203.0.113.2")), "10.0.0.5")
            .await
            .status,
        StatusCode::OK
    );
    // A stranger's X-Forwarded-For is not believed: it cannot pass for the
    // limited client, nor escape its own limit by naming another.
    assert_eq!(
        send(&h, api_request(&good, Some("203.0.113.1")), "198.51.100.3")
            .await
            .status,
        StatusCode::OK
    );
    send(&h, api_request("sgat_guess", Some("203.0.113.9")), "198.51.100.3").await;
    assert!(
        send(&h, api_request(&good, Some("203.0.113.10")), "198.51.100.3")
            .await
            .is_limited()
    );
    // Forward-auth through the trusted proxy counts the client it names.
    let authz = |xff: &str| {
        Request::get("/authz/api/x")
            .header(header::AUTHORIZATION, format!("Bearer {good}"))
            .header("x-forwarded-for", xff)
            .body(Body::empty())
            .unwrap()
    };
    assert!(send(&h, authz("203.0.113.1"), "10.0.0.5").await.is_limited());
    assert_eq!(send(&h, authz("203.0.113.2"), "10.0.0.5").await.status, StatusCode::OK);
    // The audit trail records the client's address, not the proxy's.
    let forged = Client {
        id: app.id.clone(),
        secret: "sgcs_wrong".into(),
    };
    let mut request = token_request(&forged);
    request
        .headers_mut()
        .insert("x-forwarded-for", "203.0.113.77".parse().unwrap());
    send(&h, request, "10.9.9.9").await;
    audited(&h, |e| {
        e.event == "client_auth_failed" && e.detail.contains("address=203.0.113.77")
    })
    .await;
}

#[tokio::test]
async fn admin_api_requests_past_the_token_limit_are_429() {
    let h = limited_harness("[limits]\nadmin_api_per_token = \"2/1h\"").await;
    let token = h.admin_token(&["admin:read"]).await;
    let other = h.admin_token(&["admin:read"]).await;
    let list = |t: &str| {
        Request::get("/admin/api/apps")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(send(&h, list(&token), "192.0.2.1").await.status, StatusCode::OK);
    }
    let refused = send(&h, list(&token), "192.0.2.1").await;
    assert!(refused.is_limited(), "{} {}", refused.status, refused.body);
    assert_eq!(refused.json()["error"], "rate_limited");
    assert!(refused.json()["message"].as_str().is_some());
    assert_eq!(send(&h, list(&other), "192.0.2.1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn limits_are_on_by_default_and_off_when_said() {
    let h = Harness::new().await;
    let app = h.client("production", "account:read", "account:read", false).await;
    let forged = Client {
        id: app.id.clone(),
        secret: "sgcs_wrong".into(),
    };
    // The default allows a burst of 600 token requests per address.
    let mut refused = 0;
    for _ in 0..620 {
        if send(&h, token_request(&forged), "198.51.100.1").await.is_limited() {
            refused += 1;
        }
    }
    assert!((1..=20).contains(&refused), "{refused} refused");
    let h = limited_harness("[limits]\ntoken_per_address = \"off\"").await;
    let app = h.client("production", "account:read", "account:read", false).await;
    let forged = Client {
        id: app.id.clone(),
        secret: "sgcs_wrong".into(),
    };
    for _ in 0..700 {
        assert!(!send(&h, token_request(&forged), "198.51.100.1").await.is_limited());
    }
}
