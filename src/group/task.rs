//! One task of a group: the [`TaskHandle`] that reads its result slot, the job that a thread or
//! a worker runs (or reports as not started), and how a group task's end is recorded (the
//! group's [`Host`]: its policy decides what a success, an error or a panic does to the group).
//!
//! A spawned task is two allocations: its boxed closure, and the result slot its handle holds
//! (handles carry no lifetime, so they cannot hold the closure, which may borrow). An executed
//! task is one: the box with its closure and who it is ([`Executed`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::error::Error;
use super::shared::Shared;
use crate::context::{Cancelled, Cause, Context};
use crate::exec::job::{Cell, Host, Job, NoHandle, NotRun, Output, OwnedRun, Settled};
use crate::exec::slot::Slot;
use crate::panic::{Panicked, drop_caught, drop_quietly};
use crate::task::{JoinError, TaskInfo};

/// What a group's queue and threads carry.
pub(super) type GroupJob<'scope, E> = Job<'scope, Shared<E>>;

/// The handle of one task of a group: its identity, and its value once it has ended.
///
/// A handle does not need to be joined: the group itself waits for every task. Errors and
/// panics are reported by the group's result; the handle only says which kind of end the task
/// had ([`JoinError`]). Handles have no lifetime, so they may be returned from the group's
/// closure and read after `run` has returned.
///
/// # Examples
///
/// ```
/// use homebound::{Context, scope};
///
/// let words = vec!["a", "bb", "ccc"];
/// let handles = scope(&Context::new(), |g| {
///     words.iter().map(|w| g.spawn(move |_ctx| Ok::<_, ()>(w.len()))).collect::<Vec<_>>()
/// })
/// .unwrap();
/// let lens: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(lens, [1, 2, 3]);
/// ```
pub struct TaskHandle<T> {
    slot: Arc<Slot<TaskInfo, T>>,
}

impl<T> TaskHandle<T> {
    /// Which task this is.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let (a, b) = scope(&Context::new(), |g| {
    ///     (g.spawn(|_ctx| Ok::<_, ()>(1)), g.spawn_named("resize", |_ctx| Ok(2)))
    /// })
    /// .unwrap();
    /// assert_eq!((a.task().index(), a.task().name()), (0, None));
    /// assert_eq!((b.task().index(), b.task().name()), (1, Some("resize")));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn task(&self) -> &TaskInfo {
        self.slot.info()
    }

    /// Whether the task has ended (returned, failed, panicked or was not started).
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, scope};
    ///
    /// let (release, wait) = bounded::<()>(0);
    /// let handle = scope(&Context::new(), |g| {
    ///     let h = g.spawn(move |_ctx| { let _ = wait.recv(); Ok::<_, ()>(7) });
    ///     assert!(!h.is_finished()); // blocked until released
    ///     drop(release);
    ///     h
    /// })
    /// .unwrap();
    /// assert!(handle.is_finished()); // `scope` waited for it
    /// assert_eq!(handle.join().unwrap(), 7);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_finished(&self) -> bool {
        self.slot.is_finished()
    }

    /// Whether this task was the first of its group to succeed (the winner of a
    /// [`FirstSuccess`](crate::group::FirstSuccess) race). `false` while it runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{FirstSuccess, Group}};
    ///
    /// let group = Group::builder().policy(FirstSuccess).build().unwrap();
    /// let (down, up) = group
    ///     .run(&Context::new(), |g| {
    ///         (g.spawn(|_ctx| Err::<&str, _>("mirror down")), g.spawn(|_ctx| Ok("mirror up")))
    ///     })
    ///     .unwrap(); // one success is enough
    /// assert!(up.is_winner() && !down.is_winner());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_winner(&self) -> bool {
        self.slot.is_winner()
    }

    /// Waits for the task to end and returns its value.
    ///
    /// Inside the group's closure this blocks until the task ends; after `run` returned it never
    /// blocks. With a limit, joining a task that is still queued behind the joining task itself
    /// deadlocks, as with any bounded pool: a group's worker does not run other tasks while it
    /// waits (a [`Pool`](crate::pool::Pool)'s does).
    ///
    /// # Errors
    ///
    /// [`JoinError`] if the task failed, panicked or never started.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope, task::JoinError};
    ///
    /// let err = scope(&Context::new(), |g| {
    ///     let ok = g.spawn(|_ctx| Ok(6 * 7));
    ///     assert_eq!(ok.join().unwrap(), 42); // waits for the task
    ///     let failed = g.spawn(|_ctx| Err::<u32, _>("bad input"));
    ///     assert!(matches!(failed.join(), Err(JoinError::Failed))); // the error goes to the group
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.into_error(), Some("bad input"));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        self.slot
            .wait(None)
            .expect("only the one handle takes the result, and an untimed wait ends")
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task", self.slot.info())
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<E> Host for Shared<E> {
    type Info = TaskInfo;

    /// A group cancels its tasks through the group's context, not one by one.
    const CANCELS: bool = false;

    fn not_run(&self, task: &TaskInfo, why: NotRun) -> JoinError {
        match why {
            NotRun::Cancelled => {
                let cause = self
                    .ctx
                    .check()
                    .err()
                    .unwrap_or_else(|| Cancelled::new(Cause::Cancelled));
                self.fail_contained(Error::NotStarted {
                    task: task.clone(),
                    cause: cause.clone(),
                });
                JoinError::NotStarted(cause)
            }
            NotRun::SpawnFailed(error) => {
                self.fail_contained(Error::Spawn {
                    task: task.clone(),
                    error,
                });
                JoinError::Spawn
            }
        }
    }

    /// A closure that never ran, or a result whose handle is gone, panicked as it was dropped:
    /// that is the task's panic, not the worker's.
    fn drop_panicked(&self, task: &TaskInfo, panic: Panicked) {
        self.fail_contained(Error::Panicked {
            task: task.clone(),
            panic,
        });
    }
}

