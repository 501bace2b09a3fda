//! The watchdog reports a thread count that keeps growing (alone in its test binary: the count
//! is the whole process's).

use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::threads::{self, Alert, Watchdog};

#[test]
fn a_thread_count_rising_at_every_scan_is_reported_and_a_steady_one_is_not() {
    let mut watchdog = Watchdog::new().growth_samples(3);
    let (release_tx, release) = bounded::<()>(0);
    assert!(watchdog.check().is_empty()); // the baseline
    for _ in 0..5 {
        assert!(watchdog.check().is_empty(), "steady: nothing to report");
    }
    let mut handles = Vec::new();
    let mut reports = Vec::new();
    for _ in 0..3 {
        let release = release.clone();
        // Registered before `spawn` returns: the next scan counts it.
        handles.push(
            threads::spawn("leaky", move || {
                let _ = release.recv();
            })
            .unwrap(),
        );
        reports.extend(watchdog.check());
    }
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        matches!(reports[0], Alert::Growing { from: 0, to: 3, .. }),
        "{reports:?}"
    );
    drop(release_tx);
    for h in handles {
        h.join().unwrap();
    }
    assert!(watchdog.check().is_empty(), "falling: nothing to report");
    threads::assert_none_alive(Duration::from_secs(10));
}
