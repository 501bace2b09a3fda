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
//! * **No self-deadlock.** Shutdown called from one of the pool's own tasks never joins its own
//!   thread, and a worker submitting to its own full queue gets `Full` at once (run it inline).
//! * **Conserved metrics.** Every [`Metrics`] snapshot obeys `accepted = completed + panicked +
//!   cancelled_before_start + returned_by_shutdown_now + running + queued`.
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
//! * **Closing cannot strand a task.** Submitters hand over under a read lock on the queue's
//!   sender; closing first wakes blocked submitters (they get their task back), then takes the
//!   write lock and drops the sender.
//! * **Workers park in a plain `recv`**, which spins before it sleeps, not in a `select!` on the
//!   root's `done()`: `shutdown_now` closes the queue right after cancelling the root, and that
//!   wakes `recv` too. A worker that takes a task after the cancel hands it back instead.
//! * **Growth by claims.** A submitter claims an idle worker or starts a new one (up to
//!   `max_workers`); counting idle workers alone misses a worker that was woken but has not yet
//!   taken its task. Extra workers retire through `recv_timeout(keep_alive)`: no scavenger thread.
//! * **Backpressure wakes by halves.** A blocked submitter is woken once the queue has drained
//!   to half, not once per freed slot.
//! * **Metrics without a lock**: monotonic counters that each task passes through in one causal
//!   order, read in reverse order, so no derived value is ever negative.
//! * **Limits.** No work stealing; pools whose tasks block on each other's results can deadlock
//!   (only the own-full-queue case is detected).

mod builder;
mod error;
mod handle;
mod metrics;
mod pending;
mod room;
mod shutdown;
mod task;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Select, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

use crate::context::Context;
use crate::sync::WaitGroup;

pub use self::builder::{
    Builder, DEFAULT_QUEUE_PER_WORKER, MAX_QUEUE_CAPACITY, MAX_WORKERS, MIN_STACK_SIZE,
};
pub use self::error::{BuildError, JoinTimeoutError, SubmitError};
pub use self::handle::TaskHandle;
pub use self::metrics::Metrics;
pub use self::pending::PendingTask;
pub use self::shutdown::{ShutdownReport, Straggler};

use self::builder::Capacity;
use self::metrics::{Counters, bump};
use self::task::{Detached, QueuedTask, Task};
use self::worker::{Config, Shared, Threads, on_worker_of};

/// The queue's high-water mark is sampled on every this many submits (and whenever the queue
/// is found full).
const QUEUE_LEN_SAMPLE: u64 = 8;

/// Source of pool ids (0 means "no pool" in the worker thread-local).
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// A pool of worker threads fed by a bounded queue.
///
/// * **Submitting.** [`submit`](Pool::submit) blocks while the queue is full (backpressure);
///   [`try_submit`](Pool::try_submit), [`submit_timeout`](Pool::submit_timeout) and
///   [`submit_ctx`](Pool::submit_ctx) bound the wait. Whatever is not accepted comes back in the
///   [`SubmitError`]: nothing is lost. Each task gets a [`Context`], a child of the pool's root.
/// * **Handles.** Each accepted task has a [`TaskHandle`] to join (value, panic or
///   `Cancelled`), cancel, or drop to detach.
/// * **Workers.** `workers` threads run from `build` until shutdown; when a task is queued and
///   none is idle, one more starts, up to `max_workers`; extras retire after `keep_alive` idle.
///   A panicking task is caught: its worker keeps serving and the panic goes to the handle.
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
    /// `None` once closed. Submitters hold the read lock while handing a task over, so closing
    /// (write lock) waits for hand-offs in flight and no task is accepted after it.
    tx: RwLock<Option<Sender<QueuedTask>>>,
}

/// How long a submit may wait for room.
#[derive(Clone, Copy)]
enum Wait<'a> {
    No,
    Until {
        deadline: Option<Instant>,
        ctx: Option<&'a Context>,
    },
}

/// Why a hand-off failed.
enum Refusal {
    Full,
    Closed,
    Timeout,
    Cancelled,
}

impl Refusal {
    fn with<F>(self, f: F) -> SubmitError<F> {
        match self {
            Refusal::Full => SubmitError::Full(f),
            Refusal::Closed => SubmitError::Closed(f),
            Refusal::Timeout => SubmitError::Timeout(f),
            Refusal::Cancelled => SubmitError::Cancelled(f),
        }
    }
}

impl Pool {
    /// A builder; see [`Builder`] for the settings and their defaults.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A pool with `workers` threads and the default settings otherwise.
    ///
    /// # Errors
    ///
    /// As for [`Builder::build`].
    pub fn new(workers: usize) -> Result<Pool, BuildError> {
        Pool::builder().workers(workers).build()
    }

