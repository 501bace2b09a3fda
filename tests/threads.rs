//! Integration tests for the thread registry and the leak check (promises T1–T4), including a
//! planted leak that proves the check can fail.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::{Context, threads};

const BOUND: Duration = Duration::from_secs(10);

fn no_leaks() {
    threads::assert_none_alive(BOUND);
}

#[test]
fn spawned_threads_are_named_listed_and_deregistered_on_join() {
    let (release_tx, release) = bounded::<()>(0);
    let handle = threads::spawn("registry-demo", move || {
        let _ = release.recv();
        std::thread::current().name().map(str::to_owned)
    })
    .unwrap();
    let info = threads::live()
        .into_iter()
        .find(|t| t.name() == handle.name())
        .expect("listed");
    assert_eq!(info.owner(), "registry-demo");
    assert!(info.name().starts_with("homebound-registry-demo-"));
    assert_eq!(info.location().file(), file!());
    assert!(!info.is_daemon());
    let name = handle.name().to_owned();
    drop(release_tx);
    assert_eq!(handle.join().unwrap().as_deref(), Some(name.as_str()));
    assert!(threads::live().iter().all(|t| t.name() != name));
    no_leaks();
}

#[test]
fn planted_leak_is_caught_and_named() {
    let (release_tx, release) = bounded::<()>(0);
    let stuck = threads::spawn("planted-leak", move || {
        let _ = release.recv();
    })
    .unwrap();
    let leaked = threads::wait_none_alive(Duration::from_millis(30)).unwrap_err();
    assert_eq!(leaked.threads().len(), 1);
    assert_eq!(leaked.threads()[0].owner(), "planted-leak");
    let message = panic::catch_unwind(|| threads::assert_none_alive(Duration::from_millis(30)))
        .map_err(|p| homebound::task::panic_message(&*p))
        .unwrap_err();
    assert!(message.contains("thread leak"), "{message}");
    assert!(message.contains("homebound-planted-leak-"), "{message}");
    assert!(message.contains(file!()), "{message}");
    drop(release_tx);
    stuck.join().unwrap();
    no_leaks();
}

#[test]
fn a_detached_thread_counts_until_it_exits() {
    let (release_tx, release) = bounded::<()>(0);
    let handle = threads::spawn("detached", move || {
        let _ = release.recv();
    })
    .unwrap();
    let name = handle.name().to_owned();
    drop(handle);
    assert!(threads::wait_none_alive(Duration::from_millis(20)).is_err());
    drop(release_tx);
    // It deregisters itself from a thread-local destructor as it exits, without a join.
    no_leaks();
    assert!(threads::live().iter().all(|t| t.name() != name));
}

#[test]
fn threads_started_by_homebound_threads_inherit_the_origin() {
    let (release_tx, release) = bounded::<()>(0);
    let outer = threads::spawn("outer", move || {
        threads::spawn("inner", move || {
            let _ = release.recv();
        })
        .unwrap()
    })
    .unwrap();
    let inner = outer.join().unwrap();
    // The inner thread was started on this test thread's behalf, through `outer`.
    let leaked = threads::wait_none_alive(Duration::from_millis(20)).unwrap_err();
    assert!(leaked.threads().iter().any(|t| t.owner() == "inner"));
    drop(release_tx);
    inner.join().unwrap();
    no_leaks();
}

#[test]
fn threads_of_unrelated_origins_are_not_this_threads_leak() {
    let (release_tx, release) = bounded::<()>(0);
    let (spawned_tx, spawned) = bounded(1);
    let foreign = std::thread::spawn(move || {
        let h = threads::spawn("foreign", move || {
            let _ = release.recv();
        })
        .unwrap();
        spawned_tx.send(()).unwrap();
        h
    });
    spawned.recv().unwrap();
    // Not started on this thread's behalf: this thread's check passes at once...
    threads::assert_none_alive(Duration::ZERO);
    // ...while the process-wide view still lists it.
    assert!(threads::live().iter().any(|t| t.owner() == "foreign"));
    drop(release_tx);
    foreign.join().unwrap().join().unwrap();
    no_leaks();
}

#[test]
fn scoped_threads_are_registered_and_joined() {
    let data = [1u64, 2, 3];
    // The thread waits until it has been seen alive: otherwise it may finish and deregister
    // before `live()` is read (issue 12 item 9: this failed ~6% of runs).
    let (seen_tx, seen) = bounded::<()>(0);
    let sum = std::thread::scope(|s| {
        let h = threads::Builder::new("scoped")
            .spawn_scoped(s, || {
                let _ = seen.recv();
                data.iter().sum::<u64>()
            })
            .unwrap();
        assert!(threads::live().iter().any(|t| t.owner() == "scoped"));
        drop(seen_tx);
        h.join().unwrap()
    });
    assert_eq!(sum, 6);
    no_leaks();
}

#[test]
fn a_panicking_thread_is_joined_with_its_payload_and_deregistered() {
    let handle = threads::spawn("panics", || panic!("boom")).unwrap();
    let payload = handle.join().unwrap_err();
    assert_eq!(homebound::task::panic_message(&*payload), "boom");
    no_leaks();
}

