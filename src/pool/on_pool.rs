//! Groups on a shared pool: [`Pool::group`] starts an errgroup whose tasks run on this pool's
//! workers, with a limit of its own (pond's `NewGroup`, Kotlin's `limitedParallelism`): an
//! errgroup per request inside one global pool. [`Pool::invoke_all`] and [`Pool::invoke_any`]
//! (Java's) are thin uses of it.
//!
//! # Guarantees
//!
//! * **First failure cancels the siblings**: the group's context (a child of the caller's) is
//!   cancelled as the first task fails or panics; queued siblings never start, running ones
//!   see the cancel. [`PoolGroup::wait`] reports that first failure.
//! * **Nothing outlives the group**: `wait` returns after every task has ended; dropping the
//!   group without `wait` cancels it and waits too.
//! * **Counted by the pool**: its tasks are pool tasks, in the pool's metrics, under its
//!   `WhenFull` policy and hooks.
//!
//! The limit counts the group's tasks queued or running; `spawn` waits for a place (until the
//! group's context is cancelled).

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;

use super::Pool;
use super::error::SubmitError;
use super::handle::TaskHandle;
use crate::context::{Cancelled, Context};
use crate::group::Error;
use crate::panic::Panicked;
use crate::task::{JoinError, TaskInfo};

/// Starts a [`PoolGroup`]; made by [`Pool::group`].
#[must_use = "a group builder does nothing until start is called"]
#[derive(Debug)]
pub struct PoolGroupBuilder<'p> {
    pool: &'p Pool,
    limit: Option<usize>,
}

/// Which outcome ends the group early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wins {
    /// The first failure (errgroup).
    Failure,
    /// The first success (`invoke_any`).
    Success,
}

/// What the group's tasks share: the first task to end the group early.
struct Race {
    ctx: Context,
    wins: Wins,
    first: Mutex<Option<usize>>,
}

impl Race {
    fn ended(&self, index: usize, success: bool) {
        if success == (self.wins == Wins::Success) {
            let mut first = self.first.lock();
            if first.is_none() {
                *first = Some(index);
                drop(first);
                self.ctx.cancel_with(match self.wins {
                    Wins::Failure => "a task of the group failed",
                    Wins::Success => "a task of the group succeeded",
                });
            }
        }
    }
}

/// A task group on a pool's workers: spawn tasks that return `Result<T, E>`, then
/// [`wait`](PoolGroup::wait).
///
/// * **First failure cancels the siblings**: the group's context (a child of the caller's) is
///   cancelled as the first task fails or panics; queued siblings never start, running ones
///   see the cancel. `wait` reports that first failure.
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
pub struct PoolGroup<'p, T, E> {
    pool: &'p Pool,
    race: Arc<Race>,
    /// One token per task queued or running when there is a limit.
    places: Option<(Sender<()>, Receiver<()>)>,
    tasks: Vec<(TaskInfo, TaskHandle<Result<T, E>>)>,
    /// A task `invoke_*` could not submit.
    refused: Option<TaskInfo>,
}

impl Pool {
    /// A task group whose tasks run on this pool's workers; see [`PoolGroup`].
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
        for f in tasks {
            if g.spawn(f).is_err() {
                // Not accepted (pool closed or ctx cancelled): the group reports it below.
                g.refused(Location::caller());
                break;
            }
        }
        g.wait()
    }

    /// Runs the tasks on this pool as one group until the first success (Java's
    /// `invokeAny`): its value is returned and the others are cancelled; returns after every
    /// task has ended.
    ///
    /// # Errors
    ///
    /// When no task succeeded: every task's error, in spawn order (empty for no tasks).
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
        let mut g = self.group().start_racing(ctx, Wins::Success);
        for f in tasks {
            if g.spawn(f).is_err() {
                g.refused(Location::caller());
                break;
            }
        }
        let tasks = std::mem::take(&mut g.tasks);
        let ends: Vec<_> = tasks.into_iter().map(|(t, h)| (t, h.join())).collect();
        // Read once every task has ended: the first success, if any.
        let winner = *g.race.first.lock();
        let mut errors = Vec::new();
        let mut value = None;
        for (i, (task, end)) in ends.into_iter().enumerate() {
            match end {
                Ok(Ok(v)) if winner == Some(i) => value = Some(v),
                Ok(Ok(_)) => {}
                end => errors.push(to_error(task, end, &g.race.ctx)),
            }
        }
        value.ok_or(errors)
    }
}

impl<'p> PoolGroupBuilder<'p> {
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

    /// Starts the group under `ctx`: its context is a child of `ctx`.
    ///
    /// # Examples
    ///
    /// See [`PoolGroup`].
    pub fn start<T, E>(self, ctx: &Context) -> PoolGroup<'p, T, E> {
        self.start_racing(ctx, Wins::Failure)
    }

    fn start_racing<T, E>(self, ctx: &Context, wins: Wins) -> PoolGroup<'p, T, E> {
        PoolGroup {
            pool: self.pool,
            race: Arc::new(Race {
                ctx: ctx.child(),
                wins,
                first: Mutex::new(None),
            }),
            places: self.limit.map(bounded),
            tasks: Vec::new(),
            refused: None,
        }
    }
}

