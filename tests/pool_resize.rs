//! `Pool::resize` (issue 14 item 1), in the style of the JSR-166 TCK's `setCorePoolSize` /
//! `setMaximumPoolSize` tests: growing wakes blocked submitters, shrinking retires idle workers
//! first and never interrupts a running task; bad input is a clear error that changes nothing.
//! Latches (the thread exit hook, task start channels), never sleeps; the conservation identity
//! after every scenario; the leak check at the end of every test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded, unbounded};
use homebound::pool::{Builder, MAX_WORKERS, Pool};

mod common;
use common::{BOUND, conserved, gate, leak_check, occupy};

fn with_exits(b: Builder) -> (Builder, Receiver<String>) {
    let (tx, rx) = unbounded();
    (
        b.on_thread_exit(move |name| {
            let _ = tx.send(name.to_owned());
        }),
        rx,
    )
}

/// Waits (yielding, up to `BOUND`) until `cond` holds: for states only the metrics show.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

#[test]
fn growing_wakes_a_blocked_submitter_whose_task_then_runs_on_a_new_worker() {
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let (release, busy) = occupy(&pool);
    let queued = pool.try_submit(|_| "queued").unwrap();
    let (ran_tx, ran) = bounded(1);
    let blocked = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            pool.submit(move |_| ran_tx.send(()).unwrap())
                .unwrap()
                .join()
                .unwrap()
        })
    };
    // The submitter is counted (as queued) while it waits for room.
    wait_until("the submitter waits", || pool.metrics().queued == 2);
    pool.resize(1, 2).unwrap();
    // It got through and its task ran on the new worker while the first is still held.
    ran.recv_timeout(BOUND).unwrap();
    blocked.join().unwrap();
    assert!(!busy.is_finished());
    drop(release);
    busy.join().unwrap();
    assert_eq!(queued.join().unwrap(), "queued");
    let m = conserved(&pool);
    assert_eq!((m.workers_spawned, m.completed), (2, 3));
    drop(pool);
    leak_check();
}

#[test]
fn shrinking_retires_idle_workers_at_once_and_busy_ones_only_after_their_task() {
    let (b, exits) = with_exits(Pool::builder().workers(4));
    let pool = b.build().unwrap();
    let (release, gate_rx) = gate();
    let (started_tx, started) = bounded(2);
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (gate_rx, started_tx) = (gate_rx.clone(), started_tx.clone());
            pool.submit(move |ctx| {
                started_tx.send(()).unwrap();
                let _ = gate_rx.recv();
                ctx.is_cancelled()
            })
            .unwrap()
        })
        .collect();
    started.recv().unwrap();
    started.recv().unwrap();
    pool.resize(1, 1).unwrap();
    assert_eq!((pool.workers(), pool.max_workers()), (1, 1));
    // The two idle workers leave now; the busy ones keep running.
    exits.recv_timeout(BOUND).unwrap();
    exits.recv_timeout(BOUND).unwrap();
    assert!(busy.iter().all(|h| !h.is_finished()));
    let m = conserved(&pool);
    assert_eq!((m.workers_live, m.running), (2, 2), "{m:?}");
    drop(release);
    for h in busy {
        assert!(
            !h.join().unwrap(),
            "a running task is never cancelled by a shrink"
        );
    }
    // One of the two now leaves as it finds nothing to do.
    exits.recv_timeout(BOUND).unwrap();
    wait_until("one worker is left", || pool.metrics().workers_live == 1);
    assert_eq!(pool.submit(|_| 5).unwrap().join().unwrap(), 5);
    let m = conserved(&pool);
    assert_eq!((m.completed, m.workers_live), (3, 1));
    pool.shutdown();
    leak_check();
}

#[test]
fn growing_the_core_starts_idle_workers_and_shrinking_it_makes_extras_retire() {
    let (b, exits) = with_exits(
        Pool::builder()
            .workers(1)
            .keep_alive(Duration::from_millis(1)),
    );
    let pool = b.build().unwrap();
    pool.resize(3, 3).unwrap();
    let m = pool.metrics();
    assert_eq!((m.workers_live, m.workers_idle), (3, 3), "{m:?}");
    // Core back to 1, maximum kept: two become extras and retire after keep_alive.
    pool.resize(1, 3).unwrap();
    exits.recv_timeout(BOUND).unwrap();
    exits.recv_timeout(BOUND).unwrap();
    wait_until("one worker is left", || pool.metrics().workers_live == 1);
    // To zero core workers: the last one retires too, and the pool still runs tasks.
    pool.resize(0, 3).unwrap();
    exits.recv_timeout(BOUND).unwrap();
    assert_eq!(pool.submit(|_| 1).unwrap().join().unwrap(), 1);
    let m = conserved(&pool);
    assert!(m.workers_retired >= 3, "{m:?}");
    pool.shutdown();
    leak_check();
}

#[test]
fn bad_resizes_are_errors_that_change_nothing() {
    let pool = Pool::builder().workers(2).max_workers(3).build().unwrap();
    for (workers, max, says) in [
        (0, 0, "resize(0, 0)"),
        (3, 2, "max_workers (2) is less than workers (3)"),
        (1, MAX_WORKERS + 1, "more than the limit"),
    ] {
        let err = pool.resize(workers, max).unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!((pool.workers(), pool.max_workers()), (2, 3));
    }
    pool.close();
    let err = pool.resize(4, 4).unwrap_err();
    assert!(err.to_string().contains("the pool is closed"), "{err}");
    assert_eq!((pool.workers(), pool.max_workers()), (2, 3));
    assert!(pool.await_termination(BOUND));
    let err = pool.resize(1, 1).unwrap_err();
    assert!(err.to_string().contains("the pool is closed"), "{err}");
    assert!(pool.metrics().is_conserved());
    leak_check();
}

#[test]
fn resizing_while_tasks_flow_loses_nothing_and_keeps_metrics_conserved() {
    let pool = Arc::new(
        Pool::builder()
            .workers(2)
            .max_workers(2)
            .queue_capacity(8)
            .keep_alive(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let total = common::stress_reps(3000);
    let submitter = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            (0..total)
                .map(|i| pool.submit(move |_| i).unwrap())
                .collect::<Vec<_>>()
        })
    };
    let sizes = [(1, 1), (0, 4), (3, 3), (1, 2), (0, 1), (2, 6), (4, 4)];
    let mut i = 0;
    while !submitter.is_finished() {
        let (w, m) = sizes[i % sizes.len()];
        pool.resize(w, m).unwrap();
        let snapshot = pool.metrics();
        assert!(snapshot.is_conserved(), "{snapshot:?}");
        i += 1;
    }
    let handles = submitter.join().unwrap();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, total * (total - 1) / 2);
    pool.wait_idle().unwrap();
    let m = conserved(&pool);
    assert_eq!((m.completed, m.queued, m.running), (total, 0, 0));
    drop(pool);
    leak_check();
}
