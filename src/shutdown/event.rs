//! What the threads around a shutdown tell [`Shutdown::wait`](super::Shutdown::wait) (and,
//! later, the stragglers), and the [`Inbox`] they read it from.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Select};

use super::outcome::ServiceOutcome;

/// One thing that happened.
pub(crate) enum Event {
    /// The signal thread received this signal (Unix only).
    #[cfg_attr(not(unix), allow(dead_code))]
    Signal(i32),
    /// A [`Trigger`](super::Trigger) fired.
    Trigger,
    /// The service with this index returned (or panicked); its thread is exiting.
    ServiceEnded(usize),
    /// The drain with this index ended, with its outcome and duration.
    DrainEnded(usize, ServiceOutcome, Duration),
    /// The drain thread has nothing left to run.
    DrainsDone,
    /// The watched context was cancelled (see [`Inbox::watch`]).
    ContextCancelled,
}

/// The receiving ends listened on: the main event channel (signals, triggers, services), the
/// drain thread's own channel, and optionally a context's `done()`. A channel that disconnects
/// is dropped from the set; the inbox is disconnected when all are.
pub(crate) struct Inbox {
    events: Option<Receiver<Event>>,
    drains: Option<Receiver<Event>>,
    /// A context's `done()`: it disconnects on cancel, which is reported once.
    cancelled: Option<Receiver<()>>,
}

impl Inbox {
    /// An inbox on the main event channel only.
    pub(crate) fn new(events: Receiver<Event>) -> Self {
        Inbox {
            events: Some(events),
            drains: None,
            cancelled: None,
        }
    }

    /// An inbox with nothing to listen to: always disconnected.
    pub(crate) fn closed() -> Self {
        Inbox {
            events: None,
            drains: None,
            cancelled: None,
        }
    }

    /// Also listens to the drain thread's channel.
    pub(crate) fn add_drains(&mut self, drains: Receiver<Event>) {
        self.drains = Some(drains);
    }

    /// Also reports [`Event::ContextCancelled`] (once) when the context whose `done()` this is
    /// gets cancelled.
    pub(crate) fn watch(&mut self, done: Receiver<()>) {
        self.cancelled = Some(done);
    }

    /// Stops watching the context.
    pub(crate) fn unwatch(&mut self) {
        self.cancelled = None;
    }

    /// The next event, waiting until `deadline` (`None`: no limit).
    pub(crate) fn next(&mut self, deadline: Option<Instant>) -> Result<Event, RecvTimeoutError> {
        loop {
            let mut sel = Select::new();
            let channels: Vec<&Receiver<Event>> = self.events.iter().chain(&self.drains).collect();
            if channels.is_empty() && self.cancelled.is_none() {
                return Err(RecvTimeoutError::Disconnected);
            }
            for rx in &channels {
                sel.recv(rx);
            }
            let done = self.cancelled.as_ref().map(|done| sel.recv(done));
            let op = crate::clock::select(&mut sel, deadline).ok_or(RecvTimeoutError::Timeout)?;
            let index = op.index();
            if Some(index) == done {
                let _ = op.recv(self.cancelled.as_ref().expect("watched"));
                self.cancelled = None;
                return Ok(Event::ContextCancelled);
            }
            let from_events = index == 0 && self.events.is_some();
            match op.recv(channels[index]) {
                Ok(event) => return Ok(event),
                Err(_) if from_events => self.events = None,
                Err(_) => self.drains = None,
            }
        }
    }
}
