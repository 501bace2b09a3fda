//! Per-task hooks ([`Builder::before_task`], [`Builder::after_task`], Java's `beforeExecute` /
//! `afterExecute`) and the queue-wait / run-time histograms ([`Builder::histograms`]): the
//! seam a user plugs tracing or metrics into.
//!
//! A pool with none of them set pays one branch per task: the worker checks one `Option`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::Builder;
use super::histogram::Recorder;
use super::metrics::bump;
use super::worker::Shared;
use crate::panic::Panicked;

/// How a task ended, as [`Builder::after_task`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// It returned.
    Completed,
    /// It panicked (the panic went to its handle and the panic handler).
    Panicked,
    /// It never started: cancelled through its handle, or its caller's context was cancelled
    /// (or its deadline passed) while it was queued.
    NotStarted,
}

/// What a task hook sees: the task's name, how long it waited in the queue, and (after it)
/// how long it ran and how it ended.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::pool::{Pool, TaskOutcome};
///
/// let (seen_tx, seen) = crossbeam_channel::unbounded();
/// let pool = Pool::builder()
///     .workers(1)
///     .after_task(move |t| {
///         seen_tx.send((t.name().map(str::to_owned), t.outcome())).unwrap();
///         assert!(t.run_time().is_some() && t.queue_wait() < Duration::from_secs(60));
///     })
///     .build()
///     .unwrap();
/// pool.submit_named("resize-7", |_| ()).unwrap().join().unwrap();
/// assert_eq!(seen.recv().unwrap(), (Some("resize-7".to_owned()), Some(TaskOutcome::Completed)));
/// # pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub struct TaskEvent<'a> {
    name: Option<&'a str>,
    queue_wait: Duration,
    ran: Option<(Duration, TaskOutcome)>,
}

impl TaskEvent<'_> {
    /// The task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name
    }

    /// How long it waited between its submit and a worker taking it (see
    /// [`Metrics::total_queue_wait`](super::Metrics::total_queue_wait) for the clock used).
    pub fn queue_wait(&self) -> Duration {
        self.queue_wait
    }

    /// How long it ran (`None` before it ran).
    pub fn run_time(&self) -> Option<Duration> {
        self.ran.map(|(d, _)| d)
    }

    /// How it ended (`None` before it ran).
    pub fn outcome(&self) -> Option<TaskOutcome> {
        self.ran.map(|(_, o)| o)
    }
}

impl fmt::Debug for TaskEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskEvent")
            .field("name", &self.name)
            .field("queue_wait", &self.queue_wait)
            .field("run_time", &self.run_time())
            .field("outcome", &self.outcome())
            .finish()
    }
}

