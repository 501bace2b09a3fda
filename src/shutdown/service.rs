//! Services (long-running functions on their own threads) and drains (cleanup steps run in
//! reverse order once the services have stopped).

use std::fmt::{self, Display};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::report::ServiceOutcome;
use super::run::Event;
use crate::context::Context;
use crate::panic::Panicked;
use crate::threads::{self, JoinHandle};

/// What a failing service does to the others; see
/// [`Shutdown::service_with`](super::Shutdown::service_with).
///
/// # Examples
///
/// ```
/// use homebound::shutdown::OnFailure;
///
/// assert_eq!(OnFailure::default(), OnFailure::StopAll);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFailure {
    /// An error or panic begins the shutdown of everything, with
    /// [`Cause::ServiceFailed`](super::Cause::ServiceFailed). The default: a
    /// half-dead process is worse than a restarted one.
    #[default]
    StopAll,
    /// The failure is recorded in the report and the other services keep running.
    Continue,
}

/// A step run during shutdown, after the services were cancelled: a pool to drain, a pipeline to
/// finish, a file to flush.
///
/// # Contract
///
/// * Drains run one at a time, on one registered thread, in **reverse order of registration**
///   (the last thing set up is the first torn down), once every service has ended.
/// * Each gets the grace time left, `remaining`. It should finish within it: stop taking work,
///   finish or hand back what it holds, and return. `Duration::ZERO` means "stop now" (for a
///   pool, `shutdown_now`).
/// * `Err(message)` and panics are recorded in the report; the next drain still runs.
/// * A drain still running when the grace period ends is a straggler; the drains after it are
///   not started (reported [`ServiceOutcome::NotStarted`]) and are dropped without running. The
///   same holds for every drain when a service straggles, the grace period is zero or a second
///   signal forced the exit: there is no time left to give them.
///
/// Any `FnOnce(Duration) -> Result<(), E>` with `E: Display` is a drain.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{shutdown::Drain, shutdown::ServiceOutcome, shutdown::Shutdown};
///
/// struct Flush(Vec<String>);
/// impl Drain for Flush {
///     fn drain(self: Box<Self>, _remaining: Duration) -> Result<(), String> {
///         println!("flushing {} lines", self.0.len());
///         Ok(())
///     }
/// }
///
/// let mut shutdown = Shutdown::new();
/// shutdown.drain("log", Flush(vec!["a".into()]));
/// shutdown.drain("cache", |_left: Duration| Err::<(), _>("cache server gone"));
/// let report = shutdown.wait();
/// assert_eq!(report.drains()[0].outcome(), &ServiceOutcome::Ok);
/// assert_eq!(report.drains()[1].outcome(), &ServiceOutcome::Error("cache server gone".into()));
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
pub trait Drain: Send + 'static {
    /// Finishes within `remaining` (see the trait's contract).
    ///
    /// # Errors
    ///
    /// A message for the report when the drain could not finish cleanly.
    fn drain(self: Box<Self>, remaining: Duration) -> Result<(), String>;
}

impl<F, E> Drain for F
where
    F: FnOnce(Duration) -> Result<(), E> + Send + 'static,
    E: Display,
{
    fn drain(self: Box<Self>, remaining: Duration) -> Result<(), String> {
        (*self)(remaining).map_err(|e| e.to_string())
    }
}

/// A registered drain waiting for its turn.
pub(crate) struct DrainSpec {
    pub(crate) name: String,
    pub(crate) drain: Box<dyn Drain>,
}

/// Runs a user function, turning its error or panic into an [`ServiceOutcome`]. Formatting the error
/// happens inside the catch: a panicking `Display` is a panic like any other.
fn outcome<E: Display>(f: impl FnOnce() -> Result<(), E>) -> ServiceOutcome {
    match Panicked::catch(|| f().map_err(|e| e.to_string())) {
        Ok(Ok(())) => ServiceOutcome::Ok,
        Ok(Err(msg)) => ServiceOutcome::Error(msg),
        Err(panicked) => ServiceOutcome::Panicked(panicked.message().to_owned()),
    }
}

/// Starts a service on its own registered thread. The thread announces its end with
/// `Event::ServiceEnded(index)` and returns its outcome and running time.
pub(crate) fn spawn<F, E>(
    index: usize,
    name: &str,
    ctx: Context,
    events: Sender<Event>,
    f: F,
) -> io::Result<JoinHandle<(ServiceOutcome, Duration)>>
where
    F: FnOnce(Context) -> Result<(), E> + Send + 'static,
    E: Display,
{
    threads::spawn(&format!("service-{name}"), move || {
        let started = Instant::now();
        let outcome = outcome(|| f(ctx));
        let ran = started.elapsed();
        let _ = events.send(Event::ServiceEnded(index));
        (outcome, ran)
    })
}

/// Joins a service thread that has ended (or is ending).
pub(crate) fn joined(handle: JoinHandle<(ServiceOutcome, Duration)>) -> (ServiceOutcome, Duration) {
    // The closure catches every user panic; a panic here would be homebound's own, and it is
    // still reported rather than resumed in the caller's shutdown path.
    handle.join().unwrap_or_else(|payload| {
        let panicked = Panicked::from_payload(payload);
        (
            ServiceOutcome::Panicked(panicked.message().to_owned()),
            Duration::ZERO,
        )
    })
}

/// Progress of the drain thread, shared with `wait` so the two agree on which drains started.
#[derive(Debug, Default)]
pub(crate) struct DrainProgress {
    /// Set by `wait` when it stops waiting; the drain thread then starts no further drain.
    pub(crate) abandoned: bool,
    /// Indices (registration order) of the drains started so far, with when they started.
    pub(crate) started: Vec<(usize, Instant)>,
}

/// Runs the drains in reverse order on a registered thread, each with the grace time left.
/// Each end is sent as `Event::DrainEnded`, and `Event::DrainsDone` when the thread is done.
pub(crate) fn spawn_drains(
    drains: Vec<DrainSpec>,
    deadline: Option<Instant>,
    progress: Arc<Mutex<DrainProgress>>,
    events: Sender<Event>,
) -> io::Result<JoinHandle<()>> {
    threads::spawn("drains", move || {
        let mut drains: Vec<Option<DrainSpec>> = drains.into_iter().map(Some).collect();
        for i in (0..drains.len()).rev() {
            {
                let mut progress = progress.lock();
                if progress.abandoned {
                    break;
                }
                progress.started.push((i, Instant::now()));
            }
            let Some(spec) = drains[i].take() else {
                continue;
            };
            let remaining = deadline.map_or(Duration::MAX, |at| {
                at.saturating_duration_since(Instant::now())
            });
            let started = Instant::now();
            let outcome = outcome(|| spec.drain.drain(remaining));
            let _ = events.send(Event::DrainEnded(i, outcome, started.elapsed()));
        }
        // Drains never started are dropped here, on this thread, not in the caller's report.
        drop(drains);
        let _ = events.send(Event::DrainsDone);
    })
}

impl fmt::Debug for DrainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
