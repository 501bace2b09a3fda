//! What a shutdown did: why it started, how each service and drain ended, the exit code.

use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::run::{Event, Inbox};
use super::signals;
use crate::threads::JoinHandle;

/// Why a [`Shutdown`](super::Shutdown) began. It is also the reason the root context is
/// cancelled with, so a service can find it in [`Cause::Reason`](crate::Cause::Reason):
///
/// ```
/// use homebound::{Cause, Context, shutdown};
///
/// let ctx = Context::new();
/// ctx.cancel_with(shutdown::Cause::Signal(15));
/// let Some(Cause::Reason(reason)) = ctx.cause() else { unreachable!() };
/// assert_eq!(reason.downcast_ref::<shutdown::Cause>(), Some(&shutdown::Cause::Signal(15)));
/// assert_eq!(reason.to_string(), "received SIGTERM");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// SIGINT or SIGTERM arrived; the signal number.
    Signal(i32),
    /// [`Trigger::fire`](super::Trigger::fire) was called.
    Triggered,
    /// The named service returned an error or panicked (and stops all, the default).
    ServiceFailed(String),
    /// Every service ended on its own, or there were none and nothing could ever start a
    /// shutdown (no signals, no live trigger).
    ServicesEnded,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Signal(signo) => write!(f, "received {}", signals::name(*signo)),
            Cause::Triggered => f.write_str("shutdown triggered"),
            Cause::ServiceFailed(name) => write!(f, "service '{name}' failed"),
            Cause::ServicesEnded => f.write_str("every service ended"),
        }
    }
}

impl std::error::Error for Cause {}

/// How one service or drain ended.
///
/// # Examples
///
/// ```
/// use homebound::shutdown::ServiceOutcome;
///
/// assert!(ServiceOutcome::Ok.is_clean());
/// assert!(!ServiceOutcome::StillRunning.is_clean());
/// assert_eq!(ServiceOutcome::Error("disk full".into()).to_string(), "error: disk full");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceOutcome {
    /// Returned `Ok(())`.
    Ok,
    /// Returned an error; its message.
    Error(String),
    /// Panicked; the panic message.
    Panicked(String),
    /// Still running when the grace period ended (or a second signal forced the exit): a
    /// straggler. Its thread is alive; see [`Report::join_stragglers`].
    StillRunning,
    /// A drain that was never started because the grace period was used up or the shutdown was
    /// forced.
    NotStarted,
}

impl ServiceOutcome {
    /// Whether this is [`ServiceOutcome::Ok`].
    pub fn is_clean(&self) -> bool {
        matches!(self, ServiceOutcome::Ok)
    }
}

impl fmt::Display for ServiceOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceOutcome::Ok => f.write_str("ok"),
            ServiceOutcome::Error(msg) => write!(f, "error: {msg}"),
            ServiceOutcome::Panicked(msg) => write!(f, "panicked: {msg}"),
            ServiceOutcome::StillRunning => f.write_str("still running after the grace period"),
            ServiceOutcome::NotStarted => f.write_str("not started"),
        }
    }
}

/// One service's or drain's line in a [`Report`].
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
/// assert_eq!((line.name(), line.outcome()), ("once", &ServiceOutcome::Ok));
/// assert!(!line.overran());
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct ServiceReport {
    pub(crate) name: String,
    pub(crate) outcome: ServiceOutcome,
    pub(crate) ran: Duration,
    pub(crate) overran: bool,
}

