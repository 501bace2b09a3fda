//! Java's shutdown contract: `shutdown`, `shutdown_timeout`, `shutdown_now`, and their report.

use std::fmt;
use std::mem;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use super::metrics::{CLOSED, bump};
use super::pending::PendingTask;
use super::worker::{WorkerEntry, join_all, on_worker_of};
use super::{Metrics, Pool};

/// A worker still running when [`Pool::shutdown_timeout`] gave up waiting.
///
/// Its thread handle stays with the pool: a later `shutdown()` or dropping the pool joins it,
/// and until it ends the leak check lists it. Nothing is silently detached.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder().name("thumbs").workers(1).build().unwrap();
/// let (started_tx, started) = crossbeam_channel::bounded(1);
/// let task = pool
///     .submit_named("thumbnail 7", move |ctx| {
///         started_tx.send(()).unwrap();
///         ctx.wait(); // until shutdown_now cancels it
///     })
///     .unwrap();
/// started.recv().unwrap();
/// let report = pool.shutdown_timeout(Duration::from_millis(10));
/// let straggler = &report.stragglers()[0];
/// assert!(straggler.thread.starts_with("homebound-thumbs-"));
/// assert_eq!(straggler.task.as_deref(), Some("thumbnail 7"));
/// assert!(straggler.to_string().contains("running task 'thumbnail 7'"));
/// pool.shutdown_now(); // cancels its context; the worker is joined
/// task.join().unwrap();
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Straggler {
    /// The worker thread's name.
    pub thread: String,
    /// The name of the task it runs, if it was submitted with `submit_named`.
    pub task: Option<String>,
    /// How long its current task has been running (`None`: it was between tasks).
    pub running_for: Option<Duration>,
}

impl fmt::Display for Straggler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.thread)?;
        if let Some(task) = &self.task {
            write!(f, " running task '{task}'")?;
        }
        if let Some(d) = self.running_for {
            write!(f, " for {d:?}")?;
        }
        Ok(())
    }
}

/// What a shutdown achieved.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let slow = pool.submit_named("slow", move |_| { let _ = rx.recv(); }).unwrap();
/// let report = pool.shutdown_timeout(Duration::from_millis(20));
/// assert!(!report.is_complete());
/// assert_eq!(report.stragglers()[0].task.as_deref(), Some("slow"));
/// drop(tx); // let it finish
/// slow.join().unwrap();
/// assert!(pool.shutdown().is_complete()); // joins the straggler
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ShutdownReport {
    joined: usize,
    stragglers: Vec<Straggler>,
    from_own_worker: bool,
    elapsed: Duration,
    metrics: Metrics,
}

impl ShutdownReport {
    /// Whether every worker has exited and been joined.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let _ = pool.submit(|_| ());
    /// assert!(pool.shutdown().is_complete()); // every worker exited and was joined
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_complete(&self) -> bool {
        self.stragglers.is_empty() && !self.from_own_worker
    }

    /// Workers joined by this call.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(3).unwrap();
    /// assert_eq!(pool.shutdown().joined(), 3);
    /// assert_eq!(pool.shutdown().joined(), 0); // idempotent: nothing left to join
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn joined(&self) -> usize {
        self.joined
    }

