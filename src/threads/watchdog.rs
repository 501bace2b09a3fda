//! The watchdog: tasks running longer than a threshold, and a thread count that keeps growing
//! (Go's "call `NumGoroutine` periodically, alert on a jump"), reported through a callback.
//!
//! A scan reads each registered thread's state word (the same relaxed load the dump makes): it
//! stops nothing and takes the registry lock only to copy the list. A task is told apart from
//! the next one on the same thread by its word (kind and start), so each stuck task is reported
//! once, however many scans see it, and a fast task is never seen running past the threshold.
//!
//! The watchdog's thread runs no user code: alerts go to homebound's callback runner (the
//! threads that run `after_cancel` callbacks), so a callback that blocks cannot stop the scans.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state;
use super::{JoinHandle, REGISTRY};
use crate::context::Context;

/// What the [`Watchdog`] reports.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads::Alert;
///
/// let alert = Alert::Growing { from: 4, to: 9, over: Duration::from_secs(3) };
/// assert_eq!(alert.to_string(), "thread count keeps growing: 4 -> 9 in 3s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Alert {
    /// A task has been running longer than the threshold (reported once per task).
    Stuck {
        /// The thread running it.
        thread: String,
        /// The thread's owner (pool, group, pipeline stage).
        owner: String,
        /// The task's name, if it has one.
        task: Option<Arc<str>>,
        /// How long it had been running when the scan saw it.
        running_for: Duration,
    },
    /// The number of registered threads rose at each of the last `samples` scans.
    Growing {
        /// The count when the rise began.
        from: usize,
        /// The count now.
        to: usize,
        /// Over how long.
        over: Duration,
    },
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Alert::Stuck {
                thread,
                owner,
                task,
                running_for,
            } => {
                match task {
                    Some(name) => write!(f, "task '{name}'")?,
                    None => f.write_str("a task")?,
                }
                write!(f, " of {owner} running for {running_for:.3?} on {thread}")
            }
            Alert::Growing { from, to, over } => {
                write!(f, "thread count keeps growing: {from} -> {to} in {over:?}")
            }
        }
    }
}

/// Watches every registered thread: tasks that run longer than [`stuck_after`] and a thread
/// count that rose at [`growth_samples`] scans in a row. Drive it with [`check`] or start it on a
/// thread of its own with [`start`].
///
/// [`stuck_after`]: Watchdog::stuck_after
/// [`growth_samples`]: Watchdog::growth_samples
/// [`check`]: Watchdog::check
/// [`start`]: Watchdog::start
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads::Watchdog;
///
/// let watchdog = Watchdog::new()
///     .stuck_after(Duration::from_secs(30))
///     .every(Duration::from_secs(1))
///     .start(|alert| eprintln!("watchdog: {alert}"))
///     .unwrap();
/// // ... the service runs ...
/// drop(watchdog); // stops and joins its thread
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Debug)]
pub struct Watchdog {
    stuck_after: Duration,
    every: Option<Duration>,
    growth_samples: usize,
    /// Thread key -> the word of the task already reported on it.
    reported: HashMap<u64, u64>,
    /// The count at the last scan, and where the current rise began.
    last_count: Option<usize>,
    rise: Option<(usize, Instant)>,
    rises: usize,
}

impl Default for Watchdog {
    fn default() -> Self {
        Watchdog::new()
    }
}

impl Watchdog {
    /// A watchdog with a 10 s threshold, scanning every quarter of it (at most every second), and
    /// reporting growth after 5 rising scans.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut watchdog = homebound::threads::Watchdog::new();
    /// assert!(watchdog.check().is_empty()); // nothing has run for 10 s
    /// ```
    pub fn new() -> Self {
        Watchdog {
            stuck_after: Duration::from_secs(10),
            every: None,
            growth_samples: 5,
            reported: HashMap::new(),
            last_count: None,
            rise: None,
            rises: 0,
        }
    }

    /// Report tasks running longer than `threshold`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut watchdog = homebound::threads::Watchdog::new().stuck_after(Duration::from_secs(60));
    /// assert!(watchdog.check().is_empty());
    /// ```
    pub fn stuck_after(mut self, threshold: Duration) -> Self {
        self.stuck_after = threshold;
        self
    }

