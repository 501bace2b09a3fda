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
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let busy = pool.submit(move |ctx| { started_tx.send(()).unwrap(); ctx.wait(); }).unwrap();
    /// started.recv().unwrap();
    /// let _named = pool.submit_named("send invoice 42", |_| ()).unwrap();
    /// let _anonymous = pool.submit(|_| ()).unwrap();
    /// let pending = pool.shutdown_now();
    /// let names: Vec<_> = pending.iter().map(|t| t.name()).collect();
    /// assert_eq!(names, [Some("send invoice 42"), None]);
    /// busy.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.task.info().name()
    }

    /// Whether the task was cancelled through its handle since it was handed back (running it
    /// then does nothing). Always false for a task given to `execute`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let busy = pool.submit(move |ctx| { started_tx.send(()).unwrap(); ctx.wait(); }).unwrap();
    /// started.recv().unwrap();
    /// let queued = pool.submit(|_| ()).unwrap();
    /// let mut pending = pool.shutdown_now();
    /// let task = pending.pop().unwrap();
    /// assert!(!task.is_cancelled());
    /// queued.cancel(); // through its handle, after it was handed back
    /// assert!(task.is_cancelled());
    /// assert!(!task.run()); // so running it does nothing
    /// busy.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.task.is_cancelled()
    }

    /// Runs the task here, with a fresh [`Context`]; its value or panic goes to its handle (a
    /// panic is also shown to the pool's panic handler, and never propagates). Returns whether
    /// it ran (false if it had been cancelled through its handle).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let busy = pool.submit(move |ctx| { started_tx.send(()).unwrap(); ctx.wait(); }).unwrap();
    /// started.recv().unwrap();
    /// let flush = pool.submit(|_| "flushed").unwrap();
    /// for task in pool.shutdown_now() {
    ///     assert!(task.run()); // on this thread
    /// }
    /// assert_eq!(flush.join().unwrap(), "flushed"); // its value went to its handle
    /// busy.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn run(self) -> bool {
        self.run_with(&Context::new())
    }

    /// Like [`run`](PendingTask::run), with your context.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let busy = pool.submit(move |ctx| { started_tx.send(()).unwrap(); ctx.wait(); }).unwrap();
    /// started.recv().unwrap();
    /// let check = pool.submit(|ctx| ctx.is_cancelled()).unwrap();
    /// let stopping = Context::new();
    /// stopping.cancel(); // the tasks should only clean up
    /// for task in pool.shutdown_now() {
    ///     assert!(task.run_with(&stopping));
    /// }
    /// assert!(check.join().unwrap()); // it saw the context it was given
    /// busy.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
