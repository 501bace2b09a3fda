//! Integration tests for `Context`: promises C1–C11 of the reliability spec, ported from Go's
//! `context/x_test.go` (TestWithCancel, TestCancelRemoves, TestSimultaneousCancels, deadline in
//! the past / now, cause first-wins) and tokio-util's cancellation-token tests.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crossbeam_channel::{TryRecvError, bounded, select, unbounded};
use homebound::{
    Cause, Context, context::RecvError, context::RecvTimeoutError, context::SendError, threads,
};

mod common;

/// The "promptly" bound: generous, so a loaded 2-core machine never flakes.
const BOUND: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_leaks() {
    threads::assert_none_alive(BOUND);
}

fn is_done(ctx: &Context) -> bool {
    matches!(ctx.done().try_recv(), Err(TryRecvError::Disconnected))
}

#[test]
fn smoke() {
    let ctx = Context::new();
    assert!(!ctx.is_cancelled());
    assert_eq!(ctx.cause(), None);
    assert!(ctx.check().is_ok());
    assert!(!is_done(&ctx));
    assert!(ctx.cancel());
    assert!(ctx.is_cancelled());
    assert!(is_done(&ctx));
    assert_eq!(ctx.cause(), Some(Cause::Cancelled));
    no_leaks();
}

#[test]
fn context_is_send_sync_clone_and_clones_are_the_same_node() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Context>();
    let a = Context::new();
    let b = a.clone();
    assert_eq!(a, b);
    assert_ne!(a, a.child());
    b.cancel();
    assert!(a.is_cancelled());
    no_leaks();
}

// ----- C1: idempotent cancel, first cause wins -----

#[test]
fn cancel_twice_keeps_the_first_cause() {
    let ctx = Context::new();
    assert!(ctx.cancel_with("first"));
    assert!(!ctx.cancel());
    assert!(!ctx.cancel_with("second"));
    let Some(Cause::Reason(reason)) = ctx.cause() else {
        panic!("expected a reason")
    };
    assert_eq!(reason.to_string(), "first");
    assert_eq!(ctx.check().unwrap_err().to_string(), "cancelled: first");
    no_leaks();
}

#[test]
fn parent_cause_reaches_children_and_child_cause_stays_its_own() {
    let parent = Context::new();
    let child = parent.child();
    let other = parent.child();
    child.cancel_with("child first");
    parent.cancel_with("parent later");
    let Some(Cause::Reason(c)) = child.cause() else {
        panic!()
    };
    let Some(Cause::Reason(o)) = other.cause() else {
        panic!()
    };
    assert_eq!(c.to_string(), "child first");
    assert_eq!(o.to_string(), "parent later");
    assert_eq!(Some(Cause::Reason(o)), parent.cause());
    no_leaks();
}

#[test]
fn cancel_from_many_threads_at_once_has_one_winner() {
    for _ in 0..50 {
        let ctx = Context::new();
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (ctx, barrier) = (ctx.clone(), barrier.clone());
                threads::spawn("canceller", move || {
                    barrier.wait();
                    ctx.cancel_with(format!("thread {i}"))
                })
                .unwrap()
            })
            .collect();
        let winners = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(winners, 1);
    }
    no_leaks();
}

// ----- C2 / C3: down, synchronously; never up or sideways -----

#[test]
fn cancel_reaches_every_descendant_before_returning() {
    let root = Context::new();
    let mut all = vec![root.clone()];
    let mut frontier = vec![root.clone()];
    for _ in 0..3 {
        let next: Vec<Context> = frontier
            .iter()
            .flat_map(|c| (0..3).map(|_| c.child()))
            .collect();
        all.extend(next.iter().cloned());
        frontier = next;
    }
    // Half of the nodes have a done() receiver created before the cancel, half after.
    for c in all.iter().step_by(2) {
        let _ = c.done();
    }
    root.cancel();
    for c in &all {
        assert!(c.is_cancelled());
        assert!(is_done(c));
        assert_eq!(c.cause(), Some(Cause::Cancelled));
    }
    no_leaks();
}

