//! Pool: bad input and faults (reliability.md §2.1, §2.3, §2.4, §2.6, §2.7; P9, P11, P12, P13).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};
use homebound::{
    Context, pool::MAX_QUEUE_CAPACITY, pool::MAX_WORKERS, pool::MIN_STACK_SIZE, pool::Pool,
    pool::SubmitError, task::JoinError, threads,
};

mod common;
use common::{BOUND, gate, leak_check, occupy_until_cancel as occupy};

#[test]
fn bad_configuration_is_rejected_with_a_clear_message() {
    let cases: Vec<(homebound::pool::Builder, &str)> = vec![
        (
            Pool::builder().workers(0),
            "workers and max_workers are both 0",
        ),
        (
            Pool::builder().workers(4).max_workers(2),
            "max_workers (2) is less than workers (4)",
        ),
        (Pool::builder().workers(usize::MAX), "more than the limit"),
        (
            Pool::builder().workers(1).max_workers(MAX_WORKERS + 1),
            "max_workers is",
        ),
        (
            Pool::builder().workers(1).queue_capacity(usize::MAX),
            "use unbounded()",
        ),
        (
            Pool::builder()
                .workers(1)
                .queue_capacity(MAX_QUEUE_CAPACITY + 1),
            "queue_capacity is",
        ),
        (
            Pool::builder().workers(1).stack_size(MIN_STACK_SIZE - 1),
            "less than the minimum",
        ),
        (Pool::builder().workers(1).name(""), "name is empty"),
    ];
    for (builder, expected) in cases {
        let err = builder.build().unwrap_err();
        assert!(err.is_config());
        let msg = err.to_string();
        assert!(msg.starts_with("invalid pool configuration: "), "{msg}");
        assert!(msg.contains(expected), "{msg} should contain {expected}");
    }
    assert!(Pool::new(0).is_err());
    leak_check();
}

#[test]
fn absurd_stack_size_fails_build_and_leaves_nothing_behind() {
    // P11 / rayon failed_thread_stack: start and exit hooks stay balanced.
    let starts = Arc::new(AtomicUsize::new(0));
    let exits = Arc::new(AtomicUsize::new(0));
    let (s, e) = (starts.clone(), exits.clone());
    let err = Pool::builder()
        .workers(2)
        .stack_size(isize::MAX as usize)
        .on_thread_start(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_exit(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap_err();
    assert!(!err.is_config());
    assert!(std::error::Error::source(&err).is_some());
    assert!(
        err.to_string()
            .starts_with("could not start the pool's workers")
    );
    assert_eq!(starts.load(Ordering::SeqCst), exits.load(Ordering::SeqCst));
    leak_check();
}

#[test]
fn spawn_failure_partway_through_build_joins_the_started_workers() {
    // TCK testFailingThreadFactory.
    let starts = Arc::new(AtomicUsize::new(0));
    let exits = Arc::new(AtomicUsize::new(0));
    let (s, e) = (starts.clone(), exits.clone());
    let err = Pool::builder()
        .workers(3)
        .fail_spawns_after(1)
        .on_thread_start(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_exit(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("injected spawn failure"));
    // build() joined the one worker that started before returning.
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert_eq!(exits.load(Ordering::SeqCst), 1);
    threads::assert_none_alive(Duration::ZERO);
}

#[test]
fn rendezvous_queue_hands_over_directly_and_never_deadlocks() {
    // Capacity 0 is allowed: a task is handed over only to a worker that takes it at once.
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(0)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..200).map(|i| pool.submit(move |_| i).unwrap()).collect();
    let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, (0..200).sum());
    let (open, busy) = occupy(&pool);
    assert!(pool.try_submit(|_| ()).unwrap_err().is_full());
    drop(open);
    busy.join().unwrap();
    let report = pool.shutdown();
    assert_eq!(report.metrics().queue_high_water, 0);
    drop(pool);
    leak_check();
}

#[test]
fn capacity_one_and_unbounded_queues_work() {
    let one = Pool::builder()
        .workers(2)
        .queue_capacity(1)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..500).map(|i| one.submit(move |_| i).unwrap()).collect();
    assert_eq!(
        handles.into_iter().map(|h| h.join().unwrap()).sum::<i32>(),
        124_750
    );
    assert!(one.shutdown().metrics().queue_high_water <= 1);
    drop(one);

    let unbounded = Pool::builder().workers(1).unbounded().build().unwrap();
    let (open, busy) = occupy(&unbounded);
    // The only worker is busy, yet try_submit never says Full.
    let handles: Vec<_> = (0..10_000)
        .map(|i| unbounded.try_submit(move |_| i).unwrap())
        .collect();
    assert_eq!(unbounded.metrics().queue_len, 10_000);
    drop(open);
    busy.join().unwrap();
    assert_eq!(
        handles.into_iter().map(|h| h.join().unwrap()).last(),
        Some(9_999)
    );
    drop(unbounded);
    leak_check();
}

