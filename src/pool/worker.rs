//! The state the workers share, the worker loop, and starting workers.
//!
//! # The worker loop
//!
//! `try_recv` first (no parking while work is queued), then crossbeam's `recv` (which spins
//! briefly before it parks), with `keep_alive` as the timeout for an extra worker. Graceful
//! shutdown drops the queue's `Sender`: workers drain what is queued and leave on
//! `Disconnected`, so nothing queued is ever stranded. `shutdown_now` cancels the root context
//! and then closes the queue the same way; a worker that takes a task after the cancel hands it
//! back instead of running it.
//!
//! # Live-worker accounting
//!
//! `live` is reserved (compare-and-swap, never above `max`) *before* a thread is spawned and
//! released if the spawn fails; a retiring worker releases its own slot with a CAS that never
//! goes below `min`, so `min ≤ live ≤ max` holds while the pool is open.

use std::cell::Cell;
use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::context::Context;
use crate::panic::Panicked;
use crate::sync::{Guard, WaitGroup};
use crate::threads::{self, JoinHandle};

use super::builder::{PanicHook, ThreadHook};
use super::metrics::{Counters, Metrics, WorkCounters, add_duration, bump};
use super::task::{Outcome, QueuedTask};

thread_local! {
    /// The id of the pool whose worker this thread is (0: none). Lets the pool refuse to join
    /// or block on itself from inside one of its own tasks.
    static CURRENT_POOL: Cell<u64> = const { Cell::new(0) };
}

/// Whether the calling thread is one of the workers of the pool with this id.
pub(crate) fn on_worker_of(pool_id: u64) -> bool {
    CURRENT_POOL.try_with(Cell::get).unwrap_or(0) == pool_id
}

pub(crate) struct Config {
    pub(crate) min: usize,
    pub(crate) max: usize,
    /// `None`: extra workers never retire.
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<ThreadHook>,
    pub(crate) on_exit: Option<ThreadHook>,
    pub(crate) panic_handler: Option<PanicHook>,
    pub(crate) fail_spawns_after: Option<u64>,
}

pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) rx: Receiver<QueuedTask>,
    /// Every task's context is a child of this; `shutdown_now` cancels it.
    pub(crate) root: Context,
    /// Cancelled when the pool stops accepting: wakes submitters blocked on a full queue.
    pub(crate) closed: Context,
    /// Refill hysteresis for blocked submitters; `None` for rendezvous and unbounded queues.
    pub(crate) room: Option<super::room::Room>,
    pub(crate) cfg: Config,
    pub(crate) counters: Counters,
    pub(crate) threads: Mutex<Threads>,
    /// One guard per worker thread, dropped as its closure ends.
    pub(crate) exits: WaitGroup,
    /// Tasks a worker took off the queue after `shutdown_now` cancelled the root.
    pub(crate) returned: Mutex<Vec<QueuedTask>>,
    /// Every worker whose counters are not yet folded into `counters.work` (it is added before
    /// its thread starts and removes itself, folding, as it exits).
    pub(crate) stats: Mutex<Vec<Arc<WorkerSlot>>>,
    pub(crate) epoch: Instant,
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
    /// Nanoseconds since the pool's epoch + 1 at which the current task started; 0 when idle.
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

impl Shared {
    pub(crate) fn metrics(&self) -> Metrics {
        let stats = self.stats.lock();
        let workers: Vec<&WorkCounters> = stats.iter().map(|s| &*s.work).collect();
        let queue_len = self.rx.len();
        self.counters.saw_queue_len(queue_len);
        self.counters.snapshot(queue_len, &workers)
    }

    /// A worker leaving: its counters move into the pool's, atomically for snapshots.
    fn retire_stats(&self, slot: &Arc<WorkerSlot>) {
        let mut stats = self.stats.lock();
        slot.work.fold_into(&self.counters.work);
        stats.retain(|s| !Arc::ptr_eq(s, slot));
    }

