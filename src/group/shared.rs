//! State shared by a group's tasks: its context, its policy's rules and what it has recorded.

use std::mem;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

use parking_lot::Mutex;

use super::error::Error;
use super::life::Life;
use super::policy::Policy;
use crate::context::Context;
use crate::panic::Panicked;
use crate::task::TaskInfo;
use crate::threads::Builder;

pub(super) struct Shared<E> {
    /// The group's context: a child of the caller's, so cancelling it never cancels the caller.
    pub(super) ctx: Context,
    pub(super) life: Arc<Life>,
    /// Owner name for the group's threads (`homebound-<owner>-<n>`).
    pub(super) owner: String,
    /// Stack size of the group's threads, if configured.
    stack_size: Option<usize>,
    /// The thread that runs the group: every thread the group starts belongs to its leak
    /// check, whichever thread spawned the task.
    origin: ThreadId,
    cancel_on_error: bool,
    cancel_on_success: bool,
    keep_all: bool,
    record: Mutex<Record<E>>,
    /// Set by the first successful task; the one that sets it is the race's winner.
    succeeded: AtomicBool,
}

struct Record<E> {
    /// Under `keep_all` every failure, otherwise at most the first.
    failures: Vec<Error<E>>,
    /// The first panic when it was not kept in `failures` (fail-fast after an earlier error),
    /// so `resume_panics` never misses a panic.
    stray_panic: Option<Panicked>,
}

/// What a finished group recorded.
pub(super) struct Outcome<E> {
    pub(super) failures: Vec<Error<E>>,
    pub(super) stray_panic: Option<Panicked>,
    pub(super) any_success: bool,
}

impl<E> Shared<E> {
    pub(super) fn new<P: Policy>(
        ctx: Context,
        owner: &str,
        stack_size: Option<usize>,
        track_running: bool,
    ) -> Arc<Self> {
        Arc::new(Shared {
            ctx,
            life: Life::new(track_running),
            owner: owner.to_string(),
            stack_size,
            origin: crate::threads::current_origin(),
            cancel_on_error: P::CANCEL_ON_ERROR,
            cancel_on_success: P::CANCEL_ON_SUCCESS,
            keep_all: P::KEEP_ALL,
            record: Mutex::new(Record {
                failures: Vec::new(),
                stray_panic: None,
            }),
            succeeded: AtomicBool::new(false),
        })
    }

    /// A registry builder for one of the group's threads.
    pub(super) fn thread(&self, owner: &str) -> Builder {
        let builder = Builder::new(owner).origin(self.origin).context(&self.ctx);
        match self.stack_size {
            Some(bytes) => builder.stack_size(bytes),
            None => builder,
        }
    }

    /// Records a success; returns whether it was the group's first (the race's winner).
    pub(super) fn succeed(&self, task: &TaskInfo) -> bool {
        if self.succeeded.load(Ordering::Relaxed) || self.succeeded.swap(true, Ordering::AcqRel) {
            return false;
        }
        if self.cancel_on_success {
            self.ctx.cancel_with(format!("{task} succeeded first"));
        }
        true
    }

    /// Records a failure, cancelling the group if the policy (or a panic) says so.
    pub(super) fn fail(&self, failure: Error<E>) {
        let reason = match &failure {
            Error::Panicked { task, .. } => Some(format!("{task} panicked")),
            Error::Failed { task, .. } if self.cancel_on_error => Some(format!("{task} failed")),
            Error::Spawn { task, .. } if self.cancel_on_error => {
                Some(format!("{task} could not be spawned"))
            }
            _ => None,
        };
        let mut record = self.record.lock();
        let dropped = if self.keep_all || record.failures.is_empty() {
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
        if let Some(reason) = reason {
            self.ctx.cancel_with(reason);
        }
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
    pub(super) fn take(&self) -> Outcome<E> {
        let mut record = self.record.lock();
        Outcome {
            failures: mem::take(&mut record.failures),
            stray_panic: record.stray_panic.take(),
            any_success: self.succeeded.load(Ordering::Acquire),
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
