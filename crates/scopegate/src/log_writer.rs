//! Where `serve` writes its log (stderr), and how. Every decision is a log
//! line, and a line written on its own is a system call: one in five of a
//! proxied request's. So each worker thread gathers its lines and writes them
//! in one call when 16 KiB have gathered or the oldest line is 50 ms old
//! (checked as lines arrive, and by a 50 ms tick while the worker is idle),
//! or when its runtime runs out of work (just before it parks) and the oldest
//! line is 10 ms old. A worker that parks between requests (behind nginx
//! `auth_request`, say) would otherwise write once per request. Other
//! threads, and workers before they opt in, write each line at once.

use std::cell::RefCell;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// Gathered bytes that are written at once.
const LIMIT: usize = 16 * 1024;
/// The longest a gathered line waits while its thread stays busy.
const MAX_AGE: Duration = Duration::from_millis(50);
/// How old the oldest line must be for a parking worker to write it out.
const PARK_AGE: Duration = Duration::from_millis(10);

struct Gathered {
    bytes: Vec<u8>,
    /// When the oldest gathered line arrived.
    since: Option<Instant>,
}

impl Gathered {
    fn write_out(&mut self) {
        if !self.bytes.is_empty() {
            // Logging must never fail a request: a full or closed stderr loses lines.
            let _ = io::stderr().lock().write_all(&self.bytes);
            self.bytes.clear();
        }
        self.since = None;
    }
}

thread_local! {
    static GATHERED: RefCell<Option<Gathered>> = const { RefCell::new(None) };
}

/// From now on, this thread gathers its log lines (a worker thread whose
/// runtime calls [`flush_this_thread`] before parking).
pub(crate) fn gather_on_this_thread() {
    GATHERED.with(|g| {
        *g.borrow_mut() = Some(Gathered {
            bytes: Vec::with_capacity(LIMIT),
            since: None,
        });
    });
}

/// Before the runtime parks: writes out what this thread has gathered if
/// the oldest line has waited [`PARK_AGE`].
pub(crate) fn flush_this_thread_when_due() {
    write_out_if(|g| g.since.is_some_and(|since| since.elapsed() >= PARK_AGE));
}

/// Run on a worker's runtime: writes out its gathered lines every
/// [`MAX_AGE`], so that none waits longer while the worker is idle.
pub(crate) async fn flush_periodically() {
    let mut tick = tokio::time::interval(MAX_AGE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        flush_this_thread();
    }
}

/// Writes out what this thread has gathered.
pub(crate) fn flush_this_thread() {
    write_out_if(|_| true);
}

/// Writes out this thread's gathered lines if it gathers and `due` says so.
fn write_out_if(due: impl FnOnce(&Gathered) -> bool) {
    let _ = GATHERED.try_with(|g| {
        if let Ok(mut g) = g.try_borrow_mut()
            && let Some(g) = g.as_mut().filter(|g| due(g))
        {
            g.write_out();
        }
    });
}

/// The `MakeWriter` for `tracing_subscriber::fmt`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line
    }
}

/// One formatted log line (the fmt layer writes each event once).
#[derive(Debug)]
pub(crate) struct Line;

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let gathered = GATHERED
            .try_with(|g| {
                let mut g = g.try_borrow_mut().ok()?;
                let g = g.as_mut()?;
                g.bytes.extend_from_slice(buf);
                let since = *g.since.get_or_insert_with(Instant::now);
                if g.bytes.len() >= LIMIT || since.elapsed() >= MAX_AGE {
                    g.write_out();
                }
                Some(())
            })
            .ok()
            .flatten();
        if gathered.is_none() {
            io::stderr().lock().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;
    use std::time::Duration;

    use super::{GATHERED, Line, PARK_AGE, flush_this_thread_when_due, gather_on_this_thread};

    fn gathered() -> usize {
        GATHERED.with(|g| g.borrow().as_ref().unwrap().bytes.len())
    }

    #[test]
    fn a_parking_worker_writes_lines_out_once_the_oldest_has_waited_park_age() {
        gather_on_this_thread();
        Line.write_all(b"log_writer test: a gathered line\n").unwrap();
        flush_this_thread_when_due();
        assert!(gathered() > 0, "a fresh line is kept for the next park");
        std::thread::sleep(PARK_AGE + Duration::from_millis(1));
        flush_this_thread_when_due();
        assert_eq!(gathered(), 0, "a line PARK_AGE old is written out");
    }
}
