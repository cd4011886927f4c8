//! Login delegation (docs/users.md) end to end: scopegate sends the browser
//! to the provider's own login page, the shipped example login app
//! (examples/login-app/login_app.py) signs its user in and answers the
//! challenge through the admin API, and scopegate goes on to its consent.

use std::process::{Child, Command, Stdio};

use oauth2::TokenResponse;

use crate::authorize::{AppFlow, Browser, Page, query_param};
use crate::server::Server;

/// The example login app, on its own port; killed on drop.
struct LoginApp {
    child: Child,
}

impl Drop for LoginApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LoginApp {
    fn start(port: u16, scopegate: &str, admin_token: &str) -> LoginApp {
        let mut child = Command::new("python3")
            .arg(crate::workspace_root().join("examples/login-app/login_app.py"))
            .env("SCOPEGATE_URL", scopegate)
            .env("SCOPEGATE_ADMIN_TOKEN", admin_token)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return LoginApp { child };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the login app did not start");
    }
}

fn admin_token(config: &std::path::Path, scopes: &str) -> String {
    let o = crate::scopegate(&[
        "admin-token",
        "create",
        "--config",
        config.to_str().unwrap(),
        "--scopes",
        scopes,
        "--json",
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// The storefront behind a scopegate on `port` whose sign-in is delegated
/// to a login app on `login_port` (passwords still on unless `extra` says).
fn start(login_port: u16, extra: &str) -> Server {
    let port = crate::free_port();
    let extra = extra.to_owned();
    Server::launch_on(
        crate::server::new_dir(),
        "storefront",
        move |p| {
            let p = p.replacen("\"http://127.0.0.1:8080\"", &format!("\"http://127.0.0.1:{port}\""), 1);
            format!("{p}\n[sign_in]\ndelegate_to = \"http://127.0.0.1:{login_port}/login\"\n{extra}\n")
        },
        &[],
        format!("127.0.0.1:{port}"),
    )
}

/// From a sign-in page: "Sign in at 127.0.0.1", the login app's form, and
/// `action` there with `login`'s password; (last page, its URL).
async fn through_login_app(
    browser: &mut Browser,
    server: &Server,
    page: &Page,
    login: &str,
    action: &str,
) -> (Page, String) {
    assert!(page.body.contains("Sign in at 127.0.0.1"), "{}", page.body);
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), page.field("return_to")),
    ];
    let start = server.url("/oauth2/delegate/start");
    let answer = browser.post(&start, &form).await;
    let (login_page, at) = browser.follow(start, answer).await;
    submit_login(browser, &login_page, &at, login, action).await
}

async fn submit_login(browser: &mut Browser, login_page: &Page, at: &str, login: &str, action: &str) -> (Page, String) {
    assert_eq!(login_page.status, 200, "at {at}: {}", login_page.body);
    assert!(
        login_page.body.contains("Sign in to Example Store"),
        "{}",
        login_page.body
    );
    let challenge = login_page.field("login_challenge");
    let form = vec![
        ("login_challenge".to_owned(), challenge),
        ("login".to_owned(), login.to_owned()),
        ("password".to_owned(), format!("{login}-password")),
        ("action".to_owned(), action.to_owned()),
    ];
    let answer = browser.post(at, &form).await;
    browser.follow(at.to_owned(), answer).await
}

#[tokio::test]
async fn an_app_gets_a_user_token_through_the_providers_own_login_page() {
    let login_port = crate::free_port();
    let server = start(login_port, "");
    let token = admin_token(&server.config, "admin:sign-in");
    let _app = LoginApp::start(login_port, &server.base, &token);
    let flow = AppFlow::start(&server, "orders");
    let mut browser = Browser::new();
    let login = browser.get(&flow.url).await;
    assert_eq!(login.status, 200);
    let (consent, at) = through_login_app(&mut browser, &server, &login, "ana", "sign-in").await;
    assert_eq!(consent.status, 200, "at {at}: {}", consent.body);
    assert!(
        consent.body.contains("<code>orders</code>") && consent.body.contains("u-123"),
        "{}",
        consent.body
    );
    let approved = browser.submit(&server, &consent, &[("action", "approve")]).await;
    let token = flow.token(&approved).await;
    let http = crate::server::http();
    let r = http
        .get(server.url("/api/v1/orders"))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echoed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        echoed["headers"]["x-scopegate-subject"], "u-123",
        "the subject is the login"
    );
    let shown = crate::scopegate(&[
        "user",
        "show",
        "--config",
        server.config.to_str().unwrap(),
        "--json",
        "u-123",
    ]);
    let user: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(user["source"], "delegated");
    assert_eq!(user["name"], "Ana");
    assert_eq!(
        user["source_permissions"],
        serde_json::json!(["OrderStatuses", "Orders"])
    );
}

