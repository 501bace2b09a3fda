//! The worker loop shared by pool and group workers, and self-submit detection.
//!
//! A worker takes a task without parking while any is queued, and parks (counting itself idle
//! first, see [`Crew`](super::crew::Crew)) only when none is. Its layer runs each task; the loop
//! supplies what every worker needs around it:
//!
//! * **One task context per worker**, a child of the layer's root, handed to task after task as
//!   long as no task cancels it, keeps a clone, takes its `done()` channel or registers a callback
//!   on it (`Context::is_reusable`); otherwise the next task gets a fresh child. A fresh child per
//!   task was a quarter of a small task's cost.
//! * **Panic containment**: dropping a used context drops what the task registered on it, which
//!   is user code; its panic goes to the layer, and the worker carries on.
//! * **End counting**: the layer is told when the queue ran empty ([`Work::idle`]), before the
//!   worker parks, so a layer that counts ends in batches reports them before anyone could wait
//!   for them.
//! * **Self-submit detection**: while a thread works for an executor, [`is_worker_of`] says so,
//!   and a hand-off from it never waits for room (it could be waiting for itself).

use std::cell::Cell;
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::queue::{Parked, Queue};
use crate::context::Context;
use crate::panic::{Panicked, drop_caught};

/// Source of executor ids (0 means "none").
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The executor this thread works for now (0: none).
    static SERVING: Cell<u64> = const { Cell::new(0) };
}

/// A fresh executor id.
pub(crate) fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Whether the calling thread is working for the executor `id` (one of its workers, or a task
/// it runs inline).
pub(crate) fn is_worker_of(id: u64) -> bool {
    SERVING.try_with(Cell::get).unwrap_or(0) == id
}

/// Marks the calling thread as working for an executor until dropped (restoring what it served
/// before, so inline runs nest).
pub(crate) struct Serving {
    before: u64,
}

impl Serving {
    pub(crate) fn enter(id: u64) -> Serving {
        let before = SERVING.try_with(|s| s.replace(id)).unwrap_or(0);
        Serving { before }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = SERVING.try_with(|s| s.set(self.before));
    }
}

/// A layer's side of one worker.
pub(crate) trait Work {
    type Job;

    fn queue(&self) -> &Queue<Self::Job>;

    /// Every task context is a child of this.
    fn root(&self) -> &Context;

    /// How long a parked worker waits before it may retire (`None`: it never does).
    fn keep_alive(&self) -> Option<Duration> {
        None
    }

    /// Runs one task with the worker's context; `parked` says whether the worker blocked before
    /// it got the task. `false`: the worker must stop now (it leaves busy).
    fn run(&mut self, job: Self::Job, ctx: &Context, parked: bool) -> bool;

    /// The queue ran empty: the worker is about to park.
    fn idle(&mut self) {}

    /// Nothing came while the worker spun: it is about to block (after [`idle`](Work::idle)).
    fn blocking(&mut self) {}

    /// User code the worker dropped (what a task left on its context) panicked.
    fn panicked(&mut self, panic: Panicked);
}

/// Why a worker's loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The executor closed and the queue is drained.
    Closed,
    /// The keep-alive passed with nothing to do.
    Retired,
    /// The layer stopped it ([`Work::run`] returned false).
    Stopped,
}

/// How a worker begins.
pub(crate) enum Begin<J> {
    /// Already counted idle when its slot was reserved ([`Crew::start_parked`]).
    ///
    /// [`Crew::start_parked`]: super::crew::Crew::start_parked
    Parked,
    /// With the task it was started for.
    With(J),
    /// Looking for a queued task (it was started by the growth rule).
    Busy,
}

/// The worker loop: its first task, then whatever the queue holds, until the executor closes,
/// the worker retires, or the layer stops it.
pub(crate) fn work<W: Work>(w: &mut W, begin: Begin<W::Job>) -> Exit {
    let _serving = Serving::enter(w.queue().id());
    let mut ctx = w.root().child();
    let (mut next, mut registered) = match begin {
        Begin::Parked => (None, true),
        Begin::With(job) => (Some((job, false)), false),
        Begin::Busy => (w.queue().take().map(|job| (job, false)), false),
    };
    let exit = 'work: loop {
        // A task to begin a stretch with: the first one, or one waited for.
        let (job, parked) = match next.take() {
            Some(got) => got,
            None => {
                if !registered {
                    w.idle();
                }
                let spun = w.queue().spin(registered);
                registered = false;
                match spun {
                    // Found while spinning: the worker never blocked.
                    Some(job) => (job, false),
                    None => {
                        w.blocking();
                        match w.queue().block(w.keep_alive()) {
                            Parked::Job(job) => (job, true),
                            Parked::Closed => break Exit::Closed,
                            Parked::Retired => break Exit::Retired,
                            Parked::Nudged => {
                                registered = true;
                                continue;
                            }
                        }
                    }
                }
            }
        };
        if !run(w, job, &mut ctx, parked) {
            break Exit::Stopped;
        }
        // Then the queued tasks back to back, without the waiting path's branches (and, when
        // the queue runs empty, a moment's look for the next before counting idle).
        while let Some(job) = w.queue().take().or_else(|| w.queue().linger()) {
            if !run(w, job, &mut ctx, false) {
                break 'work Exit::Stopped;
            }
        }
    };
    if let Err(panic) = drop_caught(ctx) {
        w.panicked(panic);
    }
    exit
}

/// Runs one task with the worker's context, and replaces the context if the task used it up;
/// `false`: the layer stopped the worker (it leaves busy).
#[inline(always)]
fn run<W: Work>(w: &mut W, job: W::Job, ctx: &mut Context, parked: bool) -> bool {
    if !w.run(job, ctx, parked) {
        w.queue().crew.leave_busy();
        return false;
    }
    if !ctx.is_reusable() {
        let used = mem::replace(ctx, w.root().child());
        if let Err(panic) = drop_caught(used) {
            w.panicked(panic);
        }
    }
    true
}
