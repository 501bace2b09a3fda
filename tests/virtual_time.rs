//! Virtual time (issue 18): homebound's timeouts, deadlines, keep-alives, periods and grace
//! periods, tested exactly and without waiting for them.
#![cfg(feature = "testing")]

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use homebound::periodic::Every;
use homebound::pool::Pool;
use homebound::shutdown::{ServiceOutcome, Shutdown};
use homebound::testing::virtual_time;
use homebound::{Cause, Context, WaitGroup, scope, threads};

const SEC: Duration = Duration::from_secs(1);

fn leak_check() {
    threads::assert_none_alive(Duration::from_secs(10));
}

#[test]
fn an_hourly_schedule_runs_sixty_ticks_at_exact_times() {
    let wall = Instant::now();
    let (ticks, report) = virtual_time(|clock| {
        let start = clock.now();
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let seen = ticks.clone();
        let job_clock = clock.clone();
        let job = Every::new(Duration::from_secs(60))
            .unwrap()
            .spawn(&Context::new(), "minutely", move |_| {
                seen.lock().unwrap().push(job_clock.now() - start);
                Ok::<(), String>(())
            })
            .unwrap();
        // Ticks at 0, 1, .., 59 minutes: the hour ends just before the 61st.
        clock.advance(Duration::from_secs(3600) - Duration::from_nanos(1));
        job.cancel();
        let report = job.join().unwrap();
        let ticks = ticks.lock().unwrap().clone();
        (ticks, report)
    });
    let expected: Vec<Duration> = (0..60).map(|k| Duration::from_secs(60 * k)).collect();
    assert_eq!(ticks, expected);
    assert_eq!(report.runs(), 60);
    eprintln!("60 virtual minutes took {:?} of wall time", wall.elapsed());
    leak_check();
}

#[test]
fn a_pool_worker_retires_after_exactly_keep_alive() {
    let keep_alive = Duration::from_secs(90);
    virtual_time(|clock| {
        let exits = Arc::new(Mutex::new(Vec::new()));
        let seen = exits.clone();
        let exit_clock = clock.clone();
        let pool = Pool::builder()
            .workers(1)
            .max_workers(2)
            .keep_alive(keep_alive)
            .on_thread_exit(move |_| seen.lock().unwrap().push(exit_clock.now()))
            .build()
            .unwrap();
        // Two 10 s tasks at once: the pool grows to its second worker for them.
        let task = |ctx: &Context| ctx.sleep(Duration::from_secs(10)).is_ok();
        let (a, b) = (pool.submit(task).unwrap(), pool.submit(task).unwrap());
        assert!(a.join().unwrap() && b.join().unwrap());
        assert_eq!(clock.elapsed(), Duration::from_secs(10), "ran side by side");
        let done = clock.now();
        // Just before the keep-alive the worker is still there.
        clock.advance(keep_alive - Duration::from_nanos(1));
        assert!(exits.lock().unwrap().is_empty(), "retired early");
        clock.advance(SEC);
        let exits = exits.lock().unwrap().clone();
        assert_eq!(exits, [done + keep_alive], "retired at exactly keep_alive");
        drop(pool);
    });
    leak_check();
}

#[test]
fn a_service_overrunning_a_30s_grace_is_reported_at_exactly_30s() {
    let report = virtual_time(|_| {
        let mut shutdown = Shutdown::new().grace(Duration::from_secs(30));
        let trigger = shutdown.trigger();
        shutdown
            .service("stubborn", |_ctx| {
                // Ignores its context: needs 45 s whatever happens.
                let own = Context::new();
                own.sleep(Duration::from_secs(45))
                    .map_err(|e| e.to_string())
            })
            .unwrap();
        trigger.fire();
        let mut report = shutdown.wait();
        assert_eq!(report.elapsed(), Duration::from_secs(30));
        let line = &report.services()[0];
        assert!(matches!(line.outcome(), ServiceOutcome::StillRunning));
        assert_eq!(line.elapsed(), Duration::from_secs(30));
        // The straggler ends 15 s later, still in virtual time.
        assert!(report.join_stragglers(Duration::from_secs(60)));
        report
    });
    assert_eq!(report.elapsed(), Duration::from_secs(30));
    leak_check();
}