#[test]
fn cancel_never_travels_up_or_sideways() {
    let root = Context::new();
    let a = root.child();
    let b = root.child();
    let a1 = a.child();
    a.cancel();
    assert!(a.is_cancelled() && a1.is_cancelled());
    assert!(!root.is_cancelled());
    assert!(!b.is_cancelled());
    assert!(!is_done(&root) && !is_done(&b));
    no_leaks();
}

// ----- C4: born cancelled -----

#[test]
fn child_of_cancelled_parent_is_born_cancelled() {
    let parent = Context::new();
    parent.cancel_with("gone");
    let child = parent.child();
    assert!(child.is_cancelled());
    assert!(is_done(&child));
    assert_eq!(child.cause(), parent.cause());
    let timed = parent.with_timeout(Duration::from_secs(60));
    assert!(timed.is_cancelled());
    assert_eq!(timed.cause(), parent.cause());
    no_leaks();
}

#[test]
fn child_racing_parent_cancel_is_always_cancelled() {
    for _ in 0..common::stress_reps(200) {
        let parent = Context::new();
        let barrier = Arc::new(Barrier::new(2));
        let canceller = {
            let (parent, barrier) = (parent.clone(), barrier.clone());
            threads::spawn("canceller", move || {
                barrier.wait();
                parent.cancel();
            })
            .unwrap()
        };
        barrier.wait();
        let child = parent.child();
        canceller.join().unwrap();
        assert!(child.is_cancelled());
        assert!(child.done().recv_timeout(BOUND).is_err());
    }
    no_leaks();
}

// ----- C5: deadlines -----

#[test]
fn deadline_in_the_past_or_now_is_done_at_once() {
    let root = Context::new();
    let past = root.with_deadline(Instant::now() - ms(1));
    let now = root.with_deadline(Instant::now());
    let zero = root.with_timeout(Duration::ZERO);
    for ctx in [&past, &now, &zero] {
        assert!(ctx.is_cancelled());
        assert!(is_done(ctx));
        assert_eq!(ctx.cause(), Some(Cause::DeadlineExceeded));
        assert!(ctx.check().unwrap_err().is_deadline_exceeded());
    }
    assert!(!root.is_cancelled());
    no_leaks();
}

#[test]
fn duration_max_and_overflowing_deadlines_mean_never() {
    let root = Context::new();
    let never = root.with_timeout(Duration::MAX);
    assert!(!never.is_cancelled());
    assert_eq!(never.deadline(), None);
    assert_eq!(never.remaining(), None);
    let huge = root.with_timeout(Duration::from_secs(u64::MAX));
    assert!(!huge.is_cancelled());
    assert!(!never.wait_timeout(ms(1)));
    assert!(never.sleep(Duration::ZERO).is_ok());
    assert!(matches!(
        never.recv_timeout(&unbounded::<()>().1, ms(1)),
        Err(RecvTimeoutError::Timeout)
    ));
    root.cancel();
    assert!(never.is_cancelled() && huge.is_cancelled());
    no_leaks();
}

#[test]
fn effective_deadline_is_the_earlier_of_own_and_parent() {
    let parent = Context::new().with_timeout(Duration::from_secs(60));
    let later = parent.with_timeout(Duration::from_secs(3600));
    assert_eq!(later.deadline(), parent.deadline());
    let earlier = parent.with_timeout(Duration::from_secs(1));
    assert!(earlier.deadline().unwrap() < parent.deadline().unwrap());
    assert!(earlier.remaining().unwrap() <= Duration::from_secs(1));
    no_leaks();
}

#[test]
fn deadline_wakes_a_select_without_polling() {
    let ctx = Context::new().with_timeout(ms(30));
    let (_tx, never) = unbounded::<u8>();
    let waiter = {
        let ctx = ctx.clone();
        threads::spawn("selector", move || {
            select! {
                recv(never) -> _ => unreachable!("nobody sends"),
                recv(ctx.done()) -> _ => ctx.cause(),
            }
        })
        .unwrap()
    };
    assert_eq!(waiter.join().unwrap(), Some(Cause::DeadlineExceeded));
    no_leaks();
}

