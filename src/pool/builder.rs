//! [`Builder`]: the pool's configuration, checked by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::panic::Panicked;

use super::Pool;
use super::error::BuildError;
use super::pending::PendingTask;
use super::when_full::{DiscardHook, WhenFull};

/// More workers than this is rejected as a configuration mistake.
pub const MAX_WORKERS: usize = 4096;
/// Queue slots allocated per worker when no capacity is given: `workers × 1024`.
pub const DEFAULT_QUEUE_PER_WORKER: usize = 1024;
/// A bounded queue allocates its slots up front, so larger capacities are rejected: use
/// [`Builder::unbounded`] to mean "no limit".
pub const MAX_QUEUE_CAPACITY: usize = 1 << 24;
/// The smallest stack a worker may ask for.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

pub(crate) type ThreadHook = Arc<dyn Fn(&str) + Send + Sync>;
pub(crate) type PanicHook = Arc<dyn Fn(&Panicked) + Send + Sync>;

/// The queue's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capacity {
    Default,
    Bounded(usize),
    Unbounded,
}

/// Configures a [`Pool`]; see [`Pool::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`workers`](Builder::workers) (always alive) | `num_cpus::get()` |
/// | [`max_workers`](Builder::max_workers) | = `workers` (a fixed-size pool) |
/// | [`keep_alive`](Builder::keep_alive) (idle time before an extra worker retires) | 60 s |
/// | [`queue_capacity`](Builder::queue_capacity) | `workers × 1024` ([`DEFAULT_QUEUE_PER_WORKER`]) |
/// | [`name`](Builder::name) (threads are `homebound-<name>-<n>`) | `"pool"` |
/// | [`stack_size`](Builder::stack_size) | the platform's default |
/// | [`when_full`](Builder::when_full) | [`WhenFull::Block`] (wait for room) |
/// | [`max_blocked_submitters`](Builder::max_blocked_submitters) | no limit |
///
/// **Growth rule**: when a task arrives and no worker is idle, the pool starts one more worker
/// with it, up to `max_workers` (non-blocking submits included). Extra workers retire after `keep_alive` without work; the first
/// `workers` never do. There is no scavenger thread: each worker times out on its own.
///
/// Hooks (`on_thread_start`, `on_thread_exit`, `panic_handler`) may be called from several
/// workers at once. A panic inside a hook is caught and counted in
/// [`Metrics::hook_panics`](super::Metrics::hook_panics); the worker carries on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder()
///     .name("resize")
///     .workers(2)
///     .max_workers(4)
///     .keep_alive(Duration::from_secs(5))
///     .queue_capacity(64)
///     .build()
///     .unwrap();
/// assert_eq!(pool.submit(|_| 40 + 2).unwrap().join().unwrap(), 42);
/// pool.shutdown();
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[must_use = "a Builder does nothing until build is called"]
#[derive(Clone)]
pub struct Builder {
    pub(crate) workers: Option<usize>,
    pub(crate) max_workers: Option<usize>,
    pub(crate) keep_alive: Duration,
    pub(crate) capacity: Capacity,
    pub(crate) name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<ThreadHook>,
    pub(crate) on_exit: Option<ThreadHook>,
    pub(crate) panic_handler: Option<PanicHook>,
    /// Fault injection for tests: spawns after this many succeed fail.
    pub(crate) fail_spawns_after: Option<u64>,
    pub(crate) when_full: WhenFull,
    pub(crate) max_blocked: Option<usize>,
    pub(crate) on_discard: Option<DiscardHook>,
    pub(crate) prestart: bool,
    pub(crate) before_task: Option<super::hooks::TaskHook>,
    pub(crate) after_task: Option<super::hooks::TaskHook>,
    pub(crate) histograms: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: None,
            max_workers: None,
            keep_alive: Duration::from_secs(60),
            capacity: Capacity::Default,
            name: "pool".to_string(),
            stack_size: None,
            on_start: None,
            on_exit: None,
            panic_handler: None,
            fail_spawns_after: None,
            when_full: WhenFull::Block,
            max_blocked: None,
            on_discard: None,
            prestart: true,
            before_task: None,
            after_task: None,
            histograms: false,
        }
    }
}

impl Builder {
    /// A builder with the defaults above.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Builder;
    ///
    /// let pool = Builder::new().workers(1).build().unwrap();
    /// assert_eq!(pool.name(), "pool"); // the default name
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn new() -> Self {
        Builder::default()
    }

