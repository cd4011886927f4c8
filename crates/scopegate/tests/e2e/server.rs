//! `scopegate serve` as users run it: a policy, `app create`, then a standard
//! OAuth client (the `oauth2` crate) and plain HTTP against the real binary.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};

/// A running `scopegate serve` on a free port with its own SQLite file; killed on drop.
pub(crate) struct Server {
    child: Child,
    pub base: String,
    pub config: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    listen: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// Starts the server on a copy of `example` whose database lives in a temp dir.
    pub(crate) fn start(example: &str) -> Server {
        Server::start_edited(example, |policy| policy)
    }

    /// Like [`Server::start`], with the policy passed through `edit` first.
    pub(crate) fn start_edited(example: &str, edit: impl FnOnce(String) -> String) -> Server {
        Server::launch(new_dir(), example, edit, &[])
    }

    /// Like [`Server::start`], listening on the port of its `issuer`, so that
    /// redirects to the issuer (the portal's "try it") reach it.
    pub(crate) fn start_at_issuer(example: &str) -> Server {
        let port = crate::free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        Server::launch_on(
            new_dir(),
            example,
            |p| p.replacen("\"http://127.0.0.1:8080\"", &format!("\"{issuer}\""), 1),
            &[],
            format!("127.0.0.1:{port}"),
        )
    }

    /// Stops the server and starts it again with other environment variables;
    /// `Err` with what it printed if it exits instead.
    pub(crate) fn restart_with_env(&mut self, env: &[(&str, &str)]) -> Result<(), String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
            .args([
                "serve",
                "--config",
                self.config.to_str().unwrap(),
                "--listen",
                &self.listen,
            ])
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        match line.split_whitespace().find(|w| w.starts_with("http://")) {
            Some(base) => {
                self.base = base.to_owned();
                self.child = child;
                Ok(())
            }
            None => {
                let out = child.wait_with_output().unwrap();
                self.child = Command::new("true").spawn().unwrap();
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        }
    }

    /// Like [`Server::start_edited`], trusting only the CA certificates in
    /// `ca_pem` for outgoing TLS (through `SSL_CERT_FILE`).
    pub(crate) fn start_trusting(example: &str, edit: impl FnOnce(String) -> String, ca_pem: &str) -> Server {
        let dir = new_dir();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        Server::launch(dir, example, edit, &[("SSL_CERT_FILE", ca_file.to_str().unwrap())])
    }

    fn launch(dir: PathBuf, example: &str, edit: impl FnOnce(String) -> String, env: &[(&str, &str)]) -> Server {
        Server::launch_on(dir, example, edit, env, "127.0.0.1:0".into())
    }

    pub(crate) fn launch_on(
        dir: PathBuf,
        example: &str,
        edit: impl FnOnce(String) -> String,
        env: &[(&str, &str)],
        listen: String,
    ) -> Server {
        let source =
            std::fs::read_to_string(crate::workspace_root().join(format!("examples/{example}/scopegate.toml")))
                .unwrap();
        let db = format!("sqlite://{}/scopegate.db", dir.display());
        let config = dir.join("scopegate.toml");
        std::fs::write(&config, edit(source.replace("sqlite://scopegate.db", &db))).unwrap();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let (child, base) = spawn(&config, &env, &listen);
        Server {
            child,
            base,
            config,
            dir,
            env,
            listen,
        }
    }

