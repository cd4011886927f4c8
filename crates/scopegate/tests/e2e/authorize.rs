//! The authorization code grant through the real binary: a standard OAuth
//! client (`oauth2` crate, PKCE S256) and a small browser that keeps cookies
//! and submits the sign-in and consent forms as a user would.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope,
    TokenResponse, TokenUrl,
};

use crate::server::Server;

pub(crate) const REDIRECT: &str = "http://127.0.0.1/callback";

/// A browser: follows nothing by itself, keeps cookies, reads forms.
pub(crate) struct Browser {
    http: reqwest::Client,
    pub(crate) cookies: BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The hidden inputs of the page's form, unescaped.
    pub(crate) fn hidden(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for part in self.body.split("<input type=\"hidden\" name=\"").skip(1) {
            let (name, rest) = part.split_once('"').unwrap();
            let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
            out.push((unescape(name), unescape(value)));
        }
        out
    }
}

impl Page {
    /// The value of the hidden input `name`.
    pub(crate) fn field(&self, name: &str) -> String {
        self.hidden()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {name} on the page:\n{}", self.body))
    }
}

/// A confidential app's authorization code flow with PKCE against a
/// server: the app (made with `app create`), and the URL its user opens.
pub(crate) struct AppFlow {
    pub id: String,
    pub secret: String,
    pub url: String,
    client: BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    verifier: oauth2::PkceCodeVerifier,
}

