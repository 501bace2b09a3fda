//! `every` / `Every`: no overlap, missed ticks skipped and counted, errors and panics survived or
//! stopping per policy, prompt stop mid-wait, clear errors. No sleeps to settle: runs are
//! counted through channels and the job itself cancels after a known number of runs.

use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;
use homebound::{
    Context, periodic, periodic::ErrorPolicy, periodic::Every, periodic::every, threads,
};
use proptest::prelude::*;

mod common;
use common::PanicsOnDrop;

const LEAK_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_zero_period_is_a_clear_error_and_the_job_never_runs() {
    let ctx = Context::new();
    let mut called = false;
    let err = every(&ctx, Duration::ZERO, |_| {
        called = true;
        Ok::<(), String>(())
    })
    .unwrap_err();
    assert!(matches!(err, periodic::Error::ZeroPeriod));
    assert!(!called);
    assert!(err.to_string().contains("greater than zero"));
    assert!(matches!(
        Every::new(Duration::ZERO),
        Err(periodic::Error::ZeroPeriod)
    ));
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn runs_until_cancelled_and_counts_every_run() {
    let ctx = Context::new();
    let (tx, rx) = unbounded();
    let mut n = 0;
    let report = every(&ctx, Duration::from_micros(200), |ctx| {
        n += 1;
        tx.send(n).unwrap();
        if n == 5 {
            ctx.cancel();
        }
        Ok::<(), String>(())
    })
    .unwrap();
    assert_eq!(report.runs(), 5);
    assert!(matches!(report.stopped(), periodic::Stop::Cancelled));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn an_already_cancelled_context_runs_nothing() {
    let ctx = Context::new();
    ctx.cancel();
    let report = every(&ctx, Duration::from_millis(1), |_| -> Result<(), String> {
        panic!("must not run")
    })
    .unwrap();
    assert_eq!(report.runs(), 0);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn stops_promptly_when_cancelled_in_the_middle_of_a_wait() {
    let root = Context::new();
    let (ran_tx, ran) = unbounded();
    let job = Every::new(Duration::from_secs(3600))
        .unwrap()
        .spawn(&root, "hourly", move |_| ran_tx.send(()))
        .unwrap();
    ran.recv().unwrap(); // the first run is immediate; now it waits an hour
    let cancelled = Instant::now();
    root.cancel();
    let report = job.join().unwrap();
    assert!(cancelled.elapsed() < Duration::from_secs(5));
    assert_eq!(report.runs(), 1);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn stop_on_the_handle_stops_only_that_job() {
    let root = Context::new();
    let (ran_tx, ran) = unbounded();
    let job = Every::new(Duration::from_millis(1))
        .unwrap()
        .spawn(&root, "one", move |_| ran_tx.send(()))
        .unwrap();
    ran.recv().unwrap();
    job.cancel();
    let report = job.join().unwrap();
    assert!(report.runs() >= 1);
    assert!(!root.is_cancelled());
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_huge_period_runs_once_then_waits_for_cancel() {
    let root = Context::new();
    let (ran_tx, ran) = unbounded();
    let job = Every::new(Duration::MAX)
        .unwrap()
        .spawn(&root, "never-again", move |_| ran_tx.send(()))
        .unwrap();
    ran.recv().unwrap();
    job.cancel();
    assert_eq!(job.join().unwrap().runs(), 1);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

// Virtual time (issue 18): the counts are exact, where real time needed slack.
#[cfg(feature = "testing")]
#[test]
fn a_job_slower_than_its_period_skips_ticks_and_never_overlaps() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (report, starts) = homebound::testing::virtual_time(|clock| {
        let ctx = Context::new();
        let running = AtomicBool::new(false);
        let mut starts = Vec::new();
        let period = Duration::from_millis(2);
        let report = every(&ctx, period, |ctx| {
            assert!(!running.swap(true, Ordering::SeqCst), "runs overlapped");
            starts.push(clock.elapsed());
            clock.advance(Duration::from_millis(15)); // simulated slow work
            if starts.len() == 3 {
                ctx.cancel();
            }
            running.store(false, Ordering::SeqCst);
            Ok::<(), String>(())
        })
        .unwrap();
        (report, starts)
    });
    assert_eq!(report.runs(), 3);
    assert_eq!(report.overruns(), 3);
    // Each run covers 15 ms of 2 ms ticks: the next one starts at the first tick after it (16,
    // 32 ms), so 7 ticks are skipped per run (counted before the loop sees the cancel).
    let ms = Duration::from_millis;
    assert_eq!(starts, [ms(0), ms(16), ms(32)]);
    assert_eq!(report.skipped(), 21, "{report}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

// Virtual time (issue 18): the shifted schedule is checked to the nanosecond.
#[cfg(feature = "testing")]
#[test]
fn delay_policy_shifts_the_schedule_instead_of_skipping() {
    use homebound::periodic::MissedTicks;
    let (report, starts) = homebound::testing::virtual_time(|clock| {
        let ctx = Context::new();
        let mut starts = Vec::new();
        let report = Every::new(Duration::from_millis(2))
            .unwrap()
            .missed_ticks(MissedTicks::Delay)
            .run(&ctx, |ctx| {
                starts.push(clock.elapsed());
                clock.advance(Duration::from_millis(10));
                if starts.len() == 3 {
                    ctx.cancel();
                }
                Ok::<(), String>(())
            });
        (report, starts)
    });
    assert_eq!(report.runs(), 3);
    assert_eq!(report.skipped(), 0);
    assert_eq!(report.overruns(), 3);
    // Each late run restarts the schedule from its own end: one period after it.
    let ms = Duration::from_millis;
    assert_eq!(starts, [ms(0), ms(12), ms(24)]);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn errors_are_counted_and_the_job_continues_by_default() {
    let ctx = Context::new();
    let mut n = 0;
    let report = every(&ctx, Duration::from_micros(100), |ctx| {
        n += 1;
        if n == 6 {
            ctx.cancel();
        }
        if n % 2 == 0 {
            Err(format!("run {n} failed"))
        } else {
            Ok(())
        }
    })
    .unwrap();
    assert_eq!((report.runs(), report.errors()), (6, 3));
    assert_eq!(report.last_error(), Some("run 6 failed"));
    assert!(matches!(report.stopped(), periodic::Stop::Cancelled));
    assert!(report.into_result().is_ok());
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn stop_policy_ends_the_job_at_the_first_error() {
    let ctx = Context::new();
    let report = Every::new(Duration::from_micros(100))
        .unwrap()
        .on_error(ErrorPolicy::FailFast)
        .run(&ctx, |_| Err("disk full"));
    assert_eq!((report.runs(), report.errors()), (1, 1));
    assert!(matches!(report.stopped(), periodic::Stop::Error(m) if m == "disk full"));
    let err = report.into_result().unwrap_err();
    assert_eq!(err.to_string(), "periodic job failed: disk full");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn panics_are_caught_counted_and_survived_by_default() {
    let ctx = Context::new();
    let mut n = 0;
    let report = every(&ctx, Duration::from_micros(100), |ctx| {
        n += 1;
        if n == 5 {
            ctx.cancel();
        }
        if n == 1 || n == 3 {
            panic!("bad record {n}");
        }
        Ok::<(), String>(())
    })
    .unwrap();
    assert_eq!((report.runs(), report.panics()), (5, 2));
    assert_eq!(report.last_panic(), Some("bad record 3"));
    assert!(matches!(report.stopped(), periodic::Stop::Cancelled));
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn panic_stop_policy_ends_the_job_and_reports_the_message() {
    let ctx = Context::new();
    let report = Every::new(Duration::from_micros(100))
        .unwrap()
        .on_panic(ErrorPolicy::FailFast)
        .run(&ctx, |_| -> Result<(), String> { panic!("corrupt index") });
    assert_eq!(report.runs(), 1);
    assert!(matches!(
        report.stopped(),
        periodic::Stop::Panicked(p) if p.message() == "corrupt index"
    ));
    assert!(
        report
            .to_string()
            .ends_with("stopped by panic: corrupt index")
    );
    assert!(matches!(
        report.into_result(),
        Err(periodic::Error::JobPanicked(p)) if p.message() == "corrupt index"
    ));
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[derive(Debug, PartialEq)]
struct Corrupt {
    page: u32,
}

#[test]
fn a_fail_fast_panic_is_handed_back_whole_with_its_payload_thread_and_location() {
    let job = Every::new(Duration::from_micros(100))
        .unwrap()
        .on_panic(ErrorPolicy::FailFast)
        .spawn(&Context::new(), "indexer", |_| -> Result<(), String> {
            std::panic::panic_any(Corrupt { page: 7 })
        })
        .unwrap();
    let report = job.join().unwrap();
    let Err(err) = report.into_result() else {
        panic!("expected the job's panic");
    };
    assert_eq!(
        err.to_string(),
        "periodic job panicked: non-string panic payload"
    );
    let periodic::Error::JobPanicked(panic) = &err else {
        panic!("expected JobPanicked: {err}");
    };
    assert_eq!(
        *panic.downcast_ref::<Corrupt>().unwrap(),
        Corrupt { page: 7 }
    );
    assert!(
        panic
            .thread()
            .is_some_and(|t| t.contains("periodic-indexer")),
        "{panic:?}"
    );
    assert!(panic.location().unwrap().contains(file!()), "{panic:?}");
    let source = std::error::Error::source(&err).unwrap();
    assert!(source.is::<homebound::Panicked>());
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_spawned_job_in_a_panicking_loop_keeps_running_on_its_thread() {
    let root = Context::new();
    let (ran_tx, ran) = unbounded();
    let job = Every::new(Duration::from_micros(100))
        .unwrap()
        .spawn(&root, "flaky", move |_| -> Result<(), String> {
            ran_tx.send(()).unwrap();
            panic!("every run panics")
        })
        .unwrap();
    for _ in 0..3 {
        ran.recv().unwrap();
    }
    root.cancel();
    let report = job.join().unwrap();
    assert!(report.runs() >= 3);
    assert_eq!(report.panics(), report.runs());
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn every_contains_a_panic_whose_payload_panics_when_dropped() {
    let ctx = Context::new();
    let mut n = 0;
    let report = every(&ctx, Duration::from_micros(100), |ctx| {
        n += 1;
        match n {
            1 => std::panic::panic_any(PanicsOnDrop("the job's payload")),
            _ => {
                ctx.cancel();
                Ok::<(), String>(())
            }
        }
    })
    .unwrap();
    assert_eq!((report.runs(), report.panics()), (2, 1));
    assert!(matches!(report.stopped(), periodic::Stop::Cancelled));
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_spawned_job_survives_panics_whose_payload_panics_when_dropped() {
    let root = Context::new();
    let (ran_tx, ran) = unbounded();
    let job = Every::new(Duration::from_micros(100))
        .unwrap()
        .spawn(&root, "bomb", move |_| -> Result<(), String> {
            ran_tx.send(()).unwrap();
            std::panic::panic_any(PanicsOnDrop("the spawned job's payload"))
        })
        .unwrap();
    for _ in 0..3 {
        ran.recv().unwrap();
    }
    job.cancel();
    let report = job.join().expect("the loop survived");
    assert!(report.runs() >= 3);
    assert_eq!(report.panics(), report.runs());
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_job_whose_drop_panics_is_contained_when_the_loop_ends() {
    let ctx = Context::new();
    let bomb = PanicsOnDrop("the job's capture");
    let report = every(&ctx, Duration::from_micros(100), move |ctx| {
        let _keep = &bomb;
        ctx.cancel();
        Ok::<(), String>(())
    })
    .unwrap();
    assert_eq!((report.runs(), report.panics()), (1, 1));
    assert_eq!(
        report.last_panic(),
        Some("the job's capture panicked in its drop")
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn dropping_a_handle_stops_the_job_and_joins_its_thread() {
    let root = Context::new();
    let (ran_tx, ran) = unbounded();
    let job = Every::new(Duration::from_secs(3600))
        .unwrap()
        .spawn(&root, "dropped", move |_| ran_tx.send(()))
        .unwrap();
    ran.recv().unwrap();
    let job_ctx = job.context().clone();
    drop(job);
    assert!(job_ctx.is_cancelled(), "the drop stopped the job");
    assert!(!root.is_cancelled(), "and only the job");
    // Joined by the drop: nothing is left to wait for.
    threads::assert_none_alive(Duration::from_millis(1));
}

#[test]
fn a_detached_job_runs_on_until_its_parent_is_cancelled() {
    let root = Context::new();
    let (ran_tx, ran) = unbounded();
    Every::new(Duration::from_micros(100))
        .unwrap()
        .spawn(&root, "detached", move |_| ran_tx.send(()))
        .unwrap()
        .detach();
    for _ in 0..3 {
        ran.recv().unwrap();
    }
    assert_eq!(
        threads::live()
            .iter()
            .filter(|t| t.owner() == "periodic-detached")
            .count(),
        1,
        "still running without its handle"
    );
    root.cancel();
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_job_that_drops_its_own_handle_does_not_join_itself() {
    let root = Context::new();
    let (handle_tx, handle_rx) = crossbeam_channel::bounded::<periodic::Handle>(1);
    let (dropped_tx, dropped) = unbounded();
    let job = Every::new(Duration::from_micros(100))
        .unwrap()
        .spawn(&root, "self-drop", move |_| {
            if let Ok(own) = handle_rx.try_recv() {
                drop(own); // cancels this very job; must not try to join its own thread
                dropped_tx.send(()).unwrap();
            }
            Ok::<(), String>(())
        })
        .unwrap();
    handle_tx.send(job).unwrap();
    dropped.recv().unwrap();
    threads::assert_none_alive(LEAK_TIMEOUT);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the pattern of outcomes, every run is counted exactly once in the right bucket.
    #[test]
    fn every_run_is_counted_in_exactly_one_bucket(outcomes in prop::collection::vec(0u8..3, 1..12)) {
        let ctx = Context::new();
        let mut i = 0;
        let report = every(&ctx, Duration::from_micros(50), |ctx| {
            let outcome = outcomes[i];
            i += 1;
            if i == outcomes.len() {
                ctx.cancel();
            }
            match outcome {
                0 => Ok(()),
                1 => Err("failed"),
                _ => panic!("panicked"),
            }
        })
        .unwrap();
        let count = |k| outcomes.iter().filter(|&&o| o == k).count() as u64;
        prop_assert_eq!(report.runs(), outcomes.len() as u64);
        prop_assert_eq!(report.errors(), count(1));
        prop_assert_eq!(report.panics(), count(2));
        threads::assert_none_alive(LEAK_TIMEOUT);
    }
}
