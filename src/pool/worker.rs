//! The state a pool's workers share, starting workers, and what a pool worker does around each
//! task (metrics, straggler bookkeeping, `shutdown_now`'s hand-back) on top of the executor
//! core's worker loop.
//!
//! # Workers
//!
//! The first `workers` threads start parked (counted idle before their threads run) and never
//! retire. More are started on demand by the core's hand-off (up to `max_workers`), with the
//! task that needed them or to take it from the queue; a worker above `workers` that waits
//! `keep_alive` for work retires. The core's crew word counts them: `live` never exceeds `max`
//! and never drops below `min` by retiring.
//!
//! # Joining from a worker
//!
//! While one of the pool's workers waits in `join` (for a task of any pool), it runs tasks from
//! its own pool's queue, so a task that queues work on its own pool and joins it never waits for
//! itself (see [`wait_helping`]).

use std::cell::RefCell;
use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::context::Context;
use crate::exec::queue::Queue;
use crate::exec::worker::{self as core, Exit, Work, is_worker_of};
use crate::panic::Panicked;
use crate::sync::{Guard, WaitGroup};
use crate::threads::{self, JoinHandle};

use super::builder::{PanicHook, ThreadHook};
use super::metrics::{Counters, Metrics, WorkCounters, add_own, bump};
use super::task::{Ending, PoolJob};

/// Whether the calling thread is working for the pool with this id.
pub(crate) fn on_worker_of(pool_id: u64) -> bool {
    is_worker_of(pool_id)
}

pub(crate) struct Config {
    /// Whether core workers start eagerly (`build`, `resize`).
    pub(crate) prestart: bool,
    /// The queue's capacity (`None`: unbounded), for `Pool::queue_capacity`.
    pub(crate) capacity: Option<usize>,
    /// Task hooks and histograms; `None` when none is set (see `hooks`).
    pub(crate) observe: Option<Box<super::hooks::Observe>>,
    /// `None`: extra workers never retire.
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<ThreadHook>,
    pub(crate) on_exit: Option<ThreadHook>,
    pub(crate) panic_handler: Option<PanicHook>,
    pub(crate) fail_spawns_after: Option<u64>,
    /// `None` for the default `WhenFull::Block` without a cap (see `when_full`).
    pub(crate) full: Option<super::when_full::FullPolicy>,
}

pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) queue: Queue<PoolJob>,
    /// Every task's context is a child of this; `shutdown_now` cancels it.
    pub(crate) root: Context,
    pub(crate) cfg: Config,
    pub(crate) counters: Counters,
    pub(crate) threads: Mutex<Threads>,
    /// One guard per worker thread, dropped as its closure ends.
    pub(crate) exits: WaitGroup,
    /// Tasks a worker took off the queue after `shutdown_now` cancelled the root.
    pub(crate) returned: Mutex<Vec<PoolJob>>,
    /// Every worker whose counters are not yet folded into `counters.work` (it is added before
    /// its thread starts and removes itself, folding, as it exits).
    pub(crate) stats: Mutex<Vec<Arc<WorkerSlot>>>,
    pub(crate) epoch: Instant,
    /// The pool's clock for submit stamps: nanoseconds since `epoch`, published by workers as
    /// they finish tasks (at most every `CLOCK_STEP`), so a submit need not read the system
    /// clock (~25 ns, a third of a small task's cost) while workers are busy.
    pub(crate) clock: CachePadded<AtomicU64>,
    /// The thread that built the pool: every worker belongs to its leak check, whichever thread
    /// made the pool grow.
    pub(crate) origin: ThreadId,
    /// The pool as a node of the owner tree (issue 17): its workers are its threads in the dump.
    pub(crate) owner: crate::threads::Owner,
    /// Closed flag and idle bell (see `lifecycle`).
    pub(crate) life: super::lifecycle::Life,
}

pub(crate) struct Threads {
    pub(crate) workers: Vec<WorkerEntry>,
    /// Set once the pool is closed: no more workers are started.
    pub(crate) closing: bool,
}

pub(crate) struct WorkerEntry {
    pub(crate) handle: JoinHandle<()>,
    pub(crate) slot: Arc<WorkerSlot>,
}

