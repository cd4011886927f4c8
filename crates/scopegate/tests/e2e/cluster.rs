//! Several `scopegate serve` nodes on one PostgreSQL database (issue 17):
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

use scopegate_server::secrets::{self, SecretKind};
use scopegate_store::{Store, TokenKind, TokenRecord, UserRecord};

use crate::server::http;

const SCOPE: &str = "account:read";
/// The bound docs/gateway.md states for a change made on one node to reach
/// the others.
const PROPAGATION: Duration = Duration::from_secs(1);

fn admin_url() -> String {
    std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh database, dropped on drop.
struct Database {
    admin: scopegate_store::PgStore,
    name: String,
    url: String,
}

impl Database {
    async fn create(tag: &str) -> Option<Database> {
        let admin = match scopegate_store::PgStore::connect(&admin_url()).await {
            Ok(a) => a,
            Err(e) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "PostgreSQL is required in CI but unreachable: {e}"
                );
                eprintln!("SKIPPED: no PostgreSQL");
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

    async fn drop_now(self) {
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
        let dir = std::env::temp_dir().join(format!("scopegate-cluster-{}-{format}", std::process::id()));
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
        jwks.push(
            http()
                .get(format!("{base}/oauth2/jwks"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
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
    let r = http()
        .post(format!("{n3}/oauth2/revoke"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
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
    let ana = UserRecord {
        login: "ana".into(),
        password_hash: "not used".into(),
        permissions: vec![],
        enabled: true,
        created_at: 0,
        tokens_revoked_before: None,
    };
    assert!(store.create_user(&ana).await.unwrap());
    for round in 0..8 {
        let (refresh, record) = refresh_token(&client_id);
        store.insert_tokens(&[record]).await.unwrap();
        let attempt = |base: &str| {
            http()
                .post(format!("{base}/oauth2/token"))
                .basic_auth(&client_id, Some(&new_secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
                .send()
        };
        let (a, b) = tokio::join!(attempt(n1), attempt(n2));
        let statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(statuses.contains(&400), "round {round}: {statuses:?}");
    }
    store.pool().close().await;
    drop(c);
    db.drop_now().await;
}

/// A refresh token of a user grant, as the code flow stores it.
fn refresh_token(client_id: &str) -> (String, TokenRecord) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let secret = secrets::generate(SecretKind::RefreshToken);
    let record = TokenRecord {
        hash: secrets::hash(&secret),
        kind: TokenKind::Refresh,
        grant_id: secrets::generate(SecretKind::GrantId),
        client_id: client_id.to_owned(),
        subject: Some("ana".into()),
        grant_kind: "authorization_code".into(),
        scope: SCOPE.into(),
        grant_scope: SCOPE.into(),
        environment: "production".into(),
        granted_at: now,
        issued_at: now,
        expires_at: Some(now + 86_400),
        used: false,
        revoked: false,
    };
    (secret, record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_behave_as_one_with_opaque_tokens() {
    three_nodes_behave_as_one("opaque").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_behave_as_one_with_jwts() {
    three_nodes_behave_as_one("jwt").await;
}
