//! The pool's errors: submit errors that hand the task back, task errors, build errors.

use std::fmt;
use std::io;

use crate::task::JoinError;

use super::handle::TaskHandle;

/// Why a submit did not accept the task; the task comes back in every variant.
///
/// One enum serves every submit method; each documents which variants it can return.
/// `Debug` does not require `F: Debug`, so `.unwrap()` works on a closure.
///
/// # Examples
///
/// ```
/// use homebound::{pool::Pool, pool::SubmitError};
///
/// let pool = Pool::builder().workers(1).build().unwrap();
/// pool.shutdown();
/// let err = pool.try_submit(|_| 7).unwrap_err();
/// assert!(err.is_closed());
/// assert_eq!(err.to_string(), "the pool is shut down");
/// let task = err.into_inner();
/// assert_eq!(task(&homebound::Context::new()), 7); // nothing lost: run it yourself
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[non_exhaustive]
pub enum SubmitError<F> {
    /// Every permitted worker was busy and the queue full: from `try_submit`, or from a blocking
    /// submit called on one of the pool's own workers when the pool may not grow (it never
    /// blocks on its own queue, see [`Pool::submit`](super::Pool::submit)).
    Full(F),
    /// The pool was shut down before the task could be queued.
    Closed(F),
    /// `submit_timeout`: the queue stayed full for the whole timeout.
    Timeout(F),
    /// `submit_ctx`: the caller's context was cancelled while waiting for room.
    Cancelled(F),
}

impl<F> SubmitError<F> {
    /// Takes back the task that was not queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// pool.shutdown();
    /// let err = pool.submit(|_| "report.pdf").unwrap_err();
    /// let task = err.into_inner(); // the task, unrun
    /// assert_eq!(task(&Context::new()), "report.pdf");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_inner(self) -> F {
        match self {
            SubmitError::Full(f)
            | SubmitError::Closed(f)
            | SubmitError::Timeout(f)
            | SubmitError::Cancelled(f) => f,
        }
    }

    /// Whether the queue was full.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).queue_capacity(0).build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let busy = pool.try_submit(move |_| { let _ = gate.recv(); }).unwrap();
    /// let err = pool.try_submit(|_| ()).unwrap_err(); // the only worker is busy, no queue
    /// assert!(err.is_full());
    /// drop(release);
    /// busy.join().unwrap();
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, SubmitError::Full(_))
    }

    /// Whether the pool was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// pool.shutdown();
    /// assert!(pool.submit(|_| ()).unwrap_err().is_closed());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, SubmitError::Closed(_))
    }

    /// Whether a `submit_timeout` ran out of time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).queue_capacity(0).build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let busy = pool.try_submit(move |_| { let _ = gate.recv(); }).unwrap();
    /// let err = pool.submit_timeout(|_| (), Duration::from_millis(10)).unwrap_err();
    /// assert!(err.is_timeout());
    /// drop(release);
    /// busy.join().unwrap();
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, SubmitError::Timeout(_))
    }

    /// Whether a `submit_ctx` was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let ctx = Context::new();
    /// ctx.cancel();
    /// assert!(pool.submit_ctx(&ctx, |_| ()).unwrap_err().is_cancelled());
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, SubmitError::Cancelled(_))
    }

    fn kind(&self) -> &'static str {
        match self {
            SubmitError::Full(_) => "Full",
            SubmitError::Closed(_) => "Closed",
            SubmitError::Timeout(_) => "Timeout",
            SubmitError::Cancelled(_) => "Cancelled",
        }
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(..)", self.kind())
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubmitError::Full(_) => "the pool's queue is full",
            SubmitError::Closed(_) => "the pool is shut down",
            SubmitError::Timeout(_) => "timed out waiting for room in the pool's queue",
            SubmitError::Cancelled(_) => "cancelled while waiting for room in the pool's queue",
        })
    }
}

impl<F> std::error::Error for SubmitError<F> {}

/// The error of [`TaskHandle::join_timeout`]: the task failed, or it is still running and the
/// handle comes back so you can wait again, cancel, or detach.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{pool::JoinTimeoutError, pool::Pool};
///
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let handle = pool.submit(move |_| rx.recv().is_ok()).unwrap();
/// let handle = match handle.join_timeout(Duration::from_millis(10)) {
///     Err(JoinTimeoutError::TimedOut(h)) => h,
///     other => panic!("unexpected {other:?}"),
/// };
/// tx.send(()).unwrap();
/// assert!(handle.join().unwrap());
/// pool.shutdown();
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[non_exhaustive]
pub enum JoinTimeoutError<T> {
    /// The task had not finished in time; here is its handle back.
    TimedOut(TaskHandle<T>),
    /// The task finished without a value.
    Task(JoinError),
}

impl<T> fmt::Debug for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::TimedOut(_) => f.write_str("TimedOut(..)"),
            JoinTimeoutError::Task(e) => f.debug_tuple("Task").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::TimedOut(_) => f.write_str("timed out waiting for the task"),
            JoinTimeoutError::Task(e) => e.fmt(f),
        }
    }
}

impl<T> std::error::Error for JoinTimeoutError<T> {}

/// A pool could not be built: a configuration value was rejected, or its first workers could
/// not be started (every worker that did start has been joined).
///
/// # Examples
///
/// ```
/// use homebound::pool::Pool;
///
/// let err = Pool::builder().workers(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid pool configuration: workers must be at least 1");
/// ```
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug)]
enum BuildErrorKind {
    Config(String),
    Spawn(io::Error),
}

impl BuildError {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        BuildError {
            kind: BuildErrorKind::Config(message.into()),
        }
    }

    pub(crate) fn spawn(error: io::Error) -> Self {
        BuildError {
            kind: BuildErrorKind::Spawn(error),
        }
    }

    /// Whether a configuration value was rejected (as opposed to a thread failing to start).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let err = Pool::builder().workers(0).build().unwrap_err();
    /// assert!(err.is_config());
    /// ```
    pub fn is_config(&self) -> bool {
        matches!(self.kind, BuildErrorKind::Config(_))
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::Config(m) => write!(f, "invalid pool configuration: {m}"),
            BuildErrorKind::Spawn(e) => write!(f, "could not start the pool's workers: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            BuildErrorKind::Spawn(e) => Some(e),
            BuildErrorKind::Config(_) => None,
        }
    }
}
