//! [`JoinError`]: why a task's handle has no value.

use std::fmt;

use crate::context::Cancelled;
use crate::panic::Panicked;

/// Why a task's handle has no value: the one end type of [`pool::TaskHandle`] and
/// [`group::TaskHandle`], so a caller learns it once.
///
/// A pool handle carries the panic itself. A group reports a task's own error and its panic
/// payload in the group's result, where errors are collected; its handle says `Failed`, or
/// `Panicked` with the message and thread but without the payload.
///
/// [`pool::TaskHandle`]: crate::pool::TaskHandle
/// [`group::TaskHandle`]: crate::group::TaskHandle
///
/// # Examples
///
/// ```
/// use homebound::pool::Pool;
/// use homebound::task::JoinError;
///
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let handle = pool.submit(|_| -> u32 { panic!("bad pixel") }).unwrap();
/// match handle.join() {
///     Err(JoinError::Panicked(p)) => assert_eq!(p.message(), "bad pixel"),
///     other => panic!("unexpected {other:?}"),
/// }
/// pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JoinError {
    /// The task panicked; the panic was caught after it unwound the task.
    Panicked(Panicked),
    /// The task never started: it was cancelled (through its handle, its group or a shutdown)
    /// before a worker took it.
    NotStarted(Cancelled),
    /// The task returned `Err`; its group's result carries the error (group handles only).
    Failed,
    /// The task never started: its thread could not be spawned.
    Spawn,
}

impl JoinError {
    /// Whether the task panicked.
    ///
    /// ```
    /// use homebound::task::JoinError;
    /// assert!(!JoinError::Failed.is_panicked());
    /// ```
    pub fn is_panicked(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// Whether the task never started (cancelled first, or its thread could not be spawned).
    ///
    /// ```
    /// use homebound::task::JoinError;
    /// assert!(JoinError::Spawn.is_not_started());
    /// ```
    pub fn is_not_started(&self) -> bool {
        matches!(self, JoinError::NotStarted(_) | JoinError::Spawn)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(p) => write!(f, "the task {p}"),
            JoinError::NotStarted(cause) => write!(f, "the task was not started: {cause}"),
            JoinError::Failed => f.write_str("the task returned an error (see its group's result)"),
            JoinError::Spawn => {
                f.write_str("the task was not started: its thread could not be spawned")
            }
        }
    }
}

impl std::error::Error for JoinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinError::Panicked(p) => Some(p),
            JoinError::NotStarted(c) => Some(c),
            JoinError::Failed | JoinError::Spawn => None,
        }
    }
}
