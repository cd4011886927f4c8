//! The real `scopegate` binary, driven as users drive it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

mod authorize;
mod cli;
mod cluster;
mod crash;
mod docs;
mod fast_path;
mod gateway;
mod layer;
mod nginx;
mod operations;
mod portal;
mod readmes;
mod server;

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