    /// Stops the server (until [`Server::restart`]).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server and starts it again on the same policy and database.
    pub(crate) fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, base) = spawn(&self.config, &self.env, &self.listen);
        self.child = child;
        self.base = base;
    }

    /// The running server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, its body as JSON.
    pub(crate) async fn get_json(&self, path: &str) -> serde_json::Value {
        http().get(self.url(path)).send().await.unwrap().json().await.unwrap()
    }

    /// `scopegate app create … --json` against this server's database.
    pub(crate) fn app(&self, extra: &[&str]) -> (String, String) {
        let mut args = vec!["app", "create", "--config", self.config.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let o = crate::scopegate(&args);
        assert!(o.status.success(), "{}", crate::stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (
            v["client_id"].as_str().unwrap().to_owned(),
            v["client_secret"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

fn spawn(config: &std::path::Path, env: &[(String, String)], listen: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(["serve", "--config", config.to_str().unwrap(), "--listen", listen])
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = first_address(&mut child);
    (child, base)
}

/// A fresh directory for one server (removed when the server is dropped).
pub(crate) fn new_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scopegate-e2e-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_standard_oauth_client_gets_an_app_token() {
    let s = Server::start("app-analytics");
    let (id, secret) = s.app(&[
        "--name",
        "Reports",
        "--env",
        "production",
        "--scopes",
        "account:read products:write",
        "--default-scopes",
        "account:read",
    ]);
    let client = BasicClient::new(ClientId::new(id))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(s.url("/oauth2/token")).unwrap());
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("products:write".into()))
        .request_async(&http())
        .await
        .unwrap();
    assert!(token.access_token().secret().starts_with("sgat_"));
    assert_eq!(
        token
            .scopes()
            .map(|s| s.iter().map(|x| x.to_string()).collect::<Vec<_>>()),
        Some(vec!["products:write".to_owned()])
    );
    assert!(
        token.refresh_token().is_none(),
        "client_credentials gives no refresh token"
    );
    assert_eq!(token.expires_in().map(|d| d.as_secs()), Some(3600));
}

#[tokio::test]
async fn token_introspect_revoke_round_trip_over_http() {
    let s = Server::start("app-analytics");
    let (id, secret) = s.app(&[
        "--name",
        "Reports",
        "--env",
        "production",
        "--scopes",
        "account:read account:write",
    ]);
    let h = http();
    let issued: serde_json::Value = h
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        issued["scope"], "account:write",
        "defaults are all assigned scopes, normalized"
    );
    let token = issued["access_token"].as_str().unwrap();
    assert_eq!(introspect(&s, &id, &secret, token).await["active"], true);
    let revoked = h
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        introspect(&s, &id, &secret, token).await,
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn metadata_advertises_every_endpoint_and_scope() {
    let s = Server::start("storefront");
    let m: serde_json::Value = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(m["issuer"], "http://127.0.0.1:8080");
    assert_eq!(m["token_endpoint"], "http://127.0.0.1:8080/oauth2/token");
    assert_eq!(m["introspection_endpoint"], "http://127.0.0.1:8080/oauth2/introspect");
    assert_eq!(m["revocation_endpoint"], "http://127.0.0.1:8080/oauth2/revoke");
    let scopes: Vec<&str> = m["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        scopes.contains(&"orders") && scopes.contains(&"no_expiry") && scopes.len() == 16,
        "{scopes:?}"
    );
}

#[tokio::test]
async fn bad_client_credentials_are_401_with_a_basic_challenge() {
    let s = Server::start("app-analytics");
    let r = http()
        .post(s.url("/oauth2/token"))
        .basic_auth("sgci_nobody", Some("x"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"scopegate\"");
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[test]
fn app_create_refuses_bad_input_in_one_line_and_writes_nothing() {
    let s = Server::start("marketplace");
    let config = s.config.to_str().unwrap();
    let inv = "https://api.example.com/oauth/api_scope/sell.inventory";
    for (args, fragment) in [
        (
            vec!["--env", "staging", "--scopes", inv],
            "--env: environment \"staging\" is not declared",
        ),
        (
            vec!["--env", "sandbox", "--scopes", "nope"],
            "--scopes: scope \"nope\" is not declared",
        ),
        (
            vec![
                "--env",
                "sandbox",
                "--scopes",
                "https://api.example.com/oauth/api_scope/buy.item.feed",
            ],
            "not available in environment \"sandbox\"",
        ),
        (
            vec![
                "--env",
                "sandbox",
                "--scopes",
                inv,
                "--default-scopes",
                "https://api.example.com/oauth/api_scope",
            ],
            "is not among the assigned scopes",
        ),
        (
            vec![
                "--env",
                "sandbox",
                "--scopes",
                inv,
                "--redirect-uri",
                "http://evil.example/cb",
            ],
            "--redirect-uri",
        ),
        (
            vec!["--env", "sandbox", "--scopes", inv, "--owner", "ghost"],
            "--owner: no user \"ghost\"",
        ),
    ] {
        let mut full = vec!["app", "create", "--config", config, "--name", "X"];
        full.extend(args);
        let o = crate::scopegate(&full);
        assert_eq!(o.status.code(), Some(2), "{full:?}");
        let err = crate::stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(fragment), "{err} lacks {fragment}");
    }
    let listed = crate::scopegate(&["app", "list", "--config", config, "--json"]);
    assert_eq!(crate::stdout(&listed).trim(), "[]", "nothing half-written");
}

#[test]
fn default_scopes_may_be_any_scope_the_assignment_implies() {
    let s = Server::start("app-analytics");
    let config = s.config.to_str().unwrap();
    let create = |default: &str| {
        crate::scopegate(&[
            "app",
            "create",
            "--config",
            config,
            "--name",
            "X",
            "--env",
            "production",
            "--scopes",
            "account:write",
            "--default-scopes",
            default,
            "--json",
        ])
    };
    // account:write implies account:read: a default the assignment grants.
    let o = create("account:read");
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let app: serde_json::Value = serde_json::from_str(&crate::stdout(&o)).unwrap();
    assert_eq!(app["default_scopes"], "account:read");
    // products:read is not implied by it.
    let o = create("products:read");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        crate::stderr(&o).contains("\"products:read\" is not among the assigned scopes, nor implied by them"),
        "{}",
        crate::stderr(&o)
    );
}

#[test]
fn user_create_reads_the_password_from_stdin_and_refuses_duplicates() {
    let s = Server::start("storefront");
    let config = s.config.to_str().unwrap();
    let create = |password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
            .args([
                "user",
                "create",
                "--config",
                config,
                "--login",
                "alice",
                "--password-stdin",
                "--permission",
                "Orders",
                "--permission",
                "OrderStatuses",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let short = create("short\n");
    assert_eq!(short.status.code(), Some(2));
    assert!(
        crate::stderr(&short).contains("at least 8 characters"),
        "{}",
        crate::stderr(&short)
    );
    let ok = create("correct horse battery\n");
    assert!(ok.status.success(), "{}", crate::stderr(&ok));
    assert_eq!(
        crate::stdout(&ok).trim(),
        "user alice created with permissions Orders OrderStatuses"
    );
    let again = create("correct horse battery\n");
    assert!(
        crate::stderr(&again).contains("already exists"),
        "{}",
        crate::stderr(&again)
    );
}

/// RFC 7662 introspection of `token` by the client `id`.
async fn introspect(s: &Server, id: &str, secret: &str, token: &str) -> serde_json::Value {
    let r = http()
        .post(s.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn cc_token(s: &Server, id: &str, secret: &str) -> reqwest::Response {
    http()
        .post(s.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn rotate_secret_prints_a_new_secret_and_the_old_one_stops_working() {
    let s = Server::start("app-analytics");
    let (id, old) = s.app(&["--name", "R", "--env", "production", "--scopes", "account:read"]);
    let o = crate::scopegate(&["app", "rotate-secret", "--config", s.config.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let new = printed(&o, "client_secret: ");
    assert_eq!(cc_token(&s, &id, &old).await.status(), 401);
    assert_eq!(cc_token(&s, &id, &new).await.status(), 200);
}

/// The value of the output line starting with `label`.
fn printed(o: &std::process::Output, label: &str) -> String {
    let out = crate::stdout(o);
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {out}"))
        .to_owned()
}

#[tokio::test]
async fn an_added_secret_works_beside_the_old_one_until_the_old_one_is_revoked() {
    let s = Server::start("app-analytics");
    let config = s.config.to_str().unwrap().to_owned();
    let (id, old) = s.app(&["--name", "R", "--env", "production", "--scopes", "account:read"]);
    let o = crate::scopegate(&["app", "add-secret", "--config", &config, &id, "--expires-in", "30d"]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let new = printed(&o, "client_secret: ");
    assert_eq!(cc_token(&s, &id, &old).await.status(), 200, "no downtime");
    assert_eq!(cc_token(&s, &id, &new).await.status(), 200);

    // Each secret says when it last authenticated (written off the request's
    // path, so looked for until it is there).
    let mut v = serde_json::Value::Null;
    for _ in 0..50 {
        let shown = crate::scopegate(&["app", "show", "--config", &config, &id, "--json"]);
        v = serde_json::from_slice(&shown.stdout).unwrap();
        if v["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["last_used_at"].is_i64())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let secrets = v["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2);
    assert!(secrets[1]["expires_at"].is_i64(), "{v}");
    assert!(secrets.iter().all(|s| s["last_used_at"].is_i64()), "{v}");
    let text = crate::stdout(&crate::scopegate(&["app", "show", "--config", &config, &id]));
    assert!(text.contains(", last used ") && text.contains(" ago"), "{text}");
    let old_id = secrets[0]["id"].as_str().unwrap().to_owned();
    let o = crate::scopegate(&["app", "revoke-secret", "--config", &config, &id, &old_id]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let o = crate::scopegate(&["app", "revoke-secret", "--config", &config, &id, &old_id]);
    assert_eq!(o.status.code(), Some(2), "revoked once");
    // Another process changed the record: the server's 5 s client cache bounds it.
    let revoked_at = std::time::Instant::now();
    while cc_token(&s, &id, &old).await.status() != 401 {
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(7),
            "the old secret still works after 7 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(cc_token(&s, &id, &new).await.status(), 200);
    let o = crate::scopegate(&["app", "add-secret", "--config", &config, &id, "--expires-in", "soon"]);
    assert!(
        crate::stderr(&o).contains("--expires-in \"soon\""),
        "{}",
        crate::stderr(&o)
    );
}

#[tokio::test]
async fn app_show_and_delete() {
    let s = Server::start("app-analytics");
    let config = s.config.to_str().unwrap().to_owned();
    let (id, secret) = s.app(&[
        "--name",
        "Reports",
        "--env",
        "production",
        "--scopes",
        "account:read products:write",
        "--resource-server",
    ]);
    let shown = crate::scopegate(&["app", "show", "--config", &config, &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        (v["name"].as_str(), v["resource_server"].as_bool(), v["scopes"].as_str()),
        (Some("Reports"), Some(true), Some("account:read products:write"))
    );
    assert!(!crate::stdout(&shown).contains(&secret), "never the secret");
    let token: serde_json::Value = cc_token(&s, &id, &secret).await.json().await.unwrap();
    assert!(
        crate::scopegate(&["app", "delete", "--config", &config, &id])
            .status
            .success()
    );
    // The server caches client records for 5 s (client_cache::TTL), so a deletion made by
    // another process takes effect within that bound, not necessarily at once.
    let deleted_at = std::time::Instant::now();
    while cc_token(&s, &id, &secret).await.status() != 401 {
        assert!(
            deleted_at.elapsed() < std::time::Duration::from_secs(7),
            "the keys still work 7 s after deletion"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let o = crate::scopegate(&["app", "show", "--config", &config, &id]);
    assert_eq!(o.status.code(), Some(2));
    assert!(crate::stderr(&o).contains("no app has the client_id"));
    let o = explain_token(&config, token["access_token"].as_str().unwrap(), "GET", "/account/x");
    assert!(
        crate::stdout(&o).contains("the token is unknown"),
        "its tokens went with it: {}",
        crate::stdout(&o)
    );
}

#[tokio::test]
async fn explain_token_uses_the_tokens_scope_until_it_is_revoked() {
    let s = Server::start("app-analytics");
    let config = s.config.to_str().unwrap().to_owned();
    let (id, secret) = s.app(&["--name", "R", "--env", "production", "--scopes", "account:write"]);
    let issued: serde_json::Value = cc_token(&s, &id, &secret).await.json().await.unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let o = explain_token(&config, &token, "GET", "/account/settings");
    assert_eq!(o.status.code(), Some(0), "{}", crate::stdout(&o));
    let out = crate::stdout(&o);
    assert!(
        out.contains(&format!("token      client {id}, environment production")),
        "{out}"
    );
    assert!(
        out.contains("allow: holds account:read (implied by account:write)"),
        "{out}"
    );
    let o = crate::scopegate(&["token", "revoke", "--config", &config, &token]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let o = explain_token(&config, &token, "GET", "/account/settings");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        crate::stdout(&o).contains("deny (invalid_token, 401): the token was revoked"),
        "{}",
        crate::stdout(&o)
    );
    let introspected: serde_json::Value = introspect(&s, &id, &secret, &token).await;
    assert_eq!(introspected, serde_json::json!({"active": false}));
    let o = crate::scopegate(&["token", "revoke", "--config", &config, "sgat_unknown"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn user_list_set_permissions_disable_and_enable() {
    let s = Server::start("storefront");
    let config = s.config.to_str().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args([
            "user",
            "create",
            "--config",
            &config,
            "--login",
            "carol",
            "--password-stdin",
            "--permission",
            "Orders",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a long password\n").unwrap();
    assert!(child.wait().unwrap().success());
    let list = |c: &str| -> serde_json::Value {
        serde_json::from_slice(&crate::scopegate(&["user", "list", "--config", c, "--json"]).stdout).unwrap()
    };
    assert_eq!(
        list(&config),
        serde_json::json!([{"login": "carol", "permissions": "Orders", "enabled": true}])
    );
    assert!(
        crate::scopegate(&[
            "user",
            "set-permissions",
            "--config",
            &config,
            "--login",
            "carol",
            "--permission",
            "Orders",
            "--permission",
            "OrderStatuses"
        ])
        .status
        .success()
    );
    assert!(
        crate::scopegate(&["user", "disable", "--config", &config, "--login", "carol"])
            .status
            .success()
    );
    assert_eq!(
        list(&config),
        serde_json::json!([{"login": "carol", "permissions": "Orders OrderStatuses", "enabled": false}])
    );
    assert!(
        crate::scopegate(&["user", "enable", "--config", &config, "--login", "carol"])
            .status
            .success()
    );
    assert_eq!(list(&config)[0]["enabled"], true);
    let o = crate::scopegate(&["user", "disable", "--config", &config, "--login", "nobody"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(crate::stderr(&o).contains("no user \"nobody\""));
}

#[tokio::test]
async fn key_rotation_keeps_old_keys_published() {
    let s = Server::start("storefront");
    let config = s.config.to_str().unwrap().to_owned();
    let before: serde_json::Value = s.get_json("/oauth2/jwks").await;
    let old_kid = before["keys"][0]["kid"].as_str().unwrap().to_owned();
    let o = crate::scopegate(&["keys", "rotate", "--config", &config]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let listed = crate::stdout(&crate::scopegate(&["keys", "list", "--config", &config]));
    assert!(listed.contains(&format!("{old_kid}  ES256  retired")), "{listed}");
    assert_eq!(listed.matches("signing").count(), 1, "{listed}");
    // A restarted server signs with the new key and still publishes the old one.
    let mut s = s;
    s.restart();
    let after: serde_json::Value = s.get_json("/oauth2/jwks").await;
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(kids.contains(&old_kid.as_str()));
    let (id, secret) = s.app(&["--name", "A", "--env", "production", "--scopes", "orders"]);
    let token: serde_json::Value = cc_token(&s, &id, &secret).await.json().await.unwrap();
    let header = token["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    use base64::Engine;
    let header: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_ne!(header["kid"].as_str(), Some(old_kid.as_str()), "signs with the new key");
    assert!(kids.contains(&header["kid"].as_str().unwrap()));
}

#[tokio::test]
async fn explain_and_revoke_a_jwt_access_token() {
    let s = Server::start("storefront");
    let config = s.config.to_str().unwrap().to_owned();
    let (id, secret) = s.app(&["--name", "Sync", "--env", "production", "--scopes", "orders"]);
    let issued: serde_json::Value = cc_token(&s, &id, &secret).await.json().await.unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3, "storefront issues JWTs");
    let o = explain_token(&config, &token, "GET", "/api/v1/orders/7");
    assert_eq!(o.status.code(), Some(0), "{}", crate::stdout(&o));
    assert!(
        crate::stdout(&o).contains("allow: holds read_orders (implied by orders)"),
        "{}",
        crate::stdout(&o)
    );
    let o = crate::scopegate(&["token", "revoke", "--config", &config, &token]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let o = explain_token(&config, &token, "GET", "/api/v1/orders/7");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        crate::stdout(&o).contains("the token was revoked"),
        "{}",
        crate::stdout(&o)
    );
    // Revoked by another process: the server's in-memory revocation list
    // reloads every 2 s.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let seen: serde_json::Value = introspect(&s, &id, &secret, &token).await;
    assert_eq!(seen, serde_json::json!({"active": false}));
}

/// `scopegate explain --token TOKEN METHOD PATH` against `config`.
fn explain_token(config: &str, token: &str, method: &str, path: &str) -> std::process::Output {
    crate::scopegate(&["explain", "--config", config, "--token", token, method, path])
}

/// `scopegate audit --json` once it holds at least `n` entries (events nobody
/// waits for are committed a few milliseconds late).
async fn audit_entries(config: &str, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let o = crate::scopegate(&["audit", "--config", config, "--json"]);
        assert!(o.status.success(), "{}", crate::stderr(&o));
        let mut rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
        // The server's own start is tested in operations.rs; here, what the app did.
        rows.retain(|r| r["event"] != "server_started");
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the audit trail never reached {n} entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_shows_issuance_refusal_and_revocation_oldest_first_without_secrets() {
    let s = Server::start("app-analytics");
    let config = s.config.to_str().unwrap().to_owned();
    let (id, secret) = s.app(&["--name", "R", "--env", "production", "--scopes", "account:read"]);
    let issued: serde_json::Value = cc_token(&s, &id, &secret).await.json().await.unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let refused = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    // The refusal is committed within milliseconds; wait for it so the order is known.
    audit_entries(&config, 3).await;
    let o = crate::scopegate(&["token", "revoke", "--config", &config, &token]);
    assert!(o.status.success(), "{}", crate::stderr(&o));

    let rows = audit_entries(&config, 4).await;
    let events: Vec<&str> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    // `app create` is a change like any other: audited, naming the command.
    assert_eq!(events, ["app_create", "issue", "refuse", "revoke"], "{rows:#?}");
    assert!(rows.iter().all(|r| r["client_id"] == id.as_str()));
    assert!(rows[0]["detail"].as_str().unwrap().contains("scopegate app create"));
    let rows = &rows[1..];
    assert!(rows[1]["detail"].as_str().unwrap().contains("admin"));
    assert!(rows[2]["detail"].as_str().unwrap().contains("scopegate token revoke"));
    assert!(rows[0]["time"].as_str().unwrap().ends_with('Z'));

    let o = crate::scopegate(&["audit", "--config", &config, "--limit", "2"]);
    let text = crate::stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains(" refuse ") && lines[1].contains(" revoke "), "{text}");
    assert!(lines[1].contains(&format!("client={id}")), "{text}");
    assert!(
        !text.contains(&token) && !text.contains(&secret),
        "no secret in the trail"
    );

    let o = crate::scopegate(&["audit", "--config", &config, "--limit", "0"]);
    assert_eq!(o.status.code(), Some(2), "a limit of 0 is refused");
    assert!(crate::stderr(&o).contains("--limit"), "{}", crate::stderr(&o));
}

/// With a key-encryption key, signing keys are stored sealed (a key stored in
/// the clear before is sealed at start), tokens still verify, and a node
/// without the key refuses to start rather than sign with nothing.
#[tokio::test]
async fn signing_keys_are_sealed_under_a_key_encryption_key() {
    let mut s = Server::start_edited("app-analytics", |p| p.replace("\"opaque\"", "\"jwt\""));
    let config = s.config.to_str().unwrap().to_owned();
    let listed = crate::scopegate(&["keys", "list", "--config", &config]);
    assert!(
        crate::stdout(&listed).contains("in the clear"),
        "{}",
        crate::stdout(&listed)
    );
    let kek = crate::stdout(&crate::scopegate(&["keys", "new-kek"])).trim().to_owned();
    assert_eq!(kek.len(), 43);
    s.restart_with_env(&[("SCOPEGATE_KEY_ENCRYPTION_KEY", &kek)]).unwrap();
    let listed = crate::stdout(&crate::scopegate(&["keys", "list", "--config", &config]));
    assert!(
        listed.contains("sealed") && !listed.contains("in the clear"),
        "{listed}"
    );
    let (id, secret) = s.app(&["--name", "K", "--env", "production", "--scopes", "account:read"]);
    let token: serde_json::Value = cc_token(&s, &id, &secret).await.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(
        access.split('.').count(),
        3,
        "a JWT, signed with the sealed key: {access}"
    );
    assert_eq!(introspect(&s, &id, &secret, access).await["active"], true);
    // Without the key, or with another, the node says why and does not start.
    let err = s.restart_with_env(&[]).unwrap_err();
    assert!(err.contains("SCOPEGATE_KEY_ENCRYPTION_KEY"), "{err}");
    let other = crate::stdout(&crate::scopegate(&["keys", "new-kek"])).trim().to_owned();
    let err = s
        .restart_with_env(&[("SCOPEGATE_KEY_ENCRYPTION_KEY", &other)])
        .unwrap_err();
    assert!(err.contains("cannot be opened"), "{err}");
}

/// `scopegate serve --config CONFIG --listen 127.0.0.1:0 EXTRA…` with
/// `RUST_LOG=log`: the child (its stderr as given) and its base URL.
pub(crate) fn serve_with(config: &std::path::Path, extra: &[&str], log: &str, stderr: Stdio) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let base = first_address(&mut child);
    (child, base)
}

/// `scopegate app create` in production with `scopes` on CONFIG's database:
/// (client id, client secret).
pub(crate) fn create_app(config: &std::path::Path, name: &str, scopes: &str) -> (String, String) {
    let o = crate::scopegate(&[
        "app",
        "create",
        "--config",
        config.to_str().unwrap(),
        "--json",
        "--name",
        name,
        "--env",
        "production",
        "--scopes",
        scopes,
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The address `serve` prints on its first line.
fn first_address(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}
