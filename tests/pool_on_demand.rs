//! Workers on demand (issue 14 item 2): `workers(0)` (no thread while idle, every worker
//! retires), lazy core workers (`prestart(false)`) and `Pool::prestart`, in the style of the
//! JSR-166 TCK's `allowCoreThreadTimeOut` / `prestartAllCoreThreads` tests: latches (the thread
//! exit hook), never sleeps; conservation after every scenario; the leak check at the end.

use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use homebound::pool::{Builder, Pool};

mod common;
use common::{BOUND, conserved, gate, leak_check};

/// A builder whose worker exits arrive on the returned channel.
fn with_exits(b: Builder) -> (Builder, Receiver<String>) {
    let (tx, rx) = unbounded();
    (
        b.on_thread_exit(move |name| {
            let _ = tx.send(name.to_owned());
        }),
        rx,
    )
}

#[test]
fn a_pool_without_core_workers_starts_on_demand_and_retires_to_zero() {
    let (b, exits) = with_exits(
        Pool::builder()
            .name("cached")
            .workers(0)
            .max_workers(3)
            .keep_alive(Duration::from_millis(1)),
    );
    let pool = b.build().unwrap();
    assert_eq!(pool.metrics().workers_live, 0);
    for round in 0..3u64 {
        let (release, gate_rx) = gate();
        let handles: Vec<_> = (0..6u64)
            .map(|i| {
                let gate_rx = gate_rx.clone();
                pool.submit(move |_| {
                    let _ = gate_rx.recv();
                    i
                })
                .unwrap()
            })
            .collect();
        let m = pool.metrics();
        assert_eq!(m.workers_live, 3, "grew to the maximum: {m:?}");
        drop(release);
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 15);
        // Every worker retires: no thread while idle.
        for _ in 0..3 {
            exits.recv_timeout(BOUND).unwrap();
        }
        let m = conserved(&pool);
        assert_eq!(
            (m.workers_live, m.workers_retired),
            (0, 3 * (round + 1)),
            "{m:?}"
        );
    }
    assert!(pool.shutdown().is_complete());
    leak_check();
}

#[test]
fn no_task_is_stranded_when_the_last_worker_retires_as_it_is_queued() {
    // keep_alive zero: the only worker retires the moment the queue is empty, racing every
    // submit. A stranded task would never end: join_timeout catches it.
    let pool = Pool::builder()
        .workers(0)
        .max_workers(1)
        .queue_capacity(4)
        .keep_alive(Duration::ZERO)
        .build()
        .unwrap();
    let rounds = common::stress_reps(2000);
    for i in 0..rounds {
        // Sweep the submit across the worker's retirement (it parks, spins, then retires).
        for _ in 0..(i * 7) % 4096 {
            std::hint::spin_loop();
        }
        let h = pool.submit(move |_| i).unwrap();
        assert_eq!(h.join_timeout(BOUND).unwrap(), i, "task {i} stranded");
    }
    pool.wait_idle_timeout(BOUND).unwrap();
    let m = conserved(&pool);
    assert_eq!(m.completed, rounds);
    pool.shutdown();
    leak_check();
}

#[test]
fn lazy_core_workers_start_with_tasks_and_then_stay() {
    let (b, exits) = with_exits(
        Pool::builder()
            .workers(2)
            .prestart(false)
            .keep_alive(Duration::ZERO),
    );
    let pool = b.build().unwrap();
    assert_eq!(pool.metrics().workers_live, 0);
    let (release, gate_rx) = gate();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let gate_rx = gate_rx.clone();
            pool.submit(move |_| {
                let _ = gate_rx.recv();
            })
            .unwrap()
        })
        .collect();
    assert_eq!(pool.metrics().workers_live, 2);
    drop(release);
    for h in handles {
        h.join().unwrap();
    }
    pool.wait_idle().unwrap();
    // Core workers never retire, whatever the keep-alive.
    assert!(exits.try_recv().is_err());
    assert_eq!(pool.prestart().unwrap(), 0, "both are running");
    let m = conserved(&pool);
    assert_eq!((m.workers_live, m.workers_retired), (2, 0));
    pool.shutdown();
    assert_eq!(exits.try_iter().count(), 2);
    leak_check();
}

#[test]
fn prestart_starts_the_missing_core_workers_idle() {
    let pool = Pool::builder()
        .workers(3)
        .max_workers(5)
        .prestart(false)
        .build()
        .unwrap();
    assert_eq!(pool.submit(|_| 1).unwrap().join().unwrap(), 1);
    assert_eq!(pool.metrics().workers_live, 1);
    assert_eq!(pool.prestart().unwrap(), 2);
    let m = pool.metrics();
    assert_eq!((m.workers_live, m.workers_spawned), (3, 3), "{m:?}");
    // A pool without core workers has nothing to prestart.
    let cached = Pool::builder().workers(0).max_workers(2).build().unwrap();
    assert_eq!(cached.prestart().unwrap(), 0);
    assert_eq!(cached.metrics().workers_live, 0);
    for p in [&pool, &cached] {
        assert!(p.shutdown().is_complete());
        assert!(p.metrics().is_conserved());
    }
    leak_check();
}

#[test]
fn zero_workers_needs_a_maximum() {
    for b in [
        Pool::builder().workers(0),
        Pool::builder().workers(0).max_workers(0),
    ] {
        let err = b.build().unwrap_err();
        assert!(err.is_config());
        assert!(
            err.to_string()
                .contains("workers and max_workers are both 0"),
            "{err}"
        );
    }
    leak_check();
}

#[test]
fn an_idle_pool_without_workers_shuts_down_and_hands_back_nothing() {
    let pool = Pool::builder().workers(0).max_workers(2).build().unwrap();
    pool.wait_idle().unwrap();
    assert!(pool.shutdown_now().is_empty());
    let report = pool.shutdown();
    assert!(report.is_complete());
    assert_eq!(report.joined(), 0);
    assert!(pool.is_terminated());
    assert!(pool.submit(|_| ()).unwrap_err().is_closed());
    assert!(pool.metrics().is_conserved());
    leak_check();
}
