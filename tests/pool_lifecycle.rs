//! Pool lifecycle (issue 14 item 4), in the style of the JSR-166 TCK's
//! `ThreadPoolExecutorTest` (`shutdown`, `awaitTermination`, `isTerminated`) and
//! rust-threadpool's `join` tests: latches, never sleeps; the conservation identity after every
//! scenario; the leak check at the end of every test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::pool::{IdleError, Pool};

mod common;
use common::{BOUND, conserved, gate, leak_check, occupy};

const SHORT: Duration = Duration::from_millis(20);

#[test]
fn close_returns_while_a_task_runs_and_the_queue_still_drains() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, busy) = occupy(&pool);
    let queued: Vec<_> = (0..3u64)
        .map(|i| pool.submit(move |_| i).unwrap())
        .collect();
    pool.close(); // the only worker is held: close must not wait for it
    assert!(pool.is_closed());
    assert!(!pool.is_terminated());
    assert!(pool.submit(|_| 9).unwrap_err().is_closed());
    assert!(!pool.await_termination(SHORT), "a task is still running");
    drop(release);
    assert!(pool.await_termination(BOUND));
    assert!(pool.is_terminated());
    busy.join().unwrap();
    let values: Vec<u64> = queued.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, [0, 1, 2]);
    let m = conserved(&pool);
    assert_eq!((m.completed, m.rejected_closed, m.workers_live), (4, 1, 0));
    drop(pool);
    leak_check();
}

#[test]
fn close_is_idempotent_and_shutdown_after_close_reports_complete() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let h = pool.submit(|_| 1).unwrap();
    pool.close();
    pool.close();
    assert!(pool.shutdown().is_complete());
    assert!(pool.is_terminated());
    assert!(pool.await_termination(Duration::ZERO));
    assert_eq!(h.join().unwrap(), 1);
    assert!(pool.metrics().is_conserved());
    drop(pool);
    leak_check();
}

#[test]
fn await_termination_on_an_open_pool_times_out_and_leaves_it_open() {
    let pool = Pool::builder().workers(1).build().unwrap();
    assert!(!pool.await_termination(SHORT));
    assert!(!pool.is_closed());
    assert!(!pool.is_terminated());
    assert_eq!(pool.submit(|_| 5).unwrap().join().unwrap(), 5);
    pool.shutdown();
    assert!(pool.is_terminated());
    assert!(pool.metrics().is_conserved());
    drop(pool);
    leak_check();
}

#[test]
fn await_termination_from_the_pools_own_task_returns_false_at_once() {
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let inner = Arc::clone(&pool);
    let from_task = pool
        .submit(move |_| {
            inner.close();
            // Would wait for its own thread: answers at once instead.
            inner.await_termination(Duration::from_secs(3600))
        })
        .unwrap();
    assert!(!from_task.join().unwrap());
    assert!(pool.await_termination(BOUND));
    assert!(pool.metrics().is_conserved());
    drop(pool);
    leak_check();
}

#[test]
fn await_termination_is_woken_by_a_close_from_another_thread() {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (waiting_tx, waiting) = bounded(1);
    let waiter = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            waiting_tx.send(()).unwrap();
            pool.await_termination(Duration::from_secs(3600))
        })
    };
    waiting.recv().unwrap();
    pool.close();
    assert!(waiter.join().unwrap());
    assert!(pool.is_terminated());
    drop(pool);
    leak_check();
}

