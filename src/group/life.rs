//! The group's lifecycle: how many tasks are in flight, whether the group still accepts tasks,
//! and (for the timeout form) which tasks are running.
//!
//! # Invariants
//!
//! 1. `state` counts tasks accepted and not yet ended (queued, running, or being reported as not
//!    started) in its low bits, plus a `CLOSED` bit. A task is accepted by adding one; if
//!    `CLOSED` was already set it backs out, so once `close` has set `CLOSED`, which it does
//!    only by a compare-exchange from exactly zero, no task can be accepted again.
//! 2. A task that spawns another is itself counted until it ends, and the root body is finished
//!    before the group waits: so when the count reaches zero after the body returned, every
//!    thread the group spawned has already had its join handle sent to the joiner.
//! 3. The count reaching zero is announced under `lock` and waiters re-check under `lock`, so
//!    no wake-up is lost; the lock is taken only on that transition, not per task.
//! 4. `closed_tx` is dropped by `close`: idle workers select on `closed` and exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use slab::Slab;

use super::error::TaskInfo;

/// Set in `Life::state` once the group accepts no more tasks.
const CLOSED: usize = 1 << (usize::BITS - 1);

pub(super) struct Life {
    /// Tasks in flight, plus the `CLOSED` bit.
    state: AtomicUsize,
    /// Held to announce (and to re-check) the count reaching zero; owns the `closed` sender.
    lock: Mutex<Option<Sender<()>>>,
    /// Notified when the count reaches zero.
    idle: Condvar,
    /// Disconnects when the group closes; idle workers select on it.
    closed: Receiver<()>,
    /// Labels of running tasks, kept only by the timeout form (it names stragglers).
    running: Option<Mutex<Slab<String>>>,
}

/// One accepted task; dropping it ends the task's count.
pub(super) struct TaskGuard {
    life: Arc<Life>,
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
            state: AtomicUsize::new(0),
            lock: Mutex::new(Some(closed_tx)),
            idle: Condvar::new(),
            closed,
            running: track_running.then(|| Mutex::new(Slab::new())),
        })
    }

    /// Counts a new task, or `None` if the group has closed.
    pub(super) fn enter(self: &Arc<Self>) -> Option<TaskGuard> {
        if self.state.fetch_add(1, Ordering::AcqRel) & CLOSED != 0 {
            self.state.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(TaskGuard { life: self.clone() })
    }

    fn count(&self) -> usize {
        self.state.load(Ordering::Acquire) & !CLOSED
    }

    /// Waits until no task is in flight, or until `deadline`; returns whether it became idle.
    pub(super) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let mut guard = self.lock.lock();
        while self.count() > 0 {
            match deadline {
                None => self.idle.wait(&mut guard),
                Some(at) => {
                    if self.idle.wait_until(&mut guard, at).timed_out() {
                        return self.count() == 0;
                    }
                }
            }
        }
        true
    }

    /// Waits until no task is in flight, then stops accepting tasks and tells idle workers to
    /// exit. Closing happens only from a count of exactly zero (invariant 1).
    pub(super) fn close(&self) {
        loop {
            self.wait_idle(None);
            if self
                .state
                .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
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

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let life = &self.life;
        if life.state.fetch_sub(1, Ordering::AcqRel) & !CLOSED == 1 {
            let _announce = life.lock.lock();
            life.idle.notify_all();
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.list.lock().try_remove(self.key);
    }
}
