//! The pool's counters and the [`Metrics`] snapshot.
//!
//! # Why a snapshot is consistent without a lock
//!
//! Every counter only grows. Each task moves through them in one causal order, each step
//! happening-before the next (through the queue's hand-off or program order):
//! `submitted → (rejected_*) | dequeued → completed | panicked | cancelled | returned`.
//! A snapshot reads them in the *reverse* order with `Acquire` (writers use `Release`), so a
//! later step it counts always has its earlier steps counted too. Hence every derived figure
//! (`accepted`, `queued`, `running`) is non-negative and the conservation identity
//! `accepted == completed + panicked + cancelled_before_start + returned_by_shutdown_now +
//! discarded + running + queued` holds exactly in every snapshot, while the pool is busy or not.
//!
//! Submitter-side and worker-side counters live on separate cache lines, so submitters and
//! workers do not contend on them.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

/// Set in `SubmitCounters::submitted` once the pool stops accepting.
pub(crate) const CLOSED: u64 = 1 << 63;

/// Counters written by submitters.
pub(crate) struct SubmitCounters {
    /// Every submit call, counted as it starts, plus the `CLOSED` bit.
    pub(crate) submitted: AtomicU64,
    /// Submit calls counted before the pool closed that have finished (accepted or rejected):
    /// closing waits until all of them have, so nothing is queued after the pool closed.
    pub(crate) settled: AtomicU64,
    /// How many submits were counted when the pool closed (`u64::MAX` until then).
    pub(crate) closed_at: AtomicU64,
    pub(crate) rejected_full: AtomicU64,
    pub(crate) rejected_closed: AtomicU64,
    pub(crate) rejected_timeout: AtomicU64,
    pub(crate) rejected_cancelled: AtomicU64,
    /// Of `rejected_full`: tasks the submitter ran itself (`WhenFull::CallerRuns`).
    pub(crate) ran_by_caller: AtomicU64,
    pub(crate) queue_high_water: AtomicUsize,
}

impl Default for SubmitCounters {
    fn default() -> Self {
        SubmitCounters {
            submitted: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            closed_at: AtomicU64::new(u64::MAX),
            rejected_full: AtomicU64::new(0),
            rejected_closed: AtomicU64::new(0),
            rejected_timeout: AtomicU64::new(0),
            rejected_cancelled: AtomicU64::new(0),
            ran_by_caller: AtomicU64::new(0),
            queue_high_water: AtomicUsize::new(0),
        }
    }
}

/// Counters written by one worker (each has its own, so workers never contend on them), or by
/// `shutdown_now` for what it drains (the pool's own set, which also absorbs exited workers').
#[derive(Default)]
pub(crate) struct WorkCounters {
    pub(crate) dequeued: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) cancelled_before_start: AtomicU64,
    pub(crate) returned: AtomicU64,
    /// Displaced by a newer task (`WhenFull::DiscardOldest`).
    pub(crate) discarded: AtomicU64,
    pub(crate) queue_wait_ns: AtomicU64,
    pub(crate) run_ns: AtomicU64,
}

/// Worker gauges and rare events (how many workers are live and idle is the executor core's
/// crew word).
#[derive(Default)]
pub(crate) struct WorkerGauges {
    pub(crate) peak: AtomicUsize,
    pub(crate) spawned: AtomicU64,
    pub(crate) retired: AtomicU64,
    pub(crate) spawn_failures: AtomicU64,
    pub(crate) hook_panics: AtomicU64,
}

impl WorkCounters {
    /// Adds these counts to `into` (a worker leaving, under the stats lock).
    pub(crate) fn fold_into(&self, into: &WorkCounters) {
        for (from, to) in self.fields().into_iter().zip(into.fields()) {
            to.fetch_add(from.load(Ordering::Acquire), Ordering::Release);
        }
    }

    fn fields(&self) -> [&AtomicU64; 8] {
        [
            &self.dequeued,
            &self.completed,
            &self.panicked,
            &self.cancelled_before_start,
            &self.returned,
            &self.discarded,
            &self.queue_wait_ns,
            &self.run_ns,
        ]
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) submit: CachePadded<SubmitCounters>,
    pub(crate) work: CachePadded<WorkCounters>,
    pub(crate) workers: CachePadded<WorkerGauges>,
}

/// How often a snapshot re-reads the counters to get a moment when no task ended.
const SNAPSHOT_TRIES: usize = 64;

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Release);
}

/// Adds to a counter that only the calling thread writes (a worker's own): a plain load and
/// store, where `fetch_add` would be a locked instruction per task.
#[inline]
pub(crate) fn add_own(counter: &AtomicU64, n: u64) {
    let now = counter.load(Ordering::Relaxed);
    counter.store(now.wrapping_add(n), Ordering::Release);
}

