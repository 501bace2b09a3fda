//! The context's errors: why a context-aware operation stopped.
//!
//! Every error that stands for an operation that could not take the caller's value hands that
//! value back (like crossbeam's `SendError<T>`), and its `Debug` never requires the value to be
//! `Debug`, so `.unwrap()` works on every call.

use std::fmt;

use super::Cause;

/// The error returned when an operation stopped because its [`Context`](crate::Context) was
/// cancelled. It carries the [`Cause`].
///
/// # Examples
///
/// ```
/// use homebound::{Cause, Context};
///
/// let ctx = Context::new();
/// ctx.cancel_with("user pressed stop");
/// let err = ctx.check().unwrap_err();
/// assert_eq!(err.to_string(), "cancelled: user pressed stop");
/// assert!(matches!(err.cause(), Cause::Reason(_)));
/// ```
#[derive(Clone, Debug)]
pub struct Cancelled {
    cause: Cause,
}

impl Cancelled {
    /// Wraps a cause.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cancelled, Cause};
    ///
    /// let err = Cancelled::new(Cause::DeadlineExceeded);
    /// assert_eq!(err.to_string(), "cancelled: deadline exceeded");
    /// ```
    pub fn new(cause: Cause) -> Self {
        Cancelled { cause }
    }

    /// Why the context was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new();
    /// ctx.cancel();
    /// assert_eq!(ctx.check().unwrap_err().cause(), &Cause::Cancelled);
    /// ```
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// Whether the cancellation came from a deadline or timeout (with or without a reason of
    /// yours: [`Cause::is_deadline_exceeded`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::Context;
    ///
    /// let ctx = Context::new().with_timeout(Duration::ZERO);
    /// assert!(ctx.check().unwrap_err().is_deadline_exceeded());
    /// ```
    pub fn is_deadline_exceeded(&self) -> bool {
        self.cause.is_deadline_exceeded()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cancelled: {}", self.cause)
    }
}

impl std::error::Error for Cancelled {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.reason().map(|reason| reason.as_error() as _)
    }
}

/// The error of [`Context::recv`](crate::Context::recv).
///
/// # Examples
///
/// ```
/// use homebound::{Context, context::RecvError};
///
/// let ctx = Context::new();
/// let (tx, rx) = crossbeam_channel::unbounded::<u32>();
/// drop(tx);
/// assert!(matches!(ctx.recv(&rx), Err(RecvError::Disconnected)));
/// ```
#[derive(Clone, Debug)]
pub enum RecvError {
    /// The context was cancelled before a message arrived.
    Cancelled(Cancelled),
    /// Every sender was dropped and the channel is empty.
    Disconnected,
}

/// The error of [`Context::recv_timeout`](crate::Context::recv_timeout).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, context::RecvTimeoutError};
///
/// let ctx = Context::new();
/// let (_tx, rx) = crossbeam_channel::unbounded::<u32>();
/// let err = ctx.recv_timeout(&rx, Duration::from_millis(1)).unwrap_err();
/// assert!(matches!(err, RecvTimeoutError::Timeout));
/// ```
#[derive(Clone, Debug)]
pub enum RecvTimeoutError {
    /// The context was cancelled before a message arrived.
    Cancelled(Cancelled),
    /// No message arrived within the timeout.
    Timeout,
    /// Every sender was dropped and the channel is empty.
    Disconnected,
}

/// The error of [`Context::send`](crate::Context::send): the message was not sent and comes back.
///
/// # Examples
///
/// ```
/// use homebound::{Context, context::SendError};
///
/// let ctx = Context::new();
/// let (tx, rx) = crossbeam_channel::bounded::<String>(0);
/// ctx.cancel();
/// let err = ctx.send(&tx, "hello".to_string()).unwrap_err();
/// assert!(err.is_cancelled());
/// assert_eq!(err.into_inner(), "hello");
/// # drop(rx);
/// ```
pub enum SendError<T> {
    /// The context was cancelled before the message could be sent.
    Cancelled(T),
    /// Every receiver was dropped.
    Disconnected(T),
}

impl<T> SendError<T> {
    /// Takes back the message that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// drop(rx);
    /// let err = ctx.send(&tx, vec![1, 2, 3]).unwrap_err();
    /// assert!(!err.is_cancelled());
    /// assert_eq!(err.into_inner(), vec![1, 2, 3]); // the value comes back
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Cancelled(v) | SendError::Disconnected(v) => v,
        }
    }

    /// Whether the send stopped because the context was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// let (tx, _rx) = crossbeam_channel::bounded::<u8>(0);
    /// ctx.cancel();
    /// assert!(ctx.send(&tx, 1).unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, SendError::Cancelled(_))
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Cancelled(_) => f.write_str("Cancelled(..)"),
            SendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Cancelled(_) => f.write_str("sending on a cancelled context"),
            SendError::Disconnected(_) => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Cancelled(c) => c.fmt(f),
            RecvError::Disconnected => f.write_str("receiving on a disconnected channel"),
        }
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Cancelled(c) => c.fmt(f),
            RecvTimeoutError::Timeout => f.write_str("timed out waiting on a channel"),
            RecvTimeoutError::Disconnected => f.write_str("receiving on a disconnected channel"),
        }
    }
}

impl std::error::Error for RecvTimeoutError {}