pub(crate) type TaskHook = Arc<dyn Fn(&TaskEvent<'_>) + Send + Sync>;

/// What a worker does around each task when something observes tasks.
#[derive(Default)]
pub(crate) struct Observe {
    pub(crate) before: Option<TaskHook>,
    pub(crate) after: Option<TaskHook>,
    pub(crate) histograms: Option<Recorder>,
    /// Tasks a worker has taken whose `after` work is not done: `wait_idle` waits for them
    /// too (their end is counted before the hook runs).
    pub(crate) in_flight: AtomicUsize,
}

impl Observe {
    /// `None` when nothing is set, so the worker takes no branch but one.
    pub(crate) fn of(b: &Builder) -> Option<Box<Observe>> {
        (b.before_task.is_some() || b.after_task.is_some() || b.histograms).then(|| {
            Box::new(Observe {
                before: b.before_task.clone(),
                after: b.after_task.clone(),
                histograms: b.histograms.then(Recorder::default),
                in_flight: AtomicUsize::new(0),
            })
        })
    }

    pub(crate) fn before(&self, shared: &Shared, name: Option<&str>, wait_ns: u64) {
        if let Some(hook) = &self.before {
            let event = TaskEvent {
                name,
                queue_wait: Duration::from_nanos(wait_ns),
                ran: None,
            };
            call(shared, hook, &event);
        }
    }

    pub(crate) fn after(
        &self,
        shared: &Shared,
        name: Option<&str>,
        wait_ns: u64,
        run_ns: u64,
        outcome: TaskOutcome,
    ) {
        if let Some(h) = &self.histograms {
            h.record(
                wait_ns,
                (outcome != TaskOutcome::NotStarted).then_some(run_ns),
            );
        }
        if let Some(hook) = &self.after {
            let event = TaskEvent {
                name,
                queue_wait: Duration::from_nanos(wait_ns),
                ran: Some((Duration::from_nanos(run_ns), outcome)),
            };
            call(shared, hook, &event);
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        shared.life.idle.ring();
    }

    /// A worker took a task (before its end is counted).
    pub(crate) fn took(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }
}

fn call(shared: &Shared, hook: &TaskHook, event: &TaskEvent<'_>) {
    if Panicked::catch(|| hook(event)).is_err() {
        bump(&shared.counters.workers.hook_panics);
    }
}

/// A worker's view of one task for the observers: its name, and the panics counted before it.
pub(crate) struct Watch<'o> {
    pub(crate) observe: &'o Observe,
    pub(crate) name: Option<Box<str>>,
    pub(crate) panics_before: u64,
}

impl Watch<'_> {
    /// How the task ended, from what the job reported and the worker's own panic counter.
    pub(crate) fn outcome(
        &self,
        ran: bool,
        panics_now: &std::sync::atomic::AtomicU64,
    ) -> TaskOutcome {
        if !ran {
            TaskOutcome::NotStarted
        } else if panics_now.load(Ordering::Relaxed) != self.panics_before {
            TaskOutcome::Panicked
        } else {
            TaskOutcome::Completed
        }
    }
}

impl Builder {
    /// Runs on the worker just before each task starts, with its name and queue wait (Java's
    /// `beforeExecute`). It may be called from several workers at once; keep it short (it
    /// delays the task). A panic in it is caught and counted in `hook_panics`; the task still
    /// runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use homebound::pool::Pool;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let seen = started.clone();
    /// let pool = Pool::builder()
    ///     .workers(2)
    ///     .before_task(move |t| { assert!(t.outcome().is_none()); seen.fetch_add(1, Ordering::Relaxed); })
    ///     .build()
    ///     .unwrap();
    /// for _ in 0..5 { pool.execute(|_| ()).unwrap(); }
    /// pool.shutdown();
    /// assert_eq!(started.load(Ordering::Relaxed), 5);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn before_task(mut self, hook: impl Fn(&TaskEvent<'_>) + Send + Sync + 'static) -> Self {
        self.before_task = Some(Arc::new(hook));
        self
    }

    /// Runs on the worker just after each task ends, with its name, queue wait, run time and
    /// [`TaskOutcome`] (Java's `afterExecute`), before the next task; also for a task skipped
    /// unrun. Its time is not counted as the task's. A panic in it is caught and counted in
    /// `hook_panics`.
    ///
    /// # Examples
    ///
    /// See [`TaskEvent`].
    pub fn after_task(mut self, hook: impl Fn(&TaskEvent<'_>) + Send + Sync + 'static) -> Self {
        self.after_task = Some(Arc::new(hook));
        self
    }

    /// Records every task's queue wait and run time in power-of-two histograms, read as
    /// [`Metrics::queue_wait_histogram`](super::Metrics::queue_wait_histogram) and
    /// [`Metrics::run_time_histogram`](super::Metrics::run_time_histogram) (`p50`, `p99`).
    /// Off by default: it costs two shared atomic additions per task.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).histograms(true).build().unwrap();
    /// for i in 0..100u64 { pool.execute(move |_| { std::hint::black_box(i); }).unwrap(); }
    /// pool.wait_idle().unwrap();
    /// let m = pool.metrics();
    /// let run = m.run_time_histogram.unwrap();
    /// assert_eq!(run.count(), 100);
    /// assert!(run.p50().unwrap() <= run.p99().unwrap());
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn histograms(mut self, on: bool) -> Self {
        self.histograms = on;
        self
    }
}
