//! Which worker thread this is, so that state the request path writes can be
//! kept per worker: a cache line two CPUs both write moves between them on
//! every write, which costs more than the work it guards.

use std::cell::Cell;

/// Per-worker slots of sharded state; workers past this share slots.
pub const SLOTS: usize = 64;

thread_local! {
    /// 1 + this thread's worker index; 0 on threads that are not workers.
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as worker `index` (see `scopegate serve`).
pub fn set(index: usize) {
    WORKER.with(|w| w.set(index + 1));
}

/// This thread's slot, below [`SLOTS`]: its own if it is one of the first
/// `SLOTS - 1` workers; slot 0 is shared by threads that are not workers.
pub fn slot() -> usize {
    WORKER.with(Cell::get) % SLOTS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_worker_has_its_own_slot_and_other_threads_share_slot_zero() {
        let slots: Vec<usize> = (0..3)
            .map(|i| {
                std::thread::spawn(move || {
                    set(i);
                    slot()
                })
                .join()
                .unwrap()
            })
            .collect();
        assert_eq!(slots, [1, 2, 3]);
        assert_eq!(std::thread::spawn(slot).join().unwrap(), 0);
    }
}
