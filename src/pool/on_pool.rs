//! Groups on a shared pool: [`Pool::group`] starts a task group whose tasks run on this pool's
//! workers, with a limit and a policy of its own (pond's `NewGroup`, Kotlin's
//! `limitedParallelism`): an errgroup per request inside one global pool. [`Pool::invoke_all`]
//! and [`Pool::invoke_any`] (Java's) are thin uses of it.
//!
//! # Guarantees
//!
//! * **The group's policy**: the scoped [`Group`](crate::group::Group)'s own policy types
//!   ([`FailFast`] by default, [`FailFastCollect`](crate::group::FailFastCollect),
//!   [`CollectAll`](crate::group::CollectAll), [`RunAll`](crate::group::RunAll),
//!   [`FirstSuccess`](crate::group::FirstSuccess)) decide which failure cancels the group's
//!   context (a child of the caller's), with the cause its
//!   [`CauseRule`](crate::group::CauseRule) names, and what [`PoolGroup::wait`] returns. The
//!   ends are recorded by the scoped group's own bookkeeping, so both kinds of group report
//!   alike.
//! * **Prompt stop** (unless [`run_accepted(true)`](PoolGroupBuilder::run_accepted)): once the
//!   group is cancelled, its queued tasks never start (and give their queue slots back at once)
//!   and running ones see the cancel.
//! * **Nothing outlives the group**: `wait` returns after every task has ended; dropping the
//!   group without `wait` cancels it and waits too.
//! * **Counted by the pool**: its tasks are pool tasks, in the pool's metrics, under its
//!   `WhenFull` policy and hooks.
//!
//! The limit counts the group's tasks queued or running; `spawn` waits for a place (until the
//! group's context is cancelled, or regardless under `run_accepted(true)`).

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;

use super::Pool;
use super::error::SubmitError;
use super::handle::TaskHandle;
use crate::context::{Cancelled, Context};
use crate::group::shared::{Outcome, Setup, Shared};
use crate::group::{
    CauseRule, Error, ErrorCause, FailFast, Failures, FirstSuccess, Policy, TaskAsCause,
};
use crate::panic::Panicked;
use crate::task::{JoinError, TaskInfo};

/// Starts a [`PoolGroup`]; made by [`Pool::group`]. `P` is the group's policy, `C` its cause
/// rule, as for a scoped [`Group`](crate::group::Group).
#[must_use = "a group builder does nothing until start is called"]
#[derive(Debug)]
pub struct PoolGroupBuilder<'p, P: Policy = FailFast, C: CauseRule = TaskAsCause> {
    pool: &'p Pool,
    limit: Option<usize>,
    run_accepted: bool,
    policy: P,
    cause: C,
}

/// What a group task hands its pool handle: its value, or that its failure went to the
/// group's record.
enum Ended<T> {
    /// The value, and whether it was the group's first success.
    Value(T, bool),
    Failed,
}

/// A task group on a pool's workers: spawn tasks that return `Result<T, E>`, then
/// [`wait`](PoolGroup::wait).
///
/// * **The group's policy** (`P`, [`FailFast`] unless [`PoolGroupBuilder::policy`] says
///   otherwise) decides which failure cancels the group's context (a child of the caller's)
///   and what `wait` returns; `C` is the cause the context gets
///   ([`PoolGroupBuilder::cause`]). Queued siblings of a cancelled group never start (unless
///   [`run_accepted`](PoolGroupBuilder::run_accepted)); running ones see the cancel.
/// * **Nothing outlives the group**: `wait` returns after every task has ended; dropping the
///   group without `wait` cancels it and waits too.
/// * **Counted by the pool**: its tasks are pool tasks, in the pool's metrics, under its
///   `WhenFull` policy and hooks.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pool::Pool};
///
/// let pool = Pool::builder().name("global").workers(4).build().unwrap();
/// let request = Context::new();
/// let mut g = pool.group().limit(2).start(&request);
/// for part in 0..6u64 {
///     g.spawn(move |_ctx| Ok::<_, String>(part * 10)).unwrap();
/// }
/// assert_eq!(g.wait().unwrap(), [0, 10, 20, 30, 40, 50]);
/// # pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "dropping a PoolGroup cancels it and waits for its tasks; call wait for their results"]
pub struct PoolGroup<'p, T, E, P: Policy = FailFast, C: CauseRule = TaskAsCause> {
    pool: &'p Pool,
    /// The group's context and record: the scoped group's own.
    shared: Arc<Shared<E>>,
    run_accepted: bool,
    /// One token per task queued or running when there is a limit.
    places: Option<(Sender<()>, Receiver<()>)>,
    tasks: Vec<(TaskInfo, TaskHandle<Ended<T>>)>,
    /// A task `invoke_*` could not submit.
    refused: Option<TaskInfo>,
    _rules: PhantomData<(P, C)>,
}

