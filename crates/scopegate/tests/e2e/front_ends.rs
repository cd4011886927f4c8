//! One change, whichever front end makes it: the command line, the admin API
//! and the portal call the same service operations, so the same changes leave
//! the same audit trail, each event naming who made it (docs/architecture.md).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::server::{Server, http};

const PASSWORD: &str = "correct horse battery";

/// A browser's cookies, kept by hand (the portal sets a CSRF cookie, then a
/// session cookie).
#[derive(Default)]
struct Cookies(BTreeMap<String, String>);

impl Cookies {
    fn keep(&mut self, answer: &reqwest::Response) {
        for v in answer.headers().get_all("set-cookie") {
            let first = v.to_str().unwrap().split(';').next().unwrap_or_default();
            if let Some((name, value)) = first.split_once('=') {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A portal user signed in over plain HTTP, posting forms as the pages do.
struct Portal<'a> {
    s: &'a Server,
    cookies: Cookies,
    csrf: String,
}

impl<'a> Portal<'a> {
    async fn sign_in(s: &'a Server, login: &str) -> Portal<'a> {
        let mut cookies = Cookies::default();
        let page = http().get(s.url("/portal/sign-in")).send().await.unwrap();
        cookies.keep(&page);
        let body = page.text().await.unwrap();
        let csrf = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a csrf field")
            .to_owned();
        let mut portal = Portal { s, cookies, csrf };
        let answer = portal
            .post("/portal/sign-in", &[("login", login), ("password", PASSWORD)])
            .await;
        assert_eq!(answer, 303, "signing in as {login}");
        portal
    }

    /// Posts a form; the status of the answer.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> u16 {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let answer = http()
            .post(self.s.url(path))
            .header("cookie", self.cookies.header())
            .form(&form)
            .send()
            .await
            .unwrap();
        self.cookies.keep(&answer);
        answer.status().as_u16()
    }
}

/// The admin API with a token made for the test.
struct Api<'a> {
    s: &'a Server,
    token: String,
}

impl Api<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = http()
            .request(method.clone(), self.s.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        assert!((200..300).contains(&status), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

fn cli(s: &Server, args: &[&str]) -> String {
    let mut full = vec![args[0], args[1], "--config", s.config.to_str().unwrap()];
    full.extend_from_slice(&args[2..]);
    let o = crate::scopegate(&full);
    assert!(o.status.success(), "{args:?}: {}", crate::stderr(&o));
    crate::stdout(&o)
}

fn cli_with_password(s: &Server, login: &str, permissions: &[&str]) {
    crate::portal::user(s, login, PASSWORD, permissions);
}

/// The key set of the app named `name`, and its app id.
fn key_set_named(s: &Server, name: &str) -> Value {
    let all: Value = serde_json::from_str(&cli(s, &["app", "list", "--json"])).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no app named {name}"))
        .clone()
}

/// The ids of the key set's secrets, oldest first.
fn secret_ids(s: &Server, client_id: &str) -> Vec<String> {
    let shown: Value = serde_json::from_str(&cli(s, &["app", "show", client_id, "--json"])).unwrap();
    shown["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The changes in the trail since `after` events (not the request path's
/// events, such as signing in, which name no actor), with what differs by
/// front end (ids, logins, the actor) replaced by placeholders.
fn trail(s: &Server, after: usize, login: &str, app: &str) -> (Vec<String>, Vec<String>) {
    let all: Value = serde_json::from_str(&cli(s, &["audit", "--json", "--limit", "1000"])).unwrap();
    let mut events = Vec::new();
    let mut actors = Vec::new();
    for e in &all.as_array().unwrap()[after..] {
        let detail = e["detail"].as_str().unwrap();
        let Some((what, actor)) = detail.rsplit_once("by ") else {
            continue;
        };
        actors.push(actor.to_owned());
        let masked: String = what
            .replace(login, "LOGIN")
            .replace(app, "APP")
            .split([' ', '='])
            .map(|w| {
                let w = w.trim_matches('"');
                if w.starts_with("sgci_") || w.starts_with("sgsi_") || w.starts_with("app_") {
                    "ID"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        events.push(format!(
            "{} client={} subject={} {}",
            e["event"].as_str().unwrap(),
            e["client_id"].as_str().map_or("-", |_| "ID"),
            e["subject"]
                .as_str()
                .map_or("-".to_owned(), |s| s.replace(login, "LOGIN")),
            masked.trim()
        ));
    }
    (events, actors)
}

fn trail_len(s: &Server) -> usize {
    let all: Value = serde_json::from_str(&cli(s, &["audit", "--json", "--limit", "1000"])).unwrap();
    all.as_array().unwrap().len()
}

#[tokio::test]
async fn every_front_end_makes_a_change_through_the_same_operation_with_the_same_audit_trail() {
    let s = Server::start("app-analytics");
    cli_with_password(&s, "root", &["admin"]);
    let made: Value = serde_json::from_str(&cli(
        &s,
        &["admin-token", "create", "--scopes", "admin:write", "--json"],
    ))
    .unwrap();
    let api = Api {
        s: &s,
        token: made["token"].as_str().unwrap().to_owned(),
    };
    let mut trails = Vec::new();

    // The command line, as the operating-system user.
    let start = trail_len(&s);
    cli_with_password(&s, "dev-cli", &[]);
    cli(
        &s,
        &[
            "user",
            "set-permissions",
            "--login",
            "dev-cli",
            "--permission",
            "billing",
        ],
    );
    cli(&s, &["user", "disable", "--login", "dev-cli"]);
    cli(&s, &["user", "enable", "--login", "dev-cli"]);
    cli(
        &s,
        &[
            "app",
            "create",
            "--name",
            "app-cli",
            "--env",
            "production",
            "--scopes",
            "account:read",
            "--owner",
            "dev-cli",
        ],
    );
    let k = key_set_named(&s, "app-cli");
    let client_id = k["client_id"].as_str().unwrap();
    cli(&s, &["app", "add-secret", client_id]);
    let second = secret_ids(&s, client_id)[1].clone();
    cli(&s, &["app", "revoke-secret", client_id, &second]);
    cli(&s, &["app", "delete", client_id]);
    trails.push(("command line", trail(&s, start, "dev-cli", "app-cli")));

    // The admin API, as its token.
    let start = trail_len(&s);
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;
    let delete = reqwest::Method::DELETE;
    api.call(
        post.clone(),
        "/admin/api/users",
        Some(json!({"login": "dev-api", "password": PASSWORD})),
    )
    .await;
    api.call(
        put.clone(),
        "/admin/api/users/dev-api/permissions",
        Some(json!({"permissions": ["billing"]})),
    )
    .await;
    api.call(
        put.clone(),
        "/admin/api/users/dev-api/enabled",
        Some(json!({"enabled": false})),
    )
    .await;
    api.call(put, "/admin/api/users/dev-api/enabled", Some(json!({"enabled": true})))
        .await;
    let app = json!({"name": "app-api", "owner": "dev-api", "environment": "production", "scopes": ["account:read"]});
    let created = api.call(post.clone(), "/admin/api/apps", Some(app)).await;
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let app_id = created["app"]["app_id"].as_str().unwrap().to_owned();
    let added = api
        .call(
            post,
            &format!("/admin/api/key-sets/{client_id}/secrets"),
            Some(json!({})),
        )
        .await;
    let second = added["secret_id"].as_str().unwrap();
    api.call(
        delete.clone(),
        &format!("/admin/api/key-sets/{client_id}/secrets/{second}"),
        None,
    )
    .await;
    api.call(delete, &format!("/admin/api/apps/{app_id}"), None).await;
    trails.push(("admin API", trail(&s, start, "dev-api", "app-api")));

    // The portal: an administrator changes the user, the user their app.
    let start = trail_len(&s);
    let mut admin = Portal::sign_in(&s, "root").await;
    for (path, fields) in [
        (
            "/portal/admin/users",
            vec![("login", "dev-portal"), ("password", PASSWORD)],
        ),
        (
            "/portal/admin/users/dev-portal/permissions",
            vec![("permissions", "billing")],
        ),
        ("/portal/admin/users/dev-portal/enabled", vec![("enabled", "no")]),
        ("/portal/admin/users/dev-portal/enabled", vec![("enabled", "yes")]),
    ] {
        assert_eq!(admin.post(path, &fields).await, 303, "{path}");
    }
    let mut dev = Portal::sign_in(&s, "dev-portal").await;
    let registered = dev
        .post(
            "/portal/apps/new",
            &[
                ("name", "app-portal"),
                ("environment", "production"),
                ("scopes", "account:read"),
            ],
        )
        .await;
    assert_eq!(registered, 303);
    let k = key_set_named(&s, "app-portal");
    let (client_id, app_id) = (k["client_id"].as_str().unwrap(), k["app_id"].as_str().unwrap());
    let keys = format!("/portal/apps/{app_id}/keys/{client_id}");
    assert_eq!(dev.post(&format!("{keys}/secrets"), &[]).await, 303);
    let second = secret_ids(&s, client_id)[1].clone();
    assert_eq!(dev.post(&format!("{keys}/secrets/{second}/revoke"), &[]).await, 303);
    assert_eq!(
        dev.post(&format!("/portal/apps/{app_id}/delete"), &[("confirm", "yes")])
            .await,
        303
    );
    trails.push(("portal", trail(&s, start, "dev-portal", "app-portal")));

    let (_, (expected, _)) = &trails[0];
    assert_eq!(expected.len(), 8, "{expected:#?}");
    for (front_end, (events, actors)) in &trails {
        assert_eq!(events, expected, "{front_end}'s trail differs from the command line's");
        let want = match *front_end {
            "command line" => "command line (scopegate ".to_owned(),
            "admin API" => format!("admin-token {}", made["id"].as_str().unwrap()),
            _ => String::new(),
        };
        for (event, actor) in events.iter().zip(actors) {
            match *front_end {
                "portal" if event.contains("user_") => assert_eq!(actor, "user root", "{event}"),
                "portal" => assert_eq!(actor, "user dev-portal", "{event}"),
                _ => assert!(actor.starts_with(&want), "{front_end}: {event} by {actor:?}"),
            }
        }
    }
}
