//! The how-tos in README.md and docs/ run as written: every ```sh block of a
//! document is replayed in order, in one bash, on a fresh copy of the
//! examples, with `scopegate` (the alias and `cargo run -p scopegate --`)
//! being the binary under test and port 8080 (policies and commands alike)
//! a free one. A command that fails stops the replay and fails the test;
//! `scopegate explain` may exit 1, which is its documented "deny".
//!
//! Blocks that are not commands to paste (a synopsis, a systemd unit) are
//! fenced as `text`, not `sh`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::{free_port, workspace_root};

/// Put on the line before a block that cannot be replayed (it needs a
/// browser); the docs say so in their text too.
const NOT_REPLAYED: &str = "<!-- not replayed:";

/// The `sh` blocks of `markdown`, in order, less those marked [`NOT_REPLAYED`].
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    let mut previous = "";
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") if !previous.starts_with(NOT_REPLAYED) => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
        previous = line;
    }
    blocks
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().contains(".db") {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Replays the `sh` blocks of `doc` (relative to the workspace root) and
/// returns what they printed.
fn replay(doc: &str) -> String {
    replay_with(doc, &[])
}

/// [`replay`] with more environment variables for the script.
fn replay_with(doc: &str, env: &[(&str, &str)]) -> String {
    let root = workspace_root();
    let markdown = std::fs::read_to_string(root.join(doc)).unwrap();
    let port = free_port().to_string();
    let proxy_port = free_port().to_string();
    let dir = std::env::temp_dir().join(format!("scopegate-docs-{}-{port}", std::process::id()));
    let nginx_dir = dir.join("sg-nginx").display().to_string();
    // What the docs name that must be this run's own: scopegate's port,
    // nginx's port and its prefix directory.
    let nodes = [free_port(), free_port(), free_port()];
    let cluster_dir = dir.join("sg-cluster").display().to_string();
    let own = |text: &str| {
        text.replace("8080", &port)
            .replace("127.0.0.1:8000", &format!("127.0.0.1:{proxy_port}"))
            .replace("/tmp/sg-nginx", &nginx_dir)
            .replace("/tmp/sg-cluster", &cluster_dir)
            .replace("8081", &nodes[0].to_string())
            .replace("8082", &nodes[1].to_string())
            .replace("8083", &nodes[2].to_string())
    };
    copy_dir(&root.join("examples"), &dir.join("examples"));
    copy_dir(&root.join("interop"), &dir.join("interop"));
    for file in [
        "app-analytics/scopegate.toml",
        "marketplace/scopegate.toml",
        "storefront/scopegate.toml",
        "mcp/scopegate.toml",
        "forward-auth/nginx.conf",
        "cluster/nginx.conf",
        "tls/nginx.conf",
    ] {
        let path = dir.join("examples").join(file);
        let text = own(&std::fs::read_to_string(&path).unwrap());
        std::fs::write(&path, text).unwrap();
    }
    // The MCP SDK's venv is made by .ci/run (never downloaded by a test):
    // the how-to's own `pip install` is left out and its venv is that one.
    let venv = std::env::var("MCP_VENV").unwrap_or_else(|_| root.join("target/mcp-venv").display().to_string());
    let commands = sh_blocks(&markdown)
        .concat()
        .lines()
        .filter(|line| !line.starts_with("alias scopegate="))
        .filter(|line| !line.contains("target/mcp-venv/bin/pip install"))
        .map(|line| line.replace("target/mcp-venv", &venv))
        .map(|line| line.replace("cargo run -q -p scopegate --", "scopegate"))
        .map(|line| line.replace("cargo run -p scopegate --", "scopegate"))
        .collect::<Vec<_>>()
        .join("\n");
    let commands = own(&commands);
    let script = format!(
        r#"set -uo pipefail
on_err() {{
    case "$2" in "scopegate explain"*) [ "$1" -eq 1 ] && return 0 ;; esac
    echo "FAILED ($1): $2" >&2
    kill $(jobs -p) 2>/dev/null
    exit 1
}}
trap 'on_err $? "$BASH_COMMAND"' ERR
{commands}
trap - ERR
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
exit 0
"#
    );
    // `scopegate` on the PATH is the binary under test, so that a server
    // started with `&` is a job of the script's own.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_scopegate"), bin.join("scopegate")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    // A group of its own: whatever the script leaves running is stopped with it.
    // From a file, not `bash -c`: a command line holding the whole script
    // would match the docs' own `pkill -f` patterns.
    let script_path = dir.join("replay.sh");
    std::fs::write(&script_path, &script).unwrap();
    let mut child = Command::new("bash")
        .arg(&script_path)
        .current_dir(&dir)
        .env("PATH", path)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(std::process::Stdio::null())
        .status();
    let _ = child.wait();
    let printed = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let output = Done {
        success: status.is_some_and(|s| s.success()),
    };
    assert!(
        output.success,
        "{doc} did not run as written (or not within 120 s):\n{printed}"
    );
    printed
}

