//! Everything a [`Shutdown`](super::Shutdown) holds until `wait` runs it, and what dropping
//! it undoes.

use std::time::Duration;

use super::drain::DrainSpec;
use super::event::Inbox;
use super::policy::StopOn;
use super::service::{ServiceSlot, joined};
#[cfg(unix)]
use super::signals::Listener;
use crate::context::Context;
use crate::panic::drop_quietly;

/// A shutdown's configuration and live parts.
pub(crate) struct State {
    pub(crate) grace: Duration,
    pub(crate) stop_on: StopOn,
    pub(crate) root: Context,
    /// Whether `root` has a parent (`Shutdown::with_parent`), whose cancel starts the shutdown.
    pub(crate) has_parent: bool,
    /// Events for `wait`; handed to the stragglers by it.
    pub(crate) inbox: Inbox,
    /// `Some` once `on_signals` succeeded; stopped (and joined) by `wait` or `drop`.
    #[cfg(unix)]
    pub(crate) listener: Option<Listener>,
    pub(crate) services: Vec<ServiceSlot>,
    pub(crate) drains: Vec<DrainSpec>,
}

impl State {
    /// Stops the signal listener, if any, and joins its thread.
    pub(crate) fn stop_listening(&mut self) {
        #[cfg(unix)]
        if let Some(listener) = &mut self.listener {
            listener.stop();
        }
    }

    /// Whether signals are being listened to.
    pub(crate) fn listens(&self) -> bool {
        #[cfg(unix)]
        return self.listener.is_some();
        #[cfg(not(unix))]
        return false;
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // After `wait` everything below is already empty: only stragglers remain, in the report.
        self.root.cancel();
        self.stop_listening();
        for slot in &mut self.services {
            if let Some(handle) = slot.handle.take() {
                let _ = joined(handle);
            }
        }
        // Drains that never ran are user values; their `Drop` may panic.
        for drain in self.drains.drain(..) {
            drop_quietly(drain);
        }
    }
}