#[test]
fn keep_alive_and_timeouts_at_the_extremes() {
    for keep_alive in [Duration::ZERO, Duration::MAX] {
        let pool = Pool::builder()
            .workers(1)
            .max_workers(2)
            .keep_alive(keep_alive)
            .build()
            .unwrap();
        let h = pool.submit_timeout(|_| 1, Duration::ZERO).unwrap();
        assert_eq!(h.join_timeout(BOUND).unwrap(), 1);
        assert!(pool.shutdown_timeout(Duration::MAX).is_complete());
        drop(pool);
    }
    leak_check();
}

#[test]
fn a_task_submitting_to_its_own_full_pool_gets_full_and_can_run_inline() {
    // P13: a worker never blocks on its own pool's full queue.
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let inner_pool = pool.clone();
    let outcome = pool
        .submit(move |ctx| {
            let queued = inner_pool.submit(|_| "queued").unwrap(); // takes the only slot
            let mut inline = Vec::new();
            for attempt in 0..3 {
                let task = move |_: &Context| attempt * 10;
                let err = match attempt {
                    0 => inner_pool.submit(task).unwrap_err(),
                    1 => inner_pool
                        .submit_timeout(task, Duration::from_secs(3600))
                        .unwrap_err(),
                    _ => inner_pool.submit_ctx(&Context::new(), task).unwrap_err(),
                };
                assert!(err.is_full(), "attempt {attempt}: {err}");
                inline.push(err.into_inner()(ctx));
            }
            (inline, queued)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(outcome.0, [0, 10, 20]);
    assert_eq!(outcome.1.join().unwrap(), "queued");
    drop(pool);
    leak_check();
}

/// Submits to the pool when dropped: a task whose `Drop` calls back into the pool.
struct SubmitOnDrop {
    pool: Arc<Pool>,
    results: Sender<&'static str>,
}

impl Drop for SubmitOnDrop {
    fn drop(&mut self) {
        let verdict = match self.pool.try_submit(|_| ()) {
            Ok(_) => "accepted",
            Err(SubmitError::Closed(_)) => "closed",
            Err(_) => "full",
        };
        self.results.send(verdict).unwrap();
    }
}

#[test]
fn a_tasks_drop_may_call_back_into_the_pool_during_shutdown() {
    // P12 / tokio PR #2082: no pool lock is held while a task is dropped.
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let (results_tx, results) = bounded(16);
    let (open, busy) = occupy(&pool);
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let guard = SubmitOnDrop {
                pool: pool.clone(),
                results: results_tx.clone(),
            };
            pool.submit(move |_| drop(guard)).unwrap()
        })
        .collect();
    // One queued task cancelled through its handle: dropped here, while the pool is open.
    assert!(queued[0].cancel());
    assert_eq!(results.recv().unwrap(), "accepted");
    // shutdown_now cancels the busy task's context: no need to open its gate.
    let pending = pool.shutdown_now();
    drop(open);
    // The two guarded tasks, and the one the cancelled guard's Drop submitted.
    assert_eq!(pending.len(), 3);
    // Dropping a returned task runs its Drop, which finds the pool closed.
    drop(pending);
    assert_eq!(results.recv().unwrap(), "closed");
    assert_eq!(results.recv().unwrap(), "closed");
    busy.join().unwrap();
    for h in queued {
        assert!(matches!(h.join(), Err(JoinError::NotStarted(_))));
    }

    // Graceful: the task runs during the drain and its captured guard drops on the worker.
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let (open, busy) = occupy(&pool);
    let guard = SubmitOnDrop {
        pool: pool.clone(),
        results: results_tx,
    };
    let h = pool.submit(move |_| drop(guard)).unwrap();
    let opener = std::thread::spawn(move || drop(open));
    let report = pool.shutdown();
    opener.join().unwrap();
    assert!(report.is_complete());
    assert_eq!(results.recv().unwrap(), "closed");
    h.join().unwrap();
    busy.join().unwrap();
    drop(pool);
    leak_check();
}

