//! Pool: dynamic workers (P10, P11; ants TestPoolTuneScaleUp, TCK testAllowCoreThreadTimeOut).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::pool::Pool;

mod common;
use common::{BOUND, leak_check, occupy};

#[test]
fn grows_to_max_when_tasks_wait_and_no_worker_is_idle() {
    let pool = Pool::builder()
        .workers(1)
        .max_workers(4)
        .keep_alive(BOUND)
        .build()
        .unwrap();
    let (open, gate) = bounded::<()>(0);
    let (started_tx, started) = unbounded();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (gate, started_tx) = (gate.clone(), started_tx.clone());
            pool.submit(move |_| {
                started_tx.send(()).unwrap();
                let _ = gate.recv();
            })
            .unwrap()
        })
        .collect();
    // Four tasks run at once only if the pool grew to four workers.
    for _ in 0..4 {
        started.recv_timeout(BOUND).expect("the pool did not grow");
    }
    let m = pool.metrics();
    assert_eq!((m.workers_live, m.workers_peak), (4, 4), "{m:?}");
    assert_eq!(m.running, 4);
    assert_eq!(m.queued, 2);
    assert!(m.is_conserved());
    drop(open);
    for h in handles {
        h.join().unwrap();
    }
    let report = pool.shutdown();
    assert_eq!(report.joined(), 4);
    assert_eq!(report.metrics().workers_spawned, 4);
    drop(pool);
    leak_check();
}

#[test]
fn extra_workers_retire_after_keep_alive_and_the_core_stays() {
    let (exit_tx, exits) = unbounded();
    let pool = Pool::builder()
        .workers(1)
        .max_workers(3)
        .keep_alive(Duration::from_millis(20))
        .on_thread_exit(move |name| exit_tx.send(name.to_string()).unwrap())
        .build()
        .unwrap();
    let (open, gate) = bounded::<()>(0);
    let (started_tx, started) = unbounded();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (gate, started_tx) = (gate.clone(), started_tx.clone());
            pool.submit(move |_| {
                started_tx.send(()).unwrap();
                let _ = gate.recv();
            })
            .unwrap()
        })
        .collect();
    for _ in 0..3 {
        started.recv_timeout(BOUND).unwrap();
    }
    drop(open);
    for h in handles {
        h.join().unwrap();
    }
    // Two extras retire on their own (no scavenger thread), the core worker stays.
    for _ in 0..2 {
        exits
            .recv_timeout(BOUND)
            .expect("an extra worker did not retire");
    }
    let m = pool.metrics();
    assert_eq!(
        (m.workers_live, m.workers_retired, m.workers_peak),
        (1, 2, 3)
    );
    // The pool still works (it may grow again: a submit that finds no parked worker grows).
    assert_eq!(pool.submit(|_| 1).unwrap().join().unwrap(), 1);
    let report = pool.shutdown();
    assert!(report.is_complete());
    // Every worker ran its exit hook exactly once: the two extras before, the rest now.
    let spawned = report.metrics().workers_spawned as usize;
    assert!(spawned >= 3);
    assert_eq!(exits.try_iter().count(), spawned - 2);
    drop(pool);
    leak_check();
}

#[test]
fn a_failed_spawn_while_growing_keeps_the_pool_usable() {
    // P11: the submit succeeds, the failure is counted, the existing worker runs everything.
    let pool = Pool::builder()
        .workers(1)
        .max_workers(3)
        .fail_spawns_after(1)
        .build()
        .unwrap();
    let (open, gate) = bounded::<()>(0);
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (gate, ran) = (gate.clone(), ran.clone());
            pool.submit(move |_| {
                let _ = gate.recv();
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    let m = pool.metrics();
    assert!(m.spawn_failures >= 1, "{m:?}");
    assert_eq!(m.workers_live, 1);
    drop(open);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    let report = pool.shutdown();
    assert_eq!(report.metrics().workers_spawned, 1);
    drop(pool);
    leak_check();
}

#[test]
fn a_rendezvous_pool_with_spare_capacity_grows_for_blocked_submitters() {
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .max_workers(2)
            .queue_capacity(0)
            .build()
            .unwrap(),
    );
    let (open, busy) = occupy(&pool);
    // The only worker is busy: this submit starts a second worker instead of waiting.
    let h = pool.submit(|_| "second worker").unwrap();
    assert_eq!(h.join().unwrap(), "second worker");
    assert_eq!(pool.metrics().workers_peak, 2);
    drop(open);
    busy.join().unwrap();
    drop(pool);
    leak_check();
}

#[test]
fn growth_stops_at_shutdown() {
    let pool = Pool::builder().workers(1).max_workers(8).build().unwrap();
    pool.shutdown();
    assert!(pool.submit(|_| ()).is_err());
    let m = pool.metrics();
    assert_eq!((m.workers_live, m.workers_spawned), (0, 1));
    drop(pool);
    leak_check();
}
