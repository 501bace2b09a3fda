//! [`TaskHandle`]: the submitter's end of one task.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::JoinTimeoutError;
use super::task::PoolTask;
use super::worker::wait_helping;
use crate::exec::slot::SlotView;
use crate::task::JoinError;

/// The result of one submitted task, to be joined.
///
/// * [`join`](TaskHandle::join) waits for the value, or the task's panic
///   ([`JoinError::Panicked`]), or [`JoinError::NotStarted`] for a task that never started.
/// * [`cancel`](TaskHandle::cancel) stops a queued task from starting, or cancels the
///   [`Context`](crate::Context) of a running one (it sees that at its next check).
/// * [`join_ctx`](TaskHandle::join_ctx) stops waiting when the caller's context is cancelled,
///   and hands the handle back.
/// * `.await` on the handle (it implements `IntoFuture`; see [`Join`](super::Join)) waits from
///   async code, on any executor: no runtime needed.
/// * Dropping the handle *detaches* the task: it still runs, and a panic is still counted in the
///   pool's metrics and passed to the pool's panic handler. It never aborts the process.
///
/// Happens-before: everything the task did is visible to the thread that joins it.
///
/// # Examples
///
/// ```
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder().workers(2).build().unwrap();
/// let handles: Vec<_> = (0..4u64).map(|i| pool.submit(move |_| i * i).unwrap()).collect();
/// let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "dropping a TaskHandle detaches the task; join it to get its value or its panic"]
pub struct TaskHandle<T> {
    slot: Arc<dyn SlotView<PoolTask, T>>,
}

impl<T> TaskHandle<T> {
    pub(crate) fn new(slot: Arc<dyn SlotView<PoolTask, T>>) -> Self {
        TaskHandle { slot }
    }

    pub(crate) fn view(&self) -> &dyn SlotView<PoolTask, T> {
        &*self.slot
    }

    /// The result of an ended task whose runner has let go of it, taken without a lock or a
    /// wait; otherwise the handle comes back. The error stays boxed until the caller's return:
    /// the common `Ok` moves one word.
    #[inline]
    #[allow(clippy::type_complexity)]
    pub(crate) fn join_unshared(self) -> Result<Result<T, Box<JoinError>>, TaskHandle<T>> {
        self.slot
            .join_unshared()
            .map_err(|slot| TaskHandle { slot })
    }

    /// Waits for the task and returns its value.
    ///
    /// **On one of a pool's workers** (a task joining another task), the waiting worker runs
    /// tasks from its own pool's queue until the joined task has ended, as work-stealing joins
    /// do. So a task may submit to its own pool and join the handle, even on a one-worker pool:
    /// if no other worker takes the new task first, the joining worker runs it itself. The same
    /// holds for two pools whose tasks wait on each other (a task on pool A joins one on pool B,
    /// which joins one it queued on A): each waiting worker runs its own pool's queue, so the
    /// cycle completes. What helping cannot undo is a task that waits on something else its own
    /// worker would have to do: a helped task runs to completion before `join` returns (the
    /// joined task may finish meanwhile), and a task that blocks on a channel (not a `join`)
    /// for work still queued behind it waits like on any pool.
    ///
    /// # Errors
    ///
    /// [`JoinError::Panicked`] if the task panicked, [`JoinError::NotStarted`] if it was
    /// cancelled before it started (or returned by `shutdown_now` and then dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{pool::Pool, task::JoinError};
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let ok = pool.submit(|_| "done").unwrap();
    /// let bad = pool.submit(|_| -> u8 { panic!("bad pixel") }).unwrap();
    /// assert_eq!(ok.join().unwrap(), "done");
    /// assert!(matches!(bad.join(), Err(JoinError::Panicked(p)) if p.message() == "bad pixel"));
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        // An ended task whose runner has let go: its result is taken without a lock or a wait.
        let handle = match self.join_unshared() {
            Ok(ended) => return ended.map_err(|e| *e),
            Err(handle) => handle,
        };
        wait_helping(handle.view(), None, None)
            .expect("an untimed wait returns only once the task has finished")
    }

    /// Waits up to `timeout` for the task. A timeout too large for `Instant` waits without a
    /// limit.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::TimedOut`] with this handle if the task is still going, or
    /// [`JoinTimeoutError::Task`] as for [`join`](TaskHandle::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::{JoinTimeoutError, Pool};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let task = pool.submit(move |_| gate.recv().is_ok()).unwrap();
    /// let Err(JoinTimeoutError::TimedOut(task)) = task.join_timeout(Duration::from_millis(10)) else {
    ///     panic!("the task is blocked: it cannot have finished");
    /// };
    /// release.send(()).unwrap();
    /// assert!(task.join_timeout(Duration::from_secs(5)).unwrap()); // the handle came back
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn join_timeout(self, timeout: Duration) -> Result<T, JoinTimeoutError<T>> {
        match crate::clock::after(timeout) {
            Some(deadline) => self.join_deadline(deadline),
            None => self.join().map_err(JoinTimeoutError::Task),
        }
    }

    /// Waits until `deadline` for the task.
    ///
    /// # Errors
    ///
    /// As for [`join_timeout`](TaskHandle::join_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let deadline = Instant::now() + Duration::from_secs(5); // one deadline for every task
    /// let handles: Vec<_> = (1..=3u32).map(|i| pool.submit(move |_| i * 10).unwrap()).collect();
    /// let values: Vec<u32> = handles.into_iter().map(|h| h.join_deadline(deadline).unwrap()).collect();
    /// assert_eq!(values, [10, 20, 30]);
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn join_deadline(self, deadline: Instant) -> Result<T, JoinTimeoutError<T>> {
        let handle = match self.join_unshared() {
            Ok(ended) => return ended.map_err(|e| JoinTimeoutError::Task(*e)),
            Err(handle) => handle,
        };
        match wait_helping(handle.view(), Some(deadline), None) {
            Some(result) => result.map_err(JoinTimeoutError::Task),
            None => Err(JoinTimeoutError::TimedOut(handle)),
        }
    }

    /// Whether the task has finished: it returned, panicked, or was cancelled before it
    /// started. `join` will not block once this is true.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let task = pool.submit(move |_| { let _ = gate.recv(); 5 }).unwrap();
    /// assert!(!task.is_finished()); // blocked until released
    /// drop(release);
    /// pool.shutdown(); // runs it to the end
    /// assert!(task.is_finished());
    /// assert_eq!(task.join().unwrap(), 5); // does not block
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_finished(&self) -> bool {
        self.slot.is_finished()
    }

    /// Cancels the task. A task that has not started will never start: its closure is dropped
    /// (on this thread) and `join` returns [`JoinError::NotStarted`]. A running task has its
    /// context cancelled and ends when it notices; `join` then returns whatever it returned.
    ///
    /// Returns whether this call stopped the task from starting.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{pool::Pool, task::JoinError};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let (started_tx, started) = crossbeam_channel::bounded(1);
    /// let busy = pool.submit(move |_| { started_tx.send(()).unwrap(); let _ = gate.recv(); }).unwrap();
    /// started.recv().unwrap();
    /// let queued = pool.submit(|_| "never runs").unwrap();
    /// assert!(queued.cancel()); // stopped before it started
    /// assert!(matches!(queued.join(), Err(JoinError::NotStarted(_))));
    /// drop(release);
    /// busy.join().unwrap();
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn cancel(&self) -> bool {
        self.slot.cancel()
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
