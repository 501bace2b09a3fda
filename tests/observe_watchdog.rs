//! The watchdog reports each stuck task once, never a fast one, and hands its alerts to a
//! callback that runs off the watchdog's thread (a blocking callback does not stop the scans).

use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded};
use homebound::pool::Pool;
use homebound::threads::{self, Alert, Watchdog};
use homebound::{Context, scope};

const BOUND: Duration = Duration::from_secs(10);

/// The names of the stuck tasks reported, of this test's own tasks only (tests run in
/// parallel, and a watchdog sees the whole process).
fn stuck_names(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .filter_map(|a| match a {
            Alert::Stuck { task, .. } => Some(task.as_deref().unwrap_or("-").to_string()),
            _ => None,
        })
        .collect()
}

fn ours(alert: &Alert, prefix: &str) -> bool {
    matches!(alert, Alert::Stuck { task: Some(t), .. } if t.starts_with(prefix))
}

#[test]
fn a_stuck_task_is_reported_once_and_fast_tasks_never() {
    let pool = Pool::builder().name("wd-pool").workers(2).build().unwrap();
    let (started_tx, started) = bounded::<()>(1);
    let (release_tx, release) = bounded::<()>(0);
    let stuck = pool
        .submit_named("stuck", move |_| {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
    started.recv().unwrap();
    let mut watchdog = Watchdog::new()
        .stuck_after(Duration::from_millis(300))
        .growth_samples(0);
    let mut alerts = Vec::new();
    let deadline = Instant::now() + BOUND;
    // Fast tasks run the whole time the watchdog scans; none of them may be reported.
    let mut fast = 0u64;
    while stuck_names(&alerts).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the stuck task was never reported"
        );
        let handles: Vec<_> = (0..20)
            .map(|i| pool.submit_named("fast", move |_| i * 2).unwrap())
            .collect();
        alerts.extend(watchdog.check().into_iter().filter(|a| !ours(a, "slow-")));
        for h in handles {
            fast += h.join().unwrap();
        }
    }
    for _ in 0..20 {
        // Seen again and again: reported once.
        alerts.extend(watchdog.check().into_iter().filter(|a| !ours(a, "slow-")));
    }
    assert_eq!(stuck_names(&alerts), ["stuck"], "{alerts:?}");
    let Alert::Stuck {
        owner, running_for, ..
    } = &alerts[0]
    else {
        panic!("{alerts:?}")
    };
    assert_eq!(owner, "wd-pool");
    assert!(*running_for >= Duration::from_millis(300));
    assert!(fast > 0);
    drop(release_tx);
    stuck.join().unwrap();
    // Its worker ran fast tasks since: the next stuck task on it is a new report.
    let later: Vec<_> = watchdog
        .check()
        .into_iter()
        .filter(|a| !ours(a, "slow-"))
        .collect();
    assert!(stuck_names(&later).is_empty(), "{later:?}");
    pool.shutdown();
    threads::assert_none_alive(BOUND);
}

#[test]
fn started_watchdog_hands_alerts_to_the_callback_even_when_one_blocks() {
    let (alerts_tx, alerts) = unbounded::<Alert>();
    let (gate_tx, gate) = bounded::<()>(0);
    let watchdog = Watchdog::new()
        .stuck_after(Duration::from_millis(20))
        .every(Duration::from_millis(5))
        .growth_samples(0)
        .start(move |alert| {
            if ours(&alert, "slow-") {
                alerts_tx.send(alert).unwrap();
                let _ = gate.recv(); // a callback that blocks until the test is done
            }
        })
        .unwrap();
    let ctx = Context::new();
    let (in_first_tx, in_first) = bounded::<()>(1);
    let (in_second_tx, in_second) = bounded::<()>(1);
    let (go_second_tx, go_second) = bounded::<()>(1);
    let stop = ctx.clone();
    let group = threads::spawn("wd-driver", move || {
        scope(&ctx, |g| {
            g.spawn_named("slow-fetch", move |ctx| {
                in_first_tx.send(()).unwrap();
                // Stuck in a wait homebound knows: still a stuck task.
                let (_tx, never) = bounded::<()>(0);
                let _ = ctx.recv(&never);
                Ok::<_, ()>(())
            });
            // The second task exists only once the test says so (a task waiting for the
            // go-ahead would itself be a stuck task).
            let _ = go_second.recv();
            g.spawn_named("slow-parse", move |ctx| {
                in_second_tx.send(()).unwrap();
                ctx.wait();
                Ok::<_, ()>(())
            });
        })
    })
    .unwrap();
    in_first.recv().unwrap();
    let first = alerts.recv_timeout(BOUND).expect("the first stuck task");
    assert_eq!(stuck_names(std::slice::from_ref(&first)), ["slow-fetch"]);
    // The first callback is still blocked; the second task gets stuck only now.
    go_second_tx.send(()).unwrap();
    in_second.recv().unwrap();
    let second = alerts.recv_timeout(BOUND).expect("scans go on");
    assert_eq!(stuck_names(std::slice::from_ref(&second)), ["slow-parse"]);
    stop.cancel();
    group.join().unwrap().unwrap();
    watchdog.stop();
    drop(gate_tx);
    assert!(alerts.try_recv().is_err(), "each task once");
    threads::assert_none_alive(BOUND);
}
