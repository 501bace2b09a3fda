//! Faults in the cancellation tree's own bookkeeping (issue 12, items 1 and 2): callbacks that
//! own parts of the tree, panic payloads whose `Drop` panics again, user values that panic when
//! the tree or the timer drops them. Each must be contained, reported, and never deadlock or end
//! a homebound thread. Every test ends with the leak check.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::{Context, threads};

const BOUND: Duration = Duration::from_secs(10);

fn no_leaks() {
    threads::assert_none_alive(BOUND);
}

/// Runs `f` on a plain thread and says whether it returned within the bound: a deadlock shows
/// up as `false` instead of a hung test.
fn returns_promptly(f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(BOUND).is_ok()
}

/// A panic payload (or error) whose own `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("a payload's drop panicked");
    }
}

impl fmt::Debug for Bomb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bomb")
    }
}

impl fmt::Display for Bomb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bomb")
    }
}

impl std::error::Error for Bomb {}

// ----- item 1: no callback is dropped under a node's lock -----

#[test]
fn stopping_a_callback_that_owns_a_child_of_the_same_parent_returns_at_once() {
    assert!(
        returns_promptly(|| {
            let parent = Context::new();
            let child = parent.child();
            let handle = parent.after_cancel(move || drop(child));
            assert!(handle.stop()); // drops the closure, whose child unlinks from `parent`
        }),
        "deadlock: stopping the callback hung"
    );
    assert!(
        returns_promptly(|| {
            let parent = Context::new();
            let child = parent.child();
            drop(parent.after_cancel(move || drop(child))); // dropping the handle stops it
        }),
        "deadlock: dropping the handle hung"
    );
    no_leaks();
}

#[test]
fn stopping_a_callback_that_owns_a_childs_drop_guard_returns_at_once() {
    assert!(
        returns_promptly(|| {
            let parent = Context::new();
            let guard = parent.child().drop_guard();
            let handle = parent.after_cancel(move || drop(guard));
            // Dropping the closure cancels the child, which unlinks it from `parent`.
            assert!(handle.stop());
            assert!(!parent.is_cancelled());
        }),
        "deadlock: stopping the callback hung"
    );
    no_leaks();
}

// ----- item 2: payloads whose drop panics never escape containment -----

#[test]
fn the_timer_survives_a_callback_panic_whose_payload_drop_panics() {
    let ctx = Context::new().with_timeout(Duration::from_millis(5));
    ctx.after_cancel(|| panic::panic_any(Bomb)).detach();
    ctx.wait();
    // Every later deadline in the process still fires.
    let later = Context::new().with_timeout(Duration::from_millis(5));
    assert!(later.wait_timeout(BOUND), "no deadline fires any more");
    // The panic was reported; dropping its report (and the payload) is harmless.
    let leaked = threads::wait_none_alive(BOUND).unwrap_err();
    assert_eq!(leaked.panics().len(), 1, "{leaked}");
    assert!(leaked.panics()[0].panic().payload().is::<Bomb>());
    drop(leaked);
    no_leaks();
}

#[test]
fn a_second_panicking_callback_does_not_stop_the_callbacks_after_it() {
    let ctx = Context::new();
    let ran = Arc::new(AtomicUsize::new(0));
    ctx.after_cancel(|| panic!("first")).detach();
    ctx.after_cancel(|| panic::panic_any(Bomb)).detach();
    let r = ran.clone();
    ctx.after_cancel(move || {
        r.fetch_add(1, Ordering::SeqCst);
    })
    .detach();
    let cancelled = panic::catch_unwind(AssertUnwindSafe(|| ctx.cancel()));
    assert!(matches!(cancelled, Ok(true)), "cancel never panics");
    let leaked = threads::wait_none_alive(BOUND).unwrap_err();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the third callback never ran"
    );
    let mut messages: Vec<&str> = leaked
        .panics()
        .iter()
        .map(|p| p.panic().message())
        .collect();
    messages.sort_unstable();
    assert_eq!(messages, ["first", "non-string panic payload"]);
    drop(leaked);
    no_leaks();
}

#[test]
fn a_deadline_cause_whose_drop_panics_never_escapes_cancel_or_the_timer() {
    // Cancelled before its deadline: `cancel` disarms the timer and drops the unused cause.
    let early = Context::new().with_timeout_cause(Duration::from_secs(3600), Bomb);
    assert!(early.cancel(), "cancel never panics");
    let lost = threads::take_lost_panics();
    assert_eq!(lost.len(), 1, "reported for this thread's leak check");
    assert_eq!(lost[0].panic().message(), "a payload's drop panicked");
    // Fired by the timer while the context lives on: the timer's copy of the cause is dropped
    // on the timer thread.
    let fired = Context::new().with_timeout_cause(Duration::from_millis(5), Bomb);
    assert!(fired.wait().is_deadline_exceeded());
    let later = Context::new().with_timeout(Duration::from_millis(5));
    assert!(later.wait_timeout(BOUND), "the timer thread died");
    // Dropping the last handles drops the causes on this thread: the panic surfaces here.
    let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(fired)));
    assert!(
        dropped.is_err(),
        "the context's own cause is the caller's value"
    );
    drop(early);
    no_leaks();
}

#[test]
fn a_context_dropped_uncancelled_drops_its_callbacks_on_the_dropping_thread() {
    let ctx = Context::new();
    let bomb = Bomb;
    ctx.after_cancel(move || drop(bomb)).detach();
    let second = Bomb;
    ctx.after_cancel(move || drop(second)).detach();
    // The first panic surfaces where the last handle was dropped; the second is recorded.
    let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(ctx)));
    let payload = dropped.unwrap_err();
    assert_eq!(
        homebound::task::panic_message(&*payload),
        "a payload's drop panicked"
    );
    let lost = threads::take_lost_panics();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].panic().message(), "a payload's drop panicked");
    no_leaks();
}
