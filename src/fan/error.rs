//! [`BuildError`]: why a fan helper could not start.

use std::fmt;
use std::io;

/// The error of starting a fan helper: bad configuration, or the OS refused a thread.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan::{self, BuildError}};
///
/// let (_tx, rx) = crossbeam_channel::unbounded::<u32>();
/// let err = fan::fan_out(&Context::new(), rx, 0, |_, n: u32| n).unwrap_err();
/// assert!(matches!(err, BuildError::ZeroWorkers));
/// assert_eq!(err.to_string(), "fan_out needs at least one worker");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// [`fan_out`](super::fan_out) was asked for zero workers.
    ZeroWorkers,
    /// A thread could not be spawned; every thread already started was stopped and joined.
    Spawn(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str("fan_out needs at least one worker"),
            BuildError::Spawn(e) => write!(f, "could not spawn a fan thread: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            BuildError::ZeroWorkers => None,
        }
    }
}
