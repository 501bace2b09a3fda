//! The callback runner: the few registered daemon threads that run `after_cancel` callbacks, so
//! that neither `cancel()` nor the deadline timer ever runs user code.
//!
//! Callbacks wait in one FIFO queue. Worker threads (`homebound-callbacks-<n>`) take them in
//! order; one worker is enough while callbacks are quick. A callback that blocks holds its worker,
//! so a small monitor thread (which never runs user code) watches the queue: when callbacks are
//! waiting, no worker is free and none has taken a callback for `STALL` (2 ms), it starts another
//! worker, up to `MAX_WORKERS` (32). Workers beyond the first leave after `KEEP_ALIVE` (2 s)
//! idle. One blocking callback therefore delays the others by about `STALL`, and a burst of
//! quick ones (which keep making progress) does not start a thread per callback.
//!
//! Each scheduled callback counts as live work of its origin (`threads::busy`), so the leak
//! check waits for it; its panic is recorded as a lost panic of that origin.
//!
//! Under `--cfg loom` there are no threads outside the model: a scheduled callback runs at once
//! on the scheduling thread, which keeps the start/stop state machine under the model checker.

use super::after::Shared;

/// Queues `jobs` (in order) for the runner.
#[cfg(loom)]
pub(crate) fn schedule(jobs: Vec<std::sync::Arc<Shared>>) {
    for shared in jobs {
        run_one(&shared);
    }
}

#[cfg(not(loom))]
pub(crate) use self::threads_impl::schedule;

/// Runs one callback if it was not stopped; its panic is recorded, never propagated.
fn run_one(shared: &Shared) {
    if let Some(f) = shared.start()
        && let Err(panic) = crate::Panicked::catch(f)
    {
        let panic = panic.with_spawn_location(shared.location);
        crate::threads::record_lost_panic(
            Some(shared.origin),
            format!("after_cancel callback registered at {}", shared.location),
            panic,
        );
    }
}

#[cfg(not(loom))]
mod threads_impl {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use parking_lot::{Condvar, Mutex, MutexGuard};

    use super::{Shared, run_one};
    use crate::threads::{self, Busy};

    /// How long queued callbacks may wait with every worker busy and none of them taking a
    /// callback before another worker starts.
    pub(super) const STALL: Duration = Duration::from_millis(2);
    /// The most workers that run callbacks at once; beyond that, callbacks wait their turn.
    pub(super) const MAX_WORKERS: usize = 32;
    /// How long a worker beyond the first waits for work before it leaves.
    pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(2);

    struct Job {
        shared: Arc<Shared>,
        /// Keeps the callback visible to its origin's leak check until it has run.
        busy: Busy,
    }

    struct State {
        queue: VecDeque<Job>,
        /// Workers waiting for work.
        idle: usize,
        /// Workers spawned that have not taken the lock yet (they will take work).
        starting: usize,
        workers: usize,
        monitor: bool,
        /// Callbacks taken from the queue so far: the monitor's measure of progress.
        taken: u64,
    }

    impl State {
        /// Queued work that no worker is free to take.
        fn starved(&self) -> bool {
            !self.queue.is_empty() && self.idle + self.starting == 0
        }
    }

    static STATE: Mutex<State> = Mutex::new(State {
        queue: VecDeque::new(),
        idle: 0,
        starting: 0,
        workers: 0,
        monitor: false,
        taken: 0,
    });
    /// Workers wait here for work.
    static WORK: Condvar = Condvar::new();
    /// The monitor waits here for starved work.
    static STARVED: Condvar = Condvar::new();

    /// Queues `jobs` (in order) for the workers.
    pub(crate) fn schedule(jobs: Vec<Arc<Shared>>) {
        let jobs: Vec<Job> = jobs
            .into_iter()
            .map(|shared| Job {
                busy: threads::busy(shared.origin, "after_cancel callback", shared.location),
                shared,
            })
            .collect();
        let count = jobs.len();
        let mut state = STATE.lock();
        state.queue.extend(jobs);
        for _ in 0..count.min(state.idle) {
            WORK.notify_one();
        }
        let first = state.workers == 0;
        if first {
            state.workers += 1;
            state.starting += 1;
        }
        let start_monitor = !state.monitor;
        state.monitor = true;
        if state.starved() {
            STARVED.notify_one();
        }
        drop(state);
        if first {
            spawn_worker();
        }
        if start_monitor
            && threads::Builder::new("callbacks-monitor")
                .daemon()
                .spawn(monitor)
                .is_err()
        {
            STATE.lock().monitor = false; // the next schedule retries
        }
    }

    fn spawn_worker() {
        if threads::Builder::new("callbacks")
            .daemon()
            .spawn(work)
            .is_err()
        {
            let mut state = STATE.lock();
            state.workers -= 1;
            state.starting -= 1;
            // The monitor retries after the next stall.
        }
    }

    fn work() {
        let mut state = STATE.lock();
        state.starting -= 1;
        loop {
            if let Some(job) = state.queue.pop_front() {
                state.taken += 1;
                // Running user code now: if that leaves work nobody is free for, say so.
                if state.starved() {
                    STARVED.notify_one();
                }
                MutexGuard::unlocked(&mut state, || {
                    job.busy.run(|| run_one(&job.shared));
                    drop(job);
                });
                continue;
            }
            state.idle += 1;
            let timed_out = if state.workers > 1 {
                WORK.wait_for(&mut state, KEEP_ALIVE).timed_out()
            } else {
                WORK.wait(&mut state);
                false
            };
            state.idle -= 1;
            if timed_out && state.queue.is_empty() && state.workers > 1 {
                state.workers -= 1;
                return;
            }
        }
    }

    /// Starts a worker whenever callbacks wait, no worker is free, and none took a callback for
    /// `STALL`.
    fn monitor() {
        let mut state = STATE.lock();
        loop {
            if !state.starved() {
                STARVED.wait(&mut state);
                continue;
            }
            let seen = state.taken;
            let until = Instant::now() + STALL;
            while state.starved()
                && state.taken == seen
                && !STARVED.wait_until(&mut state, until).timed_out()
            {}
            if state.starved() && state.taken == seen && state.workers < MAX_WORKERS {
                state.workers += 1;
                state.starting += 1;
                MutexGuard::unlocked(&mut state, spawn_worker);
            }
        }
    }
}
