//! The official MCP Python SDK (`mcp` 2.3.0, in the venv `.ci/run` makes)
//! against scopegate: its server (examples/mcp/server.py) behind the
//! gateway, its client with OAuth (examples/mcp/agent.py) discovering
//! everything from the 401, registering itself, having its user consent,
//! calling a tool, stepping up on a 403 and calling the next.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::authorize::create_user;
use crate::workspace_root;

/// The venv's python, or `None` (said loudly; a failure under CI).
fn python() -> Option<String> {
    let venv =
        std::env::var("MCP_VENV").unwrap_or_else(|_| workspace_root().join("target/mcp-venv").display().to_string());
    let python = format!("{venv}/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import mcp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        scopegate_store::testing::missing(
            "the MCP Python SDK is not installed (target/mcp-venv); the SDK tests did not run",
        );
        return None;
    }
    Some(python)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts examples/mcp/server.py on a free port; waits until it answers.
fn mcp_server(python: &str) -> (Killed, String) {
    let port = crate::free_port();
    let child = Command::new(python)
        .arg(workspace_root().join("examples/mcp/server.py"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the MCP server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Killed(child), format!("http://127.0.0.1:{port}"))
}

#[test]
fn the_official_mcp_client_discovers_registers_consents_and_steps_up() {
    let Some(python) = python() else { return };
    let (_server, upstream) = mcp_server(&python);
    let s = crate::mcp::start(&upstream);
    create_user(&s, "alice", &[]);
    let out = Command::new(&python)
        .arg(workspace_root().join("examples/mcp/agent.py"))
        .args([&s.url("/mcp"), "alice", "correct horse battery"])
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    // The first consent: the scopes the resource metadata advertises; the
    // list shows the one tool they allow, marked private (the server said public).
    assert!(printed.contains("tools: list_orders (cacheScope private)"), "{printed}");
    assert!(printed.contains("list_orders: {"), "{printed}");
    // create_order needs orders: one 403, one more consent for exactly that, then the call.
    assert!(printed.contains("\"status\": \"new\""), "{printed}");
    assert!(
        printed.contains("consented to: read_orders then read_orders orders"),
        "{printed}"
    );
    assert!(
        printed.contains("Lets an AI agent: list orders, create orders, refund orders"),
        "the consent page names the tools: {printed}"
    );
}
