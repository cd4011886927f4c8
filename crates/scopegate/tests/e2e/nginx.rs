//! A real nginx with `auth_request` to scopegate's `/authz`, in front of an
//! upstream that echoes what it receives: the shipped
//! examples/forward-auth/nginx.conf with its three addresses replaced.
//! Without nginx the test says it was skipped; with `CI=true` it fails.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;

use crate::free_port;
use crate::gateway::{app_and_token, upstream};
use crate::server::{Server, http};

pub(crate) struct Nginx {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master stops its workers and then itself. A
        // killed master leaves its workers running, listening, for good.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    /// nginx on `conf` (which listens on `listen`), its files under a
    /// prefix of its own; once it answers.
    pub(crate) async fn start(bin: &str, name: &str, conf: &str, listen: &str) -> Nginx {
        let dir = std::env::temp_dir().join(format!("scopegate-nginx-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(bin)
            .args([
                "-p",
                dir.to_str().unwrap(),
                "-c",
                conf_path.to_str().unwrap(),
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("logs/stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let nginx = Nginx { child, dir };
        let mut up_and_running = false;
        for _ in 0..300 {
            if http().get(format!("http://{listen}/")).send().await.is_ok() {
                up_and_running = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = ["logs/error.log", "logs/stderr.log"]
            .map(|f| std::fs::read_to_string(nginx.dir.join(f)).unwrap_or_default())
            .join("\n");
        assert!(up_and_running, "nginx did not start: {log}");
        nginx
    }
}

pub(crate) fn nginx_binary() -> Option<String> {
    ["nginx", "/usr/sbin/nginx"].into_iter().map(str::to_owned).find(|bin| {
        Command::new(bin)
            .arg("-v")
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_allows_and_denies_through_scopegate() {
    let Some(bin) = nginx_binary() else {
        scopegate_store::testing::missing("nginx is not installed; the forward-auth test through nginx did not run");
        return;
    };
    let up = upstream().await;
    let s = Server::start("app-analytics");
    let (id, _, token) = app_and_token(&s, "account:read").await;

    let listen = format!("127.0.0.1:{}", free_port());
    // The shipped file as it is, but for its three addresses: its pid file,
    // logs and temporary files are under the prefix.
    let conf = std::fs::read_to_string(crate::workspace_root().join("examples/forward-auth/nginx.conf"))
        .unwrap()
        .replace("127.0.0.1:8000", &listen)
        .replace("127.0.0.1:8080", s.base.trim_start_matches("http://"))
        .replace("127.0.0.1:9000", up.base.trim_start_matches("http://"));
    let _nginx = Nginx::start(&bin, "forward-auth", &conf, &listen).await;
    let base = format!("http://{listen}");
    let c = http();

    let r = c
        .get(format!("{base}/account/x?y=1"))
        .bearer_auth(&token)
        .header("X-Scopegate-Client-Id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["uri"], "/account/x?y=1");
    assert_eq!(body["headers"]["x-scopegate-client-id"], id.as_str());
    assert_eq!(body["headers"]["x-scopegate-scopes"], "account:read");
    assert!(body["headers"].get("authorization").is_none());
    assert_eq!(up.hits.load(Ordering::SeqCst), 1);

    let r = c
        .put(format!("{base}/products/1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "not enough scope");
    // scopegate's answer reaches the caller: its challenge and its body.
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"products:write\""
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope", "{body}");
    assert_eq!(body["required"]["any_of"][0], "products:write", "{body}");
    let r = c.get(format!("{base}/account/x")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no credentials");
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"scopegate\"");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated", "{body}");
    let r = c
        .get(format!("{base}/account/x"))
        .bearer_auth("sgat_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a bad token");
    assert_eq!(up.hits.load(Ordering::SeqCst), 1, "denials never reached the upstream");
}
