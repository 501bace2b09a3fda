//! Worker pools: [`Pool`], long-lived OS threads fed by a bounded queue, with task handles,
//! dynamic workers, metrics and Java's shutdown contract.
//!
//! **Use it** for a long-lived service that runs work as it arrives from many places (uploads,
//! thumbnails, request handlers): tasks are `'static`, a full queue pushes back on the
//! submitters, and shutdown is an explicit step with a report. **Use something else** for a
//! batch that borrows from the caller and ends as a whole (a [`group`](crate::group), which also
//! collects errors by policy), for CPU data parallelism over a collection (`rayon`'s `par_iter`
//! or [`fan::par_map`](crate::fan::par_map): work stealing, no queue), and batch tasks that are
//! shorter than the hand-off itself (a few hundred nanoseconds) into bigger ones.
//!
//! # Guarantees
//!
//! * **Nothing lost.** Every task handed to the pool runs exactly once or comes back to you: in
//!   the [`SubmitError`] (`Full`, `Closed`, `Timeout`, `Cancelled`), or from
//!   [`shutdown_now`](Pool::shutdown_now) as a [`PendingTask`]. A task dropped unrun resolves
//!   its handle as [`NotStarted`](crate::task::JoinError::NotStarted), so no `join` hangs.
//! * **No leak.** [`shutdown`](Pool::shutdown) and `Drop` drain the queue and join every worker;
//!   [`shutdown_timeout`](Pool::shutdown_timeout) names the stragglers and keeps their threads,
//!   which a later `shutdown` or `Drop` joins.
//! * **Panics are contained.** A panicking task, hook or panic handler never kills its worker;
//!   the panic goes to the handle (or, without one, to the handler and the metrics).
//! * **No free capacity refused.** A task is accepted whenever a worker is idle, the queue has
//!   room, or a worker may be started below `max_workers`, whatever the timing; only then does
//!   `submit` wait and `try_submit` report `Full`.
//! * **No self-deadlock.** Shutdown called from one of the pool's own tasks never joins its own
//!   thread; a worker submitting to its own full pool grows it if it may, and otherwise gets
//!   `Full` at once (run it inline); a worker waiting in `join` runs its pool's queued tasks.
//! * **Conserved metrics.** Every [`Metrics`] snapshot obeys `accepted = completed + panicked +
//!   cancelled_before_start + returned_by_shutdown_now + discarded + running + queued`.
//!
//! # Examples
//!
//! Stop at once: cancel what runs, take back what never started.
//!
//! ```
//! use std::time::Duration;
//! use homebound::{pool::Pool, task::JoinError, threads};
//!
//! let pool = Pool::builder().name("uploads").workers(1).build().unwrap();
//! let (started_tx, started) = crossbeam_channel::bounded(1);
//! let running = pool.submit(move |ctx| {
//!     started_tx.send(()).unwrap();
//!     ctx.wait(); // until shutdown_now cancels this task's context
//!     "stopped"
//! }).unwrap();
//! started.recv().unwrap();
//! let queued: Vec<_> = (0..3)
//!     .map(|i| pool.submit_named(&format!("upload-{i}"), move |_| i).unwrap())
//!     .collect();
//! let pending = pool.shutdown_now();
//! assert_eq!(pending.len(), 3);
//! for task in pending {
//!     if task.name() == Some("upload-0") {
//!         task.run(); // runs here, on this thread; the others are dropped unrun
//!     }
//! }
//! assert_eq!(running.join().unwrap(), "stopped");
//! let ends: Vec<_> = queued.into_iter().map(|h| h.join()).collect();
//! assert!(matches!(ends[0], Ok(0)));
//! assert!(ends[1..].iter().all(|e| matches!(e, Err(JoinError::NotStarted(_)))));
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! # Design
//!
//! * **One allocation per task**: closure, result slot and state live together, and the handle
//!   points at the same allocation. It stays under 128 bytes (the rare error is boxed), because
//!   glibc frees larger chunks slowly on a thread other than the one that allocated them.
//! * **One executor core** (the crate's private `exec`, shared with limited groups): the queue,
//!   the hand-off, the result slot and the worker loop. Every hand-off decision (an idle
//!   worker, a new worker, or full) is one compare-and-swap on a word that counts live, idle and
//!   claimed workers; a worker counts itself idle *before* it parks, so a task handed over right
//!   after `build` finds it. Extra workers retire after `keep_alive` without work: no scavenger
//!   thread.
//! * **Closing cannot strand a task.** A submit is counted in before it hands over and counted
//!   out after; closing first wakes blocked submitters (they get their task back), then waits
//!   until every submit counted before it has settled, and only then lets the workers drain the
//!   queue and leave. A worker that takes a task after `shutdown_now` hands it back instead.
//! * **Backpressure wakes by halves.** A blocked submitter is woken once the queue has drained
//!   to half, not once per freed slot.
//! * **Little per task**: a worker's counters are plain stores (it is their only writer), and
//!   a submit reads the clock the busy workers publish, not the system clock.
//! * **Metrics without a lock**: monotonic counters that each task passes through in one causal
//!   order, read in reverse order, so no derived value is ever negative.
//! * **Limits.** No work stealing beyond helping in `join`: a task that blocks on a channel for
//!   work queued behind it can still deadlock a saturated pool.

