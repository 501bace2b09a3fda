//! Pool: submitting, handles, panics, shutdown, metrics (promises P1–P8, P12, P14, P15 of
//! reliability.md, and the JSR-166 `ThreadPoolExecutorTest` checks mapped to our API).
//! Faults and bad input are in `pool_faults.rs`, growth in `pool_dynamic.rs`, the randomised
//! stress test in `pool_stress.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded, unbounded};
use homebound::{
    Context, pool, pool::JoinTimeoutError, pool::Pool, pool::SubmitError, task::JoinError, threads,
};

mod common;
use common::{BOUND, conserved, gate, leak_check, occupy};

fn assert_quiescent(m: &pool::Metrics) {
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!((m.queued, m.running), (0, 0), "{m:?}");
}

#[test]
fn submit_and_join_returns_each_value() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let handles: Vec<_> = (0..100u64)
        .map(|i| pool.submit(move |_| i * 3).unwrap())
        .collect();
    let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, (0..100).map(|i| i * 3).collect::<Vec<_>>());
    let report = pool.shutdown();
    assert!(report.is_complete());
    assert_eq!(report.joined(), 2);
    assert_eq!(report.metrics().completed, 100);
    assert_quiescent(report.metrics());
    drop(pool);
    leak_check();
}

#[test]
fn happens_before_submit_and_join() {
    // P14: plain data written before submit is seen by the task; the task's writes are seen
    // after join.
    let pool = Pool::builder().workers(2).build().unwrap();
    for round in 0..50 {
        let data: Vec<u64> = (0..64).map(|i| i + round).collect();
        let handle = pool
            .submit(move |_| {
                let mut data = data;
                data.iter_mut().for_each(|x| *x *= 2);
                data
            })
            .unwrap();
        let data = handle.join().unwrap();
        assert_eq!(data[63], (63 + round) * 2);
    }
    drop(pool);
    leak_check();
}

#[test]
fn shutdown_runs_everything_queued_then_joins() {
    // P4: stop accepting, run everything queued, join every worker.
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(200)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (open, gate) = gate();
    for _ in 0..2 {
        let gate = gate.clone();
        let _detached = pool.submit(move |_| {
            let _ = gate.recv();
        });
    }
    for _ in 0..100 {
        let ran = ran.clone();
        let _detached = pool.submit(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    let opener = thread::spawn(move || drop(open));
    let report = pool.shutdown();
    opener.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 100);
    assert_eq!(report.metrics().completed, 102);
    assert!(report.is_complete());
    assert_quiescent(report.metrics());
    drop(pool);
    leak_check();
}

#[test]
fn shutdown_is_idempotent_and_prompt_on_an_unused_pool() {
    let pool = Pool::builder().workers(3).build().unwrap();
    let start = Instant::now();
    let first = pool.shutdown();
    let second = pool.shutdown();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(first.is_complete() && second.is_complete());
    assert_eq!(first.joined(), 3);
    assert_eq!(second.joined(), 0);
    assert!(pool.shutdown_now().is_empty());
    drop(pool);
    leak_check();
}

#[test]
fn concurrent_shutdowns_both_return_after_termination() {
    let pool = Arc::new(Pool::builder().workers(2).build().unwrap());
    let (open, gate) = gate();
    for _ in 0..2 {
        let gate = gate.clone();
        let _d = pool.submit(move |_| {
            let _ = gate.recv();
        });
    }
    let a = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown())
    };
    let b = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown())
    };
    drop(open);
    let (ra, rb) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(ra.joined() + rb.joined(), 2);
    // Both calls return only once the workers are done.
    assert_eq!(ra.metrics().completed + rb.metrics().completed, 4);
    assert_eq!(pool.metrics().workers_live, 0);
    drop(pool);
    leak_check();
}

