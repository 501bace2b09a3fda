//! Graceful process shutdown: [`Shutdown`] runs services, listens for SIGINT and SIGTERM, gives
//! everything a grace period, runs drains, and reports how each part ended with the exit code
//! to use; [`signal_context`] is the signal handling alone, for batch tools.
//!
//! **Use it** in `main` of a long-running program (a server, a worker, a daemon) that must stop
//! in order on Ctrl-C or SIGTERM, and tell the operator what did not. **You do not need it** in a
//! batch tool that only has to stop its work on Ctrl-C: take a [`signal_context`] (Go's
//! `signal.NotifyContext`) and pass its context down.
//!
//! The orchestration, in order:
//!
//! 1. **Run.** Each [`service`](Shutdown::service) runs on its own registered thread with a child
//!    of the root context. [`wait`](Shutdown::wait) blocks until a signal (after
//!    [`on_signals`](Shutdown::on_signals)), a [`Trigger`], a failing service (or, under
//!    [`StopOn::AnyEnd`], any service's end), the parent context's cancel
//!    ([`with_parent`](Shutdown::with_parent)), or the end of every service.
//! 2. **Cancel.** The root context is cancelled with a [`Cause`] saying why.
//! 3. **Grace.** `wait` gives the services the grace period to return, then runs the
//!    [drains](Shutdown::drain) (a closure, or a [`Pool`](crate::pool::Pool)) in reverse order
//!    of registration with the time left.
//! 4. **Report.** Whatever is still running when the grace period ends is a straggler
//!    ([`Stragglers`]). A second signal at any point during steps 2-3 ends the wait at once, with
//!    exit code `128 + signo`.
//!
//! # Guarantees
//!
//! * **The process is never held hostage.** A service that ignores cancellation is reported as a
//!   straggler when the grace period ends, and `wait` returns; a second signal returns at once.
//! * **Nothing is hidden.** The [`Report`] has one line per service and drain ([`ServiceOutcome`]:
//!   ok, error, panic, still running, not started), and the exit code is `0` only when all of
//!   them ended `Ok` in time. Its time covers the whole shutdown, cancel callbacks included.
//! * **Panics are contained**, even a panic whose payload panics again when dropped, and a drain
//!   whose `Drop` panics when it is dropped unstarted: each is reported as that line's panic.
//! * **No signal is lost**, even one that arrives before `wait`; after `wait` (and with no other
//!   listener) SIGINT and SIGTERM terminate the process again.
//! * **No leak.** `wait` joins every thread that ended; a straggler's handle stays in the report
//!   ([`Report::join_stragglers`], [`Stragglers`]). Dropping a `Shutdown` without `wait` cancels
//!   and joins.
//!
//! # Examples
//!
//! A failing service stops the others (the default [`ErrorPolicy::FailFast`]):
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
//! assert!(matches!(report.services()[0].outcome(), ServiceOutcome::Ok)); // api stopped cleanly
//! assert_eq!(report.exit_code(), 1);
//! println!("{report}");
//! threads::assert_none_alive(Duration::from_secs(5));
//! # Ok::<(), shutdown::Error>(())
//! ```
//!
//! A batch tool that only needs Ctrl-C to stop its work:
//!
//! ```no_run
//! use homebound::{Context, fan, shutdown};
//!
//! let signals = shutdown::signal_context(&Context::new())?;
//! let lengths = fan::par_map(signals.context(), vec!["a", "bb"], |_ctx, s| {
//!     Ok::<_, std::convert::Infallible>(s.len())
//! });
//! println!("{lengths:?}");
//! std::process::exit(signals.exit_code().unwrap_or(0)); // 130 after Ctrl-C
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
//!   Signal handling is Unix-only: elsewhere [`Shutdown::on_signals`] and [`signal_context`]
//!   leave Ctrl-C its default action.
//! * **The report is plain data**; the live stragglers are a separate value ([`Stragglers`]).
//!   The files form layers with no import cycle: `cause`, `outcome`, `policy` and `error` are
//!   plain data; `event` carries what threads report; `service`, `drain` and `signals` own
//!   threads; `stragglers` and `report` hold what `run` (the body of `wait`) produced; `state`
//!   is what a `Shutdown` holds until then.