mod builder;
mod error;
mod getters;
mod handle;
mod histogram;
mod hooks;
mod join;
mod lifecycle;
mod metrics;
mod on_demand;
mod on_pool;
mod pending;
mod release;
mod resize;
mod shutdown;
mod task;
mod task_builder;
mod when_full;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::context::Context;
use crate::exec::job::{Job, Refused};
use crate::exec::queue::{Capacity as QueueCapacity, Queue, Refusal, Wait};
use crate::exec::worker::new_id;
use crate::sync::WaitGroup;

pub use self::builder::{
    Builder, DEFAULT_QUEUE_PER_WORKER, MAX_QUEUE_CAPACITY, MAX_WORKERS, MIN_STACK_SIZE,
};
pub use self::error::{BuildError, IdleError, JoinTimeoutError, SubmitError};
pub use self::handle::TaskHandle;
pub use self::histogram::{HISTOGRAM_BUCKETS, Histogram};
pub use self::hooks::{TaskEvent, TaskOutcome};
pub use self::join::{Join, JoinCtxError};
pub use self::metrics::Metrics;
pub use self::on_pool::{PoolGroup, PoolGroupBuilder};
pub use self::pending::PendingTask;
pub use self::shutdown::{ShutdownReport, Straggler};
pub use self::task_builder::TaskBuilder;
pub use self::when_full::WhenFull;

use self::builder::Capacity;
use self::metrics::{CLOSED, Counters, bump};
use self::task::{Detached, PoolJob, PoolTask, TaskSlot};
use self::worker::{Begin, Config, Shared, Threads};

/// The queue's high-water mark is sampled on every this many submits (and whenever the queue
/// is found full).
const QUEUE_LEN_SAMPLE: u64 = 8;

/// A pool of worker threads fed by a bounded queue.
///
/// * **Submitting.** A task is accepted at once whenever a worker is idle, the queue has room,
///   or one more worker may be started (up to `max_workers`), whatever the timing; only when
///   every permitted worker is busy and the queue is full does [`submit`](Pool::submit) block
///   (backpressure) and [`try_submit`](Pool::try_submit) report `Full`.
///   [`submit_timeout`](Pool::submit_timeout) and [`submit_ctx`](Pool::submit_ctx) bound the
///   wait. Whatever is not accepted comes back in the [`SubmitError`]: nothing is lost. Each task
///   gets a [`Context`], a child of the pool's root.
/// * **Handles.** Each accepted task has a [`TaskHandle`] to join (value, panic or
///   `Cancelled`), cancel, or drop to detach.
/// * **Workers.** `workers` threads run from `build` until shutdown; when a task arrives and none
///   is idle, one more starts with it, up to `max_workers`; extras retire after `keep_alive`
///   idle. A panicking task is caught: its worker keeps serving and the panic goes to the handle.
/// * **Nested use never deadlocks silently.** A task may submit to its own pool and join the
///   handle: a worker waiting in `join` runs its pool's queued tasks meanwhile (see
///   [`TaskHandle::join`]), and a submit from one of the pool's own workers never blocks on the
///   pool's full queue (see [`submit`](Pool::submit)).
/// * **Shutdown.** [`shutdown`](Pool::shutdown) runs everything queued and joins every worker;
///   [`shutdown_timeout`](Pool::shutdown_timeout) gives up waiting after a while and names the
///   stragglers; [`shutdown_now`](Pool::shutdown_now) cancels the running tasks' contexts and
///   hands back every task that had not started. **Dropping a pool is a graceful
///   `shutdown()`**: it blocks until the queue is drained and every worker has exited.
/// * **Called from its own task**, shutdown (or drop) never waits for the thread it runs on:
///   the pool is closed and the call returns; the workers finish the queue and exit on their own.
/// * **Metrics.** [`metrics`](Pool::metrics) returns a [`Metrics`] snapshot that obeys a
///   conservation identity at every instant.
///
/// No pool lock is held while user code runs or is dropped, so a task (or a task's `Drop`) may
/// call back into the pool at any time, shutdown included.
///
/// # Examples
///
/// ```
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder().name("squares").workers(2).queue_capacity(16).build().unwrap();
/// let handles: Vec<_> = (1..=8u64).map(|i| pool.submit(move |_ctx| i * i).unwrap()).collect();
/// let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 204);
/// let report = pool.shutdown();
/// assert!(report.is_complete());
/// assert_eq!(report.metrics().completed, 8);
/// homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub struct Pool {
    shared: Arc<Shared>,
}