    /// Core workers: started by `build` (see [`prestart`](Builder::prestart)) and kept alive
    /// until shutdown. **Zero is allowed with `max_workers(n)`, n ≥ 1**: a pool that costs no
    /// thread while idle (Java's cached pool, `allowCoreThreadTimeOut`): workers start as tasks
    /// arrive and every one retires after `keep_alive` without work.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder()
    ///     .workers(0)
    ///     .max_workers(4)
    ///     .keep_alive(Duration::from_millis(1))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.metrics().workers_live, 0); // no thread until there is work
    /// assert_eq!(pool.submit(|_| 7).unwrap().join().unwrap(), 7);
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// The most workers alive at once (at least `workers`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Barrier};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).max_workers(2).build().unwrap();
    /// let both = Arc::new(Barrier::new(2)); // passes only when two tasks run at once
    /// let handles: Vec<_> = (0..2)
    ///     .map(|_| {
    ///         let both = Arc::clone(&both);
    ///         pool.submit(move |_| { both.wait(); }).unwrap()
    ///     })
    ///     .collect();
    /// handles.into_iter().for_each(|h| h.join().unwrap());
    /// assert_eq!(pool.metrics().workers_peak, 2); // grew for the second task
    /// assert!(Pool::builder().workers(2).max_workers(1).build().is_err());
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// How long an extra worker (above `workers`) waits for work before it retires. Zero
    /// retires it as soon as the queue is empty; a duration too large for `Instant` means never.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Barrier};
    /// use std::time::{Duration, Instant};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).max_workers(2).keep_alive(Duration::ZERO).build().unwrap();
    /// let both = Arc::new(Barrier::new(2));
    /// let handles: Vec<_> = (0..2)
    ///     .map(|_| {
    ///         let both = Arc::clone(&both);
    ///         pool.submit(move |_| { both.wait(); }).unwrap()
    ///     })
    ///     .collect();
    /// handles.into_iter().for_each(|h| h.join().unwrap());
    /// // The extra worker retires as soon as it finds no work; the first one stays.
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while pool.metrics().workers_retired == 0 {
    ///     assert!(Instant::now() < deadline, "the extra worker never retired");
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(pool.metrics().workers_live, 1);
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// The queue's capacity: `submit` blocks and `try_submit` fails with `Full` while this many
    /// tasks wait. **Zero is allowed and means rendezvous** (Java's `SynchronousQueue`): a task
    /// is handed straight to an idle worker or to a newly started one (so `try_submit` succeeds
    /// while a worker is idle or the pool may grow, and reports `Full` otherwise).
    /// At most [`MAX_QUEUE_CAPACITY`], because a bounded queue allocates its slots up front.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::{Pool, MAX_QUEUE_CAPACITY};
    ///
    /// let pool = Pool::builder().workers(1).queue_capacity(1).build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let busy = pool.submit(move |_| { started_tx.send(()).unwrap(); let _ = gate.recv(); }).unwrap();
    /// started.recv().unwrap(); // the only worker is taken
    /// let queued = pool.try_submit(|_| "waits in the queue").unwrap();
    /// assert!(pool.try_submit(|_| "no room").unwrap_err().is_full());
    /// drop(release);
    /// busy.join().unwrap();
    /// assert_eq!(queued.join().unwrap(), "waits in the queue");
    /// assert!(Pool::builder().queue_capacity(MAX_QUEUE_CAPACITY + 1).build().is_err());
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = Capacity::Bounded(capacity);
        self
    }

    /// An unbounded queue: `submit` never blocks and never fails with `Full`. Memory is then
    /// yours to bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).unbounded().build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let busy = pool.submit(move |_| { let _ = gate.recv(); }).unwrap();
    /// // However many wait, a submit never blocks and never reports `Full`.
    /// let queued: Vec<_> = (0..5_000u32).map(|i| pool.try_submit(move |_| i).unwrap()).collect();
    /// drop(release);
    /// busy.join().unwrap();
    /// assert_eq!(queued.into_iter().map(|h| h.join().unwrap()).sum::<u32>(), 12_497_500);
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn unbounded(mut self) -> Self {
        self.capacity = Capacity::Unbounded;
        self
    }