    /// Reserves a live-worker slot (never above `max`) and starts a worker in it.
    pub(crate) fn try_grow(self: &Arc<Self>) -> io::Result<bool> {
        let g = &self.counters.workers;
        let reserved = g
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                (l < self.cfg.max).then_some(l + 1)
            })
            .is_ok();
        if !reserved {
            return Ok(false);
        }
        match self.spawn_worker() {
            Ok(()) => Ok(true),
            Err(e) => {
                g.live.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    /// Starts one worker in a slot already reserved in `live`.
    fn spawn_worker(self: &Arc<Self>) -> io::Result<()> {
        let mut threads = self.threads.lock();
        if threads.closing {
            return Err(io::Error::other("the pool is shut down"));
        }
        let g = &self.counters.workers;
        if let Some(n) = self.cfg.fail_spawns_after
            && g.spawned.load(Ordering::Acquire) >= n
        {
            bump(&g.spawn_failures);
            return Err(io::Error::other("injected spawn failure"));
        }
        // Retired workers have ended: join them now so handles do not pile up.
        let (ended, running): (Vec<_>, Vec<_>) = mem::take(&mut threads.workers)
            .into_iter()
            .partition(|w| w.slot.exited.load(Ordering::Acquire));
        threads.workers = running;
        let slot = Arc::new(WorkerSlot::default());
        let exit = self.exits.enter();
        let mut builder = threads::Builder::new(&self.name);
        if let Some(bytes) = self.cfg.stack_size {
            builder = builder.stack_size(bytes);
        }
        let (shared, worker_slot) = (Arc::clone(self), Arc::clone(&slot));
        self.stats.lock().push(Arc::clone(&slot));
        match builder.spawn(move || worker_main(shared, worker_slot, exit)) {
            Ok(handle) => {
                threads.workers.push(WorkerEntry { handle, slot });
                bump(&g.spawned);
                let live = g.live.load(Ordering::Acquire);
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
                Err(e)
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

/// Why a worker left its loop.
#[derive(PartialEq, Eq)]
enum Exit {
    /// The queue is closed and drained.
    Closed,
    /// `shutdown_now` cancelled the root.
    Cancelled,
    /// An extra worker reached its keep-alive; its `live` slot is already released.
    Retired,
}

fn worker_main(shared: Arc<Shared>, slot: Arc<WorkerSlot>, exit: Guard) {
    let _ = CURRENT_POOL.try_with(|c| c.set(shared.id));
    let name = std::thread::current().name().unwrap_or("").to_owned();
    shared.call_hook(&shared.cfg.on_start, &name);
    let why = run_loop(&shared, &slot);
    if why != Exit::Retired {
        shared.counters.workers.live.fetch_sub(1, Ordering::AcqRel);
    }
    shared.retire_stats(&slot);
    shared.call_hook(&shared.cfg.on_exit, &name);
    slot.exited.store(true, Ordering::Release);
    drop(exit);
}

fn run_loop(shared: &Shared, slot: &WorkerSlot) -> Exit {
    let c = &shared.counters;
    let w = &*slot.work;
    // The end of the previous task doubles as the start of the next when no parking happened
    // in between: one clock read per task on the hot path.
    let mut last = Instant::now();
    // Each task gets a child of the root. After a task, the same child is reused if nothing
    // else ever saw it (no clone, child, callback or `done()` receiver, not cancelled): then
    // it is indistinguishable from a fresh one, and the common task costs no allocation here.
    let mut ctx = shared.root.child();
    loop {
        let (task, start) = match next_task(shared) {
            Some(Ok(task)) => (task, last),
            Some(Err(exit)) => return exit,
            None => match park(shared) {
                Ok(task) => (task, Instant::now()),
                Err(exit) => return exit,
            },
        };
        if let Some(room) = &shared.room {
            room.task_taken(|| shared.rx.len());
        }
        if shared.root.is_cancelled() {
            // shutdown_now hands it back to the caller instead.
            shared.returned.lock().push(task);
            return Exit::Cancelled;
        }
        bump(&w.dequeued);
        add_duration(
            &w.queue_wait_ns,
            start.saturating_duration_since(task.enqueued_at()),
        );
        let since = start.saturating_duration_since(shared.epoch).as_nanos() as u64;
        slot.busy_since.store(since + 1, Ordering::Release);
        let named = task.name().is_some();
        if let Some(name) = task.name() {
            *slot.task_name.lock() = Some(name.into());
        }
        let end = Cell::new(start);
        let on_end = |outcome: Outcome, panicked: Option<&Panicked>| {
            // Counted before the handle sees the result, so a joiner's next `metrics()`
            // already includes this task.
            let now = Instant::now();
            end.set(now);
            add_duration(&w.run_ns, now.saturating_duration_since(start));
            match outcome {
                Outcome::Completed => bump(&w.completed),
                Outcome::Panicked => bump(&w.panicked),
                Outcome::Skipped => {}
            }
            if let (Some(p), Some(handler)) = (panicked, &shared.cfg.panic_handler)
                && Panicked::catch(|| handler(p)).is_err()
            {
                bump(&c.workers.hook_panics);
            }
        };
        // The task's last reference may drop in `run` (a detached result: user code), and a
        // replaced context drops the task's leftover callbacks (user code too): a panic there
        // must not take the worker down.
        match Panicked::catch(|| task.run(&ctx, &on_end)) {
            Ok(Outcome::Skipped) => bump(&w.cancelled_before_start),
            Ok(_) => {}
            Err(_) => bump(&c.workers.hook_panics),
        }
        if Panicked::catch(|| {
            if !ctx.is_reusable() {
                ctx = shared.root.child();
            }
        })
        .is_err()
        {
            bump(&c.workers.hook_panics);
        }
        slot.busy_since.store(0, Ordering::Release);
        if named {
            *slot.task_name.lock() = None;
        }
        last = end.get();
    }
}

/// The hot path: a task already queued, without touching the idle bookkeeping. `None`: the
/// queue is empty, park.
fn next_task(shared: &Shared) -> Option<Result<QueuedTask, Exit>> {
    match shared.rx.try_recv() {
        Ok(task) => Some(Ok(task)),
        Err(TryRecvError::Disconnected) => Some(Err(Exit::Closed)),
        Err(TryRecvError::Empty) => None,
    }
}

/// Waits for a task; `Err` means the worker should leave.
///
/// Idle bookkeeping (dynamic pools): a parked worker adds itself to `idle`. A submitter that
/// queues a task *claims* an idle worker (`idle -= 1`, `notified += 1`) or, finding none,
/// grows the pool. A worker leaving `select!` consumes a claim if there is one, else removes
/// itself from `idle`. So `idle + notified` equals the parked workers, `idle` never
/// underflows, and a worker that was woken but has not yet left `select!` is not counted as
/// idle twice (which would stop the pool from growing).
fn park(shared: &Shared) -> Result<QueuedTask, Exit> {
    let g = &shared.counters.workers;
    loop {
        g.idle.fetch_add(1, Ordering::AcqRel);
        let extra = shared
            .cfg
            .keep_alive
            .filter(|_| g.live.load(Ordering::Acquire) > shared.cfg.min);
        // Plain `recv` rather than a `select!` with the root's `done()`: `shutdown_now` always
        // closes the queue right after cancelling the root, which wakes this receive too, and
        // crossbeam's `recv` spins briefly before parking where `select!` parks at once.
        let got = match extra {
            Some(keep_alive) => match shared.rx.recv_timeout(keep_alive) {
                Ok(task) => Some(Ok(task)),
                Err(RecvTimeoutError::Disconnected) => Some(Err(Exit::Closed)),
                Err(RecvTimeoutError::Timeout) => None,
            },
            None => Some(shared.rx.recv().map_err(|_| Exit::Closed)),
        };
        let claimed = g
            .notified
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !claimed {
            g.idle.fetch_sub(1, Ordering::AcqRel);
        }
        match got {
            Some(result) => return result,
            // A submitter counted on this worker: look for its task instead of retiring.
            None if claimed => match shared.rx.try_recv() {
                Ok(task) => return Ok(task),
                Err(TryRecvError::Disconnected) => return Err(Exit::Closed),
                Err(TryRecvError::Empty) => {}
            },
            None => {
                let retired = g
                    .live
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                        (l > shared.cfg.min).then(|| l - 1)
                    })
                    .is_ok();
                if retired {
                    bump(&g.retired);
                    return Err(Exit::Retired);
                }
            }
        }
    }
}
