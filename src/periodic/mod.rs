//! Periodic jobs: [`every`] and [`Every`] run a job now and then once per period, never
//! overlapping itself, until a [`Context`] is cancelled.
//!
//! **Use it** for housekeeping inside a program: purge expired sessions, flush metrics, refresh a
//! cache, send a heartbeat. [`every`] runs on the calling thread (as a
//! [`Shutdown`](crate::shutdown::Shutdown) service, say); [`Every::spawn`] gives the job a
//! thread of its own and a [`Handle`] to stop and join it. **Use something else** for calendar
//! schedules ("at 02:00 on Mondays": a cron-style scheduler) and for thousands of timers, since
//! each spawned job holds a thread.
//!
//! # Guarantees
//!
//! * **No overlap.** The job runs inline on one thread: a run never starts before the previous
//!   one ended.
//! * **A fixed grid, no bursts.** The first run is immediate, then one per tick at
//!   `start + k·period`. Ticks that passed during a slow run are skipped and counted
//!   ([`MissedTicks::Skip`], the default), or the schedule shifts ([`MissedTicks::Delay`]).
//! * **One bad run does not end the job.** Errors and panics are caught, counted and, by default,
//!   survived ([`ErrorPolicy::Continue`]); unlike Java's `scheduleAtFixedRate`, a job never stops
//!   silently. [`ErrorPolicy::FailFast`] ends it, and the [`Report`] says why. A panic whose payload
//!   panics again when dropped, and a panic in the job's own `Drop`, are contained too.
//! * **Prompt stop.** Between runs the loop sleeps on the context, so a cancel wakes it at once,
//!   even in the middle of an hour-long period.
//! * **No leak.** Dropping a [`Handle`] stops the job and joins its thread, like every
//!   homebound handle that owns a thread; [`Handle::detach`] lets it run on.
//! * **Huge periods are safe**: a period too large for `Instant` (such as `Duration::MAX`) means
//!   "once, then wait for cancel", never an overflow.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use homebound::{Context, periodic::{self, every}};
//!
//! let ctx = Context::new();
//! let mut expired = vec!["s1", "s2", "s3"];
//! let report = every(&ctx, Duration::from_millis(2), |ctx| {
//!     expired.pop();
//!     if expired.is_empty() {
//!         ctx.cancel(); // a real job would run until its service is told to stop
//!     }
//!     Ok::<(), String>(())
//! })?;
//! assert_eq!(report.runs(), 3);
//! assert!(matches!(report.stopped(), periodic::Stop::Cancelled));
//! # Ok::<(), periodic::Error>(())
//! ```
//!
//! # Design
//!
//! The job runs on the caller's thread because that is what makes "never overlaps" trivially
//! true and keeps the thread count visible: a program that wants a thread per job asks for it
//! with [`Every::spawn`], which registers the thread like every other homebound thread. The
//! schedule is computed from the start instant (`start + k·period`), not by adding the period to
//! the end of each run, so slow runs do not make the job drift; every addition is checked, which
//! is where the "huge period" rule comes from.

mod report;

use std::fmt::Display;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::panic::{Panicked, drop_caught, drop_quietly};
use crate::threads::{self, JoinHandle};

pub use self::report::{Error, Report, Stop};

/// What to do when a run took so long that later ticks have already passed.
///
/// # Examples
///
/// ```
/// use homebound::periodic::MissedTicks;
///
/// assert_eq!(MissedTicks::default(), MissedTicks::Skip);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissedTicks {
    /// Keep the original schedule (`start + k·period`): the ticks that passed during a slow run
    /// are skipped and counted in [`Report::skipped`]; the next run is on the next tick
    /// that has not passed. Never a burst of catch-up runs.
    #[default]
    Skip,
    /// Shift the schedule: after a run that overran its period, the next run starts one full
    /// period after it ended. Nothing is skipped.
    Delay,
}

/// What an error (or a panic) in the job does to the periodic loop.
///
/// # Examples
///
/// ```
/// use homebound::periodic::ErrorPolicy;
///
/// assert_eq!(ErrorPolicy::default(), ErrorPolicy::Continue);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Count it, remember its message, and run again at the next tick. The default: unlike
    /// Java's `scheduleAtFixedRate` or scheduled-thread-pool, one bad run does not silently end
    /// the job.
    #[default]
    Continue,
    /// End the loop; the report says why.
    FailFast,
}

