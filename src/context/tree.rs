//! The cancellation tree behind [`Context`](crate::Context).
//!
//! # Invariants
//!
//! 1. A node's `cause` goes from `None` to `Some` once and never changes; `cancelled` is set
//!    (Release) while the node's lock is held, right after `cause`, so a thread that sees
//!    `cancelled == true` (Acquire) and then locks will find the cause.
//! 2. A node is in its parent's `children` slab only while `in_parent` is true. Nothing is ever
//!    inserted into a cancelled node's slab, so a slot key can only be reused after its owner
//!    removed it.
//! 3. A child is created under its parent's lock: either it is inserted before the parent is
//!    cancelled (and the cancel will reach it) or it sees the parent's cause and is born
//!    cancelled. No child is missed, whatever the race.
//! 4. Children hold their parent strongly and parents hold children weakly: a dropped child is
//!    gone from its parent's slab, so a long-lived root stays flat however many children come
//!    and go.
//!
//! # Deadlock safety
//!
//! No code path holds two node locks at once. The only nesting is node lock → timer lock (arming
//! a deadline); the timer thread releases its lock before it cancels anything. Nothing is dropped
//! under a node's lock that could reach back into the tree: callbacks, `Sender`s (whose drop
//! wakes selectors) and causes are taken out under the lock and released after it, so a callback
//! that owns a child of the same node (or a child's `DropGuard`) can be unregistered or dropped
//! without deadlock.
//!
//! # User code
//!
//! `cancel` never runs user code: `after_cancel` callbacks go to the callback runner, and only
//! homebound's own non-blocking wake-ups (`Callback::Wake`) run inline. User values the tree
//! drops on its own (a closure whose context ends uncancelled, a deadline's cause) are dropped
//! through the one containment helper: on the thread that dropped the last handle a panic from
//! such a drop is resumed there (unless it is already unwinding); inside `cancel` it is recorded
//! as a lost panic for the leak check.
//!
//! # Stack safety
//!
//! Cancelling walks the subtree with an explicit stack, and dropping the last handle of a deep
//! chain unlinks ancestors in a loop, so 100k-level chains neither overflow nor go quadratic.

use std::mem;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use slab::Slab;

use super::after::Shared;
use super::cause::Cause;
use super::runner;
use super::timer::{self, TimerKey};
use crate::panic::{Panicked, drop_caught};
use crate::shim::{AtomicBool, Mutex, Ordering};
use crate::threads;

/// Something to do when a node is cancelled.
pub(crate) enum Callback {
    /// homebound's own wake-up (a condvar notify, a poller notify, a future's waker): cheap,
    /// non-blocking, run inline by `cancel`.
    Wake(Box<dyn FnOnce() + Send + 'static>),
    /// A user's `after_cancel` callback, handed to the callback runner.
    After(Arc<Shared>),
}

pub(crate) struct Node {
    /// Mirrors `inner.cause.is_some()` for a lock-free `is_cancelled`.
    cancelled: AtomicBool,
    /// Set once a callback was ever registered: a detached `AfterCancel` leaves its callback in
    /// the slab without any handle to show for it, so reuse must check this too.
    had_callbacks: AtomicBool,
    /// The effective deadline: the earlier of this node's own and its parent's.
    deadline: Option<Instant>,
    /// Taken (only) by `Drop`, which unlinks deep chains iteratively.
    parent: Option<Arc<Node>>,
    /// This node's key in `parent.inner.children`, meaningful while `inner.in_parent`.
    slot: usize,
    /// The lazily created `done()` receiver; its sender lives in `inner.done_tx`.
    done: OnceLock<Receiver<()>>,
    pub(super) inner: Mutex<Inner>,
}

pub(super) struct Inner {
    cause: Option<Cause>,
    in_parent: bool,
    children: Slab<Weak<Node>>,
    /// Dropped on cancel: that disconnects `done` and wakes every selector.
    done_tx: Option<Sender<()>>,
    callbacks: Slab<Callback>,
    /// This node's own entry in the shared timer, if its deadline is its own.
    pub(super) timer: Option<TimerKey>,
}

/// What one node hands over when it is cancelled, to be released outside every lock.
struct Released {
    done_tx: Option<Sender<()>>,
    callbacks: Slab<Callback>,
    pub(super) timer: Option<TimerKey>,
}

impl Node {
    /// A new root.
    pub(crate) fn root() -> Arc<Node> {
        Arc::new(Node::new(None, 0, None, None, false))
    }

    fn new(
        parent: Option<Arc<Node>>,
        slot: usize,
        deadline: Option<Instant>,
        cause: Option<Cause>,
        in_parent: bool,
    ) -> Node {
        Node {
            cancelled: AtomicBool::new(cause.is_some()),
            had_callbacks: AtomicBool::new(false),
            deadline,
            parent,
            slot,
            done: OnceLock::new(),
            inner: Mutex::new(Inner {
                cause,
                in_parent,
                children: Slab::new(),
                done_tx: None,
                callbacks: Slab::new(),
                timer: None,
            }),
        }
    }