    /// The pool's name: worker threads are `homebound-<name>-<n>`. Not empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().name("resize").workers(1).build().unwrap();
    /// let thread = pool.submit(|_| std::thread::current().name().map(String::from)).unwrap();
    /// assert!(thread.join().unwrap().unwrap().starts_with("homebound-resize-"));
    /// assert!(Pool::builder().name("").build().is_err());
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Each worker's stack size in bytes (at least [`MIN_STACK_SIZE`]). A task that overflows
    /// it is not contained like a panic: a stack overflow aborts the whole process.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::{Pool, MIN_STACK_SIZE};
    ///
    /// fn depth(n: u64) -> u64 { if n == 0 { 0 } else { 1 + depth(n - 1) } }
    ///
    /// let pool = Pool::builder().workers(1).stack_size(8 << 20).build().unwrap(); // 8 MiB
    /// assert_eq!(pool.submit(|_| depth(10_000)).unwrap().join().unwrap(), 10_000);
    /// assert!(Pool::builder().stack_size(MIN_STACK_SIZE - 1).build().is_err());
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs on each worker thread when it starts, with the thread's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use homebound::pool::Pool;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&started);
    /// let pool = Pool::builder()
    ///     .workers(2)
    ///     .on_thread_start(move |name| {
    ///         assert!(name.starts_with("homebound-pool-"));
    ///         seen.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// pool.shutdown(); // every worker has run its hook by the time it is joined
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_start = Some(Arc::new(hook));
        self
    }

    /// Runs on each worker thread just before it exits, with the thread's name; exactly once
    /// per started thread, also when it retires or the pool shuts down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use homebound::pool::Pool;
    ///
    /// let exited = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&exited);
    /// let pool = Pool::builder()
    ///     .name("io")
    ///     .workers(2)
    ///     .on_thread_exit(move |name| log.lock().unwrap().push(name.to_string()))
    ///     .build()
    ///     .unwrap();
    /// pool.shutdown();
    /// let exited = exited.lock().unwrap();
    /// assert_eq!(exited.len(), 2); // once per thread
    /// assert!(exited.iter().all(|name| name.starts_with("homebound-io-")));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn on_thread_exit(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_exit = Some(Arc::new(hook));
        self
    }

    /// Sees every task panic (on the worker, before the panic reaches the task's handle),
    /// also for detached tasks. Without it a panic is still counted and delivered to the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use homebound::pool::Pool;
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let pool = Pool::builder()
    ///     .workers(1)
    ///     .panic_handler(move |p| log.lock().unwrap().push(p.message().to_string()))
    ///     .build()
    ///     .unwrap();
    /// let task = pool.submit(|_| -> u8 { panic!("bad frame") }).unwrap();
    /// assert!(task.join().unwrap_err().is_panicked()); // the handle still gets the panic
    /// assert_eq!(*seen.lock().unwrap(), ["bad frame"]); // and the handler saw it first
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn panic_handler(mut self, handler: impl Fn(&Panicked) + Send + Sync + 'static) -> Self {
        self.panic_handler = Some(Arc::new(handler));
        self
    }

    /// What a submit that would wait for room does instead; see [`WhenFull`] (default
    /// `Block`).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::{Pool, WhenFull};
    ///
    /// // Backpressure without blocked submitters: a full pool makes the caller do the work.
    /// let pool = Pool::builder().workers(1).queue_capacity(1).when_full(WhenFull::CallerRuns).build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let busy = pool.submit(move |_| { let _ = gate.recv(); }).unwrap();
    /// # while pool.metrics().running == 0 { std::thread::yield_now(); }
    /// let queued = pool.submit(|_| "queued").unwrap();
    /// let here = std::thread::current().id();
    /// let inline = pool.submit(move |_| std::thread::current().id() == here).unwrap();
    /// assert!(inline.join().unwrap()); // ran on this thread, at once
    /// drop(release);
    /// assert_eq!(queued.join().unwrap(), "queued");
    /// busy.join().unwrap();
    /// assert_eq!(pool.shutdown().metrics().ran_by_caller, 1);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = policy;
        self
    }

    /// With [`WhenFull::Block`]: at most `n` submitters wait for room at once; the next one
    /// that would wait gets its task back at once as `Full` (ants' `WithMaxBlockingTasks`).
    /// Zero is a build error (use [`WhenFull::Reject`] so that no submitter waits), and so is
    /// setting it with another policy (no submitter waits under those).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).queue_capacity(1).max_blocked_submitters(4).build().unwrap();
    /// assert_eq!(pool.max_blocked_submitters(), Some(4));
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn max_blocked_submitters(mut self, n: usize) -> Self {
        self.max_blocked = Some(n);
        self
    }

    /// With [`WhenFull::DiscardOldest`]: receives each task a newer one displaced, on the
    /// submitting thread, after the submit (no pool lock held). Run it, log it by
    /// [`name`](PendingTask::name), or drop it (its handle then resolves as `NotStarted`). A
    /// panic in the hook is caught and counted in `hook_panics`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::{Pool, WhenFull};
    ///
    /// let (displaced_tx, displaced) = crossbeam_channel::unbounded();
    /// let pool = Pool::builder()
    ///     .workers(1)
    ///     .queue_capacity(1)
    ///     .when_full(WhenFull::DiscardOldest)
    ///     .on_discard(move |task| displaced_tx.send(task.name().map(str::to_owned)).unwrap())
    ///     .build()
    ///     .unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let busy = pool.submit(move |_| { let _ = gate.recv(); }).unwrap();
    /// # while pool.metrics().running == 0 { std::thread::yield_now(); }
    /// let old = pool.submit_named("reading 1", |_| 1).unwrap();
    /// let new = pool.submit_named("reading 2", |_| 2).unwrap(); // displaces reading 1
    /// assert_eq!(displaced.recv().unwrap().as_deref(), Some("reading 1"));
    /// drop(release);
    /// assert!(old.join().unwrap_err().is_not_started());
    /// assert_eq!(new.join().unwrap(), 2);
    /// busy.join().unwrap();
    /// assert_eq!(pool.shutdown().metrics().discarded, 1);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn on_discard(mut self, hook: impl Fn(PendingTask) + Send + Sync + 'static) -> Self {
        self.on_discard = Some(std::sync::Arc::new(hook));
        self
    }

    /// Fault injection for tests: after `n` worker threads have started, every further spawn
    /// fails as if the OS had refused it.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let err = Pool::builder().workers(2).fail_spawns_after(1).build().unwrap_err();
    /// assert!(!err.is_config()); // the second worker "could not be spawned"
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[doc(hidden)]
    pub fn fail_spawns_after(mut self, n: u64) -> Self {
        self.fail_spawns_after = Some(n);
        self
    }

    /// Checks the configuration and starts the first `workers` threads.
    ///
    /// # Errors
    ///
    /// A configuration error (`workers` and `max_workers` both 0, `max_workers < workers`, more than [`MAX_WORKERS`],
    /// a queue capacity above [`MAX_QUEUE_CAPACITY`], a stack below [`MIN_STACK_SIZE`], an
    /// empty name), or the spawn error if a first worker could not be started; the workers
    /// that had started are then shut down and joined before `build` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// assert_eq!(pool.submit(|_| 6 * 7).unwrap().join().unwrap(), 42);
    /// pool.shutdown();
    ///
    /// let err = Pool::builder().workers(4).max_workers(2).build().unwrap_err();
    /// assert!(err.is_config());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn build(self) -> Result<Pool, BuildError> {
        let workers = self.workers.unwrap_or_else(num_cpus::get);
        if workers > MAX_WORKERS {
            return Err(BuildError::config(format!(
                "workers is {workers}, more than the limit of {MAX_WORKERS}"
            )));
        }
        let max = self.max_workers.unwrap_or(workers);
        if max == 0 {
            return Err(BuildError::config(
                "workers and max_workers are both 0; a pool that starts workers on demand needs max_workers(n) with n ≥ 1",
            ));
        }
        if max < workers {
            return Err(BuildError::config(format!(
                "max_workers ({max}) is less than workers ({workers})"
            )));
        }
        if max > MAX_WORKERS {
            return Err(BuildError::config(format!(
                "max_workers is {max}, more than the limit of {MAX_WORKERS}"
            )));
        }
        if let Capacity::Bounded(c) = self.capacity
            && c > MAX_QUEUE_CAPACITY
        {
            return Err(BuildError::config(format!(
                "queue_capacity is {c}, more than the limit of {MAX_QUEUE_CAPACITY}; use unbounded() for no limit"
            )));
        }
        if let Some(bytes) = self.stack_size
            && bytes < MIN_STACK_SIZE
        {
            return Err(BuildError::config(format!(
                "stack_size is {bytes} bytes, less than the minimum of {MIN_STACK_SIZE}"
            )));
        }
        if self.name.is_empty() {
            return Err(BuildError::config("the pool's name is empty"));
        }
        self.check_when_full()?;
        Pool::start(self, workers, max)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("max_workers", &self.max_workers)
            .field("keep_alive", &self.keep_alive)
            .field("capacity", &self.capacity)
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}
