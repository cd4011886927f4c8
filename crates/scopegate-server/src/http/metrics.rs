//! Prometheus counters and latency histograms per route and outcome, served
//! at `/metrics`. Recording is a few relaxed atomic adds, no lock and no
//! allocation; a route's block is allocated the first time it is used, so a
//! 10,000-route policy pays only for the routes that see traffic. Each worker
//! thread adds to a block of its own (up to [`SHARDS`]), summed when rendered:
//! an add to a cache line another CPU has just written waits for that line.
//! On a policy reload, a route with the same `match` keeps its series.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use scopegate_core::{Outcome, Policy, RouteId};

/// Every outcome a request through the gateway or forward-auth can have.
const OUTCOMES: [Outcome; Outcome::ALL.len()] = Outcome::ALL;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Debug, Default)]
struct Series {
    sum_nanos: AtomicU64,
    /// Non-cumulative; made cumulative when rendered. Last slot is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
}

/// Blocks per route, one per worker for the first `SHARDS - 1` workers.
const SHARDS: usize = 4;

#[derive(Debug, Default)]
#[repr(align(128))]
struct RouteStats {
    by_outcome: [Series; OUTCOMES.len()],
}

/// A route's blocks, each allocated when its worker first records.
#[derive(Debug, Default)]
struct RouteShards([OnceLock<Box<RouteStats>>; SHARDS]);

/// One series summed over a route's blocks.
struct Totals {
    sum_nanos: u64,
    buckets: [u64; BUCKETS.len() + 1],
}

/// The metrics of one policy generation.
#[derive(Debug)]
pub struct Metrics {
    /// Route labels (`GET /account/*`); the last slot, `-`, is requests with no route.
    labels: Vec<String>,
    stats: Vec<OnceLock<Arc<RouteShards>>>,
    reloads_ok: Arc<AtomicU64>,
    reloads_failed: Arc<AtomicU64>,
}

impl Metrics {
    pub fn new(policy: &Policy) -> Self {
        let mut labels: Vec<String> = policy.routes().iter().map(|r| r.pattern.to_string()).collect();
        labels.push("-".to_owned());
        let stats = labels.iter().map(|_| OnceLock::new()).collect();
        Self {
            labels,
            stats,
            reloads_ok: Arc::default(),
            reloads_failed: Arc::default(),
        }
    }

    /// Metrics for a reloaded policy, continuing the series of every route
    /// whose `match` is unchanged.
    pub fn succeed(&self, policy: &Policy) -> Self {
        let next = Self::new(policy);
        for (label, slot) in next.labels.iter().zip(&next.stats) {
            if let Some(i) = self.labels.iter().position(|l| l == label)
                && let Some(stats) = self.stats[i].get()
            {
                let _ = slot.set(Arc::clone(stats));
            }
        }
        Self {
            reloads_ok: Arc::clone(&self.reloads_ok),
            reloads_failed: Arc::clone(&self.reloads_failed),
            ..next
        }
    }

    /// The route's `match` as a label; `-` for requests with no route.
    pub fn label(&self, route: Option<RouteId>) -> &str {
        route
            .and_then(|r| self.labels.get(r.index()))
            .map_or("-", String::as_str)
    }

