//! [`Group`] and its builder: configuration, `run` (scoped) and `run_timeout` (`'static`).

use std::panic::Location;
use std::thread;
use std::time::Duration;

use super::cause::{CauseRule, ErrorCause, TaskAsCause};
use super::error::{BuildError, Error};
use super::policy::{FailFast, Policy};
use super::scope::Scope;
use super::shared::{Setup, Shared};
use super::spawn::{Detached, Joinable};
use super::stragglers::Stragglers;
use crate::context::Context;
use crate::panic::Panicked;
use crate::task::TaskInfo;

/// The default queue capacity of a limited group (or the limit, if larger).
const DEFAULT_QUEUE: usize = 1024;

/// The spawner of the timeout form's `'static` threads.
static DETACHED: Detached = Detached;

/// A configured task group: policy, cause rule, optional limit, what happens to accepted tasks
/// once the group is cancelled, thread names. A `Group` is only
/// configuration; each [`run`](Group::run) is a fresh, one-shot scope, so a `Group` can be run
/// any number of times and its configuration cannot change once tasks exist.
///
/// # Examples
///
/// ```
/// use homebound::{Context, group::Group};
///
/// let inputs = vec![3, 1, 4, 1, 5, 9, 2, 6];
/// let group = Group::builder().limit(2).name("square").build().unwrap();
/// let handles = group
///     .run(&Context::new(), |g| {
///         inputs.iter().map(|&x| g.spawn(move |_ctx| Ok::<_, ()>(x * x))).collect::<Vec<_>>()
///     })
///     .unwrap();
/// let squares: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(squares, [9, 1, 16, 1, 25, 81, 4, 36]);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Group does nothing until run is called"]
pub struct Group<P: Policy = FailFast, C: CauseRule = TaskAsCause> {
    /// `(workers, queue capacity)` when limited.
    limit: Option<(usize, usize)>,
    name: String,
    stack_size: Option<usize>,
    resume_panics: bool,
    run_accepted: bool,
    _policy: P,
    _cause: C,
}

/// Builds a [`Group`]; see [`Group::builder`].
///
/// # Examples
///
/// ```
/// use homebound::{group::CollectAll, group::Group};
///
/// let group = Group::builder().policy(CollectAll).limit(4).queue(16).build().unwrap();
/// # let _ = group;
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Builder does nothing until build is called"]
pub struct Builder<P: Policy = FailFast, C: CauseRule = TaskAsCause> {
    limit: Option<usize>,
    queue: Option<usize>,
    name: String,
    stack_size: Option<usize>,
    resume_panics: bool,
    run_accepted: bool,
    policy: P,
    cause: C,
}

impl Group<FailFast> {
    /// An unlimited fail-fast group: what [`scope`](crate::scope) runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group};
    ///
    /// let answer = Group::new()
    ///     .run(&Context::new(), |g| {
    ///         let half = g.spawn(|_ctx| Ok::<_, ()>(21));
    ///         half.join().unwrap() * 2
    ///     })
    ///     .unwrap();
    /// assert_eq!(answer, 42);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn new() -> Self {
        Group {
            limit: None,
            name: "group".to_string(),
            stack_size: None,
            resume_panics: false,
            run_accepted: false,
            _policy: FailFast,
            _cause: TaskAsCause,
        }
    }

    /// A builder, starting from [`Group::new`]'s configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group};
    ///
    /// let group = Group::builder().limit(2).name("resize").build().unwrap();
    /// let sizes = group
    ///     .run(&Context::new(), |g| {
    ///         let handles: Vec<_> = (1..=4).map(|i| g.spawn(move |_ctx| Ok::<_, ()>(i * 100))).collect();
    ///         handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    ///     })
    ///     .unwrap();
    /// assert_eq!(sizes, [100, 200, 300, 400]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn builder() -> Builder<FailFast> {
        Builder {
            limit: None,
            queue: None,
            name: "group".to_string(),
            stack_size: None,
            resume_panics: false,
            run_accepted: false,
            policy: FailFast,
            cause: TaskAsCause,
        }
    }
}

impl Default for Group<FailFast> {
    fn default() -> Self {
        Group::new()
    }
}

