//! One submitted task: the user's closure, its result slot and its state, in ONE allocation.
//!
//! `Arc<Task<F, T>>` is seen by the queue as `Arc<dyn Job>` (run it, discard it) and by the
//! handle as `Arc<dyn Slot<T>>` (wait for it, cancel it). Both are views of the same allocation,
//! so a task costs one allocation however its closure is shaped (the bench counts it).
//!
//! # Invariants
//!
//! 1. `stage` only moves forward: `Queued → Running → Finished` or `Queued → Cancelled`. Whoever moves it out of `Queued` takes the closure; so the
//!    closure runs at most once, and a task that was cancelled never starts.
//! 2. `result` is `Some` from the moment `stage` becomes terminal until the handle takes it.
//! 3. No user code runs, and no user value is dropped, while `inner` is locked: the closure is
//!    taken out first, results and contexts are moved out before they are dropped.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::context::{Cancelled, Cause, Context};
use crate::panic::Panicked;

use crate::task::JoinError;

/// How a task left a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Panicked,
    /// It had been cancelled through its handle before it started; the closure was dropped.
    Skipped,
}

/// The queue's view of a task.
pub(crate) trait Job: Send + Sync {
    /// Runs the closure with `ctx` (unless it was cancelled first), catching its panic. `on_end`
    /// sees the outcome (and the panic) before the handle does; it is not called for `Skipped`.
    fn run(&self, ctx: &Context, on_end: &dyn Fn(Outcome, Option<&Panicked>)) -> Outcome;
    /// Resolves a task that will never run as `Cancelled`; returns whether it was still queued
    /// (false: it had been cancelled through its handle already).
    fn abandon(&self) -> bool;
    /// Whether the task was cancelled through its handle before it started.
    fn is_cancelled(&self) -> bool;
    /// The name given with `submit_named`.
    fn name(&self) -> Option<&str>;
    /// When the task entered the queue.
    fn enqueued_at(&self) -> Instant;
}

/// The handle's view of a task.
pub(crate) trait Slot<T>: Send + Sync {
    /// Waits until the task has finished (or `deadline` passes) and takes its result.
    fn wait(&self, deadline: Option<Instant>) -> Option<Result<T, JoinError>>;
    fn is_finished(&self) -> bool;
    /// Cancels: a queued task will never start; a running one has its context cancelled.
    /// Returns whether this call stopped the task from starting.
    fn cancel(&self) -> bool;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Queued,
    Running,
    /// Ran (to a value or a panic).
    Finished,
    /// Resolved `Cancelled` without ever starting.
    Cancelled,
}

impl Stage {
    fn is_terminal(self) -> bool {
        matches!(self, Stage::Finished | Stage::Cancelled)
    }
}

pub(crate) struct Task<F, T> {
    inner: Mutex<Inner<F, T>>,
    finished: Condvar,
    name: Option<Box<str>>,
    enqueued: Instant,
}

struct Inner<F, T> {
    stage: Stage,
    closure: Option<F>,
    /// The error is boxed: a `Panicked` is large and rare, and a small task allocation stays
    /// in the allocator's fast size classes when it is freed on another thread.
    result: Option<Result<T, Box<JoinError>>>,
    /// The running task's context, so `cancel` can reach it; `Some` only while `Running`.
    ctx: Option<Context>,
}

impl<F, T> Task<F, T>
where
    F: FnOnce(&Context) -> T + Send + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(closure: F, name: Option<Box<str>>) -> Arc<Self> {
        Arc::new(Task {
            inner: Mutex::new(Inner {
                stage: Stage::Queued,
                closure: Some(closure),
                result: None,
                ctx: None,
            }),
            finished: Condvar::new(),
            name,
            enqueued: Instant::now(),
        })
    }

    /// Takes the closure back from a task the queue refused (nobody else has seen it).
    pub(crate) fn take_back(&self) -> F {
        self.inner
            .lock()
            .closure
            .take()
            .expect("a refused task still holds its closure")
    }

    fn finish(&self, result: Result<T, Box<JoinError>>) -> Option<Context> {
        let mut inner = self.inner.lock();
        inner.stage = Stage::Finished;
        inner.result = Some(result);
        let ctx = inner.ctx.take();
        drop(inner);
        self.finished.notify_all();
        ctx
    }
}

impl<F, T> Job for Task<F, T>
where
    F: FnOnce(&Context) -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(&self, ctx: &Context, on_end: &dyn Fn(Outcome, Option<&Panicked>)) -> Outcome {
        let closure = {
            let mut inner = self.inner.lock();
            if inner.stage != Stage::Queued {
                return Outcome::Skipped;
            }
            inner.stage = Stage::Running;
            inner.ctx = Some(ctx.clone());
            inner.closure.take()
        };
        let Some(closure) = closure else {
            return Outcome::Skipped;
        };
        let (result, outcome) = match Panicked::catch(|| closure(ctx)) {
            Ok(value) => {
                on_end(Outcome::Completed, None);
                (Ok(value), Outcome::Completed)
            }
            Err(panicked) => {
                on_end(Outcome::Panicked, Some(&panicked));
                (
                    Err(Box::new(JoinError::Panicked(panicked))),
                    Outcome::Panicked,
                )
            }
        };
        // The context clone is dropped here, outside the lock.
        drop(self.finish(result));
        outcome
    }

    fn abandon(&self) -> bool {
        let mut inner = self.inner.lock();
        if inner.stage != Stage::Queued {
            return false;
        }
        inner.stage = Stage::Cancelled;
        inner.result = Some(Err(Box::new(JoinError::NotStarted(Cancelled::new(
            Cause::Cancelled,
        )))));
        let closure = inner.closure.take();
        drop(inner);
        self.finished.notify_all();
        drop(closure);
        true
    }

    fn is_cancelled(&self) -> bool {
        self.inner.lock().stage == Stage::Cancelled
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn enqueued_at(&self) -> Instant {
        self.enqueued
    }
}