#[test]
fn submit_after_shutdown_is_rejected_with_the_task() {
    // P2 / TCK assertTaskSubmissionsAreRejected.
    for now in [false, true] {
        let pool = Pool::builder().workers(1).build().unwrap();
        if now {
            assert!(pool.shutdown_now().is_empty());
        } else {
            pool.shutdown();
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let task = {
            let ran = ran.clone();
            move |_: &Context| ran.fetch_add(1, Ordering::SeqCst)
        };
        let task = pool.submit(task).unwrap_err();
        assert!(task.is_closed());
        let task = pool.try_submit(task.into_inner()).unwrap_err();
        assert!(task.is_closed());
        let task = pool
            .submit_timeout(task.into_inner(), Duration::from_secs(1))
            .unwrap_err();
        assert!(task.is_closed());
        let task = pool
            .submit_ctx(&Context::new(), task.into_inner())
            .unwrap_err();
        assert!(task.is_closed());
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        task.into_inner()(&Context::new());
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        let m = pool.metrics();
        assert_eq!(m.rejected_closed, 4);
        assert_eq!(m.accepted, 0);
        assert!(pool.is_closed());
        drop(pool);
    }
    leak_check();
}

#[test]
fn try_submit_on_a_full_queue_hands_the_task_back() {
    // P3.
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let (open, blocker) = occupy(&pool);
    let queued: Vec<_> = (0..2)
        .map(|i| pool.try_submit(move |_| i).unwrap())
        .collect();
    let err = pool.try_submit(|_| 99).unwrap_err();
    assert!(err.is_full());
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(err.to_string(), "the pool's queue is full");
    assert_eq!(err.into_inner()(&Context::new()), 99);
    let m = pool.metrics();
    assert_eq!(m.rejected_full, 1);
    assert_eq!(m.queue_len, 2);
    assert!(m.is_conserved());
    drop(open);
    blocker.join().unwrap();
    let values: Vec<i32> = queued.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, [0, 1]);
    let report = pool.shutdown();
    assert_eq!(report.metrics().queue_high_water, 2);
    drop(pool);
    leak_check();
}

