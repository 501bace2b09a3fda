//! Services: long-running functions, each on its own registered thread.

use std::fmt::Display;
use std::io;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::event::Event;
use super::outcome::ServiceOutcome;
use super::policy::ErrorPolicy;
use crate::context::Context;
use crate::panic::{Panicked, drop_quietly};
use crate::threads::{self, JoinHandle};

/// A started service: its name, policy and thread.
pub(crate) struct ServiceSlot {
    pub(crate) name: String,
    pub(crate) on_failure: ErrorPolicy,
    /// When it was spawned: a straggler's running time is measured from here.
    pub(crate) started: Instant,
    /// `None` once joined (or handed to the stragglers).
    pub(crate) handle: Option<JoinHandle<(ServiceOutcome, Duration)>>,
}

/// Runs a user function, turning its error or panic into a [`ServiceOutcome`]. Formatting the
/// error happens inside the catch: a panicking `Display` (or `Drop`) is a panic like any other.
/// A payload whose own `Drop` panics is dropped where that cannot escape (see [`Panicked`]).
pub(crate) fn outcome<E: Display>(f: impl FnOnce() -> Result<(), E>) -> ServiceOutcome {
    match Panicked::catch(|| f().map_err(|e| e.to_string())) {
        Ok(Ok(())) => ServiceOutcome::Ok,
        Ok(Err(msg)) => ServiceOutcome::Error(msg),
        Err(panicked) => ServiceOutcome::Panicked(panicked),
    }
}

/// Starts a service on its own registered thread. The thread announces its end with
/// `Event::ServiceEnded(index)` and returns its outcome and running time.
#[track_caller] // the thread shows the user's `service` call as its spawn location
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
    // Issue 17: the service is a node of the owner tree; a pool built inside it is its child.
    let _owner = threads::starting_owner(threads::Owner::new("service", name));
    threads::spawn(&format!("service-{name}"), move || {
        let started = crate::clock::now();
        let outcome = outcome(|| f(ctx));
        let ran = crate::clock::since(started);
        let _ = events.send(Event::ServiceEnded(index));
        (outcome, ran)
    })
}

/// Joins a service thread that has ended (or is ending).
pub(crate) fn joined(handle: JoinHandle<(ServiceOutcome, Duration)>) -> (ServiceOutcome, Duration) {
    // The closure catches every user panic; a panic here would be homebound's own, and it is
    // still reported rather than resumed in the caller's shutdown path.
    handle.join().unwrap_or_else(|payload| {
        (
            ServiceOutcome::Panicked(Panicked::from_payload(payload)),
            Duration::ZERO,
        )
    })
}

/// Joins a thread that runs no user code of its own (the signal or drain thread); a panic
/// there would be homebound's own, and its payload is dropped where it cannot escape.
pub(crate) fn join_quietly(handle: JoinHandle<()>) {
    if let Err(payload) = handle.join() {
        drop_quietly(payload);
    }
}