    pub(crate) fn start(b: Builder, workers: usize, max: usize) -> Result<Pool, BuildError> {
        let (tx, rx) = match b.capacity {
            Capacity::Default => crossbeam_channel::bounded(workers * DEFAULT_QUEUE_PER_WORKER),
            Capacity::Bounded(c) => crossbeam_channel::bounded(c),
            Capacity::Unbounded => crossbeam_channel::unbounded(),
        };
        let keep_alive = Instant::now()
            .checked_add(b.keep_alive)
            .map(|_| b.keep_alive);
        let room = match rx.capacity() {
            Some(capacity) if capacity > 0 => Some(room::Room::new(capacity)),
            _ => None,
        };
        let shared = Arc::new(Shared {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            name: b.name,
            rx,
            root: Context::new(),
            closed: Context::new(),
            room,
            cfg: Config {
                min: workers,
                max,
                keep_alive,
                stack_size: b.stack_size,
                on_start: b.on_start,
                on_exit: b.on_exit,
                panic_handler: b.panic_handler,
                fail_spawns_after: b.fail_spawns_after,
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
        });
        let pool = Pool {
            shared,
            tx: RwLock::new(Some(tx)),
        };
        for _ in 0..workers {
            if let Err(e) = pool.shared.try_grow() {
                pool.shutdown();
                return Err(BuildError::spawn(e));
            }
        }
        Ok(pool)
    }

    /// Queues `f`, waiting while the queue is full, and returns its handle.
    ///
    /// Called from one of this pool's own workers, `submit` never blocks on a full queue (all
    /// workers could be waiting on each other): it returns `Full(f)` at once, and you may run
    /// `f` inline.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] if the pool is (or, while waiting, gets) shut down;
    /// [`SubmitError::Full`] only as above. The task comes back.
    pub fn submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(
            f,
            None,
            Wait::Until {
                deadline: None,
                ctx: None,
            },
        )
    }

    /// Like [`submit`](Pool::submit), naming the task: the name appears in straggler reports
    /// and on its [`PendingTask`].
    ///
    /// # Errors
    ///
    /// As for [`submit`](Pool::submit).
    pub fn submit_named<F, T>(&self, name: &str, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        let wait = Wait::Until {
            deadline: None,
            ctx: None,
        };
        self.enqueue(f, Some(name.into()), wait)
    }