#[test]
fn with_timeout_inside_and_outside_the_scope_in_one_test() {
    // Outside: a real 20 ms timeout really takes 20 ms.
    let outside = std::thread::spawn(|| {
        let began = Instant::now();
        let ctx = Context::new().with_timeout(Duration::from_millis(20));
        assert_eq!(ctx.wait(), Cause::DeadlineExceeded);
        began.elapsed()
    });
    let inside = virtual_time(|clock| {
        let ctx = Context::new().with_timeout(Duration::from_secs(24 * 3600));
        assert_eq!(ctx.wait(), Cause::DeadlineExceeded);
        assert_eq!(ctx.remaining(), Some(Duration::ZERO));
        clock.elapsed()
    });
    assert_eq!(inside, Duration::from_secs(24 * 3600));
    assert!(outside.join().unwrap() >= Duration::from_millis(20));
    leak_check();
}

#[test]
fn a_deadlock_fails_with_the_blocked_threads_named() {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        virtual_time(|_| {
            let ctx = Context::new();
            let wg = WaitGroup::new();
            let (_tx, rx) = crossbeam_channel::bounded::<()>(0);
            let _ = scope(&ctx, |g| {
                let guard = wg.enter();
                g.spawn(move |ctx| {
                    let _guard = guard;
                    let _ = ctx.recv(&rx); // nobody ever sends
                    Ok::<(), String>(())
                });
                wg.wait(); // the task never leaves
            });
        })
    }));
    let payload = outcome.expect_err("a deadlock must fail the scope");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("deadlock"), "{message}");
    assert!(
        message.contains("a_deadlock_fails_with_the_blocked_threads_named"),
        "the test thread is named: {message}"
    );
    assert!(
        message.contains("homebound-group"),
        "the task is named: {message}"
    );
    leak_check();
}

#[test]
fn nested_scopes_are_refused() {
    let outcome = panic::catch_unwind(|| virtual_time(|_| virtual_time(|_| ())));
    let payload = outcome.expect_err("nesting panics");
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("cannot be nested"), "{message}");
    leak_check();
}

#[test]
fn wait_group_and_join_timeouts_are_exact() {
    virtual_time(|clock| {
        let wg = WaitGroup::new();
        let _inside = wg.enter();
        let start = clock.now();
        assert!(!wg.wait_timeout(Duration::from_secs(10)));
        assert_eq!(clock.now() - start, Duration::from_secs(10));

        let pool = Pool::new(1).unwrap();
        let slow = pool
            .submit(|ctx| ctx.sleep(Duration::from_secs(100)).is_ok())
            .unwrap();
        let slow = slow.join_timeout(Duration::from_secs(40)).unwrap_err();
        assert_eq!(clock.now() - start, Duration::from_secs(50));
        let homebound::pool::JoinTimeoutError::TimedOut(slow) = slow else {
            panic!("timed out expected");
        };
        assert!(slow.join().unwrap());
        assert_eq!(clock.now() - start, Duration::from_secs(110));
        drop(pool);
    });
    leak_check();
}

