//! The one shared timer thread that fires every context deadline.
//!
//! Deadlines live in an ordered map keyed by `(instant, id)`, so arming and disarming are
//! O(log n) and the earliest deadline is always the first entry. The thread sleeps on a condition
//! variable until that deadline (or forever, when there is none) and is woken only when a new
//! earliest deadline arrives, so it costs nothing while idle and never polls. It is started on
//! first use, named `homebound-timer-<n>`, and registered as a daemon thread, which the leak check
//! knows to ignore.
//!
//! Entries hold their context weakly, and a context removes its entry when it is cancelled or
//! dropped, so no entry outlives its context.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::cause::Cause;
use super::tree::Node;
use crate::threads;

/// Where a node's deadline sits in the timer map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    at: Instant,
    id: u64,
}

struct State {
    entries: BTreeMap<TimerKey, Weak<Node>>,
    /// Whether the thread is running (it never exits once started).
    started: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    entries: BTreeMap::new(),
    started: false,
});
static WAKE: Condvar = Condvar::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Arms a deadline for `node`.
pub(crate) fn insert(at: Instant, node: Weak<Node>) -> TimerKey {
    let key = TimerKey {
        at,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    };
    let mut state = STATE.lock();
    state.entries.insert(key, node);
    if !state.started {
        start(&mut state);
    } else if state
        .entries
        .first_key_value()
        .is_some_and(|(first, _)| *first == key)
    {
        // Only a new earliest deadline changes how long the thread must sleep.
        WAKE.notify_one();
    }
    key
}

/// Disarms a deadline; a no-op if it already fired.
pub(crate) fn remove(key: TimerKey) {
    STATE.lock().entries.remove(&key);
}

/// How many deadlines are armed (for tests: entries must not outlive their contexts).
#[cfg(all(test, not(loom)))]
pub(crate) fn armed() -> usize {
    STATE.lock().entries.len()
}

fn start(state: &mut MutexGuard<'_, State>) {
    // If the OS refuses a thread now, `started` stays false and the next deadline retries; the
    // entry stays armed and fires once the thread exists.
    if let Ok(handle) = threads::Builder::new("timer").daemon().spawn(run) {
        state.started = true;
        drop(handle); // a daemon: it lives for the rest of the process
    }
}

fn run() {
    let mut state = STATE.lock();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = state.entries.first_entry() {
            if entry.key().at > now {
                break;
            }
            due.push(entry.remove());
        }
        if !due.is_empty() {
            MutexGuard::unlocked(&mut state, || fire(due));
            continue;
        }
        match state.entries.first_key_value().map(|(key, _)| key.at) {
            Some(at) => {
                WAKE.wait_until(&mut state, at);
            }
            None => WAKE.wait(&mut state),
        }
    }
}

/// Cancels every due context that is still alive. A panicking `on_cancel` callback must not
/// take the timer down with it: its panic was already reported by the panic hook.
fn fire(due: Vec<Weak<Node>>) {
    for node in due.into_iter().filter_map(|weak| weak.upgrade()) {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| fire_one(&node)));
    }
}

fn fire_one(node: &Arc<Node>) {
    node.cancel(Cause::DeadlineExceeded);
}
