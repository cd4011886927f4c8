//! The developer portal in a real browser: Debian's Chromium, headless,
//! driven through chromedriver (WebDriver) by fantoccini, against the real
//! binary. With `SCOPEGATE_SCREENSHOTS=DIR` each main page is saved as a PNG
//! there (docs/screenshots/ holds the ones the README shows).
//!
//! Without chromedriver on the PATH these tests say so and pass, except
//! under CI (`CI` set), where a missing browser is a failure.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::server::{Server, http};
use crate::{free_port, scopegate};

/// A headless Chromium session; the driver is stopped on drop.
pub(crate) struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<String> {
    ["chromedriver", "/usr/bin/chromedriver"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

/// The widths every page is checked and photographed at, in CSS pixels.
const DESKTOP: u32 = 1280;
const PHONE: u32 = 390;

/// Starts a browser, or `None` (outside CI) when none is installed.
pub(crate) async fn browser() -> Option<Browser> {
    let Some(driver_bin) = chromedriver() else {
        scopegate_store::testing::missing(
            "chromedriver is not installed (Debian: apt-get install chromium chromium-driver)",
        );
        return None;
    };
    let port = free_port();
    let driver = Command::new(driver_bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut caps = serde_json::Map::new();
    let mut chrome = serde_json::json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1400", "--force-device-scale-factor=1", "--lang=en-US"],
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = "/usr/bin/chromium".into();
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return Some(Browser { client, driver }),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start: {last:?}");
}

impl Browser {
    pub(crate) async fn go(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear
    /// (a click that submits a form returns before the next page loads).
    pub(crate) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css:?} on the page: {e}"))
    }

    /// The page's text once it contains `text` (up to 10 s).
    pub(crate) async fn wait_text(&self, text: &str) -> String {
        let mut body = String::new();
        for _ in 0..100 {
            body = self.body().await;
            if body.contains(text) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{text:?} never appeared; the page reads:\n{body}");
    }

    /// Waits (up to 10 s) until the browser is at `path`.
    pub(crate) async fn wait_path(&self, path: &str) {
        let mut now = String::new();
        for _ in 0..100 {
            now = self.path().await;
            if now == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the browser is at {now}, not {path}");
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The current page's text, as it is now.
    pub(crate) async fn body(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    pub(crate) async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        format!(
            "{}{}",
            url.path(),
            url.query().map(|q| format!("?{q}")).unwrap_or_default()
        )
    }

    /// Saves the page as `NAME.png` under `SCOPEGATE_SCREENSHOTS`, if set.
    /// With `SCOPEGATE_SCREENSHOTS` set, saves this page at desktop width
    /// as `NAME.png` and at phone width as `NAME-phone.png` there.
    pub(crate) async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SCOPEGATE_SCREENSHOTS") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (width, suffix) in [(DESKTOP, ""), (PHONE, "-phone")] {
            self.set_width(width).await;
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}{suffix}.png")), png).unwrap();
        }
        self.set_width(DESKTOP).await;
    }

    /// Makes the viewport `width` CSS pixels wide (the window is a little
    /// wider than its viewport, and a resize may take a moment to apply).
    async fn set_width(&self, width: u32) {
        let mut window = width;
        for _ in 0..40 {
            self.client.set_window_size(window, 1400).await.unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
            let inner = self
                .client
                .execute("return window.innerWidth", vec![])
                .await
                .unwrap()
                .as_u64()
                .unwrap();
            if inner == u64::from(width) {
                return;
            }
            // Widen the window by what its frame takes from the viewport.
            window = (i64::from(window) + i64::from(width) - inner as i64).max(1) as u32;
        }
        panic!("the viewport never took {width} px");
    }

    /// Fails if this page scrolls sideways at `width`: something wider than
    /// the viewport (a table squeezed no further, an unbroken line).
    async fn assert_fits(&self, page: &str, width: u32) {
        self.set_width(width).await;
        let sizes = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth,
                   [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > window.innerWidth)
                     .slice(-3).map(e => e.outerHTML.slice(0, 120))]",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert_eq!(inner, u64::from(width), "{page}: the viewport did not take the width");
        assert!(
            scroll <= inner,
            "{page} scrolls sideways at {width} px: {scroll} px wide, past it: {:#?}",
            sizes[2]
        );
    }

    /// axe-core's serious and critical violations on this page, if axe-core
    /// is installed (`AXE_CORE` names axe.min.js), else `None`.
    pub(crate) async fn accessibility_violations(&self) -> Option<Vec<String>> {
        let Some(path) = std::env::var_os("AXE_CORE") else {
            scopegate_store::testing::missing(
                "AXE_CORE does not name axe.min.js (.ci/run installs axe-core from npm); accessibility not checked",
            );
            return None;
        };
        let source = std::fs::read_to_string(path).unwrap();
        // The portal's CSP forbids inline scripts from the page; WebDriver's
        // script execution is not subject to it.
        self.client.execute(&source, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(
                     r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                      .map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')));",
                vec![],
            )
            .await
            .unwrap();
        Some(
            result
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
        )
    }

    /// Fails on any serious or critical accessibility violation of this page.
    /// Also checks that the page fits a phone's width and a desktop's.
    pub(crate) async fn assert_accessible(&self, page: &str) {
        if let Some(violations) = self.accessibility_violations().await {
            assert!(violations.is_empty(), "{page}: {violations:#?}");
        }
        self.assert_fits(page, PHONE).await;
        self.assert_fits(page, DESKTOP).await;
    }
}

/// Creates a user with `scopegate user create`.
pub(crate) fn user(s: &Server, login: &str, password: &str, permissions: &[&str]) {
    let mut args = vec![
        "user",
        "create",
        "--config",
        s.config.to_str().unwrap(),
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
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    assert!(child.wait().unwrap().success());
}

async fn sign_in(b: &Browser, s: &Server, login: &str, password: &str) {
    b.go(&s.url("/portal/")).await;
    b.wait_path("/portal/sign-in").await;
    b.fill("#login", login).await;
    b.fill("#password", password).await;
    if login == "dev" {
        b.screenshot("portal-sign-in").await;
    }
    b.click("button[type=submit]").await;
    b.wait_path("/portal/").await;
}

async fn client_credentials(s: &Server, id: &str, secret: &str) -> u16 {
    http()
        .post(s.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

const API_SCOPE: &str = "https://api.example.com/oauth/api_scope";
const SELL_ACCOUNT: &str = "https://api.example.com/oauth/api_scope/sell.account";
const SELL_INVENTORY: &str = "https://api.example.com/oauth/api_scope/sell.inventory";

#[tokio::test]
async fn a_developer_registers_an_app_picks_endpoints_and_rotates_a_secret() {
    let Some(b) = browser().await else { return };
    // The accessibility check finds what it should: an image without text.
    b.go("data:text/html,<!doctype html><html><body><img src='x.png'></body></html>")
        .await;
    if let Some(found) = b.accessibility_violations().await {
        assert!(found.iter().any(|v| v.starts_with("image-alt")), "{found:?}");
    }
    let s = Server::start_at_issuer("marketplace");
    user(&s, "dev", "developer password", &[]);
    sign_in(&b, &s, "dev", "developer password").await;
    b.assert_accessible("my apps, empty").await;

    // Register an app: two scopes, one of them the default.
    b.click("a[href='/portal/apps/new']").await;
    b.fill("#name", "Listing Helper").await;
    // Preselected: the environment this server's gateway serves.
    let preselected = b.find("#environment option[value=production]").await;
    assert!(preselected.attr("selected").await.unwrap().is_some());
    b.click("#environment option[value=sandbox]").await;
    b.fill("#redirect_uris", "http://127.0.0.1:9/cb").await;
    for scope in [API_SCOPE, SELL_ACCOUNT] {
        b.click(&format!("input[name=scopes][value='{scope}']")).await;
    }
    b.click(&format!("input[name=default_scopes][value='{API_SCOPE}']"))
        .await;
    assert!(
        b.body().await.contains("needs approval"),
        "a reserved scope is not offered for self-service"
    );
    b.screenshot("portal-register-app").await;
    b.assert_accessible("register an app").await;
    b.click("button.primary[type=submit]").await;
    b.wait_text("Your app is registered").await;
    let client_id = b.text("#client-id").await;
    let first_secret = b.text("#client-secret").await;
    assert!(client_id.starts_with("sgci_") && first_secret.starts_with("sgcs_"));
    b.assert_accessible("secret shown once").await;
    assert_eq!(client_credentials(&s, &client_id, &first_secret).await, 200);
    b.screenshot("portal-secret-once").await;
    let next = b.find("a.button.primary").await.attr("href").await.unwrap().unwrap();
    b.go(&s.url("/portal/")).await;
    b.wait_text("Listing Helper").await;
    b.screenshot("portal-my-apps").await;
    b.assert_accessible("my apps").await;
    b.go(&s.url(&next)).await;

    // The key set: its scopes with their descriptions and the routes they open.
    let page = b.wait_text("Assigned scopes").await;
    assert!(page.contains("View and manage your account settings"), "{page}");
    assert!(page.contains("* /sell/account/v1/*"), "what the scope allows: {page}");
    assert!(page.contains("default"), "{page}");
    b.screenshot("portal-key-set").await;
    b.assert_accessible("key set").await;

    // The picker: the same answer as `scopegate scopes-for`, and what is missing.
    for endpoint in ["GET /sell/account/v1/*", "GET /sell/inventory/v1/*"] {
        b.click(&format!("input[name=endpoint][value='{endpoint}']")).await;
    }
    b.click("#picker + p + form button[type=submit]").await;
    let picked = b.text("#picked-scopes").await;
    let cli = scopegate(&[
        "scopes-for",
        "--config",
        s.config.to_str().unwrap(),
        "--grant",
        "authorization_code",
        "--env",
        "sandbox",
        "GET /sell/account/v1/*",
        "GET /sell/inventory/v1/*",
    ]);
    assert_eq!(picked, crate::stdout(&cli).lines().next().unwrap());
    let page = b.body().await;
    assert!(
        page.contains(&format!("This key set is not assigned {SELL_INVENTORY}.readonly")),
        "the missing scope is named: {page}"
    );
    b.screenshot("portal-picker").await;
    b.assert_accessible("picker answer").await;
    b.click("a[href*='ask=']").await;
    let url = b.text("#authorize-url").await;
    // Only what the key set may ask for: the missing scope waits for its request.
    assert!(
        url.contains("sell.account.readonly") && !url.contains("sell.inventory"),
        "{url}"
    );

    // Try it: the authorization code flow with PKCE, from the portal, to a token.
    let keys_path = b.path().await.split('?').next().unwrap().to_owned();
    b.go(&s.url(&keys_path)).await;
    b.click("form[action$='/try-it-uri'] button").await;
    // The flow carries on: the URL is built for the portal, Try it is there.
    let page = b.wait_text("The portal's redirect URI is added").await;
    assert!(page.contains("Try it"), "{page}");
    b.find("form[action$='/try'] button").await;
    b.wait_text("Authorize URL").await;
    b.click(&format!("input[name=ask][value='{SELL_ACCOUNT}']")).await;
    b.click("#authorize + form button[type=submit]").await;
    let url = b.text("#authorize-url").await;
    assert!(
        url.contains("response_type=code") && url.contains("scope=https%3A%2F%2F"),
        "{url}"
    );
    b.click("form[action$='/try'] button").await;
    b.wait_text("Allow Listing Helper?").await;
    b.click("button[value=approve]").await;
    let page = b.wait_text("Its introspection").await;
    assert!(
        page.contains("\"active\": true") && page.contains("\"username\": \"dev\""),
        "{page}"
    );
    assert!(page.contains(SELL_ACCOUNT), "{page}");
    assert!(
        page.contains("This token works in sandbox; this server's gateway serves production"),
        "which environment the token works in: {page}"
    );
    b.screenshot("portal-try-it").await;
    b.assert_accessible("try it").await;

    // A second secret: both work; revoking the first leaves the second.
    b.go(&s.url(&keys_path)).await;
    b.wait_text("Client secrets").await;
    // The secret used for client credentials above says when.
    let used = b.text("td[data-label='Last used']").await;
    assert!(used.starts_with("20") && used.ends_with(" UTC"), "{used}");
    b.click("#secrets ~ form button[type=submit]").await;
    b.wait_text("Your new client secret").await;
    let second_secret = b.text("#client-secret").await;
    assert_eq!(client_credentials(&s, &client_id, &first_secret).await, 200);
    assert_eq!(client_credentials(&s, &client_id, &second_secret).await, 200);
    b.click("a.button.primary").await;
    b.wait_text("Client secrets").await;
    b.click("form[action$='/revoke'] button").await;
    b.wait_text("Secret revoked").await;
    assert_eq!(client_credentials(&s, &client_id, &first_secret).await, 401);
    assert_eq!(client_credentials(&s, &client_id, &second_secret).await, 200);

    // Keys for another environment, with their own secret.
    let app_path = b.path().await.split("/keys/").next().unwrap().to_owned();
    b.go(&s.url(&app_path)).await;
    b.wait_text("Keys for another environment").await;
    b.screenshot("portal-app").await;
    b.assert_accessible("app page").await;
    b.click(&format!("#add-keys + form input[name=scopes][value='{API_SCOPE}']"))
        .await;
    b.click("#add-keys + form button[type=submit]").await;
    b.wait_text("Your new keys").await;
    let production_id = b.text("#client-id").await;
    let production_secret = b.text("#client-secret").await;
    assert_ne!(production_id, client_id);
    assert_eq!(client_credentials(&s, &production_id, &production_secret).await, 200);
    b.go(&s.url(&app_path)).await;
    assert!(
        !b.wait_text("Key sets").await.contains("Keys for another environment"),
        "both environments have keys"
    );

    // Another user's app is a 404 page, never its data.
    user(&s, "other", "another password", &[]);
    b.click("nav form button").await;
    b.wait_path("/portal/sign-in").await;
    sign_in(&b, &s, "other", "another password").await;
    b.go(&s.url(&app_path)).await;
    let page = b.wait_text("Not found").await;
    assert!(page.contains("Not found") && !page.contains("Listing Helper"), "{page}");
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn an_end_user_sees_and_revokes_a_connected_app() {
    let Some(b) = browser().await else { return };
    let s = Server::start("marketplace");
    user(&s, "ana", "ana's password", &[]);
    let callback = format!("http://127.0.0.1:{}/cb", free_port());
    let (client_id, secret) = s.app(&[
        "--name",
        "Seller Tools",
        "--env",
        "production",
        "--scopes",
        &format!("{API_SCOPE} {SELL_ACCOUNT}"),
        "--redirect-uri",
        &callback,
    ]);
    let authorize = reqwest::Url::parse_with_params(
        &s.url("/oauth2/authorize"),
        [
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", callback.as_str()),
            ("scope", SELL_ACCOUNT),
            ("state", "s1"),
        ],
    )
    .unwrap();
    b.go(authorize.as_str()).await;
    b.fill("#login", "ana").await;
    b.fill("#password", "ana's password").await;
    b.click("button[value=login]").await;
    let consent = b.wait_text("Allow Seller Tools?").await;
    assert!(
        consent.contains("Connected apps"),
        "the consent page links to it: {consent}"
    );
    b.assert_accessible("consent").await;
    b.click("button[value=approve]").await;
    let mut code = None;
    for _ in 0..100 {
        let url = b.client.current_url().await.unwrap();
        if url.as_str().starts_with(&callback) {
            code = url
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let code = code.expect("redirected back with a code");
    let tokens: serde_json::Value = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &callback),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    b.go(&s.url("/portal/connected")).await;
    let page = b.wait_text("Seller Tools").await;
    assert!(page.contains("View and manage your account settings"), "{page}");
    b.screenshot("portal-connected").await;
    b.assert_accessible("connected apps").await;
    b.click("form[action$='/revoke'] button").await;
    let page = b.wait_text("Access revoked").await;
    assert!(page.contains("You have not given any app access"), "{page}");

    let refreshed = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400, "the grant's refresh token is revoked");
    let introspected: serde_json::Value = http()
        .post(s.url("/oauth2/introspect"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", &access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], false, "and its access token");
    b.client.clone().close().await.unwrap();
}

const BUY_FEED: &str = "https://api.example.com/oauth/api_scope/buy.item.feed";

#[tokio::test]
async fn an_administrator_grants_a_scope_request_and_revokes_an_apps_tokens() {
    let Some(b) = browser().await else { return };
    let s = Server::start("marketplace");
    user(&s, "dev", "developer password", &[]);
    user(&s, "boss", "administrator password", &["admin"]);
    let (client_id, secret) = s.app(&[
        "--name",
        "Feed Reader",
        "--env",
        "production",
        "--scopes",
        API_SCOPE,
        "--owner",
        "dev",
    ]);
    let token: serde_json::Value = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();

    // The developer asks for a reserved scope.
    sign_in(&b, &s, "dev", "developer password").await;
    b.click("td a[href^='/portal/apps/']").await;
    b.click(&format!("a[href$='/keys/{client_id}']")).await;
    b.wait_text("More scopes").await;
    b.click(&format!("input[name=scopes][value='{BUY_FEED}']")).await;
    b.fill("#reason", "nightly catalogue sync").await;
    b.click("#requests ~ form button[type=submit]").await;
    b.wait_text("Your request is with an administrator").await;
    b.click("nav form button").await;
    b.wait_path("/portal/sign-in").await;

    // The administrator grants it.
    sign_in(&b, &s, "boss", "administrator password").await;
    b.click("a[href='/portal/admin/']").await;
    let page = b.wait_text("nightly catalogue sync").await;
    assert!(page.contains("Feed Reader"), "{page}");
    b.screenshot("portal-admin").await;
    b.assert_accessible("administration").await;
    b.click("form[action$='/grant'] button").await;
    b.wait_text("Request granted").await;
    let shown = scopegate(&[
        "app",
        "show",
        "--config",
        s.config.to_str().unwrap(),
        &client_id,
        "--json",
    ]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(shown["scopes"].as_str().unwrap().contains(BUY_FEED), "{shown}");

    // And revokes every token of the app's keys.
    let introspect = || async {
        let v: serde_json::Value = http()
            .post(s.url("/oauth2/introspect"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["active"].clone()
    };
    assert_eq!(introspect().await, true);
    b.click(&format!(
        "form[action='/portal/admin/keys/{client_id}/revoke-tokens'] button"
    ))
    .await;
    b.wait_text("Every token of those keys is revoked").await;
    assert_eq!(introspect().await, false);

    // Both changes are in the audit trail, naming who made them.
    b.go(&s.url("/portal/admin/audit?event=scope_request_grant")).await;
    let page = b.wait_text("Audit trail").await;
    assert!(page.contains("by user boss"), "{page}");
    b.screenshot("portal-audit").await;
    b.assert_accessible("audit trail").await;

    // A user without the admin permission finds no such page.
    b.click("nav form button").await;
    b.wait_path("/portal/sign-in").await;
    sign_in(&b, &s, "dev", "developer password").await;
    b.go(&s.url("/portal/admin/")).await;
    let page = b.wait_text("Not found").await;
    assert!(!page.contains("Feed Reader"), "{page}");
    b.client.clone().close().await.unwrap();
}