struct Done {
    success: bool,
}

#[test]
fn the_readme_runs_as_written() {
    let printed = replay("README.md");
    // The gateway call reached the echo upstream, with the caller's identity.
    assert!(printed.contains("\"x-scopegate-client-id\":\"sgci_"), "{printed}");
    assert!(printed.contains("\"x-scopegate-scopes\":\"account:read\""), "{printed}");
    // The smallest scope set for the two endpoints.
    assert!(printed.contains("scope="), "{printed}");
}

#[test]
fn the_token_server_how_to_runs_as_written() {
    let printed = replay("docs/oauth.md");
    assert!(printed.contains("\"token_type\":\"Bearer\""), "{printed}");
    assert!(
        printed.contains("\"active\":true"),
        "introspected before the revocation: {printed}"
    );
    assert!(printed.contains("code_challenge_method=S256"), "{printed}");
    assert!(printed.contains("\"keys\":[{"), "{printed}");
}

#[test]
fn the_admin_api_how_to_runs_as_written() {
    let printed = replay("docs/admin-api.md");
    assert!(printed.contains("\"client_secret\":\"sgcs_"), "{printed}");
    assert!(printed.contains("\"event\":\"app_create\""), "{printed}");
    assert!(
        printed.contains("\"reason\":\"holds account:read (implied by account:write)\""),
        "{printed}"
    );
    assert!(!printed.contains("\"error\""), "every call succeeded: {printed}");
}

#[test]
fn the_portal_how_to_runs_as_written() {
    let printed = replay("docs/portal.md");
    assert!(
        printed.contains("user boss created with permissions admin"),
        "{printed}"
    );
    assert!(printed.contains("\n200\n"), "the sign-in page answers: {printed}");
}

#[test]
fn the_policy_how_to_runs_as_written() {
    let printed = replay("docs/policy.md");
    assert!(printed.contains("pets.toml: ok"), "{printed}");
    assert!(printed.contains("decision   deny"), "the AND holds: {printed}");
    assert!(printed.contains("decision   allow"), "{printed}");
    assert!(
        printed.contains(
            "widened          route GET /account/*: any_of [account:read] -> any_of [account:read, public:read]"
        ),
        "{printed}"
    );
    assert!(printed.contains("exit 2"), "{printed}");
}

#[test]
fn the_security_how_to_runs_as_written() {
    let printed = replay("docs/security.md");
    assert!(printed.contains("signing  sealed"), "{printed}");
    assert!(!printed.contains("in the clear"), "{printed}");
    assert!(printed.contains("401\n401\n401\n401\n401\n429\n"), "{printed}");
}

#[test]
fn the_gateway_how_to_runs_as_written() {
    let printed = replay("docs/gateway.md");
    assert!(
        printed.contains("\"x-scopegate-environment\":\"production\""),
        "{printed}"
    );
    assert!(printed.contains("scopegate_requests_total{"), "{printed}");
}

#[test]
fn the_nginx_forward_auth_how_to_runs_as_written() {
    let has_nginx = Command::new("nginx")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_nginx {
        scopegate_store::testing::missing("nginx is not installed; docs/forward-auth.md was not replayed");
        return;
    }
    let printed = replay("docs/forward-auth.md");
    let lower = printed.to_ascii_lowercase();
    assert!(lower.contains("http/1.1 403 forbidden"), "{printed}");
    assert!(
        lower.contains("www-authenticate: bearer error=\"insufficient_scope\", scope=\"products:write\""),
        "{printed}"
    );
    assert!(printed.contains("\"error\":\"insufficient_scope\""), "{printed}");
}