/// What a worker publishes about itself for the straggler report.
#[derive(Default)]
pub(crate) struct WorkerSlot {
    /// Nanoseconds since the pool's epoch + 1 at which the current task started (after short
    /// tasks: the worker's last clock read, at most 15 short tasks earlier); 0 when idle.
    pub(crate) busy_since: AtomicU64,
    /// The current task's name, when it has one.
    pub(crate) task_name: Mutex<Option<Box<str>>>,
    /// Set just before the worker's closure returns.
    pub(crate) exited: std::sync::atomic::AtomicBool,
    /// This worker's own task counters.
    pub(crate) work: CachePadded<WorkCounters>,
}

impl WorkerSlot {
    pub(crate) fn running_for(&self, epoch: Instant) -> Option<Duration> {
        let since = self.busy_since.load(Ordering::Acquire);
        (since != 0).then(|| {
            let started = epoch + Duration::from_nanos(since - 1);
            started.elapsed()
        })
    }
}

/// How a new worker begins.
pub(crate) enum Begin {
    /// Counted idle already (the first workers, reserved with `start_parked`).
    Parked,
    /// With the task that needed it.
    With(PoolJob),
    /// Busy, to take a queued task (reserved with `reserve`).
    Busy,
}

/// How often a busy worker publishes the pool's clock: a submit stamp is at most this much (or
/// the tasks a worker runs between two clock reads) behind the time, and submitters miss the
/// clock's cache line at most once per step per worker.
const CLOCK_STEP: u64 = 10_000;

/// A worker reads the system clock (~25 ns, a fifth of a tiny task's whole cost) once per task
/// only while its tasks take at least this long on average; shorter tasks are timed in groups
/// of [`SHORT_TASKS_PER_READ`].
const LONG_TASK_NS: u64 = 20_000;

/// How many short tasks a worker runs between two clock reads.
const SHORT_TASKS_PER_READ: u32 = 16;

/// The pool's clock while no busy worker refreshes it.
pub(crate) const STALE: u64 = u64::MAX;

impl Shared {
    pub(crate) fn id(&self) -> u64 {
        self.queue.id()
    }

    /// Nanoseconds since the pool's epoch, read from the system clock.
    pub(crate) fn now(&self) -> u64 {
        let d = self.epoch.elapsed();
        d.as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos()))
    }

    /// A submit's time stamp: the clock the busy workers publish, or, when a worker has parked
    /// since the last publish, the system clock, which this submit publishes in turn: the
    /// submits after it use it until a worker wakes (a submit wakes one) and publishes its own,
    /// rather than each reading the system clock while the woken worker is on its way.
    #[inline]
    pub(crate) fn stamp(&self) -> u64 {
        match self.clock.load(Ordering::Relaxed) {
            STALE => self.stamp_stale(),
            now => now,
        }
    }

    /// [`stamp`](Shared::stamp) when no worker has published the clock.
    #[cold]
    #[inline(never)]
    fn stamp_stale(&self) -> u64 {
        let now = self.now();
        self.clock.store(now, Ordering::Relaxed);
        now
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let stats = self.stats.lock();
        let workers: Vec<&WorkCounters> = stats.iter().map(|s| &*s.work).collect();
        let queue_len = self.queue.len();
        self.counters.saw_queue_len(queue_len);
        let crew = self.queue.crew.count();
        let mut m = self
            .counters
            .snapshot(queue_len, crew.live, crew.idle, &workers);
        if let Some(h) = self
            .cfg
            .observe
            .as_ref()
            .and_then(|o| o.histograms.as_ref())
        {
            let (wait, run) = h.snapshot();
            m.queue_wait_histogram = Some(wait);
            m.run_time_histogram = Some(run);
        }
        m
    }

    /// A worker leaving: its counters move into the pool's, atomically for snapshots.
    fn retire_stats(&self, slot: &Arc<WorkerSlot>) {
        let mut stats = self.stats.lock();
        slot.work.fold_into(&self.counters.work);
        stats.retain(|s| !Arc::ptr_eq(s, slot));
    }

    /// Starts one worker in a slot already reserved in the crew; on failure the task it was to
    /// begin with comes back.
    pub(crate) fn spawn_worker(
        self: &Arc<Self>,
        begin: Begin,
    ) -> Result<(), (io::Error, Option<PoolJob>)> {
        let mut threads = self.threads.lock();
        let g = &self.counters.workers;
        let refuse = |begin: Begin, error: io::Error| {
            let job = match begin {
                Begin::With(job) => Some(job),
                Begin::Parked | Begin::Busy => None,
            };
            Err((error, job))
        };
        if threads.closing {
            return refuse(begin, io::Error::other("the pool is shut down"));
        }
        if let Some(n) = self.cfg.fail_spawns_after
            && g.spawned.load(Ordering::Acquire) >= n
        {
            bump(&g.spawn_failures);
            return refuse(begin, io::Error::other("injected spawn failure"));
        }
        // Retired workers have ended: join them now so handles do not pile up.
        let (ended, running): (Vec<_>, Vec<_>) = mem::take(&mut threads.workers)
            .into_iter()
            .partition(|w| w.slot.exited.load(Ordering::Acquire));
        threads.workers = running;
        let slot = Arc::new(WorkerSlot::default());
        let exit = self.exits.enter();
        let mut builder = threads::Builder::new(&self.name).origin(self.origin);
        builder = builder.context(&self.root).member_of(&self.owner);
        if let Some(bytes) = self.cfg.stack_size {
            builder = builder.stack_size(bytes);
        }
        let parked = matches!(begin, Begin::Parked);
        // The first task stays reachable, so a failed spawn can hand it back.
        let first = match begin {
            Begin::With(job) => Some(Arc::new(Mutex::new(Some(job)))),
            Begin::Parked | Begin::Busy => None,
        };
        let (shared, worker_slot, in_thread) = (Arc::clone(self), Arc::clone(&slot), first.clone());
        self.stats.lock().push(Arc::clone(&slot));
        let spawned = builder.spawn(move || {
            let first = in_thread.and_then(|cell| cell.lock().take());
            worker_main(shared, worker_slot, exit, first, parked);
        });
        match spawned {
            Ok(handle) => {
                threads.workers.push(WorkerEntry { handle, slot });
                bump(&g.spawned);
                let live = self.queue.crew.count().live;
                g.peak.fetch_max(live, Ordering::AcqRel);
                drop(threads);
                join_all(ended);
                Ok(())
            }
            Err(e) => {
                self.stats.lock().retain(|s| !Arc::ptr_eq(s, &slot));
                bump(&g.spawn_failures);
                drop(threads);
                join_all(ended);
                Err((e, first.and_then(|cell| cell.lock().take())))
            }
        }
    }

    /// Runs a user hook, counting (not propagating) its panic.
    fn call_hook(&self, hook: &Option<ThreadHook>, thread: &str) {
        if let Some(hook) = hook
            && Panicked::catch(|| hook(thread)).is_err()
        {
            bump(&self.counters.workers.hook_panics);
        }
    }
}