    /// Workers still running when a `shutdown_timeout` gave up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let slow = pool.submit(move |_| { started_tx.send(()).unwrap(); let _ = gate.recv(); }).unwrap();
    /// started.recv().unwrap();
    /// let report = pool.shutdown_timeout(Duration::from_millis(10));
    /// assert_eq!(report.stragglers().len(), 1);
    /// assert!(report.stragglers()[0].running_for.is_some()); // busy with a task
    /// drop(release);
    /// slow.join().unwrap();
    /// assert!(pool.shutdown().stragglers().is_empty());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stragglers(&self) -> &[Straggler] {
        &self.stragglers
    }

    /// Whether the call came from one of the pool's own tasks, so it closed the pool without
    /// waiting for (or joining) any worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Arc::new(Pool::new(1).unwrap());
    /// let same = Arc::clone(&pool);
    /// let task = pool.submit(move |_| same.shutdown().from_own_worker()).unwrap();
    /// assert!(task.join().unwrap()); // closed the pool, joined nothing
    /// assert!(pool.is_closed());
    /// assert!(!pool.shutdown().from_own_worker()); // this one joins the worker
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn from_own_worker(&self) -> bool {
        self.from_own_worker
    }

    /// How long the call took.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let began = Instant::now();
    /// let report = pool.shutdown();
    /// assert!(report.elapsed() <= began.elapsed());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The pool's metrics when the call returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// for i in 0..10u32 {
    ///     pool.execute(move |_| { let _ = i; }).unwrap();
    /// }
    /// let report = pool.shutdown();
    /// assert_eq!(report.metrics().completed, 10); // the queue was drained first
    /// assert_eq!(report.metrics().workers_live, 0);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool shutdown in {:?}: {} worker(s) joined",
            self.elapsed, self.joined
        )?;
        if self.from_own_worker {
            f.write_str(", called from the pool's own task (nothing joined)")?;
        }
        for s in &self.stragglers {
            write!(f, "\n  straggler: {s}")?;
        }
        Ok(())
    }
}