#[test]
fn dropping_the_pool_from_inside_its_own_task_never_self_joins() {
    // P9 / Conflux #939: the task holds the last Arc<Pool>.
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (go_tx, go) = bounded::<()>(0);
    let (done_tx, done) = bounded(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let last = pool.clone();
    let dropper = pool
        .submit(move |_| {
            go.recv().unwrap();
            drop(last); // the last reference: Pool::drop runs on this worker
            "dropped"
        })
        .unwrap();
    let later: Vec<_> = (0..10)
        .map(|_| {
            let (ran, done_tx) = (ran.clone(), done_tx.clone());
            pool.submit(move |_| {
                if ran.fetch_add(1, Ordering::SeqCst) == 9 {
                    done_tx.send(()).unwrap();
                }
            })
            .unwrap()
        })
        .collect();
    drop(pool);
    go_tx.send(()).unwrap();
    assert_eq!(dropper.join().unwrap(), "dropped");
    // Graceful: the queued tasks still ran.
    done.recv_timeout(BOUND).unwrap();
    for h in later {
        h.join().unwrap();
    }
    // Nobody joins the workers, but they exit on their own.
    leak_check();
}

#[test]
fn shutdown_from_inside_a_task_closes_without_waiting_for_itself() {
    let pool = Arc::new(Pool::builder().workers(1).build().unwrap());
    let inner = pool.clone();
    let report = pool
        .submit(move |_| inner.shutdown())
        .unwrap()
        .join()
        .unwrap();
    assert!(report.from_own_worker());
    assert!(!report.is_complete());
    assert!(pool.is_closed());
    let inner = pool.clone();
    let h = {
        // shutdown_now from inside: also must not hang (the pool is already closed here).
        let p = Pool::builder().workers(1).build().unwrap();
        let p = Arc::new(p);
        let q = p.clone();
        let h = p.submit(move |_| q.shutdown_now().len()).unwrap();
        drop(p);
        h
    };
    assert_eq!(h.join().unwrap(), 0);
    drop(inner);
    // The outer owner's shutdown joins the worker that could not join itself.
    assert!(pool.shutdown().is_complete());
    drop(pool);
    leak_check();
}

#[test]
fn panicking_hooks_and_handler_are_contained() {
    let pool = Pool::builder()
        .workers(2)
        .on_thread_start(|_| panic!("start hook"))
        .on_thread_exit(|_| panic!("exit hook"))
        .panic_handler(|_| panic!("handler"))
        .build()
        .unwrap();
    let h = pool.submit(|_| -> () { panic!("task") }).unwrap();
    assert!(matches!(h.join(), Err(JoinError::Panicked(p)) if p.message() == "task"));
    assert_eq!(pool.submit(|_| 3).unwrap().join().unwrap(), 3);
    let report = pool.shutdown();
    // 2 start hooks, 1 handler, 2 exit hooks.
    assert_eq!(report.metrics().hook_panics, 5);
    drop(pool);
    leak_check();
}

#[test]
fn a_detached_result_whose_drop_panics_does_not_kill_the_worker() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop of a detached result");
        }
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    let (open, gate) = gate();
    let h = pool
        .submit(move |_| {
            let _ = gate.recv();
            PanicOnDrop
        })
        .unwrap();
    drop(h); // detached: the worker drops the result
    drop(open);
    assert_eq!(pool.submit(|_| "alive").unwrap().join().unwrap(), "alive");
    let report = pool.shutdown();
    assert_eq!(report.metrics().hook_panics, 1);
    assert_eq!(report.metrics().completed, 2);
    drop(pool);
    leak_check();
}

