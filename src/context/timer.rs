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
//!
//! The thread never runs user code: a due deadline cancels its context, which hands any
//! `after_cancel` callbacks to the callback runner. The only user values it touches are the
//! deadline causes and the contexts it briefly holds, and those are dropped through the
//! containment helper, so no panic (not even a payload whose own drop panics) can end it.
//!
//! The timer's state is a process-wide static that outlives any one loom execution, so it stays
//! on parking_lot rather than the loom shim; the loom models use no deadlines.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::cause::Cause;
use super::tree::Node;
use crate::panic::{drop_caught, drop_quietly};
use crate::threads;

/// Where a node's deadline sits: in the real timer's map, or in its virtual-time scope's.
#[derive(Debug)]
pub(crate) enum TimerKey {
    Real(RealKey),
    #[cfg(feature = "testing")]
    Virtual(crate::clock::virt::TimerKey),
}

/// Where a deadline sits in the real timer map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RealKey {
    at: Instant,
    id: u64,
}

/// A deadline's context and the cause it fires with.
pub(crate) type Entry = (Weak<Node>, Cause);

struct State {
    /// Each deadline's context and the cause it fires with.
    entries: BTreeMap<RealKey, Entry>,
    /// Whether the thread is running (it never exits once started).
    started: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    entries: BTreeMap::new(),
    started: false,
});
static WAKE: Condvar = Condvar::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Arms a deadline for `node`, to cancel it with `cause`: on the clock of the calling thread (a
/// virtual-time scope fires its own deadlines as its clock reaches them).
pub(crate) fn insert(at: Instant, node: Weak<Node>, cause: Cause) -> TimerKey {
    #[cfg(feature = "testing")]
    if let Some(scope) = crate::clock::virt::current_scope() {
        return TimerKey::Virtual(scope.insert_timer(at, (node, cause)));
    }
    TimerKey::Real(insert_real(at, (node, cause)))
}

/// Arms a deadline on the real timer.
pub(crate) fn insert_real(at: Instant, (node, cause): Entry) -> RealKey {
    let key = RealKey {
        at,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    };
    let mut state = STATE.lock();
    state.entries.insert(key, (node, cause));
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

/// Disarms a deadline and hands back its cause (for the caller to drop outside this lock);
/// `None` if it already fired.
pub(crate) fn remove(key: TimerKey) -> Option<Cause> {
    match key {
        TimerKey::Real(key) => remove_real(key),
        #[cfg(feature = "testing")]
        TimerKey::Virtual(key) => key.remove(),
    }
}

/// Disarms a deadline of the real timer.
pub(crate) fn remove_real(key: RealKey) -> Option<Cause> {
    let removed = STATE.lock().entries.remove(&key);
    removed.map(|(_, cause)| cause)
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
        // A daemon is never in a virtual-time scope: this is the real clock (scopes fire their
        // own deadlines).
        let now = crate::clock::now();
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

/// Cancels every due context that is still alive. The contexts and causes are released through
/// the containment helper: the timer may hold the last handle to either. Also called by a
/// virtual-time scope's clock thread for the deadlines its clock reached.
pub(crate) fn fire(due: Vec<Entry>) {
    for (weak, cause) in due {
        let node = weak.upgrade();
        if let Some(node) = &node
            && let Err(payload) =
                panic::catch_unwind(AssertUnwindSafe(|| node.cancel(cause.clone())))
        {
            drop_quietly(payload);
        }
        release(node);
        release(cause);
        release(weak);
    }
}

fn release<T>(value: T) {
    if let Err(panic) = drop_caught(value) {
        threads::record_lost_panic(None, "a value dropped by the deadline timer", panic);
    }
}
