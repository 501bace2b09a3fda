//! How many of a group's tasks are in flight, whether the group still accepts tasks, and a wait
//! for the count to reach zero.
//!
//! # Invariants
//!
//! 1. `accepted` counts the tasks ever offered, plus a `CLOSED` bit; `ended` counts the accepted
//!    tasks that have ended (run, or reported as not started). In flight = accepted − ended.
//!    Once `close` has set `CLOSED`, which it does only by a compare-exchange from a value equal
//!    to `ended` (nothing in flight), every later offer is refused.
//! 2. The two counters sit on their own cache lines: the spawning thread writes `accepted`, the
//!    workers write `ended`, and neither bounces the other's line once per task.
//! 3. Enders may report several ends at once (`end(n)`), as long as each end is reported before
//!    the ender waits for anything that needs the count to reach zero: a limited group's worker
//!    reports whenever it finds its queue empty (see `Scope`'s worker).
//! 4. No lost wake-up: a waiter sets `waiting` and then reads the counters, under `lock`; an
//!    ender adds to `ended` and then reads `waiting`, with a `SeqCst` fence between the write
//!    and the read on both sides. Whichever goes second sees the other's write: the waiter sees
//!    zero, or the ender sees the waiter and notifies it under `lock`, which the waiter holds
//!    from its check until it sleeps. (The fences, not just `SeqCst` accesses, are what loom
//!    can check: it models `SeqCst` accesses as acquire/release.)

use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::shim::{AtomicBool, AtomicUsize, Condvar, Mutex, Ordering, fence};

/// Set in `InFlight::accepted` once the group accepts no more tasks.
const CLOSED: usize = 1 << (usize::BITS - 1);

pub(super) struct InFlight {
    /// Tasks ever offered (their indices), plus the `CLOSED` bit.
    accepted: CachePadded<AtomicUsize>,
    /// Accepted tasks that have ended.
    ended: CachePadded<AtomicUsize>,
    /// Somebody waits for nothing to be in flight (so an end that reaches zero must notify).
    waiting: AtomicBool,
    /// Held to announce (and to re-check) the count reaching zero.
    lock: Mutex<()>,
    /// Notified when the count reaches zero.
    idle: Condvar,
}

/// What [`InFlight::enter`] decided for one offered task.
pub(super) struct Entry {
    /// The task's index: unique within the group, increasing in spawn order.
    pub(super) index: usize,
    /// Whether the group took the task (it must then be ended exactly once with
    /// [`InFlight::end`]).
    pub(super) accepted: bool,
}

impl InFlight {
    pub(super) fn new() -> Self {
        InFlight {
            accepted: CachePadded::new(AtomicUsize::new(0)),
            ended: CachePadded::new(AtomicUsize::new(0)),
            waiting: AtomicBool::new(false),
            lock: Mutex::new(()),
            idle: Condvar::default(),
        }
    }

    /// Offers one task: it gets an index, and is accepted unless the group has closed.
    pub(super) fn enter(&self) -> Entry {
        // A refused offer leaves its increment behind: after `CLOSED` the count is never read
        // (see `count`), and keeping it makes every index unique.
        let before = self.accepted.fetch_add(1, Ordering::SeqCst);
        Entry {
            index: before & !CLOSED,
            accepted: before & CLOSED == 0,
        }
    }

    /// Records that `n` accepted tasks have ended.
    pub(super) fn end(&self, n: usize) {
        self.ended.fetch_add(n, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) && self.count() == 0 {
            let _announce = self.lock.lock();
            self.idle.notify_all();
        }
    }

    /// Tasks accepted and not yet ended.
    pub(super) fn count(&self) -> usize {
        // `ended` first: every task it counts was accepted earlier, so the difference is never
        // negative.
        let ended = self.ended.load(Ordering::SeqCst);
        let accepted = self.accepted.load(Ordering::SeqCst);
        if accepted & CLOSED != 0 {
            0 // closed from zero, and nothing is accepted after that
        } else {
            accepted - ended
        }
    }

    /// Waits until no task is in flight, or until `deadline`; returns whether it became idle.
    pub(super) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let guard = self.lock.lock();
        self.waiting.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // The verdict is the predicate's last one: the count is not under this lock, so a
        // second look could see a later spawn and call a reached idle a timeout.
        let mut idle = false;
        let _guard = self.idle.wait_while(guard, deadline, |_| {
            idle = self.count() == 0;
            !idle
        });
        idle
    }

    /// Waits until no task is in flight, then refuses every later task (invariant 1).
    pub(super) fn close(&self) {
        loop {
            self.wait_idle(None);
            let ended = self.ended.load(Ordering::SeqCst);
            let accepted = self.accepted.load(Ordering::SeqCst);
            if accepted & CLOSED != 0
                || accepted == ended
                    && self
                        .accepted
                        .compare_exchange(
                            accepted,
                            accepted | CLOSED,
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        )
                        .is_ok()
            {
                return;
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;

    use loom::thread;

    use super::InFlight;
    use crate::shim::{AtomicBool, Ordering};

    #[test]
    fn loom_the_last_end_wakes_the_waiter() {
        loom::model(|| {
            let count = Arc::new(InFlight::new());
            assert!(count.enter().accepted && count.enter().accepted);
            let enders: Vec<_> = (0..2)
                .map(|_| {
                    let count = count.clone();
                    thread::spawn(move || count.end(1))
                })
                .collect();
            assert!(count.wait_idle(None));
            assert_eq!(count.count(), 0);
            for ender in enders {
                ender.join().unwrap();
            }
        });
    }

    /// What `wait_idle` saw when it woke is its answer: a task entering right after the idle
    /// does not turn an untimed wait into a `false` ("timed out").
    #[test]
    fn loom_a_reached_idle_is_reported_though_a_task_enters_right_after() {
        loom::model(|| {
            let count = Arc::new(InFlight::new());
            assert!(count.enter().accepted);
            let c = count.clone();
            let spawner = thread::spawn(move || {
                c.end(1);
                assert!(c.enter().accepted);
                c.end(1);
            });
            assert!(count.wait_idle(None));
            spawner.join().unwrap();
        });
    }

    #[test]
    fn loom_a_batch_of_ends_wakes_the_waiter() {
        loom::model(|| {
            let count = Arc::new(InFlight::new());
            for _ in 0..3 {
                assert!(count.enter().accepted);
            }
            let first = count.clone();
            let one = thread::spawn(move || first.end(1));
            let rest = count.clone();
            let batch = thread::spawn(move || rest.end(2));
            count.close();
            assert!(!count.enter().accepted);
            one.join().unwrap();
            batch.join().unwrap();
        });
    }

    #[test]
    fn loom_close_waits_for_a_task_accepted_concurrently() {
        loom::model(|| {
            let count = Arc::new(InFlight::new());
            let ended = Arc::new(AtomicBool::new(false));
            let (c, e) = (count.clone(), ended.clone());
            let spawner = thread::spawn(move || {
                let entry = c.enter();
                if entry.accepted {
                    e.store(true, Ordering::SeqCst);
                    c.end(1);
                }
                entry.accepted
            });
            count.close();
            let ended_at_close = ended.load(Ordering::SeqCst);
            // Closed: nothing is accepted any more, and what was accepted had ended.
            let late = count.enter();
            assert!(!late.accepted);
            let accepted = spawner.join().unwrap();
            if accepted {
                assert!(ended_at_close);
                assert_eq!(late.index, 1);
            }
        });
    }
}
