//! Loom models of the cancellation tree's state transitions. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
fn loom_callback_runs_exactly_once() {
    loom::model(|| {
        let ctx = Context::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let c = ctx.clone();
        let canceller = thread::spawn(move || c.cancel());
        let r = runs.clone();
        let guard = ctx.on_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        canceller.join().unwrap();
        guard.forget();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
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