/// The group records the end before the handle sees it, so a caller woken by `join` finds the
/// group already cancelled.
impl<T, E> Output<Shared<E>> for Result<T, E> {
    type Value = T;

    /// A success inline (it is every task of a healthy group); an error or a panic out of line.
    #[inline]
    fn settle(ran: Result<Self, Panicked>, shared: &Shared<E>, task: &TaskInfo) -> Settled<T> {
        match ran {
            Ok(Ok(value)) => {
                let won = shared.succeed(task);
                Settled {
                    result: Ok(value),
                    won,
                }
            }
            Ok(Err(error)) => settle_failed(Ok(error), shared, task),
            Err(panic) => settle_failed(Err(panic), shared, task),
        }
    }
}

/// [`Output::settle`] for a task that returned `Err(error)` (`Ok(error)` here) or panicked.
#[cold]
#[inline(never)]
fn settle_failed<T, E>(
    ended: Result<E, Panicked>,
    shared: &Shared<E>,
    task: &TaskInfo,
) -> Settled<T> {
    let result = match ended {
        Ok(error) => {
            shared.fail_contained(Error::Failed {
                task: task.clone(),
                error,
            });
            Err(JoinError::Failed)
        }
        Err(panic) => {
            crate::observe::task_panicked(Some(&panic));
            let for_handle = panic.without_payload();
            shared.fail_contained(Error::Panicked {
                task: task.clone(),
                panic,
            });
            Err(JoinError::Panicked(for_handle))
        }
    };
    Settled { result, won: false }
}

/// Builds the job for `f` and the handle to its result.
#[inline]
pub(super) fn new_job<'scope, T, E, F>(task: TaskInfo, f: F) -> (GroupJob<'scope, E>, TaskHandle<T>)
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'scope,
    T: Send + 'scope,
    E: 'scope,
{
    let slot = Arc::new(Slot::new(task, ()));
    let handle = TaskHandle { slot: slot.clone() };
    (Job::owned(Box::new(Cell::new(f, slot))), handle)
}

/// Builds the job for a task without a handle: one allocation instead of two.
#[inline]
pub(super) fn new_job_without_handle<'scope, E, F>(task: TaskInfo, f: F) -> GroupJob<'scope, E>
where
    F: FnOnce(&Context) -> Result<(), E> + Send + 'scope,
    E: 'scope,
{
    Job::owned(Box::new(Executed {
        f,
        task: NoHandle(task),
    }))
}

/// An executed task: its closure and who it is, in one box. The core's generic [`Cell`] with
/// a [`NoHandle`] outlet does the same through its outlet's calls; this is the group's hot
/// path (`Scope::execute`), so its end is settled and dropped in one inlined call, as the
/// pool's `Detached` does.
struct Executed<F> {
    f: F,
    task: NoHandle<TaskInfo>,
}

impl<E, F> OwnedRun<Shared<E>> for Executed<F>
where
    F: FnOnce(&Context) -> Result<(), E> + Send,
{
    #[inline]
    fn run(self: Box<Self>, shared: &Shared<E>, ctx: &Context) {
        // Only the closure moves out; who the task is stays in the box until it is freed.
        let f = self.f;
        let task = &self.task.0;
        let settled = <Result<(), E>>::settle(Panicked::catch(move || f(ctx)), shared, task);
        // Nobody reads the end (as `NoHandle::end_run`): the group's result has the panic.
        if let Err(JoinError::Panicked(panic)) = settled.result {
            shared.unread_panic(task, panic);
        }
    }

    fn not_run(self: Box<Self>, shared: &Shared<E>, why: NotRun) {
        let Executed { f, task } = *self;
        drop(shared.not_run(&task.0, why));
        if let Err(panic) = drop_caught(f) {
            shared.drop_panicked(&task.0, panic);
        }
    }

    fn abandon(self: Box<Self>) {
        let Executed { f, task } = *self;
        // Nobody to report to, and this may run while unwinding.
        drop_quietly(f);
        drop_quietly(task);
    }

    fn info(&self) -> &TaskInfo {
        &self.task.0
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any>
    where
        Self: 'static,
    {
        self
    }
}

/// The handle of a task refused because its group had already ended.
#[cold]
#[inline(never)]
pub(super) fn refused<T>(task: TaskInfo) -> TaskHandle<T> {
    let cause = Cancelled::new(Cause::Cancelled);
    TaskHandle {
        slot: Arc::new(Slot::skipped(task, JoinError::NotStarted(cause))),
    }
}
