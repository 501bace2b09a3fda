//! Integration tests for `WaitGroup`: promises W1–W6, ported from crossbeam-utils'
//! `wait_group` tests and Go's `TestWaitGroup`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, bounded};
use homebound::{Cause, Context, WaitGroup, threads};

mod common;

const BOUND: Duration = Duration::from_secs(10);

fn no_leaks() {
    threads::assert_none_alive(BOUND);
}

#[test]
fn smoke() {
    let wg = WaitGroup::new();
    assert_eq!(wg.count(), 0);
    wg.wait();
    let g = wg.enter();
    assert_eq!(wg.count(), 1);
    drop(g);
    wg.wait();
    no_leaks();
}

#[test]
fn wait_never_returns_before_the_count_reaches_zero() {
    // crossbeam's `wait`: the waiter must still be blocked while one guard is held.
    let wg = WaitGroup::new();
    let guards = wg.add(3);
    let (done_tx, done_rx) = bounded(1);
    let waiter = {
        let wg = wg.clone();
        threads::spawn("waiter", move || {
            wg.wait();
            done_tx.send(()).unwrap();
        })
        .unwrap()
    };
    let mut guards = guards.into_iter();
    drop(guards.next());
    drop(guards.next());
    assert_eq!(
        done_rx.recv_timeout(Duration::from_millis(50)),
        Err(RecvTimeoutError::Timeout)
    );
    drop(guards.next());
    done_rx.recv_timeout(BOUND).expect("waiter released");
    waiter.join().unwrap();
    no_leaks();
}

#[test]
fn every_waiter_is_released() {
    let wg = WaitGroup::new();
    let guard = wg.enter();
    let released = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let (wg, released) = (wg.clone(), released.clone());
            threads::spawn("waiter", move || {
                wg.wait();
                released.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    drop(guard);
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(released.load(Ordering::SeqCst), 8);
    no_leaks();
}

#[test]
fn a_guard_dropped_during_a_panic_counts_down() {
    let wg = WaitGroup::new();
    let guard = wg.enter();
    let worker = threads::spawn("panicker", move || {
        let _done = guard;
        panic!("worker failed");
    })
    .unwrap();
    assert!(wg.wait_timeout(BOUND));
    assert!(worker.join().is_err());
    let guard = wg.enter();
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        let _done = guard;
        panic!("inline failure");
    }));
    assert!(result.is_err());
    assert_eq!(wg.count(), 0);
    no_leaks();
}

