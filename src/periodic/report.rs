//! What a periodic loop did, why it ended, and its errors.

use std::fmt::{self, Display};
use std::io;

/// Why a periodic loop ended.
///
/// # Examples
///
/// ```
/// use homebound::{Context, periodic, periodic::every};
/// use std::time::Duration;
///
/// let ctx = Context::new();
/// ctx.cancel();
/// let report = every(&ctx, Duration::from_secs(1), |_| Ok::<(), String>(())).unwrap();
/// assert_eq!(report.stopped(), &periodic::Stop::Cancelled);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// The context was cancelled (the normal end).
    Cancelled,
    /// The job returned an error and the policy is [`OnJobError::Stop`](super::OnJobError::Stop); its message.
    Error(String),
    /// The job panicked and the panic policy is [`OnJobError::Stop`](super::OnJobError::Stop); the panic message.
    Panicked(String),
}

/// What a periodic loop did: how often the job ran, what it skipped, what went wrong.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, periodic::every};
///
/// let ctx = Context::new();
/// let mut left = 3;
/// let report = every(&ctx, Duration::from_millis(1), |ctx| {
///     left -= 1;
///     if left == 0 { ctx.cancel(); }
///     Ok::<(), String>(())
/// })
/// .unwrap();
/// assert_eq!(report.runs(), 3);
/// assert_eq!((report.errors(), report.panics()), (0, 0));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub(super) runs: u64,
    pub(super) skipped: u64,
    pub(super) overruns: u64,
    pub(super) errors: u64,
    pub(super) panics: u64,
    pub(super) last_error: Option<String>,
    pub(super) last_panic: Option<String>,
    pub(super) stopped: Stop,
}

impl Report {
    /// An empty report of a loop that has not run yet.
    pub(super) fn new() -> Self {
        Report {
            runs: 0,
            skipped: 0,
            overruns: 0,
            errors: 0,
            panics: 0,
            last_error: None,
            last_panic: None,
            stopped: Stop::Cancelled,
        }
    }

    /// How many times the job was called (errors and panics included).
    pub fn runs(&self) -> u64 {
        self.runs
    }
    /// Ticks skipped because a run was still going when they came ([`MissedTicks::Skip`](super::MissedTicks::Skip)).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
    /// Runs that took longer than the period.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }
    /// Runs that returned an error.
    pub fn errors(&self) -> u64 {
        self.errors
    }
    /// Runs that panicked.
    pub fn panics(&self) -> u64 {
        self.panics
    }
    /// The message of the last error, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// The message of the last panic, if any.
    pub fn last_panic(&self) -> Option<&str> {
        self.last_panic.as_deref()
    }
    /// Why the loop ended.
    pub fn stopped(&self) -> &Stop {
        &self.stopped
    }

    /// `Ok(self)` when the loop ended by cancellation, otherwise the job's failure as an error:
    /// handy for a [`Shutdown`](crate::shutdown::Shutdown) service that should fail with its job.
    ///
    /// # Errors
    ///
    /// [`Error::JobFailed`] or [`Error::JobPanicked`] when a
    /// [`OnJobError::Stop`](super::OnJobError::Stop) policy ended the loop.
    pub fn into_result(self) -> Result<Report, Error> {
        match &self.stopped {
            Stop::Cancelled => Ok(self),
            Stop::Error(msg) => Err(Error::JobFailed(msg.clone())),
            Stop::Panicked(msg) => Err(Error::JobPanicked(msg.clone())),
        }
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} runs, {} skipped ticks, {} overruns, {} errors, {} panics",
            self.runs, self.skipped, self.overruns, self.errors, self.panics
        )?;
        match &self.stopped {
            Stop::Cancelled => f.write_str("; stopped by cancel"),
            Stop::Error(msg) => write!(f, "; stopped by error: {msg}"),
            Stop::Panicked(msg) => write!(f, "; stopped by panic: {msg}"),
        }
    }
}

/// Why a periodic job could not start, or (through [`Report::into_result`]) why it
/// stopped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{periodic::Every, periodic};
///
/// let err = Every::new(Duration::ZERO).unwrap_err();
/// assert!(matches!(err, periodic::Error::ZeroPeriod));
/// assert_eq!(err.to_string(), "the period of a periodic job must be greater than zero");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The period was zero: the job would spin.
    ZeroPeriod,
    /// The thread for [`Every::spawn`](super::Every::spawn) could not be created.
    Spawn(io::Error),
    /// The job returned an error and the policy stopped it; the message.
    JobFailed(String),
    /// The job panicked and the policy stopped it; the panic message.
    JobPanicked(String),
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroPeriod => {
                f.write_str("the period of a periodic job must be greater than zero")
            }
            Error::Spawn(e) => write!(f, "could not start the periodic job's thread: {e}"),
            Error::JobFailed(msg) => write!(f, "periodic job failed: {msg}"),
            Error::JobPanicked(msg) => write!(f, "periodic job panicked: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
