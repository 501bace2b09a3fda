//! One submit that carries options: [`Pool::task`] → [`TaskBuilder`] with a name, the caller's
//! context and a timeout, together.
//!
//! # The task's context
//!
//! Without options a task runs under its worker's context, a child of the pool's root. With a
//! caller's context (or a timeout) it runs under a context of its own, made as it is
//! submitted: a child of the caller's context, with the deadline. The worker's context is
//! linked to it as it starts, so [`TaskHandle::cancel`](super::TaskHandle::cancel) and
//! [`shutdown_now`](Pool::shutdown_now) still cancel it. A task whose caller's context is
//! cancelled, or whose deadline passes, while it waits in the queue never starts, and **gives
//! its queue slot back at once** (see `release`): a `try_submit` that found the queue full
//! succeeds right after, and a blocked `submit` is woken. Its handle resolves as `NotStarted`
//! (counted in `cancelled_before_start`) and its closure is dropped when a worker reaches its
//! place in the queue.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::Pool;
use super::error::SubmitError;
use super::handle::TaskHandle;
use super::release::Release;
use super::task::{PoolJob, PoolTask};
use crate::context::Context;
use crate::context::WakeGuard;
use crate::exec::queue::{Queue, Wait};

/// What a task submitted with options carries to the worker that runs it.
pub(crate) struct TaskOpts {
    /// The task's own context: a child of the caller's, with the deadline.
    ctx: Context,
    /// Whether it runs even when `ctx` is cancelled before it starts (a pool group's
    /// `run_accepted`); such a task is never released.
    runs_cancelled: bool,
    pub(crate) release: Arc<Release>,
    /// Keeps the release callback registered while the task waits.
    watch: OnceLock<WakeGuard>,
}

/// Why a task submitted with options did not start.
pub(crate) struct Skipped {
    /// Its slot was released while it was queued: its place goes to the task that took the
    /// slot, if one did.
    released: bool,
}

impl Skipped {
    /// The task to run in this one's place (see `release`).
    pub(crate) fn replacement(&self, queue: &Queue<PoolJob>) -> Option<PoolJob> {
        if self.released { queue.reclaim() } else { None }
    }
}

/// A task's own context while it runs, and its link to the worker's context.
pub(crate) struct TaskScope {
    ctx: Context,
    _link: Option<WakeGuard>,
}

impl TaskScope {
    pub(crate) fn ctx(&self) -> &Context {
        &self.ctx
    }
}

impl TaskOpts {
    fn new(parent: Option<&Context>, deadline: Option<Instant>, runs_cancelled: bool) -> Self {
        let ctx = match (parent, deadline) {
            (Some(parent), Some(at)) => parent.with_deadline(at),
            (Some(parent), None) => parent.child(),
            (None, Some(at)) => Context::new().with_deadline(at),
            (None, None) => Context::new(),
        };
        TaskOpts {
            ctx,
            runs_cancelled,
            release: Arc::new(Release::default()),
            watch: OnceLock::new(),
        }
    }

    /// Once the task is queued: its slot is released when its context is cancelled before a
    /// worker takes it.
    pub(super) fn watch(&self, queue: &Queue<PoolJob>) {
        if !self.runs_cancelled {
            let _ = self
                .watch
                .set(self.release.watch(&self.ctx, queue.releaser()));
        }
    }

    /// Takes the task off the queue and returns its context for this run, or why it must not
    /// start: it was released, or its context is cancelled (or its deadline has passed).
    pub(crate) fn enter(&self, worker_ctx: &Context) -> Result<TaskScope, Skipped> {
        if !self.release.claim() {
            return Err(Skipped { released: true });
        }
        let expired = self
            .ctx
            .deadline()
            .is_some_and(|at| crate::clock::now() >= at);
        if !self.runs_cancelled && (self.ctx.is_cancelled() || expired) {
            return Err(Skipped { released: false });
        }
        let own = self.ctx.clone();
        let link = worker_ctx.wake_on_cancel(move || {
            own.cancel();
        });
        Ok(TaskScope {
            ctx: self.ctx.clone(),
            _link: Some(link),
        })
    }
}

/// A task being given its options before it is submitted; made by [`Pool::task`].
///
/// Nothing is submitted until [`submit`](TaskBuilder::submit) or
/// [`try_submit`](TaskBuilder::try_submit).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, pool::Pool};
///
/// let pool = Pool::builder().name("server").workers(2).build().unwrap();
/// let request = Context::new();
/// let handle = pool
///     .task(|ctx| ctx.deadline().is_some())
///     .name("conn-17")
///     .context(&request)
///     .timeout(Duration::from_secs(30))
///     .submit()
///     .unwrap();
/// assert!(handle.join().unwrap());
/// # pool.shutdown();
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[must_use = "a TaskBuilder does nothing until submit is called"]
pub struct TaskBuilder<'p, 'c, F> {
    pool: &'p Pool,
    f: F,
    name: Option<Box<str>>,
    ctx: Option<&'c Context>,
    timeout: Option<Duration>,
    /// Runs even once `ctx` is cancelled, and submits without waiting on it (a pool group's
    /// `run_accepted`).
    runs_cancelled: bool,
}

