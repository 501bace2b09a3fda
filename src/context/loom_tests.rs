//! Loom models of the cancellation tree: cancel racing child creation, handle drops at every
//! level (C7/C8), callback registration and removal, the `after_cancel` start/stop race, and the
//! `cancelled()` future's wake-up. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_`.
//!
//! The node locks, the callback state and the future's waker slot come from `crate::shim`, so
//! loom sees them; the runner runs callbacks inline under loom (see `runner.rs`).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use loom::thread;

use super::{Cause, Context};

#[test]
fn loom_cancel_races_child_creation() {
    loom::model(|| {
        let root = Context::new();
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel());
        let child = root.child();
        canceller.join().unwrap();
        // Whichever came first, the child ends up cancelled with the root's cause.
        assert!(child.is_cancelled());
        assert_eq!(child.cause(), Some(Cause::Cancelled));
        drop(child);
        assert_eq!(root.node.child_count(), 0);
    });
}

#[test]
fn loom_first_cause_wins() {
    loom::model(|| {
        let ctx = Context::new();
        let c = ctx.clone();
        let other = thread::spawn(move || c.cancel_with("reason"));
        let mine = ctx.cancel();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one cancel call wins");
        let cause = ctx.cause().unwrap();
        assert_eq!(matches!(cause, Cause::Cancelled), mine);
    });
}

#[test]
fn loom_parent_cancel_reaches_grandchild() {
    loom::model(|| {
        let root = Context::new();
        let child = root.child();
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel());
        let grandchild = child.child();
        drop(child);
        canceller.join().unwrap();
        assert!(grandchild.is_cancelled());
    });
}

/// C7/C8: the last handles of a child and of its grandchild are dropped on two threads while a
/// third cancels the root. No deadlock in any interleaving, and nothing stays linked.
#[test]
fn loom_handle_drops_race_cancel_at_every_level() {
    loom::model(|| {
        let root = Context::new();
        let child = root.child();
        let grandchild = child.child();
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel());
        let dropper = thread::spawn(move || drop(child));
        drop(grandchild);
        dropper.join().unwrap();
        canceller.join().unwrap();
        assert!(root.is_cancelled());
        assert_eq!(root.node.child_count(), 0);
    });
}

/// C7/C8 with a sibling: a child cancels itself and is dropped (unlinking once, not twice)
/// while a new sibling is created (it may take the freed slot) and the root is cancelled. The
/// sibling is cancelled whatever the order, and the root ends with no linked children.
#[test]
fn loom_child_drop_races_sibling_creation_and_cancel() {
    loom::model(|| {
        let root = Context::new();
        let first = root.child();
        first.cancel(); // unlinked now: its slot is free for the sibling
        let r = root.clone();
        let creator = thread::spawn(move || r.child());
        let dropper = thread::spawn(move || drop(first));
        root.cancel();
        let sibling = creator.join().unwrap();
        dropper.join().unwrap();
        assert!(sibling.is_cancelled());
        drop(sibling);
        assert_eq!(root.node.child_count(), 0);
    });
}

/// A callback registered while another thread cancels runs exactly once.
#[test]
fn loom_after_cancel_registered_while_cancelling_runs_once() {
    loom::model(|| {
        let ctx = Context::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let c = ctx.clone();
        let canceller = thread::spawn(move || c.cancel());
        let r = runs.clone();
        ctx.after_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
        canceller.join().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

/// `stop()` racing the cancel: exactly one of "stopped" and "ran".
#[test]
fn loom_stop_races_cancel_exactly_one_outcome() {
    loom::model(|| {
        let ctx = Context::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let handle = ctx.after_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        let c = ctx.clone();
        let canceller = thread::spawn(move || c.cancel());
        let stopped = handle.stop();
        canceller.join().unwrap();
        assert_eq!(usize::from(stopped) + runs.load(Ordering::SeqCst), 1);
        assert!(!handle.stop());
    });
}

/// Removing a registration whose closure owns a child of the same node, racing the cancel:
/// the closure is never dropped under the node's lock (issue 12 item 1), so no interleaving
/// deadlocks.
#[test]
fn loom_removing_a_callback_that_owns_a_child_races_cancel() {
    loom::model(|| {
        let parent = Context::new();
        let child = parent.child();
        let guard = parent.wake_on_cancel(move || drop(child));
        let p = parent.clone();
        let canceller = thread::spawn(move || p.cancel());
        drop(guard);
        canceller.join().unwrap();
        assert_eq!(parent.node.child_count(), 0);
    });
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The `cancelled()` future polled while another thread cancels: it is ready, or its waker is
/// woken. No lost wake-up.
#[test]
fn loom_cancelled_future_is_never_left_unwoken() {
    loom::model(|| {
        let ctx = Context::new();
        let wakes = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let c = ctx.clone();
        let canceller = thread::spawn(move || c.cancel());
        let mut fut = pin!(ctx.cancelled());
        let first = fut.as_mut().poll(&mut TaskContext::from_waker(&waker));
        canceller.join().unwrap();
        if first.is_pending() {
            assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "lost wake-up");
        }
        assert_eq!(
            fut.poll(&mut TaskContext::from_waker(&waker)),
            Poll::Ready(Cause::Cancelled)
        );
    });
}
