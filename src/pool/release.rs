//! A queued task whose caller's context is cancelled (or whose deadline passes) gives its queue
//! slot back at once: **released when cancelled**, so the pool has no `purge`.
//!
//! Only tasks submitted with options ([`Pool::task`](super::Pool::task) with a context or a
//! timeout, and the tasks of a [`pool group`](super::PoolGroup)) can be released; a plain
//! `execute`/`submit` carries nothing to watch and pays nothing for this.
//!
//! * **The slot**: the moment the task's context is cancelled, a cancel callback marks the task
//!   released and hands its slot to the executor core (`Releaser::release`): the next
//!   hand-off that finds the queue full takes it, and a submitter blocked on the full queue is
//!   woken to do so. The task stays in the queue's channel (which cannot remove from the
//!   middle) as a tombstone; the task that took its slot runs in its place when a worker
//!   reaches it, so it may start before tasks queued between the two.
//! * **The closure** is dropped, and the handle resolves as `NotStarted`, when a worker (or
//!   `shutdown_now`, or `DiscardOldest`) reaches the tombstone: on that thread, through the
//!   crate's one drop helper, outside every lock. Not in the cancel callback: that runs inside
//!   `Context::cancel`, on the cancelling thread or on homebound's timer thread (a deadline),
//!   and `cancel` never runs user code, whose `Drop` might block either one.
//! * **Counted once**: in `cancelled_before_start`, when the tombstone is reached, like any
//!   task cancelled while queued; until then it is in `queued`, so the conservation identity
//!   holds throughout.
//!
//! Exactly one of the callback and the worker that takes the task moves it out of `QUEUED`:
//! a task a worker took first is not released (it runs, or is skipped as cancelled), and a
//! released one never runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::task::PoolJob;
use crate::context::{Context, WakeGuard};
use crate::exec::queue::Releaser;

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const RELEASED: u8 = 2;

/// Whether a queued task was taken or released; shared with its cancel callback.
#[derive(Default)]
pub(crate) struct Release {
    state: AtomicU8,
}

impl Release {
    /// Takes the task off the queue (to run it, skip it, hand it back or discard it): a later
    /// cancel releases nothing. `false`: it had been released already (a tombstone).
    pub(crate) fn claim(&self) -> bool {
        match self
            .state
            .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now != RELEASED,
        }
    }

    fn is_released(&self) -> bool {
        self.state.load(Ordering::Acquire) == RELEASED
    }

    /// Releases the task's slot when `ctx` is cancelled while the task is still queued. Call
    /// only once the task is in the queue; the guard keeps the callback registered.
    pub(crate) fn watch(self: &Arc<Self>, ctx: &Context, releaser: Releaser) -> WakeGuard {
        let this = Arc::clone(self);
        // homebound's own cheap wake-up: an atomic, a counter and a token; no user code.
        ctx.wake_on_cancel(move || {
            if this
                .state
                .compare_exchange(QUEUED, RELEASED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                releaser.release();
            }
        })
    }
}

/// Takes `job` off the queue (see [`Release::claim`]); `false` for a tombstone.
pub(crate) fn claim(job: &PoolJob) -> bool {
    job.info().opts().is_none_or(|opts| opts.release.claim())
}

/// Whether `job` is a tombstone (after [`claim`] said so).
pub(crate) fn is_released(job: &PoolJob) -> bool {
    job.info()
        .opts()
        .is_some_and(|opts| opts.release.is_released())
}
