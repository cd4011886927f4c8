//! Decision path (canonicalize + match + scope check), minimal cover and
//! policy compilation. Figures and the command: docs/performance.md.

// A benchmark on a broken fixture should stop loudly.
#![allow(clippy::panic)]
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use scopegate_bench::{generated_policy, generated_requests};
use scopegate_core::{Caller, CoverFor, Policy};

fn storefront() -> Policy {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/storefront/scopegate.toml");
    let source = std::fs::read_to_string(path).unwrap_or_default();
    Policy::compile(path, &source).unwrap_or_else(|e| panic!("{e}"))
}

fn decide_all(policy: &Policy, requests: &[(&str, String)], caller: Caller<'_>) -> usize {
    requests
        .iter()
        .filter(|(m, t)| policy.decide(m, t, caller).is_allow())
        .count()
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    let sf = storefront();
    let granted = sf.catalog.parse_list("orders read_catalog decrypt").unwrap_or_default();
    let held = sf.catalog.close(&granted);
    let requests: Vec<(&str, String)> = vec![
        ("GET", "/api/v1/orders/12345".into()),
        ("PUT", "/api/v1/orders/12345".into()),
        ("GET", "/api/v1/products?page=2".into()),
        ("DELETE", "/api/v1/products/9".into()),
        ("GET", "/api/v1/order_payments/77/decrypted".into()),
        ("POST", "/api/v1/email_templates/3/send".into()),
        ("GET", "/api/v1/nowhere".into()),
        ("GET", "/api/v1/orders/%2e%2e/customers".into()),
    ];
    group.throughput(criterion::Throughput::Elements(requests.len() as u64));
    group.bench_function("storefront", |b| {
        b.iter(|| decide_all(&sf, black_box(&requests), Caller::Client(&held)))
    });

    for routes in [100usize, 1_000, 10_000] {
        let policy =
            Policy::compile("generated.toml", &generated_policy(routes, 1_000)).unwrap_or_else(|e| panic!("{e}"));
        let held = scopegate_bench::generated_held(&policy);
        let requests = generated_requests(routes);
        group.throughput(criterion::Throughput::Elements(requests.len() as u64));
        group.bench_with_input(BenchmarkId::new("generated_1000_scopes", routes), &routes, |b, _| {
            b.iter(|| decide_all(&policy, black_box(&requests), Caller::Client(&held)))
        });
    }
    group.finish();
}

fn cover(c: &mut Criterion) {
    let policy = Policy::compile("generated.toml", &generated_policy(10_000, 1_000)).unwrap_or_else(|e| panic!("{e}"));
    let endpoints: Vec<String> = generated_requests(10_000)
        .into_iter()
        .take(50)
        .map(|(m, t)| format!("{m} {t}"))
        .collect();
    c.bench_function("scopes_for/50_endpoints_10000_routes", |b| {
        b.iter(|| {
            policy
                .scopes_for(black_box(&endpoints), CoverFor::default())
                .map(|c| c.scopes.len())
        })
    });
}

fn compile(c: &mut Criterion) {
    let source = generated_policy(10_000, 1_000);
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("10000_routes_1000_scopes", |b| {
        b.iter(|| Policy::compile("generated.toml", black_box(&source)).is_ok())
    });
    group.finish();
}

criterion_group!(benches, decision, cover, compile);
criterion_main!(benches);
