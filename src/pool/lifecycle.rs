//! Java's lifecycle next to the shutdown family: [`close`](Pool::close) without waiting,
//! [`await_termination`](Pool::await_termination), [`is_terminated`](Pool::is_terminated), and
//! rust-threadpool's `join` as [`wait_idle`](Pool::wait_idle), which keeps the pool.
//!
//! # Waking an idle waiter
//!
//! The pool is idle when no accepted task is queued or running (`queued == running == 0` in a
//! [`Metrics`](super::Metrics) snapshot). Whatever can make it so rings the [`IdleBell`]: a
//! worker that found the queue empty (after its last task was counted), a refused submit (its
//! task was counted as `queued` while in flight), `shutdown_now` handing tasks back, a caller
//! running a task itself. A waiter registers (`waiting + 1`), issues a `SeqCst` fence and only
//! then reads the counters; a ringer counts first, issues a `SeqCst` fence and then reads
//! `waiting`: whichever runs second sees the other. The check and the wait happen under the
//! bell's lock, which a ringer takes before notifying, so no ring falls between them. With
//! nobody waiting a ring costs a fence and one load.

use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use super::Pool;
use super::error::IdleError;
use super::worker::on_worker_of;
use crate::shim::{Condvar, Mutex};

/// Where `wait_idle` callers sleep until the pool may have become idle.
#[derive(Default)]
pub(crate) struct IdleBell {
    waiting: AtomicUsize,
    lock: Mutex<()>,
    rung: Condvar,
}

impl IdleBell {
    /// Something that may leave the pool idle has been counted: wake the waiters, if any.
    #[inline]
    pub(crate) fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            let _lock = self.lock.lock();
            self.rung.notify_all();
        }
    }

    /// Waits until `idle()` holds or `deadline` passes; returns whether it holds.
    fn wait(&self, deadline: Option<Instant>, idle: impl Fn() -> bool) -> bool {
        let lock = self.lock.lock();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // The verdict is the predicate's last one: the counters are not under this lock, so a
        // second look could see a later submit and call a reached idle a timeout.
        let mut is_idle = false;
        let lock = self.rung.wait_while(lock, deadline, |_| {
            is_idle = idle();
            !is_idle
        });
        drop(lock);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        is_idle
    }
}

impl Pool {
    /// Stops accepting tasks and returns without waiting (Java's `shutdown`): blocked
    /// submitters get their task back as `Closed`, the workers run everything already queued
    /// and then exit. Idempotent. Wait for the end with
    /// [`await_termination`](Pool::await_termination), or join the workers with
    /// [`shutdown`](Pool::shutdown) (dropping the pool does too).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let handle = pool.submit(|_| 6 * 7).unwrap();
    /// pool.close();
    /// assert!(pool.is_closed());
    /// assert!(pool.submit(|_| 0).unwrap_err().is_closed());
    /// assert!(pool.await_termination(Duration::from_secs(5)));
    /// assert!(pool.is_terminated());
    /// assert_eq!(handle.join().unwrap(), 42); // queued work still ran
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn close(&self) {
        self.stop_accepting();
    }