impl Counters {
    /// Records a queue length seen right after an enqueue.
    pub(crate) fn saw_queue_len(&self, len: usize) {
        let hw = &self.submit.queue_high_water;
        // A plain load first: the high-water mark rarely moves, so most submits only read it.
        if len > hw.load(Ordering::Relaxed) {
            hw.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// `workers`: the live workers' own counters (the caller holds the stats lock, so no
    /// worker folds its counters into the pool's while this reads).
    pub(crate) fn snapshot(
        &self,
        queue_len: usize,
        live: usize,
        idle: usize,
        workers: &[&WorkCounters],
    ) -> Metrics {
        let load = |c: &AtomicU64| c.load(Ordering::Acquire);
        let s = &self.submit;
        let sum = |field: fn(&WorkCounters) -> &AtomicU64| -> u64 {
            load(field(&self.work)) + workers.iter().map(|w| load(field(w))).sum::<u64>()
        };
        // Reverse causal order: terminal counters, then dequeued, then rejections, then
        // submitted (see the module docs). The terminal counters are read again right after
        // `dequeued`: if none moved, `running` is exact at that instant (not inflated by tasks
        // that ended while we were reading); retried a bounded number of times.
        let terminal = || {
            [
                sum(|w| &w.completed),
                sum(|w| &w.panicked),
                sum(|w| &w.cancelled_before_start),
                sum(|w| &w.returned),
                sum(|w| &w.discarded),
            ]
        };
        let (mut ends, mut dequeued) = (terminal(), 0);
        for _ in 0..SNAPSHOT_TRIES {
            dequeued = sum(|w| &w.dequeued);
            let again = terminal();
            if again == ends {
                break;
            }
            ends = again;
            // `ends` was read after the previous `dequeued`, so read `dequeued` again.
            dequeued = dequeued.max(sum(|w| &w.dequeued));
        }
        let [
            completed,
            panicked,
            cancelled_before_start,
            returned_by_shutdown_now,
            discarded,
        ] = ends;
        let rejected_full = load(&s.rejected_full);
        let rejected_closed = load(&s.rejected_closed);
        let rejected_timeout = load(&s.rejected_timeout);
        let rejected_cancelled = load(&s.rejected_cancelled);
        let submitted = load(&s.submitted) & !CLOSED;
        let rejected = rejected_full + rejected_closed + rejected_timeout + rejected_cancelled;
        let accepted = submitted - rejected;
        let ended =
            completed + panicked + cancelled_before_start + returned_by_shutdown_now + discarded;
        let g = &self.workers;
        let idle = idle.min(live);
        Metrics {
            workers_live: live,
            workers_idle: idle,
            workers_busy: live - idle,
            workers_peak: g.peak.load(Ordering::Acquire),
            workers_spawned: load(&g.spawned),
            workers_retired: load(&g.retired),
            spawn_failures: load(&g.spawn_failures),
            hook_panics: load(&g.hook_panics),
            queue_len,
            queue_high_water: s.queue_high_water.load(Ordering::Relaxed),
            submitted,
            accepted,
            rejected_full,
            rejected_closed,
            rejected_timeout,
            rejected_cancelled,
            queued: accepted - dequeued,
            running: dequeued - ended,
            completed,
            panicked,
            cancelled_before_start,
            returned_by_shutdown_now,
            discarded,
            ran_by_caller: load(&s.ran_by_caller),
            total_queue_wait: Duration::from_nanos(sum(|w| &w.queue_wait_ns)),
            total_run_time: Duration::from_nanos(sum(|w| &w.run_ns)),
            queue_wait_histogram: None,
            run_time_histogram: None,
        }
    }
}

/// A snapshot of a pool's counters and gauges, from [`Pool::metrics`](super::Pool::metrics).
///
/// Task counters only grow. They obey the conservation identity, in every snapshot:
///
/// `accepted == completed + panicked + cancelled_before_start + returned_by_shutdown_now + discarded + running + queued`
///
/// where `accepted = submitted - rejected_*`. `queued` counts accepted tasks no worker has taken
/// yet, *including* tasks whose `submit` call is still waiting for room (they may yet be
/// rejected, which moves them to `rejected_*`); `queue_len` is the queue's own length.
/// A task cancelled through its handle while queued is counted in `cancelled_before_start` when
/// a worker (or `shutdown_now`) takes it off the queue. Times are summed over all tasks.
///
/// # Examples
///
/// ```
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder().workers(2).build().unwrap();
/// for i in 0..10u32 {
///     let _detached = pool.submit(move |_| i);
/// }
/// let report = pool.shutdown();
/// let m = report.metrics();
/// assert_eq!(m.completed, 10);
/// assert!(m.is_conserved());
/// assert_eq!((m.queued, m.running), (0, 0));
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Metrics {
    /// Worker threads alive now.
    pub workers_live: usize,
    /// Workers waiting for a task.
    pub workers_idle: usize,
    /// Workers taking or running a task (`live - idle`).
    pub workers_busy: usize,
    /// The most workers ever alive at once.
    pub workers_peak: usize,
    /// Workers started since the pool was built (the first ones included).
    pub workers_spawned: u64,
    /// Extra workers that retired after their keep-alive.
    pub workers_retired: u64,
    /// Workers that could not be started while growing (the submit still succeeded).
    pub spawn_failures: u64,
    /// Panics caught in `on_thread_start` / `on_thread_exit` hooks or in the panic handler.
    pub hook_panics: u64,
    /// Tasks in the queue now.
    pub queue_len: usize,
    /// The longest the queue was seen: sampled every 8th enqueue, whenever a submit found it
    /// full, and at each snapshot (so it may miss a short peak, never exceed the capacity).
    pub queue_high_water: usize,
    /// Every submit call (accepted or not).
    pub submitted: u64,
    /// `submitted` minus every rejection.
    pub accepted: u64,
    /// Rejected because the queue was full (`try_submit`, or a submit on one of the pool's workers).
    pub rejected_full: u64,
    /// Rejected because the pool was shut down.
    pub rejected_closed: u64,
    /// `submit_timeout` calls that ran out of time.
    pub rejected_timeout: u64,
    /// `submit_ctx` calls whose context was cancelled.
    pub rejected_cancelled: u64,
    /// Accepted tasks not yet taken by a worker (see the type's docs).
    pub queued: u64,
    /// Tasks a worker has taken and not finished.
    pub running: u64,
    /// Tasks that returned a value.
    pub completed: u64,
    /// Tasks that panicked.
    pub panicked: u64,
    /// Tasks cancelled through their handle before they started.
    pub cancelled_before_start: u64,
    /// Tasks handed back by `shutdown_now`.
    pub returned_by_shutdown_now: u64,
    /// Queued tasks displaced by a newer one under
    /// [`WhenFull::DiscardOldest`](super::WhenFull::DiscardOldest) (handed to the
    /// `on_discard` hook, or dropped).
    pub discarded: u64,
    /// Of `rejected_full`: tasks the submitting thread ran itself under
    /// [`WhenFull::CallerRuns`](super::WhenFull::CallerRuns) (they never entered the pool).
    pub ran_by_caller: u64,
    /// Total time tasks spent in the queue before a worker took them. A submit is stamped from
    /// a clock the workers refresh as they finish tasks or wake (so a submit need not read the
    /// system clock); after a worker parks, the next submit reads the system clock and
    /// refreshes it for the submits after it. That clock may run up to 10 µs, or one running
    /// task, behind: a task's wait may then be counted that much longer. A worker running
    /// short tasks (under 20 µs) back to back reads the clock once per 16 of them, and takes
    /// each one's start to be that read: its wait may be counted up to 15 short tasks shorter.
    pub total_queue_wait: Duration,
    /// Total time workers spent running tasks: each stretch of tasks a worker ran back to
    /// back, counted as the stretch ends or (short tasks) once per 16 tasks.
    pub total_run_time: Duration,
    /// Every task's queue wait in power-of-two buckets (`p50`, `p99`), when the pool was
    /// built with [`histograms(true)`](super::Builder::histograms); read just after the
    /// counters above, so it may include a task or two they do not.
    pub queue_wait_histogram: Option<super::Histogram>,
    /// Every task's run time, likewise (tasks that never started are not in it).
    pub run_time_histogram: Option<super::Histogram>,
}

impl Metrics {
    /// Whether the conservation identity holds (it always should; tests assert it).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let handles: Vec<_> = (0..20u32).map(|i| pool.submit(move |_| i).unwrap()).collect();
    /// assert!(pool.metrics().is_conserved()); // in every snapshot, even mid-run
    /// handles.into_iter().for_each(|h| { h.join().unwrap(); });
    /// let m = pool.shutdown().metrics().clone();
    /// assert!(m.is_conserved());
    /// assert_eq!((m.accepted, m.completed), (20, 20));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_conserved(&self) -> bool {
        self.accepted
            == self.completed
                + self.panicked
                + self.cancelled_before_start
                + self.returned_by_shutdown_now
                + self.discarded
                + self.running
                + self.queued
            && self.submitted
                == self.accepted
                    + self.rejected_full
                    + self.rejected_closed
                    + self.rejected_timeout
                    + self.rejected_cancelled
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "workers {} live ({} idle, peak {}), queue {} (high-water {}); tasks: {} accepted, {} completed, {} panicked, {} cancelled, {} returned, {} discarded, {} running, {} queued; rejected: {} full, {} closed, {} timeout, {} cancelled; queue wait {:?}, run time {:?}",
            self.workers_live,
            self.workers_idle,
            self.workers_peak,
            self.queue_len,
            self.queue_high_water,
            self.accepted,
            self.completed,
            self.panicked,
            self.cancelled_before_start,
            self.returned_by_shutdown_now,
            self.discarded,
            self.running,
            self.queued,
            self.rejected_full,
            self.rejected_closed,
            self.rejected_timeout,
            self.rejected_cancelled,
            self.total_queue_wait,
            self.total_run_time,
        )
    }
}