impl<P: Policy, C: CauseRule> Builder<P, C> {
    /// At most `workers` tasks run at once, on at most `workers` threads that take tasks from a
    /// queue (not a thread per task). Must be at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use homebound::{Context, group::Group};
    ///
    /// let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
    /// Group::builder()
    ///     .limit(2)
    ///     .build()
    ///     .unwrap()
    ///     .run(&Context::new(), |g| {
    ///         for _ in 0..8 {
    ///             g.spawn(|_ctx| {
    ///                 peak.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
    ///                 running.fetch_sub(1, SeqCst);
    ///                 Ok::<_, ()>(())
    ///             });
    ///         }
    ///     })
    ///     .unwrap();
    /// assert!(peak.load(SeqCst) <= 2);
    /// assert!(Group::builder().limit(0).build().is_err()); // at least one worker
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn limit(mut self, workers: usize) -> Self {
        self.limit = Some(workers);
        self
    }

    /// How many tasks may wait in a limited group's queue before `spawn` blocks and
    /// `try_spawn` reports `Full` (default: the limit, but at least 1024). `queue(0)` hands
    /// each task straight to an idle worker or a newly started one, and makes `spawn` wait until
    /// a worker is free, as Go's `errgroup.SetLimit` does.
    ///
    /// The limit bounds the tasks that *run*; the queue only bounds memory. A deep default
    /// keeps the spawning thread from being woken once per task when the queue is full (each
    /// wake-up costs 10-50 µs of CPU that the workers need on a small machine).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group};
    ///
    /// // errgroup.SetLimit(4): `spawn` waits for a free worker instead of queueing.
    /// let group = Group::builder().limit(4).queue(0).build().unwrap();
    /// let total: u32 = group
    ///     .run(&Context::new(), |g| {
    ///         let handles: Vec<_> = (1..=10u32).map(|i| g.spawn(move |_ctx| Ok::<_, ()>(i))).collect();
    ///         handles.into_iter().map(|h| h.join().unwrap()).sum()
    ///     })
    ///     .unwrap();
    /// assert_eq!(total, 55);
    /// assert!(Group::builder().queue(8).build().is_err()); // a queue needs a limit
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn queue(mut self, capacity: usize) -> Self {
        self.queue = Some(capacity);
        self
    }

