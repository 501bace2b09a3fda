//! What a run did, per stage: [`Report`] and [`StageReport`].

use std::fmt;
use std::sync::OnceLock;
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
    /// The stage (index, name) whose workers run this one (fusion).
    fused_into: OnceLock<(usize, String)>,
    items_in: AtomicU64,
    items_out: AtomicU64,
    filtered: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    /// Sum over the stage's threads of their lifetimes.
    alive_ns: AtomicU64,
    /// A fused stage's own share of its group's time (the sum of its timed calls).
    own_busy_ns: AtomicU64,
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
    /// Records that this stage runs in the workers of stage `index`, called `name`.
    pub(crate) fn fuse_into(&self, index: usize, name: String) {
        let _ = self.fused_into.set((index, name));
    }

    /// The stage whose workers run this one, if fused.
    pub(crate) fn leader(&self) -> Option<usize> {
        self.fused_into.get().map(|(index, _)| *index)
    }
    #[inline]
    pub(crate) fn add_in(&self, n: usize) {
        self.add_in_u64(n as u64);
    }
    #[inline]
    pub(crate) fn add_in_u64(&self, n: u64) {
        if n > 0 {
            self.items_in.fetch_add(n, Relaxed);
        }
    }
    #[inline]
    pub(crate) fn add_out(&self, n: usize) {
        self.add_out_u64(n as u64);
    }
    #[inline]
    pub(crate) fn add_out_u64(&self, n: u64) {
        if n > 0 {
            self.items_out.fetch_add(n, Relaxed);
        }
    }
    #[inline]
    pub(crate) fn add_filtered_u64(&self, n: u64) {
        if n > 0 {
            self.filtered.fetch_add(n, Relaxed);
        }
    }
    #[inline]
    pub(crate) fn add_errors_u64(&self, n: u64) {
        if n > 0 {
            self.errors.fetch_add(n, Relaxed);
        }
    }
    #[inline]
    pub(crate) fn add_dropped(&self, n: usize) {
        if n > 0 {
            self.dropped.fetch_add(n as u64, Relaxed);
        }
    }
    pub(crate) fn add_own_busy(&self, d: Duration) {
        self.own_busy_ns.fetch_add(nanos(d), Relaxed);
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
        let fused_into = self.fused_into.get().map(|(_, name)| name.clone());
        // A fused stage's busy time is its own share; its group's first stage gets the rest
        // (see `Runtime::finish`).
        let busy = match fused_into {
            Some(_) => self.own_busy_ns.load(Relaxed),
            None => alive.saturating_sub(send).saturating_sub(recv),
        };
        StageReport {
            name: self.name.clone(),
            workers: self.workers,
            fused_into,
            items_in: self.items_in.load(Relaxed),
            items_out: self.items_out.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            errors: self.errors.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            busy: Duration::from_nanos(busy),
            blocked_send: Duration::from_nanos(send),
            blocked_recv: Duration::from_nanos(recv),
        }
    }
}

/// What one stage did during a run. The first stage is the source (`"source"`), the last the
/// consumer (`"sink"`: your `for_each`, `collect` or iterator).
///
/// For every stage that makes at most one output per input (map, filter, try_map, inspect),
/// `items_in = items_out + filtered + errors + dropped`, and `items_in` is what the stage before
/// it passed on: nothing is lost without a count. Items left in a link when the run stops count
/// as received and dropped by the stage they were sent to. `flat_map` and `batch` change the
/// count (after `batch`, stages count batches).
///
/// Stages fused into one loop ([`fused_into`](StageReport::fused_into)) keep their own counts
/// and their own share of the busy time; the group's blocked times are reported on its first
/// stage.
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
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name (`.named(..)`, or its kind and position such as `"map-1"`).
    pub name: String,
    /// Its worker threads.
    pub workers: usize,
    /// The stage whose workers ran this one, when it was fused with the stages before it. Its
    /// `busy` is then its own share of those workers' time (the time of its calls), and its
    /// blocked times are zero: the workers block on that stage's links.
    pub fused_into: Option<String>,
    /// Items it received.
    pub items_in: u64,
    /// Items it passed on (for the sink: handed to your code).
    pub items_out: u64,
    /// Items its predicate rejected (`filter`).
    pub filtered: u64,
    /// Items its function failed on (`try_map`), whatever the error policy.
    pub errors: u64,
    /// Items it received but did not finish because the run stopped early.
    pub dropped: u64,
    /// Time its workers spent working (summed over workers): alive minus blocked.
    pub busy: Duration,
    /// Time its workers were blocked sending: the stage after it was slower.
    pub blocked_send: Duration,
    /// Time its workers were blocked receiving: the stage before it was slower.
    pub blocked_recv: Duration,
}

