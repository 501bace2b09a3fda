//! The group's lifecycle: how many tasks are in flight, whether the group still accepts tasks,
//! and (for the timeout form) which tasks are running.
//!
//! # Invariants
//!
//! 1. `accepted` counts the tasks ever offered to the group, plus a `CLOSED` bit; `ended` counts
//!    the accepted tasks that have ended (run, or reported as not started). In flight =
//!    accepted − ended. Once `close` has set `CLOSED`, which it does only by a compare-exchange
//!    from a value equal to `ended` (nothing in flight), every later offer is refused.
//! 2. A task that spawns another is itself in flight until it ends, and the root body is
//!    finished before the group waits: so when nothing is in flight after the body returned,
//!    every thread the group spawned has already had its join handle sent to the joiner.
//! 3. The two counters sit on their own cache lines: the spawning thread writes `accepted`, the
//!    workers write `ended`, and neither bounces the other's line once per task.
//! 4. A busy worker holds back the ends it counted and reports them whenever it finds the queue
//!    empty (before it spins or parks, and so before it exits). Nothing is in flight only once
//!    the queue is empty and every task has ended, so the worker that ends the last task finds
//!    the queue empty right after and reports: holding back never hides the last end.
//! 5. No lost wake-up: a waiter sets `waiting` and then reads the counters; an ender adds to
//!    `ended` and then reads `waiting` (all `SeqCst`). Whichever goes second sees the other's
//!    write: the waiter sees zero, or the ender sees the waiter and notifies it under `lock`,
//!    which the waiter holds from its check until it sleeps.
//! 6. `closed_tx` is dropped by `close`: idle workers select on `closed` and exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use slab::Slab;

use super::error::TaskInfo;

/// Set in `Life::accepted` once the group accepts no more tasks.
const CLOSED: usize = 1 << (usize::BITS - 1);

pub(super) struct Life {
    /// Tasks ever offered (their indices), plus the `CLOSED` bit.
    accepted: CachePadded<AtomicUsize>,
    /// Accepted tasks that have ended.
    ended: CachePadded<AtomicUsize>,
    /// Somebody waits for nothing to be in flight (so an end that reaches zero must notify).
    waiting: AtomicBool,
    /// Held to announce (and to re-check) the count reaching zero; owns the `closed` sender.
    lock: Mutex<Option<Sender<()>>>,
    /// Notified when the count reaches zero.
    idle: Condvar,
    /// Disconnects when the group closes; idle workers select on it.
    closed: Receiver<()>,
    /// Labels of running tasks, kept only by the timeout form (it names stragglers).
    running: Option<Mutex<Slab<String>>>,
}

/// What [`Life::enter`] decided for one offered task.
pub(super) struct Entry {
    /// The task's index: unique within the group, increasing in spawn order.
    pub(super) index: usize,
    /// Whether the group took the task (it must then be ended exactly once with [`Life::end`]).
    pub(super) accepted: bool,
}

/// A running task's entry in the straggler list; removed on drop.
pub(super) struct Running<'a> {
    list: &'a Mutex<Slab<String>>,
    key: usize,
}

impl Life {
    pub(super) fn new(track_running: bool) -> Arc<Life> {
        let (closed_tx, closed) = crossbeam_channel::bounded(0);
        Arc::new(Life {
            accepted: CachePadded::new(AtomicUsize::new(0)),
            ended: CachePadded::new(AtomicUsize::new(0)),
            waiting: AtomicBool::new(false),
            lock: Mutex::new(Some(closed_tx)),
            idle: Condvar::new(),
            closed,
            running: track_running.then(|| Mutex::new(Slab::new())),
        })
    }

    /// Offers one task: it gets an index, and is accepted unless the group has closed.
    pub(super) fn enter(&self) -> Entry {
        // A refused offer leaves its increment behind: after `CLOSED` the count is never read
        // (see `in_flight`), and keeping it makes every index unique.
        let before = self.accepted.fetch_add(1, Ordering::SeqCst);
        Entry {
            index: before & !CLOSED,
            accepted: before & CLOSED == 0,
        }
    }

    /// Records that `n` accepted tasks have ended.
    pub(super) fn end(&self, n: usize) {
        self.ended.fetch_add(n, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) && self.in_flight() == 0 {
            let _announce = self.lock.lock();
            self.idle.notify_all();
        }
    }

    fn in_flight(&self) -> usize {
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
        let mut guard = self.lock.lock();
        self.waiting.store(true, Ordering::SeqCst);
        while self.in_flight() > 0 {
            match deadline {
                None => self.idle.wait(&mut guard),
                Some(at) => {
                    if self.idle.wait_until(&mut guard, at).timed_out() {
                        return self.in_flight() == 0;
                    }
                }
            }
        }
        true
    }

    /// Waits until no task is in flight, then stops accepting tasks and tells idle workers to
    /// exit. Closing happens only when nothing is in flight (invariant 1).
    pub(super) fn close(&self) {
        loop {
            self.wait_idle(None);
            let ended = self.ended.load(Ordering::SeqCst);
            let accepted = self.accepted.load(Ordering::SeqCst);
            if accepted & CLOSED != 0 {
                break;
            }
            if accepted == ended
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
                break;
            }
        }
        let tx = self.lock.lock().take();
        drop(tx);
    }

    pub(super) fn closed(&self) -> &Receiver<()> {
        &self.closed
    }

    pub(super) fn track(&self, task: &TaskInfo) -> Option<Running<'_>> {
        let list = self.running.as_ref()?;
        let key = list.lock().insert(task.label());
        Some(Running { list, key })
    }

    /// The labels of the tasks running now.
    pub(super) fn running(&self) -> Vec<String> {
        match &self.running {
            Some(list) => list.lock().iter().map(|(_, l)| l.clone()).collect(),
            None => Vec::new(),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.list.lock().try_remove(self.key);
    }
}
