//! The body of [`Shutdown::wait`]: wait for a cause, cancel, give the services and then the
//! drains the grace period, and build the report.

use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Select};
use parking_lot::Mutex;

use super::report::{Cause, Report, ServiceOutcome, ServiceReport, Straggler};
use super::service::{self, DrainProgress, DrainSpec};
use super::{OnFailure, Shutdown};
use crate::threads::JoinHandle;

/// What the threads around a shutdown tell [`Shutdown::wait`].
pub(crate) enum Event {
    /// The signal thread received this signal.
    Signal(i32),
    /// A [`Trigger`] fired.
    Trigger,
    /// The service with this index returned (or panicked); its thread is exiting.
    ServiceEnded(usize),
    /// The drain with this index ended, with its outcome and duration.
    DrainEnded(usize, ServiceOutcome, Duration),
    /// The drain thread has nothing left to run.
    DrainsDone,
}

/// The receiving ends `wait` and the report listen on: the main event channel (signals,
/// triggers, services) and the drain thread's own channel. A channel that disconnects is dropped
/// from the set; the inbox is disconnected when both are.
pub(crate) struct Inbox {
    events: Option<Receiver<Event>>,
    drains: Option<Receiver<Event>>,
}

impl Inbox {
    /// An inbox on the main event channel only.
    pub(super) fn new(events: Receiver<Event>) -> Self {
        Inbox {
            events: Some(events),
            drains: None,
        }
    }

    /// The next event, waiting until `deadline` (`None`: no limit).
    pub(crate) fn next(&mut self, deadline: Option<Instant>) -> Result<Event, RecvTimeoutError> {
        loop {
            let mut sel = Select::new();
            let rxs: Vec<&Receiver<Event>> = self.events.iter().chain(&self.drains).collect();
            if rxs.is_empty() {
                return Err(RecvTimeoutError::Disconnected);
            }
            for rx in &rxs {
                sel.recv(rx);
            }
            let op = match deadline {
                Some(at) => sel
                    .select_deadline(at)
                    .map_err(|_| RecvTimeoutError::Timeout)?,
                None => sel.select(),
            };
            let index = op.index();
            let from_events = index == 0 && self.events.is_some();
            match op.recv(rxs[index]) {
                Ok(event) => return Ok(event),
                Err(_) if from_events => self.events = None,
                Err(_) => self.drains = None,
            }
        }
    }
}

/// Runs a whole shutdown; see [`Shutdown::wait`].
pub(super) fn wait(shutdown: &mut Shutdown) -> Report {
    // From now on only the listener, the services and live triggers hold senders, so a
    // disconnected channel means nothing can ever start the shutdown.
    let (orphan, _) = crossbeam_channel::bounded(0);
    drop(mem::replace(&mut shutdown.events_tx, orphan));
    let mut drains = Drains::new(mem::take(&mut shutdown.drains));
    let mut run = Run::new(shutdown);

    let cause = run.until_shutdown();
    run.shutdown.root.cancel_with(cause.clone());
    let started = Instant::now();
    let deadline = started.checked_add(run.shutdown.grace);
    let mut forced = run.services_until(deadline);
    let time_left = deadline.is_none_or(|at| Instant::now() < at);
    if forced.is_none() && run.running == 0 && time_left {
        forced = drains.run(&mut run, deadline);
    }
    // Drains not handed to the drain thread are dropped here, unstarted.
    drains.abandon();
    if let Some(listener) = &mut run.shutdown.listener {
        listener.stop();
    }

    let mut stragglers = Vec::new();
    let services = run.service_reports(&mut stragglers);
    let drains = drains.reports(&mut stragglers);
    let inbox = Inbox {
        events: run.shutdown.inbox.events.take(),
        drains: run.shutdown.inbox.drains.take(),
    };
    Report {
        cause,
        forced,
        services,
        drains,
        took: started.elapsed(),
        stragglers,
        inbox,
    }
}

/// The state of `wait` while it runs: which services ended and how.
struct Run<'a> {
    shutdown: &'a mut Shutdown,
    /// Per service: its outcome and running time once joined.
    ended: Vec<Option<(ServiceOutcome, Duration)>>,
    /// Services not joined yet.
    running: usize,
}

impl<'a> Run<'a> {
    fn new(shutdown: &'a mut Shutdown) -> Self {
        let n = shutdown.services.len();
        Run {
            shutdown,
            ended: vec![None; n],
            running: n,
        }
    }

    fn next(&mut self, deadline: Option<Instant>) -> Result<Event, RecvTimeoutError> {
        self.shutdown.inbox.next(deadline)
    }