#[test]
fn parent_deadline_fires_child_even_when_parent_handle_is_dropped() {
    let child = Context::new().with_timeout(ms(20)).child();
    assert!(child.wait_timeout(BOUND));
    assert_eq!(child.cause(), Some(Cause::DeadlineExceeded));
    no_leaks();
}

#[test]
fn context_dropped_while_its_deadline_is_pending_is_harmless() {
    for _ in 0..100 {
        drop(Context::new().with_timeout(ms(5)));
    }
    // A deadline that fires after its siblings were dropped still works.
    let kept = Context::new().with_timeout(ms(10));
    assert_eq!(kept.wait(), Cause::DeadlineExceeded);
    no_leaks();
}

#[test]
fn many_deadlines_fire_in_order_of_time() {
    let root = Context::new();
    let ctxs: Vec<Context> = (0..50).rev().map(|i| root.with_timeout(ms(i))).collect();
    for ctx in &ctxs {
        assert_eq!(ctx.wait(), Cause::DeadlineExceeded);
    }
    assert!(!root.is_cancelled());
    no_leaks();
}

// ----- C6: no lost wake-ups -----

#[test]
fn simultaneous_cancels_wake_every_waiter() {
    // Go's TestSimultaneousCancels: a tree, a waiter on every node, cancels in scrambled order.
    let root = Context::new();
    let mut nodes = vec![root.clone()];
    for i in 0..40 {
        let parent = nodes[i / 3].clone();
        nodes.push(parent.child());
    }
    let woken = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = nodes
        .iter()
        .map(|ctx| {
            let (ctx, woken) = (ctx.clone(), woken.clone());
            threads::spawn("waiter", move || {
                assert!(ctx.wait_timeout(BOUND), "waiter not woken within the bound");
                woken.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    let cancellers: Vec<_> = nodes
        .iter()
        .rev()
        .step_by(3)
        .cloned()
        .map(|ctx| threads::spawn("canceller", move || ctx.cancel()).unwrap())
        .collect();
    for c in cancellers {
        c.join().unwrap();
    }
    root.cancel();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), nodes.len());
    no_leaks();
}

// ----- C7 / C10: removal, deep and wide trees -----

#[test]
fn deep_chain_of_100k_cancels_and_drops_without_overflow() {
    let root = Context::new();
    let mut leaf = root.clone();
    for _ in 0..100_000 {
        leaf = leaf.child();
    }
    let start = Instant::now();
    root.cancel();
    assert!(leaf.is_cancelled());
    drop(root);
    drop(leaf);
    // An uncancelled deep chain drops from the leaf too.
    let mut leaf = Context::new();
    for _ in 0..100_000 {
        leaf = leaf.child();
    }
    drop(leaf);
    assert!(start.elapsed() < Duration::from_secs(30));
    no_leaks();
}

#[test]
fn wide_fan_of_100k_cancels_in_linear_time() {
    let root = Context::new();
    let kids: Vec<Context> = (0..100_000).map(|_| root.child()).collect();
    root.cancel();
    assert!(kids.iter().all(Context::is_cancelled));
    drop(kids);
    no_leaks();
}

// ----- after_cancel -----

fn runner_thread() -> Option<String> {
    std::thread::current().name().map(str::to_owned)
}

fn is_runner(name: &str) -> bool {
    name.starts_with("homebound-callbacks-")
}

#[test]
fn after_cancel_runs_once_on_the_runner_never_on_the_cancelling_thread() {
    let ctx = Context::new();
    let (tx, rx) = unbounded();
    let handle = ctx.after_cancel(move || tx.send(runner_thread()).unwrap());
    let canceller = {
        let ctx = ctx.clone();
        threads::spawn("the-canceller", move || {
            ctx.cancel();
            ctx.cancel();
        })
        .unwrap()
    };
    canceller.join().unwrap();
    let ran_on = rx.recv_timeout(BOUND).unwrap().unwrap();
    assert!(is_runner(&ran_on), "{ran_on}");
    no_leaks();
    assert!(rx.try_recv().is_err(), "callback ran twice");
    assert!(!handle.stop(), "it had started");
}

#[test]
fn after_cancel_on_a_cancelled_context_is_scheduled_the_same_way() {
    let ctx = Context::new();
    ctx.cancel();
    let (tx, rx) = unbounded();
    ctx.after_cancel(move || tx.send(runner_thread()).unwrap())
        .detach();
    let ran_on = rx.recv_timeout(BOUND).unwrap().unwrap();
    assert!(
        is_runner(&ran_on),
        "not on the registering thread: {ran_on}"
    );
    no_leaks();
}

#[test]
fn stopped_or_dropped_handles_never_run() {
    let ctx = Context::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let dropped = ctx.after_cancel(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    drop(dropped);
    let r = ran.clone();
    let stopped = ctx.after_cancel(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert!(stopped.stop());
    assert!(!stopped.stop(), "a second stop has nothing left to stop");
    let r = ran.clone();
    let detached = ctx.after_cancel(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    detached.detach();
    ctx.cancel();
    no_leaks(); // waits for the detached callback
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "only the detached callback runs"
    );
}

#[test]
fn callback_may_call_back_into_contexts_without_deadlock() {
    let parent = Context::new();
    let ctx = parent.child();
    let sibling = parent.child();
    let (c, p, s) = (ctx.clone(), parent.clone(), sibling.clone());
    let (tx, rx) = unbounded();
    ctx.after_cancel(move || {
        // Cancel itself again, read its cause, make a child, cancel a sibling and the parent.
        assert!(!c.cancel());
        let cause = c.cause();
        assert!(c.child().is_cancelled());
        s.cancel_with("from callback");
        p.cancel();
        tx.send(cause).unwrap();
    })
    .detach();
    ctx.cancel();
    assert_eq!(rx.recv_timeout(BOUND).unwrap(), Some(Cause::Cancelled));
    assert!(parent.is_cancelled() && sibling.is_cancelled());
    no_leaks();
}

#[test]
fn callbacks_see_the_whole_subtree_cancelled() {
    let root = Context::new();
    let leaf = root.child().child();
    let l = leaf.clone();
    let (tx, rx) = unbounded();
    root.after_cancel(move || tx.send(l.is_cancelled()).unwrap())
        .detach();
    root.cancel();
    assert!(rx.recv_timeout(BOUND).unwrap());
    no_leaks();
}

#[test]
fn a_panicking_callback_is_contained_reported_and_the_runner_survives() {
    let root = Context::new();
    let child = root.child();
    let ran = Arc::new(AtomicUsize::new(0));
    root.after_cancel(|| panic!("callback failed")).detach();
    let r = ran.clone();
    child
        .after_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
    assert!(root.cancel(), "cancel itself never panics");
    assert!(child.is_cancelled());
    let leaked = threads::wait_none_alive(BOUND).unwrap_err();
    assert!(leaked.threads().is_empty() && leaked.pending().is_empty());
    let [lost] = leaked.panics() else {
        panic!("{leaked}")
    };
    assert_eq!(lost.panic().message(), "callback failed");
    assert!(
        lost.what()
            .starts_with("after_cancel callback registered at ")
    );
    assert!(lost.what().contains(file!()), "{}", lost.what());
    assert!(is_runner(lost.panic().thread().unwrap()));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    // The runner is still there for the next callback.
    let again = Context::new();
    let (tx, rx) = bounded(1);
    again.after_cancel(move || tx.send(()).unwrap()).detach();
    again.cancel();
    rx.recv_timeout(BOUND).unwrap();
    no_leaks();
}

#[test]
fn deadline_callbacks_run_on_the_runner_not_the_timer_thread() {
    let ctx = Context::new().with_timeout(ms(10));
    let (tx, rx) = bounded(1);
    ctx.after_cancel(move || tx.send(runner_thread()).unwrap())
        .detach();
    let name = rx.recv_timeout(BOUND).unwrap().unwrap();
    assert!(is_runner(&name), "{name}");
    no_leaks();
}

#[test]
fn a_blocking_callback_does_not_hold_up_the_others() {
    // One callback blocks until released; callbacks of other contexts still run meanwhile
    // (another runner thread takes them), including deadline ones.
    let (release, blocked) = bounded::<()>(0);
    let (started_tx, started) = bounded(1);
    let stuck = Context::new();
    stuck
        .after_cancel(move || {
            started_tx.send(()).unwrap();
            let _ = blocked.recv();
        })
        .detach();
    stuck.cancel();
    started.recv_timeout(BOUND).unwrap();
    let (tx, rx) = unbounded();
    let others: Vec<Context> = (0..3).map(|_| Context::new().with_timeout(ms(1))).collect();
    for (i, ctx) in others.iter().enumerate() {
        let tx = tx.clone();
        ctx.after_cancel(move || tx.send(i).unwrap()).detach();
    }
    let mut got: Vec<usize> = (0..3).map(|_| rx.recv_timeout(BOUND).unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2]);
    // The leak check waits for the blocked callback and names it while it blocks.
    let leaked = threads::wait_none_alive(ms(20)).unwrap_err();
    assert_eq!(leaked.pending().len(), 1, "{leaked}");
    assert_eq!(leaked.pending()[0].location().file(), file!());
    drop(release);
    no_leaks();
}

#[test]
fn stop_racing_cancel_either_stops_or_runs_exactly_once() {
    let (mut stopped, mut ran_total) = (0usize, 0usize);
    for _ in 0..1000 {
        let ctx = Context::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let handle = ctx.after_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        let barrier = Arc::new(Barrier::new(2));
        let canceller = {
            let (ctx, barrier) = (ctx.clone(), barrier.clone());
            threads::spawn("canceller", move || {
                barrier.wait();
                ctx.cancel();
            })
            .unwrap()
        };
        barrier.wait();
        let did_stop = handle.stop();
        canceller.join().unwrap();
        no_leaks(); // waits for the callback if it was scheduled
        let runs = ran.load(Ordering::SeqCst);
        assert_eq!(
            usize::from(did_stop) + runs,
            1,
            "stopped={did_stop} runs={runs}"
        );
        stopped += usize::from(did_stop);
        ran_total += runs;
    }
    assert_eq!(stopped + ran_total, 1000);
}

#[test]
fn a_cause_forwarded_across_100k_levels_stays_the_same_cause() {
    // A chain of contexts, each forwarding its cause to the next from an after_cancel
    // callback: the cause is handed on unchanged (no wrapping, so no deep drop or Display).
    let contexts: Vec<Context> = (0..100_000).map(|_| Context::new()).collect();
    for pair in contexts.windows(2) {
        let (from, to) = (pair[0].clone(), pair[1].clone());
        let f = from.clone();
        from.after_cancel(move || {
            to.cancel_with_cause(f.cause().unwrap());
        })
        .detach();
    }
    contexts[0].cancel_with("root cause");
    let last = contexts.last().unwrap();
    assert!(last.wait_timeout(Duration::from_secs(60)));
    assert_eq!(last.cause(), contexts[0].cause());
    assert_eq!(last.cause().unwrap().to_string(), "root cause");
    drop(contexts);
    no_leaks();
}

// ----- cancel-aware blocking helpers -----

#[test]
fn sleep_completes_or_stops_on_cancel() {
    let ctx = Context::new();
    let start = Instant::now();
    assert!(ctx.sleep(ms(5)).is_ok());
    assert!(start.elapsed() >= ms(5));
    let sleeper = {
        let ctx = ctx.clone();
        threads::spawn("sleeper", move || ctx.sleep(Duration::from_secs(3600))).unwrap()
    };
    ctx.cancel();
    let err = sleeper.join().unwrap().unwrap_err();
    assert_eq!(err.cause(), &Cause::Cancelled);
    assert!(
        ctx.sleep_until(Instant::now() + Duration::from_secs(3600))
            .is_err()
    );
    no_leaks();
}

#[test]
fn recv_gets_values_and_reports_disconnect() {
    let ctx = Context::new();
    let (tx, rx) = bounded(2);
    tx.send(1).unwrap();
    assert_eq!(ctx.recv(&rx).unwrap(), 1);
    drop(tx);
    assert!(matches!(ctx.recv(&rx), Err(RecvError::Disconnected)));
    no_leaks();
}

#[test]
fn recv_blocked_is_woken_by_cancel_and_loses_nothing() {
    let ctx = Context::new();
    let (tx, rx) = bounded::<u32>(1);
    let receiver = {
        let (ctx, rx) = (ctx.clone(), rx.clone());
        threads::spawn("receiver", move || ctx.recv(&rx)).unwrap()
    };
    ctx.cancel_with("stop");
    match receiver.join().unwrap() {
        Err(RecvError::Cancelled(c)) => assert_eq!(c.to_string(), "cancelled: stop"),
        other => panic!("expected a cancel, got {other:?}"),
    }
    // After cancel, a message sent later stays in the channel for someone else.
    tx.send(7).unwrap();
    assert!(matches!(ctx.recv(&rx), Err(RecvError::Cancelled(_))));
    assert_eq!(rx.try_recv().unwrap(), 7);
    no_leaks();
}

#[test]
fn recv_timeout_reports_each_outcome() {
    let ctx = Context::new();
    let (tx, rx) = bounded::<u32>(1);
    assert!(matches!(
        ctx.recv_timeout(&rx, ms(1)),
        Err(RecvTimeoutError::Timeout)
    ));
    tx.send(3).unwrap();
    assert_eq!(ctx.recv_timeout(&rx, ms(1)).unwrap(), 3);
    drop(tx);
    assert!(matches!(
        ctx.recv_timeout(&rx, ms(1)),
        Err(RecvTimeoutError::Disconnected)
    ));
    ctx.cancel();
    assert!(matches!(
        ctx.recv_timeout(&rx, Duration::MAX),
        Err(RecvTimeoutError::Cancelled(_))
    ));
    no_leaks();
}

#[test]
fn send_blocked_on_full_channel_hands_the_value_back_on_cancel() {
    let ctx = Context::new();
    let (tx, rx) = bounded::<String>(1);
    ctx.send(&tx, "fits".to_string()).unwrap();
    let sender = {
        let (ctx, tx) = (ctx.clone(), tx.clone());
        threads::spawn("sender", move || ctx.send(&tx, "blocked".to_string())).unwrap()
    };
    ctx.cancel();
    let err = sender.join().unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.into_inner(), "blocked");
    assert_eq!(rx.try_recv().unwrap(), "fits");
    assert!(rx.try_recv().is_err(), "nothing else was sent");
    no_leaks();
}

#[test]
fn send_to_disconnected_channel_hands_the_value_back() {
    let ctx = Context::new();
    let (tx, rx) = bounded::<Vec<u8>>(0);
    drop(rx);
    match ctx.send(&tx, vec![1, 2]) {
        Err(SendError::Disconnected(v)) => assert_eq!(v, vec![1, 2]),
        other => panic!("{other:?}"),
    }
    no_leaks();
}

#[test]
fn send_completes_when_a_receiver_arrives() {
    let ctx = Context::new();
    let (tx, rx) = bounded::<u32>(0);
    let receiver = threads::spawn("receiver", move || rx.recv().unwrap()).unwrap();
    ctx.send(&tx, 11).unwrap();
    assert_eq!(receiver.join().unwrap(), 11);
    no_leaks();
}

#[test]
fn wait_returns_the_cause() {
    let ctx = Context::new();
    let waiter = {
        let ctx = ctx.clone();
        threads::spawn("waiter", move || ctx.wait()).unwrap()
    };
    assert!(!ctx.wait_timeout(Duration::ZERO));
    ctx.cancel_with("done now");
    assert!(matches!(waiter.join().unwrap(), Cause::Reason(_)));
    assert!(ctx.wait_timeout(Duration::ZERO));
    no_leaks();
}

#[test]
fn drop_guard_cancels_also_while_unwinding() {
    let ctx = Context::new();
    let guarded = ctx.child();
    let g = guarded.clone();
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        let _guard = g.drop_guard();
        panic!("work failed");
    }));
    assert!(result.is_err());
    assert!(guarded.is_cancelled());
    assert!(!ctx.is_cancelled());
    no_leaks();
}