pub(crate) fn join_all(entries: Vec<WorkerEntry>) -> usize {
    let n = entries.len();
    for entry in entries {
        // The worker catches every user panic, so its closure does not unwind.
        let _ = entry.handle.join();
    }
    n
}

thread_local! {
    /// On a pool worker: what it needs to run its pool's tasks while it waits in `join`.
    static HELPER: RefCell<Option<Helper>> = const { RefCell::new(None) };
}

/// What a worker shares with the joins it makes: its pool and its own counters.
#[derive(Clone)]
struct Helper {
    shared: Arc<Shared>,
    slot: Arc<WorkerSlot>,
}

fn worker_main(
    shared: Arc<Shared>,
    slot: Arc<WorkerSlot>,
    exit: Guard,
    first: Option<PoolJob>,
    parked: bool,
) {
    let name = std::thread::current().name().unwrap_or("").to_owned();
    shared.call_hook(&shared.cfg.on_start, &name);
    let helper = Helper {
        shared: Arc::clone(&shared),
        slot: Arc::clone(&slot),
    };
    let _ = HELPER.try_with(|h| *h.borrow_mut() = Some(helper));
    let mut worker = PoolWorker {
        ending: Ending::worker(Arc::clone(&shared), Arc::clone(&slot)),
        shared: Arc::clone(&shared),
        slot: Arc::clone(&slot),
        last: shared.now(),
        published: 0,
        unread: 0,
        read_every: 1,
        state: StateWord::default(),
    };
    let mut begin = Some(match first {
        Some(job) => core::Begin::With(job),
        None if parked => core::Begin::Parked,
        // Its first task was taken back by a spawn that reported failure after all.
        None => core::Begin::Busy,
    });
    let ended = loop {
        let from = begin.take().unwrap_or(core::Begin::Busy);
        // Each task's job contains its panics and the drop of a result nobody reads; a panic
        // that escapes the bookkeeping around it anyway (a bug) must not take the worker down:
        // it goes on serving, busy (it was running a task).
        match Panicked::catch(|| core::work(&mut worker, from)) {
            Ok(exit) => break exit,
            Err(_) => bump(&shared.counters.workers.hook_panics),
        }
    };
    if ended == Exit::Retired {
        bump(&shared.counters.workers.retired);
    }
    // A worker stopped by `shutdown_now` leaves busy: count its last stretch.
    worker.read_clock();
    drop(worker);
    let _ = HELPER.try_with(|h| h.borrow_mut().take());
    shared.retire_stats(&slot);
    shared.call_hook(&shared.cfg.on_exit, &name);
    slot.exited.store(true, Ordering::Release);
    drop(exit);
}