#[tokio::test]
async fn a_rejected_replayed_or_unknown_challenge_signs_nobody_in_and_admin_sign_in_does_nothing_else() {
    let login_port = crate::free_port();
    let server = start(login_port, "");
    let token = admin_token(&server.config, "admin:sign-in");
    let _app = LoginApp::start(login_port, &server.base, &token);
    let http = crate::server::http();

    // The user cancels at the login page: back on the sign-in page, told why.
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    let (refused, at) = through_login_app(&mut browser, &server, &page, "ana", "cancel").await;
    assert!(at.ends_with("/portal/sign-in"), "{at}");
    assert!(
        refused
            .body
            .contains("The sign-in was refused (access_denied: the user cancelled)."),
        "{}",
        refused.body
    );
    assert!(!browser.cookies.contains_key("sg_session"));

    // Accepted, then the continue link used twice: the second use is refused.
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), "/portal/".to_owned()),
    ];
    let started = browser.post(&server.url("/oauth2/delegate/start"), &form).await;
    let to_login = started.location();
    let challenge = query_param(&to_login, "login_challenge").unwrap();
    assert!(
        to_login.starts_with(&format!("http://127.0.0.1:{login_port}/login?login_challenge=sglc_")),
        "{to_login}"
    );
    let read = |bearer: String, path: String| {
        let http = http.clone();
        let url = server.url(&path);
        async move { http.get(url).bearer_auth(bearer).send().await.unwrap() }
    };
    let info = read(token.clone(), format!("/admin/api/sign-in/{challenge}")).await;
    assert_eq!(info.status(), 200);
    let info: serde_json::Value = info.json().await.unwrap();
    assert_eq!(info["app_name"], "developer portal");
    assert!(info["expires_at"].as_i64().unwrap() > 0);
    // admin:sign-in reads challenges and nothing else; admin:read does not read them.
    assert_eq!(read(token.clone(), "/admin/api/apps".into()).await.status(), 403);
    let reader = admin_token(&server.config, "admin:read");
    assert_eq!(
        read(reader, format!("/admin/api/sign-in/{challenge}")).await.status(),
        403
    );
    let accept = |body: serde_json::Value| {
        let http = http.clone();
        let url = server.url(&format!("/admin/api/sign-in/{challenge}/accept"));
        let token = token.clone();
        async move { http.put(url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    let bad = accept(serde_json::json!({"subject": "has space"})).await;
    assert_eq!(bad.status(), 400, "a subject must be a login");
    let ok = accept(serde_json::json!({"subject": "u-9", "permissions": ["Orders"]})).await;
    assert_eq!(ok.status(), 200);
    let redirect_to = ok.json::<serde_json::Value>().await.unwrap()["redirect_to"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        accept(serde_json::json!({"subject": "u-9"})).await.status(),
        410,
        "answered once"
    );
    assert_eq!(
        read(token.clone(), format!("/admin/api/sign-in/{challenge}"))
            .await
            .status(),
        410
    );
    // Another browser cannot use the answer (and using it spends it).
    let mut stranger = Browser::new();
    let stolen = stranger.get(&redirect_to).await;
    let shown = stranger.get(&server.url(&stolen.location())).await;
    assert!(shown.body.contains("started in another browser"), "{}", shown.body);
    assert!(!stranger.cookies.contains_key("sg_session"));
    let replay = browser.get(&redirect_to).await;
    let shown = browser.get(&server.url(&replay.location())).await;
    assert!(shown.body.contains("This sign-in was already used"), "{}", shown.body);
    assert_eq!(
        read(token.clone(), "/admin/api/sign-in/sglc_unknown".into())
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn with_delegation_the_only_way_the_sign_in_page_goes_straight_there() {
    let login_port = crate::free_port();
    let server = start(login_port, "passwords = false");
    let token = admin_token(&server.config, "admin:sign-in");
    let _app = LoginApp::start(login_port, &server.base, &token);
    let mut browser = Browser::new();
    let at = server.url("/portal/sign-in");
    let answer = browser.get(&at).await;
    assert_eq!(answer.status, 303);
    assert!(
        answer.location().contains("/login?login_challenge=sglc_"),
        "{}",
        answer.location()
    );
    let (login_page, at) = browser.follow(at, answer).await;
    let (home, at) = submit_login(&mut browser, &login_page, &at, "ana", "sign-in").await;
    assert_eq!(home.status, 200, "at {at}: {}", home.body);
    assert!(at.ends_with("/portal/"), "{at}");
    assert!(browser.cookies.contains_key("sg_session"));
}

#[tokio::test]
async fn a_challenge_started_on_one_node_is_accepted_through_another() {
    let Some(db) = crate::cluster::Database::create("delegation").await else {
        return;
    };
    let login_port = crate::free_port();
    let port_a = crate::free_port();
    let url = db.url.clone();
    let edit = move |p: String| {
        let p = with_database(&p, &url).replacen(
            "\"http://127.0.0.1:8080\"",
            &format!("\"http://127.0.0.1:{port_a}\""),
            1,
        );
        format!("{p}\n[sign_in]\ndelegate_to = \"http://127.0.0.1:{login_port}/login\"\n")
    };
    let a = Server::launch_on(
        crate::server::new_dir(),
        "storefront",
        edit.clone(),
        &[],
        format!("127.0.0.1:{port_a}"),
    );
    let b = Server::launch_on(crate::server::new_dir(), "storefront", edit, &[], "127.0.0.1:0".into());
    let token = admin_token(&b.config, "admin:sign-in");
    // The login app talks to node B; the browser started on node A.
    let _app = LoginApp::start(login_port, &b.base, &token);
    let mut browser = Browser::new();
    let page = browser.get(&a.url("/portal/sign-in")).await;
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), "/portal/".to_owned()),
    ];
    let start = a.url("/oauth2/delegate/start");
    let answer = browser.post(&start, &form).await;
    let (login_page, at) = browser.follow(start, answer).await;
    let (home, at) = submit_login(&mut browser, &login_page, &at, "ana", "sign-in").await;
    assert_eq!(home.status, 200, "at {at}: {}", home.body);
    assert!(at.ends_with("/portal/"), "{at}");
    assert!(browser.cookies.contains_key("sg_session"), "signed in");
    drop((a, b));
    db.drop_now().await;
}

/// `p` with its `database = "…"` line pointing at `url`.
fn with_database(p: &str, url: &str) -> String {
    p.lines()
        .map(|l| {
            if l.starts_with("database =") {
                format!("database = \"{url}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn an_expired_challenge_is_gone_for_the_login_app_and_refused_in_the_browser() {
    let login_port = crate::free_port();
    let server = start(login_port, "");
    let token = admin_token(&server.config, "admin:sign-in");
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), "/portal/".to_owned()),
    ];
    let started = browser.post(&server.url("/oauth2/delegate/start"), &form).await;
    let challenge = query_param(&started.location(), "login_challenge").unwrap();
    // Ten minutes pass (the challenge's expiry, moved into the past).
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        server.config.with_file_name("scopegate.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE sign_in_challenges SET expires_at = expires_at - 601")
        .execute(&db)
        .await
        .unwrap();
    let http = crate::server::http();
    let read = http
        .get(server.url(&format!("/admin/api/sign-in/{challenge}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 410);
    let accept = http
        .put(server.url(&format!("/admin/api/sign-in/{challenge}/accept")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"subject": "u-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(accept.status(), 410, "an expired challenge takes no answer");
    let back = browser
        .get(&server.url(&format!("/oauth2/delegate/continue?login_challenge={challenge}")))
        .await;
    let shown = browser.get(&server.url(&back.location())).await;
    assert!(
        shown.body.contains("This sign-in took too long. Start again."),
        "{}",
        shown.body
    );
    assert!(!browser.cookies.contains_key("sg_session"));
}

/// Each start writes a login challenge, so it spends the address's sign-in
/// budget (`limits.sign_in_per_address`) as a password attempt does.
#[tokio::test]
async fn starting_sign_ins_elsewhere_spends_the_sign_in_budget() {
    let login_port = crate::free_port();
    let server = start(login_port, "\n[limits]\nsign_in_per_address = \"2/1m\"");
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/portal/sign-in")).await;
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), "/portal/".to_owned()),
    ];
    for _ in 0..2 {
        let started = browser.post(&server.url("/oauth2/delegate/start"), &form).await;
        assert_eq!(started.status, 303);
    }
    let limited = browser.post(&server.url("/oauth2/delegate/start"), &form).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.headers.contains_key("retry-after"));
    assert!(
        limited.body.contains("Too many sign-in attempts from your network"),
        "{}",
        limited.body
    );
}

/// Answers the login challenge a sign-in page's button starts, as a login
/// app would, through `admin` (another node): (the page the browser ends on, its URL).
async fn delegate(
    browser: &mut Browser,
    at: &Server,
    admin: &Server,
    token: &str,
    page: &Page,
    answer: serde_json::Value,
) -> (Page, String) {
    let form = vec![
        ("csrf".to_owned(), page.field("csrf")),
        ("return_to".to_owned(), page.field("return_to")),
    ];
    let started = browser.post(&at.url("/oauth2/delegate/start"), &form).await;
    let challenge = query_param(&started.location(), "login_challenge").unwrap();
    let accepted = crate::server::http()
        .put(admin.url(&format!("/admin/api/sign-in/{challenge}/accept")))
        .bearer_auth(token)
        .json(&answer)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    let back = accepted.json::<serde_json::Value>().await.unwrap()["redirect_to"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = browser.get(&back).await;
    browser.follow(back, answer).await
}

/// Permissions a delegation gave, replaced at the next sign-in on one node,
/// stop a token at another node's gateway (the change feed and the
/// request-time check, across nodes).
#[tokio::test]
async fn permissions_replaced_at_a_sign_in_on_one_node_stop_a_token_at_another() {
    let Some(db) = crate::cluster::Database::create("delegated_perms").await else {
        return;
    };
    let port_a = crate::free_port();
    let url = db.url.clone();
    let edit = move |p: String| {
        let p = with_database(&p, &url).replacen(
            "\"http://127.0.0.1:8080\"",
            &format!("\"http://127.0.0.1:{port_a}\""),
            1,
        );
        format!("{p}\n[sign_in]\ndelegate_to = \"http://127.0.0.1:9/login\"\n")
    };
    let a = Server::launch_on(
        crate::server::new_dir(),
        "storefront",
        edit.clone(),
        &[],
        format!("127.0.0.1:{port_a}"),
    );
    let b = Server::launch_on(crate::server::new_dir(), "storefront", edit, &[], "127.0.0.1:0".into());
    let token = admin_token(&b.config, "admin:sign-in");
    let flow = AppFlow::start(&a, "orders");
    let mut browser = Browser::new();
    let login = browser.get(&flow.url).await;
    let grant = serde_json::json!({"subject": "u-7", "permissions": ["Orders", "OrderStatuses"]});
    let (consent, at) = delegate(&mut browser, &a, &b, &token, &login, grant).await;
    assert_eq!(consent.status, 200, "at {at}: {}", consent.body);
    let approved = browser.submit(&a, &consent, &[("action", "approve")]).await;
    let issued = flow.token(&approved).await;
    let http = crate::server::http();
    let bearer = issued.access_token().secret().clone();
    let at_b = || {
        let http = http.clone();
        let url = b.url("/api/v1/orders");
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
    assert_eq!(at_b().await, 200, "node B lets the token through");
    // u-7 signs in again on node A; the login app now gives nothing.
    let mut again = Browser::new();
    let page = again.get(&a.url("/portal/sign-in")).await;
    let (home, at) = delegate(&mut again, &a, &b, &token, &page, serde_json::json!({"subject": "u-7"})).await;
    assert_eq!(home.status, 200, "at {at}: {}", home.body);
    let mut last = 200;
    for _ in 0..100 {
        last = at_b().await;
        if last == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last, 403, "node B refuses what the lost permissions gated");
    drop((a, b));
    db.drop_now().await;
}
