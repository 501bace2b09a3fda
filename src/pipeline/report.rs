//! What a run did, per stage: [`Report`] and [`StageReport`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::context::Cause;

/// Live counters of one stage, shared by its workers. Workers add whole chunks at a time, so
/// the atomics are touched about once per chunk, not per item. Aligned to its own cache lines,
/// so neighbouring stages (on different threads) never write to the same line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct StageStats {
    pub(crate) name: String,
    pub(crate) workers: usize,
    items_in: AtomicU64,
    items_out: AtomicU64,
    filtered: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    /// Sum over the stage's threads of their lifetimes.
    alive_ns: AtomicU64,
    send_wait_ns: AtomicU64,
    recv_wait_ns: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl StageStats {
    pub(crate) fn new(name: String, workers: usize) -> Self {
        StageStats {
            name,
            workers,
            ..StageStats::default()
        }
    }
    #[inline]
    pub(crate) fn add_in(&self, n: usize) {
        self.items_in.fetch_add(n as u64, Relaxed);
    }
    #[inline]
    pub(crate) fn add_out(&self, n: usize) {
        self.items_out.fetch_add(n as u64, Relaxed);
    }
    #[inline]
    pub(crate) fn add_filtered(&self, n: usize) {
        if n > 0 {
            self.filtered.fetch_add(n as u64, Relaxed);
        }
    }
    #[inline]
    pub(crate) fn add_errors(&self, n: usize) {
        self.errors.fetch_add(n as u64, Relaxed);
    }
    #[inline]
    pub(crate) fn add_dropped(&self, n: usize) {
        if n > 0 {
            self.dropped.fetch_add(n as u64, Relaxed);
        }
    }
    pub(crate) fn add_alive(&self, d: Duration) {
        self.alive_ns.fetch_add(nanos(d), Relaxed);
    }
    pub(crate) fn add_send_wait(&self, d: Duration) {
        self.send_wait_ns.fetch_add(nanos(d), Relaxed);
    }
    pub(crate) fn add_recv_wait(&self, d: Duration) {
        self.recv_wait_ns.fetch_add(nanos(d), Relaxed);
    }
    #[cfg_attr(not(feature = "progress"), allow(dead_code))]
    pub(crate) fn items_out(&self) -> u64 {
        self.items_out.load(Relaxed)
    }

    pub(crate) fn snapshot(&self) -> StageReport {
        let alive = self.alive_ns.load(Relaxed);
        let send = self.send_wait_ns.load(Relaxed);
        let recv = self.recv_wait_ns.load(Relaxed);
        StageReport {
            name: self.name.clone(),
            workers: self.workers,
            items_in: self.items_in.load(Relaxed),
            items_out: self.items_out.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            errors: self.errors.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            busy: Duration::from_nanos(alive.saturating_sub(send).saturating_sub(recv)),
            blocked_send: Duration::from_nanos(send),
            blocked_recv: Duration::from_nanos(recv),
        }
    }
}

/// What one stage did during a run. The first stage is the source (`"source"`), the last the
/// consumer (`"sink"`: your `for_each`, `collect` or iterator).
///
/// For every stage, `items_in = items_out + filtered + errors + dropped` when each input makes
/// at most one output (map, filter, try_map, inspect); `flat_map` and `batch` change the count.
/// Items left in a link when the run stops count as dropped by the stage that would have
/// received them.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let report = Pipeline::from_iter(&ctx, 0..100u32)
///     .filter(2, |x| x % 2 == 0)
///     .named("evens")
///     .for_each(|_| {})
///     .unwrap()
///     .into_report();
/// let evens = report.stage("evens").unwrap();
/// assert_eq!((evens.items_in, evens.items_out, evens.filtered), (100, 50, 50));
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name (`.named(..)`, or its kind and position such as `"map-1"`).
    pub name: String,
    /// Its worker threads.
    pub workers: usize,
    /// Items it received.
    pub items_in: u64,
    /// Items it passed on.
    pub items_out: u64,
    /// Items its predicate rejected (`filter`).
    pub filtered: u64,
    /// Items its function failed on (`try_map`), whatever the error policy.
    pub errors: u64,
    /// Items it held or was about to receive when the run stopped early.
    pub dropped: u64,
    /// Time its workers spent working (summed over workers): alive minus blocked.
    pub busy: Duration,
    /// Time its workers were blocked sending: the stage after it was slower.
    pub blocked_send: Duration,
    /// Time its workers were blocked receiving: the stage before it was slower.
    pub blocked_recv: Duration,
}

