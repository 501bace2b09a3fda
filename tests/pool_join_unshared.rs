//! Issue 13: `join` takes the result of a task whose worker has let go of it without the slot's
//! lock or a wait, and a worker runs a task whose handle was dropped without the lock. These
//! tests hold both shortcuts to the slot's promises: every result reaches its reader exactly
//! once (value, panic or `NotStarted`), the pool never drops a result someone joins, a result
//! nobody joins is dropped exactly once, and a task cancelled through its handle never runs,
//! whether the handle is then joined or dropped. Latches, never sleeps; the leak check ends
//! every test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use homebound::pool::{JoinTimeoutError, Pool};
use homebound::task::JoinError;

mod common;
use common::{BOUND, conserved, leak_check, occupy};

/// A result that counts its drops.
struct Counted {
    id: usize,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn results_joined_after_the_workers_let_go_come_back_once_and_only_their_reader_drops_them() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..50)
        .map(|id| {
            let drops = Arc::clone(&drops);
            pool.submit(move |_| {
                if id == 7 {
                    panic!("task {id} failed");
                }
                Counted { id, drops }
            })
            .unwrap()
        })
        .collect();
    // Every worker has exited: no runner holds a slot, so each join below is the last holder.
    let report = pool.shutdown();
    assert!(report.is_complete());
    let mut values = Vec::new();
    for (id, handle) in handles.into_iter().enumerate() {
        assert!(handle.is_finished());
        if id == 7 {
            match handle.join() {
                Err(JoinError::Panicked(p)) => assert_eq!(p.message(), "task 7 failed"),
                other => panic!("task 7: {:?}", other.map(|c| c.id)),
            }
        } else if id % 2 == 0 {
            values.push(handle.join().unwrap());
        } else {
            let deadline = Instant::now() + BOUND;
            values.push(handle.join_deadline(deadline).ok().unwrap());
        }
    }
    // The pool dropped none of the results it handed over.
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let ids: Vec<usize> = values.iter().map(|c| c.id).collect();
    assert_eq!(ids, (0..50).filter(|&i| i != 7).collect::<Vec<_>>());
    drop(values);
    assert_eq!(drops.load(Ordering::SeqCst), 49);
    let m = report.metrics();
    assert_eq!((m.completed, m.panicked), (49, 1));
    assert!(m.is_conserved());
    drop(pool);
    leak_check();
}

#[test]
fn joins_racing_the_workers_end_each_get_their_value_once_200_times() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut expected_drops = 0;
    for round in 0..200 {
        let handles: Vec<_> = (0..8)
            .map(|id| {
                let drops = Arc::clone(&drops);
                pool.submit(move |_| Counted { id, drops }).unwrap()
            })
            .collect();
        // Joined at once: a join meets its task queued, running, ended but still held by its
        // worker, or let go, depending on the timing; every way gives the value exactly once.
        // Every other round, half the handles are dropped instead: their results die once,
        // on the worker or with the handle, whichever lets go last.
        for (id, handle) in handles.into_iter().enumerate() {
            if round % 2 == 1 && id % 2 == 1 {
                drop(handle);
                continue;
            }
            let value = handle.join().unwrap();
            assert_eq!(value.id, id);
        }
        expected_drops += 8;
        pool.wait_idle().unwrap();
    }
    let report = pool.shutdown();
    // Each of the 1600 results was dropped exactly once: by its joiner, or, unjoined, by
    // whichever of the worker and the dropped handle let go last.
    assert_eq!(drops.load(Ordering::SeqCst), expected_drops);
    assert_eq!(report.metrics().completed, 1600);
    assert!(report.metrics().is_conserved());
    drop(pool);
    leak_check();
}

#[test]
fn a_task_cancelled_through_its_handle_never_runs_whether_the_handle_is_joined_or_dropped() {
    struct Capture(Arc<AtomicUsize>);
    impl Drop for Capture {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    let (open, busy) = occupy(&pool);
    let ran = Arc::new(AtomicBool::new(false));
    let closure_drops = Arc::new(AtomicUsize::new(0));
    let mut joined = Vec::new();
    for keep in [true, false] {
        let ran = Arc::clone(&ran);
        let capture = Capture(Arc::clone(&closure_drops));
        let handle = pool
            .submit(move |_| {
                let _capture = &capture;
                ran.store(true, Ordering::SeqCst);
            })
            .unwrap();
        assert!(handle.cancel());
        // The closure is dropped by the cancel, on this thread.
        assert_eq!(
            closure_drops.load(Ordering::SeqCst),
            if keep { 1 } else { 2 }
        );
        if keep {
            joined.push(handle);
        } else {
            // The worker meets a task nobody holds any more, which was cancelled first.
            drop(handle);
        }
    }
    drop(open);
    busy.join().unwrap();
    let report = pool.shutdown();
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(closure_drops.load(Ordering::SeqCst), 2);
    for handle in joined {
        assert!(matches!(handle.join(), Err(JoinError::NotStarted(_))));
    }
    let m = report.metrics();
    assert_eq!((m.completed, m.cancelled_before_start), (1, 2));
    assert!(m.is_conserved());
    drop(pool);
    leak_check();
}

#[test]
fn join_deadline_hands_back_a_running_tasks_handle_and_a_later_join_takes_its_value() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (open, gate) = common::gate();
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let handle = pool
        .submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
            41 + 1
        })
        .unwrap();
    started.recv_timeout(BOUND).unwrap();
    // The worker holds the slot: the deadline passes, and the handle comes back intact.
    let handle = match handle.join_timeout(Duration::from_millis(5)) {
        Err(JoinTimeoutError::TimedOut(handle)) => handle,
        other => panic!("the task is blocked: {other:?}"),
    };
    assert!(!handle.is_finished());
    drop(open);
    assert_eq!(handle.join_timeout(BOUND).unwrap(), 42);
    conserved(&pool);
    pool.shutdown();
    leak_check();
}

#[test]
fn an_awaited_handle_is_ready_at_once_when_its_task_ended_and_pending_until_then() {
    use std::future::{Future, IntoFuture};
    use std::pin::pin;
    use std::task::{Context as TaskContext, Poll, Waker};

    let pool = Pool::builder().workers(1).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let (open, busy) = occupy(&pool);
    let queued = {
        let drops = Arc::clone(&drops);
        pool.submit(move |_| Counted { id: 1, drops }).unwrap()
    };
    let mut cx = TaskContext::from_waker(Waker::noop());
    let mut fut = pin!(queued.into_future());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let ended = {
        let drops = Arc::clone(&drops);
        pool.submit(move |_| Counted { id: 2, drops }).unwrap()
    };
    drop(open);
    busy.join().unwrap();
    let report = pool.shutdown();
    // Both ended and their worker has exited: the second is ready at its first poll, and the
    // first, polled again, gets its value too. Each value comes back once.
    let mut fut2 = pin!(ended.into_future());
    match fut2.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(c)) => assert_eq!(c.id, 2),
        _ => panic!("an ended task's handle is ready at once"),
    }
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(c)) => assert_eq!(c.id, 1),
        _ => panic!("the task ended"),
    }
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert!(report.metrics().is_conserved());
    drop(pool);
    leak_check();
}
