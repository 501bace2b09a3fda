//! [`PendingTask`]: a task handed back by `shutdown_now`.

use std::fmt;

use crate::context::Context;

use super::builder::PanicHook;
use super::task::{Ending, PoolJob};

/// A queued task that never started, handed back by [`Pool::shutdown_now`](super::Pool::shutdown_now).
///
/// Run it on the calling thread with [`run`](PendingTask::run), or drop it: its
/// [`TaskHandle`](super::TaskHandle) then resolves as [`JoinError::NotStarted(_)`](super::JoinError::NotStarted(_)).
/// Either way the handle never waits forever.
///
/// # Examples
///
/// ```
/// use homebound::{pool::Pool, task::JoinError};
///
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let (started_tx, started) = crossbeam_channel::bounded(1);
/// // Occupy the only worker until shutdown_now cancels its context.
/// let busy = pool.submit(move |ctx| { started_tx.send(()).unwrap(); ctx.wait(); "stopped" }).unwrap();
/// started.recv().unwrap();
/// let a = pool.submit_named("a", |_| "ran by the caller").unwrap();
/// let b = pool.submit_named("b", |_| "never runs").unwrap();
/// let mut pending = pool.shutdown_now().into_iter();
/// let first = pending.next().unwrap();
/// assert_eq!(first.name(), Some("a"));
/// assert!(first.run());
/// drop(pending); // b is dropped
/// assert_eq!(a.join().unwrap(), "ran by the caller");
/// assert!(matches!(b.join(), Err(JoinError::NotStarted(_))));
/// assert_eq!(busy.join().unwrap(), "stopped");
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub struct PendingTask {
    task: PoolJob,
    panic_handler: Option<PanicHook>,
}

impl PendingTask {
    pub(crate) fn new(task: PoolJob, panic_handler: Option<PanicHook>) -> Self {
        PendingTask {
            task,
            panic_handler,
        }
    }

    pub(crate) fn into_job(self) -> PoolJob {
        self.task
    }

    /// The name given with [`Pool::submit_named`](super::Pool::submit_named).
    pub fn name(&self) -> Option<&str> {
        self.task.info().name.as_deref()
    }

    /// Whether the task was cancelled through its handle since it was handed back (running it
    /// then does nothing). Always false for a task given to `execute`.
    pub fn is_cancelled(&self) -> bool {
        self.task.is_cancelled()
    }

    /// Runs the task here, with a fresh [`Context`]; its value or panic goes to its handle (a
    /// panic is also shown to the pool's panic handler, and never propagates). Returns whether
    /// it ran (false if it had been cancelled through its handle).
    pub fn run(self) -> bool {
        self.run_with(&Context::new())
    }

    /// Like [`run`](PendingTask::run), with your context.
    pub fn run_with(self, ctx: &Context) -> bool {
        self.task.run(&Ending::caller(self.panic_handler), ctx)
    }
}

impl fmt::Debug for PendingTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingTask")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}