/// One pool worker, as the core's worker loop drives it.
struct PoolWorker {
    shared: Arc<Shared>,
    slot: Arc<WorkerSlot>,
    ending: Ending,
    /// When this worker last read the clock (on the pool's clock). Tasks run back to back, so
    /// this is when the first task run since then started.
    last: u64,
    /// When this worker last published the pool's clock.
    published: u64,
    /// Tasks run since `last`.
    unread: u32,
    /// After how many tasks the clock is read next (1 while tasks are long).
    read_every: u32,
    state: StateWord,
}

/// The thread-state word of an unnamed task (see `threads::task_word`), packed once per start:
/// the short tasks of a stretch share their start, so the clock arithmetic is once per stretch.
#[derive(Default)]
pub(crate) struct StateWord {
    start: u64,
    /// 0: none packed yet (a packed word is never 0: its low byte is the task kind).
    word: u64,
    /// While set, the thread shows `word`: kept across the tasks of a stretch (they share
    /// their start), so the thread-local swap and restore are once per stretch, not per task.
    /// Dropping it restores what the thread showed before.
    shown: Option<threads::StateGuard>,
}

impl StateWord {
    #[inline]
    fn of(&mut self, epoch: Instant, start: u64) -> u64 {
        if self.word == 0 || self.start != start {
            self.start = start;
            self.word = threads::task_word(epoch + Duration::from_nanos(start));
        }
        self.word
    }

    /// Shows an unnamed task that started at `start` as the thread's state, until a task with
    /// another start is shown or [`end`](StateWord::end).
    #[inline]
    fn show(&mut self, epoch: Instant, start: u64) {
        if self.shown.is_none() || self.start != start {
            self.show_new(epoch, start);
        }
    }

    #[cold]
    #[inline(never)]
    fn show_new(&mut self, epoch: Instant, start: u64) {
        // The previous stretch's guard first, so the new one restores what was there before.
        self.shown = None;
        let word = self.of(epoch, start);
        self.shown = Some(threads::running_word(word));
    }

    /// The stretch is over (the worker is about to wait, or leaves): the thread shows what it
    /// showed before.
    #[inline]
    fn end(&mut self) {
        self.shown = None;
    }
}

impl PoolWorker {
    /// Reads the clock and counts the stretch since the last read as run time: tasks run back
    /// to back, so the stretch's length is the sum of their run times (and of the worker's
    /// own moments between them).
    fn read_clock(&mut self) {
        if self.unread == 0 {
            return;
        }
        let now = self.shared.now();
        let stretch = now.saturating_sub(self.last);
        add_own(&self.slot.work.run_ns, stretch);
        self.read_every = if stretch >= u64::from(self.unread) * LONG_TASK_NS {
            1
        } else {
            SHORT_TASKS_PER_READ
        };
        self.last = now;
        self.unread = 0;
        if now.wrapping_sub(self.published) >= CLOCK_STEP {
            self.shared.clock.store(now, Ordering::Relaxed);
            self.published = now;
        }
    }
}

impl Work for PoolWorker {
    type Job = PoolJob;

    fn queue(&self) -> &Queue<PoolJob> {
        &self.shared.queue
    }

    fn root(&self) -> &Context {
        &self.shared.root
    }

    fn keep_alive(&self) -> Option<Duration> {
        let cfg = &self.shared.cfg;
        let crew = &self.shared.queue.crew;
        cfg.keep_alive.filter(|_| crew.count().live > crew.min())
    }

    #[inline(always)]
    fn run(&mut self, job: PoolJob, ctx: &Context, parked: bool) -> bool {
        if parked {
            // A new stretch: the time parked is not run time.
            let now = self.shared.now();
            self.last = now;
            self.unread = 0;
            // Woken: publish at once, so submits stop reading the system clock (see `stamp`).
            self.shared.clock.store(now, Ordering::Relaxed);
            self.published = now;
        }
        // Within a stretch of short tasks a task is stamped with the stretch's last clock
        // read (at most `SHORT_TASKS_PER_READ - 1` short tasks earlier).
        let ran = run_one(
            &self.shared,
            &self.slot,
            &self.ending,
            job,
            ctx,
            self.last,
            &mut self.state,
        );
        self.unread += 1;
        if self.unread >= self.read_every || !ran {
            self.read_clock();
        }
        if !ran {
            self.state.end();
        }
        ran
    }

