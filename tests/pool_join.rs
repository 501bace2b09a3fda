//! Joining a pool task beyond `join` (issue 14 item 6, issue 15 item 8): `join_ctx` stops
//! waiting when the caller's context is cancelled and hands the handle back; a `TaskHandle` is
//! awaitable with no async runtime, shown with a hand-rolled `block_on`. Latches, never sleeps;
//! conservation after every scenario; the leak check at the end of every test.

use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::pool::{JoinCtxError, Pool};
use homebound::task::JoinError;
use homebound::{Context, threads};

mod common;
use common::{BOUND, conserved, gate, leak_check, occupy};

use common::executor;

// ----- join_ctx -----

#[test]
fn join_ctx_returns_the_value_when_the_task_ends_first() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let ctx = Context::new();
    let h = pool.submit(|_| 7).unwrap();
    assert_eq!(h.join_ctx(&ctx).unwrap(), 7);
    // A task that already ended wins over a context cancelled since.
    let h = pool.submit(|_| 8).unwrap();
    pool.wait_idle().unwrap();
    ctx.cancel();
    assert_eq!(h.join_ctx(&ctx).unwrap(), 8);
    assert!(pool.metrics().is_conserved());
    pool.shutdown();
    leak_check();
}

#[test]
fn join_ctx_hands_the_handle_back_when_another_thread_cancels() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, gate_rx) = gate();
    let (started_tx, started) = bounded(1);
    let h = pool
        .submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate_rx.recv();
            "finished"
        })
        .unwrap();
    started.recv().unwrap();
    let request = Context::new();
    let canceller = {
        let request = request.clone();
        threads::spawn("canceller", move || request.cancel()).unwrap()
    };
    let back = match h.join_ctx(&request) {
        Err(JoinCtxError::Cancelled(h)) => h,
        other => panic!("unexpected {other:?}"),
    };
    canceller.join().unwrap();
    assert!(!back.is_finished(), "the task goes on");
    let m = conserved(&pool);
    assert_eq!(m.running, 1);
    drop(release);
    assert_eq!(back.join().unwrap(), "finished");
    pool.shutdown();
    leak_check();
}

#[test]
fn join_ctx_on_a_cancelled_or_expired_context_returns_at_once() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, busy) = occupy(&pool);
    let cancelled = Context::new();
    cancelled.cancel();
    let busy = match busy.join_ctx(&cancelled) {
        Err(e @ JoinCtxError::Cancelled(_)) => {
            assert!(e.is_cancelled());
            assert_eq!(
                e.to_string(),
                "the caller's context was cancelled while waiting for the task"
            );
            let JoinCtxError::Cancelled(h) = e else {
                unreachable!()
            };
            h
        }
        other => panic!("unexpected {other:?}"),
    };
    let expiring = Context::new().with_timeout(Duration::from_millis(5));
    let busy = match busy.join_ctx(&expiring) {
        Err(JoinCtxError::Cancelled(h)) => h,
        other => panic!("unexpected {other:?}"),
    };
    assert!(expiring.cause().unwrap().is_deadline_exceeded());
    drop(release);
    busy.join_ctx(&Context::new()).unwrap();
    assert!(pool.metrics().is_conserved());
    pool.shutdown();
    leak_check();
}

#[test]
fn join_ctx_reports_a_panic_and_a_task_that_never_started() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let ctx = Context::new();
    let p = pool.submit(|_| -> u8 { panic!("boom") }).unwrap();
    match p.join_ctx(&ctx) {
        Err(JoinCtxError::Task(JoinError::Panicked(panic))) => {
            assert_eq!(panic.message(), "boom")
        }
        other => panic!("unexpected {other:?}"),
    }
    let (release, busy) = occupy(&pool);
    let queued = pool.submit(|_| 1).unwrap();
    assert!(queued.cancel());
    assert!(matches!(
        queued.join_ctx(&ctx),
        Err(JoinCtxError::Task(JoinError::NotStarted(_)))
    ));
    drop(release);
    busy.join().unwrap();
    conserved(&pool);
    pool.shutdown();
    leak_check();
}

#[test]
fn join_ctx_on_a_worker_helps_its_own_pool_and_still_stops_on_cancel() {
    // One worker: the child task can only run if the joining worker helps.
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let inner = Arc::clone(&pool);
    let outer = pool
        .submit(move |ctx| {
            let child = inner.submit(|_| 21).unwrap();
            child.join_ctx(ctx).unwrap() * 2
        })
        .unwrap();
    assert_eq!(outer.join().unwrap(), 42);

    // A worker waiting on another pool's blocked task stops when its context is cancelled.
    let other = Pool::builder().workers(1).build().unwrap();
    let (release, blocked) = occupy(&other);
    let request = Context::new();
    let (waiting_tx, waiting) = bounded(1);
    let waiter = {
        let request = request.clone();
        pool.submit(move |_| {
            waiting_tx.send(()).unwrap();
            match blocked.join_ctx(&request) {
                Err(JoinCtxError::Cancelled(h)) => h,
                other => panic!("unexpected {other:?}"),
            }
        })
        .unwrap()
    };
    waiting.recv().unwrap();
    request.cancel();
    let blocked = waiter.join().unwrap();
    drop(release);
    blocked.join().unwrap();
    for p in [&*pool, &other] {
        conserved(p);
    }
    other.shutdown();
    drop(pool);
    leak_check();
}