#[test]
fn the_deploy_how_to_runs_as_written() {
    let has_nginx = Command::new("nginx")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_psql = Command::new("psql")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_nginx || !has_psql {
        scopegate_store::testing::missing("nginx or psql is not installed; docs/deploy.md was not replayed");
        return;
    }
    let printed = replay("docs/deploy.md");
    assert!(printed.contains("200\n200\n200\n"), "{printed}");
    assert!(printed.contains("after revocation: 401"), "{printed}");
}

#[test]
fn the_production_how_to_runs_as_written() {
    let has = |tool: &str, arg: &str| Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
    if !has("nginx", "-v") || !has("psql", "--version") || !has("pg_dump", "--version") || !has("openssl", "version") {
        scopegate_store::testing::missing(
            "nginx, psql, pg_dump or openssl is not installed; docs/production.md was not replayed",
        );
        return;
    }
    let printed = replay("docs/production.md");
    assert!(printed.contains("\"issuer\":\"https://127.0.0.1:"), "{printed}");
    assert!(printed.contains("\"x-forwarded-proto\":\"https\""), "{printed}");
    assert!(printed.contains("; Secure"), "{printed}");
    assert!(printed.contains("restored, the revoked token: 200"), "{printed}");
    assert!(
        printed.contains("restored from pg_dump, the revoked token: 200"),
        "{printed}"
    );
    assert_eq!(printed.matches("after store restored: 401").count(), 2, "{printed}");
}

#[test]
fn the_paths_policy_and_commands_how_tos_run_as_written() {
    for doc in ["docs/paths.md", "docs/policy.md", "docs/commands.md"] {
        let printed = replay(doc);
        assert!(!printed.contains("FAILED"), "{doc}: {printed}");
    }
}

/// docs/users.md runs a real OpenID Connect provider (oidc-provider, which
/// .ci/run installs from npm) and the example login app.
#[test]
fn the_users_how_to_runs_as_written() {
    let module = std::env::var("OIDC_PROVIDER").unwrap_or_else(|_| {
        workspace_root()
            .join("target/ci-node/node_modules/oidc-provider/lib/index.js")
            .display()
            .to_string()
    });
    if !std::path::Path::new(&module).exists() {
        scopegate_store::testing::missing("oidc-provider is not installed; docs/users.md was not replayed");
        return;
    }
    let printed = replay_with("docs/users.md", &[("OIDC_PROVIDER", &module)]);
    assert!(!printed.contains("FAILED"), "{printed}");
}

#[test]
fn the_mcp_how_to_runs_as_written() {
    let venv =
        std::env::var("MCP_VENV").unwrap_or_else(|_| workspace_root().join("target/mcp-venv").display().to_string());
    if !std::path::Path::new(&venv).join("bin/python").exists() {
        scopegate_store::testing::missing(
            "the MCP Python SDK is not installed (target/mcp-venv); docs/mcp.md was not replayed",
        );
        return;
    }
    let printed = replay("docs/mcp.md");
    assert!(printed.contains("tools: list_orders (cacheScope private)"), "{printed}");
    assert!(
        printed.contains("consented to: read_orders then read_orders orders"),
        "{printed}"
    );
    assert!(printed.contains("resource_metadata="), "{printed}");
    assert!(printed.contains("scope=\"orders refunds\""), "{printed}");
    assert!(
        printed.contains("the challenge asks for scope=\"refunds\""),
        "{printed}"
    );
}

#[test]
fn a_failing_command_fails_the_replay() {
    // The harness itself: a how-to whose command fails must not pass.
    let blocks = sh_blocks(
        "```sh\nscopegate check --config nowhere.toml\n```\n<!-- not replayed: browser -->\n```sh\nskipped\n```\n",
    );
    assert_eq!(blocks, ["scopegate check --config nowhere.toml\n"]);
    let dir = std::env::temp_dir().join(format!("scopegate-docs-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("doc.md"),
        "```sh\nscopegate check --config nowhere.toml\necho after\n```\n",
    )
    .unwrap();
    let result = std::panic::catch_unwind(|| {
        let rel = dir.join("doc.md");
        replay(rel.to_str().unwrap())
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(result.is_err(), "a failing command went unnoticed");
}
