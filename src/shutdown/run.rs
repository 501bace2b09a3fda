//! The body of [`Shutdown::wait`](super::Shutdown::wait): wait for a cause, cancel, give the
//! services and then the drains the grace period, and build the report.

use std::mem;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::cause::Cause;
use super::drain::Drains;
use super::event::{Event, Inbox};
use super::outcome::{ServiceOutcome, ServiceReport};
use super::policy::{ErrorPolicy, StopOn};
use super::report::Report;
use super::service::joined;
use super::state::State;
use super::stragglers::{Stragglers, Straggling};

/// Runs a whole shutdown. The caller has dropped its own event sender, so a disconnected
/// channel means nothing can ever start the shutdown.
pub(crate) fn wait(state: &mut State) -> Report {
    let mut drains = Drains::new(mem::take(&mut state.drains));
    let mut run = Run::new(state);

    let cause = run.until_shutdown();
    // The shutdown begins now: the cancel itself counts toward both the report's time and the
    // grace period (`after_cancel` callbacks run on the callback runner, off this path).
    let started = crate::clock::now();
    let deadline = started.checked_add(run.state.grace);
    run.state.inbox.unwatch();
    run.state.root.cancel_with(cause.clone());
    crate::observe::shutdown_began(&cause);
    let mut forced = run.services_until(deadline);
    let time_left = deadline.is_none_or(|at| crate::clock::now() < at);
    if forced.is_none() && run.running == 0 && time_left {
        forced = drains.run(&mut run.state.inbox, deadline);
    }
    drains.abandon();
    run.state.stop_listening();

    let (services, straggling) = run.service_reports();
    let drain_names = drains.names().to_vec();
    let (drains, drain_thread) = drains.finish();
    let stragglers = (!straggling.is_empty() || drain_thread.is_some()).then(|| {
        let inbox = mem::replace(&mut run.state.inbox, Inbox::closed());
        Stragglers::new(straggling, drain_thread, drain_names, inbox)
    });
    crate::observe::shutdown_ended(&cause, forced, started.elapsed());
    Report {
        cause,
        forced,
        services,
        drains,
        took: crate::clock::since(started),
        stragglers,
    }
}

/// The state of `wait` while it runs: which services ended and how.
struct Run<'a> {
    state: &'a mut State,
    /// Per service: its outcome and running time once joined.
    ended: Vec<Option<(ServiceOutcome, Duration)>>,
    /// Services not joined yet.
    running: usize,
}

impl<'a> Run<'a> {
    fn new(state: &'a mut State) -> Self {
        let n = state.services.len();
        if state.has_parent {
            // Whoever holds the parent can start the shutdown, so `wait` waits for it too.
            state.inbox.watch(state.root.done().clone());
        }
        Run {
            state,
            ended: (0..n).map(|_| None).collect(),
            running: n,
        }
    }

    fn next(&mut self, deadline: Option<Instant>) -> Result<Event, RecvTimeoutError> {
        self.state.inbox.next(deadline)
    }

    /// Blocks until something starts the shutdown and says what.
    fn until_shutdown(&mut self) -> Cause {
        loop {
            match self.next(None) {
                Ok(Event::Signal(signo)) => return Cause::Signal(signo),
                Ok(Event::Trigger) => return Cause::Triggered,
                Ok(Event::ContextCancelled) => return Cause::ContextCancelled,
                Ok(Event::ServiceEnded(i)) => {
                    if let Some(cause) = self.service_ended(i) {
                        return cause;
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

    /// Joins service `i`, which announced its end; returns the cause if its end stops all.
    fn service_ended(&mut self, i: usize) -> Option<Cause> {
        let clean = self.join_service(i);
        let slot = &self.state.services[i];
        if slot.on_failure != ErrorPolicy::FailFast {
            return None;
        }
        match (clean, self.state.stop_on) {
            (false, _) => Some(Cause::ServiceFailed(slot.name.clone())),
            (true, StopOn::AnyEnd) => Some(Cause::ServiceReturned(slot.name.clone())),
            (true, _) => None,
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

    /// Joins service `i` (it announced its end) and records its outcome; returns whether it
    /// ended with `Ok`.
    fn join_service(&mut self, i: usize) -> bool {
        let Some(handle) = self.state.services[i].handle.take() else {
            return false;
        };
        let (outcome, ran) = joined(handle);
        let clean = outcome.is_ok();
        self.ended[i] = Some((outcome, ran));
        self.running -= 1;
        clean
    }

    /// One line per service, and the threads of those still running.
    fn service_reports(&mut self) -> (Vec<ServiceReport>, Vec<Straggling>) {
        let ended = mem::take(&mut self.ended);
        let mut straggling = Vec::new();
        let lines = self
            .state
            .services
            .iter_mut()
            .zip(ended)
            .enumerate()
            .map(|(i, (slot, ended))| {
                let (outcome, ran) = ended.unwrap_or_else(|| {
                    if let Some(handle) = slot.handle.take() {
                        straggling.push((i, slot.name.clone(), handle));
                    }
                    (
                        ServiceOutcome::StillRunning,
                        crate::clock::since(slot.started),
                    )
                });
                ServiceReport {
                    name: slot.name.clone(),
                    outcome,
                    ran,
                    overran: false,
                }
            })
            .collect();
        (lines, straggling)
    }
}
