//! Pool: nested use never deadlocks silently (issue 12 item 7, reliability P13).
//!
//! A task that submits to its own pool and joins the handle is run by the joining worker
//! itself if no other worker takes it first: while a pool's worker waits in `join`, it runs
//! tasks from its pool's queue. Each scenario runs on a watchdog thread, so a deadlock fails the
//! test instead of hanging it.

use crossbeam_channel::bounded;
use homebound::pool::Pool;
use std::sync::Arc;

mod common;
use common::{BOUND, leak_check};

/// Runs `f` on its own thread and fails the test if it does not return within `BOUND`.
fn within_bound<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BOUND)
        .unwrap_or_else(|_| panic!("{what}: deadlocked (no result within {BOUND:?})"))
}

fn one_worker() -> Arc<Pool> {
    Arc::new(
        Pool::builder()
            .name("nested")
            .workers(1)
            .queue_capacity(8)
            .build()
            .unwrap(),
    )
}

#[test]
fn a_task_joining_a_task_it_queued_on_its_own_one_worker_pool_completes() {
    let pool = one_worker();
    let inner = pool.clone();
    let value = within_bound("submit + join on the own pool", move || {
        let outer = pool.submit(move |_| {
            let handle = inner.submit(|_| 6 * 7).unwrap();
            handle.join().unwrap()
        });
        outer.unwrap().join().unwrap()
    });
    assert_eq!(value, 42);
    leak_check();
}

#[test]
fn nested_joins_and_a_timed_join_on_a_one_worker_pool_complete() {
    let pool = one_worker();
    let (p1, p2) = (pool.clone(), pool.clone());
    let value = within_bound("two levels of submit + join", move || {
        let outer = pool.submit(move |_| {
            let first = p1
                .submit(move |_| {
                    let leaf = p2.submit(|_| 1).unwrap();
                    leaf.join().unwrap() + 1
                })
                .unwrap();
            let queued_behind = p1.submit(|_| 10).unwrap();
            let timed = queued_behind.join_timeout(BOUND).unwrap();
            first.join().unwrap() + timed
        });
        outer.unwrap().join().unwrap()
    });
    assert_eq!(value, 12);
    leak_check();
}

#[test]
fn two_one_worker_pools_whose_tasks_wait_on_each_other_complete() {
    // A's task joins a task on B, which joins a task it queued on A: A's only worker waits in
    // `join`, and runs its own pool's queued task meanwhile.
    let (a, b) = (one_worker(), one_worker());
    let (a2, b2) = (a.clone(), b.clone());
    let value = within_bound("A -> B -> A", move || {
        let outer = a.submit(move |_| {
            let on_b = b2
                .submit(move |_| a2.submit(|_| 5).unwrap().join().unwrap() * 2)
                .unwrap();
            on_b.join().unwrap() + 1
        });
        let value = outer.unwrap().join().unwrap();
        drop(b);
        value
    });
    assert_eq!(value, 11);
    leak_check();
}

#[test]
fn a_helped_task_counts_in_the_metrics_like_any_other() {
    let pool = one_worker();
    let inner = pool.clone();
    let m = within_bound("helped task", move || {
        let ok = pool
            .submit(move |_| inner.submit(|_| ()).unwrap().join().is_ok())
            .unwrap()
            .join()
            .unwrap();
        assert!(ok);
        pool.shutdown().metrics().clone()
    });
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(
        (m.accepted, m.completed, m.running, m.queued),
        (2, 2, 0, 0),
        "{m:?}"
    );
    leak_check();
}
