//! Signing in through an upstream OpenID Connect provider (docs/users.md),
//! end to end against a real one: panva's `oidc-provider` from npm
//! (interop/oidc_op.mjs), whose users and groups live in a JSON file the
//! test edits "upstream". A third-party app's authorization code flow runs
//! through the provider's sign-in to a scopegate token and a gateway call.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use oauth2::TokenResponse;
use serde_json::json;

use crate::authorize::{AppFlow, Browser, Page};
use crate::server::Server;

const IDP_SECRET: &str = "idp-client-secret-0123456789abcdef";

/// A running oidc-provider; killed on drop.
struct Provider {
    child: Child,
    issuer: String,
    accounts: PathBuf,
    command: Command,
    port: u16,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.accounts);
    }
}

impl Provider {
    /// Starts one for a scopegate at `scopegate` (its callback registered),
    /// or says the test was skipped (fails under CI) without Node.js or
    /// the npm package.
    fn start(scopegate: &str, accounts: serde_json::Value, env: &[(&str, &str)]) -> Option<Provider> {
        let module = std::env::var_os("OIDC_PROVIDER")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::workspace_root().join("target/ci-node/node_modules/oidc-provider/lib/index.js"));
        if !module.exists() {
            scopegate_store::testing::missing(&format!(
                "upstream sign-in: oidc-provider is not installed at {} (.ci/run installs it from npm)",
                module.display()
            ));
            return None;
        }
        let port = crate::free_port();
        let file = std::env::temp_dir().join(format!("scopegate-op-{}-{port}.json", std::process::id()));
        std::fs::write(&file, accounts.to_string()).unwrap();
        let mut command = Command::new("node");
        command
            .arg(crate::workspace_root().join("interop/oidc_op.mjs"))
            .env("OIDC_PROVIDER", &module)
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", format!("{scopegate}/oauth2/idp/corp/callback"))
            .env("CLIENT_SECRET", IDP_SECRET)
            .env("ACCOUNTS", &file)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().expect("node runs");
        let mut op = Provider {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            accounts: file,
            command,
            port,
        };
        op.wait_listening();
        Some(op)
    }

    fn wait_listening(&mut self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("oidc-provider did not start");
    }

    /// Stops the provider and starts it again on the same address: with a
    /// new signing key (a rotation), and none of its sessions.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = self.command.spawn().expect("node runs");
        self.wait_listening();
    }

    /// Changes who signs in next and what the provider says of its users.
    fn set_accounts(&self, accounts: serde_json::Value) {
        std::fs::write(&self.accounts, accounts.to_string()).unwrap();
    }
}

fn accounts(next: &str, groups: &[&str]) -> serde_json::Value {
    json!({
        "next": next,
        "users": {
            "ana": { "preferred_username": "ana", "name": "Ana Lima", "groups": groups },
            "bob": { "preferred_username": "bob", "groups": [] },
        }
    })
}

/// The storefront example behind a scopegate on `port`, signing in at the
/// provider `issuer` (store-admins get the order permissions).
fn policy(policy: String, port: u16, issuer: &str, secret_file: &std::path::Path, extra: &str) -> String {
    let policy = policy.replacen("\"http://127.0.0.1:8080\"", &format!("\"http://127.0.0.1:{port}\""), 1);
    format!(
        "{policy}\n[[identity_provider]]\nname = \"corp\"\nlabel = \"Corp SSO\"\nissuer = \"{issuer}\"\nclient_id = \"scopegate\"\n\
         client_secret_file = \"{}\"\nscopes = [\"openid\", \"profile\", \"groups\"]\nlogin_claim = \"preferred_username\"\n{extra}\n\
         [[identity_provider.permissions]]\nclaim = \"groups\"\nvalue = \"store-admins\"\ngrant = [\"Orders\", \"OrderStatuses\"]\n\
         [[identity_provider.permissions]]\nclaim = \"groups\"\nvalue = \"ops\"\ngrant = [\"admin\"]\n",
        secret_file.display()
    )
}