    /// The queue ran empty: the thread stops showing the stretch's task while it spins.
    fn idle(&mut self) {
        self.state.end();
    }

    /// Only once the worker blocks: a worker that finds a task while it spins goes on with its
    /// stretch (a worker faster than its submitters runs out of tasks every few of them).
    fn blocking(&mut self) {
        self.read_clock();
        // About to park: submits must not take their stamps from this worker's last time. (A
        // load first: with another worker publishing, this writes at most once per step.)
        let clock = &self.shared.clock;
        if clock.load(Ordering::Relaxed) != STALE {
            clock.store(STALE, Ordering::Relaxed);
        }
        self.published = 0;
        // This worker's last task is counted: a `wait_idle` may be over.
        self.shared.life.idle.ring();
    }

    fn panicked(&mut self, _: Panicked) {
        bump(&self.shared.counters.workers.hook_panics);
    }
}

/// Runs one task on a worker with its bookkeeping (`start`: when it started, on the pool's
/// clock); `false` if `shutdown_now` had cancelled the pool (the task goes back to the caller
/// and the worker stops). The caller counts the run time.
#[inline(always)]
fn run_one(
    shared: &Shared,
    slot: &WorkerSlot,
    ending: &Ending,
    job: PoolJob,
    ctx: &Context,
    start: u64,
    state: &mut StateWord,
) -> bool {
    if shared.root.is_cancelled() {
        shared.returned.lock().push(job);
        return false;
    }
    // Only this worker's thread writes its slot.
    let w = &*slot.work;
    add_own(&w.dequeued, 1);
    let info = job.info();
    if shared.cfg.observe.is_none() && info.is_plain() {
        // The common case (no hooks or histograms, no options, no name) without the branches
        // and look-ups each of those needs: one test for all three.
        let wait_ns = start.saturating_sub(info.enqueued);
        add_own(&w.queue_wait_ns, wait_ns);
        let outer_since = slot.busy_since.load(Ordering::Relaxed);
        slot.busy_since.store(start + 1, Ordering::Release);
        state.show(shared.epoch, start);
        let _span = info.span.clone().entered();
        let event = crate::observe::task_started(&shared.name, None, wait_ns);
        if !job.run(ending, ctx) {
            add_own(&w.cancelled_before_start, 1);
        }
        event.ended();
        // A helped task (run inside another task's `join`) restores the outer task's entry.
        slot.busy_since.store(outer_since, Ordering::Release);
        return true;
    }
    run_observed(shared, slot, ending, job, ctx, start, state)
}