/// Runs `job` now and then every `period` on the calling thread until `ctx` is cancelled, with
/// the default policies (skip missed ticks, continue after errors and panics). Shortcut for
/// `Every::new(period)?.run(ctx, job)`.
///
/// # Errors
///
/// [`Error::ZeroPeriod`] for a zero period; the job never runs.
///
/// # Examples
///
/// As a [`Shutdown`](crate::shutdown::Shutdown) service:
///
/// ```
/// use std::time::Duration;
/// use homebound::{shutdown::Shutdown, periodic::every};
///
/// let mut shutdown = Shutdown::new();
/// let trigger = shutdown.trigger();
/// shutdown.service("cleaner", move |ctx| {
///     let mut cleaned = 0;
///     every(&ctx, Duration::from_millis(5), |_| {
///         cleaned += 1;
///         if cleaned == 3 { trigger.fire(); }
///         Ok::<(), String>(())
///     })?
///     .into_result()
///     .map(drop)
/// })
/// .unwrap();
/// assert_eq!(shutdown.wait().exit_code(), 0);
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
pub fn every<F, E>(ctx: &Context, period: Duration, job: F) -> Result<Report, Error>
where
    F: FnMut(&Context) -> Result<(), E>,
    E: Display,
{
    Ok(Every::new(period)?.run(ctx, job))
}

/// A periodic job's schedule and policies.
///
/// * **No overlap.** The job runs inline on one thread, so a run never starts before the
///   previous one ended.
/// * **Schedule.** The first run is immediate, then one per tick at `start + k·period`. Missed
///   ticks follow [`MissedTicks`]; a period too large for `Instant` (such as `Duration::MAX`)
///   means "once, then wait for cancel".
/// * **Errors and panics** are caught, counted and, by default, survived ([`ErrorPolicy`]).
/// * **Prompt stop.** Between runs the loop sleeps on the context: cancelling wakes it at once.
///   During a run, the job gets the context to check.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, periodic::Every, periodic::MissedTicks, periodic::ErrorPolicy, periodic};
///
/// let ctx = Context::new();
/// let report = Every::new(Duration::from_millis(1))?
///     .missed_ticks(MissedTicks::Delay)
///     .on_error(ErrorPolicy::FailFast)
///     .run(&ctx, |_ctx| Err("backend down"));
/// assert_eq!(report.runs(), 1);
/// assert!(matches!(report.stopped(), periodic::Stop::Error(msg) if msg == "backend down"));
/// # Ok::<(), homebound::periodic::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "an Every does nothing until run or spawn is called"]
pub struct Every {
    /// Never zero: checked by `new`.
    period: Duration,
    missed: MissedTicks,
    on_error: ErrorPolicy,
    on_panic: ErrorPolicy,
}

impl Every {
    /// A schedule of one run per `period`.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroPeriod`] when `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::periodic::{Error, Every};
    ///
    /// assert!(Every::new(Duration::from_secs(1)).is_ok());
    /// assert!(matches!(Every::new(Duration::ZERO), Err(Error::ZeroPeriod)));
    /// ```
    pub fn new(period: Duration) -> Result<Every, Error> {
        if period.is_zero() {
            return Err(Error::ZeroPeriod);
        }
        Ok(Every {
            period,
            missed: MissedTicks::Skip,
            on_error: ErrorPolicy::Continue,
            on_panic: ErrorPolicy::Continue,
        })
    }

    /// What to do with ticks missed by a slow run (default [`MissedTicks::Skip`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::{Every, MissedTicks}};
    ///
    /// let ctx = Context::new();
    /// let mut runs = 0;
    /// let report = Every::new(Duration::from_millis(1))?
    ///     .missed_ticks(MissedTicks::Delay) // restart the schedule after a slow run
    ///     .run(&ctx, |ctx| {
    ///         runs += 1;
    ///         std::thread::sleep(Duration::from_millis(5));
    ///         if runs == 2 { ctx.cancel(); }
    ///         Ok::<(), String>(())
    ///     });
    /// assert_eq!((report.runs(), report.skipped()), (2, 0)); // nothing counted as skipped
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn missed_ticks(mut self, policy: MissedTicks) -> Self {
        self.missed = policy;
        self
    }