struct Setup {
    server: Server,
    op: Provider,
}

fn setup(extra: &str, users: serde_json::Value) -> Option<Setup> {
    setup_with(extra, users, &[])
}

/// [`setup`], the provider started with `env` too.
fn setup_with(extra: &str, users: serde_json::Value, env: &[(&str, &str)]) -> Option<Setup> {
    let port = crate::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let op = Provider::start(&base, users, env)?;
    let dir = crate::server::new_dir();
    let secret_file = dir.join("idp-secret");
    std::fs::write(&secret_file, IDP_SECRET).unwrap();
    let issuer = op.issuer.clone();
    let extra = extra.to_owned();
    let server = Server::launch_on(
        dir,
        "storefront",
        move |p| policy(p, port, &issuer, &secret_file, &extra),
        &[],
        format!("127.0.0.1:{port}"),
    );
    Some(Setup { server, op })
}

/// Presses "Sign in with Corp SSO" on a sign-in page and follows every
/// redirect (the provider's pages included) until a page answers.
async fn sign_in_with_corp(browser: &mut Browser, server: &Server, page: &Page) -> (Page, String) {
    assert!(page.body.contains("Sign in with Corp SSO"), "{}", page.body);
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), page.field("return_to")),
    ];
    let at = server.url("/oauth2/idp/corp/start");
    let answer = browser.post(&at, &form).await;
    browser.follow(at, answer).await
}

#[tokio::test]
async fn an_app_gets_a_user_token_through_upstream_sign_in_and_a_group_removed_upstream_ends_it() {
    let Some(Setup { server, op }) = setup("", accounts("ana", &["store-admins"])) else {
        return;
    };
    let flow = AppFlow::start(&server, "orders");
    let mut browser = Browser::new();
    let login = browser.get(&flow.url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let csp = login.headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {}", op.issuer)),
        "the provider's sign-in may follow the form: {csp}"
    );

    let (consent, at) = sign_in_with_corp(&mut browser, &server, &login).await;
    assert_eq!(consent.status, 200, "at {at}: {}", consent.body);
    assert!(
        at.starts_with(&server.url("/oauth2/authorize?")),
        "back where it started: {at}"
    );
    assert!(
        consent.body.contains("<code>orders</code>") && consent.body.contains("ana"),
        "{}",
        consent.body
    );

    let approved = browser.submit(&server, &consent, &[("action", "approve")]).await;
    let token = flow.token(&approved).await;
    let http = crate::server::http();
    let bearer = token.access_token().secret().clone();
    let call = |bearer: String| {
        let http = http.clone();
        let url = server.url("/api/v1/orders");
        async move { http.get(url).bearer_auth(bearer).send().await.unwrap() }
    };
    let answer = call(bearer.clone()).await;
    assert_eq!(answer.status(), 200, "the gateway lets the token through");
    let echoed: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        echoed["headers"]["x-scopegate-subject"], "ana",
        "the login claim is the subject"
    );

    let shown = crate::scopegate(&[
        "user",
        "show",
        "--config",
        server.config.to_str().unwrap(),
        "--json",
        "ana",
    ]);
    let user: serde_json::Value =
        serde_json::from_slice(&shown.stdout).unwrap_or_else(|_| panic!("{}", crate::stderr(&shown)));
    assert_eq!(user["source"], "idp:corp");
    assert_eq!(user["source_permissions"], json!(["OrderStatuses", "Orders"]));

    // Upstream, ana leaves store-admins; her next sign-in replaces what the
    // provider vouches for, and the token she gave the app stops at once.
    op.set_accounts(accounts("ana", &["interns"]));
    let mut again = Browser::new();
    let portal = again.get(&server.url("/portal/sign-in")).await;
    let (home, at) = sign_in_with_corp(&mut again, &server, &portal).await;
    assert_eq!(home.status, 200, "at {at}: {}", home.body);
    assert!(at.ends_with("/portal/"), "{at}");
    // The gateway trusts a verified token for `cache_ttl` (5 s) at most.
    let mut refused = 0;
    for _ in 0..80 {
        refused = call(bearer.clone()).await.status().as_u16();
        if refused == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        refused, 403,
        "a permission removed upstream refuses the old token at the gateway"
    );
}

