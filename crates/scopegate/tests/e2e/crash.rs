//! Crash safety (docs/security.md): issuance, refresh and revocation load against
//! `scopegate serve`, `kill -9` at a random moment, restart. Every token the
//! server returned before the kill still introspects as active, every
//! revocation it acknowledged still holds, and the database passes its
//! integrity check. On SQLite (opaque and JWT access tokens) and PostgreSQL.
//!
//! `SCOPEGATE_CRASH_ROUNDS` sets the rounds per backend (default 3; the
//! documented run in docs/security.md uses 20).

use std::sync::Arc;
use std::time::{Duration, Instant};

use scopegate_store::{Store, TokenRecord};
use tokio::sync::Mutex;

use crate::server::{Server, http};

const SCOPE: &str = "account:read";

fn rounds() -> usize {
    std::env::var("SCOPEGATE_CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

/// What the server acknowledged before it was killed.
#[derive(Default)]
struct Acknowledged {
    /// Access tokens it issued (by client credentials or by refresh).
    active: Vec<String>,
    /// Access tokens whose revocation it answered 200.
    revoked: Vec<String>,
    /// Each refresh chain's latest refresh token.
    refresh: Vec<String>,
}

struct App {
    id: String,
    secret: String,
}

/// A token request with the app's credentials: its JSON answer on a 200.
async fn token_request(base: &str, app: &App, form: &[(&str, &str)]) -> Option<serde_json::Value> {
    let r = http()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&app.id, Some(&app.secret))
        .form(form)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

async fn issue(base: &str, app: &App) -> Option<String> {
    let v = token_request(base, app, &[("grant_type", "client_credentials"), ("scope", SCOPE)]).await?;
    v["access_token"].as_str().map(str::to_owned)
}

async fn revoke(base: &str, app: &App, token: &str) -> bool {
    http()
        .post(format!("{base}/oauth2/revoke"))
        .basic_auth(&app.id, Some(&app.secret))
        .form(&[("token", token)])
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn refresh(base: &str, app: &App, refresh_token: &str) -> Option<(String, String)> {
    let v = token_request(
        base,
        app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await?;
    Some((
        v["access_token"].as_str()?.to_owned(),
        v["refresh_token"].as_str()?.to_owned(),
    ))
}

async fn active(base: &str, app: &App, token: &str) -> bool {
    let r = http()
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth(&app.id, Some(&app.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "introspection answered {}", r.status());
    let v: serde_json::Value = r.json().await.unwrap();
    v["active"] == true
}

/// Refresh tokens of user grants, stored as the authorization code grant
/// stores them.
fn seeded_refresh_tokens(app: &App, n: usize) -> (Vec<String>, Vec<TokenRecord>) {
    (0..n).map(|_| crate::user_refresh_token(&app.id, SCOPE)).unzip()
}

/// Load from four tasks until the server dies under them.
async fn load(s: &Server, app: Arc<App>, acked: Arc<Mutex<Acknowledged>>) {
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (app, acked, view) = (Arc::clone(&app), Arc::clone(&acked), s.base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                match worker {
                    0 | 1 => match issue(&view, &app).await {
                        Some(t) => acked.lock().await.active.push(t),
                        None => return,
                    },
                    2 => {
                        // Issued, then revoked: while the revocation is in
                        // flight its token's state is unknown, so it is
                        // recorded only once the revocation is answered.
                        let Some(t) = issue(&view, &app).await else { return };
                        if !revoke(&view, &app, &t).await {
                            return;
                        }
                        acked.lock().await.revoked.push(t);
                    }
                    _ => {
                        let Some(current) = acked.lock().await.refresh.pop() else {
                            return;
                        };
                        match refresh(&view, &app, &current).await {
                            Some((access, next)) => {
                                let mut a = acked.lock().await;
                                a.active.push(access);
                                a.refresh.insert(0, next);
                            }
                            None => return,
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Rounds of load, `kill -9`, restart and checks on one server.
async fn crash_rounds(s: &mut Server, app: App, refresh_tokens: Vec<String>) {
    let app = Arc::new(app);
    let acked = Arc::new(Mutex::new(Acknowledged {
        refresh: refresh_tokens,
        ..Acknowledged::default()
    }));
    for round in 0..rounds() {
        let kill_after = Duration::from_millis(150 + (round as u64 * 137) % 500);
        let started = Instant::now();
        let pid = s.pid();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(kill_after).await;
            // SIGKILL: no drain, no flush, as a crash or the OOM killer.
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        });
        load(s, Arc::clone(&app), Arc::clone(&acked)).await;
        killer.await.unwrap();
        s.restart();
        let a = acked.lock().await;
        assert!(
            !a.active.is_empty(),
            "round {round}: nothing was issued in {:?}",
            started.elapsed()
        );
        // Every acknowledged token (the latest 300: the checks cost a request each).
        for t in a.active.iter().rev().take(300) {
            assert!(
                active(&s.base, &app, t).await,
                "round {round}: an issued token was lost"
            );
        }
        for t in a.revoked.iter().rev().take(100) {
            assert!(!active(&s.base, &app, t).await, "round {round}: a revocation was lost");
        }
    }
    let a = acked.lock().await;
    eprintln!(
        "crash: {} rounds; {} tokens issued and {} revocations acknowledged, all held",
        rounds(),
        a.active.len(),
        a.revoked.len()
    );
}

fn sqlite_integrity(s: &Server) {
    let db = s.config.with_file_name("scopegate.db");
    // Checked from a thread with its own runtime: the test's is busy awaiting.
    let ok: String = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(&pool)
                .await
                .unwrap()
        })
    })
    .join()
    .unwrap();
    assert_eq!(ok, "ok");
}

async fn on_sqlite(format: &str) {
    let mut s = Server::start_edited("app-analytics", |p| {
        p.replacen("format      = \"opaque\"", &format!("format      = \"{format}\""), 1)
    });
    let (id, secret) = s.app(&["--name", "Crash", "--env", "production", "--scopes", SCOPE]);
    let app = App { id, secret };
    let (tokens, records) = seeded_refresh_tokens(&app, 8);
    let store = scopegate_store::SqliteStore::connect(&format!(
        "sqlite://{}",
        s.config.with_file_name("scopegate.db").display()
    ))
    .await
    .unwrap();
    store.insert_tokens(&records).await.unwrap();
    crash_rounds(&mut s, app, tokens).await;
    sqlite_integrity(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_tokens_and_revocations_survive_kill_9_on_sqlite() {
    on_sqlite("opaque").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_jwts_and_revocations_survive_kill_9_on_sqlite() {
    on_sqlite("jwt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_tokens_and_revocations_survive_kill_9_on_postgres() {
    let admin_url =
        std::env::var("SCOPEGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = match scopegate_store::PgStore::connect(&admin_url).await {
        Ok(a) => a,
        Err(e) => {
            scopegate_store::testing::missing(&format!("PostgreSQL is unreachable at {admin_url}: {e}"));
            return;
        }
    };
    let name = format!("sg_crash_{}", std::process::id());
    sqlx_exec(&admin, &format!("DROP DATABASE IF EXISTS {name}")).await;
    sqlx_exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let base = admin_url.rsplit_once('/').unwrap().0;
    let url = format!("{base}/{name}");
    let mut s = Server::start_edited("app-analytics", |p| {
        p.lines()
            .map(|line| {
                if line.starts_with("database") {
                    format!("database = \"{url}\"")
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let (id, secret) = s.app(&["--name", "Crash", "--env", "production", "--scopes", SCOPE]);
    let app = App { id, secret };
    let (tokens, records) = seeded_refresh_tokens(&app, 8);
    let store = scopegate_store::PgStore::connect(&url).await.unwrap();
    store.insert_tokens(&records).await.unwrap();
    crash_rounds(&mut s, app, tokens).await;
    drop(s);
    store.pool().close().await;
    sqlx_exec(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}

async fn sqlx_exec(store: &scopegate_store::PgStore, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}