impl AppFlow {
    /// "Order Sync" in production asking for `scope`, redirecting to [`REDIRECT`].
    pub(crate) fn start(server: &Server, scope: &str) -> AppFlow {
        let (id, secret) = server.app(&[
            "--name",
            "Order Sync",
            "--env",
            "production",
            "--scopes",
            scope,
            "--redirect-uri",
            REDIRECT,
        ]);
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_uri(AuthUrl::new(server.url("/oauth2/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(server.url("/oauth2/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(scope.into()))
            .set_pkce_challenge(challenge)
            .url();
        AppFlow {
            id,
            secret,
            url: url.to_string(),
            client,
            verifier,
        }
    }

    /// Exchanges the code of the consent page's answer `approved`.
    pub(crate) async fn token(self, approved: &Page) -> oauth2::basic::BasicTokenResponse {
        let back = approved.location();
        let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
        self.client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(self.verifier)
            .request_async(&crate::server::http())
            .await
            .unwrap()
    }
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#38;", "&")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub(crate) fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, r: reqwest::Response) -> Page {
        for c in r.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Page {
            status,
            headers,
            body: r.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> Page {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(String, String)]) -> Page {
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    /// Follows redirects from `answer` (the answer to `at`) until a page
    /// answers or the next stop is the app's [`REDIRECT`]; (the last
    /// answer, its URL).
    pub(crate) async fn follow(&mut self, mut at: String, mut answer: Page) -> (Page, String) {
        for _ in 0..20 {
            if !matches!(answer.status, 302 | 303) {
                break;
            }
            let next = reqwest::Url::parse(&at)
                .unwrap()
                .join(&answer.location())
                .unwrap()
                .to_string();
            if next.starts_with(REDIRECT) {
                return (answer, next);
            }
            at = next;
            answer = self.get(&at).await;
        }
        (answer, at)
    }

    /// Submits the page's form with `extra` fields added.
    pub(crate) async fn submit(&mut self, server: &Server, page: &Page, extra: &[(&str, &str)]) -> Page {
        let mut form = page.hidden();
        form.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.post(&server.url("/oauth2/authorize"), &form).await
    }
}

pub(crate) fn create_user(server: &Server, login: &str, permissions: &[&str]) {
    let mut args = vec![
        "user",
        "create",
        "--config",
        server.config.to_str().unwrap(),
        "--login",
        login,
        "--password-stdin",
    ];
    for p in permissions {
        args.extend(["--permission", p]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let pairs: Vec<(String, String)> = serde_urlencoded_lite(query);
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn serde_urlencoded_lite(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn authorization_code_with_pkce_sign_in_consent_exchange_and_refresh() {
    let s = Server::start("storefront");
    create_user(&s, "alice", &["Orders", "OrderStatuses"]);
    let (id, secret) = s.app(&[
        "--name",
        "Order Sync",
        "--env",
        "production",
        "--scopes",
        "orders decrypt",
        "--redirect-uri",
        REDIRECT,
    ]);
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_auth_uri(AuthUrl::new(s.url("/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("orders".into()))
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = Browser::new();
    let login = browser.get(url.as_str()).await;
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("Sign in") && login.body.contains("Order Sync"),
        "{}",
        login.body
    );
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert!(
        login.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(login.headers["referrer-policy"], "no-referrer");

    let wrong = browser
        .submit(
            &s,
            &login,
            &[("action", "login"), ("login", "alice"), ("password", "nope-nope-nope")],
        )
        .await;
    assert!(wrong.body.contains("Wrong login or password."), "{}", wrong.body);
    let signed_in = browser
        .submit(
            &s,
            &login,
            &[
                ("action", "login"),
                ("login", "alice"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    let consent = browser.get(&s.url(&signed_in.location())).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains("<code>orders</code>") && consent.body.contains("View and change order data"),
        "{}",
        consent.body
    );
    // The routes a scope opens are there on request, under its description.
    assert!(
        consent
            .body
            .contains("<summary>What it allows, route by route</summary>"),
        "the page says what the scope allows: {}",
        consent.body
    );

    let approved = browser.submit(&s, &consent, &[("action", "approve")]).await;
    assert_eq!(approved.status, 303);
    let back = approved.location();
    assert!(back.starts_with(&format!("{REDIRECT}?code=sgac_")), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(query_param(&back, "iss").as_deref(), Some("http://127.0.0.1:8080"));
    let code = query_param(&back, "code").unwrap();
    let db = scopegate_store::SqliteStore::connect(&format!(
        "sqlite://{}",
        s.config.with_file_name("scopegate.db").display()
    ))
    .await
    .unwrap();
    let consents = scopegate_store::Store::consents(&db, "alice").await.unwrap();
    assert_eq!(
        consents
            .iter()
            .map(|c| (c.client_id.as_str(), c.scope.as_str()))
            .collect::<Vec<_>>(),
        [(id.as_str(), "orders")]
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        token
            .scopes()
            .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["orders".to_owned()])
    );
    let refresh = token.refresh_token().expect("user tokens get a refresh token").clone();

    let narrowed = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .add_scope(Scope::new("read_orders".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        narrowed
            .scopes()
            .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["read_orders".to_owned()])
    );

    // The code is single-use: a replay fails and revokes what it issued.
    let replay = http
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(
        replay.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let seen = client
        .exchange_refresh_token(&RefreshToken::new(narrowed.refresh_token().unwrap().secret().clone()))
        .request_async(&http)
        .await;
    assert!(seen.is_err(), "the grant's tokens are revoked after a code replay");
}

#[tokio::test]
async fn consent_page_refuses_and_names_the_missing_permission() {
    let s = Server::start("storefront");
    create_user(&s, "bob", &["Orders"]);
    let (id, _) = s.app(&[
        "--name",
        "Order Sync",
        "--env",
        "production",
        "--scopes",
        "orders",
        "--redirect-uri",
        REDIRECT,
    ]);
    let url = format!(
        "{}?response_type=code&client_id={id}&scope=orders&state=s1",
        s.url("/oauth2/authorize")
    );
    let mut b = Browser::new();
    let login = b.get(&url).await;
    let signed_in = b
        .submit(
            &s,
            &login,
            &[
                ("action", "login"),
                ("login", "bob"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    let consent = b.get(&s.url(&signed_in.location())).await;
    assert_eq!(consent.status, 403);
    assert!(
        consent
            .body
            .contains("requires the permission <strong>OrderStatuses</strong>"),
        "{}",
        consent.body
    );
    assert!(!consent.body.contains("value=\"approve\""), "no way to approve");
    // Forcing approve anyway issues no code.
    let forced = b.submit(&s, &consent, &[("action", "approve")]).await;
    assert_eq!(forced.status, 403);
    assert!(forced.location().is_empty());
    let back = b.submit(&s, &consent, &[("action", "deny")]).await;
    assert_eq!(query_param(&back.location(), "error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let s = Server::start("storefront");
    let (id, _) = s.app(&[
        "--name",
        "A",
        "--env",
        "production",
        "--scopes",
        "orders",
        "--redirect-uri",
        REDIRECT,
    ]);
    let mut b = Browser::new();
    for bad in [
        "https://evil.example/cb",
        "http://127.0.0.1/callback/",
        "http://127.0.0.1:9999/callback",
    ] {
        let url = format!(
            "{}?response_type=code&client_id={id}&redirect_uri={}",
            s.url("/oauth2/authorize"),
            urlencode(bad)
        );
        let page = b.get(&url).await;
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.location().is_empty(), "{bad}: never redirect");
        assert!(page.body.contains("is not registered"), "{}", page.body);
    }
    let unknown = b
        .get(&format!(
            "{}?response_type=code&client_id=nobody",
            s.url("/oauth2/authorize")
        ))
        .await;
    assert_eq!(unknown.status, 400);
}

fn urlencode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", s)])
        .unwrap()
        .query()
        .unwrap()[2..]
        .to_owned()
}

#[tokio::test]
async fn public_clients_need_pkce_s256_and_plain_is_refused() {
    let s = Server::start("storefront");
    let (id, _) = s.app(&[
        "--name",
        "CLI",
        "--env",
        "production",
        "--scopes",
        "orders",
        "--public",
        "--redirect-uri",
        REDIRECT,
    ]);
    let mut b = Browser::new();
    let base = format!(
        "{}?response_type=code&client_id={id}&state=xyz",
        s.url("/oauth2/authorize")
    );
    let no_pkce = b.get(&base).await;
    assert_eq!(no_pkce.status, 303);
    assert_eq!(
        query_param(&no_pkce.location(), "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&no_pkce.location(), "state").as_deref(), Some("xyz"));
    let plain = b
        .get(&format!(
            "{base}&code_challenge={}&code_challenge_method=plain",
            "a".repeat(43)
        ))
        .await;
    assert!(
        query_param(&plain.location(), "error_description")
            .unwrap()
            .contains("plain is refused")
    );
    // A loopback redirect may use any port for a public client (RFC 8252).
    let ok = b
        .get(&format!(
            "{base}&code_challenge={}&code_challenge_method=S256&redirect_uri={}",
            "a".repeat(43),
            urlencode("http://127.0.0.1:53682/callback")
        ))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn forms_without_the_csrf_cookie_are_refused() {
    let s = Server::start("storefront");
    create_user(&s, "alice", &["Orders", "OrderStatuses"]);
    let (id, _) = s.app(&[
        "--name",
        "A",
        "--env",
        "production",
        "--scopes",
        "orders",
        "--redirect-uri",
        REDIRECT,
    ]);
    let mut b = Browser::new();
    let login = b
        .get(&format!(
            "{}?response_type=code&client_id={id}",
            s.url("/oauth2/authorize")
        ))
        .await;
    let mut attacker = Browser::new();
    let forged = attacker
        .submit(
            &s,
            &login,
            &[
                ("action", "login"),
                ("login", "alice"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("expired or was not sent from this site"));
}