impl Pool {
    /// Starts a submit that carries options: a name, the caller's context, a timeout; see
    /// [`TaskBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let h = pool.task(|_| 2 + 2).name("sum").submit().unwrap();
    /// assert_eq!(h.join().unwrap(), 4);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn task<F, T>(&self, f: F) -> TaskBuilder<'_, '_, F>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        TaskBuilder {
            pool: self,
            f,
            name: None,
            ctx: None,
            timeout: None,
            runs_cancelled: false,
        }
    }
}

impl<'p, 'c, F, T> TaskBuilder<'p, 'c, F>
where
    F: FnOnce(&Context) -> T + Send + 'static,
    T: Send + 'static,
{
    /// The task's name: in straggler reports, on its [`PendingTask`](super::PendingTask), and
    /// for the hooks.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// pool.task(|_| ()).name("upload-7").submit().unwrap().join().unwrap();
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The caller's context: the task's context becomes a child of it (cancelling it cancels
    /// the running task; a task still queued then never starts, and gives its queue slot back
    /// at once), and waiting for room stops when it is cancelled (`SubmitError::Cancelled`).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let request = Context::new();
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let h = pool
    ///     .task(move |ctx| { started_tx.send(()).unwrap(); ctx.wait(); "stopped" })
    ///     .context(&request)
    ///     .submit()
    ///     .unwrap();
    /// started.recv().unwrap();
    /// request.cancel(); // the request is gone: so is its work
    /// assert_eq!(h.join().unwrap(), "stopped");
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn context(mut self, ctx: &'c Context) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// A deadline `timeout` from now for the whole task: waiting for room ends there
    /// (`SubmitError::Timeout`), a task still queued then never starts (and gives its queue
    /// slot back), and a running task's
    /// context is cancelled with `DeadlineExceeded`. A timeout too large for `Instant` means
    /// none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let h = pool
    ///     .task(|ctx| { ctx.wait(); ctx.cause().unwrap().is_deadline_exceeded() })
    ///     .timeout(Duration::from_millis(5))
    ///     .submit()
    ///     .unwrap();
    /// assert!(h.join().unwrap());
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Submits the task, waiting for room as [`Pool::submit`] does (under the pool's
    /// [`WhenFull`](super::WhenFull) policy), until the caller's context is cancelled or the
    /// timeout passes.
    ///
    /// # Errors
    ///
    /// As for [`Pool::submit`], plus [`SubmitError::Cancelled`] (the caller's context was
    /// cancelled, also before the call) and [`SubmitError::Timeout`]. The task comes back.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let gone = Context::new();
    /// gone.cancel();
    /// let err = pool.task(|_| 1).context(&gone).submit().unwrap_err();
    /// assert!(err.is_cancelled());
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn submit(self) -> Result<TaskHandle<T>, SubmitError<F>> {
        self.send(true)
    }

    /// Submits the task only if that needs no waiting (the rule of [`Pool::try_submit`]).
    ///
    /// # Errors
    ///
    /// As for [`Pool::try_submit`], plus [`SubmitError::Cancelled`] when the caller's context
    /// is cancelled already.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let h = pool.task(|_| "ok").name("quick").try_submit().unwrap();
    /// assert_eq!(h.join().unwrap(), "ok");
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_submit(self) -> Result<TaskHandle<T>, SubmitError<F>> {
        self.send(false)
    }

    /// A task of a pool group that runs accepted tasks even once the group is cancelled: it
    /// starts with its cancelled context, and submitting it does not stop at the cancel.
    pub(crate) fn runs_cancelled(mut self) -> Self {
        self.runs_cancelled = true;
        self
    }

    fn send(self, may_wait: bool) -> Result<TaskHandle<T>, SubmitError<F>> {
        let TaskBuilder {
            pool,
            f,
            name,
            ctx,
            timeout,
            runs_cancelled,
        } = self;
        // A waiting submit finds a cancelled context in the pool's hand-off (and is counted
        // there, as `submit_ctx` is); a non-waiting one never reaches the pool.
        if !may_wait && !runs_cancelled && ctx.is_some_and(Context::is_cancelled) {
            return Err(SubmitError::Cancelled(f));
        }
        let deadline = timeout.and_then(crate::clock::after);
        let opts = (ctx.is_some() || deadline.is_some())
            .then(|| TaskOpts::new(ctx, deadline, runs_cancelled));
        let info = PoolTask::with_opts(name, opts, pool.shared.stamp());
        let wait = match (may_wait, runs_cancelled) {
            (true, false) => Wait::Until { deadline, ctx },
            (true, true) => Wait::Until {
                deadline,
                ctx: None,
            },
            (false, _) => Wait::No,
        };
        pool.place(info, f, wait)
    }
}

impl<F> fmt::Debug for TaskBuilder<'_, '_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.name)
            .field("context", &self.ctx)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