#[tokio::test]
async fn upstream_failures_end_on_the_sign_in_page_with_a_message_and_no_session() {
    let Some(Setup { server, op }) = setup("", accounts("!deny", &[])) else {
        return;
    };
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    let (answer, at) = sign_in_with_corp(&mut browser, &server, &page).await;
    assert!(at.ends_with("/portal/sign-in"), "{at}");
    assert!(
        answer
            .body
            .contains("Corp SSO did not sign you in (access_denied: the user said no)"),
        "{}",
        answer.body
    );
    assert!(!browser.cookies.contains_key("sg_session"), "no session");

    // A callback replayed, or carrying a state nobody issued.
    op.set_accounts(accounts("ana", &[]));
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), "/portal/".to_owned()),
    ];
    let mut at = server.url("/oauth2/idp/corp/start");
    let mut answer = browser.post(&at, &form).await;
    let mut callback = String::new();
    for _ in 0..20 {
        let next = reqwest::Url::parse(&at)
            .unwrap()
            .join(&answer.location())
            .unwrap()
            .to_string();
        if next.contains("/oauth2/idp/corp/callback") {
            callback = next;
            break;
        }
        at = next;
        answer = browser.get(&at).await;
    }
    assert!(!callback.is_empty());
    // Another browser cannot finish it (login CSRF).
    let mut stranger = Browser::new();
    let _ = stranger.get(&server.url("/portal/sign-in")).await;
    let refused = stranger.get(&callback).await;
    assert_eq!(refused.status, 303);
    let shown = stranger.get(&server.url(&refused.location())).await;
    assert!(
        shown.body.contains("This sign-in was already used") || shown.body.contains("started in another browser"),
        "{}",
        shown.body
    );
    assert!(!stranger.cookies.contains_key("sg_session"));
    // Its use by the stranger spent it: the right browser is refused too (single use).
    let replay = browser.get(&callback).await;
    let shown = browser.get(&server.url(&replay.location())).await;
    assert!(
        shown.body.contains("This sign-in was already used. Start again."),
        "{}",
        shown.body
    );
    assert!(!browser.cookies.contains_key("sg_session"));
    let forged = browser
        .get(&server.url("/oauth2/idp/corp/callback?code=x&state=made-up"))
        .await;
    let shown = browser.get(&server.url(&forged.location())).await;
    assert!(
        shown.body.contains("This sign-in is unknown or has expired"),
        "{}",
        shown.body
    );

    // Failures are audited through the batching writer: written within moments.
    let reasons = [
        "upstream error=access_denied",
        "challenge of another browser",
        "replayed challenge",
        "unknown state",
    ];
    let text = audit_until(&server, |text| reasons.iter().all(|r| text.contains(r))).await;
    for reason in reasons {
        assert!(text.contains(reason), "audited: {reason}\n{text}");
    }
}