impl Pool {
    /// Graceful shutdown: stop accepting (blocked submitters get their task back as `Closed`),
    /// run everything already queued, then join every worker. Idempotent; prompt on an idle
    /// pool. Called from one of the pool's own tasks it closes the pool and returns at once
    /// (see [`ShutdownReport::from_own_worker`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let done = Arc::new(AtomicU32::new(0));
    /// for _ in 0..50 {
    ///     let done = Arc::clone(&done);
    ///     pool.execute(move |_| { done.fetch_add(1, Ordering::SeqCst); }).unwrap();
    /// }
    /// let report = pool.shutdown(); // runs what was queued, then joins the workers
    /// assert!(report.is_complete());
    /// assert_eq!(done.load(Ordering::SeqCst), 50);
    /// assert!(pool.submit(|_| ()).unwrap_err().is_closed());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn shutdown(&self) -> ShutdownReport {
        self.shutdown_until(None)
    }

    /// Like [`shutdown`](Pool::shutdown), but stops waiting after `timeout` and reports the
    /// workers still running as stragglers. Their handles stay with the pool: a later
    /// `shutdown` or the pool's drop joins them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let task = pool.submit(|_| 7).unwrap();
    /// let report = pool.shutdown_timeout(Duration::from_secs(5));
    /// assert!(report.is_complete()); // nothing was slow: every worker joined in time
    /// assert_eq!(task.join().unwrap(), 7);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> ShutdownReport {
        self.shutdown_until(Some(crate::clock::after(timeout)))
    }

    /// Immediate shutdown: stop accepting, cancel the root context (every running task's
    /// context is cancelled; tasks see it at their next check), hand back every queued task
    /// that had not started, then join the workers (which finish their current task first).
    ///
    /// The tasks come back roughly in queue order. Each may be run or dropped; dropping one
    /// resolves its handle as `Cancelled`. Tasks cancelled through their handle are not
    /// returned (they are counted in `cancelled_before_start`).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let running = pool
    ///     .submit(move |ctx| {
    ///         started_tx.send(()).unwrap();
    ///         ctx.wait(); // runs until shutdown_now cancels its context
    ///         "cancelled"
    ///     })
    ///     .unwrap();
    /// started.recv().unwrap();
    /// let queued: Vec<_> = (0..3).map(|i| pool.submit(move |_| i).unwrap()).collect();
    /// let pending = pool.shutdown_now();
    /// assert_eq!(pending.len(), 3); // never started: handed back
    /// assert_eq!(running.join().unwrap(), "cancelled");
    /// drop(pending); // their handles now report NotStarted
    /// assert!(queued.into_iter().all(|h| h.join().unwrap_err().is_not_started()));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn shutdown_now(&self) -> Vec<PendingTask> {
        self.shared.root.cancel();
        self.stop_accepting();
        let mut taken = self.shared.queue.drain();
        if !on_worker_of(self.shared.id()) {
            self.join_workers();
        }
        // Tasks workers took after the cancel were ahead of the ones drained here.
        let mut all = mem::take(&mut *self.shared.returned.lock());
        all.append(&mut taken);
        let w = &self.shared.counters.work;
        let handler = &self.shared.cfg.panic_handler;
        let mut pending = Vec::with_capacity(all.len());
        let mut cancelled = Vec::new();
        for task in all {
            bump(&w.dequeued);
            // A released task (see `release`) is a cancelled one; either way it never runs.
            if !super::release::claim(&task) || task.is_cancelled() {
                bump(&w.cancelled_before_start);
                cancelled.push(task);
            } else {
                bump(&w.returned);
                pending.push(PendingTask::new(task, handler.clone()));
            }
        }
        drop(cancelled);
        self.shared.life.idle.ring();
        pending
    }

    /// Stops accepting: wakes blocked submitters, then, once no hand-off is in flight (so
    /// nothing is queued any more), lets the workers drain the queue and leave.
    pub(super) fn stop_accepting(&self) {
        let queue = &self.shared.queue;
        queue.close_accepting();
        let submit = &self.shared.counters.submit;
        let before = submit.submitted.fetch_or(CLOSED, Ordering::AcqRel);
        if before & CLOSED == 0 {
            submit.closed_at.store(before, Ordering::Release);
        }
        // Hand-offs in flight are short (a blocked one was just woken): let every submit
        // counted before the pool closed settle (a concurrent `close` waits for the same).
        let backoff = Backoff::new();
        loop {
            let counted = submit.closed_at.load(Ordering::Acquire);
            if counted != u64::MAX && submit.settled.load(Ordering::Acquire) >= counted {
                break;
            }
            backoff.snooze();
        }
        queue.close();
        self.shared.threads.lock().closing = true;
        self.shared.life.closed.set();
    }

    /// Joins every worker (blocking); returns how many this call joined.
    pub(super) fn join_workers(&self) -> usize {
        let entries = mem::take(&mut self.shared.threads.lock().workers);
        let joined = join_all(entries);
        // A concurrent shutdown may hold handles this call did not get: wait for those
        // workers' closures to end too.
        self.shared.exits.wait();
        joined
    }

    /// `deadline`: `None` waits without limit; `Some(None)` is a timeout too large for
    /// `Instant`, also without limit.
    fn shutdown_until(&self, deadline: Option<Option<Instant>>) -> ShutdownReport {
        let start = crate::clock::now();
        self.stop_accepting();
        let mut joined = 0;
        let mut stragglers = Vec::new();
        let from_own_worker = on_worker_of(self.shared.id());
        if !from_own_worker {
            match deadline.flatten() {
                None => joined = self.join_workers(),
                Some(at) => {
                    let all_ended = self.shared.exits.wait_deadline(at);
                    let entries = mem::take(&mut self.shared.threads.lock().workers);
                    let (ended, running): (Vec<WorkerEntry>, Vec<WorkerEntry>) = entries
                        .into_iter()
                        .partition(|w| all_ended || w.slot.exited.load(Ordering::Acquire));
                    joined = join_all(ended);
                    stragglers = running.iter().map(|w| self.straggler(w)).collect();
                    self.shared.threads.lock().workers.extend(running);
                }
            }
        }
        crate::observe::pool_shut_down(&self.shared.name, joined, &stragglers, start);
        ShutdownReport {
            joined,
            stragglers,
            from_own_worker,
            elapsed: crate::clock::since(start),
            metrics: self.metrics(),
        }
    }

    fn straggler(&self, w: &WorkerEntry) -> Straggler {
        Straggler {
            thread: w.handle.name().to_string(),
            task: w.slot.task_name.lock().as_deref().map(str::to_string),
            running_for: w.slot.running_for(self.shared.epoch),
        }
    }
}