    /// What a job error does (default [`ErrorPolicy::Continue`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::{Every, ErrorPolicy, Stop}};
    ///
    /// let report = Every::new(Duration::from_millis(1))?
    ///     .on_error(ErrorPolicy::FailFast)
    ///     .run(&Context::new(), |_| Err("disk full"));
    /// assert_eq!(report.runs(), 1);
    /// assert!(matches!(report.stopped(), Stop::Error(msg) if msg == "disk full"));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.on_error = policy;
        self
    }

    /// What a job panic does (default [`ErrorPolicy::Continue`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::{Every, ErrorPolicy, Stop}};
    ///
    /// let report = Every::new(Duration::from_millis(1))?
    ///     .on_panic(ErrorPolicy::FailFast)
    ///     .run(&Context::new(), |_| -> Result<(), String> { panic!("bug") });
    /// assert_eq!(report.panics(), 1);
    /// assert!(matches!(report.stopped(), Stop::Panicked(p) if p.message() == "bug"));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn on_panic(mut self, policy: ErrorPolicy) -> Self {
        self.on_panic = policy;
        self
    }

    /// Runs the job on the calling thread until `ctx` is cancelled or a policy stops it.
    ///
    /// The job's panics are contained, even one whose payload panics again when dropped, and so
    /// is a panic in the job's own `Drop` when the loop ends (counted in
    /// [`Report::panics`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::Every};
    ///
    /// let ctx = Context::new();
    /// let mut seen = Vec::new();
    /// let report = Every::new(Duration::from_millis(1))?.run(&ctx, |ctx| {
    ///     seen.push(seen.len());
    ///     if seen.len() == 3 { ctx.cancel(); } // runs inline until cancelled
    ///     Ok::<(), String>(())
    /// });
    /// assert_eq!(report.runs(), 3);
    /// assert_eq!(seen, [0, 1, 2]);
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn run<F, E>(&self, ctx: &Context, mut job: F) -> Report
    where
        F: FnMut(&Context) -> Result<(), E>,
        E: Display,
    {
        let mut report = self.run_loop(ctx, &mut job);
        // The job's captures are user values: their `Drop` may panic.
        if let Err(panicked) = drop_caught(job) {
            report.panics += 1;
            report.last_panic = Some(panicked.message().to_owned());
        }
        report
    }

    fn run_loop<F, E>(&self, ctx: &Context, job: &mut F) -> Report
    where
        F: FnMut(&Context) -> Result<(), E>,
        E: Display,
    {
        let mut report = Report::new();
        let mut anchor = crate::clock::now();
        let mut tick: u128 = 0;
        while !ctx.is_cancelled() {
            report.runs += 1;
            let began = crate::clock::now();
            let result = Panicked::catch(|| job(ctx).map_err(|e| e.to_string()));
            let now = crate::clock::now();
            if now.duration_since(began) > self.period {
                report.overruns += 1;
            }
            match result {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => {
                    report.errors += 1;
                    report.last_error = Some(msg.clone());
                    if self.on_error == ErrorPolicy::FailFast {
                        report.stopped = Stop::Error(msg);
                        return report;
                    }
                }
                Err(panicked) => {
                    report.panics += 1;
                    report.last_panic = Some(panicked.message().to_owned());
                    if self.on_panic == ErrorPolicy::FailFast {
                        report.stopped = Stop::Panicked(panicked);
                        return report;
                    }
                }
            }
            let next = match self.missed {
                MissedTicks::Skip => {
                    // The first tick at or after `now`, but always a later tick than this one.
                    let period = self.period.as_nanos();
                    let elapsed = now.duration_since(anchor).as_nanos();
                    let due = elapsed.div_ceil(period).max(tick + 1);
                    report.skipped += u64::try_from(due - tick - 1).unwrap_or(u64::MAX);
                    tick = due;
                    tick_time(anchor, self.period, tick)
                }
                MissedTicks::Delay => match tick_time(anchor, self.period, tick + 1) {
                    Some(at) if at < now => {
                        anchor = now;
                        tick = 1;
                        tick_time(anchor, self.period, 1)
                    }
                    next => {
                        tick += 1;
                        next
                    }
                },
            };
            match next {
                Some(at) if ctx.sleep_until(at).is_ok() => {}
                Some(_) => break,
                // The next tick is beyond what `Instant` can hold: only a cancel comes first.
                None => {
                    ctx.wait();
                    break;
                }
            }
        }
        report
    }

    /// Runs the job on its own registered thread (`homebound-periodic-<name>-<n>`) with a child
    /// of `ctx`, until `ctx` is cancelled, [`Handle::cancel`] is called or a policy stops
    /// it. Join the handle to get the report.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] if the thread could not be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::Every, threads};
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// let job = Every::new(Duration::from_millis(1))?
    ///     .spawn(&Context::new(), "heartbeat", move |_| tx.send(()))?;
    /// rx.recv().unwrap();
    /// job.cancel();
    /// let report = job.join().unwrap();
    /// assert!(report.runs() >= 1);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    #[track_caller]
    pub fn spawn<F, E>(self, ctx: &Context, name: &str, job: F) -> Result<Handle, Error>
    where
        F: FnMut(&Context) -> Result<(), E> + Send + 'static,
        E: Display,
    {
        let ctx = ctx.child();
        let thread_ctx = ctx.clone();
        let thread = threads::spawn(&format!("periodic-{name}"), move || {
            self.run(&thread_ctx, job)
        })
        .map_err(Error::Spawn)?;
        Ok(Handle {
            ctx,
            thread: Some(thread),
        })
    }
}

