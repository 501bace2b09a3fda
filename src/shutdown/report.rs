//! [`Report`]: what a shutdown did: why it began, how each service and drain ended, how long it
//! took, the exit code.

use std::fmt;
use std::time::Duration;

use super::cause::{Cause, signal_name};
use super::outcome::ServiceReport;
use super::stragglers::{Line, Stragglers};

/// What [`Shutdown::wait`](super::Shutdown::wait) saw: why the shutdown began, whether a second
/// signal forced it, how every service and drain ended, and the process exit code to use.
///
/// It is plain data, except for the [`Stragglers`]: the services and drains still running when
/// the grace period ended, whose threads are alive. [`join_stragglers`](Report::join_stragglers)
/// gives them more time, joins them and records their real outcome;
/// [`take_stragglers`](Report::take_stragglers) moves them out. A straggler that never ends is
/// exactly what [`threads::assert_none_alive`] reports.
///
/// [`threads::assert_none_alive`]: crate::threads::assert_none_alive
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{shutdown::Shutdown, shutdown};
///
/// let mut shutdown = Shutdown::new().grace(Duration::from_secs(5));
/// shutdown.service("ticker", |ctx| { ctx.wait(); Ok::<(), String>(()) }).unwrap();
/// shutdown.trigger().fire();
/// let report = shutdown.wait();
/// assert_eq!(report.cause(), &shutdown::Cause::Triggered);
/// assert_eq!(report.exit_code(), 0);
/// println!("{report}");
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[must_use = "the report says how every service ended and which exit code to use"]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    pub(crate) cause: Cause,
    pub(crate) forced: Option<i32>,
    pub(crate) services: Vec<ServiceReport>,
    pub(crate) drains: Vec<ServiceReport>,
    pub(crate) took: Duration,
    /// `None` when nothing straggled, or once taken.
    #[cfg_attr(feature = "serde", serde(skip))] // live threads, not data
    pub(crate) stragglers: Option<Stragglers>,
}

impl Report {
    /// Why the shutdown began.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{self, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("once", |_ctx| Ok::<(), String>(()))?;
    /// assert_eq!(shutdown.wait().cause(), &shutdown::Cause::ServicesEnded);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// The signal that forced the exit (a second signal during the shutdown), if one did.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::new();
    /// shutdown.trigger().fire();
    /// let report = shutdown.wait();
    /// assert_eq!(report.forced(), None); // only a second signal forces the exit
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn forced(&self) -> Option<i32> {
        self.forced
    }