#[test]
fn blocked_submitters_are_woken_by_shutdown_with_their_tasks() {
    // TCK / ants TestMaxBlockingSubmit: submitters parked on a full queue get `Closed(task)`.
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let (open, blocker) = occupy(&pool);
    let filler = pool.submit(|_| "queued").unwrap();
    let submitters: Vec<_> = (0..3)
        .map(|i| {
            let pool = pool.clone();
            thread::spawn(move || match pool.submit(move |_| i) {
                Err(SubmitError::Closed(f)) => f(&Context::new()),
                Ok(_) => panic!("accepted after close"),
                Err(e) => panic!("unexpected {e}"),
            })
        })
        .collect();
    // Each submitter counts itself in `submitted` before it waits.
    let deadline = Instant::now() + BOUND;
    while pool.metrics().submitted < 5 {
        assert!(Instant::now() < deadline, "submitters never started");
        thread::yield_now();
    }
    let report = pool.shutdown_timeout(Duration::ZERO);
    assert_eq!(report.stragglers().len(), 1);
    let mut got: Vec<i32> = submitters.into_iter().map(|s| s.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    drop(open);
    blocker.join().unwrap();
    assert_eq!(filler.join().unwrap(), "queued");
    let report = pool.shutdown();
    assert!(report.is_complete());
    assert_eq!(report.metrics().rejected_closed, 3);
    assert_quiescent(report.metrics());
    drop(pool);
    leak_check();
}

#[test]
fn shutdown_now_returns_unstarted_tasks_and_cancels_running_ones() {
    // TCK testShutdownNow: returned list size == queued, ran == pool size.
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(16)
        .build()
        .unwrap();
    let (started_tx, started) = bounded(2);
    let running: Vec<pool::TaskHandle<bool>> = (0..2)
        .map(|_| {
            let started_tx = started_tx.clone();
            pool.submit(move |ctx| {
                started_tx.send(()).unwrap();
                ctx.wait();
                ctx.is_cancelled()
            })
            .unwrap()
        })
        .collect();
    started.recv().unwrap();
    started.recv().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..10)
        .map(|i| {
            let ran = ran.clone();
            pool.submit_named(&format!("q{i}"), move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
                i
            })
            .unwrap()
        })
        .collect();
    let pending = pool.shutdown_now();
    assert_eq!(pending.len(), 10);
    let names: Vec<_> = pending
        .iter()
        .map(|p| p.name().unwrap().to_string())
        .collect();
    assert_eq!(names, (0..10).map(|i| format!("q{i}")).collect::<Vec<_>>());
    for h in running {
        assert!(
            h.join().unwrap(),
            "running tasks see their context cancelled"
        );
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let m = pool.metrics();
    assert_eq!(m.returned_by_shutdown_now, 10);
    assert_eq!(m.completed, 2);
    assert_eq!(m.workers_live, 0);
    assert_quiescent(&m);
    // Run the even ones here, drop the odd ones: each handle resolves accordingly.
    for (i, p) in pending.into_iter().enumerate() {
        if i % 2 == 0 {
            assert!(p.run());
        }
    }
    for (i, h) in queued.into_iter().enumerate() {
        match h.join() {
            Ok(v) => assert_eq!((v, i % 2), (i, 0)),
            Err(JoinError::NotStarted(_)) => assert_eq!(i % 2, 1),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 5);
    assert!(pool.submit(|_| ()).unwrap_err().is_closed());
    drop(pool);
    leak_check();
}

#[test]
fn panics_are_contained_and_reported_on_the_handle() {
    // P8 / ants TestPanicHandler: worker survives, message and thread reach the handle, the
    // handler sees every panic (detached ones included), capacity unchanged.
    let seen = Arc::new(AtomicUsize::new(0));
    let pool = {
        let seen = seen.clone();
        Pool::builder()
            .name("panicky")
            .workers(2)
            .panic_handler(move |p| {
                assert!(p.message().starts_with("task "));
                seen.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    let handles: Vec<pool::TaskHandle<()>> = (0..50)
        .map(|i| pool.submit(move |_| panic!("task {i} failed")).unwrap())
        .collect();
    for _ in 0..10 {
        let _detached = pool.submit(|_| -> () { panic!("task detached") });
    }
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Err(JoinError::Panicked(p)) => {
                assert_eq!(p.message(), format!("task {i} failed"));
                assert!(p.thread().unwrap().starts_with("homebound-panicky-"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pool.submit(|_| 5).unwrap().join().unwrap(), 5);
    assert_eq!(pool.metrics().workers_live, 2);
    let report = pool.shutdown();
    let m = report.metrics();
    assert_eq!((m.panicked, m.completed), (60, 1));
    assert_eq!(seen.load(Ordering::SeqCst), 60);
    assert_quiescent(m);
    drop(pool);
    leak_check();
}

#[test]
fn cancel_before_start_never_runs_the_task_and_drops_it() {
    // TCK testRemove: cancelling a queued task keeps the counts consistent.
    struct DropCount(Arc<AtomicUsize>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    let (open, blocker) = occupy(&pool);
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let victim = {
        let (guard, ran) = (DropCount(drops.clone()), ran.clone());
        pool.submit(move |_| {
            let _guard = guard;
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap()
    };
    assert!(!victim.is_finished());
    assert!(victim.cancel());
    assert!(!victim.cancel(), "a second cancel does nothing");
    assert!(victim.is_finished());
    assert_eq!(drops.load(Ordering::SeqCst), 1, "closure dropped at cancel");
    assert!(matches!(victim.join(), Err(JoinError::NotStarted(_))));
    drop(open);
    blocker.join().unwrap();
    let report = pool.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let m = report.metrics();
    assert_eq!((m.completed, m.cancelled_before_start), (1, 1));
    assert_quiescent(m);
    drop(pool);
    leak_check();
}

#[test]
fn cancel_while_running_cancels_only_that_tasks_context() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let (started_tx, started) = bounded(2);
    let mk = |tx: Sender<()>| {
        move |ctx: &Context| {
            tx.send(()).unwrap();
            ctx.wait_timeout(BOUND)
        }
    };
    let a = pool.submit(mk(started_tx.clone())).unwrap();
    let b = pool.submit(mk(started_tx)).unwrap();
    started.recv().unwrap();
    started.recv().unwrap();
    assert!(!a.cancel(), "already started: not stopped from starting");
    assert!(a.join().unwrap(), "a saw its context cancelled");
    let b = match b.join_timeout(Duration::from_millis(20)) {
        Err(JoinTimeoutError::TimedOut(b)) => b,
        other => panic!("b should still be waiting: {other:?}"),
    };
    b.cancel();
    assert!(b.join().unwrap());
    drop(pool);
    leak_check();
}

#[test]
fn join_timeout_returns_the_handle_then_the_value() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (tx, rx) = bounded::<u32>(0);
    let h = pool.submit(move |_| rx.recv().unwrap()).unwrap();
    let h = match h.join_timeout(Duration::from_millis(5)) {
        Err(JoinTimeoutError::TimedOut(h)) => h,
        other => panic!("{other:?}"),
    };
    assert!(!h.is_finished());
    tx.send(7).unwrap();
    assert_eq!(h.join_timeout(Duration::MAX).unwrap(), 7);
    let p = pool.submit(|_| -> u8 { panic!("x") }).unwrap();
    assert!(matches!(
        p.join_timeout(BOUND),
        Err(JoinTimeoutError::Task(JoinError::Panicked(_)))
    ));
    drop(pool);
    leak_check();
}

#[test]
fn each_task_context_is_a_child_of_the_pools_root() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let contexts: Vec<Context> = (0..4)
        .map(|_| pool.submit(|ctx| ctx.clone()).unwrap().join().unwrap())
        .collect();
    assert!(contexts.iter().all(|c| !c.is_cancelled()));
    assert_ne!(contexts[0], contexts[1], "each task has its own context");
    pool.shutdown_now();
    assert!(
        contexts.iter().all(Context::is_cancelled),
        "shutdown_now cancels the root"
    );
    drop(pool);
    leak_check();
}

#[test]
fn drop_is_a_graceful_shutdown() {
    let ran = Arc::new(AtomicUsize::new(0));
    {
        let pool = Pool::builder().workers(2).unbounded().build().unwrap();
        for _ in 0..1000 {
            let ran = ran.clone();
            let _d = pool.submit(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 1000);
    // Drop joined every worker: no waiting needed.
    threads::assert_none_alive(Duration::ZERO);
}

#[test]
fn shutdown_timeout_names_stragglers_and_keeps_their_handles() {
    let pool = Pool::builder().name("strag").workers(2).build().unwrap();
    let (open, gate) = gate();
    let (started_tx, started) = bounded(1);
    let slow = pool
        .submit_named("resize big.png", move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
    started.recv().unwrap();
    let report = pool.shutdown_timeout(Duration::from_millis(30));
    assert!(!report.is_complete());
    assert_eq!(report.joined(), 1, "the idle worker was joined");
    let s = &report.stragglers()[0];
    assert!(s.thread.starts_with("homebound-strag-"));
    assert_eq!(s.task.as_deref(), Some("resize big.png"));
    assert!(s.running_for.unwrap() >= Duration::from_millis(30));
    assert!(report.to_string().contains("resize big.png"));
    // The straggler is still listed by the leak check until it ends.
    assert!(threads::wait_none_alive(Duration::ZERO).is_err());
    drop(open);
    slow.join().unwrap();
    let report = pool.shutdown();
    assert!(report.is_complete());
    assert_eq!(report.joined(), 1);
    drop(pool);
    leak_check();
}

#[test]
fn metrics_are_conserved_in_every_snapshot_under_load() {
    // P1 and the TCK's "counters increase but do not overestimate".
    let pool = Arc::new(
        Pool::builder()
            .workers(2)
            .max_workers(3)
            .queue_capacity(8)
            .build()
            .unwrap(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (pool, stop) = (pool.clone(), stop.clone());
        thread::spawn(move || {
            let mut prev = pool.metrics();
            let mut snapshots = 0;
            while !stop.load(Ordering::SeqCst) || snapshots < 10 {
                let m = conserved(&pool);
                assert!(m.workers_live <= 3 && m.workers_peak <= 3, "{m:?}");
                assert!(m.running <= m.workers_peak as u64, "{m:?}");
                assert!(m.queue_high_water <= 8, "{m:?}");
                for (a, b) in [
                    (prev.submitted, m.submitted),
                    (prev.completed, m.completed),
                    (prev.panicked, m.panicked),
                    (prev.rejected_full, m.rejected_full),
                ] {
                    assert!(a <= b, "counters only grow: {prev:?} then {m:?}");
                }
                prev = m;
                snapshots += 1;
            }
        })
    };
    let submitters: Vec<_> = (0..2)
        .map(|s| {
            let pool = pool.clone();
            thread::spawn(move || {
                for i in 0..500u32 {
                    let task = move |_: &Context| {
                        if i % 50 == 7 {
                            panic!("planned");
                        }
                        i
                    };
                    if (i + s) % 3 == 0 {
                        let _ = pool.try_submit(task);
                    } else {
                        let _ = pool.submit(task).unwrap();
                    }
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let report = pool.shutdown();
    watcher.join().unwrap();
    let m = report.metrics();
    assert_eq!(m.submitted, 1000);
    assert_eq!(m.accepted, 1000 - m.rejected_full);
    assert_eq!(m.completed + m.panicked, m.accepted);
    assert_quiescent(m);
    assert!(m.total_run_time > Duration::ZERO);
    drop(pool);
    leak_check();
}

#[test]
fn hooks_run_exactly_once_per_thread() {
    // P15.
    let started = Arc::new(AtomicUsize::new(0));
    let exited = Arc::new(AtomicUsize::new(0));
    let pool = {
        let (s, e) = (started.clone(), exited.clone());
        Pool::builder()
            .workers(3)
            .on_thread_start(move |name| {
                assert!(name.starts_with("homebound-pool-"));
                s.fetch_add(1, Ordering::SeqCst);
            })
            .on_thread_exit(move |_| {
                e.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    let _ = pool.submit(|_| ()).unwrap().join();
    let report = pool.shutdown();
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(exited.load(Ordering::SeqCst), 3);
    assert_eq!(report.metrics().workers_spawned, 3);
    drop(pool);
    leak_check();
}

#[test]
fn rejected_recycled_task_runs_once_per_acceptance() {
    // TCK testRejectedRecycledTask: the same task submitted 1000 times while the queue rejects
    // intermittently runs exactly once per accepted submission.
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let task = {
        let ran = ran.clone();
        move |_: &Context| {
            ran.fetch_add(1, Ordering::SeqCst);
        }
    };
    let mut accepted = 0;
    let mut handles = Vec::new();
    for _ in 0..1000 {
        match pool.try_submit(task.clone()) {
            Ok(h) => {
                accepted += 1;
                handles.push(h);
            }
            Err(e) => assert!(e.is_full()),
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), accepted);
    let m = pool.shutdown().metrics().clone();
    assert_eq!(m.completed, accepted as u64);
    assert_eq!(m.rejected_full, 1000 - accepted as u64);
    drop(pool);
    leak_check();
}

#[test]
fn submit_ctx_and_submit_timeout_give_the_task_back() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(0)
        .build()
        .unwrap();
    let (open, blocker) = occupy(&pool);
    // Rendezvous queue, the only worker busy: no room.
    let t0 = Instant::now();
    let err = pool
        .submit_timeout(|_| 1, Duration::from_millis(20))
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(t0.elapsed() >= Duration::from_millis(20));
    let ctx = Context::new().with_timeout(Duration::from_millis(20));
    let err = pool.submit_ctx(&ctx, |_| 2).unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.into_inner()(&Context::new()), 2);
    let cancelled = Context::new();
    cancelled.cancel();
    assert!(
        pool.submit_ctx(&cancelled, |_| 3)
            .unwrap_err()
            .is_cancelled()
    );
    // Cancelled from another thread while waiting.
    let ctx = Context::new();
    let canceller = {
        let ctx = ctx.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            ctx.cancel();
        })
    };
    assert!(pool.submit_ctx(&ctx, |_| 4).unwrap_err().is_cancelled());
    canceller.join().unwrap();
    let m = pool.metrics();
    assert_eq!((m.rejected_timeout, m.rejected_cancelled), (1, 3));
    drop(open);
    blocker.join().unwrap();
    // With room, neither waits.
    assert_eq!(
        pool.submit_timeout(|_| 5, Duration::MAX)
            .unwrap()
            .join()
            .unwrap(),
        5
    );
    assert_eq!(
        pool.submit_ctx(&Context::new(), |_| 6)
            .unwrap()
            .join()
            .unwrap(),
        6
    );
    drop(pool);
    leak_check();
}

#[test]
fn many_tiny_tasks_on_an_oversubscribed_pool() {
    // 2 CPUs, 16 workers, 20k tiny tasks: no lost wake-up, nothing lost.
    let pool = Pool::builder()
        .workers(16)
        .queue_capacity(64)
        .build()
        .unwrap();
    let sum = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = unbounded();
    for i in 0..20_000usize {
        let (sum, tx) = (sum.clone(), tx.clone());
        let _d = pool.submit(move |_| {
            sum.fetch_add(i, Ordering::Relaxed);
            let _ = tx.send(());
        });
    }
    drop(tx);
    assert_eq!(rx.iter().count(), 20_000);
    assert_eq!(sum.load(Ordering::Relaxed), (0..20_000).sum::<usize>());
    let report = pool.shutdown();
    assert_eq!(report.metrics().completed, 20_000);
    drop(pool);
    leak_check();
}

#[test]
fn execute_runs_detached_tasks_counts_their_panics_and_hands_them_back() {
    let panics = Arc::new(AtomicUsize::new(0));
    let pool = {
        let panics = panics.clone();
        Pool::builder()
            .workers(1)
            .queue_capacity(2)
            .panic_handler(move |p| {
                assert_eq!(p.message(), "detached boom");
                panics.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let ran = ran.clone();
        pool.execute(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.execute(|_| panic!("detached boom")).unwrap();
    // Saturate: one running (waiting on its context), two queued, the next refused.
    let (started_tx, started) = bounded(1);
    pool.execute(move |ctx| {
        started_tx.send(()).unwrap();
        ctx.wait();
    })
    .unwrap();
    started.recv().unwrap();
    for _ in 0..2 {
        let ran = ran.clone();
        pool.try_execute(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let refused = pool.try_execute(|_| ()).unwrap_err();
    assert!(refused.is_full());
    refused.into_inner()(&Context::new());
    let pending = pool.shutdown_now();
    assert_eq!(pending.len(), 2);
    assert!(
        pending
            .iter()
            .all(|p| p.name().is_none() && !p.is_cancelled())
    );
    for p in pending {
        assert!(p.run());
    }
    assert_eq!(ran.load(Ordering::SeqCst), 102);
    assert_eq!(panics.load(Ordering::SeqCst), 1);
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.panicked, m.returned_by_shutdown_now),
        (101, 1, 2)
    );
    assert_quiescent(&m);
    assert!(pool.execute(|_| ()).unwrap_err().is_closed());
    drop(pool);
    leak_check();
}