#[test]
fn join_ctx_racing_the_tasks_end_gives_exactly_one_outcome() {
    let pool = Pool::builder().workers(2).build().unwrap();
    for _ in 0..common::stress_reps(300) {
        let ctx = Context::new();
        let h = pool.submit(|_| 5u32).unwrap();
        let canceller = {
            let ctx = ctx.clone();
            std::thread::spawn(move || ctx.cancel())
        };
        let value = match h.join_ctx(&ctx) {
            Ok(v) => v,
            Err(JoinCtxError::Cancelled(h)) => h.join().unwrap(),
            Err(e) => panic!("unexpected {e}"),
        };
        assert_eq!(value, 5);
        canceller.join().unwrap();
    }
    let report = pool.shutdown();
    let m = report.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.completed, common::stress_reps(300));
    leak_check();
}

// ----- TaskHandle as a Future -----

#[test]
fn an_awaited_handle_completes_when_a_worker_ends_the_task() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let (release, gate_rx) = gate();
    let (started_tx, started) = bounded(1);
    let h = pool
        .submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate_rx.recv();
            "from the worker"
        })
        .unwrap();
    started.recv().unwrap();
    let opener = std::thread::spawn(move || drop(release));
    let out = executor::block_on(async move { h.await });
    assert_eq!(out.unwrap(), "from the worker");
    opener.join().unwrap();
    assert!(pool.metrics().is_conserved());
    pool.shutdown();
    leak_check();
}

#[test]
fn many_awaited_handles_deliver_every_value() {
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(4)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..200u64)
        .map(|i| pool.submit(move |_| i).unwrap())
        .collect();
    let sum = executor::block_on(async move {
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 199 * 200 / 2);
    let m = pool.shutdown().metrics().clone();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.completed, 200);
    leak_check();
}

#[test]
fn a_finished_task_is_ready_at_the_first_poll_and_failures_come_through() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let done = pool.submit(|_| 3).unwrap();
    let panics = pool.submit(|_| -> u8 { panic!("async boom") }).unwrap();
    pool.wait_idle().unwrap();
    let mut cx = TaskContext::from_waker(Waker::noop());
    let mut fut = pin!(done.into_future());
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(3))));
    match executor::block_on(panics.into_future()) {
        Err(JoinError::Panicked(p)) => assert_eq!(p.message(), "async boom"),
        other => panic!("unexpected {other:?}"),
    }
    let (release, busy) = occupy(&pool);
    let queued = pool.submit(|_| 0).unwrap();
    queued.cancel();
    assert!(matches!(
        executor::block_on(queued.into_future()),
        Err(JoinError::NotStarted(_))
    ));
    drop(release);
    executor::block_on(busy.into_future()).unwrap();
    conserved(&pool);
    pool.shutdown();
    leak_check();
}

#[test]
fn only_the_latest_waker_is_woken_once() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, gate_rx) = gate();
    let h = pool.submit(move |_| gate_rx.recv().is_err()).unwrap();
    let (first, first_waker) = executor::waker();
    let (second, second_waker) = executor::waker();
    let mut fut = pin!(h.into_future());
    assert!(
        fut.as_mut()
            .poll(&mut TaskContext::from_waker(&first_waker))
            .is_pending()
    );
    assert!(
        fut.as_mut()
            .poll(&mut TaskContext::from_waker(&second_waker))
            .is_pending()
    );
    // Polling again with the same waker registers nothing new.
    assert!(
        fut.as_mut()
            .poll(&mut TaskContext::from_waker(&second_waker))
            .is_pending()
    );
    drop(release);
    pool.wait_idle().unwrap();
    assert_eq!(first.wakes.load(Ordering::SeqCst), 0);
    assert_eq!(second.wakes.load(Ordering::SeqCst), 1);
    assert!(matches!(
        fut.poll(&mut TaskContext::from_waker(&second_waker)),
        Poll::Ready(Ok(true))
    ));
    pool.shutdown();
    leak_check();
}

#[test]
fn dropping_a_pending_future_detaches_the_task() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, gate_rx) = gate();
    let (ran_tx, ran) = bounded(1);
    let h = pool
        .submit(move |_| {
            let _ = gate_rx.recv();
            ran_tx.send(()).unwrap();
        })
        .unwrap();
    {
        let mut fut = pin!(h.into_future());
        assert!(
            fut.as_mut()
                .poll(&mut TaskContext::from_waker(Waker::noop()))
                .is_pending()
        );
    }
    drop(release);
    ran.recv_timeout(BOUND).unwrap();
    pool.wait_idle().unwrap();
    let m = pool.shutdown().metrics().clone();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.completed, 1);
    leak_check();
}

#[test]
fn a_waker_that_panics_does_not_take_the_worker_down() {
    use std::task::Wake;
    struct Panics;
    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("a broken executor");
        }
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, gate_rx) = gate();
    let h = pool.submit(move |_| gate_rx.recv().is_err()).unwrap();
    let waker = Waker::from(Arc::new(Panics));
    let mut fut = pin!(h.into_future());
    assert!(
        fut.as_mut()
            .poll(&mut TaskContext::from_waker(&waker))
            .is_pending()
    );
    drop(release);
    pool.wait_idle().unwrap();
    assert!(matches!(
        fut.poll(&mut TaskContext::from_waker(Waker::noop())),
        Poll::Ready(Ok(true))
    ));
    // The worker carries on.
    assert_eq!(pool.submit(|_| 1).unwrap().join().unwrap(), 1);
    let m = conserved(&pool);
    assert_eq!(m.completed, 2);
    pool.shutdown();
    leak_check();
}
