//! For tests only: what a test does when a service it needs (PostgreSQL,
//! nginx, Chromium, a Debian package's files) is missing on this machine.

/// Whether this run is CI's (`CI` set to anything but empty or `false`):
/// there every service the tests need is installed, so a missing one is a
/// failure, not a reason to skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// A test cannot run because `what` is missing: under CI this panics (the
/// test fails); elsewhere it says SKIPPED on the process's stderr (which the
/// harness does not capture) and the caller returns.
/// The skip is also a line of the file `SCOPEGATE_SKIPPED` names, if set:
/// `scripts/test` counts them after cargo's own summary.
pub fn missing(what: &str) {
    assert!(!in_ci(), "CI is set but {what}");
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {what}");
    if let Some(path) = std::env::var_os("SCOPEGATE_SKIPPED") {
        // One short write in append mode: lines from tests running at once stay whole.
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).create(true).open(path) {
            let _ = file.write_all(format!("{}\n", what.replace('\n', " ")).as_bytes());
        }
    }
}
