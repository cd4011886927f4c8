//! Compiles the generated 10,000-route / 1,000-scope policy and prints how long
//! it took and how much the process grew (resident set, from /proc/self/status),
//! with the text of the policy itself freed first.

use std::time::Instant;

use scopegate_bench::generated_policy;
use scopegate_core::Policy;

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let routes: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let scopes: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let source = generated_policy(routes, scopes);
    let bytes = source.len();
    let before = rss_kib().unwrap_or(0);
    let started = Instant::now();
    let policy = Policy::compile("generated.toml", &source);
    let elapsed = started.elapsed();
    drop(source);
    let after = rss_kib().unwrap_or(0);
    match policy {
        Ok(p) => {
            let endpoints: Vec<String> = scopegate_bench::generated_requests(routes)
                .into_iter()
                .take(50)
                .map(|(m, t)| format!("{m} {t}"))
                .collect();
            let started = Instant::now();
            let cover = p.scopes_for(&endpoints, scopegate_core::CoverFor::default());
            println!(
                "scopes-for on {} endpoints: {:.2} ms ({} scopes)",
                endpoints.len(),
                started.elapsed().as_secs_f64() * 1e3,
                cover.map(|c| c.scopes.len()).unwrap_or(0)
            );
            println!(
                "compiled {} routes, {} scopes ({} KiB of TOML) in {:.1} ms; trie nodes {}; RSS grew {:.1} MiB (includes allocator slack from parsing)",
                p.routes().len(),
                p.catalog.len(),
                bytes / 1024,
                elapsed.as_secs_f64() * 1e3,
                p.router_nodes(),
                after.saturating_sub(before) as f64 / 1024.0
            );
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