#[test]
fn wait_idle_lets_waves_of_batches_share_one_long_lived_pool() {
    let pool = Pool::builder()
        .workers(3)
        .queue_capacity(8)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    for wave in 1..=20u64 {
        for _ in 0..25 {
            let done = Arc::clone(&done);
            pool.execute(move |_| {
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        pool.wait_idle().unwrap();
        // Everything submitted before the wait has ended, and the pool stays open.
        assert_eq!(done.load(Ordering::SeqCst), wave * 25);
        let m = conserved(&pool);
        assert_eq!(
            (m.queued, m.running, m.completed),
            (0, 0, wave * 25),
            "{m:?}"
        );
        assert!(!pool.is_closed());
    }
    pool.shutdown();
    leak_check();
}

#[test]
fn wait_idle_timeout_times_out_while_busy_and_succeeds_once_released() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, busy) = occupy(&pool);
    let queued = pool.submit(|_| 2).unwrap();
    assert_eq!(pool.wait_idle_timeout(SHORT), Err(IdleError::TimedOut));
    drop(release);
    assert_eq!(pool.wait_idle_timeout(BOUND), Ok(()));
    assert!(busy.is_finished() && queued.is_finished());
    busy.join().unwrap();
    assert_eq!(queued.join().unwrap(), 2);
    let m = conserved(&pool);
    assert_eq!((m.queued, m.running), (0, 0));
    pool.shutdown();
    leak_check();
}

#[test]
fn wait_idle_from_the_pools_own_task_is_an_error_not_a_deadlock() {
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let inner = Arc::clone(&pool);
    let answers = pool
        .submit(move |_| {
            (
                inner.wait_idle(),
                inner.wait_idle_timeout(Duration::from_secs(3600)),
            )
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(answers, (Err(IdleError::OwnTask), Err(IdleError::OwnTask)));
    assert_eq!(
        IdleError::TimedOut.to_string(),
        "timed out waiting for the pool to be idle"
    );
    pool.wait_idle().unwrap();
    assert!(pool.metrics().is_conserved());
    drop(pool);
    leak_check();
}

#[test]
fn wait_idle_returns_at_once_on_a_fresh_and_on_a_terminated_pool() {
    let pool = Pool::builder().workers(2).build().unwrap();
    pool.wait_idle().unwrap();
    pool.shutdown();
    pool.wait_idle().unwrap();
    assert_eq!(pool.wait_idle_timeout(Duration::ZERO), Ok(()));
    drop(pool);
    leak_check();
}

#[test]
fn many_waiters_are_all_released_when_the_pool_becomes_idle() {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (release, gate_rx) = gate();
    let held: Vec<_> = (0..4)
        .map(|_| {
            let gate_rx = gate_rx.clone();
            pool.submit(move |_| {
                let _ = gate_rx.recv();
            })
            .unwrap()
        })
        .collect();
    let (ready_tx, ready) = bounded(4);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let (pool, ready_tx) = (Arc::clone(&pool), ready_tx.clone());
            std::thread::spawn(move || {
                ready_tx.send(()).unwrap();
                pool.wait_idle()
            })
        })
        .collect();
    for _ in 0..4 {
        ready.recv().unwrap();
    }
    drop(release);
    for w in waiters {
        w.join().unwrap().unwrap();
    }
    for h in held {
        h.join().unwrap();
    }
    let m = conserved(&pool);
    assert_eq!((m.queued, m.running, m.completed), (0, 0, 4));
    drop(pool);
    leak_check();
}

#[test]
fn wait_idle_counts_a_task_cancelled_in_the_queue_as_ended() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, busy) = occupy(&pool);
    let queued = pool.submit(|_| ()).unwrap();
    assert!(queued.cancel());
    drop(release);
    pool.wait_idle_timeout(BOUND).unwrap();
    busy.join().unwrap();
    assert!(queued.join().unwrap_err().is_not_started());
    let m = conserved(&pool);
    assert_eq!((m.completed, m.cancelled_before_start), (1, 1));
    pool.shutdown();
    leak_check();
}

#[test]
fn wait_idle_is_not_stranded_by_refused_submits_racing_it() {
    // try_submit on a full pool is counted as queued while in flight, then refused: the refusal
    // must wake a waiter that saw it in flight.
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    for _ in 0..200 {
        let (release, busy) = occupy(&pool);
        let queued = pool.submit(|_| ()).unwrap();
        let refuser = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let _ = pool.try_submit(|_| ());
                }
            })
        };
        drop(release);
        refuser.join().unwrap();
        pool.wait_idle_timeout(BOUND).unwrap();
        busy.join().unwrap();
        queued.join().unwrap();
        let m = conserved(&pool);
        assert_eq!((m.queued, m.running), (0, 0), "{m:?}");
    }
    drop(pool);
    leak_check();
}

/// `wait_idle` answers with what it saw when it woke: a submit that comes right after the
/// pool went idle must not turn that into `TimedOut` (the counters are not under the waiter's
/// lock, so a second look at them could see the later submit).
#[test]
fn wait_idle_reports_the_idle_it_reached_even_when_submits_follow_at_once() {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let submitter = {
        let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                pool.execute(|_| ()).unwrap();
            }
        })
    };
    // Up to 2000 waits, for at most 2 s: the race is looked for, not timed.
    let until = std::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..2_000 {
        assert_eq!(pool.wait_idle(), Ok(()));
        if std::time::Instant::now() >= until {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    submitter.join().unwrap();
    pool.wait_idle().unwrap();
    conserved(&pool);
    drop(pool);
    leak_check();
}
