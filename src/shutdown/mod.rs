//! Graceful process shutdown: [`Shutdown`] runs services, listens for SIGINT and SIGTERM, gives
//! everything a grace period, runs drains, and reports how each part ended with the exit code
//! to use.
//!
//! **Use it** in `main` of a long-running program (a server, a worker, a daemon) that must stop
//! in order on Ctrl-C or SIGTERM, and tell the operator what did not. **You do not need it** in a
//! batch tool that only has to stop its work on Ctrl-C: cancel a [`Context`] from a signal
//! handler of your choice and pass it down.
//!
//! The orchestration, in order:
//!
//! 1. **Run.** Each [`service`](Shutdown::service) runs on its own registered thread with a child
//!    of the root context. [`wait`](Shutdown::wait) blocks until a signal (after
//!    [`on_signals`](Shutdown::on_signals)), a [`Trigger`], a failing service, or the
//!    end of every service.
//! 2. **Cancel.** The root context is cancelled with a [`Cause`] saying why.
//! 3. **Grace.** `wait` gives the services the grace period to return, then runs the
//!    [drains](Shutdown::drain) (a closure, or a [`Pool`](crate::pool::Pool)) in reverse order
//!    of registration with the time left.
//! 4. **Report.** Whatever is still running when the grace period ends is a straggler. A second
//!    signal at any point during steps 2-3 ends the wait at once, with exit code `128 + signo`.
//!
//! # Guarantees
//!
//! * **The process is never held hostage.** A service that ignores cancellation is reported as a
//!   straggler when the grace period ends, and `wait` returns; a second signal returns at once.
//! * **Nothing is hidden.** The [`Report`] has one line per service and drain ([`ServiceOutcome`]:
//!   ok, error, panic, still running, not started), and the exit code is `0` only when all of
//!   them ended `Ok` in time.
//! * **No signal is lost**, even one that arrives before `wait`; after `wait` (and with no other
//!   `Shutdown` listening) SIGINT and SIGTERM terminate the process again.
//! * **No leak.** `wait` joins every thread that ended; a straggler's handle stays in the report
//!   ([`Report::join_stragglers`]). Dropping a `Shutdown` without `wait` cancels and joins.
//!
//! # Examples
//!
//! A failing service stops the others (the default [`OnFailure::StopAll`]):
//!
//! ```
//! use std::time::Duration;
//! use homebound::{shutdown::{self, ServiceOutcome, Shutdown}, threads};
//!
//! let mut shutdown = Shutdown::new().grace(Duration::from_secs(5));
//! shutdown
//!     .service("api", |ctx| { ctx.wait(); Ok::<(), String>(()) })?
//!     .service("db", |_ctx| Err::<(), _>("connection refused".to_string()))?;
//! shutdown.drain("flush", |_left: Duration| Ok::<(), String>(()));
//! let report = shutdown.wait();
//! assert_eq!(report.cause(), &shutdown::Cause::ServiceFailed("db".into()));
//! assert_eq!(report.services()[0].outcome(), &ServiceOutcome::Ok); // api stopped cleanly
//! assert_eq!(report.exit_code(), 1);
//! println!("{report}");
//! threads::assert_none_alive(Duration::from_secs(5));
//! # Ok::<(), shutdown::Error>(())
//! ```
//!
//! # Design
//!
//! * **Registration returns `Result<&mut Self, Error>`**: starting a thread or installing a
//!   handler can fail, and homebound does not panic on it; `?` still chains like a builder.
//! * **Services start at registration**, not in `wait`, so the program runs while `main` sets
//!   up the rest, and a signal that arrives meanwhile is queued.
//! * **Drains run only after every service ended**: producers stop before consumers drain. If
//!   a service straggles, no time is left and the drains are reported as not started.
//! * **Any signal during the shutdown forces it**, whatever began it: the operator is impatient
//!   either way.
//! * **The OS handler only writes to a pipe** (signal-hook); a registered thread forwards the
//!   signal. signal-hook never uninstalls its handler, and without one a signal would be
//!   ignored, so a process-wide flag restores the default action once no listener is open.

mod pool_drain;
mod report;
mod run;
mod service;
mod signals;

use std::fmt::{self, Display};
use std::io;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

pub use self::report::{Cause, Report, ServiceOutcome, ServiceReport};
use self::run::{Event, Inbox};
use self::service::DrainSpec;
pub use self::service::{Drain, OnFailure};
use self::signals::Listener;
use crate::context::Context;
use crate::threads::JoinHandle;

