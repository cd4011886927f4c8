//! Several `scopegate serve` nodes on one PostgreSQL database (docs/deploy.md):
//! started together on a fresh database, they behave as one. A token issued
//! on one works on the others; a revocation, a secret rotation or an app
//! deletion on one is refused on the others within 1 s (the change feed,
//! not a cache's TTL: `cache_ttl` is 60 s here); refresh races across nodes
//! succeed once; and a database outage is served through (cached decisions
//! and JWTs), answered 503 where the database is needed, never 500, and
//! recovered from without a restart.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scopegate_service::credentials::secrets::{self, SecretKind};
use scopegate_store::{CodeRecord, Store, TokenRecord, UserRecord};

use crate::server::http;

const SCOPE: &str = "account:read";
/// The bound docs/gateway.md states for a change made on one node to reach
/// the others.
const PROPAGATION: Duration = Duration::from_secs(1);

fn admin_url() -> String {
    std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh database, dropped on drop.
pub(crate) struct Database {
    admin: scopegate_store::PgStore,
    name: String,
    pub(crate) url: String,
}

impl Database {
    pub(crate) async fn create(tag: &str) -> Option<Database> {
        let admin = match scopegate_store::PgStore::connect(&admin_url()).await {
            Ok(a) => a,
            Err(e) => {
                scopegate_store::testing::missing(&format!("PostgreSQL is unreachable: {e}"));
                return None;
            }
        };
        let name = format!("sg_{tag}_{}", std::process::id());
        exec(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        exec(&admin, &format!("CREATE DATABASE {name}")).await;
        let base = admin_url().rsplit_once('/').unwrap().0.to_owned();
        Some(Database {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }

    pub(crate) async fn drop_now(self) {
        exec(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }
}

async fn exec(store: &scopegate_store::PgStore, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

/// Nodes sharing one policy file (and so one database).
struct Cluster {
    nodes: Vec<Child>,
    bases: Vec<String>,
    config: PathBuf,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    /// `n` nodes started at the same moment on `database_url`.
    fn start(n: usize, database_url: &str, format: &str) -> Cluster {
        // One directory per cluster: clusters run at once, and each removes its own.
        static CLUSTERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n_cluster = CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("scopegate-cluster-{}-{format}-{n_cluster}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source =
            std::fs::read_to_string(crate::workspace_root().join("examples/app-analytics/scopegate.toml")).unwrap();
        let policy = source
            .replace("sqlite://scopegate.db", database_url)
            .replacen("format      = \"opaque\"", &format!("format      = \"{format}\""), 1)
            .replacen("basic_auth = true", "basic_auth = true\ncache_ttl  = \"60s\"", 1);
        let config = dir.join("scopegate.toml");
        std::fs::write(&config, policy).unwrap();
        // All spawned before any is waited for: their migrations race.
        let mut nodes: Vec<Child> = (0..n)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_scopegate"))
                    .args(["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"])
                    .args(["--threads", "1"])
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut bases = Vec::new();
        for node in &mut nodes {
            let mut line = String::new();
            BufReader::new(node.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let Some(base) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
                let _ = node.kill();
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(&mut node.stderr.take().unwrap(), &mut err);
                panic!("a node did not start: {err}");
            };
            bases.push(base.to_owned());
        }
        // Their logs are not read; a full pipe must not block them.
        for node in &mut nodes {
            let mut stderr = node.stderr.take().unwrap();
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        }
        Cluster {
            nodes,
            bases,
            config,
            dir,
        }
    }

    fn cli(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap(), "--json"]);
        let o = crate::scopegate(&all);
        assert!(o.status.success(), "{}", crate::stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// An app with `account:read`: (app id, client id, secret).
    fn app(&self, name: &str) -> (String, String, String) {
        let v = self.cli(&[
            "app",
            "create",
            "--name",
            name,
            "--env",
            "production",
            "--scopes",
            SCOPE,
        ]);
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        (s("app_id"), s("client_id"), s("client_secret"))
    }
}

async fn issue(base: &str, client_id: &str, secret: &str) -> String {
    let r = http()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A token request at `base` with the app's credentials for a refresh
/// token (`("refresh_token", T)`) or a code (`("code", C)`).
fn token_request(
    base: &str,
    client_id: &str,
    secret: &str,
    (field, value): (&str, &str),
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    let grant_type = if field == "code" {
        "authorization_code"
    } else {
        "refresh_token"
    };
    http()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", grant_type), (field, value)])
        .send()
}

/// Revokes `token` (RFC 7009) at `base` with the app's credentials: the status.
async fn revoke(base: &str, client_id: &str, secret: &str, token: &str) -> u16 {
    http()
        .post(format!("{base}/oauth2/revoke"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Enables or disables a user through the admin API at `base`: the status.
async fn set_enabled(base: &str, admin: &str, login: &str, enabled: bool) -> u16 {
    http()
        .put(format!("{base}/admin/api/users/{login}/enabled"))
        .bearer_auth(admin)
        .json(&serde_json::json!({ "enabled": enabled }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `GET /account/x` through a node's gateway: its status.
async fn call(base: &str, auth: &Auth<'_>) -> u16 {
    let request = http().get(format!("{base}/account/x"));
    let request = match auth {
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Basic(id, secret) => request.basic_auth(id, Some(secret)),
    };
    request.send().await.unwrap().status().as_u16()
}

enum Auth<'a> {
    Bearer(&'a str),
    Basic(&'a str, &'a str),
}

/// Waits until `auth` is refused (401) on every node of `bases`; how long
/// that took from `since`.
async fn refused_everywhere(bases: &[&str], auth: &Auth<'_>, since: Instant) -> Duration {
    loop {
        let mut all = true;
        for base in bases {
            all &= call(base, auth).await == 401;
        }
        if all {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(10), "still accepted after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn three_nodes_behave_as_one(format: &str) {
    let Some(db) = Database::create(&format!("cluster_{format}")).await else {
        return;
    };
    let c = Cluster::start(3, &db.url, format);
    let [n1, n2, n3] = [c.bases[0].as_str(), c.bases[1].as_str(), c.bases[2].as_str()];

    // One signing key, the same JWKS everywhere.
    let mut jwks = Vec::new();
    for base in [n1, n2, n3] {
        jwks.push(crate::get_text(format!("{base}/oauth2/jwks")).await);
    }
    assert!(jwks.windows(2).all(|w| w[0] == w[1]), "{jwks:?}");
    let keys: serde_json::Value = serde_json::from_str(&jwks[0]).unwrap();
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        1,
        "nodes started together made one key"
    );

    // A token issued on node 1 works on all three.
    let (_, client_id, secret) = c.app("Reports");
    let token = issue(n1, &client_id, &secret).await;
    for base in [n1, n2, n3] {
        assert_eq!(call(base, &Auth::Bearer(&token)).await, 200, "{base}");
    }
    // Revoked on node 3: refused on nodes 1 and 2 within the bound.
    let revoked_at = Instant::now();
    assert_eq!(revoke(n3, &client_id, &secret, &token).await, 200);
    let took = refused_everywhere(&[n1, n2, n3], &Auth::Bearer(&token), revoked_at).await;
    eprintln!("revocation seen everywhere after {took:?}");
    assert!(took < PROPAGATION, "a revocation took {took:?} to reach every node");

    // A secret replaced through node 3's admin API: the old one is refused
    // on nodes 1 and 2 (which had it cached) within the bound.
    let admin = c.cli(&["admin-token", "create", "--scopes", "admin:write"]);
    let admin = admin["token"].as_str().unwrap().to_owned();
    for base in [n1, n2] {
        assert_eq!(call(base, &Auth::Basic(&client_id, &secret)).await, 200);
    }
    let rotated_at = Instant::now();
    let r = http()
        .post(format!("{n3}/admin/api/key-sets/{client_id}/secrets"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"replace": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let new_secret = r.json::<serde_json::Value>().await.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let took = refused_everywhere(&[n1, n2], &Auth::Basic(&client_id, &secret), rotated_at).await;
    eprintln!("secret rotation seen after {took:?}");
    assert!(took < PROPAGATION, "a secret rotation took {took:?}");
    assert_eq!(call(n1, &Auth::Basic(&client_id, &new_secret)).await, 200);

    // An app deleted on node 2: its token is refused on nodes 1 and 3.
    let (app_id, other_id, other_secret) = c.app("Doomed");
    let doomed = issue(n1, &other_id, &other_secret).await;
    for base in [n1, n3] {
        assert_eq!(call(base, &Auth::Bearer(&doomed)).await, 200);
    }
    let deleted_at = Instant::now();
    let r = http()
        .delete(format!("{n2}/admin/api/apps/{app_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let took = refused_everywhere(&[n1, n3], &Auth::Bearer(&doomed), deleted_at).await;
    eprintln!("app deletion seen after {took:?}");
    assert!(took < PROPAGATION, "an app deletion took {took:?}");

    // A refresh token presented to two nodes at once is rotated once.
    let store = scopegate_store::PgStore::connect(&db.url).await.unwrap();
    let ana = UserRecord::local("ana", "not used".into(), vec![], 0);
    assert!(store.create_user(&ana).await.unwrap());
    for round in 0..8 {
        let (refresh, record) = refresh_token(&client_id);
        store.insert_tokens(&[record]).await.unwrap();
        let attempt = |base: &str| token_request(base, &client_id, &new_secret, ("refresh_token", &refresh));
        let (a, b) = tokio::join!(attempt(n1), attempt(n2));
        let statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(statuses.contains(&400), "round {round}: {statuses:?}");
    }
    // A user disabled through node 3: their token is refused on node 2.
    let (refresh, record) = refresh_token(&client_id);
    store.insert_tokens(&[record]).await.unwrap();
    let r = token_request(n1, &client_id, &new_secret, ("refresh_token", &refresh))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let users_token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(call(n2, &Auth::Bearer(&users_token)).await, 200);
    let disabled_at = Instant::now();
    assert_eq!(set_enabled(n3, &admin, "ana", false).await, 200);
    let took = refused_everywhere(&[n1, n2], &Auth::Bearer(&users_token), disabled_at).await;
    eprintln!("a disabled user's token refused after {took:?}");
    assert!(took < PROPAGATION, "disabling a user took {took:?}");
    assert_eq!(set_enabled(n3, &admin, "ana", true).await, 200);

    // A code presented to two nodes at once is redeemed once.
    for round in 0..8 {
        let code = secrets::generate(SecretKind::Code);
        let now = crate::unix_now();
        store
            .insert_code(&CodeRecord {
                hash: secrets::hash(&code),
                client_id: client_id.clone(),
                subject: "ana".into(),
                redirect_uri: "https://app.example/cb".into(),
                redirect_sent: false,
                scope: SCOPE.into(),
                code_challenge: None,
                grant_id: secrets::generate(SecretKind::GrantId),
                granted_at: now,
                expires_at: now + 60,
                used: false,
                resource: None,
            })
            .await
            .unwrap();
        let attempt = |base: &str| token_request(base, &client_id, &new_secret, ("code", &code));
        let (a, b) = tokio::join!(attempt(n2), attempt(n3));
        let (a, b) = (a.unwrap(), b.unwrap());
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        let bodies = [a.text().await.unwrap(), b.text().await.unwrap()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?} {bodies:?}"
        );
    }

    if format == "jwt" {
        // A key rotated through node 1 signs on node 2 within the bound, and
        // every node publishes it.
        let r = http()
            .post(format!("{n1}/admin/api/signing-keys/rotate"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let rotated_at = Instant::now();
        let kid = |token: &str| {
            use base64::Engine;
            let header = token.split('.').next().unwrap();
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
            serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let new_kid = loop {
            let signed = kid(&issue(n2, &client_id, &new_secret).await);
            let jwks = crate::get_text(format!("{n3}/oauth2/jwks")).await;
            if jwks.contains(&signed) && jwks.matches("\"kid\"").count() == 2 {
                let on_node_1 = kid(&issue(n1, &client_id, &new_secret).await);
                if on_node_1 == signed && signed != keys["keys"][0]["kid"] {
                    break signed;
                }
            }
            assert!(
                rotated_at.elapsed() < Duration::from_secs(10),
                "the new key never signed on node 2"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = rotated_at.elapsed();
        eprintln!("key rotation signing everywhere after {took:?}");
        assert!(took < PROPAGATION, "a key rotation took {took:?}");
        assert_ne!(new_kid, keys["keys"][0]["kid"].as_str().unwrap());
    }

    store.pool().close().await;
    drop(c);
    db.drop_now().await;
}

fn refresh_token(client_id: &str) -> (String, TokenRecord) {
    crate::user_refresh_token(client_id, SCOPE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_behave_as_one_with_opaque_tokens() {
    three_nodes_behave_as_one("opaque").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_behave_as_one_with_jwts() {
    three_nodes_behave_as_one("jwt").await;
}

/// A TCP relay to PostgreSQL that the test can cut: the database "goes
/// away" for these nodes only (other tests share the server).
struct Relay {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bumped to cut every open connection.
    cuts: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl Relay {
    async fn start(to: std::net::SocketAddr) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let cuts = std::sync::Arc::new(cuts);
        let (up2, cuts2) = (std::sync::Arc::clone(&up), std::sync::Arc::clone(&cuts));
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused, as far as the node can tell
                }
                let mut cut = cuts2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Relay { port, up, cuts }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            self.cuts.send_modify(|n| *n += 1);
        }
    }
}

/// What one request through the outage came to.
#[derive(Default, Debug)]
struct Seen {
    statuses: std::collections::BTreeMap<(&'static str, u16), u32>,
}

/// `n` nodes that reach the test database through a relay the test can cut.
async fn behind_a_relay(db: &Database, n: usize, format: &str) -> (Relay, Cluster) {
    let pg: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let relay = Relay::start(pg).await;
    let through_relay = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port), 1);
    assert_ne!(through_relay, db.url, "the test database is on 127.0.0.1:5432");
    let c = Cluster::start(n, &through_relay, format);
    (relay, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_served_through_and_recovered_from_without_a_restart() {
    let Some(db) = Database::create("outage").await else {
        return;
    };
    let (relay, c) = behind_a_relay(&db, 2, "jwt").await;
    let [n1, n2] = [c.bases[0].as_str(), c.bases[1].as_str()];
    let (_, client_id, secret) = c.app("Outage");
    let valid = issue(n1, &client_id, &secret).await;
    let revoked = issue(n1, &client_id, &secret).await;
    assert_eq!(revoke(n2, &client_id, &secret, &revoked).await, 200);
    for base in [n1, n2] {
        assert_eq!(call(base, &Auth::Bearer(&valid)).await, 200);
        let took = refused_everywhere(&[base], &Auth::Bearer(&revoked), Instant::now()).await;
        assert!(took < PROPAGATION, "{took:?}");
    }

    // Load on both nodes while the database goes away for 4 s and comes back.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for base in [n1, n2] {
        let (base, valid, revoked, client_id, secret, stop) = (
            base.to_owned(),
            valid.clone(),
            revoked.clone(),
            client_id.clone(),
            secret.clone(),
            std::sync::Arc::clone(&stop),
        );
        load.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut note = |what: &'static str, status: u16| *seen.statuses.entry((what, status)).or_default() += 1;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                note("valid", call(&base, &Auth::Bearer(&valid)).await);
                note("revoked", call(&base, &Auth::Bearer(&revoked)).await);
                let token = http()
                    .post(format!("{base}/oauth2/token"))
                    .basic_auth(&client_id, Some(&secret))
                    .form(&[("grant_type", "client_credentials"), ("scope", SCOPE)])
                    .send()
                    .await
                    .unwrap();
                note("token", token.status().as_u16());
                let ready = http().get(format!("{base}/readyz")).send().await.unwrap();
                note("readyz", ready.status().as_u16());
                let health = http().get(format!("{base}/healthz")).send().await.unwrap();
                note("healthz", health.status().as_u16());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    relay.set_up(false);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // A revocation the database cannot take is never acknowledged.
    assert_eq!(
        revoke(n1, &client_id, &secret, &valid).await,
        503,
        "a revocation during the outage"
    );
    let down = http().get(format!("{n2}/readyz")).send().await.unwrap();
    assert_eq!(down.status(), 503, "not ready without a database");
    relay.set_up(true);
    // Both nodes recover by themselves.
    let back = Instant::now();
    for base in [n1, n2] {
        loop {
            let ready = http().get(format!("{base}/readyz")).send().await.unwrap().status();
            if ready == 200 {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(30),
                "{base} not ready 30 s after the database came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut all = Seen::default();
    for task in load {
        for (k, n) in task.await.unwrap().statuses {
            *all.statuses.entry(k).or_default() += n;
        }
    }
    eprintln!("through the outage: {:?}", all.statuses);
    for ((what, status), n) in &all.statuses {
        assert!(*status < 500 || *status == 503, "{what}: {n} answers {status}");
        match *what {
            "revoked" => assert_eq!(*status, 401, "a revoked token got {status} {n} times"),
            "valid" | "healthz" => assert_eq!(*status, 200, "{what} got {status} {n} times"),
            _ => {}
        }
    }
    assert!(all.statuses.contains_key(&("readyz", 503)), "the outage was seen");
    // /metrics tells the story: the feed was lost, and is read again.
    let metrics = crate::get_text(format!("{n2}/metrics")).await;
    assert!(metrics.contains("scopegate_change_feed_up 1"), "{metrics}");
    let lost: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("scopegate_change_feed_lost_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(lost > 0, "{metrics}");
    // The change feed works again: a revocation on node 1 reaches node 2.
    assert_eq!(revoke(n1, &client_id, &secret, &valid).await, 200);
    let took = refused_everywhere(&[n2], &Auth::Bearer(&valid), Instant::now()).await;
    assert!(took < PROPAGATION, "after the outage a revocation took {took:?}");
    drop(c);
    db.drop_now().await;
}

/// The cause of a flaky outage test: a valid credential whose cached
/// verification was just cleared (by a revocation) is verified again during
/// the outage, when the app's record is older than its cache's TTL; the
/// record read before the outage must answer, not a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_credential_verified_again_during_an_outage_is_served() {
    let Some(db) = Database::create("reverify").await else {
        return;
    };
    let (relay, c) = behind_a_relay(&db, 1, "jwt").await;
    let base = c.bases[0].as_str();
    let (_, client_id, secret) = c.app("Reverified");
    let valid = issue(base, &client_id, &secret).await;
    let other = issue(base, &client_id, &secret).await;
    assert_eq!(call(base, &Auth::Bearer(&valid)).await, 200);
    // A revocation here forgets every verified credential; then the app's
    // cached record grows older than its 5 s.
    assert_eq!(revoke(base, &client_id, &secret, &other).await, 200);
    tokio::time::sleep(Duration::from_secs(6)).await;
    relay.set_up(false);
    assert_eq!(
        call(base, &Auth::Bearer(&valid)).await,
        200,
        "served through the outage"
    );
    assert_eq!(call(base, &Auth::Bearer(&other)).await, 401, "still revoked");
    relay.set_up(true);
    drop(c);
    db.drop_now().await;
}

/// A bearer credential that cannot be a scopegate token is refused without
/// asking the database, so an outage never turns garbage into a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_credentials_are_401_even_while_the_database_is_away() {
    let Some(db) = Database::create("garbage").await else {
        return;
    };
    let (relay, c) = behind_a_relay(&db, 1, "opaque").await;
    let base = c.bases[0].as_str();
    relay.set_up(false);
    for garbage in ["hello", "sgat_x", "not.a.jwt", &"x".repeat(300)] {
        assert_eq!(call(base, &Auth::Bearer(garbage)).await, 401, "{garbage}");
    }
    let shaped = format!("sgat_{}", "A".repeat(54));
    assert_eq!(
        call(base, &Auth::Bearer(&shaped)).await,
        503,
        "a token of our shape needs the database"
    );
    relay.set_up(true);
    drop(c);
    db.drop_now().await;
}

/// The value of cookie `name` that a response sets.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, value) = pair.split_once('=')?;
        (k == name).then(|| value.to_owned())
    })
}

/// docs/deploy.md's layout, as shipped: three nodes on one PostgreSQL behind
/// examples/cluster/nginx.conf (round robin, no sticky sessions), and the
/// main flows through it: readiness, issuance, the gateway, introspection,
/// revocation, and a portal session begun on one node and used on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_nginx_serve_the_main_flows() {
    let Some(bin) = crate::nginx::nginx_binary() else {
        scopegate_store::testing::missing("nginx is not installed");
        return;
    };
    let Some(db) = Database::create("deploy").await else {
        return;
    };
    let c = Cluster::start(3, &db.url, "opaque");
    let listen = format!("127.0.0.1:{}", crate::free_port());
    let mut conf = std::fs::read_to_string(crate::workspace_root().join("examples/cluster/nginx.conf"))
        .unwrap()
        .replace("127.0.0.1:8000", &listen);
    for (port, base) in ["8081", "8082", "8083"].iter().zip(&c.bases) {
        conf = conf.replace(&format!("127.0.0.1:{port}"), base.trim_start_matches("http://"));
    }
    let _nginx = crate::nginx::Nginx::start(&bin, "cluster", &conf, &listen).await;
    let lb = format!("http://{listen}");

    let r = http().get(format!("{lb}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ready: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ready["database"], "ok");

    let (_, client_id, secret) = c.app("Through nginx");
    // Round robin: consecutive requests land on different nodes.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(issue(&lb, &client_id, &secret).await);
    }
    for token in &tokens {
        for _ in 0..3 {
            assert_eq!(call(&lb, &Auth::Bearer(token)).await, 200);
        }
        let r = http()
            .post(format!("{lb}/oauth2/introspect"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["active"], true);
    }
    assert_eq!(revoke(&lb, &client_id, &secret, &tokens[0]).await, 200);
    let took = refused_everywhere(&[&lb, &lb, &lb], &Auth::Bearer(&tokens[0]), Instant::now()).await;
    assert!(took < PROPAGATION, "{took:?}");

    // A portal session begun through one node works through every node.
    let mut user = Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args([
            "user",
            "create",
            "--config",
            c.config.to_str().unwrap(),
            "--login",
            "dev",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut user.stdin.take().unwrap(), b"developer password\n").unwrap();
    assert!(user.wait().unwrap().success());
    let page = http().get(format!("{lb}/portal/sign-in")).send().await.unwrap();
    let csrf = set_cookie(&page, "sg_csrf").expect("a CSRF cookie");
    let signed_in = http()
        .post(format!("{lb}/portal/sign-in"))
        .header("cookie", format!("sg_csrf={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "dev"),
            ("password", "developer password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "{}", signed_in.text().await.unwrap());
    let session = set_cookie(&signed_in, "sg_session").expect("a session cookie");
    for _ in 0..3 {
        let home = http()
            .get(format!("{lb}/portal/"))
            .header("cookie", format!("sg_csrf={csrf}; sg_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(home.status(), 200);
        let text = home.text().await.unwrap();
        assert!(text.contains("dev"), "{text}");
        assert!(!text.contains("Sign in</h1>"), "signed in on every node");
    }
    drop(c);
    db.drop_now().await;
}

/// SIGTERM: the node stops accepting, lets a request in flight finish,
/// writes the audit events still queued (and `server_stopped`) and exits 0,
/// so a rolling restart loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_writes_the_audit_trail_and_exits_0() {
    let Some(db) = Database::create("sigterm").await else {
        return;
    };
    let mut c = Cluster::start(1, &db.url, "jwt");
    let base = c.bases[0].clone();
    let (_, client_id, secret) = c.app("Stopping");
    // A JWT's issuance is audited off the request path: it is still queued
    // when the signal comes.
    let token = issue(&base, &client_id, &secret).await;
    assert_eq!(call(&base, &Auth::Bearer(&token)).await, 200);
    // A request whose body is still arriving when the signal comes.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /events/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let node = c.nodes.remove(0);
    crate::terminate(node.id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err(),
        "a stopping node accepts no new connection"
    );
    slow.write_all(b"56789").await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    // The route wants account:write, which the token lacks: what matters is
    // that the request in flight got scopegate's answer, not a reset.
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let status = tokio::task::spawn_blocking(move || {
        let mut node = node;
        node.wait().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "exit status");
    let trail = c.cli(&["audit", "--limit", "10"]);
    let events: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.last(), Some(&"server_stopped"), "{events:?}");
    assert!(events.contains(&"issue"), "{events:?}");
    drop(c);
    db.drop_now().await;
}