    pub fn reload_result(&self, ok: bool) {
        let counter = if ok { &self.reloads_ok } else { &self.reloads_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record(&self, route: Option<RouteId>, outcome: Outcome, elapsed: Duration) {
        let slot = route.map_or(self.stats.len() - 1, RouteId::index);
        let Some(stats) = self.stats.get(slot) else { return };
        let shard = scopegate_service::worker::slot() % SHARDS;
        let stats = stats.get_or_init(Arc::default).0[shard].get_or_init(Box::default);
        let series = &stats.by_outcome[outcome.index()];
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        series.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(BUCKETS.len());
        series.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP scopegate_requests_total Requests decided by the gateway and forward-auth.\n");
        out.push_str("# TYPE scopegate_requests_total counter\n");
        self.each(|route, outcome, s| {
            let _ = writeln!(
                out,
                "scopegate_requests_total{{route=\"{route}\",outcome=\"{outcome}\"}} {}",
                s.buckets.iter().sum::<u64>()
            );
        });
        out.push_str("# HELP scopegate_request_duration_seconds Time from request to response head.\n");
        out.push_str("# TYPE scopegate_request_duration_seconds histogram\n");
        self.each(|route, outcome, s| {
            let labels = format!("route=\"{route}\",outcome=\"{outcome}\"");
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i];
                let _ = writeln!(
                    out,
                    "scopegate_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += s.buckets[BUCKETS.len()];
            let _ = writeln!(
                out,
                "scopegate_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
            );
            let sum = s.sum_nanos as f64 / 1e9;
            let _ = writeln!(out, "scopegate_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "scopegate_request_duration_seconds_count{{{labels}}} {cumulative}");
        });
        out.push_str("# HELP scopegate_policy_reloads_total Policy reloads, by result.\n");
        out.push_str("# TYPE scopegate_policy_reloads_total counter\n");
        let _ = writeln!(
            out,
            "scopegate_policy_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "scopegate_policy_reloads_total{{result=\"invalid\"}} {}",
            self.reloads_failed.load(Ordering::Relaxed)
        );
        out
    }

    /// Every series that counted a request, summed over the workers' blocks.
    fn each(&self, mut f: impl FnMut(&str, &str, &Totals)) {
        for (label, shards) in self.labels.iter().zip(&self.stats) {
            let Some(shards) = shards.get() else { continue };
            let route = escape(label);
            for (index, outcome) in OUTCOMES.iter().enumerate() {
                let mut totals = Totals {
                    sum_nanos: 0,
                    buckets: [0; BUCKETS.len() + 1],
                };
                for stats in shards.0.iter().filter_map(OnceLock::get) {
                    let series = &stats.by_outcome[index];
                    totals.sum_nanos += series.sum_nanos.load(Ordering::Relaxed);
                    for (total, bucket) in totals.buckets.iter_mut().zip(&series.buckets) {
                        *total += bucket.load(Ordering::Relaxed);
                    }
                }
                if totals.buckets.iter().any(|&n| n > 0) {
                    f(&route, outcome.as_str(), &totals);
                }
            }
        }
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// What `/metrics` says of the feed.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Whether the last read of the feed succeeded (0 before the first).
    pub(crate) up: AtomicBool,
    pub(crate) applied: AtomicU64,
    /// Times the feed could not be read or its connection was lost.
    pub(crate) lost: AtomicU64,
}

impl FeedStats {
    /// The Prometheus text of these figures.
    pub fn render(&self) -> String {
        format!(
            "# HELP scopegate_change_feed_up Whether this node reads the change feed (1) or cannot (0).\n\
             # TYPE scopegate_change_feed_up gauge\n\
             scopegate_change_feed_up {}\n\
             # HELP scopegate_changes_applied_total Changes made by other nodes and processes (or this one) applied to this node's caches.\n\
             # TYPE scopegate_changes_applied_total counter\n\
             scopegate_changes_applied_total {}\n\
             # HELP scopegate_change_feed_lost_total Times the change feed's connection was lost or a read failed.\n\
             # TYPE scopegate_change_feed_lost_total counter\n\
             scopegate_change_feed_lost_total {}\n",
            u8::from(self.up.load(Ordering::Relaxed)),
            self.applied.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_worker_counts_apart_and_the_exposition_sums_them() {
        let metrics = Arc::new(Metrics::new(&Policy::compile("p.toml", "").unwrap()));
        for worker in 0..SHARDS + 1 {
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || {
                scopegate_service::worker::set(worker);
                metrics.record(None, Outcome::Allow, Duration::from_millis(2));
            })
            .join()
            .unwrap();
        }
        metrics.record(None, Outcome::RouteNotFound, Duration::from_secs(2));
        let text = metrics.render();
        let n = SHARDS + 1;
        for line in [
            format!("scopegate_requests_total{{route=\"-\",outcome=\"allow\"}} {n}"),
            "scopegate_request_duration_seconds_bucket{route=\"-\",outcome=\"allow\",le=\"0.001\"} 0".to_owned(),
            format!("scopegate_request_duration_seconds_bucket{{route=\"-\",outcome=\"allow\",le=\"0.0025\"}} {n}"),
            format!("scopegate_request_duration_seconds_count{{route=\"-\",outcome=\"allow\"}} {n}"),
            format!(
                "scopegate_request_duration_seconds_sum{{route=\"-\",outcome=\"allow\"}} {}",
                n as f64 * 0.002
            ),
            "scopegate_requests_total{route=\"-\",outcome=\"route_not_found\"} 1".to_owned(),
            "scopegate_request_duration_seconds_bucket{route=\"-\",outcome=\"route_not_found\",le=\"1\"} 0".to_owned(),
            "scopegate_request_duration_seconds_bucket{route=\"-\",outcome=\"route_not_found\",le=\"+Inf\"} 1"
                .to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(
            !text.contains("outcome=\"invalid_token\""),
            "a series that counted nothing is left out"
        );
    }
}