#[test]
fn spawn_failure_is_an_error_and_registers_nothing() {
    // An impossible stack makes the OS refuse the thread (rayon's `failed_thread_stack`).
    let result = threads::Builder::new("too-big")
        .stack_size(isize::MAX as usize)
        .spawn(|| ());
    assert!(result.is_err());
    assert!(threads::live().iter().all(|t| t.owner() != "too-big"));
    no_leaks();
}

#[test]
fn the_timer_thread_is_a_daemon_the_leak_check_ignores() {
    let ctx = Context::new().with_timeout(Duration::from_millis(5));
    ctx.wait();
    let timer = threads::live()
        .into_iter()
        .find(|t| t.owner() == "timer")
        .expect("timer listed");
    assert!(timer.is_daemon());
    assert!(timer.name().starts_with("homebound-timer-"));
    // The timer may well have been started on this thread's behalf: the check must ignore it.
    threads::assert_none_alive(BOUND);
}

#[test]
fn leak_report_lists_every_survivor() {
    let (release_tx, release) = bounded::<()>(0);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let release = release.clone();
            threads::spawn("survivor", move || {
                let _ = release.recv();
            })
            .unwrap()
        })
        .collect();
    let leaked = threads::wait_none_alive(Duration::from_millis(10)).unwrap_err();
    assert_eq!(leaked.threads().len(), 3);
    assert!(
        leaked
            .to_string()
            .starts_with("3 homebound thread(s) still alive:")
    );
    let result = panic::catch_unwind(AssertUnwindSafe(|| drop(release_tx)));
    assert!(result.is_ok());
    for h in handles {
        h.join().unwrap();
    }
    no_leaks();
}

// ----- issue 12 item 4: a leak check never reports its caller -----

#[test]
fn a_leak_check_on_a_homebound_thread_excludes_that_thread() {
    // (The process-wide check excludes its caller the same way; it is not called here because
    // it would also take the lost panics other tests of this binary are about to check.)
    let watchdog = threads::spawn("watchdog", || {
        threads::wait_none_alive(Duration::from_millis(50))
    })
    .unwrap();
    let own = watchdog.join().unwrap();
    assert!(
        own.is_ok(),
        "the watchdog listed itself: {}",
        own.unwrap_err()
    );
    no_leaks();
}

#[test]
fn a_watchdog_still_sees_its_siblings() {
    let (release_tx, release) = bounded::<()>(0);
    let sibling = threads::spawn("sibling", move || {
        let _ = release.recv();
    })
    .unwrap();
    let watchdog = threads::spawn("watchdog", || {
        threads::wait_none_alive(Duration::from_millis(20))
            .unwrap_err()
            .threads()
            .iter()
            .map(|t| t.owner().to_owned())
            .collect::<Vec<_>>()
    })
    .unwrap();
    assert_eq!(watchdog.join().unwrap(), ["sibling"]);
    drop(release_tx);
    sibling.join().unwrap();
    no_leaks();
}

// ----- issue 12 item 6: panics nobody observed are reported -----

#[test]
fn a_detached_threads_panic_is_reported_by_the_leak_check() {
    let (go, wait) = bounded::<()>(0);
    let handle = threads::spawn("detached-panic", move || {
        let _ = wait.recv();
        panic!("nobody joins me");
    })
    .unwrap();
    drop(handle); // detached before it panics
    drop(go);
    let leaked = threads::wait_none_alive(BOUND).unwrap_err();
    assert!(leaked.threads().is_empty());
    let [lost] = leaked.panics() else {
        panic!("{leaked}")
    };
    assert_eq!(lost.panic().message(), "nobody joins me");
    assert!(
        lost.what()
            .starts_with("detached thread homebound-detached-panic-")
    );
    assert!(lost.panic().location().unwrap().contains(file!()));
    assert_eq!(lost.panic().spawn_location().unwrap().file(), file!());
    let message = leaked.to_string();
    assert!(message.contains("1 panic(s) nobody observed"), "{message}");
    // The check took it: the next one passes.
    no_leaks();
}

#[test]
fn a_handle_dropped_after_its_thread_panicked_reports_the_panic() {
    let handle = threads::spawn("panics-first", || panic!("before the drop")).unwrap();
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    // Not lost yet: the handle could still be joined.
    assert!(threads::take_lost_panics().is_empty());
    drop(handle);
    let lost = threads::take_lost_panics();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].panic().message(), "before the drop");
    no_leaks();
}

#[test]
fn joined_and_scoped_panics_are_observed_not_lost() {
    let joined = threads::spawn("joined", || panic!("seen by join")).unwrap();
    assert!(joined.join().is_err());
    let scoped = std::panic::catch_unwind(|| {
        std::thread::scope(|s| {
            let _unjoined = threads::Builder::new("scoped-panic")
                .spawn_scoped(s, || panic!("seen by the scope"))
                .unwrap();
        });
    });
    assert!(scoped.is_err(), "the scope re-raises it");
    no_leaks();
}