#[test]
fn wait_timeout_returns_false_after_at_least_the_timeout_and_keeps_the_count() {
    let wg = WaitGroup::new();
    let _guard = wg.enter();
    assert!(!wg.wait_timeout(Duration::ZERO));
    let start = Instant::now();
    assert!(!wg.wait_timeout(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(wg.count(), 1);
    assert!(!wg.wait_deadline(Instant::now() - Duration::from_millis(1)));
    no_leaks();
}

#[test]
fn wait_timeout_returns_true_as_soon_as_the_count_is_zero() {
    let wg = WaitGroup::new();
    assert!(wg.wait_timeout(Duration::ZERO));
    assert!(wg.wait_timeout(Duration::MAX));
    let guard = wg.enter();
    let dropper = threads::spawn("dropper", move || drop(guard)).unwrap();
    assert!(wg.wait_timeout(Duration::MAX));
    dropper.join().unwrap();
    no_leaks();
}

#[test]
fn wait_ctx_stops_on_cancel_and_on_deadline() {
    let wg = WaitGroup::new();
    let _guard = wg.enter();
    let ctx = Context::new();
    let waiter = {
        let (wg, ctx) = (wg.clone(), ctx.clone());
        threads::spawn("waiter", move || wg.wait_ctx(&ctx)).unwrap()
    };
    ctx.cancel_with("operator");
    let err = waiter.join().unwrap().unwrap_err();
    assert!(matches!(err.cause(), Cause::Reason(_)));
    let timed = Context::new().with_timeout(Duration::from_millis(10));
    assert!(wg.wait_ctx(&timed).unwrap_err().is_deadline_exceeded());
    assert_eq!(wg.count(), 1);
    no_leaks();
}

#[test]
fn wait_ctx_succeeds_when_work_ends_first() {
    let wg = WaitGroup::new();
    let guard = wg.enter();
    let ctx = Context::new();
    let worker = threads::spawn("worker", move || drop(guard)).unwrap();
    wg.wait_ctx(&ctx).unwrap();
    worker.join().unwrap();
    assert!(!ctx.is_cancelled());
    no_leaks();
}

#[test]
fn add_returns_one_guard_per_unit() {
    let wg = WaitGroup::new();
    let guards = wg.add(5);
    assert_eq!(guards.len(), 5);
    assert_eq!(wg.count(), 5);
    assert!(wg.add(0).is_empty());
    drop(guards);
    assert_eq!(wg.count(), 0);
    no_leaks();
}

#[test]
fn add_overflow_panics_clearly_and_leaves_the_count_and_waiters_alone() {
    // Issue 12 item 3: `add(usize::MAX)` used to raise the count and then panic, so every later
    // wait hung.
    let wg = WaitGroup::new();
    let waiter = {
        let (wg, held) = (wg.clone(), wg.enter());
        let (started_tx, started) = bounded(1);
        let h = threads::spawn("waiter", move || {
            started_tx.send(()).unwrap();
            wg.wait();
        })
        .unwrap();
        started.recv_timeout(BOUND).unwrap();
        (h, held)
    };
    for n in [usize::MAX, usize::MAX - 1] {
        let result = panic::catch_unwind(AssertUnwindSafe(|| wg.add(n)));
        let message = homebound::task::panic_message(&*result.unwrap_err());
        assert!(
            message.starts_with(&format!("WaitGroup::add({n})")),
            "{message}"
        );
        assert!(message.contains("unchanged"), "{message}");
        assert_eq!(wg.count(), 1, "the count is unchanged");
    }
    // From zero, too (the case that used to corrupt the count).
    let empty = WaitGroup::new();
    assert!(panic::catch_unwind(AssertUnwindSafe(|| empty.add(usize::MAX))).is_err());
    assert_eq!(empty.count(), 0);
    assert!(empty.wait_timeout(Duration::ZERO));
    let (h, held) = waiter;
    drop(held);
    h.join().unwrap();
    assert!(wg.wait_timeout(BOUND));
    no_leaks();
}

#[test]
fn reuse_after_reaching_zero_is_defined() {
    // A wait that began before the count touched zero returns, even if new work enters at once
    // (Go panics here). A wait that began after the zero moment waits for the next one: the test
    // cannot see which case a round hit, so it handles both and requires the first to occur.
    let wg = WaitGroup::new();
    let mut returned_while_busy = 0;
    for _ in 0..common::stress_reps(200) {
        let guard = wg.enter();
        let (ready_tx, ready) = bounded(0);
        let (done_tx, done) = bounded(1);
        let waiter = {
            let wg = wg.clone();
            threads::spawn("waiter", move || {
                ready_tx.send(()).unwrap();
                wg.wait();
                done_tx.send(()).unwrap();
            })
            .unwrap()
        };
        ready.recv().unwrap();
        drop(guard);
        let next = wg.enter();
        match done.recv_timeout(Duration::from_millis(100)) {
            Ok(()) => returned_while_busy += 1,
            Err(_) => {
                drop(next);
                done.recv_timeout(BOUND)
                    .expect("a late waiter returns at the next zero");
                waiter.join().unwrap();
                continue;
            }
        }
        waiter.join().unwrap();
        assert_eq!(wg.count(), 1, "the new work is still counted");
        drop(next);
    }
    assert!(returned_while_busy > 0);
    assert_eq!(wg.count(), 0);
    no_leaks();
}

#[test]
fn stress_many_workers_many_rounds() {
    let wg = WaitGroup::new();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let start = Arc::new(Barrier::new(4));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (guard, done, start) = (wg.enter(), done.clone(), start.clone());
                threads::spawn("stress", move || {
                    start.wait();
                    done.fetch_add(1, Ordering::SeqCst);
                    drop(guard);
                })
                .unwrap()
            })
            .collect();
        assert!(wg.wait_timeout(BOUND));
        assert_eq!(done.load(Ordering::SeqCst) % 4, 0);
        for w in workers {
            w.join().unwrap();
        }
    }
    assert_eq!(done.load(Ordering::SeqCst), 200);
    no_leaks();
}
