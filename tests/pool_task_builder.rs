//! One submit carrying options (issue 14 item 5): `pool.task(f).name(..).context(&ctx)
//! .timeout(d).submit()`. Latches, never sleeps; conservation after every scenario; the leak
//! check at the end of every test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::pool::{Pool, SubmitError};
use homebound::task::JoinError;
use homebound::{Cause, Context};

mod common;
use common::{BOUND, leak_check, occupy};

#[test]
fn a_named_task_under_a_request_is_reported_by_its_name() {
    let pool = Pool::builder().name("server").workers(1).build().unwrap();
    let request = Context::new();
    let (started_tx, started) = bounded(1);
    let h = pool
        .task(move |ctx| {
            started_tx.send(()).unwrap();
            ctx.wait();
        })
        .name("conn-17")
        .context(&request)
        .timeout(Duration::from_secs(3600))
        .submit()
        .unwrap();
    started.recv().unwrap();
    let report = pool.shutdown_timeout(Duration::from_millis(10));
    assert_eq!(report.stragglers()[0].task.as_deref(), Some("conn-17"));
    request.cancel();
    h.join().unwrap();
    assert!(pool.shutdown().is_complete());
    assert!(pool.metrics().is_conserved());
    leak_check();
}

#[test]
fn the_tasks_context_is_a_child_of_the_callers() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let request = Context::new();
    let (started_tx, started) = bounded(1);
    let h = pool
        .task(move |ctx| {
            started_tx.send(()).unwrap();
            ctx.wait();
            ctx.cause()
        })
        .context(&request)
        .submit()
        .unwrap();
    started.recv().unwrap();
    request.cancel_with("client went away");
    let cause = h.join().unwrap().unwrap();
    assert_eq!(cause.to_string(), "client went away");
    // Cancelling the task's context never cancels the caller's.
    let parent = Context::new();
    pool.task(|ctx| ctx.cancel())
        .context(&parent)
        .submit()
        .unwrap()
        .join()
        .unwrap();
    assert!(!parent.is_cancelled());
    assert!(pool.metrics().is_conserved());
    pool.shutdown();
    leak_check();
}

#[test]
fn a_queued_task_whose_request_is_cancelled_never_starts() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, busy) = occupy(&pool);
    let ran = Arc::new(AtomicUsize::new(0));
    let request = Context::new();
    let h = {
        let ran = Arc::clone(&ran);
        pool.task(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .context(&request)
        .submit()
        .unwrap()
    };
    request.cancel();
    drop(release);
    busy.join().unwrap();
    assert!(matches!(h.join(), Err(JoinError::NotStarted(_))));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    pool.wait_idle().unwrap();
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!((m.completed, m.cancelled_before_start), (1, 1));
    pool.shutdown();
    leak_check();
}

#[test]
fn waiting_for_room_stops_on_cancel_or_timeout_and_hands_the_task_back() {
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let (release, busy) = occupy(&pool);
    let queued = pool.try_submit(|_| 0).unwrap();
    // Full: a cancelled request gives up at once, before any wait.
    let gone = Context::new();
    gone.cancel();
    match pool.task(|_| 1).context(&gone).submit() {
        Err(SubmitError::Cancelled(f)) => assert_eq!(f(&Context::new()), 1),
        other => panic!("unexpected {other:?}"),
    }
    // Cancelled while it waits.
    let request = Context::new();
    let waiter = {
        let (pool, request) = (Arc::clone(&pool), request.clone());
        std::thread::spawn(move || pool.task(|_| 2).context(&request).submit().map(|_| ()))
    };
    let canceller = {
        let request = request.clone();
        std::thread::spawn(move || request.cancel())
    };
    assert!(waiter.join().unwrap().unwrap_err().is_cancelled());
    canceller.join().unwrap();
    // The timeout bounds the wait too.
    let err = pool
        .task(|_| 3)
        .timeout(Duration::from_millis(5))
        .submit()
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(pool.task(|_| 4).try_submit().unwrap_err().is_full());
    drop(release);
    busy.join().unwrap();
    assert_eq!(queued.join().unwrap(), 0);
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(
        (m.rejected_cancelled, m.rejected_timeout, m.rejected_full),
        (2, 1, 1),
        "{m:?}"
    );
    drop(pool);
    leak_check();
}

#[test]
fn the_timeout_is_the_tasks_deadline_queued_or_running() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (release, busy) = occupy(&pool);
    // Expires while queued: never starts.
    let late = pool
        .task(|_| ())
        .timeout(Duration::from_millis(1))
        .submit()
        .unwrap();
    let expired = Context::new().with_timeout(Duration::from_millis(1));
    expired.wait();
    drop(release);
    busy.join().unwrap();
    assert!(matches!(late.join(), Err(JoinError::NotStarted(_))));
    // Expires while running: its context says why.
    let h = pool
        .task(|ctx| {
            ctx.wait();
            ctx.cause().unwrap()
        })
        .timeout(Duration::from_millis(5))
        .submit()
        .unwrap();
    assert!(h.join().unwrap().is_deadline_exceeded());
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.cancelled_before_start, 1);
    pool.shutdown();
    leak_check();
}

#[test]
fn handle_cancel_and_shutdown_now_still_reach_a_task_under_a_request() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let request = Context::new();
    let (started_tx, started) = bounded(2);
    let spawn = |started_tx: crossbeam_channel::Sender<()>| {
        pool.task(move |ctx| {
            started_tx.send(()).unwrap();
            ctx.wait();
            ctx.cause()
        })
        .context(&request)
        .submit()
        .unwrap()
    };
    let by_handle = spawn(started_tx.clone());
    let by_shutdown = spawn(started_tx);
    started.recv_timeout(BOUND).unwrap();
    started.recv_timeout(BOUND).unwrap();
    assert!(
        !by_handle.cancel(),
        "running: cancelled through its context"
    );
    assert_eq!(by_handle.join().unwrap(), Some(Cause::Cancelled));
    assert!(pool.shutdown_now().is_empty());
    assert!(by_shutdown.join().unwrap().is_some());
    assert!(
        !request.is_cancelled(),
        "the pool never cancels the caller's context"
    );
    let m = pool.shutdown().metrics().clone();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.completed, 2);
    leak_check();
}
