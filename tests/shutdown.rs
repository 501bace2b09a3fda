//! `Shutdown`: services, triggers, failures, grace period, drains, stragglers, and real signals
//! sent to a child process (this test binary re-run in a "child mode").

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded, unbounded};
use homebound::{
    Cause, Context, periodic::every, shutdown, shutdown::ErrorPolicy, shutdown::ServiceOutcome,
    shutdown::Shutdown, threads,
};
use parking_lot::Mutex;

mod common;
use common::PanicsOnDrop;
use common::child::ChildRun;

const LEAK_TIMEOUT: Duration = Duration::from_secs(10);

/// The shutdown cause a service's context was cancelled with.
fn shutdown_cause(ctx: &Context) -> Option<shutdown::Cause> {
    match ctx.cause()? {
        Cause::Reason(reason) => reason.downcast_ref::<shutdown::Cause>().cloned(),
        _ => None,
    }
}

#[test]
fn trigger_cancels_every_service_with_the_cause_and_reports_clean() {
    let (seen_tx, seen) = unbounded();
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(30));
    for name in ["a", "b", "c"] {
        let seen_tx = seen_tx.clone();
        shutdown
            .service(name, move |ctx| {
                ctx.wait();
                seen_tx.send(shutdown_cause(&ctx)).unwrap();
                Ok::<(), String>(())
            })
            .unwrap();
    }
    drop(seen_tx);
    let root = shutdown.context().clone();
    shutdown.trigger().fire();
    let report = shutdown.wait();

    assert_eq!(report.cause(), &shutdown::Cause::Triggered);
    assert_eq!(report.forced(), None);
    assert_eq!(report.exit_code(), 0);
    assert!(report.is_ok());
    assert_eq!(report.stragglers().count(), 0);
    let names: Vec<_> = report.services().iter().map(|s| s.name()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(report.services().iter().all(|s| s.outcome().is_ok()));
    let causes: Vec<_> = seen.iter().collect();
    assert_eq!(causes, vec![Some(shutdown::Cause::Triggered); 3]);
    assert!(root.is_cancelled());
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_failing_service_stops_all_by_default() {
    let (seen_tx, seen) = bounded(1);
    let mut shutdown = Shutdown::new();
    shutdown
        .service("steady", move |ctx| {
            ctx.wait();
            seen_tx.send(shutdown_cause(&ctx)).unwrap();
            Ok::<(), String>(())
        })
        .unwrap()
        .service("db", |_ctx| Err("connection refused"))
        .unwrap();
    let report = shutdown.wait();

    assert_eq!(report.cause(), &shutdown::Cause::ServiceFailed("db".into()));
    assert_eq!(
        seen.recv().unwrap(),
        Some(shutdown::Cause::ServiceFailed("db".into()))
    );
    assert_eq!(report.services()[0].outcome().to_string(), "ok");
    assert_eq!(
        report.services()[1].outcome().to_string(),
        "error: connection refused"
    );
    assert_eq!(report.exit_code(), 1);
    assert!(
        report
            .to_string()
            .contains("service db: error: connection refused")
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_panicking_service_is_reported_with_its_message_and_stops_all() {
    let mut shutdown = Shutdown::new();
    shutdown
        .service("steady", |ctx| {
            ctx.wait();
            Ok::<(), String>(())
        })
        .unwrap()
        .service("crashy", |_ctx| -> Result<(), String> {
            panic!("index out of bounds in crashy")
        })
        .unwrap();
    let report = shutdown.wait();

    assert_eq!(
        report.cause(),
        &shutdown::Cause::ServiceFailed("crashy".into())
    );
    assert_eq!(
        report.services()[1].outcome().to_string(),
        "panicked: index out of bounds in crashy"
    );
    assert_eq!(report.services()[0].outcome().to_string(), "ok");
    assert_eq!(report.exit_code(), 1);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_service_panic_is_reported_whole_with_its_payload_thread_and_location() {
    #[derive(Debug, PartialEq)]
    struct Fatal(u16);
    let mut shutdown = Shutdown::new();
    shutdown
        .service("crashy", |_ctx| -> Result<(), String> {
            std::panic::panic_any(Fatal(503))
        })
        .unwrap();
    let report = shutdown.wait();
    let ServiceOutcome::Panicked(panic) = report.services()[0].outcome() else {
        panic!("expected the service's panic: {report}");
    };
    assert_eq!(*panic.downcast_ref::<Fatal>().unwrap(), Fatal(503));
    assert!(
        panic.thread().is_some_and(|t| t.contains("service-crashy")),
        "{panic:?}"
    );
    assert!(panic.location().unwrap().contains(file!()), "{panic:?}");
    assert_eq!(
        report.services()[0].outcome().to_string(),
        "panicked: non-string panic payload"
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn continue_policy_keeps_the_others_running_after_a_failure() {
    // Both services end on their own. Under StopAll the failure would be the cause, whatever
    // the order of their ends; under Continue only "every service ended" is.
    let mut shutdown = Shutdown::new();
    shutdown
        .service_with("optional", ErrorPolicy::Continue, |_ctx| Err("no GPU"))
        .unwrap()
        .service_with(
            "also-optional",
            ErrorPolicy::Continue,
            |_ctx| -> Result<(), String> { panic!("no disk") },
        )
        .unwrap()
        .service("main", |_ctx| Ok::<(), String>(()))
        .unwrap();
    let report = shutdown.wait();
    assert_eq!(report.cause(), &shutdown::Cause::ServicesEnded);
    assert_eq!(report.services()[0].outcome().to_string(), "error: no GPU");
    assert_eq!(
        report.services()[1].outcome().to_string(),
        "panicked: no disk"
    );
    assert_eq!(
        report.exit_code(),
        1,
        "a failed service is not a clean exit"
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn services_that_all_end_on_their_own_end_the_wait() {
    let mut shutdown = Shutdown::new();
    for name in ["one", "two"] {
        shutdown.service(name, |_ctx| Ok::<(), String>(())).unwrap();
    }
    let report = shutdown.wait();
    assert_eq!(report.cause(), &shutdown::Cause::ServicesEnded);
    assert_eq!(report.exit_code(), 0);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn no_services_runs_the_drains_in_reverse_order_and_returns() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(30));
    for name in ["pool", "pipeline", "log"] {
        let order = Arc::clone(&order);
        shutdown.drain(name, move |remaining: Duration| {
            assert!(remaining <= Duration::from_secs(30));
            order.lock().push(name);
            Ok::<(), String>(())
        });
    }
    // Nothing can ever start a shutdown (no service, no signal, no trigger): it runs at once.
    let report = shutdown.wait();
    assert_eq!(report.cause(), &shutdown::Cause::ServicesEnded);
    assert_eq!(*order.lock(), ["log", "pipeline", "pool"]);
    assert!(report.drains().iter().all(|d| d.outcome().is_ok()));
    assert_eq!(report.exit_code(), 0);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn no_services_but_a_live_trigger_waits_for_it() {
    let shutdown = Shutdown::new();
    let trigger = shutdown.trigger();
    let (started_tx, started) = bounded(0);
    let waiter = threads::spawn("test-waiter", move || {
        started_tx.send(()).unwrap();
        shutdown.wait()
    })
    .unwrap();
    started.recv().unwrap();
    trigger.fire();
    let report = waiter.join().unwrap();
    assert_eq!(report.cause(), &shutdown::Cause::Triggered);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn drain_errors_and_panics_are_reported_and_the_next_drain_still_runs() {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut shutdown = Shutdown::new();
    let r = Arc::clone(&ran);
    shutdown.drain("first", move |_: Duration| {
        r.lock().push("first");
        Ok::<(), String>(())
    });
    shutdown.drain("panics", |_: Duration| -> Result<(), String> {
        panic!("drain blew up")
    });
    shutdown.drain("fails", |_: Duration| Err("flush failed"));
    let report = shutdown.wait();
    let outcomes: Vec<_> = report
        .drains()
        .iter()
        .map(|d| d.outcome().to_string())
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "panicked: drain blew up", "error: flush failed"]
    );
    assert_eq!(*ran.lock(), ["first"]);
    assert_eq!(report.exit_code(), 1);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

/// Runs `wait` on its own thread and fails (instead of hanging the test) if it does not return
/// within the bound.
fn wait_within_bound(shutdown: Shutdown) -> shutdown::Report {
    let (tx, rx) = bounded(1);
    let waiter = threads::spawn("test-waiter", move || {
        let _ = tx.send(shutdown.wait());
    })
    .unwrap();
    let report = rx
        .recv_timeout(LEAK_TIMEOUT)
        .expect("wait() did not return: a service's end was never reported");
    waiter.join().unwrap();
    report
}

#[test]
fn a_drain_whose_panic_payload_panics_when_dropped_is_reported_as_panicked_and_the_next_drain_runs()
{
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(30));
    let r = Arc::clone(&ran);
    shutdown.drain("runs-last", move |_: Duration| {
        r.lock().push("runs-last");
        Ok::<(), String>(())
    });
    shutdown.drain("bomb", |_: Duration| -> Result<(), String> {
        std::panic::panic_any(PanicsOnDrop("the drain's payload"))
    });
    let report = wait_within_bound(shutdown);
    assert!(
        matches!(report.drains()[1].outcome(), ServiceOutcome::Panicked(_)),
        "{report}"
    );
    assert_eq!(report.drains()[0].outcome().to_string(), "ok", "{report}");
    assert_eq!(*ran.lock(), ["runs-last"], "the next drain really ran");
    assert_eq!(report.exit_code(), 1);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_service_whose_panic_payload_panics_when_dropped_reports_its_end() {
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(30));
    shutdown
        .service("steady", |ctx| {
            ctx.wait();
            Ok::<(), String>(())
        })
        .unwrap()
        .service("bomb", |_ctx| -> Result<(), String> {
            std::panic::panic_any(PanicsOnDrop("the service's payload"))
        })
        .unwrap();
    let report = wait_within_bound(shutdown);
    assert_eq!(
        report.cause(),
        &shutdown::Cause::ServiceFailed("bomb".into())
    );
    assert!(matches!(
        report.services()[1].outcome(),
        ServiceOutcome::Panicked(_)
    ));
    assert_eq!(report.services()[0].outcome().to_string(), "ok");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_drain_that_never_starts_and_panics_when_dropped_is_reported_and_wait_returns() {
    let (release_tx, release) = bounded::<()>(0);
    let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    shutdown.service("slow", stubborn(release)).unwrap();
    let bomb = PanicsOnDrop("the unstarted drain");
    shutdown.drain("bomb", move |_: Duration| {
        let _keep = &bomb;
        Ok::<(), String>(())
    });
    shutdown.drain("plain", |_: Duration| Ok::<(), String>(()));
    shutdown.trigger().fire();
    let mut report = shutdown.wait();
    let ServiceOutcome::Panicked(panic) = report.drains()[0].outcome() else {
        panic!("expected the drop's panic: {report}");
    };
    assert!(
        panic
            .message()
            .contains("the unstarted drain panicked in its drop"),
        "{panic}"
    );
    assert_eq!(report.drains()[1].outcome().to_string(), "not started");
    drop(release_tx);
    assert!(report.join_stragglers(LEAK_TIMEOUT));
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn dropping_a_shutdown_whose_drain_panics_when_dropped_does_not_panic() {
    let mut shutdown = Shutdown::new();
    let bomb = PanicsOnDrop("the dropped shutdown's drain");
    shutdown.drain("bomb", move |_: Duration| {
        let _keep = &bomb;
        Ok::<(), String>(())
    });
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(shutdown)));
    assert!(dropped.is_ok(), "the drain's panic escaped Shutdown's drop");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_slow_cancel_callback_does_not_hold_up_the_shutdown() {
    // `after_cancel` callbacks run on homebound's callback runner, never inside the shutdown's
    // cancel: this one blocks until after `wait()` returned, which could not happen if the
    // shutdown waited for it. (The report's time starts before the cancel, so the cancel itself
    // counts.)
    let shutdown = Shutdown::new().grace(Duration::from_secs(30));
    let (release_tx, release) = bounded::<()>(0);
    shutdown
        .context()
        .after_cancel(move || {
            let _ = release.recv();
        })
        .detach();
    shutdown.trigger().fire();
    let report = wait_within_bound(shutdown);
    assert_eq!(report.cause(), &shutdown::Cause::Triggered);
    drop(release_tx);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_parent_context_cancel_begins_the_shutdown_with_its_cause() {
    let (seen_tx, seen) = bounded(1);
    let parent = Context::new();
    let mut shutdown = Shutdown::with_parent(&parent);
    shutdown
        .service("server", move |ctx| {
            ctx.wait();
            seen_tx.send(ctx.cause()).unwrap();
            Ok::<(), String>(())
        })
        .unwrap();
    parent.cancel();
    let report = wait_within_bound(shutdown);
    assert_eq!(report.cause(), &shutdown::Cause::ContextCancelled);
    assert_eq!(
        seen.recv().unwrap(),
        Some(Cause::Cancelled),
        "the parent's cause"
    );
    assert_eq!(report.exit_code(), 0);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn with_a_parent_and_nothing_else_wait_waits_for_the_parent() {
    let parent = Context::new();
    let mut shutdown = Shutdown::with_parent(&parent);
    let (drained_tx, drained) = bounded(1);
    shutdown.drain("flush", move |_: Duration| {
        drained_tx.send(()).unwrap();
        Ok::<(), String>(())
    });
    let (started_tx, started) = bounded(0);
    let waiter = threads::spawn("test-waiter", move || {
        started_tx.send(()).unwrap();
        shutdown.wait()
    })
    .unwrap();
    started.recv().unwrap();
    assert!(
        drained.recv_timeout(Duration::from_millis(50)).is_err(),
        "wait returned without the parent's cancel"
    );
    parent.cancel();
    let report = waiter.join().unwrap();
    assert_eq!(report.cause(), &shutdown::Cause::ContextCancelled);
    assert_eq!(report.drains()[0].outcome().to_string(), "ok");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn stop_on_any_end_stops_all_when_a_service_returns_ok() {
    let (seen_tx, seen) = bounded(2);
    let mut shutdown = Shutdown::new().stop_on(shutdown::StopOn::AnyEnd);
    for name in ["sidecar-a", "sidecar-b"] {
        let seen_tx = seen_tx.clone();
        shutdown
            .service(name, move |ctx| {
                ctx.wait();
                seen_tx.send(shutdown_cause(&ctx)).unwrap();
                Ok::<(), String>(())
            })
            .unwrap();
    }
    shutdown
        .service("job", |_ctx| Ok::<(), String>(()))
        .unwrap();
    let report = wait_within_bound(shutdown);
    let cause = shutdown::Cause::ServiceReturned("job".into());
    assert_eq!(report.cause(), &cause);
    assert_eq!(
        seen.iter().take(2).collect::<Vec<_>>(),
        [Some(cause.clone()), Some(cause)]
    );
    assert_eq!(report.exit_code(), 0);
    assert!(report.is_ok());
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn stop_on_any_end_still_names_a_failure_and_spares_continue_services() {
    let (ending_tx, ending) = bounded::<()>(2);
    let mut shutdown = Shutdown::new().stop_on(shutdown::StopOn::AnyEnd);
    let e = ending_tx.clone();
    shutdown
        .service_with("optional", ErrorPolicy::Continue, move |_ctx| {
            e.send(()).unwrap();
            Ok::<(), String>(())
        })
        .unwrap()
        .service_with("also-optional", ErrorPolicy::Continue, move |_ctx| {
            ending_tx.send(()).unwrap();
            Err("no GPU")
        })
        .unwrap()
        .service("main", move |_ctx| {
            // Fails only after both sidecars have returned: their ends must not stop anyone.
            ending.recv().unwrap();
            ending.recv().unwrap();
            Err::<(), _>("main crashed")
        })
        .unwrap()
        .service("steady", |ctx| {
            ctx.wait();
            Ok::<(), String>(())
        })
        .unwrap();
    let report = wait_within_bound(shutdown);
    assert_eq!(
        report.cause(),
        &shutdown::Cause::ServiceFailed("main".into())
    );
    assert_eq!(report.services()[0].outcome().to_string(), "ok");
    assert_eq!(report.services()[3].outcome().to_string(), "ok");
    assert_eq!(report.exit_code(), 1);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn stragglers_taken_out_of_the_report_can_be_joined_on_their_own() {
    let (release_tx, release) = bounded::<()>(0);
    let mut shutdown = Shutdown::new().grace(Duration::from_millis(20));
    shutdown.service("stubborn", stubborn(release)).unwrap();
    shutdown.trigger().fire();
    let mut report = shutdown.wait();
    let mut stragglers = report.take_stragglers().expect("a straggler");
    assert!(report.take_stragglers().is_none());
    assert!(
        report.join_stragglers(Duration::ZERO),
        "nothing left in the report"
    );
    assert_eq!(stragglers.threads().len(), 1);
    assert!(stragglers.threads()[0].contains("service-stubborn"));
    assert!(stragglers.join_timeout(Duration::from_millis(1)).is_empty());
    assert!(!stragglers.is_empty());
    drop(release_tx);
    let late = stragglers.join_timeout(LEAK_TIMEOUT);
    assert!(stragglers.is_empty());
    assert_eq!(late.len(), 1);
    assert_eq!(
        (late[0].name(), late[0].outcome().to_string().as_str()),
        ("stubborn", "ok")
    );
    assert!(late[0].overran());
    // The report itself still says what happened by the end of the grace period.
    assert_eq!(
        report.services()[0].outcome().to_string(),
        "still running after the grace period"
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

/// A service that ignores cancellation until `release` is dropped or sent to. It waits in a
/// homebound wait (on a context of its own), so virtual time can move past it.
fn stubborn(release: Receiver<()>) -> impl FnOnce(Context) -> Result<(), String> + Send {
    move |_ctx| {
        let _ = Context::new().recv(&release);
        Ok(())
    }
}

// Virtual time (issue 18): the grace period ends at exactly 50 ms, without waiting for it.
#[cfg(feature = "testing")]
#[test]
fn a_service_that_ignores_cancellation_is_a_named_straggler_and_can_be_joined_later() {
    homebound::testing::virtual_time(|_| {
        let (release_tx, release) = bounded::<()>(0);
        let mut shutdown = Shutdown::new().grace(Duration::from_millis(50));
        shutdown.service("stubborn", stubborn(release)).unwrap();
        shutdown.drain("never-started", |_: Duration| Ok::<(), String>(()));
        shutdown.trigger().fire();
        let mut report = shutdown.wait();
        assert_eq!(report.elapsed(), Duration::from_millis(50));
        assert_eq!(report.services()[0].elapsed(), Duration::from_millis(50));

        let stragglers: Vec<_> = report.stragglers().map(|s| s.name().to_owned()).collect();
        assert_eq!(stragglers, ["stubborn"]);
        assert_eq!(
            report.services()[0].outcome().to_string(),
            "still running after the grace period"
        );
        assert_eq!(report.drains()[0].outcome().to_string(), "not started");
        assert_eq!(report.exit_code(), 1);
        let text = report.to_string();
        assert!(
            text.contains("service stubborn: still running after the grace period"),
            "{text}"
        );
        // Its thread really is alive, and the leak check says so.
        let leaked = threads::wait_none_alive(Duration::from_millis(10)).unwrap_err();
        assert!(leaked.threads()[0].name().contains("service-stubborn"));

        drop(release_tx);
        assert!(report.join_stragglers(LEAK_TIMEOUT));
        let late = &report.services()[0];
        assert_eq!(late.outcome().to_string(), "ok");
        assert!(late.overran());
        assert_eq!(
            report.exit_code(),
            1,
            "overrunning the grace period is not clean"
        );
    });
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn zero_grace_does_not_wait_at_all() {
    let (release_tx, release) = bounded::<()>(0);
    let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    shutdown.service("slow", stubborn(release)).unwrap();
    shutdown.drain("skipped", |_: Duration| Ok::<(), String>(()));
    shutdown.trigger().fire();
    let started = Instant::now();
    let mut report = shutdown.wait();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        report.services()[0].outcome().to_string(),
        "still running after the grace period"
    );
    assert_eq!(report.drains()[0].outcome().to_string(), "not started");
    assert_eq!(report.exit_code(), 1);
    drop(release_tx);
    assert!(report.join_stragglers(LEAK_TIMEOUT));
    threads::assert_none_alive(LEAK_TIMEOUT);
}

// Virtual time (issue 18): the 2 s grace costs no wall time, and the drain thread has started
// "stuck" before it ends whatever the machine's load (time moves only once everyone waits).
#[cfg(feature = "testing")]
#[test]
fn a_drain_that_overruns_the_grace_period_is_a_straggler_and_later_drains_do_not_start() {
    homebound::testing::virtual_time(|_| {
        let (release_tx, release) = bounded::<()>(0);
        let (entered_tx, entered) = bounded::<()>(1);
        let mut shutdown = Shutdown::new().grace(Duration::from_secs(2));
        shutdown.drain("registered-first", |_: Duration| Ok::<(), String>(()));
        shutdown.drain("stuck", move |_: Duration| {
            entered_tx.send(()).unwrap();
            let _ = Context::new().recv(&release);
            Ok::<(), String>(())
        });
        let mut report = shutdown.wait();
        assert_eq!(report.elapsed(), Duration::from_secs(2));
        entered.recv().unwrap();
        assert_eq!(
            report.drains()[1].outcome().to_string(),
            "still running after the grace period"
        );
        assert_eq!(report.drains()[0].outcome().to_string(), "not started");
        assert_eq!(report.stragglers().count(), 1);

        drop(release_tx);
        assert!(report.join_stragglers(LEAK_TIMEOUT));
        assert_eq!(report.drains()[1].outcome().to_string(), "ok");
        assert!(report.drains()[1].overran());
        assert_eq!(report.drains()[0].outcome().to_string(), "not started");
    });
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn on_signals_twice_is_harmless_and_its_thread_is_joined() {
    let mut shutdown = Shutdown::new();
    shutdown.on_signals().unwrap().on_signals().unwrap();
    let listeners = threads::live()
        .into_iter()
        .filter(|t| t.owner() == "signals")
        .count();
    assert_eq!(listeners, 1);
    shutdown.trigger().fire();
    let report = shutdown.wait();
    assert_eq!(report.cause(), &shutdown::Cause::Triggered);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn dropping_without_wait_cancels_and_joins_every_service() {
    let (seen_tx, seen) = bounded(1);
    let mut shutdown = Shutdown::new();
    shutdown
        .service("loop", move |ctx| {
            ctx.wait();
            seen_tx.send(()).unwrap();
            Ok::<(), String>(())
        })
        .unwrap();
    drop(shutdown);
    seen.try_recv()
        .expect("the service saw the cancel before drop returned");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_periodic_job_runs_as_a_service() {
    let (runs_tx, runs) = unbounded();
    let mut shutdown = Shutdown::new();
    shutdown
        .service("cleaner", move |ctx| {
            let report = every(&ctx, Duration::from_millis(1), |_| runs_tx.send(()))?;
            report.into_result().map(drop)
        })
        .unwrap();
    let trigger = shutdown.trigger();
    let waiter = threads::spawn("test-waiter", move || shutdown.wait()).unwrap();
    for _ in 0..3 {
        runs.recv().unwrap();
    }
    trigger.fire();
    let report = waiter.join().unwrap();
    assert_eq!(report.services()[0].outcome().to_string(), "ok");
    assert_eq!(report.exit_code(), 0);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

// ---------------------------------------------------------------------------------------------
// Real signals, in a child process: this test binary re-run with HOMEBOUND_SHUTDOWN_CHILD set.

const CHILD_ENV: &str = "HOMEBOUND_SHUTDOWN_CHILD";

/// The child side. Ignored in normal runs; the parent runs it with `--ignored --exact`.
#[test]
#[ignore = "entry point for the signal tests' child process"]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let say = |line: &str| println!("CHILD {line}");
    let mut shutdown = Shutdown::new().grace(match mode.as_str() {
        "stubborn" => Duration::from_millis(300),
        "force" | "force-drain" => Duration::from_secs(60),
        _ => Duration::from_secs(10),
    });
    shutdown.on_signals().unwrap();
    // Keeps "stubborn" services blocked for the whole life of the process.
    let (_hold, blocked) = bounded::<()>(0);
    match mode.as_str() {
        "clean" | "after" => {
            shutdown
                .service("worker", |ctx| {
                    ctx.wait();
                    println!("CHILD worker stopping: {}", ctx.cause().unwrap());
                    Ok::<(), String>(())
                })
                .unwrap();
            shutdown.drain("flush", |_: Duration| Ok::<(), String>(()));
        }
        "stubborn" => {
            shutdown.service("stubborn", stubborn(blocked)).unwrap();
        }
        "force" => {
            shutdown
                .service("stuck", move |ctx| {
                    ctx.wait();
                    println!("CHILD CANCELLED");
                    let _ = blocked.recv();
                    Ok::<(), String>(())
                })
                .unwrap();
        }
        "force-drain" => {
            shutdown
                .service("quick", |ctx| {
                    ctx.wait();
                    Ok::<(), String>(())
                })
                .unwrap();
            shutdown.drain("stuck-flush", move |_: Duration| {
                println!("CHILD DRAINING");
                let _ = blocked.recv();
                Ok::<(), String>(())
            });
        }
        "early" => {
            // A signal before wait() is remembered: wait() begins the shutdown at once.
            signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
            shutdown
                .service("late-starter", |ctx| {
                    ctx.wait();
                    Ok::<(), String>(())
                })
                .unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
    say("READY");
    let report = shutdown.wait();
    println!("{report}");
    if mode == "after" {
        // The default action is back: the next SIGTERM ends the process.
        say("AFTER");
        let (_tx, rx) = bounded::<()>(0);
        let _ = rx.recv_timeout(Duration::from_secs(60));
        say("STILL ALIVE");
    }
    std::process::exit(report.exit_code());
}

#[test]
fn sigterm_shuts_down_cleanly_within_the_grace_period() {
    let mut child = ChildRun::start(CHILD_ENV, "clean");
    child.expect_line("CHILD READY");
    let sent = Instant::now();
    child.signal(libc::SIGTERM);
    let (status, output) = child.finish();
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "exceeded the grace period"
    );
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(
        output.contains("CHILD worker stopping: received SIGTERM"),
        "{output}"
    );
    assert!(output.contains("shutdown: received SIGTERM"), "{output}");
    assert!(output.contains("service worker: ok"), "{output}");
    assert!(output.contains("drain flush: ok"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn sigint_shuts_down_cleanly_too() {
    let mut child = ChildRun::start(CHILD_ENV, "clean");
    child.expect_line("CHILD READY");
    child.signal(libc::SIGINT);
    let (status, output) = child.finish();
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(output.contains("shutdown: received SIGINT"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_straggler_is_named_and_the_process_still_exits() {
    let mut child = ChildRun::start(CHILD_ENV, "stubborn");
    child.expect_line("CHILD READY");
    let sent = Instant::now();
    child.signal(libc::SIGTERM);
    let (status, output) = child.finish();
    assert!(sent.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("service stubborn: still running after the grace period"),
        "{output}"
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_second_signal_forces_the_exit_at_once() {
    let mut child = ChildRun::start(CHILD_ENV, "force");
    child.expect_line("CHILD READY");
    let sent = Instant::now();
    child.signal(libc::SIGTERM);
    child.expect_line("CHILD CANCELLED");
    child.signal(libc::SIGINT);
    let (status, output) = child.finish();
    // The grace period is 60 s: only the second signal can end it this soon.
    assert!(sent.elapsed() < Duration::from_secs(30));
    assert_eq!(status.code(), Some(128 + libc::SIGINT), "{output}");
    assert!(output.contains("forced by a second SIGINT"), "{output}");
    assert!(output.contains("service stuck: still running"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_second_signal_during_a_stuck_drain_forces_the_exit() {
    let mut child = ChildRun::start(CHILD_ENV, "force-drain");
    child.expect_line("CHILD READY");
    let sent = Instant::now();
    child.signal(libc::SIGINT);
    child.expect_line("CHILD DRAINING");
    child.signal(libc::SIGTERM);
    let (status, output) = child.finish();
    assert!(sent.elapsed() < Duration::from_secs(30));
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{output}");
    assert!(
        output.contains("shutdown: received SIGINT; forced by a second SIGTERM"),
        "{output}"
    );
    assert!(output.contains("service quick: ok"), "{output}");
    assert!(
        output.contains("drain stuck-flush: still running"),
        "{output}"
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_signal_before_wait_is_not_lost() {
    let child = ChildRun::start(CHILD_ENV, "early");
    let (status, output) = child.finish();
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(output.contains("shutdown: received SIGTERM"), "{output}");
    assert!(output.contains("service late-starter: ok"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn after_the_shutdown_a_signal_has_its_default_action_again() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = ChildRun::start(CHILD_ENV, "after");
    child.expect_line("CHILD READY");
    child.signal(libc::SIGTERM);
    child.expect_line("CHILD AFTER");
    child.signal(libc::SIGTERM);
    let (status, output) = child.finish();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{output}");
    assert!(!output.contains("STILL ALIVE"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_registered_pool_is_drained_and_its_queue_runs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let pool = Arc::new(homebound::pool::Pool::builder().workers(2).build().unwrap());
    let ran = Arc::new(AtomicUsize::new(0));
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(10));
    let (p, r) = (pool.clone(), ran.clone());
    shutdown
        .service("producer", move |_ctx| {
            for _ in 0..100 {
                let r = r.clone();
                p.execute(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })
        .unwrap();
    shutdown.drain("pool", pool.clone());
    let report = shutdown.wait();
    assert_eq!(report.drains()[0].outcome().to_string(), "ok", "{report}");
    assert_eq!(ran.load(Ordering::SeqCst), 100, "every accepted task ran");
    assert!(
        pool.execute(|_| ()).is_err(),
        "the drained pool accepts nothing"
    );
    drop(pool);
    homebound::threads::assert_none_alive(Duration::from_secs(10));
}

// Virtual time (issue 18): the 800 ms grace ends exactly, without waiting for it.
#[cfg(feature = "testing")]
#[test]
fn a_pool_whose_task_overruns_the_grace_is_reported_and_cancelled() {
    homebound::testing::virtual_time(|_| {
        let pool = homebound::pool::Pool::builder().workers(1).build().unwrap();
        let (started_tx, started) = crossbeam_channel::bounded(1);
        let slow = pool
            .submit_named("slow-upload", move |ctx| {
                started_tx.send(()).unwrap();
                ctx.sleep(Duration::from_secs(3600)) // cancel-aware: ends when drained by force
            })
            .unwrap();
        let queued = pool.submit(|_| ()).unwrap();
        started.recv().unwrap();
        let mut shutdown = Shutdown::new().grace(Duration::from_millis(800));
        shutdown.drain("pool", pool);
        let report = shutdown.wait();
        // The pool drain spends 3/4 of the grace on an orderly shutdown, then forces it.
        assert_eq!(report.elapsed(), Duration::from_millis(600));
        let homebound::shutdown::ServiceOutcome::Error(message) = report.drains()[0].outcome()
        else {
            panic!("expected an error: {report}")
        };
        assert!(message.contains("slow-upload"), "{message}");
        assert!(message.contains("1 queued task(s) cancelled"), "{message}");
        assert!(
            slow.join().unwrap().is_err(),
            "the running task saw the cancel"
        );
        assert!(matches!(
            queued.join(),
            Err(homebound::task::JoinError::NotStarted(_))
        ));
    });
    homebound::threads::assert_none_alive(Duration::from_secs(10));
}

#[test]
fn a_pipeline_service_drains_what_it_read_when_shutdown_stops_its_intake() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let (read, written) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(10));
    let trigger = shutdown.trigger();
    let (r, w) = (read.clone(), written.clone());
    shutdown
        .service("pipeline", move |ctx| {
            // The pipeline runs under its own context; the service's context only stops intake,
            // so everything already read still flows through every stage.
            let run = homebound::Context::new();
            let source = (0u64..).inspect(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            });
            homebound::pipeline::Pipeline::from_iter(&run, source)
                .map(2, |n| n * 2)
                .batch(64, Duration::from_millis(5))
                .stop_intake_on(&ctx)
                .for_each(|batch| {
                    if w.fetch_add(batch.len() as u64, Ordering::SeqCst) > 10_000 {
                        trigger.fire();
                    }
                })
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .unwrap();
    let report = shutdown.wait();
    assert_eq!(report.exit_code(), 0, "{report}");
    assert!(written.load(Ordering::SeqCst) > 10_000);
    assert_eq!(
        read.load(Ordering::SeqCst),
        written.load(Ordering::SeqCst),
        "every item read was written: the open batches were flushed"
    );
    homebound::threads::assert_none_alive(Duration::from_secs(10));
}