/// The pool's lifecycle waits are on the scope's clock too: while the test thread waits for
/// the pool to go idle or to terminate, time moves to the task's wake-up and the waits end at
/// exact virtual instants (on the real clock they would wait out the virtual deadlines).
#[test]
fn pool_idle_and_termination_waits_are_exact() {
    virtual_time(|clock| {
        let start = clock.now();
        let pool = Pool::new(1).unwrap();
        pool.execute(|ctx| {
            let _ = ctx.sleep(Duration::from_secs(100));
        })
        .unwrap();
        let idle = pool.wait_idle_timeout(Duration::from_secs(30));
        assert!(idle.is_err(), "the task sleeps for 100 s");
        assert_eq!(clock.now() - start, Duration::from_secs(30));
        assert!(pool.wait_idle_timeout(Duration::from_secs(3600)).is_ok());
        assert_eq!(clock.now() - start, Duration::from_secs(100));

        pool.execute(|ctx| {
            let _ = ctx.sleep(Duration::from_secs(50));
        })
        .unwrap();
        pool.close();
        assert!(!pool.await_termination(Duration::from_secs(20)));
        assert_eq!(clock.now() - start, Duration::from_secs(120));
        assert!(pool.await_termination(Duration::from_secs(3600)));
        assert_eq!(clock.now() - start, Duration::from_secs(150));
    });
    leak_check();
}

/// An ordered pipeline's workers wait for their turn on the scope's clock: while the worker
/// holding the first chunk sleeps, the others wait for credits, and time must still move.
#[test]
fn an_ordered_stage_waiting_for_its_turn_lets_time_move() {
    use homebound::pipeline::Pipeline;
    let (took, out) = virtual_time(|clock| {
        let start = clock.now();
        let (out, _) = Pipeline::from_iter(&Context::new(), 0..20_000u64)
            .map_ctx(2, |ctx, x| {
                if x == 0 {
                    let _ = ctx.sleep(Duration::from_secs(10));
                }
                x
            })
            .ordered()
            .collect()
            .unwrap();
        (clock.now() - start, out)
    });
    assert_eq!(took, Duration::from_secs(10));
    assert_eq!(out, (0..20_000).collect::<Vec<_>>());
    leak_check();
}

/// Everything homebound blocks in is on the scope's clock: fan-in's forwarding thread and its
/// receives, fan-out's receives, and `start` waiting for a task to be ready. Each waits here
/// for a member that sleeps first, so a wait on the real clock would stall time.
#[test]
fn fan_receives_and_start_wait_on_the_scopes_clock() {
    use homebound::fan;
    virtual_time(|clock| {
        let start = clock.now();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let producer = threads::spawn("late-producer", move || {
            let _ = Context::new().sleep(Duration::from_secs(10));
            tx.send(1u32).unwrap();
        })
        .unwrap();
        let merged = fan::merge(vec![rx]).unwrap();
        assert_eq!(merged.recv_timeout(Duration::from_secs(60)), Ok(1));
        assert_eq!(clock.now() - start, Duration::from_secs(10));
        assert!(merged.recv_timeout(Duration::from_secs(5)).is_err());
        assert_eq!(clock.now() - start, Duration::from_secs(10));
        producer.join().unwrap();
        assert!(merged.recv().is_err());

        let (tx, rx) = crossbeam_channel::bounded(1);
        let out = fan::fan_out(&Context::new(), rx, 1, |ctx, x: u32| {
            let _ = ctx.sleep(Duration::from_secs(20));
            x * 2
        })
        .unwrap();
        tx.send(4).unwrap();
        assert!(out.recv_timeout(Duration::from_secs(5)).is_err());
        assert_eq!(clock.now() - start, Duration::from_secs(15));
        assert_eq!(out.recv(), Ok(8));
        assert_eq!(clock.now() - start, Duration::from_secs(30));
        drop(tx);
        assert_eq!(out.collect::<Vec<_>>(), Vec::<u32>::new());

        let value = scope(&Context::new(), |g| {
            g.start(|ctx, ready| {
                let _ = ctx.sleep(Duration::from_secs(5));
                ready.ready(7);
                Ok::<_, ()>(())
            })
            .unwrap()
        })
        .unwrap();
        assert_eq!(value, 7);
        assert_eq!(clock.now() - start, Duration::from_secs(35));
    });
    leak_check();
}