/// The default grace period: Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Graceful process shutdown: run services, stop them on SIGINT/SIGTERM, a trigger or a failure,
/// give them a grace period, run drains, and report what ended how.
///
/// ```no_run
/// use std::time::Duration;
/// use homebound::shutdown::Shutdown;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mut shutdown = Shutdown::new().grace(Duration::from_secs(10));
///     shutdown.on_signals()?.service("ticker", |ctx| {
///         while ctx.sleep(Duration::from_secs(1)).is_ok() {
///             println!("tick");
///         }
///         Ok::<(), String>(())
///     })?;
///     let report = shutdown.wait(); // Ctrl-C
///     println!("{report}");
///     std::process::exit(report.exit_code());
/// }
/// ```
///
/// * **Services** run each on a registered thread named `homebound-service-<name>-<n>`, with a
///   child of [`context`](Shutdown::context): they stop when it is cancelled. By default a
///   failing service (error or panic) stops all; see [`service_with`](Shutdown::service_with).
/// * **Signals**: [`on_signals`](Shutdown::on_signals) listens for SIGINT and SIGTERM. The OS
///   handler only writes to a pipe; a registered thread forwards the signal, and `wait` closes
///   and joins that thread before it returns. A signal that arrives before `wait` is not lost:
///   `wait` begins the shutdown at once. After `wait` returns (and no other `Shutdown` listens),
///   SIGINT and SIGTERM get their default action again: they terminate the process.
/// * **Grace**: after cancelling, `wait` gives services and then drains at most the grace
///   period; what is still running is reported as a straggler and left running (the report
///   owns its thread handle, see [`Report::join_stragglers`]). A zero grace means "do
///   not wait at all": services that have not ended yet are stragglers, drains are not started.
/// * **Second signal**: once the shutdown has begun (whatever began it), a SIGINT or SIGTERM
///   makes `wait` return at once, forced, with exit code `128 + signo`, even if a service or a
///   drain is stuck.
///
/// Dropping a `Shutdown` without calling `wait` cancels its context, stops the signal
/// listener and joins every service (blocking until they return), so nothing leaks.
///
/// # Examples
///
/// A programmatic stop, with a service that drains its queue and a drain step:
///
/// ```
/// use std::time::Duration;
/// use crossbeam_channel::unbounded;
/// use homebound::{shutdown::Shutdown, shutdown};
///
/// let (jobs_tx, jobs) = unbounded::<u32>();
/// let mut shutdown = Shutdown::new().grace(Duration::from_secs(5));
/// shutdown.service("worker", move |ctx| {
///     let mut done = 0;
///     while let Ok(_job) = ctx.recv(&jobs) {
///         done += 1;
///     }
///     // Cancelled: finish what is queued, then return.
///     done += jobs.try_iter().count();
///     println!("worker handled {done} jobs");
///     Ok::<(), String>(())
/// }).unwrap();
/// shutdown.drain("flush", |_left: Duration| Ok::<(), String>(()));
/// for n in 0..3 { jobs_tx.send(n).unwrap(); }
/// shutdown.trigger().fire();
/// let report = shutdown.wait();
/// assert_eq!(report.cause(), &shutdown::Cause::Triggered);
/// assert_eq!(report.exit_code(), 0);
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[must_use = "dropping a Shutdown cancels its services at once; call wait()"]
pub struct Shutdown {
    grace: Duration,
    root: Context,
    events_tx: Sender<Event>,
    /// Events for `wait`; moved into the report by it.
    inbox: Inbox,
    /// `Some` once `on_signals` succeeded; stopped (and joined) by `wait` or `drop`.
    listener: Option<Listener>,
    services: Vec<ServiceSlot>,
    drains: Vec<DrainSpec>,
}

/// A started service: its name, policy and thread.
struct ServiceSlot {
    name: String,
    on_failure: OnFailure,
    /// When it was spawned: a straggler's running time is measured from here.
    started: Instant,
    /// `None` once joined.
    handle: Option<JoinHandle<(ServiceOutcome, Duration)>>,
}

impl Shutdown {
    /// A shutdown with a 30 s grace period, no services and no signal handling yet.
    pub fn new() -> Self {
        let (events_tx, events) = crossbeam_channel::unbounded();
        Shutdown {
            grace: DEFAULT_GRACE,
            root: Context::new(),
            events_tx,
            inbox: Inbox::new(events),
            listener: None,
            services: Vec::new(),
            drains: Vec::new(),
        }
    }

    /// Sets the grace period: how long `wait` lets services and drains finish after cancelling.
    /// `Duration::ZERO` means not at all; `Duration::MAX` means as long as they take.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Listens for SIGINT and SIGTERM. Calling it again is harmless: the first listener stays
    /// and nothing new is installed. Several `Shutdown`s in one process may listen; each one
    /// receives every signal.
    ///
    /// # Errors
    ///
    /// [`Error::Signals`] if the handlers or the listener thread could not be set up.
    pub fn on_signals(&mut self) -> Result<&mut Self, Error> {
        if self.listener.is_none() {
            let listener = Listener::start(self.events_tx.clone()).map_err(Error::Signals)?;
            self.listener = Some(listener);
        }
        Ok(self)
    }

