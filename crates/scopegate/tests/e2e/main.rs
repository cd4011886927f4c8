//! The real `scopegate` binary, driven as users drive it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

mod architecture;
mod authorize;
mod cli;
mod cluster;
mod crash;
mod delegated_sign_in;
mod docs;
mod fast_path;
mod front_ends;
mod gateway;
mod layer;
mod mcp;
mod mcp_clients;
mod mcp_sdk;
mod nginx;
mod operations;
mod otel;
mod portal;
mod public_openapi;
mod readmes;
mod review;
mod server;
mod upgrade;
mod upstream_sign_in;

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `scopegate` with `args` from the workspace root.
pub fn scopegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run scopegate")
}

/// A loopback port nothing listens on just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A refresh token of `ana`'s grant to `client_id` for `scope`, as the code
/// flow stores it (the browser part of that grant is tested elsewhere): the
/// token, and the record to store.
pub fn user_refresh_token(client_id: &str, scope: &str) -> (String, scopegate_store::TokenRecord) {
    use scopegate_service::credentials::secrets::{self, SecretKind};
    let now = unix_now();
    let secret = secrets::generate(SecretKind::RefreshToken);
    let record = scopegate_store::TokenRecord {
        hash: secrets::hash(&secret),
        kind: scopegate_store::TokenKind::Refresh,
        grant_id: secrets::generate(SecretKind::GrantId),
        client_id: client_id.to_owned(),
        subject: Some("ana".into()),
        grant_kind: "authorization_code".into(),
        scope: scope.into(),
        grant_scope: scope.into(),
        environment: "production".into(),
        granted_at: now,
        issued_at: now,
        expires_at: Some(now + 86_400),
        used: false,
        revoked: false,
        resource: None,
    };
    (secret, record)
}

/// Sends SIGTERM to `pid`.
pub fn terminate(pid: u32) {
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {pid}");
}

/// `GET url`, its body as text.
pub async fn get_text(url: String) -> String {
    server::http().get(url).send().await.unwrap().text().await.unwrap()
}
