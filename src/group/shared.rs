//! State shared by a group's tasks: its context, its policy's rules and what it has recorded.
//! A pool group (`Pool::group`) records its tasks' ends here too, under the same policies.

use std::mem;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

use parking_lot::Mutex;

use super::cause::{self, ErrorCause, TaskFailed};
use super::error::Error;
use super::life::Life;
use super::policy::Policy;
use crate::context::{Cause, Context};
use crate::panic::Panicked;
use crate::task::TaskInfo;
use crate::threads::Builder;

pub(crate) struct Shared<E> {
    /// The group's context: a child of the caller's, so cancelling it never cancels the caller.
    pub(crate) ctx: Context,
    pub(super) life: Arc<Life>,
    /// Owner name for the group's threads (`homebound-<owner>-<n>`).
    pub(super) owner: String,
    /// Stack size of the group's threads, if configured.
    stack_size: Option<usize>,
    /// The thread that runs the group: every thread the group starts belongs to its leak
    /// check, whichever thread spawned the task.
    origin: ThreadId,
    /// The group run as a node of the owner tree (issue 17): its threads are its own in the dump.
    node: crate::threads::Owner,
    cancel_on_error: bool,
    cancel_on_success: bool,
    cancel_on_panic: bool,
    keep_all: bool,
    /// Whether an accepted task runs even once the group is cancelled (Go's `g.Go`), instead of
    /// being reported as not started.
    run_accepted: bool,
    /// The cause a task's error cancels the group with (the group's [`ErrorCause`] rule).
    error_cause: fn(&TaskInfo, &E) -> Cause,
    record: Mutex<Record<E>>,
    /// Set by the first successful task; the one that sets it is the race's winner.
    succeeded: AtomicBool,
    /// Whether a worker must look at each task before it runs it: running tasks are listed (the
    /// timeout form), spans are entered (`tracing`), or a named task was spawned (its name is
    /// shown). Until then a worker runs task after task without reading who they are. Set
    /// before the named task is queued, so the worker that takes it sees it.
    observed: AtomicBool,
}

struct Record<E> {
    /// Under `keep_all` every failure, otherwise at most the first.
    failures: Vec<Error<E>>,
    /// The first panic when it was not kept in `failures` (fail-fast after an earlier error),
    /// so `resume_panics` never misses a panic.
    stray_panic: Option<Panicked>,
    /// The position in `failures` of the failure whose cancel cancelled the group.
    cancelled_by: Option<usize>,
}

/// What a finished group recorded.
pub(crate) struct Outcome<E> {
    pub(crate) failures: Vec<Error<E>>,
    pub(crate) stray_panic: Option<Panicked>,
    pub(crate) any_success: bool,
    pub(crate) cancelled_by: Option<usize>,
}

/// How a group is configured, as its tasks need to know it.
pub(crate) struct Setup<'a> {
    pub(crate) owner: &'a str,
    pub(crate) stack_size: Option<usize>,
    pub(crate) run_accepted: bool,
    /// Whether running tasks are listed (the timeout form names its stragglers).
    pub(crate) track_running: bool,
}

impl<E> Shared<E> {
    #[track_caller] // the owner-tree node records the user's `scope` / `run` call
    pub(crate) fn new<P: Policy, C: ErrorCause<E>>(ctx: Context, setup: Setup<'_>) -> Arc<Self> {
        Arc::new(Shared {
            ctx,
            life: Life::new(setup.track_running),
            owner: setup.owner.to_string(),
            stack_size: setup.stack_size,
            origin: crate::threads::current_origin(),
            node: crate::threads::Owner::new("group", setup.owner),
            cancel_on_error: P::CANCEL_ON_ERROR,
            cancel_on_success: P::CANCEL_ON_SUCCESS,
            cancel_on_panic: P::CANCEL_ON_PANIC,
            keep_all: P::KEEP_ALL,
            run_accepted: setup.run_accepted,
            error_cause: C::cause,
            record: Mutex::new(Record {
                failures: Vec::new(),
                stray_panic: None,
                cancelled_by: None,
            }),
            succeeded: AtomicBool::new(false),
            observed: AtomicBool::new(setup.track_running || cfg!(feature = "tracing")),
        })
    }

    /// Whether a worker must look at each task before running it (see `observed`).
    #[inline]
    pub(super) fn is_observed(&self) -> bool {
        self.observed.load(Ordering::Relaxed)
    }

