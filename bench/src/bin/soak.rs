//! Soak load for `bench/soak/run.sh`: a mix of token issuance,
//! introspection, gateway calls and revocations against a running
//! `scopegate serve`, first as fast as it goes (the maximum), then at a
//! fraction of that for a long while, with a policy reload (SIGHUP) every
//! 30 s. Every 10 s it prints one CSV row: requests, 5xx, p50 and p99 of
//! that window, and the server's RSS and open file descriptors.
//!
//! Usage: soak BASE_URL CLIENT_ID CLIENT_SECRET SERVER_PID [SECONDS] [FRACTION]
//! Exits 1 if any answer was a 5xx or a transport error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

const WORKERS: usize = 32;
const WINDOW: Duration = Duration::from_secs(10);
const RELOAD_EVERY: Duration = Duration::from_secs(30);

struct Target {
    base: String,
    id: String,
    secret: String,
    http: reqwest::Client,
}

#[derive(Default)]
struct Window {
    latencies_us: Vec<u32>,
    server_errors: u64,
}

/// One operation of the mix; `Ok(false)` for a 5xx. With no token in hand
/// (at the start, after a revocation) the operation is an issuance.
async fn operation(t: &Target, n: u64, token: &mut Option<String>) -> Result<bool, reqwest::Error> {
    let slot = if token.is_none() { 0 } else { n % 20 };
    let status = match slot {
        // 4 in 20: issue a token (kept for the calls that follow).
        0..=3 => {
            let r = t
                .http
                .post(format!("{}/oauth2/token", t.base))
                .basic_auth(&t.id, Some(&t.secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "account:read")])
                .send()
                .await?;
            let status = r.status();
            if status.is_success() {
                let v: serde_json::Value = r.json().await?;
                *token = v["access_token"].as_str().map(str::to_owned);
            }
            status
        }
        // 4 in 20: introspect it.
        4..=7 => {
            let tok = token.as_deref().unwrap_or_default();
            t.http
                .post(format!("{}/oauth2/introspect", t.base))
                .basic_auth(&t.id, Some(&t.secret))
                .form(&[("token", tok)])
                .send()
                .await?
                .status()
        }
        // 1 in 20: revoke it (the next calls with it are 401s, as they should be).
        8 => {
            let tok = token.take().unwrap_or_default();
            t.http
                .post(format!("{}/oauth2/revoke", t.base))
                .basic_auth(&t.id, Some(&t.secret))
                .form(&[("token", tok.as_str())])
                .send()
                .await?
                .status()
        }
        // 11 in 20: an API call through the gateway.
        _ => {
            let tok = token.as_deref().unwrap_or_default();
            t.http
                .get(format!("{}/account/settings", t.base))
                .bearer_auth(tok)
                .send()
                .await?
                .status()
        }
    };
    Ok(!status.is_server_error())
}

/// Runs the mix for `seconds`; with `rate` (operations per second, all
/// workers together) paced, else flat out. Returns operations per second.
async fn run(target: Arc<Target>, seconds: u64, rate: Option<f64>, pid: u32, report: bool) -> (f64, u64) {
    let window = Arc::new(Mutex::new(Window::default()));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (target, window, done, failures) = (
            Arc::clone(&target),
            Arc::clone(&window),
            Arc::clone(&done),
            Arc::clone(&failures),
        );
        workers.push(tokio::spawn(async move {
            let mut token = None;
            let mut n = w as u64;
            // Paced: each worker its share of the rate, on a fixed schedule.
            let interval = rate.map(|r| Duration::from_secs_f64(WORKERS as f64 / r));
            let mut next = Instant::now();
            while Instant::now() < end {
                if let Some(interval) = interval {
                    next += interval;
                    tokio::time::sleep_until(next.into()).await;
                }
                let t0 = Instant::now();
                let ok = operation(&target, n, &mut token).await.unwrap_or(false);
                let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                let mut win = window.lock().await;
                win.latencies_us.push(us);
                if !ok {
                    win.server_errors += 1;
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                drop(win);
                done.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    let mut last_reload = Instant::now();
    let mut ticker = tokio::time::interval(WINDOW);
    ticker.tick().await;
    while Instant::now() < end {
        ticker.tick().await;
        if last_reload.elapsed() >= RELOAD_EVERY {
            let _ = std::process::Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status();
            last_reload = Instant::now();
        }
        let mut win = std::mem::take(&mut *window.lock().await);
        if report {
            win.latencies_us.sort_unstable();
            let pick = |q: f64| {
                win.latencies_us
                    .get(((win.latencies_us.len() as f64 * q) as usize).min(win.latencies_us.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0)
            };
            println!(
                "{},{},{},{},{},{},{}",
                started.elapsed().as_secs(),
                win.latencies_us.len(),
                win.server_errors,
                pick(0.50),
                pick(0.99),
                rss_kib(pid),
                open_fds(pid)
            );
        }
    }
    for w in workers {
        let _ = w.await;
    }
    let total = done.load(Ordering::Relaxed);
    (
        total as f64 / started.elapsed().as_secs_f64(),
        failures.load(Ordering::Relaxed),
    )
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: soak BASE_URL CLIENT_ID CLIENT_SECRET SERVER_PID [SECONDS] [FRACTION]");
        std::process::exit(2);
    }
    let pid: u32 = args[4].parse().unwrap_or(0);
    let seconds: u64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(1800);
    let fraction: f64 = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(0.8);
    let target = Arc::new(Target {
        base: args[1].trim_end_matches('/').to_owned(),
        id: args[2].clone(),
        secret: args[3].clone(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(WORKERS)
            .build()
            .unwrap_or_default(),
    });
    let (max, max_failures) = run(Arc::clone(&target), 15, None, pid, false).await;
    let rate = max * fraction;
    eprintln!("maximum {max:.0} operations/s ({max_failures} 5xx); soaking at {rate:.0}/s for {seconds} s");
    println!("seconds,requests,server_errors,p50_us,p99_us,rss_kib,open_fds");
    let (achieved, failures) = run(target, seconds, Some(rate), pid, true).await;
    eprintln!("achieved {achieved:.0} operations/s; {failures} 5xx or transport errors");
    if failures + max_failures > 0 {
        std::process::exit(1);
    }
}
