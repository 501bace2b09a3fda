//! White-box checks of the tree's invariants that the public API cannot see.

use std::time::{Duration, Instant};

use super::Context;
use super::timer;

#[test]
fn dropped_children_leave_the_parent_flat() {
    let root = Context::new();
    for _ in 0..100_000 {
        let child = root.child();
        let grandchild = child.with_timeout(Duration::from_secs(3600));
        drop((child, grandchild));
    }
    assert_eq!(root.node.child_count(), 0);
}

#[test]
fn cancelled_children_are_unlinked_but_stay_cancelled() {
    let root = Context::new();
    let kids: Vec<_> = (0..10).map(|_| root.child()).collect();
    for kid in &kids[..5] {
        kid.cancel();
    }
    assert_eq!(root.node.child_count(), 5);
    root.cancel();
    assert_eq!(root.node.child_count(), 0);
    assert!(kids.iter().all(Context::is_cancelled));
}

#[test]
fn timer_entries_do_not_outlive_their_contexts() {
    // Other tests in this binary hold at most a couple of deadlines at a time, so "ours are
    // armed" is `>= 1000` and "ours are gone" is "fewer than 10 left".
    let far = Instant::now() + Duration::from_secs(3600);
    let ctxs: Vec<_> = (0..1000)
        .map(|_| Context::new().with_deadline(far))
        .collect();
    assert!(timer::armed() >= 1000);
    for (i, ctx) in ctxs.into_iter().enumerate() {
        if i % 2 == 0 {
            ctx.cancel(); // cancelled and then dropped
        }
    }
    assert!(
        timer::armed() < 10,
        "{} deadlines still armed",
        timer::armed()
    );
}

#[test]
fn inherited_deadline_needs_no_timer_entry() {
    let parent = Context::new().with_timeout(Duration::from_secs(3600));
    let child = parent.with_timeout(Duration::from_secs(7200));
    assert_eq!(child.deadline(), parent.deadline());
    assert!(child.node.inner.lock().timer.is_none());
}

#[test]
fn only_an_untouched_sole_handle_is_reusable() {
    let root = Context::new();
    let ctx = root.child();
    assert!(ctx.is_reusable());
    let clone = ctx.clone();
    assert!(!ctx.is_reusable(), "a clone exists");
    drop(clone);
    assert!(ctx.is_reusable());
    let kid = ctx.child();
    assert!(!ctx.is_reusable(), "a child holds it");
    drop(kid);
    assert!(ctx.is_reusable());
    let with_done = root.child();
    let _ = with_done.done();
    assert!(
        !with_done.is_reusable(),
        "its done() receiver may have been cloned"
    );
    let with_callback = root.child();
    let guard = with_callback.after_cancel(|| {});
    assert!(!with_callback.is_reusable(), "a callback is registered");
    drop(guard);
    assert!(
        !with_callback.is_reusable(),
        "conservative: it once had a callback"
    );
    let forgotten = root.child();
    forgotten.after_cancel(|| {}).detach();
    assert!(
        !forgotten.is_reusable(),
        "a forgotten callback stays registered with no handle to show for it"
    );
    let timed = root.with_timeout(Duration::from_secs(3600));
    assert!(!timed.is_reusable(), "the timer refers to it");
    ctx.cancel();
    assert!(!ctx.is_reusable(), "cancelled");
}
