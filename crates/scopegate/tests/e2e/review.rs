//! What the second hostile review found, against the real binary: each test
//! is named after the defect it keeps fixed (docs/security.md, "Checklist").

use crate::server::{Server, http};

/// The portal's sign-in form: its CSRF cookie and field, as a browser gets them.
async fn sign_in_form(s: &Server) -> (String, String) {
    let page = http().get(s.url("/portal/sign-in")).send().await.unwrap();
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect();
    let body = page.text().await.unwrap();
    let field = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_owned();
    (cookies.join("; "), field)
}

/// A line of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
fn memory_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

#[tokio::test]
async fn sign_in_memory_is_bounded_however_many_attempts_arrive_at_once() {
    let s = Server::start_edited("storefront", |p| {
        format!("{p}\n[limits]\nsign_in_per_address = \"10000/1m\"\nsign_in_failures = \"10000/1m\"\n")
    });
    let (cookie, csrf) = sign_in_form(&s).await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..120 {
        let (cookie, csrf, url) = (cookie.clone(), csrf.clone(), s.url("/portal/sign-in"));
        attempts.spawn(async move {
            http()
                .post(url)
                .header("cookie", cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("login", &format!("nobody{i}")),
                    ("password", "wrong password"),
                ])
                .send()
                .await
                .unwrap()
        });
    }
    let mut busy = 0;
    while let Some(answer) = attempts.join_next().await {
        let answer = answer.unwrap();
        match answer.status().as_u16() {
            401 => {}
            503 => {
                busy += 1;
                assert_eq!(answer.headers()["retry-after"], "1");
                assert!(answer.text().await.unwrap().contains("Too many people are signing in"));
            }
            other => panic!("a sign-in attempt answered {other}"),
        }
    }
    // Argon2 takes 19 MiB per verification: unbounded, 120 at once took
    // 2 GiB. Two per CPU take well under 300 MiB.
    let peak = memory_mib(s.pid(), "VmHWM");
    assert!(
        peak < 300,
        "peak resident memory {peak} MiB ({busy} attempts answered 503)"
    );
    let after = memory_mib(s.pid(), "VmRSS");
    assert!(after < 300, "resident memory after the attempts {after} MiB");
}
