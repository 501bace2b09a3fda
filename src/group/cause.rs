//! Why a group cancelled its context: the cause it records when a task fails or panics, so code
//! that holds only the context (a task, a callback, a library call) can see why it was stopped.
//!
//! A panic is always recorded as the [`Panicked`] itself. A task's `Err(e)` is recorded as a
//! [`TaskFailed`] naming the task, or, with [`ErrorAsCause`], as a clone of `e` itself (Go's
//! `context.Cause(ctx) == err` after `errgroup`). The rule is a type, like the policy, because
//! sharing `e` needs bounds (`Error + Clone + Send + Sync + 'static`) that the default group
//! does not ask of its error type (`&str`, `()` or borrowed errors work there).

use std::error::Error;
use std::fmt;
use std::io;

use crate::context::{Cause, Reason};
use crate::panic::Panicked;
use crate::task::TaskInfo;

mod sealed {
    pub trait Sealed {}
}

/// How a group's context names a failed task as its cause: [`TaskAsCause`] (the default) or
/// [`ErrorAsCause`]; chosen with [`Builder::cause`](crate::group::Builder::cause). Sealed.
///
/// Whatever the rule, a panic is recorded as the task's [`Panicked`] (without its payload, which
/// stays with the group's result so that [`Panicked::resume`] re-raises the original).
pub trait CauseRule: sealed::Sealed + Copy + fmt::Debug + Send + Sync + 'static {}

/// The errors a [`CauseRule`] can record as a cause: every `E` for [`TaskAsCause`], errors
/// that can be shared for [`ErrorAsCause`]. Sealed.
pub trait ErrorCause<E>: CauseRule {
    /// The cause the group's context gets when `task` fails with `error`.
    #[doc(hidden)]
    fn cause(task: &TaskInfo, error: &E) -> Cause;
}

/// The default rule: a task's error cancels the group's context with a [`TaskFailed`] cause
/// that names the task (`reason().downcast_ref::<TaskFailed>()`), whatever its error type.
///
/// # Examples
///
/// ```
/// use homebound::{Context, group::TaskFailed, scope};
///
/// let _ = scope(&Context::new(), |g| {
///     let group_ctx = g.context().clone();
///     g.spawn_named("parse", |_ctx| Err::<(), _>("bad header"));
///     let cause = group_ctx.wait(); // cancelled by the failure
///     let failed = cause.reason().unwrap().downcast_ref::<TaskFailed>().unwrap();
///     assert_eq!(failed.task().name(), Some("parse"));
///     assert_eq!(cause.to_string(), "task 'parse' (#0) failed");
/// });
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskAsCause;

/// The errgroup rule: a task's error cancels the group's context with a clone of the error
/// itself as the cause, so `cause.reason().unwrap().downcast_ref::<E>()` finds it (Go's
/// `context.Cause(ctx) == err`). `run` still returns the original error.
///
/// It needs `E: Error + Clone + Send + Sync + 'static`, and clones the error for the failure
/// that cancels the group (a failure that finds the group already cancelled is not cloned). An
/// error type that is not `Clone` (`std::io::Error`) can be shared as `Arc<E>`: the cause then
/// downcasts to `Arc<E>`. A `Clone` that panics is reported as that task's panic, and the
/// group is cancelled with a [`TaskFailed`] instead.
///
/// # Examples
///
/// ```
/// use homebound::{Context, group, group::{ErrorAsCause, Group}};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Refused(u16);
/// impl std::fmt::Display for Refused {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "refused on port {}", self.0)
///     }
/// }
/// impl std::error::Error for Refused {}
///
/// let group = Group::builder().cause(ErrorAsCause).build().unwrap();
/// let err = group
///     .run(&Context::new(), |g| {
///         g.spawn(|_ctx| Err::<(), _>(Refused(8080)));
///         g.spawn(|ctx| {
///             let cause = ctx.wait(); // a sibling's view: only the context
///             assert_eq!(cause.reason().unwrap().downcast_ref::<Refused>(), Some(&Refused(8080)));
///             Ok(())
///         });
///     })
///     .unwrap_err();
/// assert!(matches!(err, group::Error::Failed { error: Refused(8080), .. })); // the value itself
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorAsCause;

impl sealed::Sealed for TaskAsCause {}
impl sealed::Sealed for ErrorAsCause {}
impl CauseRule for TaskAsCause {}
impl CauseRule for ErrorAsCause {}

impl<E> ErrorCause<E> for TaskAsCause {
    fn cause(task: &TaskInfo, _: &E) -> Cause {
        TaskFailed::failed(task).into_cause()
    }
}

impl<E: Error + Clone + Send + Sync + 'static> ErrorCause<E> for ErrorAsCause {
    fn cause(_: &TaskInfo, error: &E) -> Cause {
        Cause::Reason(Reason::new(error.clone()))
    }
}

/// The cause of a group's context when a task failed and its error is not itself the cause
/// ([`TaskAsCause`], the default), or when its thread could not be spawned: which task, and
/// how it ended.
///
/// # Examples
///
/// ```
/// use homebound::{Context, group::TaskFailed, scope};
///
/// let ctx = Context::new();
/// let _ = scope(&ctx, |g| {
///     let seen = g.context().clone();
///     g.spawn_named("upload", |_ctx| Err::<(), _>(()));
///     let cause = seen.wait();
///     let failed = cause.reason().unwrap().downcast_ref::<TaskFailed>().unwrap();
///     assert_eq!(failed.task().index(), 0);
///     assert!(!failed.is_spawn_failure());
/// });
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct TaskFailed {
    task: TaskInfo,
    /// The OS error's text when the task's thread could not be spawned.
    spawn_error: Option<String>,
}

impl TaskFailed {
    pub(super) fn failed(task: &TaskInfo) -> Self {
        TaskFailed {
            task: task.clone(),
            spawn_error: None,
        }
    }

    pub(super) fn spawn_failed(task: &TaskInfo, error: &io::Error) -> Self {
        TaskFailed {
            task: task.clone(),
            spawn_error: Some(error.to_string()),
        }
    }

    pub(super) fn into_cause(self) -> Cause {
        Cause::Reason(Reason::new(self))
    }

    /// The task that failed.
    pub fn task(&self) -> &TaskInfo {
        &self.task
    }

    /// Whether the task never started because the OS refused to create its thread (rather than
    /// returning an error).
    pub fn is_spawn_failure(&self) -> bool {
        self.spawn_error.is_some()
    }
}

impl fmt::Display for TaskFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.spawn_error {
            None => write!(f, "{} failed", self.task),
            Some(error) => write!(f, "{} could not be spawned: {error}", self.task),
        }
    }
}

impl Error for TaskFailed {}

/// The cause a panic cancels a group with: the panic report itself, without its payload.
pub(super) fn panicked(panic: &Panicked) -> Cause {
    Cause::Reason(Reason::new(panic.without_payload()))
}