#[test]
fn reason_carries_the_callers_error_type() {
    #[derive(Debug, PartialEq)]
    struct Quota(u32);
    impl std::fmt::Display for Quota {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "quota {} exceeded", self.0)
        }
    }
    impl std::error::Error for Quota {}
    let ctx = Context::new();
    ctx.cancel_with(Quota(3));
    let err = ctx.check().unwrap_err();
    let Cause::Reason(reason) = err.cause() else {
        panic!()
    };
    assert_eq!(reason.downcast_ref::<Quota>(), Some(&Quota(3)));
    assert_eq!(err.to_string(), "cancelled: quota 3 exceeded");
    assert!(std::error::Error::source(&err).is_some());
    no_leaks();
}

// ----- stress -----

#[test]
fn stress_concurrent_children_cancels_and_drops() {
    let root = Context::new();
    let barrier = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (root, barrier) = (root.clone(), barrier.clone());
            threads::spawn("stress", move || {
                barrier.wait();
                for i in 0..5_000u64 {
                    let a = root.child();
                    let b = a.with_timeout(Duration::from_micros(i % 50));
                    let c = b.child();
                    match (i + w) % 3 {
                        0 => drop(a.cancel()),
                        1 => drop(c.cancel_with("c")),
                        _ => drop(b),
                    }
                    let _ = c.done().try_recv();
                }
            })
            .unwrap()
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(!root.is_cancelled());
    no_leaks();
}