/// [`run_one`] for a task with a name or options, or on a pool with hooks or histograms.
#[inline(never)]
fn run_observed(
    shared: &Shared,
    slot: &WorkerSlot,
    ending: &Ending,
    job: PoolJob,
    ctx: &Context,
    start: u64,
    state: &mut StateWord,
) -> bool {
    let w = &*slot.work;
    // Hooks and histograms (see `hooks`): one branch when none is set. They are told each
    // task's own times, so with them the clock is read around every task.
    let watch = shared.cfg.observe.as_deref().map(|observe| {
        observe.took();
        super::hooks::Watch {
            observe,
            name: job.info().name().map(Box::from),
            panics_before: w.panicked.load(Ordering::Relaxed),
        }
    });
    let start = if watch.is_some() { shared.now() } else { start };
    let wait_ns = start.saturating_sub(job.info().enqueued);
    // A task submitted with options runs under its own context (see `task_builder`).
    let scope = match job.info().opts().map(|opts| opts.enter(ctx)) {
        None => None,
        Some(Ok(scope)) => Some(scope),
        Some(Err(skipped)) => {
            // Its caller's context was cancelled (or its deadline passed) while it waited.
            job.not_run(ending, crate::exec::job::NotRun::Cancelled);
            add_own(&w.cancelled_before_start, 1);
            if let Some(watch) = watch {
                let outcome = super::hooks::TaskOutcome::NotStarted;
                watch
                    .observe
                    .after(shared, watch.name.as_deref(), wait_ns, 0, outcome);
            }
            // Its slot was released and lent to a later task: that one runs in its place.
            return match skipped.replacement(&shared.queue) {
                Some(next) => run_one(shared, slot, ending, next, ctx, start, state),
                None => true,
            };
        }
    };
    if let Some(watch) = &watch {
        watch.observe.before(shared, watch.name.as_deref(), wait_ns);
    }
    let ctx = scope.as_ref().map_or(ctx, |s| s.ctx());
    add_own(&w.queue_wait_ns, wait_ns);
    let outer_since = slot.busy_since.load(Ordering::Relaxed);
    slot.busy_since.store(start + 1, Ordering::Release);
    let info = job.info();
    // A named task shows its name over the stretch's word, and puts the word back after.
    let _state = match info.name() {
        None => {
            state.show(shared.epoch, start);
            None
        }
        named => Some(threads::running_at(named, shared.epoch, start)),
    };
    let _span = info.span.clone().entered();
    let event = crate::observe::task_started(&shared.name, info.name(), wait_ns);
    let named = info.name().is_some();
    let outer_name = match info.name() {
        Some(name) => slot.task_name.lock().replace(name.into()),
        None => None,
    };
    // The job contains the task's panics (the worker loop catches a bug's).
    let ran = job.run(ending, ctx);
    if !ran {
        add_own(&w.cancelled_before_start, 1);
    }
    event.ended();
    if let Some(scope) = scope
        && crate::panic::drop_caught(scope).is_err()
    {
        bump(&shared.counters.workers.hook_panics);
    }
    // A helped task (run inside another task's `join`) restores the outer task's entry.
    slot.busy_since.store(outer_since, Ordering::Release);
    if named || outer_name.is_some() {
        *slot.task_name.lock() = outer_name;
    }
    if let Some(watch) = watch {
        let outcome = watch.outcome(ran, &w.panicked);
        let run_ns = shared.now().saturating_sub(start);
        watch
            .observe
            .after(shared, watch.name.as_deref(), wait_ns, run_ns, outcome);
    }
    true
}

/// Waits for a task's slot to end (or `deadline`: `None` back). On one of a pool's workers it
/// runs that pool's queued tasks meanwhile, so a task that queued work on its own pool and joins
/// it never waits for itself.
#[cfg(not(loom))]
pub(crate) fn wait_helping<T>(
    slot: &dyn crate::exec::slot::SlotView<super::task::PoolTask, T>,
    deadline: Option<Instant>,
    stop: Option<&Context>,
) -> Option<Result<T, crate::task::JoinError>> {
    let helper = HELPER.try_with(|h| h.borrow().clone()).ok().flatten();
    if let Some(Helper {
        shared,
        slot: worker,
    }) = helper
    {
        let ending = Ending::worker(Arc::clone(&shared), Arc::clone(&worker));
        let mut state = StateWord::default();
        loop {
            if slot.is_finished() || stop.is_some_and(Context::is_cancelled) {
                break;
            }
            let job = match shared.queue.take() {
                Some(job) => job,
                None => {
                    let Some(done) = slot.waker() else { break };
                    match shared
                        .queue
                        .take_or_until(&done, stop.map(Context::done), deadline)
                    {
                        Some(job) => job,
                        None => break,
                    }
                }
            };
            let ctx = shared.root.child();
            let start = shared.now();
            // A panic escaping the bookkeeping (a bug) must not reach the joining task.
            let ran = Panicked::catch(|| {
                run_one(&shared, &worker, &ending, job, &ctx, start, &mut state)
            });
            // Each helped task has its own start: show the joining task again meanwhile.
            state.end();
            match ran {
                Ok(true) => {}
                // shutdown_now: the task went back to its caller; keep waiting.
                Ok(false) => continue,
                Err(_) => bump(&shared.counters.workers.hook_panics),
            }
            add_own(&worker.work.run_ns, shared.now().saturating_sub(start));
            if let Err(_panic) = crate::panic::drop_caught(ctx) {
                bump(&shared.counters.workers.hook_panics);
            }
        }
    }
    super::join::wait_or_stop(slot, deadline, stop)
}

#[cfg(loom)]
pub(crate) fn wait_helping<T>(
    slot: &dyn crate::exec::slot::SlotView<super::task::PoolTask, T>,
    deadline: Option<Instant>,
    _stop: Option<&Context>,
) -> Option<Result<T, crate::task::JoinError>> {
    slot.wait(deadline)
}