impl Pool {
    /// A task group whose tasks run on this pool's workers, fail-fast unless
    /// [`policy`](PoolGroupBuilder::policy) says otherwise; see [`PoolGroup`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let mut g = pool.group().start(&Context::new());
    /// g.spawn(|ctx| { ctx.wait(); Ok(1) }).unwrap(); // cancelled by its sibling's failure
    /// g.spawn(|_| Err::<u8, _>("bad input")).unwrap();
    /// // (A spawn after the failure gets its task back as `SubmitError::Cancelled`.)
    /// let err = g.wait().unwrap_err();
    /// assert_eq!(err.into_error(), Some("bad input"));
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn group(&self) -> PoolGroupBuilder<'_> {
        PoolGroupBuilder {
            pool: self,
            limit: None,
            run_accepted: false,
            policy: FailFast,
            cause: TaskAsCause,
        }
    }

    /// Runs every task on this pool as one group and returns their values in order (Java's
    /// `invokeAll`, fail-fast): the first failure cancels the others and is returned, after
    /// every task has ended.
    ///
    /// # Errors
    ///
    /// The first task to fail ([`Error::Failed`]) or panic ([`Error::Panicked`]); a task that
    /// could not be submitted or never started ([`Error::NotStarted`], e.g. `ctx` was
    /// cancelled or the pool closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let tasks = (1..=4u32).map(|i| move |_: &Context| Ok::<_, String>(i * i));
    /// assert_eq!(pool.invoke_all(&Context::new(), tasks).unwrap(), [1, 4, 9, 16]);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn invoke_all<T, E, F, I>(&self, ctx: &Context, tasks: I) -> Result<Vec<T>, Error<E>>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let mut g = self.group().start(ctx);
        g.spawn_all(tasks, Location::caller());
        g.wait()
    }

    /// Runs the tasks on this pool as one [`FirstSuccess`] group (Java's `invokeAny`): the
    /// first success's value is returned and the others are cancelled; returns after every
    /// task has ended.
    ///
    /// # Errors
    ///
    /// When no task succeeded: every task's failure, in spawn order (empty for no tasks).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let mirrors = ["down", "up"].map(|m| move |_: &Context| if m == "up" { Ok(m) } else { Err(m) });
    /// assert_eq!(pool.invoke_any(&Context::new(), mirrors).unwrap(), "up");
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn invoke_any<T, E, F, I>(&self, ctx: &Context, tasks: I) -> Result<T, Vec<Error<E>>>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let mut g = self.group().policy(FirstSuccess).start(ctx);
        g.spawn_all(tasks, Location::caller());
        let (values, outcome) = g.collect();
        match values.into_iter().find_map(|(v, won)| won.then_some(v)) {
            Some(value) => Ok(value),
            None => Err(Failures::new(outcome.failures, outcome.cancelled_by).into_vec()),
        }
    }
}