impl<F, T> Slot<T> for Task<F, T>
where
    F: FnOnce(&Context) -> T + Send + 'static,
    T: Send + 'static,
{
    fn wait(&self, deadline: Option<Instant>) -> Option<Result<T, JoinError>> {
        let mut inner = self.inner.lock();
        while !inner.stage.is_terminal() {
            match deadline {
                Some(at) => {
                    if self.finished.wait_until(&mut inner, at).timed_out()
                        && !inner.stage.is_terminal()
                    {
                        return None;
                    }
                }
                None => self.finished.wait(&mut inner),
            }
        }
        // `join` consumes the handle, so the result is still there.
        inner.result.take().map(|r| r.map_err(|e| *e))
    }

    fn is_finished(&self) -> bool {
        self.inner.lock().stage.is_terminal()
    }

    fn cancel(&self) -> bool {
        let inner = self.inner.lock();
        match inner.stage {
            Stage::Queued => {
                drop(inner);
                self.abandon()
            }
            Stage::Running => {
                let ctx = inner.ctx.clone();
                drop(inner);
                if let Some(ctx) = ctx {
                    ctx.cancel();
                }
                false
            }
            Stage::Finished | Stage::Cancelled => false,
        }
    }
}

/// A task submitted with `execute`: no handle, no result slot, no lock. Just the closure and
/// its enqueue time, in one allocation.
pub(crate) trait DetachedJob: Send {
    fn run(self: Box<Self>, ctx: &Context, on_end: &dyn Fn(Outcome, Option<&Panicked>)) -> Outcome;
    fn enqueued_at(&self) -> Instant;
    /// For giving the closure back when the queue refuses it.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

pub(crate) struct Detached<F> {
    pub(crate) closure: F,
    pub(crate) enqueued: Instant,
}

impl<F> DetachedJob for Detached<F>
where
    F: FnOnce(&Context) + Send + 'static,
{
    fn run(self: Box<Self>, ctx: &Context, on_end: &dyn Fn(Outcome, Option<&Panicked>)) -> Outcome {
        let closure = self.closure;
        match Panicked::catch(|| closure(ctx)) {
            Ok(()) => {
                on_end(Outcome::Completed, None);
                Outcome::Completed
            }
            Err(panicked) => {
                on_end(Outcome::Panicked, Some(&panicked));
                Outcome::Panicked
            }
        }
    }

    fn enqueued_at(&self) -> Instant {
        self.enqueued
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

enum Queued {
    Tracked(Arc<dyn Job>),
    Detached(Box<dyn DetachedJob>),
}

/// A task in the queue. Dropping a tracked task without running it resolves its handle as
/// `Cancelled`, so no handle ever waits for a task that is gone.
pub(crate) struct QueuedTask {
    /// `None` only while being consumed.
    task: Option<Queued>,
}

impl QueuedTask {
    pub(crate) fn tracked(job: Arc<dyn Job>) -> Self {
        QueuedTask {
            task: Some(Queued::Tracked(job)),
        }
    }

    pub(crate) fn detached(job: Box<dyn DetachedJob>) -> Self {
        QueuedTask {
            task: Some(Queued::Detached(job)),
        }
    }

    fn get(&self) -> &Queued {
        self.task.as_ref().expect("a queued task holds its job")
    }

    pub(crate) fn name(&self) -> Option<&str> {
        match self.get() {
            Queued::Tracked(job) => job.name(),
            Queued::Detached(_) => None,
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        match self.get() {
            Queued::Tracked(job) => job.is_cancelled(),
            Queued::Detached(_) => false,
        }
    }

    pub(crate) fn enqueued_at(&self) -> Instant {
        match self.get() {
            Queued::Tracked(job) => job.enqueued_at(),
            Queued::Detached(job) => job.enqueued_at(),
        }
    }

    /// Runs the task (see [`Job::run`]). The task's last reference may drop here, and with it
    /// a detached result: the caller catches a panic from that.
    pub(crate) fn run(
        mut self,
        ctx: &Context,
        on_end: &dyn Fn(Outcome, Option<&Panicked>),
    ) -> Outcome {
        match self.task.take().expect("a queued task holds its job") {
            Queued::Tracked(job) => job.run(ctx, on_end),
            Queued::Detached(job) => job.run(ctx, on_end),
        }
    }

    /// Takes the contents out of a task the queue refused, without resolving anything.
    pub(crate) fn refused(mut self) -> Result<Arc<dyn Job>, Box<dyn Any>> {
        match self.task.take().expect("a queued task holds its job") {
            Queued::Tracked(job) => Ok(job),
            Queued::Detached(job) => Err(job.into_any()),
        }
    }
}

impl Drop for QueuedTask {
    fn drop(&mut self) {
        if let Some(Queued::Tracked(job)) = self.task.take() {
            job.abandon();
        }
    }
}
