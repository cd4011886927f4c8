//! Repeated failures from one source, told once: the first few of a kind
//! from a source (an address, say) in a [`WINDOW`] are written to the audit
//! trail as they come, the rest only counted, and when the window has passed
//! one event says how many more there were. A flood of failed client
//! authentications from one address then writes a few rows a minute, not
//! hundreds a second; every attempt is still a log line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use scopegate_store::AuditEvent;

/// Seconds during which repeats of one event from one source are counted.
pub const WINDOW: i64 = 60;
/// Events of one kind from one source written as they come in a window.
pub const WRITTEN: u64 = 5;
/// Sources followed at once; past that an event is written as it comes.
const MAX_SOURCES: usize = 10_000;

#[derive(Debug)]
struct Counted {
    opened_at: i64,
    written: u64,
    more: u64,
    /// The newest repeat, for the summary.
    last: Option<AuditEvent>,
}

/// The failures being counted, by event and source.
#[derive(Clone, Debug, Default)]
pub struct Repeats {
    counted: Arc<Mutex<HashMap<(String, String), Counted>>>,
}

impl Repeats {
    /// Whether `event` from `source` is to be written now (the first in its
    /// window); otherwise it is counted for the summary.
    pub fn first(&self, source: &str, event: &AuditEvent) -> bool {
        let Ok(mut counted) = self.counted.lock() else {
            return true;
        };
        let key = (event.event.clone(), source.to_owned());
        if let Some(c) = counted.get_mut(&key)
            && event.at < c.opened_at + WINDOW
        {
            if c.written < WRITTEN {
                c.written += 1;
                return true;
            }
            c.more += 1;
            c.last = Some(event.clone());
            return false;
        }
        if counted.len() >= MAX_SOURCES && !counted.contains_key(&key) {
            return true;
        }
        counted.insert(
            key,
            Counted {
                opened_at: event.at,
                written: 1,
                more: 0,
                last: None,
            },
        );
        true
    }

    /// The summaries of the windows that have passed at `now`, and forgets them.
    pub fn due(&self, now: i64) -> Vec<AuditEvent> {
        let Ok(mut counted) = self.counted.lock() else {
            return Vec::new();
        };
        let mut summaries = Vec::new();
        counted.retain(|(_, source), c| {
            if now < c.opened_at + WINDOW {
                return true;
            }
            if let Some(last) = c.last.take() {
                summaries.push(AuditEvent {
                    at: now,
                    detail: format!(
                        "{} more like this from {source} in the {WINDOW} s after those above; the last: {}",
                        c.more, last.detail
                    ),
                    ..last
                });
            }
            false
        });
        summaries
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn failed(at: i64, id: &str) -> AuditEvent {
        AuditEvent {
            at,
            event: "client_auth_failed".into(),
            client_id: Some(id.into()),
            subject: None,
            detail: format!("address=10.0.0.1 id={id}"),
        }
    }

    #[test]
    fn repeated_failures_from_one_source_are_written_once_then_summed_up() {
        let r = Repeats::default();
        for _ in 0..WRITTEN {
            assert!(r.first("10.0.0.1", &failed(100, "a")));
        }
        for i in 1..=500 {
            assert!(!r.first("10.0.0.1", &failed(100 + i % 50, "b")));
        }
        assert!(
            r.first("10.0.0.2", &failed(101, "c")),
            "another source has its own window"
        );
        assert!(r.due(159).is_empty(), "the window is still open");
        let due = r.due(160);
        assert_eq!(due.len(), 1, "one summary; the other source had no repeats");
        assert!(
            due[0].detail.starts_with("500 more like this from 10.0.0.1"),
            "{}",
            due[0].detail
        );
        assert_eq!(due[0].event, "client_auth_failed");
        assert!(r.first("10.0.0.1", &failed(170, "d")), "a new window");
    }
}