impl StageReport {
    /// Busy time per worker: the stage with the largest one limits the pipeline's throughput.
    pub fn busy_per_worker(&self) -> Duration {
        self.busy / u32::try_from(self.workers.max(1)).unwrap_or(u32::MAX)
    }
}

/// The report of one pipeline run: every stage's counts and times, how long it took, and
/// whether it was cancelled.
///
/// `Display` prints a table, one row per stage, with times per worker: `busy/w` (working),
/// `send/w` (blocked sending: the next stage is slower), `recv/w` (blocked receiving: the
/// previous stage is slower). Times are wall-clock, so on a machine with more runnable threads
/// than cores they include time spent waiting for a core.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let (_, outcome) = Pipeline::from_iter(&ctx, 0..1000u64)
///     .map(2, |x| { std::thread::sleep(Duration::from_micros(20)); x })
///     .named("slow")
///     .map(1, |x| x + 1)
///     .collect()
///     .unwrap();
/// let report = outcome.report();
/// assert_eq!(report.items_delivered(), 1000);
/// assert!(report.cancelled().is_none());
/// assert_eq!(report.bottleneck().unwrap().name, "slow");
/// println!("{report}");
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) stages: Vec<StageReport>,
    pub(crate) elapsed: Duration,
    pub(crate) cancelled: Option<Cause>,
    pub(crate) intake_stopped: bool,
}

impl Report {
    /// Every stage, source first and consumer (`"sink"`) last.
    pub fn stages(&self) -> &[StageReport] {
        &self.stages
    }

    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Wall-clock time of the run.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Why the run was cancelled (by your context, a failing stage, a panic, or the consumer
    /// stopping early), or `None` if it ran to its end.
    pub fn cancelled(&self) -> Option<&Cause> {
        self.cancelled.as_ref()
    }

    /// Whether the source stopped taking input because the context given to
    /// [`stop_intake_on`](crate::pipeline::Pipeline::stop_intake_on) was cancelled (a graceful stop:
    /// everything already read was processed).
    pub fn intake_stopped(&self) -> bool {
        self.intake_stopped
    }

    /// Items the source produced.
    pub fn items_read(&self) -> u64 {
        self.stages.first().map_or(0, |s| s.items_out)
    }

    /// Items the consumer received.
    pub fn items_delivered(&self) -> u64 {
        self.stages.last().map_or(0, |s| s.items_in)
    }

    /// Items dropped because the run stopped early, over all stages.
    pub fn dropped(&self) -> u64 {
        self.stages.iter().map(|s| s.dropped).sum()
    }

    /// Items the source produced per second of the run.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.items_read() as f64 / secs
        } else {
            0.0
        }
    }

    /// The stage that limits throughput: the one with the most busy time per worker (the
    /// consumer included). `None` if nothing was busy.
    pub fn bottleneck(&self) -> Option<&StageReport> {
        self.stages
            .iter()
            .filter(|s| !s.busy.is_zero())
            .max_by_key(|s| s.busy_per_worker())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>3} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}",
            "stage",
            "w",
            "in",
            "out",
            "filtered",
            "errors",
            "dropped",
            "busy/w",
            "send/w",
            "recv/w"
        )?;
        for s in &self.stages {
            // Times per worker, so stages with different worker counts compare.
            let ms =
                |d: Duration| format!("{:.0}ms", d.as_secs_f64() * 1e3 / s.workers.max(1) as f64);
            writeln!(
                f,
                "{:<12} {:>3} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}",
                s.name,
                s.workers,
                s.items_in,
                s.items_out,
                s.filtered,
                s.errors,
                s.dropped,
                ms(s.busy),
                ms(s.blocked_send),
                ms(s.blocked_recv)
            )?;
        }
        write!(f, "elapsed {:.0}ms", self.elapsed.as_secs_f64() * 1e3)?;
        if let Some(b) = self.bottleneck() {
            write!(f, ", bottleneck: {}", b.name)?;
        }
        if let Some(cause) = &self.cancelled {
            write!(f, ", cancelled: {cause}")?;
        }
        if self.intake_stopped {
            write!(f, ", intake stopped early")?;
        }
        Ok(())
    }
}
