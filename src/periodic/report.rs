//! What a periodic loop did, why it ended, and its errors.

use std::fmt::{self, Display};
use std::io;

use crate::panic::Panicked;

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
/// assert!(matches!(report.stopped(), periodic::Stop::Cancelled));
/// ```
///
/// It is not `Clone` or `PartialEq`: a panic is kept whole (see [`Panicked`]). Compare with
/// `matches!`.
#[derive(Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Stop {
    /// The context was cancelled (the normal end).
    Cancelled,
    /// The job returned an error and the policy is [`ErrorPolicy::FailFast`](super::ErrorPolicy::FailFast); its message.
    Error(String),
    /// The job panicked and the panic policy is [`ErrorPolicy::FailFast`](super::ErrorPolicy::FailFast); the
    /// panic with its payload, message, thread, location and backtrace.
    Panicked(
        #[cfg_attr(
            feature = "serde",
            serde(serialize_with = "crate::observe_serde::panicked")
        )]
        Panicked,
    ),
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
#[derive(Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::every};
    ///
    /// let ctx = Context::new();
    /// let report = every(&ctx, Duration::from_millis(1), |ctx| {
    ///     ctx.cancel();
    ///     Err("counted too")
    /// })
    /// .unwrap();
    /// assert_eq!(report.runs(), 1); // failed runs count as runs
    /// ```
    pub fn runs(&self) -> u64 {
        self.runs
    }
    /// Ticks skipped because a run was still going when they came ([`MissedTicks::Skip`](super::MissedTicks::Skip)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::every};
    ///
    /// let ctx = Context::new();
    /// let report = every(&ctx, Duration::from_millis(1), |ctx| {
    ///     std::thread::sleep(Duration::from_millis(5)); // outlasts several ticks
    ///     ctx.cancel();
    ///     Ok::<(), String>(())
    /// })
    /// .unwrap();
    /// assert!(report.skipped() >= 1 && report.overruns() == 1);
    /// ```
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
    /// Runs that took longer than the period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::every};
    ///
    /// let ctx = Context::new();
    /// let report = every(&ctx, Duration::from_millis(1), |ctx| {
    ///     std::thread::sleep(Duration::from_millis(3)); // longer than the period
    ///     ctx.cancel();
    ///     Ok::<(), String>(())
    /// })
    /// .unwrap();
    /// assert_eq!(report.overruns(), 1);
    /// ```
    pub fn overruns(&self) -> u64 {
        self.overruns
    }
    /// Runs that returned an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::every};
    ///
    /// let ctx = Context::new();
    /// let mut n = 0;
    /// let report = every(&ctx, Duration::from_millis(1), |ctx| {
    ///     n += 1;
    ///     if n == 3 { ctx.cancel(); }
    ///     if n % 2 == 1 { Err(format!("run {n} failed")) } else { Ok(()) }
    /// })
    /// .unwrap();
    /// assert_eq!((report.runs(), report.errors()), (3, 2)); // errors are survived by default
    /// assert_eq!(report.last_error(), Some("run 3 failed"));
    /// ```
    pub fn errors(&self) -> u64 {
        self.errors
    }
    /// Runs that panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::every};
    ///
    /// let ctx = Context::new();
    /// let report = every(&ctx, Duration::from_millis(1), |ctx| -> Result<(), String> {
    ///     ctx.cancel();
    ///     panic!("bad tick");
    /// })
    /// .unwrap();
    /// assert_eq!(report.panics(), 1); // contained, counted
    /// assert_eq!(report.last_panic(), Some("bad tick"));
    /// ```
    pub fn panics(&self) -> u64 {
        self.panics
    }
    /// The message of the last error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::every};
    ///
    /// let ctx = Context::new();
    /// let report = every(&ctx, Duration::from_millis(1), |ctx| {
    ///     ctx.cancel();
    ///     Err("timeout talking to db")
    /// })
    /// .unwrap();
    /// assert_eq!(report.last_error(), Some("timeout talking to db"));
    /// assert_eq!(report.last_panic(), None);
    /// ```
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// The message of the last panic, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::every};
    ///
    /// let ctx = Context::new();
    /// let report = every(&ctx, Duration::from_millis(1), |ctx| -> Result<(), String> {
    ///     ctx.cancel();
    ///     panic!("index out of range");
    /// })
    /// .unwrap();
    /// assert_eq!(report.last_panic(), Some("index out of range"));
    /// ```
    pub fn last_panic(&self) -> Option<&str> {
        self.last_panic.as_deref()
    }
    /// Why the loop ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::{Every, ErrorPolicy, Stop}};
    ///
    /// let ctx = Context::new();
    /// let report = Every::new(Duration::from_millis(1))?
    ///     .run(&ctx, |ctx| { ctx.cancel(); Ok::<(), String>(()) });
    /// assert!(matches!(report.stopped(), Stop::Cancelled)); // the normal end
    /// let failed = Every::new(Duration::from_millis(1))?
    ///     .on_error(ErrorPolicy::FailFast)
    ///     .run(&Context::new(), |_| Err("boom"));
    /// assert!(matches!(failed.stopped(), Stop::Error(msg) if msg == "boom"));
    /// let crashed = Every::new(Duration::from_millis(1))?
    ///     .on_panic(ErrorPolicy::FailFast)
    ///     .run(&Context::new(), |_| -> Result<(), String> { panic!("bug") });
    /// let Stop::Panicked(panic) = crashed.stopped() else { unreachable!() };
    /// assert_eq!(panic.message(), "bug");
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn stopped(&self) -> &Stop {
        &self.stopped
    }

    /// `Ok(self)` when the loop ended by cancellation, otherwise the job's failure as an error:
    /// handy for a [`Shutdown`](crate::shutdown::Shutdown) service that should fail with its job.
    ///
    /// # Errors
    ///
    /// [`Error::JobFailed`] or [`Error::JobPanicked`] when a
    /// [`ErrorPolicy::FailFast`](super::ErrorPolicy::FailFast) policy ended the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, periodic::{Error, Every, ErrorPolicy}};
    ///
    /// let failed = Every::new(Duration::from_millis(1))?
    ///     .on_error(ErrorPolicy::FailFast)
    ///     .run(&Context::new(), |_| Err("lost connection"));
    /// let err = failed.into_result().unwrap_err();
    /// assert!(matches!(err, Error::JobFailed(msg) if msg == "lost connection"));
    ///
    /// let crashed = Every::new(Duration::from_millis(1))?
    ///     .on_panic(ErrorPolicy::FailFast)
    ///     .run(&Context::new(), |_| -> Result<(), String> { std::panic::panic_any(503_u16) });
    /// let Err(Error::JobPanicked(panic)) = crashed.into_result() else { unreachable!() };
    /// assert_eq!(*panic.downcast_ref::<u16>().unwrap(), 503); // the payload itself
    /// # Ok::<(), homebound::periodic::Error>(())
    /// ```
    pub fn into_result(mut self) -> Result<Report, Error> {
        // The failure moves into the error (a panic is not cloned); the rest of the report,
        // plain counts and messages, is dropped.
        match std::mem::replace(&mut self.stopped, Stop::Cancelled) {
            Stop::Cancelled => Ok(self),
            Stop::Error(msg) => Err(Error::JobFailed(msg)),
            Stop::Panicked(panic) => Err(Error::JobPanicked(panic)),
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
            Stop::Panicked(p) => write!(f, "; stopped by panic: {}", p.message()),
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
    /// The job panicked and the policy stopped it; the panic with its payload, message, thread,
    /// location and backtrace.
    JobPanicked(Panicked),
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroPeriod => {
                f.write_str("the period of a periodic job must be greater than zero")
            }
            Error::Spawn(e) => write!(f, "could not start the periodic job's thread: {e}"),
            Error::JobFailed(msg) => write!(f, "periodic job failed: {msg}"),
            Error::JobPanicked(p) => write!(f, "periodic job panicked: {}", p.message()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn(e) => Some(e),
            Error::JobPanicked(p) => Some(p),
            _ => None,
        }
    }
}