#[test]
fn explain_claims_answers_which_scopes_a_user_with_these_claims_could_grant() {
    let dir = crate::server::new_dir();
    let source = std::fs::read_to_string(crate::workspace_root().join("examples/storefront/scopegate.toml")).unwrap();
    let config = dir.join("scopegate.toml");
    std::fs::write(
        &config,
        policy(
            source,
            8080,
            "https://login.example.com",
            &dir.join("secret"),
            "default_permissions = [\"Blogs\"]",
        ),
    )
    .unwrap();
    let claims = dir.join("claims.json");
    let run = |json: serde_json::Value| {
        std::fs::write(&claims, json.to_string()).unwrap();
        let o = crate::scopegate(&[
            "explain",
            "--config",
            config.to_str().unwrap(),
            "--claims",
            claims.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", crate::stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let admin = run(json!({"sub": "1", "preferred_username": "ana", "groups": ["x", "store-admins"]}));
    assert!(
        admin.contains("login        ana  (claim preferred_username)"),
        "{admin}"
    );
    assert!(
        admin.contains("row          groups = \"store-admins\" -> Orders OrderStatuses  (matches)"),
        "{admin}"
    );
    assert!(admin.contains("permissions  Blogs OrderStatuses Orders"), "{admin}");
    assert!(admin.contains("may grant    read_orders orders"), "{admin}");
    let intern = run(json!({"sub": "2", "groups": "interns"}));
    assert!(
        intern.contains("login        none"),
        "a missing login claim is said: {intern}"
    );
    assert!(intern.contains("(no match)"), "{intern}");
    assert!(
        intern.contains("may not      orders  (needs Orders OrderStatuses)"),
        "{intern}"
    );
    let o = crate::scopegate(&[
        "explain",
        "--config",
        config.to_str().unwrap(),
        "--claims",
        claims.to_str().unwrap(),
        "--idp",
        "nope",
    ]);
    assert!(!o.status.success());
    assert!(
        crate::stderr(&o).contains("no [[identity_provider]] of that name (it has: corp)"),
        "{}",
        crate::stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Signs in at the portal through the provider; (last page, its URL).
async fn portal_sign_in(server: &Server) -> (Browser, Page, String) {
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    let (answer, at) = sign_in_with_corp(&mut browser, server, &page).await;
    (browser, answer, at)
}

fn user_json(server: &Server, login: &str) -> serde_json::Value {
    let o = crate::scopegate(&[
        "user",
        "show",
        "--config",
        server.config.to_str().unwrap(),
        "--json",
        login,
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test]
async fn admitted_users_only_no_linking_across_sources_and_local_permissions_survive() {
    let Some(Setup { server, op }) = setup("users = \"existing\"", accounts("ana", &["store-admins", "ops"])) else {
        return;
    };
    let config = server.config.to_str().unwrap().to_owned();
    // Not admitted: refused, with the reason on the sign-in page.
    let (browser, page, at) = portal_sign_in(&server).await;
    assert!(at.ends_with("/portal/sign-in"), "{at}");
    assert!(page.body.contains("has not been given access here"), "{}", page.body);
    assert!(!browser.cookies.contains_key("sg_session"));

    // Admitted by an operator, with a local permission of its own.
    let o = crate::scopegate(&[
        "user",
        "create",
        "--config",
        &config,
        "--idp",
        "corp",
        "--login",
        "ana",
        "--permission",
        "Blogs",
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    assert_eq!(
        user_json(&server, "ana")["subject"],
        serde_json::Value::Null,
        "not bound before the first sign-in"
    );
    let (browser, page, at) = portal_sign_in(&server).await;
    assert!(at.ends_with("/portal/"), "{at}: {}", page.body);
    assert!(browser.cookies.contains_key("sg_session"));
    let ana = user_json(&server, "ana");
    assert_eq!(ana["subject"], "ana", "the provider's sub is bound");
    assert_eq!(ana["permissions"], json!(["Blogs"]), "local permissions are kept");
    assert_eq!(ana["source_permissions"], json!(["OrderStatuses", "Orders", "admin"]));
    assert_eq!(ana["holds"], json!(["Blogs", "OrderStatuses", "Orders", "admin"]));
    // The provider's `admin` makes a portal administrator.
    let mut browser = browser;
    let admin = browser.get(&server.url("/portal/admin/")).await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    assert!(
        admin.body.contains("From idp:corp"),
        "the administration shows sources: {}",
        admin.body
    );

    // A local password user named bob: the provider's bob is never linked to it.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args([
            "user",
            "create",
            "--config",
            &config,
            "--login",
            "bob",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"a long password\n").unwrap();
    assert!(child.wait().unwrap().success());
    op.set_accounts(accounts("bob", &[]));
    let (browser, page, _) = portal_sign_in(&server).await;
    assert!(
        page.body
            .contains("The login bob already belongs to another account here (a scopegate password)"),
        "{}",
        page.body
    );
    assert!(!browser.cookies.contains_key("sg_session"));
    assert_eq!(user_json(&server, "bob")["source"], "local", "untouched");
}

#[tokio::test]
async fn provider_permissions_lapse_after_permissions_max_age_at_the_gateway_and_at_refresh() {
    let Some(Setup { server, op: _op }) = setup("permissions_max_age = \"3s\"", accounts("ana", &["store-admins"]))
    else {
        return;
    };
    let flow = AppFlow::start(&server, "orders");
    let (id, secret) = (flow.id.clone(), flow.secret.clone());
    let mut browser = Browser::new();
    let login = browser.get(&flow.url).await;
    let (consent, _) = sign_in_with_corp(&mut browser, &server, &login).await;
    let approved = browser.submit(&server, &consent, &[("action", "approve")]).await;
    let token = flow.token(&approved).await;
    let http = crate::server::http();
    let lapse = user_json(&server, "ana")["source_permissions_lapse_at"].clone();
    assert!(lapse.is_string(), "user show says when: {lapse}");
    let bearer = token.access_token().secret().clone();
    let status = || {
        let http = http.clone();
        let url = server.url("/api/v1/orders");
        let bearer = bearer.clone();
        async move {
            http.get(url)
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status().await, 200);
    // 3 s of permission, plus the gateway's cache_ttl (5 s) at most.
    let mut last = 200;
    for _ in 0..100 {
        last = status().await;
        if last == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last, 403, "lapsed provider permissions refuse the scope they gated");
    let refreshed = http
        .post(server.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token.refresh_token().unwrap().secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400);
    let body: serde_json::Value = refreshed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope", "{body}");
}

#[tokio::test]
async fn an_unreachable_provider_is_shown_unavailable_and_passwords_still_work() {
    let dir = crate::server::new_dir();
    let secret_file = dir.join("idp-secret");
    std::fs::write(&secret_file, IDP_SECRET).unwrap();
    let closed = crate::free_port();
    let port = crate::free_port();
    let server = Server::launch_on(
        dir,
        "storefront",
        move |p| policy(p, port, &format!("http://127.0.0.1:{closed}"), &secret_file, ""),
        &[],
        format!("127.0.0.1:{port}"),
    );
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    assert_eq!(page.status, 200, "never a 5xx page");
    assert!(page.body.contains("Corp SSO is unavailable right now"), "{}", page.body);
    assert!(page.body.contains("name=\"password\""), "the password form stays");
    // Pressed anyway: back on the page, told so.
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), "/portal/".to_owned()),
    ];
    let answer = browser.post(&server.url("/oauth2/idp/corp/start"), &form).await;
    assert_eq!(answer.status, 303);
    let shown = browser.get(&server.url(&answer.location())).await;
    assert!(
        shown
            .body
            .contains("Corp SSO is unavailable right now. Try again in a minute."),
        "{}",
        shown.body
    );
}

/// In a real browser (Chromium enforces the sign-in page's CSP `form-action`
/// on the redirect to the provider): the portal's sign-in page offers the
/// provider, is accessible, and one click signs the user in.
#[tokio::test]
async fn a_real_browser_signs_in_to_the_portal_through_the_provider() {
    let Some(Setup { server, op }) = setup("", accounts("!deny", &["store-admins", "ops"])) else {
        return;
    };
    let Some(b) = crate::portal::browser().await else {
        return;
    };
    b.go(&server.url("/portal/sign-in")).await;
    b.wait_text("Sign in with Corp SSO").await;
    b.assert_accessible("sign-in page with a provider").await;
    b.screenshot("portal-sign-in-provider").await;
    // The provider says no: back on the page, told why.
    b.click(".providers button.primary").await;
    b.wait_text("Corp SSO did not sign you in").await;
    b.assert_accessible("sign-in page with a failure").await;
    b.screenshot("portal-sign-in-refused").await;
    op.set_accounts(accounts("ana", &["store-admins", "ops"]));
    b.click(".providers button.primary").await;
    b.wait_path("/portal/").await;
    assert!(b.body().await.contains("ana"), "signed in as ana");
    // A provider's administrator sees where each user signs in.
    b.go(&server.url("/portal/admin/")).await;
    b.wait_text("From idp:corp").await;
    b.assert_accessible("administration with provider users").await;
    b.screenshot("portal-admin-sources").await;
}

/// Every check of the ID token, against a real provider answering with a
/// forged one: a wrong audience, nonce, issuer, authorized party, an
/// expired token, a changed payload, `alg: none`, and HS256 keyed with the
/// client secret. Each ends on the sign-in page with no session; a token
/// that expired seconds ago is within the leeway for clock skew.
#[tokio::test]
async fn forged_id_tokens_are_refused() {
    let Some(Setup { server, op }) = setup("", accounts("ana", &["store-admins"])) else {
        return;
    };
    for mode in [
        "aud",
        "nonce",
        "iss",
        "azp",
        "exp",
        "signature",
        "none",
        "hs256",
        "",
        "skew",
    ] {
        let mut users = accounts("ana", &["store-admins"]);
        users["tamper"] = json!(mode);
        op.set_accounts(users);
        let (browser, page, at) = portal_sign_in(&server).await;
        if mode.is_empty() || mode == "skew" {
            // Untampered, or expired 30 s ago: within the minute of clock skew allowed.
            assert!(at.ends_with("/portal/"), "{mode:?} signs in: {at}");
            continue;
        }
        assert!(at.ends_with("/portal/sign-in"), "{mode}: {at}");
        assert!(
            page.body.contains("Corp SSO&#39;s ID token is not valid")
                || page.body.contains("Corp SSO's ID token is not valid"),
            "{mode}: {}",
            page.body
        );
        assert!(!browser.cookies.contains_key("sg_session"), "{mode}: no session");
    }
    let text = audit_until(&server, |text| text.matches("refused: bad id_token").count() >= 8).await;
    assert_eq!(text.matches("refused: bad id_token").count(), 8, "{text}");
}

/// The audit trail once `done` says it holds what is awaited (or after 5 s).
async fn audit_until(server: &Server, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        let audit = crate::scopegate(&["audit", "--config", server.config.to_str().unwrap()]);
        text = String::from_utf8_lossy(&audit.stdout).into_owned();
        if done(&text) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    text
}

/// A provider that puts only `sub` in the ID token (as many do by default):
/// the login claim and the groups come from its userinfo endpoint.
#[tokio::test]
async fn claims_the_id_token_lacks_are_read_from_userinfo() {
    let Some(Setup { server, op: _op }) =
        setup_with("", accounts("ana", &["store-admins"]), &[("CLAIMS_AT", "userinfo")])
    else {
        return;
    };
    let (_, page, at) = portal_sign_in(&server).await;
    assert!(at.ends_with("/portal/"), "{at}: {}", page.body);
    let ana = user_json(&server, "ana");
    assert_eq!(
        ana["source_permissions"],
        json!(["OrderStatuses", "Orders"]),
        "groups from userinfo"
    );
    assert_eq!(ana["name"], "Ana Lima");
}

/// The provider rotates its signing key (here: a restart with a new one):
/// the next ID token names a key scopegate has not seen, and scopegate
/// fetches the keys again instead of refusing.
#[tokio::test]
async fn a_rotated_provider_key_is_fetched_again() {
    let Some(Setup { server, mut op }) = setup("", accounts("ana", &["store-admins"])) else {
        return;
    };
    let (_, page, at) = portal_sign_in(&server).await;
    assert!(at.ends_with("/portal/"), "{at}: {}", page.body);
    op.restart();
    let (_, page, at) = portal_sign_in(&server).await;
    assert!(
        at.ends_with("/portal/"),
        "signed in under the new key: {at}: {}",
        page.body
    );
}