// ----- causes that say why -----

#[test]
fn a_deadline_with_a_cause_fires_with_that_cause() {
    let ctx = Context::new().with_timeout_cause(ms(5), "index rebuild too slow");
    let cause = ctx.wait();
    assert!(cause.is_deadline_exceeded());
    assert!(matches!(cause, Cause::DeadlineExceededWith(_)));
    assert_eq!(
        cause.reason().unwrap().to_string(),
        "index rebuild too slow"
    );
    assert_eq!(
        cause.to_string(),
        "deadline exceeded: index rebuild too slow"
    );
    let err = ctx.check().unwrap_err();
    assert!(err.is_deadline_exceeded());
    assert_eq!(
        err.to_string(),
        "cancelled: deadline exceeded: index rebuild too slow"
    );
    assert!(std::error::Error::source(&err).is_some());
    // Children see the same cause; a past deadline is done at once with it.
    let past = Context::new().with_deadline_cause(Instant::now() - ms(1), "late");
    assert_eq!(past.child().cause(), past.cause());
    no_leaks();
}

#[test]
fn an_earlier_parent_deadline_wins_with_the_parents_cause() {
    let parent = Context::new().with_timeout_cause(ms(5), "parent");
    let child = parent.with_timeout_cause(Duration::from_secs(3600), "child");
    assert_eq!(child.deadline(), parent.deadline());
    assert_eq!(child.wait().reason().unwrap().to_string(), "parent");
    let own = Context::new()
        .with_timeout_cause(Duration::from_secs(3600), "parent")
        .with_timeout_cause(ms(5), "child");
    assert_eq!(own.wait().reason().unwrap().to_string(), "child");
    no_leaks();
}