#[test]
fn non_string_panic_payloads_are_reported() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let h = pool
        .submit(|_| -> () { std::panic::panic_any(42u32) })
        .unwrap();
    match h.join() {
        Err(JoinError::Panicked(p)) => assert_eq!(p.message(), "non-string panic payload"),
        other => panic!("{other:?}"),
    }
    drop(pool);
    leak_check();
}

#[test]
fn saturated_then_shutdown_or_shutdown_now_keeps_rejecting() {
    // TCK testSubmittedTasksRejectedWhenSaturatedOrShutdown.
    for now in [false, true] {
        let pool = Pool::builder()
            .workers(2)
            .queue_capacity(2)
            .build()
            .unwrap();
        let (open, gate) = gate();
        let (started_tx, started) = bounded(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..4 {
            let (gate, started_tx, ran) = (gate.clone(), started_tx.clone(), ran.clone());
            handles.push(
                pool.submit(move |ctx| {
                    if i < 2 {
                        started_tx.send(()).unwrap();
                        let _ = ctx.recv(&gate);
                    }
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap(),
            );
        }
        started.recv().unwrap();
        started.recv().unwrap();
        assert!(pool.try_submit(|_| ()).unwrap_err().is_full());
        let pending = if now {
            // Cancels the two running tasks' contexts, which releases them.
            pool.shutdown_now()
        } else {
            let opener = std::thread::spawn(move || drop(open));
            pool.shutdown();
            opener.join().unwrap();
            Vec::new()
        };
        assert!(pool.try_submit(|_| ()).unwrap_err().is_closed());
        assert!(pool.submit(|_| ()).unwrap_err().is_closed());
        assert_eq!(pending.len(), if now { 2 } else { 0 });
        drop(pending);
        drop(pool);
        assert_eq!(ran.load(Ordering::SeqCst), if now { 2 } else { 4 });
        let cancelled = handles
            .into_iter()
            .map(|h| h.join())
            .filter(|r| matches!(r, Err(JoinError::NotStarted(_))))
            .count();
        assert_eq!(cancelled, if now { 2 } else { 0 });
    }
    leak_check();
}

#[test]
fn a_forgotten_cancel_callback_never_fires_for_a_later_task() {
    // The pool reuses a worker's task context when nothing kept it; a callback left registered
    // with `forget()` must make it ineligible, or it would fire on another task's cancel.
    let pool = Pool::builder().workers(1).build().unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    pool.submit(move |ctx| {
        ctx.after_cancel(move || {
            f.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
    })
    .unwrap()
    .join()
    .unwrap();
    let (later, handle) = occupy(&pool);
    assert!(!handle.cancel(), "it was already running");
    handle.join().unwrap(); // the cancel woke its `ctx.recv`
    drop(later);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    pool.shutdown();
    leak_check();
}

/// Issue 12 item 6: a detached task (`execute`) that panics on a pool with no panic handler has
/// nobody to observe it; the leak check's query of lost panics reports it, with its message.
#[test]
fn a_detached_tasks_panic_with_no_handler_is_reported_as_lost() {
    let pool = Pool::builder().name("lost").workers(1).build().unwrap();
    pool.execute(|_| panic!("nobody is watching")).unwrap();
    // With a handler the panic is observed and not lost.
    let (seen_tx, seen) = crossbeam_channel::unbounded();
    let watched = Pool::builder()
        .name("watched")
        .workers(1)
        .panic_handler(move |p| seen_tx.send(p.message().to_string()).unwrap())
        .build()
        .unwrap();
    watched
        .execute(|_| panic!("the handler sees this"))
        .unwrap();
    assert!(pool.shutdown().is_complete());
    assert!(watched.shutdown().is_complete());
    assert_eq!(seen.try_recv().unwrap(), "the handler sees this");
    let lost = homebound::threads::take_lost_panics();
    let messages: Vec<&str> = lost.iter().map(|l| l.panic().message()).collect();
    assert_eq!(messages, ["nobody is watching"], "{lost:?}");
    leak_check();
}
