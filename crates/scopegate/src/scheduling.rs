//! How Linux schedules `serve`'s worker threads (`--cpu-scheduling`).
//!
//! Under the default policy a request arriving for a sleeping worker wakes it
//! and, often, preempts whatever runs on that CPU: one switch in and one out
//! per request when the box is busy. Forward-auth is the worst case, since
//! nginx waits on scopegate for every request. Under `SCHED_BATCH` a woken
//! worker does not preempt; it runs when the current task blocks or its slice
//! ends, and then serves every request that arrived meanwhile. With nginx's
//! `auth_request` on a 2-CPU box that halved the worker's wake-ups per request
//! (0.55–0.63 to 0.28–0.31), cut its CPU per `/authz` by a quarter (11.1–12.5
//! to 7.7–9.3 µs) and raised forward-auth from a median 0.85 to 0.92 of nginx
//! answering the sub-request itself (`bench/gateway/run.sh` and
//! `bench/gateway/cpu.sh`). On an idle CPU the policy changes nothing: a woken
//! worker runs at once either way. It needs no privilege, and neither does leaving it.
//! Threads a worker starts (the store's SQLite connection threads) inherit it.

/// `--cpu-scheduling`, named as systemd's `CPUSchedulingPolicy` names them.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum CpuScheduling {
    /// `SCHED_BATCH`: a woken worker does not preempt the task running.
    #[default]
    Batch,
    /// `SCHED_OTHER`, the kernel's default: leave the threads as started.
    Other,
}

/// Puts the calling thread under `policy`. `Err` says why it was left as it
/// was; serving goes on either way.
pub(crate) fn apply_to_this_thread(policy: CpuScheduling) -> Result<(), String> {
    match policy {
        CpuScheduling::Other => Ok(()),
        CpuScheduling::Batch => batch(),
    }
}

#[cfg(target_os = "linux")]
fn batch() -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    // thread-priority sets a normal policy's nice value along with it, from
    // a 0..=99 scale; 47 is nice 0. A thread started under another nice
    // value (`nice -n 5 scopegate serve`) keeps its policy and its nice.
    const NICE_ZERO: u8 = 47;
    let nice = nice_of_this_thread()?;
    if nice != 0 {
        return Err(format!(
            "the worker runs at nice {nice}; SCHED_BATCH is set only at nice 0"
        ));
    }
    let priority = ThreadPriorityValue::try_from(NICE_ZERO).map_err(|e| e.to_string())?;
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(priority),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    )
    .map_err(|e| format!("SCHED_BATCH refused: {e:?}"))?;
    match nice_of_this_thread()? {
        0 => Ok(()),
        moved => Err(format!("setting SCHED_BATCH moved the worker's nice to {moved}")),
    }
}

#[cfg(not(target_os = "linux"))]
fn batch() -> Result<(), String> {
    Err("SCHED_BATCH is Linux's; the threads keep the system's policy".to_owned())
}

/// The calling thread's nice value, field 19 of `/proc/thread-self/stat`.
#[cfg(target_os = "linux")]
fn nice_of_this_thread() -> Result<i32, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")
        .map_err(|e| format!("cannot read /proc/thread-self/stat: {e}"))?;
    // The command name, field 2, is in parentheses and may hold spaces.
    stat.rsplit_once(')')
        .and_then(|(_, fields)| fields.split_whitespace().nth(16))
        .and_then(|nice| nice.parse().ok())
        .ok_or_else(|| "no nice value in /proc/thread-self/stat".to_owned())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy};

    fn on_a_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    #[test]
    fn batch_puts_the_thread_under_sched_batch_and_keeps_nice_zero() {
        let (before, applied, policy, after) = on_a_thread(|| {
            let before = nice_of_this_thread().unwrap();
            let applied = apply_to_this_thread(CpuScheduling::Batch);
            (
                before,
                applied,
                thread_schedule_policy().unwrap(),
                nice_of_this_thread().unwrap(),
            )
        });
        assert_eq!(after, before, "the nice value is never changed");
        if before == 0 {
            assert_eq!(applied, Ok(()));
            assert_eq!(policy, ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch));
        } else {
            // Run under `nice`: left as it was, and said why.
            assert!(applied.unwrap_err().contains("nice"));
            assert_eq!(policy, ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other));
        }
    }

    #[test]
    fn other_leaves_the_thread_as_it_was() {
        let policy = on_a_thread(|| {
            apply_to_this_thread(CpuScheduling::Other).unwrap();
            thread_schedule_policy().unwrap()
        });
        assert_eq!(policy, ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other));
    }
}
