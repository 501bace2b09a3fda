//! The group's lifecycle: how many tasks are in flight, whether the group still accepts tasks,
//! and (for the timeout form) which tasks are running.
//!
//! # Invariants
//!
//! 1. `tasks` counts tasks accepted and not yet ended (queued, running, or being reported as not
//!    started). It is raised under the lock only while `open`, so once `close` has run after
//!    `tasks` reached zero, no task can ever be accepted again.
//! 2. A task that spawns another is itself counted until it ends, and the root body is finished
//!    before the group waits: so when `tasks` reaches zero after the body returned, every thread
//!    the group spawned has already had its join handle sent to the joiner.
//! 3. `closed_tx` is dropped by `close`: idle workers select on `closed` and exit.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use slab::Slab;

use super::error::TaskInfo;

pub(super) struct Life {
    state: Mutex<State>,
    /// Notified when `tasks` reaches zero.
    idle: Condvar,
    /// Disconnects when the group closes; idle workers select on it.
    closed: Receiver<()>,
    /// Labels of running tasks, kept only by the timeout form (it names stragglers).
    running: Option<Mutex<Slab<String>>>,
}

struct State {
    open: bool,
    tasks: usize,
    closed_tx: Option<Sender<()>>,
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
            state: Mutex::new(State {
                open: true,
                tasks: 0,
                closed_tx: Some(closed_tx),
            }),
            idle: Condvar::new(),
            closed,
            running: track_running.then(|| Mutex::new(Slab::new())),
        })
    }

    /// Counts a new task, or `None` if the group has closed.
    pub(super) fn enter(self: &Arc<Self>) -> Option<TaskGuard> {
        let mut state = self.state.lock();
        if !state.open {
            return None;
        }
        state.tasks += 1;
        drop(state);
        Some(TaskGuard { life: self.clone() })
    }

    /// Waits until no task is in flight, or until `deadline`; returns whether it became idle.
    pub(super) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let mut state = self.state.lock();
        while state.tasks > 0 {
            match deadline {
                None => self.idle.wait(&mut state),
                Some(at) => {
                    if self.idle.wait_until(&mut state, at).timed_out() {
                        return state.tasks == 0;
                    }
                }
            }
        }
        true
    }

    /// Stops accepting tasks and tells idle workers to exit.
    pub(super) fn close(&self) {
        let mut state = self.state.lock();
        state.open = false;
        let tx = state.closed_tx.take();
        drop(state);
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
        let mut state = self.life.state.lock();
        state.tasks -= 1;
        if state.tasks == 0 {
            self.life.idle.notify_all();
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.list.lock().try_remove(self.key);
    }
}