impl<'p, T, E> PoolGroup<'p, T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// The group's context: cancelled by the first failure, or by the caller's context.
    pub fn context(&self) -> &Context {
        &self.race.ctx
    }

    /// Submits a task to the pool as part of this group, waiting for a place under the
    /// group's limit and for room as the pool's `submit` does. Its context is a child of the
    /// group's.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Cancelled`] if the group's context is (or, while waiting, gets)
    /// cancelled, for instance because a task of the group has failed already; otherwise as
    /// for [`Pool::submit`]. The task comes back.
    ///
    /// # Examples
    ///
    /// See [`PoolGroup`].
    #[track_caller]
    pub fn spawn<F>(&mut self, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
    {
        let location = Location::caller();
        let ctx = &self.race.ctx;
        // A place under the limit: a token in a channel of `limit` slots, taken back as the
        // task ends (or its closure is dropped unrun).
        let place = match &self.places {
            None => None,
            Some((tx, rx)) => {
                if ctx.send(tx, ()).is_err() {
                    return Err(SubmitError::Cancelled(f));
                }
                Some(Place(rx.clone()))
            }
        };
        let index = self.tasks.len();
        let race = Arc::clone(&self.race);
        let cell = Arc::new(Mutex::new(Some(f)));
        let inner = Arc::clone(&cell);
        let task = move |ctx: &Context| {
            let _place = place;
            let f = inner.lock().take().expect("a task runs once");
            match Panicked::catch(|| f(ctx)) {
                Ok(result) => {
                    race.ended(index, result.is_ok());
                    result
                }
                Err(panic) => {
                    race.ended(index, false);
                    panic.resume()
                }
            }
        };
        match self.pool.task(task).context(ctx).submit() {
            Ok(handle) => {
                let info = TaskInfo::new(index, None, location);
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

    /// A task could not be submitted: the group stops, and `wait` reports it as not started.
    fn refused(&mut self, location: &'static Location<'static>) {
        self.race
            .ctx
            .cancel_with("a task of the group could not be submitted");
        self.refused = Some(TaskInfo::new(self.tasks.len(), None, location));
    }

    /// Waits for every task and returns their values in spawn order, or the first failure.
    ///
    /// # Errors
    ///
    /// The first task to fail or panic (in time, not in spawn order); else a task that never
    /// started (the caller's context was cancelled, or the pool shut down).
    ///
    /// # Examples
    ///
    /// See [`PoolGroup`].
    pub fn wait(mut self) -> Result<Vec<T>, Error<E>> {
        let tasks = std::mem::take(&mut self.tasks);
        let ends: Vec<_> = tasks.into_iter().map(|(t, h)| (t, h.join())).collect();
        let first = *self.race.first.lock();
        let mut values = Vec::with_capacity(ends.len());
        let mut failure = None;
        let mut not_started = None;
        for (i, (task, end)) in ends.into_iter().enumerate() {
            match end {
                Ok(Ok(v)) => values.push(v),
                end if first == Some(i) => failure = Some(to_error(task, end, &self.race.ctx)),
                end => {
                    if not_started.is_none() {
                        not_started = Some(to_error(task, end, &self.race.ctx));
                    }
                }
            }
        }
        let refused = self.refused.take().map(|task| Error::NotStarted {
            task,
            cause: cause_of(&self.race.ctx),
        });
        match failure.or(not_started).or(refused) {
            Some(e) => Err(e),
            None => Ok(values),
        }
    }
}

fn to_error<T, E>(task: TaskInfo, end: Result<Result<T, E>, JoinError>, ctx: &Context) -> Error<E> {
    match end {
        Ok(Err(error)) => Error::Failed { task, error },
        Err(JoinError::Panicked(panic)) => Error::Panicked { task, panic },
        Err(JoinError::NotStarted(cause)) => Error::NotStarted { task, cause },
        Ok(Ok(_)) | Err(_) => Error::NotStarted {
            task,
            cause: cause_of(ctx),
        },
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

impl<T, E> Drop for PoolGroup<'_, T, E> {
    /// Not waited for: cancel the group and wait for every task, so none outlives it.
    fn drop(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        self.race.ctx.cancel_with("the group was dropped");
        for (_, handle) in std::mem::take(&mut self.tasks) {
            let _ = crate::panic::drop_caught(handle.join());
        }
    }
}

impl<T, E> fmt::Debug for PoolGroup<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolGroup")
            .field("tasks", &self.tasks.len())
            .field("cancelled", &self.race.ctx.is_cancelled())
            .finish_non_exhaustive()
    }
}