impl StageReport {
    /// Busy time per worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), 0..20u32)
    ///     .map(2, |x| { std::thread::sleep(Duration::from_millis(1)); x })
    ///     .named("slow")
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// let slow = report.stage("slow").unwrap();
    /// assert_eq!(slow.busy_per_worker(), slow.busy / 2);
    /// assert!(slow.busy >= Duration::from_millis(20)); // 20 items of 1 ms, over both workers
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn busy_per_worker(&self) -> Duration {
        self.busy / u32::try_from(self.workers.max(1)).unwrap_or(u32::MAX)
    }
}

/// A stage is the bottleneck only if its workers were busy at least this share of the run.
const SATURATED: f64 = 0.5;

/// The report of one pipeline run: every stage's counts and times, how long it took, and
/// whether it was cancelled.
///
/// `Display` prints a table, one row per stage; the alternate form (`{:#}`) adds one line per
/// column explaining it, and the reasoning behind the bottleneck:
///
/// * `busy/w`: time a worker spent working; `util`: that, divided by the run's wall time. A
///   stage near 100% is saturated: it limits the throughput, and the others wait on it.
/// * `send/w`: time a worker was blocked sending (the next stage was slower); `recv/w`:
///   blocked waiting for input (the previous stage was slower).
///
/// Times are wall-clock, so on a machine with more runnable threads than cores they include
/// time spent waiting for a core.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let (_, outcome) = Pipeline::from_iter(&ctx, 0..1000u64)
///     .map(2, |x| { std::thread::sleep(Duration::from_micros(200)); x })
///     .named("slow")
///     .map(1, |x| x + 1)
///     .collect()
///     .unwrap();
/// let report = outcome.report();
/// assert_eq!(report.items_delivered(), 1000);
/// assert!(report.cancelled().is_none());
/// assert_eq!(report.bottleneck().unwrap().name, "slow");
/// println!("{report:#}");
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    pub(crate) stages: Vec<StageReport>,
    pub(crate) elapsed: Duration,
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::observe_serde::opt_display")
    )]
    pub(crate) cancelled: Option<Cause>,
    pub(crate) intake_stopped: bool,
}