    /// A child whose own deadline is `own` (if any), fired with its cause. The child is born
    /// cancelled if this node is cancelled, or if its effective deadline is not in the future.
    pub(crate) fn child(self: &Arc<Node>, own: Option<(Instant, Cause)>) -> Arc<Node> {
        let (own, deadline_cause) = match own {
            Some((at, cause)) => (Some(at), Some(cause)),
            None => (None, None),
        };
        let needs_timer = match (own, self.deadline) {
            (Some(own), Some(inherited)) => own < inherited,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let deadline = if needs_timer { own } else { self.deadline };
        let mut inner = self.inner.lock();
        let child = if let Some(cause) = &inner.cause {
            let cause = cause.clone();
            drop(inner);
            Arc::new(Node::new(
                Some(self.clone()),
                0,
                deadline,
                Some(cause),
                false,
            ))
        } else {
            let entry = inner.children.vacant_entry();
            let child = Arc::new(Node::new(
                Some(self.clone()),
                entry.key(),
                deadline,
                None,
                true,
            ));
            entry.insert(Arc::downgrade(&child));
            drop(inner);
            child
        };
        if let (true, Some(at), Some(cause)) = (needs_timer, deadline, deadline_cause) {
            child.arm_deadline(at, cause);
        }
        child
    }

    /// Registers this node's own deadline with the shared timer, or cancels at once if it is
    /// not in the future.
    fn arm_deadline(self: &Arc<Node>, at: Instant, cause: Cause) {
        if at <= crate::clock::now() {
            self.cancel(cause);
            return;
        }
        let mut inner = self.inner.lock();
        // Registering under the node's lock orders it against `cancel`, which takes the key out
        // under the same lock: the entry is either removed by the cancel or never made.
        if inner.cause.is_none() {
            inner.timer = Some(timer::insert(at, Arc::downgrade(self), cause));
            return;
        }
        drop(inner);
        // Already cancelled: the deadline's cause is not needed (dropped outside the lock).
        release_user_value(cause, "a deadline's cause");
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn cause(&self) -> Option<Cause> {
        if !self.is_cancelled() {
            return None;
        }
        self.inner.lock().cause.clone()
    }

    /// The `done()` receiver, created on first use.
    pub(crate) fn done(&self) -> &Receiver<()> {
        self.done.get_or_init(|| {
            let (tx, rx) = crossbeam_channel::bounded(0);
            let mut inner = self.inner.lock();
            if inner.cause.is_none() {
                inner.done_tx = Some(tx);
            }
            // Otherwise `tx` drops here: the receiver is born disconnected.
            rx
        })
    }

    /// Cancels this node and its subtree with `cause`; returns whether this call did it. Never
    /// panics and never runs user code.
    ///
    /// Every node of the subtree is marked before any `done()` sender is dropped or any callback
    /// is released, so a woken thread or a callback always sees the whole subtree cancelled.
    pub(crate) fn cancel(self: &Arc<Node>, cause: Cause) -> bool {
        // Neither list allocates for a node without children: the common cancel is free of
        // heap traffic.
        let mut stack = Vec::new();
        let first = self.mark(&cause, false, &mut stack);
        let won = first.is_some();
        if let Some(first) = first {
            let mut rest = Vec::new();
            while let Some(node) = stack.pop() {
                rest.extend(node.mark(&cause, true, &mut stack));
            }
            release_all(first, rest);
        }
        // A reason may be the last handle to the caller's error; the plain causes own nothing.
        if cause.reason().is_some() {
            release_user_value(cause, "a cancel cause");
        }
        won
    }

    /// Marks one node cancelled under its lock, queueing its live children and handing over
    /// what must be released outside the lock.
    fn mark(
        &self,
        cause: &Cause,
        from_parent: bool,
        stack: &mut Vec<Arc<Node>>,
    ) -> Option<Released> {
        let mut inner = self.inner.lock();
        if inner.cause.is_some() {
            return None;
        }
        inner.cause = Some(cause.clone());
        self.cancelled.store(true, Ordering::Release);
        let children = mem::take(&mut inner.children);
        let leave_parent = mem::replace(&mut inner.in_parent, false) && !from_parent;
        let released = Released {
            done_tx: inner.done_tx.take(),
            callbacks: mem::take(&mut inner.callbacks),
            timer: inner.timer.take(),
        };
        drop(inner);
        if leave_parent && let Some(parent) = &self.parent {
            parent.remove_child(self.slot);
        }
        stack.extend(
            children
                .into_iter()
                .filter_map(|(_, child)| child.upgrade()),
        );
        Some(released)
    }

    fn remove_child(&self, slot: usize) {
        self.inner.lock().children.try_remove(slot);
    }

    /// Registers `callback`; returns its key, or gives it back if the node is already cancelled.
    pub(crate) fn add_callback(&self, callback: Callback) -> Result<usize, Callback> {
        let mut inner = self.inner.lock();
        if inner.cause.is_some() {
            drop(inner);
            return Err(callback);
        }
        self.had_callbacks.store(true, Ordering::Release);
        Ok(inner.callbacks.insert(callback))
    }

    /// Unregisters a callback and hands it back, to be dropped by the caller after the lock is
    /// released (it may own a child of this very node). `None` if cancel already took it.
    pub(crate) fn remove_callback(&self, key: usize) -> Option<Callback> {
        let mut inner = self.inner.lock();
        let removed = inner.callbacks.try_remove(key);
        drop(inner);
        removed
    }

    /// Whether this node has a parent (and so, while not cancelled, a weak entry in its slab).
    pub(crate) fn has_parent(&self) -> bool {
        self.parent.is_some()
    }

    /// Whether this node was never cancelled, never had a callback and never handed out its
    /// `done()` receiver. With
    /// the caller holding the only strong handle (so no clone and no child, which holds its
    /// parent) and no weak one besides its parent's slot (so no live callback handle, hence
    /// no registered callback), the node is indistinguishable from a fresh child. Lock-free:
    /// it only reads.
    #[inline]
    pub(crate) fn is_pristine(&self) -> bool {
        !self.is_cancelled()
            && !self.had_callbacks.load(Ordering::Acquire)
            && self.done.get().is_none()
    }

    /// How many live children are linked to this node (for tests of invariant 4).
    #[cfg(test)]
    pub(crate) fn child_count(&self) -> usize {
        self.inner.lock().children.len()
    }
}

/// Drops timer entries, disconnects `done()` channels, runs homebound's own wake-ups and hands
/// the `after_cancel` callbacks to the runner (in one batch).
fn release_all(first: Released, rest: Vec<Released>) {
    let mut after = Vec::new();
    for r in std::iter::once(first).chain(rest) {
        if let Some(cause) = r.timer.and_then(timer::remove) {
            release_user_value(cause, "a deadline's cause");
        }
        drop(r.done_tx);
        for (_, callback) in r.callbacks {
            match callback {
                Callback::Wake(wake) => {
                    if let Err(panic) = Panicked::catch(wake) {
                        lost(panic, "a cancel wake-up");
                    }
                }
                Callback::After(shared) => after.push(shared),
            }
        }
    }
    if !after.is_empty() {
        runner::schedule(after);
    }
}

/// Drops a user value inside `cancel` (or on homebound's own threads): a panic from its `Drop`
/// is recorded for the leak check, never propagated.
pub(crate) fn release_user_value<T>(value: T, what: &str) {
    if let Err(panic) = drop_caught(value) {
        lost(panic, what);
    }
}

fn lost(panic: Panicked, what: &str) {
    threads::record_lost_panic(
        Some(threads::current_origin()),
        format!("{what}, dropped by homebound"),
        panic,
    );
}

/// What a node being dropped still owned of its users: its uncancelled callbacks, its deadline's
/// cause and its own cause. Dropped after the tree is consistent again; the first panic from
/// those drops is resumed on the dropping thread (it dropped the last handle, so these were its
/// values), unless it is already unwinding; any others are recorded as lost.
fn drop_owned(callbacks: Slab<Callback>, deadline: Option<Cause>, cause: Option<Cause>) {
    // Only reasons carry user values; the plain causes drop here, at no cost.
    let deadline = deadline.filter(|c| c.reason().is_some());
    let cause = cause.filter(|c| c.reason().is_some());
    if callbacks.is_empty() && deadline.is_none() && cause.is_none() {
        return;
    }
    let mut first = None;
    let mut note = |result: Result<(), Panicked>| {
        if let Err(panic) = result {
            if first.is_none() && !std::thread::panicking() {
                first = Some(panic);
            } else {
                lost(panic, "a value of a dropped context");
            }
        }
    };
    for (_, callback) in callbacks {
        match callback {
            Callback::Wake(wake) => note(drop_caught(wake)),
            Callback::After(shared) => {
                if let Some(f) = shared.discard() {
                    note(drop_caught(f));
                }
                note(drop_caught(shared));
            }
        }
    }
    note(drop_caught(deadline));
    note(drop_caught(cause));
    if let Some(panic) = first {
        panic.resume();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        let deadline = inner.timer.take().and_then(timer::remove);
        let callbacks = mem::take(&mut inner.callbacks);
        let cause = inner.cause.take();
        let mut parent = self.parent.take();
        let mut leave_parent = mem::replace(&mut inner.in_parent, false);
        let mut slot = self.slot;
        // Unlink ancestors we were the last holder of one by one, instead of letting each
        // `Arc<Node>` drop recurse into its parent.
        while let Some(node) = parent {
            if leave_parent {
                node.remove_child(slot);
            }
            let Some(mut owned) = Arc::into_inner(node) else {
                break;
            };
            parent = owned.parent.take();
            leave_parent = mem::replace(&mut owned.inner.get_mut().in_parent, false);
            slot = owned.slot;
            // `owned` drops here with no parent left to recurse into.
        }
        drop_owned(callbacks, deadline, cause);
    }
}
