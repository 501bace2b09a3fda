//! Drains: cleanup steps run one at a time, in reverse order of registration, once the
//! services have stopped; and `wait`'s side of running them.

use std::fmt::{self, Display};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::event::{Event, Inbox};
use super::outcome::{ServiceOutcome, ServiceReport};
use super::service::outcome;
use crate::panic::drop_caught;
use crate::threads::{self, JoinHandle};

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
/// * `Err(message)` and panics are recorded in the report; the next drain still runs. A panic
///   whose payload panics again when dropped is contained and reported the same way.
/// * A drain still running when the grace period ends is a straggler; the drains after it are
///   not started (reported [`ServiceOutcome::NotStarted`]) and are dropped without running. The
///   same holds for every drain when a service straggles, the grace period is zero or a second
///   signal forced the exit: there is no time left to give them. If dropping such a drain
///   panics, the panic is caught and reported as its outcome.
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
/// assert!(matches!(report.drains()[0].outcome(), ServiceOutcome::Ok));
/// assert!(matches!(report.drains()[1].outcome(), ServiceOutcome::Error(e) if e == "cache server gone"));
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

impl fmt::Debug for DrainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The drains shared by `wait` and the drain thread, so the two agree on which drains started.
/// The thread takes them one at a time; whatever it has not taken when `wait` stops waiting
/// goes back to `wait`, which drops it (user code) where a panic is caught and reported.
struct Queue {
    /// Set by `wait` when it stops waiting; the thread then starts no further drain.
    abandoned: bool,
    /// Drains not started yet, by registration index.
    pending: Vec<Option<DrainSpec>>,
    /// Indices of the drains started so far, with when they started.
    started: Vec<(usize, Instant)>,
}

/// `wait`'s side of the drains: hand them to their thread, record how each ended.
pub(crate) struct Drains {
    names: Vec<String>,
    queue: Arc<Mutex<Queue>>,
    outcomes: Vec<Option<(ServiceOutcome, Duration)>>,
    /// The drains the thread had started when `wait` stopped waiting.
    started: Vec<(usize, Instant)>,
    thread: Option<JoinHandle<()>>,
}

impl Drains {
    pub(crate) fn new(specs: Vec<DrainSpec>) -> Self {
        Drains {
            names: specs.iter().map(|d| d.name.clone()).collect(),
            outcomes: specs.iter().map(|_| None).collect(),
            queue: Arc::new(Mutex::new(Queue {
                abandoned: false,
                pending: specs.into_iter().map(Some).collect(),
                started: Vec::new(),
            })),
            started: Vec::new(),
            thread: None,
        }
    }

    /// The drains' names, in registration order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Starts the drain thread and waits for it until `deadline`; returns the forcing signal
    /// if one came.
    pub(crate) fn run(&mut self, inbox: &mut Inbox, deadline: Option<Instant>) -> Option<i32> {
        if self.names.is_empty() {
            return None;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        match spawn(Arc::clone(&self.queue), deadline, tx) {
            Ok(thread) => {
                self.thread = Some(thread);
                inbox.add_drains(rx);
            }
            Err(e) => {
                let msg = format!("could not start the drain thread: {e}");
                for slot in &mut self.outcomes {
                    *slot = Some((ServiceOutcome::Error(msg.clone()), Duration::ZERO));
                }
                return None;
            }
        }
        loop {
            match inbox.next(deadline) {
                Ok(Event::DrainEnded(i, outcome, ran)) => self.outcomes[i] = Some((outcome, ran)),
                Ok(Event::DrainsDone) => return None,
                Ok(Event::Signal(signo)) => return Some(signo),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Stops the drain thread from starting anything more, records what it had started, and
    /// drops the drains it never started. Such a drain's `Drop` is user code: a panic there is
    /// caught and reported as the drain's outcome.
    pub(crate) fn abandon(&mut self) {
        let unstarted: Vec<(usize, DrainSpec)> = {
            let mut queue = self.queue.lock();
            queue.abandoned = true;
            self.started = queue.started.clone();
            let pending = std::mem::take(&mut queue.pending);
            pending
                .into_iter()
                .enumerate()
                .filter_map(|(i, spec)| Some((i, spec?)))
                .collect()
        };
        for (i, spec) in unstarted {
            if let Err(panicked) = drop_caught(spec) {
                self.outcomes[i] = Some((ServiceOutcome::Panicked(panicked), Duration::ZERO));
            }
        }
    }

    /// One line per drain, in registration order, and the drain thread if it is still running
    /// a drain (a straggler). Call after [`abandon`](Drains::abandon).
    pub(crate) fn finish(self) -> (Vec<ServiceReport>, Option<JoinHandle<()>>) {
        let Drains {
            names,
            mut outcomes,
            started,
            thread,
            ..
        } = self;
        let all_ended = started.iter().all(|(i, _)| outcomes[*i].is_some());
        let straggler = match thread {
            Some(thread) if !all_ended => Some(thread),
            Some(thread) => {
                // Every drain it started has ended; it is about to send `DrainsDone` and exit.
                super::service::join_quietly(thread);
                None
            }
            None => None,
        };
        let lines = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let (outcome, ran) = outcomes[i].take().unwrap_or_else(|| {
                    match started.iter().find(|(j, _)| *j == i) {
                        Some((_, at)) => (ServiceOutcome::StillRunning, crate::clock::since(*at)),
                        None => (ServiceOutcome::NotStarted, Duration::ZERO),
                    }
                });
                ServiceReport {
                    name,
                    outcome,
                    ran,
                    overran: false,
                }
            })
            .collect();
        (lines, straggler)
    }
}

/// Runs the drains in reverse order on a registered thread, each with the grace time left,
/// until none is left or `wait` abandons them. Each end is sent as `Event::DrainEnded`, and
/// `Event::DrainsDone` when the thread is done.
fn spawn(
    queue: Arc<Mutex<Queue>>,
    deadline: Option<Instant>,
    events: Sender<Event>,
) -> io::Result<JoinHandle<()>> {
    threads::spawn("drains", move || {
        loop {
            let next = {
                let mut queue = queue.lock();
                let next = queue
                    .pending
                    .iter()
                    .rposition(Option::is_some)
                    .filter(|_| !queue.abandoned);
                next.and_then(|i| {
                    let spec = queue.pending[i].take()?;
                    queue.started.push((i, crate::clock::now()));
                    Some((i, spec))
                })
            };
            let Some((i, spec)) = next else { break };
            let remaining = deadline.map_or(Duration::MAX, crate::clock::until);
            let started = crate::clock::now();
            let outcome = outcome(|| spec.drain.drain(remaining));
            let _ = events.send(Event::DrainEnded(i, outcome, crate::clock::since(started)));
        }
        let _ = events.send(Event::DrainsDone);
    })
}