    /// A named task is about to be queued: workers show its name from now on.
    pub(super) fn observe_names(&self) {
        if !self.observed.load(Ordering::Relaxed) {
            self.observed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether an accepted task must be reported as not started instead of run: the group is
    /// cancelled, and it does not run accepted tasks regardless.
    #[inline]
    pub(super) fn skips_start(&self) -> bool {
        !self.run_accepted && self.ctx.is_cancelled()
    }

    /// Whether accepted tasks run even once the group is cancelled.
    pub(super) fn runs_accepted(&self) -> bool {
        self.run_accepted
    }

    /// A registry builder for one of the group's threads.
    pub(super) fn thread(&self, owner: &str) -> Builder {
        let builder = Builder::new(owner).origin(self.origin).context(&self.ctx);
        let builder = builder.member_of(&self.node);
        match self.stack_size {
            Some(bytes) => builder.stack_size(bytes),
            None => builder,
        }
    }

    /// Records a success; returns whether it was the group's first (the race's winner).
    pub(crate) fn succeed(&self, task: &TaskInfo) -> bool {
        if self.succeeded.load(Ordering::Relaxed) || self.succeeded.swap(true, Ordering::AcqRel) {
            return false;
        }
        if self.cancel_on_success {
            self.ctx.cancel_with(format!("{task} succeeded first"));
        }
        true
    }

    /// [`fail`](Shared::fail) for the end of one of the group's own tasks, which no catch
    /// surrounds: the failure the policy discards is dropped, and its `Drop` is user code. A
    /// panic from it is reported as the thread's (as a panic escaping a task's bookkeeping
    /// is), and the caller carries on to end the task.
    pub(super) fn fail_contained(&self, failure: Error<E>) {
        if let Err(panic) = Panicked::catch(|| self.fail(failure)) {
            // Reporting cancels the group: one more panic there has nowhere left to go.
            let _ = Panicked::catch(|| self.fail_outside_task(panic));
        }
    }

    /// Records a failure, cancelling the group if the policy says so, with the failure as the
    /// cause (see `cause`).
    pub(crate) fn fail(&self, failure: Error<E>) {
        // Built before the failure goes under the lock: the error rule may clone a user error
        // (user code). Only the failure that can still cancel the group pays for it.
        let mut clone_panicked = None;
        let cause = if self.ctx.is_cancelled() {
            None
        } else {
            match &failure {
                Error::Panicked { panic, .. } if self.cancel_on_panic => {
                    Some(cause::panicked(panic))
                }
                Error::Failed { task, error } if self.cancel_on_error => {
                    let error_cause = self.error_cause;
                    match Panicked::catch(|| error_cause(task, error)) {
                        Ok(cause) => Some(cause),
                        Err(panic) => {
                            clone_panicked = Some((task.clone(), panic));
                            Some(TaskFailed::failed(task).into_cause())
                        }
                    }
                }
                Error::Spawn { task, error } if self.cancel_on_error => {
                    Some(TaskFailed::spawn_failed(task, error).into_cause())
                }
                _ => None,
            }
        };
        let mut record = self.record.lock();
        let mut at = None;
        let dropped = if self.keep_all || record.failures.is_empty() {
            at = Some(record.failures.len());
            record.failures.push(failure);
            None
        } else {
            match failure {
                Error::Panicked { panic, .. } if record.stray_panic.is_none() => {
                    record.stray_panic = Some(panic);
                    None
                }
                other => Some(other),
            }
        };
        drop(record);
        // A dropped failure may hold a user error whose Drop runs user code: outside the lock.
        drop(dropped);
        if let Some(cause) = cause
            && self.ctx.cancel_with_cause(cause)
            && at.is_some()
        {
            self.record.lock().cancelled_by = at;
        }
        if let Some((task, panic)) = clone_panicked {
            self.fail(Error::Panicked { task, panic });
        }
    }

    /// Cancels the group because its closure panicked, with that panic as the cause.
    pub(super) fn closure_panicked(&self, panic: &Panicked) {
        self.ctx.cancel_with_cause(cause::panicked(panic));
    }

    /// Records a panic of user code that ran on a group thread outside every task: the `Drop`
    /// of something a task left on its context, or a cancel callback run by the group's own
    /// cancel.
    #[track_caller]
    pub(super) fn fail_outside_task(&self, panic: Panicked) {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("group thread").to_string();
        let task = TaskInfo::new(usize::MAX, Some(name), Location::caller());
        self.fail(Error::Panicked { task, panic });
    }

    /// Takes what the group recorded (called once every task has ended).
    pub(crate) fn take(&self) -> Outcome<E> {
        let mut record = self.record.lock();
        Outcome {
            failures: mem::take(&mut record.failures),
            stray_panic: record.stray_panic.take(),
            any_success: self.succeeded.load(Ordering::Acquire),
            cancelled_by: record.cancelled_by.take(),
        }
    }
}

impl<E> Outcome<E> {
    /// Removes and returns the first panic recorded, if any.
    pub(super) fn take_panic(&mut self) -> Option<Panicked> {
        if let Some(at) = self.failures.iter().position(Error::is_panicked)
            && let Error::Panicked { panic, .. } = self.failures.remove(at)
        {
            return Some(panic);
        }
        self.stray_panic.take()
    }
}
