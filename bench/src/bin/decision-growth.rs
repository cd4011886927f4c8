//! Decision time against the size of the policy: the generated policy with
//! 1,000 scopes and 100, 1,000 and 10,000 routes, each request of its
//! generated set decided many times; prints nanoseconds per decision (the
//! median of 9 passes), for `bench/run`.

use std::hint::black_box;
use std::time::Instant;

use scopegate_bench::{generated_policy, generated_requests};
use scopegate_core::{Caller, Policy};

fn main() {
    for routes in [100usize, 1_000, 10_000] {
        let Ok(policy) = Policy::compile("generated.toml", &generated_policy(routes, 1_000)) else {
            eprintln!("the generated policy of {routes} routes does not compile");
            std::process::exit(1);
        };
        let held = scopegate_bench::generated_held(&policy);
        let requests = generated_requests(routes);
        let rounds = (200_000 / requests.len().max(1)).max(1);
        let mut passes: Vec<f64> = (0..9)
            .map(|_| {
                let started = Instant::now();
                let mut allowed = 0usize;
                for _ in 0..rounds {
                    for (method, target) in &requests {
                        allowed += usize::from(
                            policy
                                .decide(black_box(method), black_box(target), Caller::Client(&held))
                                .is_allow(),
                        );
                    }
                }
                black_box(allowed);
                started.elapsed().as_nanos() as f64 / (rounds * requests.len()) as f64
            })
            .collect();
        passes.sort_by(f64::total_cmp);
        println!("routes={routes} ns_per_decision={:.0}", passes[4]);
    }
}