/// Joining a homebound thread is a wait on the scope's clock: the thread sleeps on it, and
/// the join must let time move to its wake-up.
#[test]
fn joining_a_sleeping_thread_lets_time_move() {
    let took = virtual_time(|clock| {
        let start = clock.now();
        let sleeper = threads::spawn("sleeper", || {
            Context::new().sleep(Duration::from_secs(30)).is_ok()
        })
        .unwrap();
        assert!(sleeper.join().unwrap());
        clock.now() - start
    });
    assert_eq!(took, Duration::from_secs(30));
    leak_check();
}

#[test]
fn a_batch_is_flushed_at_exactly_its_max_wait() {
    use homebound::pipeline::Pipeline;
    let batches = virtual_time(|clock| {
        let (tx, rx) = crossbeam_channel::unbounded();
        let producer = threads::spawn("producer", move || {
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            let _ = Context::new().sleep(Duration::from_secs(10));
            for i in 3..5 {
                tx.send(i).unwrap();
            }
        })
        .unwrap();
        let start = clock.now();
        let mut batches = Vec::new();
        Pipeline::from_receiver(&Context::new(), rx)
            .batch(100, Duration::from_secs(2))
            .for_each(|batch| batches.push((clock.now() - start, batch)))
            .unwrap();
        producer.join().unwrap();
        batches
    });
    assert_eq!(
        batches,
        [
            (Duration::from_secs(2), vec![0, 1, 2]), // the max-wait, to the nanosecond
            (Duration::from_secs(10), vec![3, 4]),   // the end flushes the rest
        ]
    );
    leak_check();
}

#[test]
fn a_thread_blocked_outside_homebound_holds_the_clock_and_the_dump_names_it() {
    virtual_time(|clock| {
        let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
        let raw = threads::spawn("raw-wait", move || {
            let _ = release_rx.recv(); // a raw channel: not a homebound wait
            done_tx.send(()).unwrap();
        })
        .unwrap();
        let watcher = clock.clone();
        let me = std::thread::current().name().unwrap().to_owned();
        // Outside the scope (a plain std thread): real time. It releases the raw waiter once the
        // test thread is blocked in its 10 s homebound wait.
        let outside = std::thread::spawn(move || {
            let give_up = Instant::now() + Duration::from_secs(30);
            let dump = loop {
                let dump = watcher.dump();
                let settled =
                    dump.contains(&format!("thread '{me}' blocked")) && dump.contains("raw-wait"); // started: named
                if settled || Instant::now() > give_up {
                    break dump;
                }
                std::thread::yield_now();
            };
            drop(release_tx);
            dump
        });
        let got = Context::new().recv_timeout(&done_rx, Duration::from_secs(10));
        assert!(
            got.is_ok(),
            "time moved while a thread was blocked outside homebound"
        );
        assert_eq!(clock.elapsed(), Duration::ZERO);
        let dump = outside.join().unwrap();
        assert!(
            dump.contains("raw-wait") && dump.contains("running (or blocked outside homebound)"),
            "{dump}"
        );
        assert!(dump.contains("until 10s"), "{dump}");
        raw.join().unwrap();
    });
    leak_check();
}

#[test]
fn a_deadlock_with_a_pool_in_scope_fails_cleanly() {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        virtual_time(|_| {
            let pool = Pool::new(2).unwrap();
            let wg = WaitGroup::new();
            let guard = wg.enter();
            let (_tx, rx) = crossbeam_channel::bounded::<()>(0);
            let stuck = pool
                .submit(move |ctx| {
                    let _guard = guard;
                    let _ = ctx.recv(&rx); // nobody ever sends
                })
                .unwrap();
            wg.wait(); // never: the task holds the guard; the pool is dropped while unwinding
            drop(stuck);
        })
    }));
    let payload = outcome.expect_err("a deadlock must fail the scope");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("deadlock"), "{message}");
    assert!(
        message.contains("homebound-pool"),
        "the workers are named: {message}"
    );
    leak_check();
}