impl Report {
    /// Every stage, source first and consumer (`"sink"`) last.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), 0..10u32)
    ///     .map(1, |x| x + 1)
    ///     .named("inc")
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// let names: Vec<&str> = report.stages().iter().map(|s| s.name.as_str()).collect();
    /// assert_eq!(names, ["source", "inc", "sink"]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stages(&self) -> &[StageReport] {
        &self.stages
    }

    /// The stage called `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), 0..10u32)
    ///     .filter(1, |x| *x > 2)
    ///     .named("big")
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// assert_eq!(report.stage("big").unwrap().items_out, 7);
    /// assert!(report.stage("no such stage").is_none());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Wall-clock time of the run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let began = Instant::now();
    /// let report = Pipeline::from_iter(&Context::new(), 0..100u32)
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// assert!(report.elapsed() <= began.elapsed());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Why the run was cancelled (by your context, a failing stage, a panic, or the consumer
    /// stopping early), or `None` if it ran to its end.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ran = Pipeline::from_iter(&Context::new(), 0..10u32).for_each(|_| {}).unwrap();
    /// assert!(ran.report().cancelled().is_none()); // ran to its end
    ///
    /// let ctx = Context::new();
    /// let err = Pipeline::from_iter(&ctx, 0..u32::MAX)
    ///     .for_each(|x| if x == 10 { ctx.cancel(); })
    ///     .unwrap_err();
    /// assert!(err.report().cancelled().is_some());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn cancelled(&self) -> Option<&Cause> {
        self.cancelled.as_ref()
    }

    /// Whether the source stopped taking input because the context given to
    /// [`stop_intake_on`](crate::pipeline::Pipeline::stop_intake_on) was cancelled (a graceful stop:
    /// everything already read was processed).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let stop = Context::new();
    /// let outcome = Pipeline::from_iter(&Context::new(), 0..u64::MAX)
    ///     .map(2, |x| x + 1)
    ///     .stop_intake_on(&stop)
    ///     .for_each(|x| if x == 100 { stop.cancel(); }) // e.g. on SIGTERM
    ///     .unwrap(); // a graceful stop is a normal end
    /// let report = outcome.report();
    /// assert!(report.intake_stopped());
    /// assert_eq!(report.items_read(), report.items_delivered()); // everything read got through
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn intake_stopped(&self) -> bool {
        self.intake_stopped
    }

    /// Items the source took from its input (your iterator or receiver, the lines of a file),
    /// whether or not it got to pass them on: after an early stop, what it read but had not
    /// sent yet is among its [`dropped`](StageReport::dropped) items. So the books balance in
    /// every run whose stages make at most one output per input (all but `flat_map` and
    /// `batch`): `items_read = items_delivered + filtered + errors + dropped`, the last three
    /// summed over the stages.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), ["a", "", "b"])
    ///     .filter(1, |s| !s.is_empty())
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// assert_eq!(report.items_read(), 3);
    ///
    /// // Stopped early: what was read but not delivered was filtered or dropped somewhere.
    /// let mut iter = Pipeline::from_iter(&Context::new(), 0..u64::MAX)
    ///     .filter(2, |x| x % 3 != 0)
    ///     .into_iter();
    /// assert!(iter.next().is_some());
    /// let report = iter.finish().unwrap().into_report();
    /// let lost: u64 = report.stages().iter().map(|s| s.filtered + s.errors + s.dropped).sum();
    /// assert_eq!(report.items_read(), report.items_delivered() + lost);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn items_read(&self) -> u64 {
        self.stages.first().map_or(0, |s| s.items_in)
    }

    /// Items handed to the consumer.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), ["a", "", "b"])
    ///     .filter(1, |s| !s.is_empty())
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// assert_eq!(report.items_delivered(), 2);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn items_delivered(&self) -> u64 {
        self.stages.last().map_or(0, |s| s.items_out)
    }

    /// Items dropped because the run stopped early, over all stages.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let full = Pipeline::from_iter(&Context::new(), 0..100u32).for_each(|_| {}).unwrap();
    /// assert_eq!(full.report().dropped(), 0);
    ///
    /// let mut iter = Pipeline::from_iter(&Context::new(), 0..u32::MAX).map(1, |x| x).into_iter();
    /// assert_eq!(iter.next(), Some(0)); // then stop early
    /// let report = iter.finish().unwrap().into_report();
    /// // Cut off by the early stop, items are counted as dropped where they were.
    /// let (map, sink) = (report.stage("map-1").unwrap(), report.stage("sink").unwrap());
    /// assert_eq!(map.items_in, map.items_out + map.dropped);
    /// assert_eq!(sink.items_in, map.items_out); // what the map passed on, the consumer got
    /// assert_eq!(sink.items_in, sink.items_out + sink.dropped);
    /// assert_eq!(report.dropped(), report.stages().iter().map(|s| s.dropped).sum::<u64>());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn dropped(&self) -> u64 {
        self.stages.iter().map(|s| s.dropped).sum()
    }

    /// Items the source produced per second of the run.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), 0..10_000u32)
    ///     .map(2, |x| x ^ 1)
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// let expected = report.items_read() as f64 / report.elapsed().as_secs_f64();
    /// assert!((report.throughput() - expected).abs() < 1e-6 * expected); // items read per second
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.items_read() as f64 / secs
        } else {
            0.0
        }
    }

    /// The share of the run's wall time that `stage`'s workers spent on it, per worker: 1.0
    /// means they never waited. For stages fused into one loop, each gets its own share of
    /// the workers' time (its calls, each timed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), 0..10u32)
    ///     .map(1, |x| { std::thread::sleep(Duration::from_millis(2)); x })
    ///     .named("sleepy")
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// let u = report.utilisation(report.stage("sleepy").unwrap());
    /// assert!(u > 0.0 && u.is_finite()); // near 1.0: it is what the others wait for
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn utilisation(&self, stage: &StageReport) -> f64 {
        let wall = self.elapsed.as_secs_f64();
        if wall > 0.0 {
            stage.busy_per_worker().as_secs_f64() / wall
        } else {
            0.0
        }
    }

    /// The share of the run's wall time that the workers running `stage` were busy: its own
    /// utilisation, or its fused group's (all the stages its workers run).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), 0..1_000u32)
    ///     .map(1, |x| x + 1)
    ///     .named("a")
    ///     .map(1, |x| x * 2)
    ///     .named("b") // fused with "a": one loop on the same worker
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// let (a, b) = (report.stage("a").unwrap(), report.stage("b").unwrap());
    /// assert_eq!(b.fused_into.as_deref(), Some("a"));
    /// assert_eq!(report.group_utilisation(a), report.group_utilisation(b)); // the group's share
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn group_utilisation(&self, stage: &StageReport) -> f64 {
        let leader = stage.fused_into.as_deref().unwrap_or(&stage.name);
        self.stages
            .iter()
            .filter(|s| s.name == leader || s.fused_into.as_deref() == Some(leader))
            .map(|s| self.utilisation(s))
            .sum()
    }

    /// The stage that limits throughput: in the group of workers busy the largest share of the
    /// run (a stage, or stages fused into one loop; the consumer included), the stage that took
    /// most of their time. `None` if nothing was busy.
    ///
    /// It limits throughput only if its workers were saturated: see
    /// [`group_utilisation`](Report::group_utilisation). The printed report (`{report:#}`) says
    /// "no bottleneck" when they were busy less than half the run: the stages then mostly
    /// waited for each other, or for a core.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), 0..20u32)
    ///     .map(2, |x| x + 1)
    ///     .named("cheap")
    ///     .map(1, |x| { std::thread::sleep(Duration::from_millis(2)); x })
    ///     .named("slow")
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// assert_eq!(report.bottleneck().unwrap().name, "slow");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn bottleneck(&self) -> Option<&StageReport> {
        let (leader, busy) = self
            .stages
            .iter()
            .filter(|s| s.fused_into.is_none())
            .map(|s| (s, self.group_utilisation(s)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        if busy <= 0.0 {
            return None;
        }
        self.stages
            .iter()
            .filter(|s| s.name == leader.name || s.fused_into.as_deref() == Some(&leader.name))
            .max_by_key(|s| s.busy)
    }

    /// The bottleneck, if its workers were busy at least half the run.
    fn saturated(&self) -> Option<&StageReport> {
        self.bottleneck()
            .filter(|b| self.group_utilisation(b) >= SATURATED)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>3} {:>10} {:>10} {:>8} {:>7} {:>7} {:>8} {:>5} {:>8} {:>8}",
            "stage",
            "w",
            "in",
            "out",
            "filtered",
            "errors",
            "dropped",
            "busy/w",
            "util",
            "send/w",
            "recv/w"
        )?;
        for s in &self.stages {
            // Times per worker, so stages with different worker counts compare.
            let ms =
                |d: Duration| format!("{:.0}ms", d.as_secs_f64() * 1e3 / s.workers.max(1) as f64);
            write!(
                f,
                "{:<12} {:>3} {:>10} {:>10} {:>8} {:>7} {:>7} {:>8} {:>4.0}%",
                s.name,
                s.workers,
                s.items_in,
                s.items_out,
                s.filtered,
                s.errors,
                s.dropped,
                ms(s.busy),
                self.utilisation(s) * 100.0,
            )?;
            match &s.fused_into {
                Some(leader) => writeln!(f, "  fused into {leader}")?,
                None => writeln!(f, " {:>8} {:>8}", ms(s.blocked_send), ms(s.blocked_recv))?,
            }
        }
        write!(f, "elapsed {:.0}ms", self.elapsed.as_secs_f64() * 1e3)?;
        match self.saturated() {
            Some(b) => write!(f, ", bottleneck: {}", b.name)?,
            None => write!(f, ", no bottleneck")?,
        }
        if let Some(cause) = &self.cancelled {
            write!(f, ", cancelled: {cause}")?;
        }
        if self.intake_stopped {
            write!(f, ", intake stopped early")?;
        }
        if f.alternate() {
            writeln!(f)?;
            self.explain(f)?;
        }
        Ok(())
    }
}