    /// Waits up to `timeout` for the pool to terminate: closed (by [`close`](Pool::close) or a
    /// shutdown) with every worker exited, and joins the workers that have. Returns whether it
    /// terminated. It does not close the pool: on an open pool it waits out the timeout and
    /// returns `false`. Called from one of the pool's own tasks it returns `false` at once (the
    /// pool cannot terminate while that task runs). A timeout too large for `Instant` waits
    /// without a limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// assert!(!pool.await_termination(Duration::from_millis(1))); // still open
    /// pool.close();
    /// assert!(pool.await_termination(Duration::from_secs(5)));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn await_termination(&self, timeout: Duration) -> bool {
        if on_worker_of(self.shared.id()) {
            return false;
        }
        let deadline = crate::clock::after(timeout);
        // Closing first, so a worker started meanwhile is waited for too.
        if !self.shared.life.closed.wait_until(deadline) {
            return false;
        }
        let ended = match deadline {
            Some(at) => self.shared.exits.wait_deadline(at),
            None => {
                self.shared.exits.wait();
                true
            }
        };
        if ended {
            self.join_workers();
        }
        ended
    }

    /// Whether the pool is closed and every worker has exited (Java's `isTerminated`).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// assert!(!pool.is_terminated());
    /// pool.shutdown();
    /// assert!(pool.is_terminated());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.shared.life.closed.is_set() && self.shared.exits.count() == 0
    }

    /// Waits until the pool is idle: no task queued or running (rust-threadpool's `join`). The
    /// pool stays open: submit the next wave and wait again. Tasks submitted while it waits are
    /// waited for too, so with submitters that never pause it may never return: bound it with
    /// [`wait_idle_timeout`](Pool::wait_idle_timeout).
    ///
    /// # Errors
    ///
    /// [`IdleError::OwnTask`] at once when called from one of the pool's own tasks (the pool is
    /// not idle while that task runs, so waiting would never end).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// let done = Arc::new(AtomicU64::new(0));
    /// for wave in 1..=3 {
    ///     for _ in 0..10 {
    ///         let done = done.clone();
    ///         pool.execute(move |_| { done.fetch_add(1, Ordering::Relaxed); }).unwrap();
    ///     }
    ///     pool.wait_idle().unwrap();
    ///     assert_eq!(done.load(Ordering::Relaxed), wave * 10);
    /// }
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn wait_idle(&self) -> Result<(), IdleError> {
        self.wait_idle_until(None)
    }

    /// Like [`wait_idle`](Pool::wait_idle), giving up after `timeout`. A timeout too large for
    /// `Instant` waits without a limit.
    ///
    /// # Errors
    ///
    /// [`IdleError::TimedOut`] if the pool was still busy when the time ran out;
    /// [`IdleError::OwnTask`] as for `wait_idle`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::{IdleError, Pool};
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let busy = pool.submit(move |_| { let _ = gate.recv(); }).unwrap();
    /// assert_eq!(pool.wait_idle_timeout(Duration::from_millis(10)), Err(IdleError::TimedOut));
    /// drop(release);
    /// assert_eq!(pool.wait_idle_timeout(Duration::from_secs(5)), Ok(()));
    /// busy.join().unwrap();
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn wait_idle_timeout(&self, timeout: Duration) -> Result<(), IdleError> {
        self.wait_idle_until(crate::clock::after(timeout))
    }

    fn wait_idle_until(&self, deadline: Option<Instant>) -> Result<(), IdleError> {
        if on_worker_of(self.shared.id()) {
            return Err(IdleError::OwnTask);
        }
        let idle = || {
            let m = self.shared.metrics();
            // A task's end is counted before its `after_task` hook runs: wait for that too.
            let observing = self.shared.cfg.observe.as_ref();
            m.queued == 0
                && m.running == 0
                && observing.is_none_or(|o| o.in_flight.load(Ordering::SeqCst) == 0)
        };
        if self.shared.life.idle.wait(deadline, idle) {
            Ok(())
        } else {
            Err(IdleError::TimedOut)
        }
    }
}

/// The pool's lifecycle state beyond the executor's: the idle bell and the closed flag.
#[derive(Default)]
pub(crate) struct Life {
    pub(crate) idle: IdleBell,
    pub(crate) closed: Flag,
    /// Serialises `resize` calls (and their check that the pool is open).
    pub(crate) resizing: Mutex<()>,
}

/// Set once, when the pool has closed for good (no worker will be started any more); waited
/// for by `await_termination`.
#[derive(Default)]
pub(crate) struct Flag {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Flag {
    pub(crate) fn set(&self) {
        *self.set.lock() = true;
        self.changed.notify_all();
    }

    pub(crate) fn is_set(&self) -> bool {
        *self.set.lock()
    }

    /// Waits until set (or `deadline`: `false`).
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let set = self.set.lock();
        *self.changed.wait_while(set, deadline, |set| !*set)
    }
}