/// The time of tick `k`: `anchor + k·period`, or `None` if it is beyond what `Instant` holds.
fn tick_time(anchor: Instant, period: Duration, k: u128) -> Option<Instant> {
    let nanos = period.as_nanos().checked_mul(k)?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let offset = Duration::new(secs, (nanos % 1_000_000_000) as u32);
    anchor.checked_add(offset)
}

/// A periodic job running on its own thread, from [`Every::spawn`]. Join it.
///
/// Like every homebound handle that owns a thread, dropping it stops the job (cancels its
/// context) and joins the thread, waiting for a run in progress to return. To let the job run
/// on without the handle, [`detach`](Handle::detach) it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, periodic::Every};
///
/// let root = Context::new();
/// let job = Every::new(Duration::from_secs(3600))?.spawn(&root, "hourly", |_| Ok::<(), String>(()))?;
/// root.cancel(); // stops it mid-wait
/// assert!(job.join().unwrap().runs() <= 1);
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// # Ok::<(), homebound::periodic::Error>(())
/// ```
#[must_use = "dropping a periodic Handle stops the job at once; join it, or detach it to keep it running"]
#[derive(Debug)]
pub struct Handle {
    ctx: Context,
    /// `None` once joined or detached.
    thread: Option<JoinHandle<Report>>,
}

impl Handle {
    /// Stops the job: cancels its context, waking it if it is waiting for the next tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::Every, threads};
    ///
    /// let (ran, first_run) = crossbeam_channel::unbounded();
    /// let job = Every::new(Duration::from_secs(3600))?
    ///     .spawn(&Context::new(), "hourly", move |_| ran.send(()))?;
    /// first_run.recv().unwrap();
    /// job.cancel(); // wakes it from its wait for the next tick
    /// assert_eq!(job.join().unwrap().runs(), 1);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn cancel(&self) {
        self.ctx.cancel();
    }

    /// The job's context (a child of the one given to [`Every::spawn`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::Every, threads};
    ///
    /// let root = Context::new();
    /// let job = Every::new(Duration::from_secs(1))?
    ///     .spawn(&root, "tick", |_| Ok::<(), String>(()))?;
    /// job.cancel();
    /// assert!(job.context().is_cancelled() && !root.is_cancelled()); // a child of root
    /// job.join().unwrap();
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Whether the job's thread has returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::{Every, ErrorPolicy}, threads};
    ///
    /// let job = Every::new(Duration::from_millis(1))?
    ///     .on_error(ErrorPolicy::FailFast)
    ///     .spawn(&Context::new(), "once", |_| Err("done"))?;
    /// while !job.is_finished() {
    ///     std::thread::yield_now(); // the error policy ends it on its own
    /// }
    /// assert_eq!(job.join().unwrap().errors(), 1);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the job to end (it ends on cancel or by policy) and returns its report.
    ///
    /// # Errors
    ///
    /// [`Panicked`] only if homebound's own loop panicked; the job's panics are in the report.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::Every, threads};
    ///
    /// let root = Context::new();
    /// let job = Every::new(Duration::from_millis(1))?
    ///     .spawn(&root, "count", |ctx| { ctx.cancel(); Ok::<(), String>(()) })?;
    /// let report = job.join().unwrap();
    /// assert_eq!(report.runs(), 1);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn join(mut self) -> Result<Report, Panicked> {
        match self.thread.take() {
            Some(thread) => thread.join().map_err(Panicked::from_payload),
            None => Ok(Report::new()),
        }
    }

    /// Lets the job run on without this handle: it stops only when the context given to
    /// [`Every::spawn`] is cancelled (or a policy stops it), and its report is dropped. Its
    /// thread stays registered, so [`threads::assert_none_alive`] names it while it runs.
    ///
    /// [`threads::assert_none_alive`]: crate::threads::assert_none_alive
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::Every, threads};
    ///
    /// let root = Context::new();
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// Every::new(Duration::from_millis(1))?
    ///     .spawn(&root, "heartbeat", move |_| tx.send(()))?
    ///     .detach();
    /// rx.recv().unwrap(); // still running without its handle
    /// root.cancel(); // the only way to stop it now
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn detach(mut self) {
        self.thread = None;
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.ctx.cancel();
        // Dropped by the job itself (it held its own handle): it cannot join itself; the
        // cancel ends its loop once this run returns.
        if std::thread::current().name() == Some(thread.name()) {
            return;
        }
        match thread.join() {
            Ok(report) => drop(report),
            Err(payload) => drop_quietly(payload),
        }
    }
}
