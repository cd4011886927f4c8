//! The example READMEs show real output: replay every `$ scopegate …` command in
//! their console blocks and compare what it prints, so the docs cannot drift.

use crate::{scopegate, workspace_root};

/// Splits a command line the way the READMEs write it: words, with "double quotes".
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

#[test]
fn example_readmes_show_what_the_commands_print() {
    let mut checked = 0;
    let root = std::fs::canonicalize(workspace_root()).unwrap().display().to_string();
    for name in ["app-analytics", "marketplace", "storefront"] {
        let path = workspace_root().join(format!("examples/{name}/README.md"));
        let text = std::fs::read_to_string(&path).unwrap();
        let block = text
            .split("```console\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap();
        for chunk in block.split("\n\n") {
            let mut lines = chunk.lines();
            let cmd = lines.next().unwrap().strip_prefix("$ scopegate ").unwrap();
            let expected: Vec<&str> = lines.collect();
            let args = words(cmd);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = scopegate(&args);
            // Absolute paths (the database `check` prints) start at the clone.
            let got = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
            .replace(&root, "/…");
            assert_eq!(
                got.lines().collect::<Vec<_>>(),
                expected,
                "{name}/README.md: `scopegate {cmd}`"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} commands found");
}