    /// Starts `f` on its own registered thread with a child of the root context. A service that
    /// returns an error or panics stops all ([`OnFailure::StopAll`]).
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] if the thread could not be created (the closure is dropped).
    #[track_caller]
    pub fn service<F, E>(&mut self, name: &str, f: F) -> Result<&mut Self, Error>
    where
        F: FnOnce(Context) -> Result<(), E> + Send + 'static,
        E: Display,
    {
        self.service_with(name, OnFailure::StopAll, f)
    }

    /// Like [`service`](Shutdown::service), choosing what the service's failure does to the
    /// others.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] if the thread could not be created (the closure is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{shutdown::OnFailure, shutdown::ServiceOutcome, shutdown::Shutdown, shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service_with("optional", OnFailure::Continue, |_ctx| Err("no GPU"))?;
    /// shutdown.service("main", |_ctx| Ok::<(), &str>(()))?;
    /// let report = shutdown.wait();
    /// assert_eq!(report.cause(), &shutdown::Cause::ServicesEnded);
    /// assert_eq!(report.services()[0].outcome(), &ServiceOutcome::Error("no GPU".into()));
    /// assert_eq!(report.exit_code(), 1);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    #[track_caller]
    pub fn service_with<F, E>(
        &mut self,
        name: &str,
        on_failure: OnFailure,
        f: F,
    ) -> Result<&mut Self, Error>
    where
        F: FnOnce(Context) -> Result<(), E> + Send + 'static,
        E: Display,
    {
        let index = self.services.len();
        let handle = service::spawn(index, name, self.root.child(), self.events_tx.clone(), f)
            .map_err(Error::Spawn)?;
        self.services.push(ServiceSlot {
            name: name.to_owned(),
            on_failure,
            started: Instant::now(),
            handle: Some(handle),
        });
        Ok(self)
    }

    /// Registers a drain: run after the services have ended, in reverse order of registration,
    /// with the grace time left. See [`Drain`] for the contract.
    pub fn drain(&mut self, name: &str, drain: impl Drain) -> &mut Self {
        self.drains.push(DrainSpec {
            name: name.to_owned(),
            drain: Box::new(drain),
        });
        self
    }

    /// A handle that starts the shutdown from anywhere, like a signal would.
    pub fn trigger(&self) -> Trigger {
        Trigger {
            events: self.events_tx.clone(),
        }
    }

    /// The root context. Every service gets a child of it; derive your own work from it too, so
    /// it stops with the services.
    pub fn context(&self) -> &Context {
        &self.root
    }

    /// Blocks until a shutdown begins, runs it within the grace period and reports.
    ///
    /// It returns when every service and drain has ended, when the grace period is over, or at
    /// once on a second signal. Before returning it stops and joins the signal thread and joins
    /// every thread that has ended; stragglers stay in the report.
    ///
    /// With no services, no signals and no live [`Trigger`] nothing could ever start a
    /// shutdown, so it runs the drains and returns at once with
    /// [`Cause::ServicesEnded`].
    ///
    /// # Panics
    ///
    /// Only if an [`on_cancel`](Context::on_cancel) callback registered on the shutdown's
    /// context panics: the panic is resumed here, as [`Context::cancel`] does, after the whole
    /// tree is cancelled; dropping the `Shutdown` then joins the services.
    pub fn wait(mut self) -> Report {
        run::wait(&mut self)
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        // After `wait` everything below is already empty: only stragglers remain, in the report.
        self.root.cancel();
        if let Some(listener) = &mut self.listener {
            listener.stop();
        }
        for slot in &mut self.services {
            if let Some(handle) = slot.handle.take() {
                let _ = service::joined(handle);
            }
        }
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("grace", &self.grace)
            .field("signals", &self.listener.is_some())
            .field(
                "services",
                &self.services.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("drains", &self.drains)
            .finish_non_exhaustive()
    }
}

/// Starts a [`Shutdown`] programmatically, as a signal would. Cheap to clone; firing more than
/// once, or after the shutdown began, has no further effect.
///
/// While a trigger is alive, [`Shutdown::wait`] with no services keeps waiting for it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{shutdown::Shutdown, shutdown, threads};
///
/// let mut shutdown = Shutdown::new();
/// let trigger = shutdown.trigger();
/// shutdown.service("admin", move |_ctx| {
///     // e.g. an admin endpoint received "stop"
///     trigger.fire();
///     Ok::<(), String>(())
/// }).unwrap();
/// shutdown.service("main", |ctx| { ctx.wait(); Ok::<(), String>(()) }).unwrap();
/// let report = shutdown.wait();
/// assert_eq!(report.cause(), &shutdown::Cause::Triggered);
/// # threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct Trigger {
    events: Sender<Event>,
}

impl Trigger {
    /// Starts the shutdown (cause [`Cause::Triggered`]).
    pub fn fire(&self) {
        let _ = self.events.send(Event::Trigger);
    }
}

impl fmt::Debug for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trigger").finish_non_exhaustive()
    }
}

/// Why [`Shutdown::on_signals`] or [`Shutdown::service`] failed.
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
