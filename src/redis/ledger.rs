//! The consumer's books: which entries this process holds, which are handled and await their
//! `XACK`, and the counters behind [`Stats`].
//!
//! # Invariants
//!
//! 1. An ID enters `done` only through [`Ledger::resolve`] with `handled == true`, which the last
//!    [`Ack`](super::Ack) of an entry calls when it is dropped in a healthy run (see
//!    `delivery.rs`). Nothing else is ever acknowledged.
//! 2. `held` has every entry read or claimed by this process and not yet acknowledged,
//!    abandoned or released (handled entries stay in it until their `XACK` went through): the
//!    reclaimer skips those, so an entry is never in this process's pipeline twice at once, and
//!    a handled entry is not taken back while its acknowledgement is on its way.
//! 3. The lock is held only to move strings in and out: no user code, no Redis call.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::stats::Stats;

/// Shared by a consumer, its reader threads and every acknowledgement token.
#[derive(Default)]
pub(super) struct Ledger {
    state: Mutex<State>,
    /// Entries read with `XREADGROUP`.
    pub(super) read: AtomicU64,
    /// Entries claimed with `XAUTOCLAIM` and handed to a run.
    pub(super) reclaimed: AtomicU64,
    /// Entries acknowledged with `XACK`.
    pub(super) acked: AtomicU64,
    /// Entries taken by a run that was cancelled or failed, or abandoned on purpose.
    pub(super) abandoned: AtomicU64,
    /// Entries read or claimed but never handed to a run (it stopped first).
    pub(super) unstarted: AtomicU64,
    /// Entries moved to the dead-letter stream.
    pub(super) dead_lettered: AtomicU64,
    /// Connections re-established after a failure.
    pub(super) reconnects: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Handled, not yet acknowledged (also in `held`).
    done: Vec<String>,
    /// Read or claimed by this process, not yet acknowledged, abandoned or released.
    held: HashSet<String>,
}

impl Ledger {
    /// Records entries this process now holds.
    pub(super) fn hold<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut state = self.state.lock();
        for id in ids {
            state.held.insert(id.to_string());
        }
    }

    pub(super) fn is_held(&self, id: &str) -> bool {
        self.state.lock().held.contains(id)
    }

    /// The end of an entry's last token: handled (to be acknowledged) or abandoned.
    pub(super) fn resolve(&self, id: String, handled: bool) {
        let mut state = self.state.lock();
        if handled {
            state.done.push(id);
        } else {
            state.held.remove(&id);
            drop(state);
            self.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An entry that never reached a run: it stays pending in Redis, for whoever claims it.
    pub(super) fn release(&self, id: &str) {
        self.state.lock().held.remove(id);
        self.unstarted.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the handled entries to acknowledge them.
    pub(super) fn take_done(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().done)
    }

    /// Entries whose `XACK` went through.
    pub(super) fn mark_acked(&self, ids: &[String]) {
        let mut state = self.state.lock();
        for id in ids {
            state.held.remove(id);
        }
        drop(state);
        self.acked.fetch_add(ids.len() as u64, Ordering::Relaxed);
    }

    /// Gives back entries whose `XACK` failed, for the next try.
    pub(super) fn return_done(&self, ids: Vec<String>) {
        self.state.lock().done.extend(ids);
    }

    pub(super) fn stats(&self) -> Stats {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let state = self.state.lock();
        Stats {
            read: load(&self.read),
            reclaimed: load(&self.reclaimed),
            acked: load(&self.acked),
            awaiting_ack: state.done.len() as u64,
            in_flight: state.held.len().saturating_sub(state.done.len()) as u64,
            abandoned: load(&self.abandoned),
            unstarted: load(&self.unstarted),
            dead_lettered: load(&self.dead_lettered),
            reconnects: load(&self.reconnects),
        }
    }
}