mod cause;
mod drain;
mod error;
mod event;
mod outcome;
mod policy;
mod pool_drain;
mod report;
mod run;
mod service;
mod signal_context;
#[cfg(unix)]
mod signals;
mod state;
mod stragglers;

use std::fmt::{self, Display};
use std::time::Duration;

use crossbeam_channel::Sender;

pub use self::cause::Cause;
pub use self::drain::Drain;
use self::drain::DrainSpec;
pub use self::error::Error;
use self::event::{Event, Inbox};
pub use self::outcome::{ServiceOutcome, ServiceReport};
pub use self::policy::{ErrorPolicy, SecondSignal, StopOn};
pub use self::report::Report;
use self::service::ServiceSlot;
pub use self::signal_context::{
    SignalContext, signal_context, signal_context_with, signal_exit_code,
};
use self::state::State;
pub use self::stragglers::Stragglers;
use crate::context::Context;

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
///   failing service (error or panic) stops all; see [`service_with`](Shutdown::service_with)
///   and, to stop all when any service returns, [`stop_on`](Shutdown::stop_on).
/// * **Inside a larger program**: [`with_parent`](Shutdown::with_parent) puts the whole
///   shutdown under a context that a test harness or an embedding service cancels.
/// * **Signals** (Unix): [`on_signals`](Shutdown::on_signals) listens for SIGINT and SIGTERM. The OS
///   handler only writes to a pipe; a registered thread forwards the signal, and `wait` closes
///   and joins that thread before it returns. A signal that arrives before `wait` is not lost:
///   `wait` begins the shutdown at once. After `wait` returns (and no other `Shutdown` listens),
///   SIGINT and SIGTERM get their default action again: they terminate the process.
/// * **Grace**: after cancelling, `wait` gives services and then drains at most the grace
///   period; what is still running is reported as a straggler and left running (the report
///   owns its thread handle, see [`Report::join_stragglers`] and [`Stragglers`]). A zero grace
///   means "do not wait at all": services that have not ended yet are stragglers, drains are not
///   started. The grace period starts when the shutdown begins, before the context is cancelled,
///   so time spent in cancel callbacks counts.
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
    /// Cloned into services, the signal thread and triggers; replaced by `wait`.
    events_tx: Sender<Event>,
    state: State,
}

impl Shutdown {
    /// A shutdown with a 30 s grace period, no services and no signal handling yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::shutdown::{self, Shutdown};
    ///
    /// let report = Shutdown::new().wait(); // nothing could ever start it: returns at once
    /// assert_eq!(report.cause(), &shutdown::Cause::ServicesEnded);
    /// assert!(report.is_ok());
    /// ```
    pub fn new() -> Self {
        Shutdown::with_root(Context::new(), false)
    }

