//! Clients the provider did not register (docs/mcp.md): RFC 7591
//! registration and Client ID Metadata Documents, through the real binary,
//! up to the consent page that says so and the token for the MCP server.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::authorize::{Browser, Page, create_user, query_param};
use crate::server::{Server, http};

const CALLBACK: &str = "http://127.0.0.1/callback";

/// examples/mcp at its issuer's port, with `[clients]` as given.
fn start(clients: &str) -> Server {
    let clients = clients.to_owned();
    let port = crate::free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    Server::launch_on(
        crate::server::new_dir(),
        "mcp",
        move |policy| {
            // The example's own [clients] gives way to the test's.
            let policy = policy.split("\n[clients]").next().unwrap_or_default().to_owned();
            format!(
                "{}\n[clients]\n{clients}\n",
                policy.replacen("\"http://127.0.0.1:8080\"", &format!("\"{issuer}\""), 1)
            )
        },
        &[],
        format!("127.0.0.1:{port}"),
    )
}

/// An authorize URL for a public client with PKCE, for the MCP server.
fn authorize_url(s: &Server, client_id: &str, challenge: &str) -> String {
    let query = serde_urlencoded_pairs(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("scope", "read_orders"),
        ("state", "st"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", &s.url("/mcp")),
    ]);
    s.url(&format!("/oauth2/authorize?{query}"))
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// Signs alice in from the login page and returns the consent page.
async fn consent(s: &Server, browser: &mut Browser, url: &str) -> Page {
    let login = browser.get(url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let signed_in = browser
        .submit(
            s,
            &login,
            &[
                ("action", "login"),
                ("login", "alice"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    browser.get(&s.url(&signed_in.location())).await
}

const VERIFIER: &str = "a-verifier-of-enough-length-for-pkce-0123456789abcdef";

fn challenge() -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

#[tokio::test]
async fn registration_is_off_unless_the_policy_opens_it() {
    let s = start("metadata_documents = false");
    let metadata = s.get_json("/.well-known/oauth-authorization-server").await;
    assert!(metadata.get("registration_endpoint").is_none(), "{metadata}");
    assert!(metadata.get("client_id_metadata_document_supported").is_none());
    let r = http()
        .post(s.url("/oauth2/register"))
        .json(&json!({"redirect_uris": [CALLBACK]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_client_gets_clients_scopes_only_and_the_consent_page_says_who_registered_it() {
    let s = start("registration = \"open\"\nscopes = [\"read_orders\", \"orders\"]");
    create_user(&s, "alice", &[]);
    let metadata = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(metadata["registration_endpoint"], s.url("/oauth2/register"));

    let refused = http()
        .post(s.url("/oauth2/register"))
        .json(&json!({"redirect_uris": ["http://evil.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_redirect_uri");
    let secret = http()
        .post(s.url("/oauth2/register"))
        .json(&json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        secret.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );

    let r = http()
        .post(s.url("/oauth2/register"))
        .json(&json!({"client_name": "Helpful Agent", "redirect_uris": [CALLBACK], "scope": "read_orders refunds"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let registered: Value = r.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert_eq!(
        registered["scope"], "read_orders orders",
        "[clients] scopes, never refunds"
    );

    let mut browser = Browser::new();
    let page = consent(&s, &mut browser, &authorize_url(&s, &client_id, &challenge())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Not registered by this service."), "{}", page.body);
    assert!(page.body.contains("Helpful Agent registered itself"), "{}", page.body);
    // The consent page says what the scope lets an agent do, by tool.
    assert!(page.body.contains("Lets an AI agent: list orders"), "{}", page.body);

    let approved = browser.submit(&s, &page, &[("action", "approve")]).await;
    let back = approved.location();
    let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let token = http()
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
            ("resource", &s.url("/mcp")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    let token: Value = token.json().await.unwrap();
    assert_eq!(token["scope"], "read_orders");

    // Asking for refunds, outside [clients] scopes, is refused.
    let mut browser = Browser::new();
    let url = authorize_url(&s, &client_id, &challenge()).replace("scope=read_orders", "scope=refunds");
    let refused = browser.get(&url).await;
    let back = refused.location();
    assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_scope"), "{back}");

    // The admin API lists it, as registered by itself.
    let o = crate::scopegate(&["app", "list", "--config", s.config.to_str().unwrap(), "--json"]);
    assert!(crate::stdout(&o).contains(&client_id));
}

/// Serves metadata documents the tests write, on loopback.
async fn documents() -> String {
    let app = axum::Router::new()
        .route(
            "/good.json",
            axum::routing::get(|uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
                let host = headers["host"].to_str().unwrap().to_owned();
                axum::Json(json!({
                    "client_id": format!("http://{host}{}", uri.path()),
                    "client_name": "Doc Agent",
                    "redirect_uris": [CALLBACK],
                }))
            }),
        )
        .route(
            "/other.json",
            axum::routing::get(|| async {
                axum::Json(json!({"client_id": "https://elsewhere.example/c.json", "redirect_uris": [CALLBACK]}))
            }),
        )
        .route(
            "/large.json",
            axum::routing::get(|| async {
                axum::Json(json!({"padding": "x".repeat(6000), "redirect_uris": [CALLBACK]}))
            }),
        )
        .route(
            "/slow.json",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(7)).await;
                "{}"
            }),
        )
        .route(
            "/moved.json",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/good.json") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_documents_are_read_with_limits_and_the_consent_page_names_their_host() {
    let docs = documents().await;
    let s = start("metadata_documents = true\nloopback_metadata_documents = true\nscopes = [\"read_orders\"]");
    create_user(&s, "alice", &[]);
    let metadata = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    let good = format!("{docs}/good.json");
    let mut browser = Browser::new();
    let page = consent(&s, &mut browser, &authorize_url(&s, &good, &challenge())).await;
    assert!(
        page.body.contains("Doc Agent is not registered with this service"),
        "{}",
        page.body
    );
    assert!(page.body.contains("a document at 127.0.0.1"), "{}", page.body);
    let approved = browser.submit(&s, &page, &[("action", "approve")]).await;
    let code = query_param(&approved.location(), "code").unwrap();
    let token = http()
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &good),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK, "{}", token.text().await.unwrap());

    for (doc, why) in [
        ("other.json", "is not its own URL"),
        ("large.json", "larger than 5120 bytes"),
        ("moved.json", "redirects are not followed"),
        ("slow.json", "did not arrive within 5 s"),
    ] {
        let url = format!("{docs}/{doc}");
        let page = Browser::new().get(&authorize_url(&s, &url, &challenge())).await;
        assert_eq!(page.status, 400, "{doc}");
        assert!(page.body.contains(why), "{doc}: {}", page.body);
    }
    let private = Browser::new()
        .get(&authorize_url(&s, "https://10.0.0.7/client.json", &challenge()))
        .await;
    assert_eq!(private.status, 400);
    assert!(private.body.contains("private or local address"), "{}", private.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_metadata_documents_are_refused_unless_allowed() {
    let docs = documents().await;
    let s = start("metadata_documents = true\nscopes = [\"read_orders\"]");
    let page = Browser::new()
        .get(&authorize_url(&s, &format!("{docs}/good.json"), &challenge()))
        .await;
    assert_eq!(page.status, 400);
    let https_loopback = Browser::new()
        .get(&authorize_url(&s, "https://127.0.0.1:1/client.json", &challenge()))
        .await;
    assert!(
        https_loopback.body.contains("private or local address"),
        "{}",
        https_loopback.body
    );
}

/// The consent page an agent nobody registered brings its user to, in a real
/// browser: it says so, names the tools each scope lets the agent use, and
/// is accessible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_page_for_an_unregistered_agent_reads_well_in_a_browser() {
    let Some(b) = crate::portal::browser().await else {
        return;
    };
    let s = start("registration = \"open\"\nscopes = [\"read_orders\", \"orders\"]");
    create_user(&s, "alice", &[]);
    let registered: Value = http()
        .post(s.url("/oauth2/register"))
        .json(&json!({"client_name": "Order Assistant", "redirect_uris": [CALLBACK]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let url = authorize_url(&s, client_id, &challenge()).replace("scope=read_orders", "scope=read_orders+orders");
    b.go(&url).await;
    b.fill("#login", "alice").await;
    b.fill("#password", "correct horse battery").await;
    b.click("button[type=submit]").await;
    let text = b.wait_text("Allow Order Assistant?").await;
    assert!(text.contains("Not registered by this service."), "{text}");
    assert!(
        text.contains("Lets an AI agent: list orders, create orders, refund orders"),
        "{text}"
    );
    b.assert_accessible("consent for an unregistered agent").await;
    b.screenshot("consent-mcp-agent").await;
}