    /// Blocks until something starts the shutdown and says what.
    fn until_shutdown(&mut self) -> Cause {
        loop {
            match self.next(None) {
                Ok(Event::Signal(signo)) => return Cause::Signal(signo),
                Ok(Event::Trigger) => return Cause::Triggered,
                Ok(Event::ServiceEnded(i)) => {
                    let failed = !self.join_service(i).is_clean();
                    let slot = &self.shutdown.services[i];
                    if failed && slot.on_failure == OnFailure::StopAll {
                        return Cause::ServiceFailed(slot.name.clone());
                    }
                    if self.running == 0 {
                        return Cause::ServicesEnded;
                    }
                }
                Ok(Event::DrainEnded(..) | Event::DrainsDone) => {}
                Err(_) => return Cause::ServicesEnded,
            }
        }
    }

    /// Waits for the services until `deadline`; returns the forcing signal if one came.
    fn services_until(&mut self, deadline: Option<Instant>) -> Option<i32> {
        while self.running > 0 {
            match self.next(deadline) {
                Ok(Event::ServiceEnded(i)) => {
                    self.join_service(i);
                }
                Ok(Event::Signal(signo)) => return Some(signo),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Joins service `i` (it announced its end) and records its outcome.
    fn join_service(&mut self, i: usize) -> ServiceOutcome {
        let Some(handle) = self.shutdown.services[i].handle.take() else {
            return ServiceOutcome::StillRunning;
        };
        let (outcome, ran) = service::joined(handle);
        self.ended[i] = Some((outcome.clone(), ran));
        self.running -= 1;
        outcome
    }

    /// One line per service; the threads of those still running become stragglers.
    fn service_reports(&mut self, stragglers: &mut Vec<Straggler>) -> Vec<ServiceReport> {
        let ended = mem::take(&mut self.ended);
        self.shutdown
            .services
            .iter_mut()
            .zip(ended)
            .enumerate()
            .map(|(i, (slot, ended))| {
                let (outcome, ran) = ended.unwrap_or_else(|| {
                    if let Some(handle) = slot.handle.take() {
                        stragglers.push(Straggler::Service(i, handle));
                    }
                    (ServiceOutcome::StillRunning, slot.started.elapsed())
                });
                ServiceReport {
                    name: slot.name.clone(),
                    outcome,
                    ran,
                    overran: false,
                }
            })
            .collect()
    }
}

/// The drains' side of `wait`: run them on their thread, record how each ended.
struct Drains {
    names: Vec<String>,
    /// `Some` until handed to the drain thread (or dropped by `abandon`).
    specs: Option<Vec<DrainSpec>>,
    outcomes: Vec<Option<(ServiceOutcome, Duration)>>,
    progress: Arc<Mutex<DrainProgress>>,
    /// The drains the thread had started when `wait` stopped waiting, with their start times.
    started: Vec<(usize, Instant)>,
    thread: Option<JoinHandle<()>>,
}

impl Drains {
    fn new(specs: Vec<DrainSpec>) -> Self {
        Drains {
            names: specs.iter().map(|d| d.name.clone()).collect(),
            outcomes: vec![None; specs.len()],
            specs: Some(specs),
            progress: Arc::new(Mutex::new(DrainProgress::default())),
            started: Vec::new(),
            thread: None,
        }
    }

    /// Starts the drain thread and waits for it until `deadline`; returns the forcing signal if
    /// one came.
    fn run(&mut self, run: &mut Run<'_>, deadline: Option<Instant>) -> Option<i32> {
        let specs = self.specs.take().unwrap_or_default();
        if specs.is_empty() {
            return None;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        match service::spawn_drains(specs, deadline, Arc::clone(&self.progress), tx) {
            Ok(thread) => {
                self.thread = Some(thread);
                run.shutdown.inbox.drains = Some(rx);
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
            match run.next(deadline) {
                Ok(Event::DrainEnded(i, outcome, ran)) => self.outcomes[i] = Some((outcome, ran)),
                Ok(Event::DrainsDone) => return None,
                Ok(Event::Signal(signo)) => return Some(signo),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Stops the drain thread from starting anything more and records what it had started.
    fn abandon(&mut self) {
        self.specs = None;
        let mut progress = self.progress.lock();
        progress.abandoned = true;
        self.started = progress.started.clone();
    }

    /// One line per drain, in registration order; a drain thread still running one becomes a
    /// straggler.
    fn reports(self, stragglers: &mut Vec<Straggler>) -> Vec<ServiceReport> {
        let Drains {
            names,
            mut outcomes,
            started,
            thread,
            ..
        } = self;
        let all_ended = started.iter().all(|(i, _)| outcomes[*i].is_some());
        if let Some(thread) = thread {
            if all_ended {
                // Every drain it started has ended; it is only dropping the unstarted ones.
                let _ = thread.join();
            } else {
                stragglers.push(Straggler::Drains(thread));
            }
        }
        names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let (outcome, ran) = outcomes[i].take().unwrap_or_else(|| {
                    match started.iter().find(|(j, _)| *j == i) {
                        Some((_, at)) => (ServiceOutcome::StillRunning, at.elapsed()),
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
            .collect()
    }
}