    /// Queues `f` only if there is room now.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], with the task.
    pub fn try_submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(f, None, Wait::No)
    }

    /// Like [`submit`](Pool::submit), waiting at most `timeout` for room. A timeout too large
    /// for `Instant` waits without a limit.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Timeout`], [`SubmitError::Closed`] (or `Full` on the pool's own worker).
    pub fn submit_timeout<F, T>(
        &self,
        f: F,
        timeout: Duration,
    ) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce(&Context) -> T + Send + 'static,
        T: Send + 'static,
    {
        let deadline = Instant::now().checked_add(timeout);
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
        self.execute_with(
            f,
            Wait::Until {
                deadline: None,
                ctx: None,
            },
        )
    }

    /// Like [`execute`](Pool::execute), only if there is room now.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], with the task.
    pub fn try_execute<F>(&self, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) + Send + 'static,
    {
        self.execute_with(f, Wait::No)
    }

    fn execute_with<F>(&self, f: F, wait: Wait<'_>) -> Result<(), SubmitError<F>>
    where
        F: FnOnce(&Context) + Send + 'static,
    {
        let job = Box::new(Detached {
            closure: f,
            enqueued: Instant::now(),
        });
        self.enqueue_raw(QueuedTask::detached(job), wait)
            .map_err(|(queued, why)| {
                let Err(any) = queued.refused() else {
                    unreachable!("execute queues detached tasks only")
                };
                let job = any
                    .downcast::<Detached<F>>()
                    .expect("the refused task is the one just queued");
                why.with(job.closure)
            })
    }

    /// A snapshot of the pool's counters; see [`Metrics`].
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Whether the pool has stopped accepting tasks.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// The pool's name.
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
        let task = Task::new(f, name);
        match self.enqueue_raw(QueuedTask::tracked(task.clone()), wait) {
            Ok(()) => Ok(TaskHandle::new(task)),
            Err((queued, why)) => {
                // Never shown to a worker: take the job out without resolving it, then the
                // closure back out of the task.
                drop(queued.refused());
                Err(why.with(task.take_back()))
            }
        }
    }

    /// Counts the submit, hands the task over, counts a refusal, applies the growth rule.
    fn enqueue_raw(&self, queued: QueuedTask, wait: Wait<'_>) -> Result<(), (QueuedTask, Refusal)> {
        let c = &self.shared.counters;
        let nth = c.submit.submitted.fetch_add(1, Ordering::Release);
        let sent = match &*self.tx.read() {
            Some(tx) => self.hand_over(tx, queued, wait, nth),
            None => Err((queued, Refusal::Closed)),
        };
        match &sent {
            Ok(()) if self.shared.cfg.max > self.shared.cfg.min => self.claim_idle_or_grow(),
            Ok(()) => {}
            Err((_, why)) => bump(match why {
                Refusal::Full => &c.submit.rejected_full,
                Refusal::Closed => &c.submit.rejected_closed,
                Refusal::Timeout => &c.submit.rejected_timeout,
                Refusal::Cancelled => &c.submit.rejected_cancelled,
            }),
        }
        sent
    }

    /// Puts the task on the queue, waiting as `wait` allows. Called under the read lock.
    fn hand_over(
        &self,
        tx: &Sender<QueuedTask>,
        queued: QueuedTask,
        wait: Wait<'_>,
        nth: u64,
    ) -> Result<(), (QueuedTask, Refusal)> {
        if let Wait::Until { ctx: Some(ctx), .. } = wait
            && ctx.is_cancelled()
        {
            return Err((queued, Refusal::Cancelled));
        }
        let counters = &self.shared.counters;
        let queued = match tx.try_send(queued) {
            Ok(()) => {
                // The queue's length lives on the workers' cache lines: sample it.
                if nth.is_multiple_of(QUEUE_LEN_SAMPLE) {
                    counters.saw_queue_len(tx.len());
                }
                return Ok(());
            }
            Err(TrySendError::Disconnected(q)) => return Err((q, Refusal::Closed)),
            Err(TrySendError::Full(q)) => {
                counters.saw_queue_len(tx.len());
                q
            }
        };
        let Wait::Until { deadline, ctx } = wait else {
            return Err((queued, Refusal::Full));
        };
        if on_worker_of(self.shared.id) {
            return Err((queued, Refusal::Full));
        }
        // Blocked submitters count as "no worker idle": grow before waiting (this is also what
        // makes a rendezvous queue with spare capacity hand over promptly).
        self.grow_if_no_idle();
        if let Some(room) = &self.shared.room {
            return self.wait_for_room(room, tx, queued, deadline, ctx);
        }
        // Rendezvous (or no room tracking): the send itself must meet a receiver.
        let mut sel = Select::new();
        sel.send(tx);
        match self.select_first(sel, deadline, ctx) {
            Ok(op) => match op.send(tx, queued) {
                Ok(()) => {
                    counters.saw_queue_len(tx.len());
                    Ok(())
                }
                Err(e) => Err((e.into_inner(), Refusal::Closed)),
            },
            Err(why) => Err((queued, why)),
        }
    }

    /// Waits for a room token (see `room.rs`), retrying the queue after each, until the task
    /// is queued, the pool closes, `ctx` is cancelled or `deadline` passes.
    fn wait_for_room(
        &self,
        room: &room::Room,
        tx: &Sender<QueuedTask>,
        mut queued: QueuedTask,
        deadline: Option<Instant>,
        ctx: Option<&Context>,
    ) -> Result<(), (QueuedTask, Refusal)> {
        let counters = &self.shared.counters;
        let _waiting = room.wait();
        loop {
            // Retry after announcing ourselves: a worker that freed room before it could see
            // us is caught here.
            queued = match tx.try_send(queued) {
                Ok(()) => {
                    counters.saw_queue_len(tx.len());
                    return Ok(());
                }
                Err(TrySendError::Disconnected(q)) => return Err((q, Refusal::Closed)),
                Err(TrySendError::Full(q)) => q,
            };
            let mut sel = Select::new();
            sel.recv(room.tokens());
            match self.select_first(sel, deadline, ctx) {
                Ok(op) => {
                    let _ = op.recv(room.tokens());
                }
                Err(why) => return Err((queued, why)),
            }
        }
    }

    /// Adds "the pool closed" and "`ctx` was cancelled" to `sel`, whose only operation so far
    /// (index 0) is the one the submitter waits for, and waits until `deadline`. Returns that
    /// operation, ready to complete, or why the submitter must give up.
    fn select_first<'a>(
        &'a self,
        mut sel: Select<'a>,
        deadline: Option<Instant>,
        ctx: Option<&'a Context>,
    ) -> Result<crossbeam_channel::SelectedOperation<'a>, Refusal> {
        let closed_op = sel.recv(self.shared.closed.done());
        if let Some(ctx) = ctx {
            sel.recv(ctx.done());
        }
        let op = match deadline {
            Some(at) => sel.select_deadline(at).map_err(|_| Refusal::Timeout)?,
            None => sel.select(),
        };
        match op.index() {
            0 => Ok(op),
            i if i == closed_op => {
                let _ = op.recv(self.shared.closed.done());
                Err(Refusal::Closed)
            }
            _ => {
                let ctx = ctx.expect("the third operation is the caller's context");
                let _ = op.recv(ctx.done());
                Err(Refusal::Cancelled)
            }
        }
    }

    /// The growth rule, after a task was queued: claim an idle worker for it, or, with none
    /// idle, start one more worker (up to max). A failed spawn is counted in `spawn_failures`;
    /// the task is still queued and the workers the pool has will run it.
    fn claim_idle_or_grow(&self) {
        let g = &self.shared.counters.workers;
        let claimed = g
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |i| i.checked_sub(1))
            .is_ok();
        if claimed {
            g.notified.fetch_add(1, Ordering::AcqRel);
        } else {
            let _ = self.shared.try_grow();
        }
    }

    /// Before blocking on a full queue: with no worker idle, start one more (up to max).
    fn grow_if_no_idle(&self) {
        let g = &self.shared.counters.workers;
        if g.idle.load(Ordering::Acquire) == 0 {
            let _ = self.shared.try_grow();
        }
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
