//! [`Error`]: why a shutdown could not be set up.

use std::fmt::{self, Display};
use std::io;

/// Why [`Shutdown::on_signals`](super::Shutdown::on_signals),
/// [`Shutdown::service`](super::Shutdown::service) or
/// [`signal_context`](super::signal_context) failed.
///
/// # Examples
///
/// ```
/// use homebound::shutdown;
///
/// let err = shutdown::Error::Spawn(std::io::Error::other("no threads left"));
/// assert_eq!(err.to_string(), "could not start a service thread: no threads left");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The signal handlers or the listener thread could not be set up.
    Signals(io::Error),
    /// A service's thread could not be created.
    Spawn(io::Error),
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Signals(e) => write!(f, "could not listen for signals: {e}"),
            Error::Spawn(e) => write!(f, "could not start a service thread: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Signals(e) | Error::Spawn(e) => Some(e),
        }
    }
}