    /// The owner name of the group's threads (`homebound-<name>-<n>`; default `group`). Tasks
    /// spawned with a name on an unlimited group use their own name instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group};
    ///
    /// let group = Group::builder().name("thumbnail").build().unwrap();
    /// let thread = group
    ///     .run(&Context::new(), |g| {
    ///         g.spawn(|_ctx| Ok::<_, ()>(std::thread::current().name().map(str::to_owned)))
    ///     })
    ///     .unwrap()
    ///     .join()
    ///     .unwrap();
    /// assert!(thread.unwrap().starts_with("homebound-thumbnail"));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The stack size of the group's threads, in bytes. If the OS cannot create a thread this
    /// large, the tasks are reported as [`Error::Spawn`] (not a panic). A task that overflows
    /// its stack is not contained like a panic: a stack overflow aborts the whole process.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group};
    ///
    /// fn depth(n: u64) -> u64 { if n == 0 { 0 } else { 1 + depth(n - 1) } }
    ///
    /// let group = Group::builder().stack_size(8 << 20).build().unwrap(); // 8 MiB per thread
    /// let deep = group
    ///     .run(&Context::new(), |g| g.spawn(|_ctx| Ok::<_, ()>(depth(10_000))).join())
    ///     .unwrap();
    /// assert_eq!(deep.unwrap(), 10_000);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// With `true`, `run` re-raises the first task panic with `resume_unwind` after every task
    /// has ended (std's behaviour) instead of returning it as an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// use homebound::{Context, group::Group, task::panic_message};
    ///
    /// let group = Group::builder().resume_panics(true).build().unwrap();
    /// let payload = catch_unwind(AssertUnwindSafe(|| {
    ///     group.run(&Context::new(), |g| {
    ///         g.spawn(|_ctx| -> Result<(), ()> { panic!("corrupt input") });
    ///     })
    /// }))
    /// .unwrap_err(); // re-raised in the caller, as std::thread::scope does
    /// assert_eq!(panic_message(&*payload), "corrupt input");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn resume_panics(mut self, resume: bool) -> Self {
        self.resume_panics = resume;
        self
    }

    /// Whether a task accepted by the group runs even once the group is cancelled (default
    /// `false`).
    ///
    /// * `false` (the default): **prompt stop**. A task that has not started when the group is
    ///   cancelled (by a failure, its policy, or the caller's context) never starts: it is
    ///   reported as not started ([`Error::NotStarted`], its handle's
    ///   [`JoinError::NotStarted`](crate::task::JoinError::NotStarted)) and its closure is
    ///   dropped. A group with thousands of queued tasks ends as soon as the running ones
    ///   return; the price is that a task may never run, so work that must happen (releasing a
    ///   lease, acknowledging a message) cannot rely on its task running.
    /// * `true`: **every accepted task runs**, as Go's `g.Go(f)` always runs `f`: queued tasks,
    ///   and tasks spawned after the cancellation, start with an already cancelled context
    ///   (they should check it first), and with a limit, `spawn` waits for room even once the
    ///   group is cancelled. The group ends only after all of them ran.
    ///
    /// Either way nothing is lost: every accepted task either ran or is reported.
    /// [`Scope::try_spawn`] is not affected: it never accepts a task into a cancelled group,
    /// and hands the closure back instead. Tasks spawned after the group has *ended* (from a
    /// `'static` scope kept beyond [`run_timeout`](Group::run_timeout)) are never accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use homebound::{Context, group::Group};
    ///
    /// let released = AtomicUsize::new(0);
    /// let group = Group::builder().limit(1).run_accepted(true).build().unwrap();
    /// let err = group
    ///     .run(&Context::new(), |g| {
    ///         g.spawn(|_ctx| Err::<(), _>("lease service down"));
    ///         for _ in 0..3 {
    ///             let released = &released;
    ///             g.spawn(move |ctx| {
    ///                 released.fetch_add(1, Ordering::Relaxed); // runs even when cancelled
    ///                 ctx.check().map_err(|_| "cancelled")
    ///             });
    ///         }
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(released.into_inner(), 3);
    /// assert_eq!(err.into_error(), Some("lease service down"));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn run_accepted(mut self, run: bool) -> Self {
        self.run_accepted = run;
        self
    }

    /// The error policy: [`FailFast`] (default), [`CollectAll`](crate::group::CollectAll),
    /// [`FirstSuccess`](crate::group::FirstSuccess),
    /// [`FailFastCollect`](crate::group::FailFastCollect) or [`RunAll`](crate::group::RunAll).
    /// It decides the type of `run`'s error.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{CollectAll, Failures, Group}};
    ///
    /// let group = Group::builder().policy(CollectAll).build().unwrap();
    /// let result: Result<(), Failures<&str>> = group.run(&Context::new(), |g| {
    ///     g.spawn(|_ctx| Err::<(), _>("first"));
    ///     g.spawn(|_ctx| Err::<(), _>("second")); // not cancelled by the first failure
    /// });
    /// assert_eq!(result.unwrap_err().len(), 2);
    /// ```
    pub fn policy<Q: Policy>(self, policy: Q) -> Builder<Q, C> {
        Builder {
            limit: self.limit,
            queue: self.queue,
            name: self.name,
            stack_size: self.stack_size,
            resume_panics: self.resume_panics,
            run_accepted: self.run_accepted,
            policy,
            cause: self.cause,
        }
    }

    /// What the group's context gets as its [`Cause`](crate::Cause) when a task's error
    /// cancels it: [`TaskAsCause`] (the default, a [`TaskFailed`](crate::group::TaskFailed)
    /// naming the task, for any error type) or [`ErrorAsCause`](crate::group::ErrorAsCause) (a
    /// clone of the error itself, downcastable, as after Go's errgroup; `run` then needs
    /// `E: Error + Clone + Send + Sync + 'static`). A panic is always recorded as its
    /// [`Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use std::sync::Arc;
    /// use homebound::{Context, group::{ErrorAsCause, Group}};
    ///
    /// // io::Error is not Clone: share it.
    /// let group = Group::builder().cause(ErrorAsCause).build().unwrap();
    /// let _ = group.run(&Context::new(), |g| {
    ///     let seen = g.context().clone();
    ///     g.spawn(|_ctx| Err::<(), _>(Arc::new(io::Error::other("disk gone"))));
    ///     let cause = seen.wait();
    ///     let err = cause.reason().unwrap().downcast_ref::<Arc<io::Error>>().unwrap();
    ///     assert_eq!(err.to_string(), "disk gone");
    /// });
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn cause<D: CauseRule>(self, cause: D) -> Builder<P, D> {
        Builder {
            limit: self.limit,
            queue: self.queue,
            name: self.name,
            stack_size: self.stack_size,
            resume_panics: self.resume_panics,
            run_accepted: self.run_accepted,
            policy: self.policy,
            cause,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for `limit(0)`, a `queue` without a `limit`, or an empty name.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::group::Group;
    ///
    /// assert!(Group::builder().limit(8).build().is_ok());
    /// let err = Group::builder().limit(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid group: limit(0): a limited group needs at least one worker");
    /// assert!(Group::builder().name("").build().is_err());
    /// ```
    pub fn build(self) -> Result<Group<P, C>, BuildError> {
        let limit = match (self.limit, self.queue) {
            (Some(0), _) => {
                return Err(BuildError::new(
                    "limit(0): a limited group needs at least one worker",
                ));
            }
            (None, Some(_)) => {
                return Err(BuildError::new(
                    "queue(..) without limit(..): an unlimited group has no queue",
                ));
            }
            (Some(workers), queue) => Some((workers, queue.unwrap_or(workers.max(DEFAULT_QUEUE)))),
            (None, None) => None,
        };
        if self.name.is_empty() {
            return Err(BuildError::new(
                "name(\"\"): threads need a non-empty owner name",
            ));
        }
        Ok(Group {
            limit,
            name: self.name,
            stack_size: self.stack_size,
            resume_panics: self.resume_panics,
            run_accepted: self.run_accepted,
            _policy: self.policy,
            _cause: self.cause,
        })
    }
}

impl<P: Policy, C: CauseRule> Group<P, C> {
    /// The limit set with [`Builder::limit`]: how many tasks may run at once (`None`:
    /// unlimited, a thread per task).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::group::Group;
    ///
    /// assert_eq!(Group::new().limit(), None);
    /// assert_eq!(Group::builder().limit(4).build().unwrap().limit(), Some(4));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.limit.map(|(workers, _)| workers)
    }

    /// Whether accepted tasks run even once the group is cancelled; see
    /// [`Builder::run_accepted`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::group::Group;
    ///
    /// assert!(!Group::new().runs_accepted());
    /// assert!(Group::builder().run_accepted(true).build().unwrap().runs_accepted());
    /// ```
    pub fn runs_accepted(&self) -> bool {
        self.run_accepted
    }

    /// Runs `f` with a [`Scope`] to spawn tasks that may borrow from the caller, waits for
    /// every task (nested spawns included) to end, joins every thread the group started, and
    /// returns `f`'s value or the policy's error.
    ///
    /// The group's context is a child of `ctx`: the group cancels it on failure and on a panic
    /// (per policy; the cause is the task's [`Panicked`], or per the group's
    /// [`cause`](Builder::cause) rule for an error), and when `run` returns; `ctx` itself is
    /// never cancelled by the group.
    ///
    /// A task that ignores cancellation keeps `run` waiting: scoped threads cannot be abandoned.
    /// Use [`run_timeout`](Group::run_timeout) to bound the wait and name the stragglers.
    ///
    /// # Errors
    ///
    /// The policy's error: [`Error`] for [`FailFast`], [`Failures`](crate::group::Failures) for
    /// the others.
    ///
    /// # Panics
    ///
    /// If `f` itself panics, the group is cancelled, every task is waited for, and the panic is
    /// resumed. With [`resume_panics(true)`](Builder::resume_panics), the first task panic
    /// is resumed the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group};
    ///
    /// let rows = [[1, 2], [3, 4], [5, 6]];
    /// let mut sums = [0; 3];
    /// Group::new()
    ///     .run(&Context::new(), |g| {
    ///         for (row, sum) in rows.iter().zip(sums.iter_mut()) {
    ///             // Tasks borrow from the caller: `run` waits for all of them.
    ///             g.spawn(move |_ctx| {
    ///                 *sum = row.iter().sum();
    ///                 Ok::<_, ()>(())
    ///             });
    ///         }
    ///     })
    ///     .unwrap();
    /// assert_eq!(sums, [3, 7, 11]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn run<'env, R, E, F>(&self, ctx: &Context, f: F) -> Result<R, P::Error<E>>
    where
        E: Send + 'env,
        C: ErrorCause<E>,
        F: for<'scope> FnOnce(&Scope<'scope, 'env, E>) -> R,
    {
        let shared = Shared::<E>::new::<P, C>(ctx.child(), self.setup(false));
        let body = thread::scope(|s: &thread::Scope<'_, 'env>| {
            let (joins, joined) = crossbeam_channel::unbounded();
            let g = Scope::new(shared.clone(), s, joins, self.limit);
            let body = run_body(&shared, || f(&g));
            drop(g);
            shared.life.close(); // waits for every task, nested spawns included
            join_all(&shared, joined.try_iter());
            body
        });
        self.finish(&shared, body)
    }

    /// Like [`run`](Group::run) for `'static` tasks, on registered non-scoped threads, waiting at
    /// most `timeout` (from when `f` returns) for the tasks to end.
    ///
    /// If every task ended in time, the group's result comes back as `Ok(result)`, with every
    /// thread joined. Otherwise the group is cancelled and `Err(Stragglers)` names the tasks
    /// still running; their threads keep running (nothing can stop a thread that ignores
    /// cancellation), stay listed by [`threads::live`](crate::threads::live), and are joined by
    /// [`Stragglers::join`]. The group's task failures are not reported after a timeout.
    ///
    /// # Panics
    ///
    /// As for [`run`](Group::run); after a timeout, a panic of `f` is resumed by
    /// [`Stragglers::join`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, group::Group};
    ///
    /// let (release, stuck) = bounded::<()>(0);
    /// let err = Group::new()
    ///     .run_timeout(&Context::new(), Duration::from_millis(50), |g| {
    ///         g.spawn_named("deaf", move |_ctx| { let _ = stuck.recv(); Ok::<_, ()>(()) });
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.tasks(), ["deaf"]);
    /// drop(release);
    /// err.join();
    /// homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    #[allow(clippy::type_complexity)]
    #[track_caller]
    pub fn run_timeout<R, E, F>(
        &self,
        ctx: &Context,
        timeout: Duration,
        f: F,
    ) -> Result<Result<R, P::Error<E>>, Stragglers>
    where
        E: Send + 'static,
        C: ErrorCause<E>,
        F: FnOnce(&Scope<'static, 'static, E>) -> R,
    {
        let shared = Shared::<E>::new::<P, C>(ctx.child(), self.setup(true));
        let (joins, joined) = crossbeam_channel::unbounded();
        let g = Scope::new(shared.clone(), &DETACHED, joins, self.limit);
        let body = run_body(&shared, || f(&g));
        drop(g);
        if !shared.life.wait_idle(crate::clock::after(timeout)) {
            shared
                .ctx
                .cancel_with(format!("the group did not end within {timeout:?}"));
            let mut threads = Vec::new();
            for thread in joined.try_iter() {
                if thread.is_finished() {
                    join_one(&shared, thread);
                } else {
                    threads.push(thread);
                }
            }
            return Err(Stragglers::new(
                shared.life.running(),
                threads,
                joined,
                shared.life.clone(),
                body.err(),
            ));
        }
        shared.life.close();
        join_all(&shared, joined.try_iter());
        Ok(self.finish(&shared, body))
    }

    fn setup(&self, track_running: bool) -> Setup<'_> {
        Setup {
            owner: &self.name,
            stack_size: self.stack_size,
            run_accepted: self.run_accepted,
            track_running,
        }
    }

    fn finish<R, E>(
        &self,
        shared: &Shared<E>,
        body: Result<R, Panicked>,
    ) -> Result<R, P::Error<E>> {
        shared.ctx.cancel_with("the group has ended");
        let value = match body {
            Ok(value) => value,
            Err(panic) => panic.resume(),
        };
        let mut outcome = shared.take();
        if self.resume_panics
            && let Some(panic) = outcome.take_panic()
        {
            panic.resume();
        }
        P::finish(outcome.failures, outcome.any_success, outcome.cancelled_by).map(|()| value)
    }
}

/// Runs the group's closure; a panic in it cancels the group so the tasks stop early.
fn run_body<E, R>(shared: &Shared<E>, f: impl FnOnce() -> R) -> Result<R, Panicked> {
    let body = Panicked::catch(f);
    if let Err(panic) = &body {
        shared.closure_panicked(panic);
    }
    body
}

fn join_all<'scope, E>(shared: &Shared<E>, threads: impl Iterator<Item = Joinable<'scope>>) {
    for thread in threads {
        join_one(shared, thread);
    }
}

/// Joins one group thread. Task panics are caught inside the thread, so a thread panic here
/// would be homebound's own; it is still reported rather than lost.
#[track_caller]
fn join_one<E>(shared: &Shared<E>, thread: Joinable<'_>) {
    let name = thread.name();
    if let Err(payload) = thread.join() {
        let task = TaskInfo::new(usize::MAX, Some(name), Location::caller());
        shared.fail(Error::Panicked {
            task,
            panic: Panicked::from_payload(payload),
        });
    }
}