/// How long to wait for room: not at all.
const NO_WAIT: Wait<'static> = Wait::No;
/// How long to wait for room: until there is some (or the pool closes).
const UNTIL_ROOM: Wait<'static> = Wait::Until {
    deadline: None,
    ctx: None,
};

impl Refusal {
    fn with<F>(self, f: F) -> SubmitError<F> {
        match self {
            // A worker of this pool never waits for its own queue; with no worker at all the
            // task has nowhere to go either.
            Refusal::Full | Refusal::OwnWorker | Refusal::NoWorker(_) => SubmitError::Full(f),
            Refusal::Closed => SubmitError::Closed(f),
            Refusal::Timeout => SubmitError::Timeout(f),
            Refusal::Cancelled => SubmitError::Cancelled(f),
        }
    }
}

impl Pool {
    /// A builder; see [`Builder`] for the settings and their defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().name("render").workers(2).build().unwrap();
    /// assert_eq!(pool.name(), "render");
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A pool with `workers` threads and the default settings otherwise.
    ///
    /// # Errors
    ///
    /// As for [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// assert_eq!(pool.submit(|_| 1 + 1).unwrap().join().unwrap(), 2);
    /// assert!(Pool::new(0).is_err());
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn new(workers: usize) -> Result<Pool, BuildError> {
        Pool::builder().workers(workers).build()
    }

    #[track_caller] // the pool's owner-tree node records the user's `build` call
    pub(crate) fn start(b: Builder, workers: usize, max: usize) -> Result<Pool, BuildError> {
        let capacity = match b.capacity {
            Capacity::Default => QueueCapacity::Bounded(workers.max(1) * DEFAULT_QUEUE_PER_WORKER),
            Capacity::Bounded(c) => QueueCapacity::Bounded(c),
            Capacity::Unbounded => QueueCapacity::Unbounded,
        };
        let observe = hooks::Observe::of(&b);
        let keep_alive = Instant::now()
            .checked_add(b.keep_alive)
            .map(|_| b.keep_alive);
        let shared = Arc::new(Shared {
            owner: crate::threads::Owner::new("pool", &b.name),
            name: b.name,
            queue: match b.prestart {
                true => Queue::new(new_id(), capacity, workers, max),
                false => Queue::new(new_id(), capacity, workers, max).growing(),
            },
            root: Context::new(),
            cfg: Config {
                keep_alive,
                stack_size: b.stack_size,
                on_start: b.on_start,
                on_exit: b.on_exit,
                panic_handler: b.panic_handler,
                fail_spawns_after: b.fail_spawns_after,
                prestart: b.prestart,
                capacity: match capacity {
                    QueueCapacity::Bounded(c) => Some(c),
                    QueueCapacity::Unbounded => None,
                },
                observe,
                full: when_full::FullPolicy::new(b.when_full, b.max_blocked, b.on_discard),
            },
            counters: Counters::default(),
            threads: Mutex::new(Threads {
                workers: Vec::with_capacity(max.min(64)),
                closing: false,
            }),
            exits: WaitGroup::new(),
            returned: Mutex::new(Vec::new()),
            stats: Mutex::new(Vec::new()),
            epoch: Instant::now(),
            clock: CachePadded::new(AtomicU64::new(worker::STALE)),
            origin: crate::threads::current_origin(),
            life: lifecycle::Life::default(),
        });
        let prestart = b.prestart;
        let pool = Pool { shared };
        for _ in 0..if prestart { workers } else { 0 } {
            // The first workers count as idle before their threads run: a hand-off right after
            // `build` finds them.
            let crew = &pool.shared.queue.crew;
            let reserved = crew.start_parked();
            debug_assert!(reserved, "workers ≤ max_workers");
            if let Err((e, _)) = pool.shared.spawn_worker(Begin::Parked) {
                crew.start_failed(true);
                pool.shutdown();
                return Err(BuildError::spawn(e));
            }
        }
        Ok(pool)
    }