impl ServiceReport {
    /// The name it was registered with.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// How it ended.
    pub fn outcome(&self) -> &ServiceOutcome {
        &self.outcome
    }
    /// How long it ran: until it ended, or until the report was made for a straggler.
    pub fn ran(&self) -> Duration {
        self.ran
    }
    /// Whether it ended only after the grace period (set by
    /// [`Report::join_stragglers`], which then records its real outcome).
    pub fn overran(&self) -> bool {
        self.overran
    }
    /// Whether it is still running (a straggler).
    pub fn is_straggler(&self) -> bool {
        self.outcome == ServiceOutcome::StillRunning
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

/// A thread the report still owns because it outlived the shutdown.
pub(crate) enum Straggler {
    /// A service thread; index into `services`.
    Service(usize, JoinHandle<(ServiceOutcome, Duration)>),
    /// The thread running the drains; it reports each drain by event.
    Drains(JoinHandle<()>),
}

/// What [`Shutdown::wait`](super::Shutdown::wait) saw: why the shutdown began, whether a second
/// signal forced it, how every service and drain ended, and the process exit code to use.
///
/// A straggler's thread is still alive: the report owns its handle. Call
/// [`join_stragglers`](Report::join_stragglers) to give stragglers more time and join
/// them; a straggler that never ends is exactly what [`threads::assert_none_alive`] reports.
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
pub struct Report {
    pub(crate) cause: Cause,
    pub(crate) forced: Option<i32>,
    pub(crate) services: Vec<ServiceReport>,
    pub(crate) drains: Vec<ServiceReport>,
    pub(crate) took: Duration,
    /// Threads still alive when the report was made, with the channel they report on.
    pub(crate) stragglers: Vec<Straggler>,
    pub(crate) inbox: Inbox,
}

impl Report {
    /// Why the shutdown began.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// The signal that forced the exit (a second signal during the shutdown), if one did.
    pub fn forced(&self) -> Option<i32> {
        self.forced
    }

    /// Every service, in registration order.
    pub fn services(&self) -> &[ServiceReport] {
        &self.services
    }

    /// Every drain, in registration order (they ran in reverse).
    pub fn drains(&self) -> &[ServiceReport] {
        &self.drains
    }

    /// Services and drains still running: the stragglers.
    pub fn stragglers(&self) -> impl Iterator<Item = &ServiceReport> {
        self.services
            .iter()
            .chain(&self.drains)
            .filter(|s| s.is_straggler())
    }

    /// How long the shutdown took, from cancelling the root context to the report.
    pub fn took(&self) -> Duration {
        self.took
    }

    /// Whether every service and drain ended `Ok` within the grace period and nothing was
    /// forced.
    pub fn is_clean(&self) -> bool {
        self.forced.is_none()
            && self
                .services
                .iter()
                .chain(&self.drains)
                .all(|s| s.outcome.is_clean() && !s.overran)
    }

    /// The exit code for the process: `128 + signo` when a second signal forced the exit
    /// (130 for SIGINT, 143 for SIGTERM, as shells report them); otherwise `0` when
    /// [clean](Report::is_clean), `1` when a service or drain failed, panicked, was not
    /// started or overran the grace period.
    pub fn exit_code(&self) -> i32 {
        match self.forced {
            Some(signo) => 128 + signo,
            None if self.is_clean() => 0,
            None => 1,
        }
    }

    /// Waits up to `timeout` for the stragglers to end and joins them, recording their real
    /// outcome (marked [`overran`](ServiceReport::overran)). Returns whether none is left.
    ///
    /// Blocks on the stragglers' completion events, never polls.
    pub fn join_stragglers(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        while !self.stragglers.is_empty() {
            match self.inbox.next(deadline) {
                Ok(Event::ServiceEnded(i)) => {
                    self.join_where(|s| matches!(s, Straggler::Service(j, _) if *j == i))
                }
                Ok(Event::DrainEnded(i, outcome, ran)) => self.late_drain(i, outcome, ran),
                Ok(Event::DrainsDone) => self.join_where(|s| matches!(s, Straggler::Drains(_))),
                Ok(Event::Signal(_) | Event::Trigger) => {}
                Err(RecvTimeoutError::Timeout) => break,
                // Every sender is gone, so every straggler has returned: join them all.
                Err(RecvTimeoutError::Disconnected) => self.join_where(|_| true),
            }
        }
        self.stragglers.is_empty()
    }

    /// Joins (and removes) the stragglers that match.
    fn join_where(&mut self, matches: impl Fn(&Straggler) -> bool) {
        let (done, alive): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stragglers)
            .into_iter()
            .partition(|s| matches(s));
        self.stragglers = alive;
        for straggler in done {
            match straggler {
                Straggler::Service(i, handle) => {
                    let (outcome, ran) = super::service::joined(handle);
                    let service = &mut self.services[i];
                    service.outcome = outcome;
                    service.ran = ran;
                    service.overran = true;
                }
                Straggler::Drains(handle) => {
                    // Its thread only sequences drains; each drain's panic was caught there.
                    let _ = handle.join();
                }
            }
        }
    }

    /// Records the real outcome of a drain that outlived the grace period.
    fn late_drain(&mut self, i: usize, outcome: ServiceOutcome, ran: Duration) {
        let drain = &mut self.drains[i];
        if drain.outcome == ServiceOutcome::StillRunning {
            drain.outcome = outcome;
            drain.ran = ran;
            drain.overran = true;
        }
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
            .field("stragglers_alive", &self.stragglers.len())
            .finish()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shutdown: {}", self.cause)?;
        if let Some(signo) = self.forced {
            write!(f, "; forced by a second {}", signals::name(signo))?;
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
