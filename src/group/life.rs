//! The group's lifecycle: its tasks in flight ([`InFlight`]), closing its queue (so idle workers
//! leave) once the group has closed, and (for the timeout form) which tasks are running.
//!
//! A task that spawns another is itself in flight until it ends, and the root body is finished
//! before the group waits: so when nothing is in flight after the body returned, every thread
//! the group spawned has already had its join handle sent to the joiner.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use slab::Slab;

use super::in_flight::{Entry, InFlight};
use crate::exec::queue::Closer;
use crate::task::TaskInfo;

pub(super) struct Life {
    tasks: InFlight,
    /// Closes a limited group's queue: its idle workers leave.
    queue: Mutex<Option<Closer>>,
    /// Labels of running tasks, kept only by the timeout form (it names stragglers).
    running: Option<Mutex<Slab<String>>>,
}

/// A running task's entry in the straggler list; removed on drop.
pub(super) struct Running<'a> {
    list: &'a Mutex<Slab<String>>,
    key: usize,
}

impl Life {
    pub(super) fn new(track_running: bool) -> Arc<Life> {
        Arc::new(Life {
            tasks: InFlight::new(),
            queue: Mutex::new(None),
            running: track_running.then(|| Mutex::new(Slab::new())),
        })
    }

    /// Offers one task: it gets an index, and is accepted unless the group has closed.
    pub(super) fn enter(&self) -> Entry {
        self.tasks.enter()
    }

    /// Records that `n` accepted tasks have ended.
    pub(super) fn end(&self, n: usize) {
        self.tasks.end(n);
    }

    /// Waits until no task is in flight, or until `deadline`; returns whether it became idle.
    pub(super) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        self.tasks.wait_idle(deadline)
    }

    /// A limited group's queue, to close with the group.
    pub(super) fn set_queue(&self, closer: Closer) {
        *self.queue.lock() = Some(closer);
    }

    /// Waits until no task is in flight, then stops accepting tasks and tells idle workers to
    /// exit.
    pub(super) fn close(&self) {
        self.tasks.close();
        if let Some(queue) = self.queue.lock().take() {
            queue.close();
        }
    }

    #[inline]
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