    /// How often the started watchdog scans (default: a quarter of the threshold, at most 1 s,
    /// at least 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let w = homebound::threads::Watchdog::new().every(Duration::from_millis(250));
    /// drop(w.start(|_| ()).unwrap());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn every(mut self, period: Duration) -> Self {
        self.every = Some(period);
        self
    }

    /// Report growth when the thread count rose at this many scans in a row (default 5; 0
    /// turns growth reports off).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut watchdog = homebound::threads::Watchdog::new().growth_samples(0);
    /// assert!(watchdog.check().is_empty());
    /// ```
    pub fn growth_samples(mut self, samples: usize) -> Self {
        self.growth_samples = samples;
        self
    }

    /// One scan, now: the tasks newly seen running past the threshold, and growth if the count
    /// just completed its rising streak. For services that run their own loop (or tests); the
    /// [started](Watchdog::start) watchdog calls this on its own thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::threads::{Alert, Watchdog};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().name("slow").workers(1).build().unwrap();
    /// let (release, wait) = crossbeam_channel::bounded::<()>(0);
    /// let (started_tx, started) = crossbeam_channel::bounded::<()>(1);
    /// let h = pool.submit_named("stuck", move |_| {
    ///     started_tx.send(()).unwrap();
    ///     let _ = wait.recv();
    /// }).unwrap();
    /// started.recv().unwrap();
    /// let mut watchdog = Watchdog::new().stuck_after(Duration::ZERO);
    /// let alerts = loop {
    ///     let alerts = watchdog.check(); // its state is stored just after it signalled
    ///     if !alerts.is_empty() { break alerts; }
    /// };
    /// assert!(matches!(&alerts[0], Alert::Stuck { owner, .. } if owner == "slow"));
    /// assert!(watchdog.check().is_empty()); // once per task
    /// drop(release);
    /// h.join().unwrap();
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn check(&mut self) -> Vec<Alert> {
        let threads: Vec<_> = REGISTRY
            .lock()
            .iter()
            .map(|(key, info)| (*key, info.clone()))
            .collect();
        let now = Instant::now();
        let mut alerts = Vec::new();
        let mut still = HashMap::new();
        let mut count = 0;
        for (key, info) in threads {
            count += usize::from(!info.daemon);
            let word = info.slot.task_word();
            if !state::is_task(word) {
                continue;
            }
            if self.reported.get(&key) == Some(&word) {
                still.insert(key, word);
                continue;
            }
            let Some((task, since)) = info.slot.read().2 else {
                continue;
            };
            let running_for = now.saturating_duration_since(since);
            if running_for < self.stuck_after {
                continue;
            }
            still.insert(key, word);
            alerts.push(Alert::Stuck {
                thread: info.name,
                owner: info.owner,
                task,
                running_for,
            });
        }
        self.reported = still;
        if let Some(growing) = self.growth(count, now) {
            alerts.push(growing);
        }
        alerts
    }

    fn growth(&mut self, count: usize, now: Instant) -> Option<Alert> {
        let last = self.last_count.replace(count)?;
        if count <= last {
            self.rise = None;
            self.rises = 0;
            return None;
        }
        let (from, since) = *self.rise.get_or_insert((last, now));
        self.rises += 1;
        if self.growth_samples == 0 || self.rises < self.growth_samples {
            return None;
        }
        self.rise = None;
        self.rises = 0;
        Some(Alert::Growing {
            from,
            to: count,
            over: now.saturating_duration_since(since),
        })
    }

    fn period(&self) -> Duration {
        self.every.unwrap_or_else(|| {
            (self.stuck_after / 4).clamp(Duration::from_millis(1), Duration::from_secs(1))
        })
    }

    /// Starts scanning on a registered thread (`homebound-watchdog-<n>`), every
    /// [period](Watchdog::every), handing each alert to `on_alert` on homebound's callback
    /// runner (never on the watchdog's thread, so a slow callback delays no scan). Dropping the
    /// handle stops and joins the thread.
    ///
    /// # Errors
    ///
    /// The OS error if the thread could not be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::threads::Watchdog;
    ///
    /// let (alerts_tx, alerts) = crossbeam_channel::unbounded();
    /// let watchdog = Watchdog::new()
    ///     .stuck_after(Duration::from_secs(5))
    ///     .start(move |alert| { let _ = alerts_tx.send(alert.to_string()); })
    ///     .unwrap();
    /// watchdog.stop();
    /// assert!(alerts.try_recv().is_err()); // nothing ran for 5 s
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn start(
        mut self,
        on_alert: impl Fn(Alert) + Send + Sync + 'static,
    ) -> io::Result<WatchdogHandle> {
        let stop = Context::new();
        let period = self.period();
        let on_alert = Arc::new(on_alert);
        let ctx = stop.clone();
        let thread = super::spawn("watchdog", move || {
            while ctx.sleep(period).is_ok() {
                for alert in self.check() {
                    let on_alert = Arc::clone(&on_alert);
                    // The callback runner runs it: a fresh context, cancelled at once.
                    let hand_off = Context::new();
                    hand_off.after_cancel(move || on_alert(alert)).detach();
                    hand_off.cancel();
                }
            }
            crate::panic::drop_quietly(on_alert); // user code: its drop may panic
        })?;
        Ok(WatchdogHandle {
            stop,
            thread: Some(thread),
        })
    }
}

/// A started [`Watchdog`]; dropping it stops the scans and joins the thread.
///
/// # Examples
///
/// ```
/// let handle = homebound::threads::Watchdog::new().start(|alert| eprintln!("{alert}")).unwrap();
/// handle.stop();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "the watchdog stops when its handle is dropped"]
#[derive(Debug)]
pub struct WatchdogHandle {
    stop: Context,
    thread: Option<JoinHandle<()>>,
}

impl WatchdogHandle {
    /// Stops the scans and joins the thread (what dropping the handle does).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = homebound::threads::Watchdog::new().start(|_| ()).unwrap();
    /// handle.stop();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for WatchdogHandle {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