#[test]
fn cancel_with_cause_forwards_a_cause_unchanged() {
    let timed = Context::new().with_timeout(Duration::ZERO);
    let other = Context::new();
    assert!(other.cancel_with_cause(timed.cause().unwrap()));
    assert_eq!(other.cause(), Some(Cause::DeadlineExceeded));
    assert!(other.check().unwrap_err().is_deadline_exceeded());
    let first = Context::new();
    first.cancel_with("original");
    let second = Context::new();
    second.cancel_with_cause(first.cause().unwrap());
    // The same reason (equality is identity), not a reason wrapping a reason.
    assert_eq!(second.cause(), first.cause());
    assert!(
        !second.cancel_with_cause(Cause::Cancelled),
        "the first cause wins"
    );
    no_leaks();
}

#[test]
fn a_cause_from_a_shared_error_downcasts_to_it() {
    #[derive(Debug)]
    struct TaskFailed(u32);
    impl std::fmt::Display for TaskFailed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "task {} failed", self.0)
        }
    }
    impl std::error::Error for TaskFailed {}
    let err = Arc::new(TaskFailed(4));
    let ctx = Context::new();
    ctx.cancel_with_cause(Cause::from_arc(err.clone()));
    let cause = ctx.cause().unwrap();
    let reason = cause.reason().unwrap();
    assert_eq!(reason.downcast_ref::<TaskFailed>().unwrap().0, 4);
    assert_eq!(cause.to_string(), "task 4 failed");
    drop(cause);
    assert_eq!(
        Arc::strong_count(&err),
        2,
        "shared with the context, not copied"
    );
    no_leaks();
}

