//! [`AfterCancel`]: a callback that runs once on homebound's callback runner after its context
//! is cancelled (Go's `context.AfterFunc`), and the state it shares with the tree and the runner.
//!
//! The callback's life is one lock-guarded state, `Pending(f)` → `Started` (the runner took
//! `f`) or `Stopped` (the handle took it, or the context ended uncancelled). Whoever moves it out
//! of `Pending` owns `f` and is the only one to run or drop it, outside every lock; so "stopped"
//! and "ran" exclude each other, whatever the race.

use std::fmt;
use std::mem;
use std::panic::Location;
use std::sync::{Arc, Weak};

use super::tree::{Callback, Node};
use crate::panic::drop_caught;
use crate::shim::Mutex;
use crate::threads::{self, Origin};

/// A user callback waiting for its context's cancel.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// What the node's slab, the runner's queue and the handle share about one callback.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Whose leak check waits for the callback and reports its panic.
    pub(crate) origin: Origin,
    /// Where `after_cancel` was called.
    pub(crate) location: &'static Location<'static>,
}

enum State {
    Pending(Job),
    Started,
    Stopped,
}

impl Shared {
    pub(crate) fn new(f: Job, origin: Origin, location: &'static Location<'static>) -> Self {
        Shared {
            state: Mutex::new(State::Pending(f)),
            origin,
            location,
        }
    }

    /// The runner's claim: `f` if it has not been stopped.
    pub(crate) fn start(&self) -> Option<Job> {
        self.take(State::Started)
    }

    /// The handle's claim (and the claim of a context that ends uncancelled): `f` if it has not
    /// started.
    pub(crate) fn discard(&self) -> Option<Job> {
        self.take(State::Stopped)
    }

    fn take(&self, next: State) -> Option<Job> {
        let mut state = self.state.lock();
        if !matches!(*state, State::Pending(_)) {
            return None;
        }
        match mem::replace(&mut *state, next) {
            State::Pending(f) => Some(f),
            State::Started | State::Stopped => None,
        }
        // `state` unlocks here; `f` is run or dropped by the caller, outside the lock.
    }
}

/// Normally `f` was taken by the runner or a stop; should a queue be dropped with a job still
/// pending, its closure is still dropped through the containment helper.
impl Drop for Shared {
    fn drop(&mut self) {
        if let State::Pending(f) = mem::replace(self.state.get_mut(), State::Stopped)
            && let Err(panic) = drop_caught(f)
        {
            threads::record_lost_panic(Some(self.origin), "an after_cancel callback", panic);
        }
    }
}

/// The handle of a callback registered with [`Context::after_cancel`](crate::Context::after_cancel).
///
/// [`stop`](AfterCancel::stop) unregisters the callback if it has not started. Dropping the
/// handle stops it too; [`detach`](AfterCancel::detach) lets it go, leaving the callback
/// registered for the life of the context.
///
/// # Examples
///
/// ```
/// use homebound::Context;
///
/// let ctx = Context::new();
/// let (tx, rx) = crossbeam_channel::bounded(1);
/// let callback = ctx.after_cancel(move || tx.send("cleaned up").unwrap());
/// ctx.cancel();
/// assert_eq!(rx.recv().unwrap(), "cleaned up"); // ran on homebound's callback runner
/// assert!(!callback.stop()); // too late: it had started
///
/// let other = Context::new();
/// let never = other.after_cancel(|| unreachable!());
/// assert!(never.stop()); // stopped before it could start
/// assert!(!never.stop()); // a second stop has nothing left to stop
/// other.cancel();
/// ```
#[must_use = "dropping the handle stops the callback; call detach() to keep it registered"]
pub struct AfterCancel {
    /// `None` once detached.
    shared: Option<Arc<Shared>>,
    /// Where the callback sits in its node's slab, if it was registered (not scheduled at once).
    slot: Option<(Weak<Node>, usize)>,
}

impl AfterCancel {
    pub(crate) fn new(shared: Arc<Shared>, slot: Option<(Weak<Node>, usize)>) -> Self {
        AfterCancel {
            shared: Some(shared),
            slot,
        }
    }

    /// Stops the callback if it has not started; returns whether this call stopped it. `false`
    /// means it has started (it may still be running: coordinate with it if you must know when
    /// it ends), or it was stopped before (by an earlier `stop`, or because its context was
    /// dropped without being cancelled).
    ///
    /// The stopped callback is dropped here, on this thread. If its `Drop` panics, the panic
    /// continues from here (or, if this thread is already unwinding, is recorded for the leak
    /// check).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// let handle = ctx.after_cancel(|| unreachable!("stopped before the cancel"));
    /// assert!(handle.stop());
    /// assert!(!handle.stop()); // nothing left to stop
    /// ctx.cancel();
    /// ```
    pub fn stop(&self) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        let Some(f) = shared.discard() else {
            return false;
        };
        // Unlink it so a long-lived context does not collect stopped callbacks. Only the call
        // that moved the state out of `Pending` gets here, and a cancelled node never reuses a
        // slot, so the key still names this callback's entry (or nothing, if cancel took it).
        if let Some((node, key)) = &self.slot
            && let Some(node) = node.upgrade()
        {
            let entry: Option<Callback> = node.remove_callback(*key);
            drop(entry); // only our `Arc<Shared>` clone: `f` is already out
        }
        if let Err(panic) = drop_caught(f) {
            if std::thread::panicking() {
                threads::record_lost_panic(Some(shared.origin), "an after_cancel callback", panic);
            } else {
                panic.resume();
            }
        }
        true
    }

    /// Lets the handle go without stopping the callback: it stays registered and runs if the
    /// context is ever cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new();
    /// let (tx, rx) = crossbeam_channel::bounded(1);
    /// ctx.after_cancel(move || tx.send("ran").unwrap()).detach(); // no handle to keep
    /// ctx.cancel();
    /// assert_eq!(rx.recv().unwrap(), "ran");
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn detach(mut self) {
        self.shared = None;
    }
}

impl Drop for AfterCancel {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for AfterCancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterCancel")
            .field("detached", &self.shared.is_none())
            .finish_non_exhaustive()
    }
}
