//! [`AcceptError`]: why [`accept`](super::accept) returned without a connection.

use std::error::Error;
use std::fmt;
use std::io;

use crate::Cancelled;

/// Why [`accept`](super::accept) returned without a connection. Nothing was taken from the
/// listener in either case: a connection that was waiting is still there for the next accept.
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use homebound::{Context, net::{self, AcceptError}};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let ctx = Context::new();
/// ctx.cancel_with("stopping");
/// match net::accept(&ctx, &listener) {
///     Err(AcceptError::Cancelled(c)) => assert_eq!(c.to_string(), "cancelled: stopping"),
///     Err(AcceptError::Io(e)) => panic!("socket error: {e}"),
///     Ok(_) => unreachable!("nobody connected"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub enum AcceptError {
    /// The context was cancelled first.
    Cancelled(Cancelled),
    /// The listener or the wake-up machinery failed (for example `EMFILE`: too many open
    /// files). Transient per-connection errors (`EINTR`, `ECONNABORTED`) are retried instead.
    Io(io::Error),
}

impl AcceptError {
    /// Whether the accept stopped because its context was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use homebound::{Context, net};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let ctx = Context::new();
    /// ctx.cancel();
    /// assert!(net::accept(&ctx, &listener).unwrap_err().is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, AcceptError::Cancelled(_))
    }
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::Cancelled(cancelled) => write!(f, "accept {cancelled}"),
            AcceptError::Io(e) => write!(f, "accept failed: {e}"),
        }
    }
}

impl Error for AcceptError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AcceptError::Cancelled(cancelled) => Some(cancelled),
            AcceptError::Io(e) => Some(e),
        }
    }
}

impl From<Cancelled> for AcceptError {
    fn from(cancelled: Cancelled) -> Self {
        AcceptError::Cancelled(cancelled)
    }
}

impl From<io::Error> for AcceptError {
    fn from(e: io::Error) -> Self {
        AcceptError::Io(e)
    }
}