    /// Every service, in registration order.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{ServiceOutcome, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("ok", |_ctx| Ok::<(), String>(()))?;
    /// shutdown.service("bad", |_ctx| Err("no disk"))?;
    /// let report = shutdown.wait();
    /// assert_eq!(report.services().len(), 2);
    /// assert!(matches!(report.services()[1].outcome(), ServiceOutcome::Error(e) if e == "no disk"));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn services(&self) -> &[ServiceReport] {
        &self.services
    }

    /// Every drain, in registration order (they ran in reverse).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{ServiceOutcome, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.drain("flush", |_left: Duration| Err::<(), _>("disk full"));
    /// let report = shutdown.wait();
    /// assert!(matches!(report.drains()[0].outcome(), ServiceOutcome::Error(e) if e == "disk full"));
    /// assert_eq!(report.exit_code(), 1);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn drains(&self) -> &[ServiceReport] {
        &self.drains
    }

    /// The lines of the services and drains still running: the stragglers.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let (hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    /// shutdown.service("stuck", move |_ctx| { let _ = release.recv(); Ok::<(), String>(()) })?;
    /// shutdown.service("polite", |ctx| { ctx.wait(); Ok::<(), String>(()) })?;
    /// shutdown.trigger().fire();
    /// let mut report = shutdown.wait();
    /// assert!(report.stragglers().any(|s| s.name() == "stuck"));
    /// drop(hold);
    /// assert!(report.join_stragglers(Duration::from_secs(5)));
    /// assert_eq!(report.stragglers().count(), 0);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn stragglers(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services
            .iter()
            .chain(&self.drains)
            .filter(|s| s.is_straggler())
    }

    /// How long the shutdown took: from the moment it began (before the context was cancelled,
    /// so the cancel itself counts) to the report.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("cleanup", |ctx| {
    ///     ctx.wait();
    ///     std::thread::sleep(Duration::from_millis(5)); // work after the cancel counts
    ///     Ok::<(), String>(())
    /// })?;
    /// shutdown.trigger().fire();
    /// assert!(shutdown.wait().elapsed() >= Duration::from_millis(5));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.took
    }

    /// Whether every service and drain ended `Ok` within the grace period and nothing was
    /// forced.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{ErrorPolicy, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service_with("optional", ErrorPolicy::Continue, |_ctx| Err("skipped"))?;
    /// let report = shutdown.wait();
    /// assert!(!report.is_ok()); // a failure that stopped nothing still counts
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn is_ok(&self) -> bool {
        self.forced.is_none()
            && self
                .services
                .iter()
                .chain(&self.drains)
                .all(|s| s.outcome.is_ok() && !s.overran)
    }

    /// The exit code for the process: `128 + signo` when a second signal forced the exit
    /// (130 for SIGINT, 143 for SIGTERM, as shells report them); otherwise `0` when
    /// [clean](Report::is_ok), `1` when a service or drain failed, panicked, was not
    /// started or overran the grace period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("job", |_ctx| Ok::<(), String>(()))?;
    /// let report = shutdown.wait();
    /// assert_eq!(report.exit_code(), 0);
    /// // In `main`: std::process::exit(report.exit_code());
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn exit_code(&self) -> i32 {
        match self.forced {
            Some(signo) => 128 + signo,
            None if self.is_ok() => 0,
            None => 1,
        }
    }

    /// Waits up to `timeout` for the stragglers to end and joins them, recording their real
    /// outcome (marked [`overran`](ServiceReport::overran)). Returns whether none is left.
    ///
    /// Blocks on the stragglers' completion events, never polls.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{ServiceOutcome, Shutdown};
    ///
    /// let (hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    /// shutdown.service("late", move |_ctx| { let _ = release.recv(); Err::<(), _>("gave up") })?;
    /// shutdown.trigger().fire();
    /// let mut report = shutdown.wait();
    /// drop(hold);
    /// assert!(report.join_stragglers(Duration::from_secs(5))); // none left
    /// assert!(matches!(report.services()[0].outcome(), ServiceOutcome::Error(e) if e == "gave up"));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn join_stragglers(&mut self, timeout: Duration) -> bool {
        let Some(stragglers) = &mut self.stragglers else {
            return true;
        };
        let late = stragglers.join_until(crate::clock::after(timeout));
        let none_left = stragglers.is_empty();
        if none_left {
            self.stragglers = None;
        }
        for (at, line) in late {
            let slot = match at {
                Line::Service(i) => self.services.get_mut(i),
                Line::Drain(i) => self.drains.get_mut(i),
            };
            if let Some(slot) = slot.filter(|s| s.is_straggler()) {
                *slot = line;
            }
        }
        none_left
    }

    /// Moves the live stragglers out (`None` if nothing straggled), leaving the report plain
    /// data. Their lines stay [`ServiceOutcome::StillRunning`](super::ServiceOutcome::StillRunning).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("quick", |_ctx| Ok::<(), String>(()))?;
    /// let mut report = shutdown.wait();
    /// assert!(report.take_stragglers().is_none()); // nothing straggled
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn take_stragglers(&mut self) -> Option<Stragglers> {
        self.stragglers.take()
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("cause", &self.cause)
            .field("forced", &self.forced)
            .field("services", &self.services)
            .field("drains", &self.drains)
            .field("took", &self.took)
            .field("stragglers", &self.stragglers)
            .finish()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shutdown: {}", self.cause)?;
        if let Some(signo) = self.forced {
            write!(f, "; forced by a second {}", signal_name(signo))?;
        }
        write!(f, "; took {:?}; exit code {}", self.took, self.exit_code())?;
        for s in &self.services {
            write!(f, "\n  service {s}")?;
        }
        for d in &self.drains {
            write!(f, "\n  drain {d}")?;
        }
        Ok(())
    }
}