impl Report {
    /// The alternate form's legend and bottleneck reasoning.
    fn explain(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(f, "w         worker threads of the stage")?;
        writeln!(
            f,
            "in, out   items received, and passed on to the next stage"
        )?;
        writeln!(f, "filtered  items a filter rejected")?;
        writeln!(f, "errors    items a try_map failed on")?;
        writeln!(f, "dropped   items abandoned because the run stopped early")?;
        writeln!(f, "busy/w    time a worker spent working on the stage")?;
        writeln!(
            f,
            "util      busy/w divided by the run's wall time: near 100%, the stage's workers never rest"
        )?;
        writeln!(
            f,
            "send/w    time a worker waited to send: the stages after it were slower"
        )?;
        writeln!(
            f,
            "recv/w    time a worker waited for input: the stages before it were slower"
        )?;
        writeln!(
            f,
            "fused     stages run in the same loop by the same workers: their utilisations add up"
        )?;
        let groups: Vec<(&StageReport, f64)> = self
            .stages
            .iter()
            .filter(|s| s.fused_into.is_none())
            .map(|s| (s, self.group_utilisation(s)))
            .collect();
        let mut sorted = groups.clone();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
        let others = |skip: &str| {
            sorted
                .iter()
                .filter(|(s, _)| s.name != skip)
                .map(|(s, u)| format!("{} {:.0}%", s.name, u * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some((top, busy)) = sorted.first() else {
            return write!(f, "no bottleneck: nothing ran");
        };
        // The share is the whole group's: name the stages it adds up.
        let fused: Vec<&str> = self
            .stages
            .iter()
            .filter(|s| s.fused_into.as_deref() == Some(top.name.as_str()))
            .map(|s| s.name.as_str())
            .collect();
        let group = if fused.is_empty() {
            format!("{}'s workers", top.name)
        } else {
            format!(
                "the workers of {} (running {} fused with it)",
                top.name,
                fused.join(", ")
            )
        };
        match self.saturated() {
            Some(b) => write!(
                f,
                "bottleneck: {} - {group} were busy {:.0}% of the run, the most of any stage ({}), and {} took the largest share of that",
                b.name,
                busy * 100.0,
                others(&top.name),
                b.name,
            ),
            None => write!(
                f,
                "no bottleneck: the busiest, {group}, were busy {:.0}% of the run; the stages mostly waited for each other, or for a core",
                busy * 100.0
            ),
        }
    }
}