impl<'p, P: Policy, C: CauseRule> PoolGroupBuilder<'p, P, C> {
    /// At most `n` of the group's tasks queued or running at once (at least 1); `spawn`
    /// waits for a place. Without it, the pool's own limits apply.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(4).build().unwrap();
    /// let mut g = pool.group().limit(1).start(&Context::new());
    /// for i in 0..3 { g.spawn(move |_| Ok::<_, ()>(i)).unwrap(); }
    /// assert_eq!(g.wait().unwrap(), [0, 1, 2]);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n.max(1));
        self
    }

    /// The group's error policy, as for a scoped group ([`Builder::policy`]):
    /// [`FailFast`] (the default), [`FailFastCollect`](crate::group::FailFastCollect),
    /// [`CollectAll`](crate::group::CollectAll), [`RunAll`](crate::group::RunAll) or
    /// [`FirstSuccess`]. It decides which failure cancels the group and the type of
    /// [`wait`](PoolGroup::wait)'s error.
    ///
    /// [`Builder::policy`]: crate::group::Builder::policy
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::RunAll, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let mut g = pool.group().policy(RunAll).start(&Context::new());
    /// g.spawn(|_| Err::<u32, _>("first")).unwrap();
    /// g.spawn(|ctx| { assert!(!ctx.is_cancelled()); Ok(2) }).unwrap(); // runs to its end
    /// g.spawn(|_| Err("third")).unwrap();
    /// let failures = g.wait().unwrap_err(); // every failure, in spawn order
    /// let errors: Vec<_> = failures.into_vec().into_iter().filter_map(|f| f.into_error()).collect();
    /// assert_eq!(errors, ["first", "third"]);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn policy<Q: Policy>(self, policy: Q) -> PoolGroupBuilder<'p, Q, C> {
        PoolGroupBuilder {
            pool: self.pool,
            limit: self.limit,
            run_accepted: self.run_accepted,
            policy,
            cause: self.cause,
        }
    }

    /// What the group's context gets as its cause when a task's error cancels it, as for a
    /// scoped group ([`Builder::cause`]): [`TaskAsCause`] (the default) or
    /// [`ErrorAsCause`](crate::group::ErrorAsCause) (a clone of the error itself).
    ///
    /// [`Builder::cause`]: crate::group::Builder::cause
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{fmt, error};
    /// use homebound::{Context, group::ErrorAsCause, pool::Pool};
    ///
    /// #[derive(Clone, Debug, PartialEq)]
    /// struct Refused(u16);
    /// impl fmt::Display for Refused {
    ///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "refused on {}", self.0) }
    /// }
    /// impl error::Error for Refused {}
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let mut g = pool.group().cause(ErrorAsCause).start(&Context::new());
    /// let seen = g.context().clone();
    /// g.spawn(|_| Err::<(), _>(Refused(8080))).unwrap();
    /// let cause = seen.wait();
    /// assert_eq!(cause.reason().unwrap().downcast_ref::<Refused>(), Some(&Refused(8080)));
    /// assert!(g.wait().is_err());
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn cause<D: CauseRule>(self, cause: D) -> PoolGroupBuilder<'p, P, D> {
        PoolGroupBuilder {
            pool: self.pool,
            limit: self.limit,
            run_accepted: self.run_accepted,
            policy: self.policy,
            cause,
        }
    }

    /// Whether a task the group accepted runs even once the group is cancelled (default
    /// `false`), as for a scoped group ([`Builder::run_accepted`]): with `true`, queued tasks
    /// and tasks spawned after the cancel start with the cancelled context (they should check
    /// it first), and `spawn` waits for a place under the limit even then.
    ///
    /// [`Builder::run_accepted`]: crate::group::Builder::run_accepted
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let released = Arc::new(AtomicUsize::new(0));
    /// let mut g = pool.group().limit(1).run_accepted(true).start(&Context::new());
    /// g.spawn(|_| Err::<(), _>("lease service down")).unwrap();
    /// for _ in 0..3 {
    ///     let released = Arc::clone(&released);
    ///     g.spawn(move |ctx| {
    ///         released.fetch_add(1, Ordering::SeqCst); // runs even when cancelled
    ///         ctx.check().map_err(|_| "cancelled")
    ///     })
    ///     .unwrap();
    /// }
    /// assert_eq!(g.wait().unwrap_err().into_error(), Some("lease service down"));
    /// assert_eq!(released.load(Ordering::SeqCst), 3);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn run_accepted(mut self, run: bool) -> Self {
        self.run_accepted = run;
        self
    }

    /// Starts the group under `ctx`: its context is a child of `ctx`.
    ///
    /// # Examples
    ///
    /// See [`PoolGroup`].
    pub fn start<T, E>(self, ctx: &Context) -> PoolGroup<'p, T, E, P, C>
    where
        C: ErrorCause<E>,
    {
        let setup = Setup {
            owner: "pool-group",
            stack_size: None,
            run_accepted: self.run_accepted,
            track_running: false,
        };
        PoolGroup {
            pool: self.pool,
            shared: Shared::new::<P, C>(ctx.child(), setup),
            run_accepted: self.run_accepted,
            places: self.limit.map(bounded),
            tasks: Vec::new(),
            refused: None,
            _rules: PhantomData,
        }
    }
}