    /// A shutdown whose context is a child of `parent`: cancelling `parent` begins the
    /// shutdown ([`Cause::ContextCancelled`]), so a test harness or an embedding program can
    /// stop it like a signal would. Its services see the parent's cause. Unlike
    /// [`new`](Shutdown::new), `wait` with no services, signals or triggers waits for that
    /// cancel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, shutdown::{self, Shutdown}};
    ///
    /// let harness = Context::new();
    /// let mut shutdown = Shutdown::with_parent(&harness);
    /// shutdown.service("server", |ctx| { ctx.wait(); Ok::<(), String>(()) })?;
    /// harness.cancel(); // e.g. the test is over
    /// let report = shutdown.wait();
    /// assert_eq!(report.cause(), &shutdown::Cause::ContextCancelled);
    /// assert_eq!(report.exit_code(), 0);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn with_parent(parent: &Context) -> Self {
        Shutdown::with_root(parent.child(), true)
    }

    fn with_root(root: Context, has_parent: bool) -> Self {
        let (events_tx, events) = crossbeam_channel::unbounded();
        Shutdown {
            events_tx,
            state: State {
                grace: DEFAULT_GRACE,
                stop_on: StopOn::Failure,
                root,
                has_parent,
                inbox: Inbox::new(events),
                #[cfg(unix)]
                listener: None,
                services: Vec::new(),
                drains: Vec::new(),
            },
        }
    }

    /// Sets the grace period: how long `wait` lets services and drains finish after the
    /// shutdown began. `Duration::ZERO` means not at all; `Duration::MAX` means as long as they
    /// take.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{ServiceOutcome, Shutdown};
    ///
    /// let (_hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::from_millis(10));
    /// shutdown.service("stubborn", move |_ctx| { let _ = release.recv(); Ok::<(), String>(()) })?;
    /// shutdown.trigger().fire();
    /// let mut report = shutdown.wait(); // returns once the grace period is over
    /// assert!(matches!(report.services()[0].outcome(), ServiceOutcome::StillRunning));
    /// drop(_hold);
    /// assert!(report.join_stragglers(Duration::from_secs(5)));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.state.grace = grace;
        self
    }

    /// Sets which service ends begin the shutdown of all: only failures (the default,
    /// [`StopOn::Failure`]) or any end, `Ok` included ([`StopOn::AnyEnd`], oklog/run's rule).
    /// Services registered with [`ErrorPolicy::Continue`] never stop the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{self, Shutdown, StopOn};
    ///
    /// let mut shutdown = Shutdown::new().stop_on(StopOn::AnyEnd);
    /// shutdown.service("migrate", |_ctx| Ok::<(), String>(()))?; // its end stops the others
    /// shutdown.service("server", |ctx| { ctx.wait(); Ok::<(), String>(()) })?;
    /// let report = shutdown.wait();
    /// assert_eq!(report.cause(), &shutdown::Cause::ServiceReturned("migrate".into()));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn stop_on(mut self, stop_on: StopOn) -> Self {
        self.state.stop_on = stop_on;
        self
    }

    /// Listens for SIGINT and SIGTERM. Calling it again is harmless: the first listener stays
    /// and nothing new is installed. Several `Shutdown`s (and [`signal_context`]s) in one
    /// process may listen; each one receives every signal.
    ///
    /// On targets without Unix signals this does nothing: Ctrl-C keeps its default action.
    ///
    /// # Errors
    ///
    /// [`Error::Signals`] if the handlers or the listener thread could not be set up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{self, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.on_signals()?.on_signals()?; // the second call changes nothing
    /// shutdown.trigger().fire(); // stands in for Ctrl-C here
    /// let report = shutdown.wait(); // also stops the signal thread
    /// assert_eq!(report.cause(), &shutdown::Cause::Triggered);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn on_signals(&mut self) -> Result<&mut Self, Error> {
        #[cfg(unix)]
        if self.state.listener.is_none() {
            let events = self.events_tx.clone();
            let listener = signals::Listener::start("signals", move |signo| {
                events.send(Event::Signal(signo)).is_ok()
            })
            .map_err(Error::Signals)?;
            self.state.listener = Some(listener);
        }
        Ok(self)
    }

    /// Starts `f` on its own registered thread with a child of the root context. A service that
    /// returns an error or panics stops all ([`ErrorPolicy::FailFast`]).
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] if the thread could not be created (the closure is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{self, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("server", |ctx| { ctx.wait(); Ok::<(), String>(()) })?;
    /// shutdown.service("loader", |_ctx| Err("bad config"))?; // stops all
    /// let report = shutdown.wait();
    /// assert_eq!(report.cause(), &shutdown::Cause::ServiceFailed("loader".into()));
    /// assert_eq!(report.exit_code(), 1);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    #[track_caller]
    pub fn service<F, E>(&mut self, name: &str, f: F) -> Result<&mut Self, Error>
    where
        F: FnOnce(Context) -> Result<(), E> + Send + 'static,
        E: Display,
    {
        self.service_with(name, ErrorPolicy::FailFast, f)
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
    /// use homebound::{shutdown::ErrorPolicy, shutdown::ServiceOutcome, shutdown::Shutdown, shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service_with("optional", ErrorPolicy::Continue, |_ctx| Err("no GPU"))?;
    /// shutdown.service("main", |_ctx| Ok::<(), &str>(()))?;
    /// let report = shutdown.wait();
    /// assert_eq!(report.cause(), &shutdown::Cause::ServicesEnded);
    /// assert!(matches!(report.services()[0].outcome(), ServiceOutcome::Error(e) if e == "no GPU"));
    /// assert_eq!(report.exit_code(), 1);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    #[track_caller]
    pub fn service_with<F, E>(
        &mut self,
        name: &str,
        on_failure: ErrorPolicy,
        f: F,
    ) -> Result<&mut Self, Error>
    where
        F: FnOnce(Context) -> Result<(), E> + Send + 'static,
        E: Display,
    {
        let events = self.events_tx.clone();
        let index = self.state.services.len();
        let handle = service::spawn(index, name, self.state.root.child(), events, f)
            .map_err(Error::Spawn)?;
        self.state.services.push(ServiceSlot {
            name: name.to_owned(),
            on_failure,
            started: crate::clock::now(),
            handle: Some(handle),
        });
        Ok(self)
    }

    /// Registers a drain: run after the services have ended, in reverse order of registration,
    /// with the grace time left. See [`Drain`] for the contract.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let (order_tx, order) = crossbeam_channel::unbounded();
    /// let (a, b) = (order_tx.clone(), order_tx);
    /// let mut shutdown = Shutdown::new();
    /// shutdown.drain("db", move |_left: Duration| a.send("db").map_err(|e| e.to_string()));
    /// shutdown.drain("queue", move |_left: Duration| b.send("queue").map_err(|e| e.to_string()));
    /// let report = shutdown.wait();
    /// assert_eq!(order.try_iter().collect::<Vec<_>>(), ["queue", "db"]); // reverse order
    /// assert_eq!(report.drains()[0].name(), "db"); // listed in registration order
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn drain(&mut self, name: &str, drain: impl Drain) -> &mut Self {
        self.state.drains.push(DrainSpec {
            name: name.to_owned(),
            drain: Box::new(drain),
        });
        self
    }

    /// A handle that starts the shutdown from anywhere, like a signal would.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{self, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("worker", |ctx| { ctx.wait(); Ok::<(), String>(()) })?;
    /// let trigger = shutdown.trigger();
    /// trigger.fire();
    /// assert_eq!(shutdown.wait().cause(), &shutdown::Cause::Triggered);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn trigger(&self) -> Trigger {
        Trigger {
            events: self.events_tx.clone(),
        }
    }

    /// The root context. Every service gets a child of it; derive your own work from it too, so
    /// it stops with the services.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::new();
    /// let my_work = shutdown.context().child(); // stops with the services
    /// shutdown.trigger().fire();
    /// let _report = shutdown.wait();
    /// assert!(my_work.is_cancelled());
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn context(&self) -> &Context {
        &self.state.root
    }

    /// Blocks until a shutdown begins, runs it within the grace period and reports.
    ///
    /// It returns when every service and drain has ended, when the grace period is over, or at
    /// once on a second signal. Before returning it stops and joins the signal thread and joins
    /// every thread that has ended; stragglers stay in the report.
    ///
    /// With no services, no signals, no live [`Trigger`] and no parent context nothing could
    /// ever start a shutdown, so it runs the drains and returns at once with
    /// [`Cause::ServicesEnded`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{ServiceOutcome, Shutdown};
    ///
    /// let mut shutdown = Shutdown::new();
    /// shutdown.service("a", |_ctx| Ok::<(), String>(()))?;
    /// shutdown.service("b", |_ctx| Ok::<(), String>(()))?;
    /// let report = shutdown.wait(); // every service ended on its own
    /// assert!(report.services().iter().all(|s| matches!(s.outcome(), ServiceOutcome::Ok)));
    /// assert_eq!(report.exit_code(), 0);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn wait(mut self) -> Report {
        // From now on only the listener, the services and live triggers hold senders, so a
        // disconnected channel means nothing can ever start the shutdown.
        let (orphan, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.events_tx, orphan));
        run::wait(&mut self.state)
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("grace", &self.state.grace)
            .field("stop_on", &self.state.stop_on)
            .field("signals", &self.state.listens())
            .field(
                "services",
                &self
                    .state
                    .services
                    .iter()
                    .map(|s| &s.name)
                    .collect::<Vec<_>>(),
            )
            .field("drains", &self.state.drains)
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::{self, Shutdown};
    ///
    /// let shutdown = Shutdown::new();
    /// let trigger = shutdown.trigger();
    /// trigger.fire();
    /// trigger.fire(); // a second fire has no further effect
    /// assert_eq!(shutdown.wait().cause(), &shutdown::Cause::Triggered);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn fire(&self) {
        let _ = self.events.send(Event::Trigger);
    }
}

impl fmt::Debug for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trigger").finish_non_exhaustive()
    }
}