// ----- cancelled(): a Future for async code, on any executor -----

use common::executor;

#[test]
fn cancelled_completes_when_another_thread_cancels() {
    let ctx = Context::new();
    let canceller = {
        let ctx = ctx.clone();
        threads::spawn("canceller", move || {
            ctx.cancel_with("stop the async work");
        })
        .unwrap()
    };
    // Async work that never ends on its own, stopped by the context.
    let outcome = executor::block_on(executor::race(
        std::future::pending::<()>(),
        ctx.cancelled(),
    ));
    let Err(cause) = outcome else {
        unreachable!("pending never completes")
    };
    assert_eq!(cause.to_string(), "stop the async work");
    canceller.join().unwrap();
    no_leaks();
}

#[test]
fn cancelled_is_ready_at_once_on_a_cancelled_context_and_fires_on_deadline() {
    let ctx = Context::new();
    ctx.cancel();
    assert_eq!(executor::block_on(ctx.cancelled()), Cause::Cancelled);
    let timed = Context::new().with_timeout_cause(ms(5), "too slow");
    assert!(executor::block_on(timed.cancelled()).is_deadline_exceeded());
    no_leaks();
}

#[test]
fn cancelled_wakes_the_latest_waker_once_and_a_dropped_future_never() {
    use std::future::Future;
    use std::task::Poll;
    let ctx = Context::new();
    let (first, first_waker) = executor::waker();
    let (second, second_waker) = executor::waker();
    let mut fut = Box::pin(ctx.cancelled());
    let mut cx = std::task::Context::from_waker(&first_waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let mut cx = std::task::Context::from_waker(&second_waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let (dropped, dropped_waker) = executor::waker();
    let mut gone = Box::pin(ctx.cancelled());
    assert!(
        gone.as_mut()
            .poll(&mut std::task::Context::from_waker(&dropped_waker))
            .is_pending()
    );
    drop(gone);
    ctx.cancel();
    assert_eq!(
        first.wakes.load(Ordering::SeqCst),
        0,
        "replaced by the second"
    );
    assert_eq!(second.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(
        dropped.wakes.load(Ordering::SeqCst),
        0,
        "unregistered on drop"
    );
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Cause::Cancelled));
    no_leaks();
}

#[test]
fn a_leak_check_inside_a_callback_does_not_wait_for_that_callback() {
    let ctx = Context::new();
    let (tx, rx) = bounded(1);
    ctx.after_cancel(move || tx.send(threads::wait_none_alive(ms(50)).is_ok()).unwrap())
        .detach();
    ctx.cancel();
    assert!(
        rx.recv_timeout(BOUND).unwrap(),
        "the callback waited for itself"
    );
    no_leaks();
}