    /// Hands `f` to an idle worker, the queue, or a newly started worker (up to
    /// `max_workers`), waiting while every permitted worker is busy and the queue is full, and
    /// returns its handle.
    ///
    /// Called from one of this pool's own workers (a task submitting to its own pool), `submit`
    /// first starts one more worker if the pool may grow; if it may not, it never blocks on the
    /// full queue (all workers could be waiting on each other): it returns `Full(f)` at once, and
    /// you may run `f` inline. Joining the handle from the submitting task is safe: see
    /// [`TaskHandle::join`].
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] if the pool is (or, while waiting, gets) shut down;
    /// [`SubmitError::Full`] only as above. The task comes back.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let handle = pool
    ///     .submit(|ctx| {
    ///         // Long tasks check their context: `shutdown_now` or `cancel` stop them.
    ///         if ctx.is_cancelled() { None } else { Some("thumbnail.png") }
    ///     })
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap(), Some("thumbnail.png"));
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(f, None, UNTIL_ROOM)
    }

    /// Like [`submit`](Pool::submit), naming the task: the name appears in straggler reports
    /// and on its [`PendingTask`].
    ///
    /// # Errors
    ///
    /// As for [`submit`](Pool::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let import = pool
    ///     .submit_named("import users.csv", move |_| { started_tx.send(()).unwrap(); let _ = gate.recv(); })
    ///     .unwrap();
    /// started.recv().unwrap();
    /// let report = pool.shutdown_timeout(Duration::from_millis(10));
    /// assert_eq!(report.stragglers()[0].task.as_deref(), Some("import users.csv"));
    /// drop(release);
    /// import.join().unwrap();
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn submit_named<F, T>(&self, name: &str, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(f, Some(name.into()), UNTIL_ROOM)
    }

    /// Hands `f` over only if that needs no waiting: it is accepted whenever a worker is idle
    /// (parked, or about to park), the queue has room, or one more worker may be started below
    /// `max_workers` (Java's `SynchronousQueue` pool and Go's `TryGo` behave the same way).
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] when every permitted worker is busy and the queue (if any) is
    /// full, or [`SubmitError::Closed`]; the task comes back.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// // No queue at all: a task needs a worker of its own, and the pool may grow to two.
    /// let pool = Pool::builder().workers(1).max_workers(2).queue_capacity(0).build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let gate2 = gate.clone();
    /// let first = pool.try_submit(move |_| { let _ = gate.recv(); }).unwrap(); // the idle worker
    /// let second = pool.try_submit(move |_| { let _ = gate2.recv(); }).unwrap(); // a new worker
    /// assert!(pool.try_submit(|_| ()).unwrap_err().is_full()); // both busy, no queue
    /// drop(release);
    /// first.join().unwrap();
    /// second.join().unwrap();
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(f, None, NO_WAIT)
    }

    /// Like [`submit`](Pool::submit), waiting at most `timeout` for room. A timeout too large
    /// for `Instant` waits without a limit.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Timeout`], [`SubmitError::Closed`] (or `Full` on the pool's own worker).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let task = pool.submit_timeout(|_| "queued in time", Duration::from_millis(100)).unwrap();
    /// assert_eq!(task.join().unwrap(), "queued in time");
    /// pool.shutdown();
    /// let err = pool.submit_timeout(|_| "too late", Duration::from_millis(100)).unwrap_err();
    /// assert!(err.is_closed());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn submit_timeout<F, T>(
        &self,
        f: F,
        timeout: Duration,
    ) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        let deadline = crate::clock::after(timeout);
        self.enqueue(
            f,
            None,
            Wait::Until {
                deadline,
                ctx: None,
            },
        )
    }

    /// Like [`submit`](Pool::submit), giving up when `ctx` is cancelled (or its deadline
    /// passes) while waiting for room.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Cancelled`] (also when `ctx` was already cancelled),
    /// [`SubmitError::Closed`] (or `Full` on the pool's own worker).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let request = Context::new();
    /// let task = pool.submit_ctx(&request, |_| "queued").unwrap();
    /// assert_eq!(task.join().unwrap(), "queued");
    /// request.cancel(); // e.g. the client went away
    /// assert!(pool.submit_ctx(&request, |_| "dropped").unwrap_err().is_cancelled());
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn submit_ctx<F, T>(&self, ctx: &Context, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        let wait = Wait::Until {
            deadline: None,
            ctx: Some(ctx),
        };
        self.enqueue(f, None, wait)
    }

    /// Queues `f` with no handle, waiting while the queue is full: Java's `execute` next to
    /// `submit`. The cheapest way to run fire-and-forget work: no result slot, no lock, one
    /// allocation. A panic is counted and shown to the panic handler; the worker carries on.
    /// `shutdown_now` hands it back like any other queued task.
    ///
    /// # Errors
    ///
    /// As for [`submit`](Pool::submit): `Closed` (or `Full` on the pool's own worker), with
    /// the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let total = Arc::new(AtomicU64::new(0));
    /// for i in 1..=100 {
    ///     let total = total.clone();
    ///     pool.execute(move |_| { total.fetch_add(i, Ordering::Relaxed); }).unwrap();
    /// }
    /// pool.shutdown(); // runs everything queued
    /// assert_eq!(total.load(Ordering::Relaxed), 5050);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn execute<F>(&self, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) + Send + 'static,
    {
        self.execute_with(f, UNTIL_ROOM)
    }

    /// Like [`execute`](Pool::execute), only if that needs no waiting (the rule of
    /// [`try_submit`](Pool::try_submit)).
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], with the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).queue_capacity(0).build().unwrap();
    /// let ran = Arc::new(AtomicU32::new(0));
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// pool.try_execute(move |_| { let _ = gate.recv(); }).unwrap(); // takes the idle worker
    /// let r = Arc::clone(&ran);
    /// let err = pool.try_execute(move |_| { r.fetch_add(1, Ordering::SeqCst); }).unwrap_err();
    /// assert!(err.is_full()); // no idle worker, no queue
    /// drop(release);
    /// pool.shutdown();
    /// assert_eq!(ran.load(Ordering::SeqCst), 0); // the refused task never ran
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_execute<F>(&self, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) + Send + 'static,
    {
        self.execute_with(f, NO_WAIT)
    }

    #[inline(always)]
    fn execute_with<F>(&self, f: F, wait: Wait<'_>) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) + Send + 'static,
    {
        // Counted in before the task is built (see `count_in`).
        let before = self.count_in();
        let info = PoolTask::new(None, self.shared.stamp());
        let task = Detached::new(f, info);
        match self.offer_counted(Job::owned(Box::new(task)), wait, before) {
            Ok(()) => Ok(()),
            Err((job, why)) => self.execute_refused(job, why, wait),
        }
    }

    /// An executed task the queue did not take: the caller runs it (`WhenFull::CallerRuns`),
    /// or its closure comes back in the error.
    #[cold]
    #[inline(never)]
    fn execute_refused<F>(
        &self,
        job: PoolJob,
        why: Refusal,
        wait: Wait<'_>,
    ) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) + Send + 'static,
    {
        let job = match self.caller_runs(job, &why, &wait) {
            Ok(()) => return Ok(()),
            Err(job) => job,
        };
        let Refused::Owned(task) = job.refused() else {
            unreachable!("execute queues owned tasks only")
        };
        let task = task
            .into_any()
            .downcast::<Detached<F>>()
            .expect("the refused task is the one just offered");
        Err(why.with(task.into_closure()))
    }

    /// A snapshot of the pool's counters; see [`Metrics`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let handles: Vec<_> = (0..5u32).map(|i| pool.submit(move |_| i).unwrap()).collect();
    /// handles.into_iter().for_each(|h| { h.join().unwrap(); });
    /// let m = pool.metrics();
    /// assert_eq!(m.accepted, 5);
    /// assert_eq!(m.workers_live, 2);
    /// pool.shutdown();
    /// assert_eq!(pool.metrics().completed, 5);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Whether the pool has stopped accepting tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// assert!(!pool.is_closed());
    /// pool.shutdown();
    /// assert!(pool.is_closed());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.queue.is_closing()
    }

    /// The pool's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().name("uploads").workers(1).build().unwrap();
    /// assert_eq!(pool.name(), "uploads");
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    fn enqueue<F, T>(
        &self,
        f: F,
        name: Option<Box<str>>,
        wait: Wait<'_>,
    ) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.place(PoolTask::new(name, self.shared.stamp()), f, wait)
    }

    /// Offers the task `f`, described by `info`, waiting as `wait` allows; a refused task's
    /// closure comes back in the error (the one submit path every form of submit ends in).
    pub(super) fn place<F, T>(
        &self,
        info: PoolTask,
        f: F,
        wait: Wait<'_>,
    ) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        // Counted in before the slot is built (see `count_in`).
        let before = self.count_in();
        let slot = Arc::new(TaskSlot::new(info, f));
        match self.offer_counted(Job::shared(slot.clone()), wait, before) {
            Ok(()) => {
                // Queued (or handed to a worker): from now on a cancel of the task's own
                // context releases its queue slot (see `release`).
                if let Some(opts) = slot.info().opts() {
                    opts.watch(&self.shared.queue);
                }
                Ok(TaskHandle::new(slot))
            }
            Err((job, why)) => self.refused(slot, job, why, &wait),
        }
    }

    /// The rest of [`place`](Pool::place) for a task the executor refused: the caller may run
    /// it, or its closure comes back. Out of line: the accepted submit stays short.
    #[cold]
    #[inline(never)]
    fn refused<F, T>(
        &self,
        slot: Arc<TaskSlot<F, T>>,
        job: PoolJob,
        why: Refusal,
        wait: &Wait<'_>,
    ) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        let job = match self.caller_runs(job, &why, wait) {
            Ok(()) => return Ok(TaskHandle::new(slot)),
            Err(job) => job,
        };
        // Never shown to a worker: take the job out without resolving it, then the closure
        // back out of the slot.
        drop(job.refused());
        let f = slot
            .take_back()
            .expect("a refused task still holds its closure");
        Err(why.with(f))
    }

    /// Counts a submit in, before anything else, so closing (which sets `CLOSED` here and
    /// waits for `settled` to catch up) never misses a hand-off in flight; returns the count
    /// before, with the `CLOSED` bit, for [`offer_counted`](Pool::offer_counted).
    ///
    /// Best called before the task is built: a locked add waits until the stores before it
    /// have reached the cache, and a task's fresh memory was last written by a worker (it
    /// freed it), so each of those stores misses the cache.
    #[inline(always)]
    fn count_in(&self) -> u64 {
        let submit = &self.shared.counters.submit;
        submit.submitted.fetch_add(1, Ordering::AcqRel)
    }

    /// Hands the task of a submit counted in as the `before`th (see
    /// [`count_in`](Pool::count_in)) to the executor core, which queues it, gives it to an idle
    /// worker or starts one (see `exec::queue`), waiting as `wait` allows.
    #[inline(always)]
    fn offer_counted(
        &self,
        job: PoolJob,
        wait: Wait<'_>,
        before: u64,
    ) -> Result<(), (PoolJob, Refusal)> {
        // The common case on its own, without the general path's set-up: open, no full policy,
        // no caller's context to check first, and a queue with room (see `Queue::try_queue`).
        if before & CLOSED == 0
            && self.shared.cfg.full.is_none()
            && !matches!(wait, Wait::Until { ctx: Some(_), .. })
        {
            return match self.shared.queue.try_queue(job) {
                Ok(()) => {
                    self.queued(before);
                    Ok(())
                }
                Err(job) => self.offer_slow(job, wait, before),
            };
        }
        self.offer_other(job, wait, before)
    }

    /// [`offer_counted`](Pool::offer_counted) off the common case: closed, a full policy, or a
    /// caller's context.
    #[cold]
    #[inline(never)]
    fn offer_other(
        &self,
        job: PoolJob,
        wait: Wait<'_>,
        before: u64,
    ) -> Result<(), (PoolJob, Refusal)> {
        if before & CLOSED != 0 {
            // Counted after closing: not one `close` waits for, so it does not settle.
            let c = &self.shared.counters;
            bump(&c.submit.rejected_closed);
            self.shared.life.idle.ring();
            return Err((job, Refusal::Closed));
        }
        self.offer_slow(job, wait, before)
    }

    /// A task the fast path queued: what `offer_slow` does after an accepted hand-off.
    #[inline]
    fn queued(&self, nth: u64) {
        if self.shared.queue.crew.min() == 0 {
            // No worker need stay: make sure one is alive for what was just queued.
            self.keep_one_worker();
        }
        let c = &self.shared.counters;
        if nth.is_multiple_of(QUEUE_LEN_SAMPLE) {
            c.saw_queue_len(self.shared.queue.len());
        }
        c.submit.settled.fetch_add(1, Ordering::Release);
    }

    /// The rest of [`offer_counted`](Pool::offer_counted) for a submit counted in as the
    /// `before`th.
    #[inline(never)]
    fn offer_slow(
        &self,
        job: PoolJob,
        wait: Wait<'_>,
        before: u64,
    ) -> Result<(), (PoolJob, Refusal)> {
        let c = &self.shared.counters;
        let offered = self.hand_over(job, wait);
        if offered.is_ok() && self.shared.queue.crew.min() == 0 {
            // No worker need stay: make sure one is alive for what was just queued.
            self.keep_one_worker();
        }
        let queue = &self.shared.queue;
        let nth = before;
        match &offered {
            // The queue's length lives on the workers' cache lines: sample it.
            Ok(()) if nth.is_multiple_of(QUEUE_LEN_SAMPLE) => c.saw_queue_len(queue.len()),
            Ok(()) => {}
            Err((_, why)) => {
                // A refused task was counted as queued while in flight.
                self.shared.life.idle.ring();
                if matches!(why, Refusal::Full | Refusal::OwnWorker) {
                    c.saw_queue_len(queue.len());
                }
                bump(match why {
                    Refusal::Full | Refusal::OwnWorker | Refusal::NoWorker(_) => {
                        &c.submit.rejected_full
                    }
                    Refusal::Closed => &c.submit.rejected_closed,
                    Refusal::Timeout => &c.submit.rejected_timeout,
                    Refusal::Cancelled => &c.submit.rejected_cancelled,
                })
            }
        }
        c.submit.settled.fetch_add(1, Ordering::Release);
        if let Some(policy) = &self.shared.cfg.full {
            self.after_full(policy);
        }
        offered
    }

    fn hand_over(&self, job: PoolJob, wait: Wait<'_>) -> Result<(), (PoolJob, Refusal)> {
        if let Wait::Until { ctx: Some(ctx), .. } = wait
            && ctx.is_cancelled()
        {
            return Err((job, Refusal::Cancelled));
        }
        if let Some(policy) = &self.shared.cfg.full {
            return self.hand_over_full(policy, job, wait);
        }
        self.hand_over_plain(job, wait)
    }

    fn hand_over_plain(&self, job: PoolJob, wait: Wait<'_>) -> Result<(), (PoolJob, Refusal)> {
        self.shared.queue.offer(job, wait, &mut |first| {
            self.shared
                .spawn_worker(Begin::With(first))
                .map_err(|(e, back)| (e, back.expect("a failed start hands its task back")))
        })
    }
}

impl Drop for Pool {
    /// A graceful [`shutdown`](Pool::shutdown): waits for the queue to drain and every worker
    /// to exit. From inside one of the pool's own tasks it only closes the pool (see the type's
    /// docs).
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name)
            .field("closed", &self.is_closed())
            .field("metrics", &self.metrics())
            .finish()
    }
}
