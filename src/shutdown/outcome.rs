//! How one service or drain ended ([`ServiceOutcome`]) and its line in the report
//! ([`ServiceReport`]).

use std::fmt;
use std::time::Duration;

use crate::panic::Panicked;

/// How one service or drain ended.
///
/// # Examples
///
/// ```
/// use homebound::shutdown::ServiceOutcome;
///
/// assert!(ServiceOutcome::Ok.is_ok());
/// assert!(!ServiceOutcome::StillRunning.is_ok());
/// assert_eq!(ServiceOutcome::Error("disk full".into()).to_string(), "error: disk full");
/// ```
///
/// It is not `Clone` or `PartialEq`: a panic is kept whole (see [`Panicked`]). Compare with
/// `matches!` or [`is_ok`](ServiceOutcome::is_ok).
#[derive(Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum ServiceOutcome {
    /// Returned `Ok(())`.
    Ok,
    /// Returned an error; its message.
    Error(String),
    /// Panicked: the panic with its payload, message, thread, location and backtrace. For a
    /// drain that was never started, the panic of dropping it.
    Panicked(
        #[cfg_attr(
            feature = "serde",
            serde(serialize_with = "crate::observe_serde::panicked")
        )]
        Panicked,
    ),
    /// Still running when the grace period ended (or a second signal forced the exit): a
    /// straggler. Its thread is alive; see
    /// [`Report::join_stragglers`](super::Report::join_stragglers).
    StillRunning,
    /// A drain that was never started because the grace period was used up or the shutdown was
    /// forced.
    NotStarted,
}

impl ServiceOutcome {
    /// Whether this is [`ServiceOutcome::Ok`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::shutdown::ServiceOutcome;
    ///
    /// assert!(ServiceOutcome::Ok.is_ok());
    /// assert!(!ServiceOutcome::Error("bug".into()).is_ok());
    /// assert!(!ServiceOutcome::NotStarted.is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, ServiceOutcome::Ok)
    }
}

impl fmt::Display for ServiceOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceOutcome::Ok => f.write_str("ok"),
            ServiceOutcome::Error(msg) => write!(f, "error: {msg}"),
            ServiceOutcome::Panicked(p) => write!(f, "panicked: {}", p.message()),
            ServiceOutcome::StillRunning => f.write_str("still running after the grace period"),
            ServiceOutcome::NotStarted => f.write_str("not started"),
        }
    }
}

/// One service's or drain's line in a [`Report`](super::Report).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{shutdown::ServiceOutcome, shutdown::Shutdown};
///
/// let mut shutdown = Shutdown::new();
/// shutdown.service("once", |_ctx| Ok::<(), String>(())).unwrap();
/// let report = shutdown.wait();
/// let line = &report.services()[0];
/// assert_eq!(line.name(), "once");
/// assert!(matches!(line.outcome(), ServiceOutcome::Ok));
/// assert!(!line.overran());
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ServiceReport {
    pub(crate) name: String,
    pub(crate) outcome: ServiceOutcome,
    pub(crate) ran: Duration,
    pub(crate) overran: bool,
}

impl ServiceReport {
    /// The name it was registered with.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("api", |_ctx| Ok::<(), String>(()))?;
    /// shutdown.service("jobs", |_ctx| Ok::<(), String>(()))?;
    /// let report = shutdown.wait();
    /// let names: Vec<_> = report.services().iter().map(|s| s.name()).collect();
    /// assert_eq!(names, ["api", "jobs"]);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
    /// How it ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{ServiceOutcome, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("crashy", |_ctx| -> Result<(), String> { panic!("oops") })?;
    /// let report = shutdown.wait();
    /// let ServiceOutcome::Panicked(panic) = report.services()[0].outcome() else { unreachable!() };
    /// assert_eq!(panic.message(), "oops");
    /// assert!(panic.thread().unwrap().starts_with("homebound-service-crashy"));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn outcome(&self) -> &ServiceOutcome {
        &self.outcome
    }
    /// How long it ran: until it ended, or until the report was made for a straggler.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("nap", |_ctx| {
    ///     std::thread::sleep(Duration::from_millis(5));
    ///     Ok::<(), String>(())
    /// })?;
    /// let report = shutdown.wait();
    /// assert!(report.services()[0].elapsed() >= Duration::from_millis(5));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.ran
    }
    /// Whether it ended only after the grace period (set by
    /// [`Report::join_stragglers`](super::Report::join_stragglers), which then records its real
    /// outcome).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let (hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    /// shutdown.service("slow", move |_ctx| { let _ = release.recv(); Ok::<(), String>(()) })?;
    /// shutdown.trigger().fire();
    /// let mut report = shutdown.wait();
    /// assert!(!report.services()[0].overran()); // not ended yet
    /// drop(hold);
    /// assert!(report.join_stragglers(Duration::from_secs(5)));
    /// assert!(report.services()[0].overran()); // ended, after the grace period
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn overran(&self) -> bool {
        self.overran
    }
    /// Whether it is still running (a straggler).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let (hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    /// shutdown.service("slow", move |_ctx| { let _ = release.recv(); Ok::<(), String>(()) })?;
    /// shutdown.trigger().fire();
    /// let mut report = shutdown.wait();
    /// assert!(report.services()[0].is_straggler());
    /// drop(hold);
    /// assert!(report.join_stragglers(Duration::from_secs(5)));
    /// assert!(!report.services()[0].is_straggler());
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn is_straggler(&self) -> bool {
        matches!(self.outcome, ServiceOutcome::StillRunning)
    }
}

impl fmt::Display for ServiceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (ran {:?}", self.name, self.outcome, self.ran)?;
        if self.overran {
            f.write_str(", ended after the grace period")?;
        }
        f.write_str(")")
    }
}