impl<'p, T, E, P, C> PoolGroup<'p, T, E, P, C>
where
    T: Send + 'static,
    E: Send + 'static,
    P: Policy,
    C: CauseRule,
{
    /// The group's context: cancelled by a failure (as the policy says), or by the caller's
    /// context.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let request = Context::new();
    /// let g = pool.group().start::<(), ()>(&request);
    /// request.cancel();
    /// assert!(g.context().is_cancelled());
    /// g.wait().unwrap();
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn context(&self) -> &Context {
        &self.shared.ctx
    }

    /// Submits a task to the pool as part of this group, waiting for a place under the
    /// group's limit and for room as the pool's `submit` does. Its context is a child of the
    /// group's.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Cancelled`] if the group's context is (or, while waiting, gets)
    /// cancelled, for instance because a task of the group has failed already (not under
    /// [`run_accepted(true)`](PoolGroupBuilder::run_accepted)); otherwise as for
    /// [`Pool::submit`]. The task comes back.
    ///
    /// # Examples
    ///
    /// See [`PoolGroup`].
    #[track_caller]
    pub fn spawn<F>(&mut self, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
        C: ErrorCause<E>,
    {
        let location = Location::caller();
        let ctx = &self.shared.ctx;
        // A place under the limit: a token in a channel of `limit` slots, taken back as the
        // task ends (or its closure is dropped unrun).
        let place = match &self.places {
            None => None,
            Some((tx, rx)) => {
                let got = match self.run_accepted {
                    true => tx.send(()).is_ok(),
                    false => ctx.send(tx, ()).is_ok(),
                };
                if !got {
                    return Err(SubmitError::Cancelled(f));
                }
                Some(Place(rx.clone()))
            }
        };
        let info = TaskInfo::new(self.tasks.len(), None, location);
        let shared = Arc::clone(&self.shared);
        let task_info = info.clone();
        let cell = Arc::new(Mutex::new(Some(f)));
        let inner = Arc::clone(&cell);
        // The group records the end (its policy cancels the group) before the handle sees it.
        let task = move |ctx: &Context| {
            let _place = place;
            let f = inner.lock().take().expect("a task runs once");
            match Panicked::catch(|| f(ctx)) {
                Ok(Ok(value)) => {
                    let won = shared.succeed(&task_info);
                    Ended::Value(value, won)
                }
                Ok(Err(error)) => {
                    let task = task_info;
                    shared.fail(Error::Failed { task, error });
                    Ended::Failed
                }
                Err(panic) => {
                    // The group keeps the payload; the pool counts the panic.
                    let for_pool = panic.without_payload();
                    let task = task_info;
                    shared.fail(Error::Panicked { task, panic });
                    for_pool.resume()
                }
            }
        };
        let submit = self.pool.task(task).context(ctx);
        let submit = match self.run_accepted {
            true => submit.runs_cancelled(),
            false => submit,
        };
        match submit.submit() {
            Ok(handle) => {
                self.tasks.push((info, handle));
                Ok(())
            }
            Err(e) => {
                // The wrapper never ran: its closure is still in the cell.
                let take = |_| cell.lock().take().expect("refused before it ran");
                Err(match e {
                    SubmitError::Full(w) => SubmitError::Full(take(w)),
                    SubmitError::Closed(w) => SubmitError::Closed(take(w)),
                    SubmitError::Timeout(w) => SubmitError::Timeout(take(w)),
                    SubmitError::Cancelled(w) => SubmitError::Cancelled(take(w)),
                })
            }
        }
    }

    /// Spawns each task; the first that is not accepted stops the group (`invoke_*`).
    fn spawn_all<F, I>(&mut self, tasks: I, location: &'static Location<'static>)
    where
        I: IntoIterator<Item = F>,
        F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
        C: ErrorCause<E>,
    {
        for f in tasks {
            if self.spawn(f).is_err() {
                // Not accepted (pool closed or ctx cancelled): reported as not started.
                self.shared
                    .ctx
                    .cancel_with("a task of the group could not be submitted");
                self.refused = Some(TaskInfo::new(self.tasks.len(), None, location));
                break;
            }
        }
    }

    /// Waits for every task and returns their values in spawn order, or the policy's error
    /// (the first failure for [`FailFast`], every failure as [`Failures`] for the others).
    ///
    /// # Errors
    ///
    /// As the policy says; a task that never started (the group or the caller's context was
    /// cancelled, or the pool shut down) counts as a failure
    /// ([`Error::NotStarted`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::FailFastCollect, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let mut g = pool.group().policy(FailFastCollect).start(&Context::new());
    /// g.spawn(|ctx| Err::<(), _>(format!("gave up: {}", ctx.wait()))).unwrap();
    /// g.spawn(|_| Err("connection refused".to_string())).unwrap();
    /// let failures = g.wait().unwrap_err();
    /// assert_eq!(failures.len(), 2); // both errors, not only the first
    /// assert_eq!(failures.cancelled_by().unwrap().task().index(), 1);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn wait(mut self) -> Result<Vec<T>, P::Error<E>> {
        let (values, outcome) = self.collect();
        let values = values.into_iter().map(|(v, _)| v).collect();
        P::finish(outcome.failures, outcome.any_success, outcome.cancelled_by).map(|()| values)
    }

    /// Joins every task, records those that never started, and takes the group's record.
    fn collect(&mut self) -> (Vec<(T, bool)>, Outcome<E>) {
        let tasks = std::mem::take(&mut self.tasks);
        let mut values = Vec::with_capacity(tasks.len());
        for (task, handle) in tasks {
            match handle.join() {
                Ok(Ended::Value(value, won)) => values.push((value, won)),
                // Recorded by the task itself.
                Ok(Ended::Failed) | Err(JoinError::Panicked(_)) => {}
                Err(JoinError::NotStarted(cause)) => {
                    self.shared.fail(Error::NotStarted { task, cause });
                }
                Err(JoinError::Failed | JoinError::Spawn) => {
                    let cause = cause_of(&self.shared.ctx);
                    self.shared.fail(Error::NotStarted { task, cause });
                }
            }
        }
        if let Some(task) = self.refused.take() {
            let cause = cause_of(&self.shared.ctx);
            self.shared.fail(Error::NotStarted { task, cause });
        }
        self.shared.ctx.cancel_with("the group has ended");
        (values, self.shared.take())
    }
}

fn cause_of(ctx: &Context) -> Cancelled {
    ctx.check()
        .err()
        .unwrap_or_else(|| Cancelled::new(crate::Cause::Cancelled))
}

/// A place under a group's limit, given back when dropped (the task ended, or its closure was
/// dropped unrun).
struct Place(Receiver<()>);

impl Drop for Place {
    fn drop(&mut self) {
        let _ = self.0.try_recv();
    }
}

impl<T, E, P: Policy, C: CauseRule> Drop for PoolGroup<'_, T, E, P, C> {
    /// Not waited for: cancel the group and wait for every task, so none outlives it.
    fn drop(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        self.shared.ctx.cancel_with("the group was dropped");
        for (_, handle) in std::mem::take(&mut self.tasks) {
            let _ = crate::panic::drop_caught(handle.join());
        }
    }
}

impl<T, E, P: Policy, C: CauseRule> fmt::Debug for PoolGroup<'_, T, E, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolGroup")
            .field("tasks", &self.tasks.len())
            .field("cancelled", &self.shared.ctx.is_cancelled())
            .finish_non_exhaustive()
    }
}
