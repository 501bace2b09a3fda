//! What a full pool does (issue 14 item 3): `WhenFull::{Block, Reject, CallerRuns,
//! DiscardOldest}` and `max_blocked_submitters`, in the style of the JSR-166 TCK's rejected-
//! execution-handler tests (`CallerRunsPolicy`, `AbortPolicy`, `DiscardOldestPolicy`): latches,
//! never sleeps; the conservation identity after every scenario; the leak check at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::unbounded;
use homebound::pool::{Pool, SubmitError, WhenFull};
use homebound::task::JoinError;
use homebound::{Context, Panicked};

mod common;
use common::{leak_check, occupy};

/// A one-worker pool with a queue of `capacity`, its worker held and its queue filled.
fn full_pool(
    policy: WhenFull,
    capacity: usize,
) -> (
    Pool,
    crossbeam_channel::Sender<()>,
    Vec<homebound::pool::TaskHandle<usize>>,
) {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(capacity)
        .when_full(policy)
        .build()
        .unwrap();
    let (release, busy) = occupy(&pool);
    let _ = busy; // detached: ends when `release` drops
    let queued = (0..capacity)
        .map(|i| pool.try_submit(move |_| i).unwrap())
        .collect();
    (pool, release, queued)
}

fn conserved(pool: &Pool) {
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
}

#[test]
fn block_is_the_default_and_waits_for_room() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    assert_eq!(pool.when_full(), WhenFull::Block);
    assert_eq!(WhenFull::default(), WhenFull::Block);
    let (release, busy) = occupy(&pool);
    let queued = pool.try_submit(|_| 1).unwrap();
    let ctx = Context::new().with_timeout(Duration::from_millis(10));
    assert!(pool.submit_ctx(&ctx, |_| 2).unwrap_err().is_cancelled());
    drop(release);
    busy.join().unwrap();
    assert_eq!(queued.join().unwrap(), 1);
    conserved(&pool);
    pool.shutdown();
    leak_check();
}

#[test]
fn reject_hands_every_waiting_submit_its_task_back_at_once() {
    let (pool, release, queued) = full_pool(WhenFull::Reject, 1);
    let hour = Duration::from_secs(3600);
    assert!(pool.submit(|_| 0).unwrap_err().is_full());
    assert!(pool.submit_named("n", |_| 0).unwrap_err().is_full());
    assert!(pool.submit_timeout(|_| 0, hour).unwrap_err().is_full());
    assert!(
        pool.submit_ctx(&Context::new(), |_| 0)
            .unwrap_err()
            .is_full()
    );
    let back = pool.execute(|_| ()).unwrap_err();
    assert!(back.is_full());
    back.into_inner()(&Context::new()); // nothing lost: the caller has it
    drop(release);
    for h in queued {
        h.join().unwrap();
    }
    let m = pool.shutdown().metrics().clone();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!((m.rejected_full, m.completed), (5, 2));
    leak_check();
}

#[test]
fn caller_runs_runs_the_task_on_the_submitting_thread_and_returns_its_handle() {
    let handled = Arc::new(AtomicUsize::new(0));
    let pool = {
        let handled = Arc::clone(&handled);
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .when_full(WhenFull::CallerRuns)
            .panic_handler(move |_: &Panicked| {
                handled.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    let (release, busy) = occupy(&pool);
    let queued = pool.submit(|_| 1usize).unwrap();
    let here = std::thread::current().id();
    let inline = pool
        .submit(move |ctx| {
            assert!(!ctx.is_cancelled());
            std::thread::current().id() == here
        })
        .unwrap();
    assert!(inline.is_finished(), "it ran before submit returned");
    assert!(inline.join().unwrap());
    let panics = pool.submit(|_| -> u8 { panic!("inline boom") }).unwrap();
    assert!(matches!(panics.join(), Err(JoinError::Panicked(_))));
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    // try_submit never runs a task here: it reports Full.
    assert!(pool.try_submit(|_| 0).unwrap_err().is_full());
    let ran = Arc::new(AtomicUsize::new(0));
    {
        let ran = Arc::clone(&ran);
        pool.execute(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    drop(release);
    busy.join().unwrap();
    assert_eq!(queued.join().unwrap(), 1);
    let m = pool.shutdown().metrics().clone();
    assert!(m.is_conserved(), "{m:?}");
    // Three ran here (they never entered the pool), one try_submit was refused.
    assert_eq!((m.ran_by_caller, m.rejected_full, m.completed), (3, 4, 2));
    leak_check();
}

#[test]
fn caller_runs_from_inside_a_task_of_the_same_pool_does_not_deadlock() {
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .when_full(WhenFull::CallerRuns)
            .build()
            .unwrap(),
    );
    let inner = Arc::clone(&pool);
    let outer = pool
        .submit(move |_| {
            let queued = inner.submit(|_| "queued").unwrap(); // fills the queue
            // Full, and this is the pool's only worker: it runs inline here.
            let worker = std::thread::current().id();
            let inline = inner
                .submit(move |_| std::thread::current().id() == worker)
                .unwrap();
            (inline.join().unwrap(), queued.join().unwrap())
        })
        .unwrap();
    assert_eq!(outer.join().unwrap(), (true, "queued"));
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.ran_by_caller, 1);
    drop(pool);
    leak_check();
}

#[test]
fn discard_oldest_hands_the_displaced_tasks_to_the_hook_in_queue_order() {
    let (displaced_tx, displaced) = unbounded();
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(2)
        .when_full(WhenFull::DiscardOldest)
        .on_discard(move |task| displaced_tx.send(task).unwrap())
        .build()
        .unwrap();
    let (release, busy) = occupy(&pool);
    let handles: Vec<_> = (0..5usize)
        .map(|i| pool.submit_named(&format!("t{i}"), move |_| i).unwrap())
        .collect();
    // t0, t1, t2 made way for t2, t3, t4.
    let names: Vec<_> = displaced
        .try_iter()
        .map(|t| {
            let name = t.name().unwrap().to_owned();
            if name == "t0" {
                assert!(t.run()); // run by the submitter: its handle gets the value
            }
            name
        })
        .collect();
    assert_eq!(names, ["t0", "t1", "t2"]);
    drop(release);
    busy.join().unwrap();
    let ends: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
    assert!(matches!(ends[0], Ok(0)));
    assert!(
        ends[1..3]
            .iter()
            .all(|e| matches!(e, Err(JoinError::NotStarted(_))))
    );
    assert!(matches!(ends[3..], [Ok(3), Ok(4)]));
    let m = pool.shutdown().metrics().clone();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!((m.discarded, m.completed, m.accepted), (3, 3, 6));
    leak_check();
}

#[test]
fn discard_oldest_without_a_hook_resolves_the_displaced_handle_and_counts_it() {
    let (pool, release, queued) = full_pool(WhenFull::DiscardOldest, 1);
    let newer = pool.submit(|_| 10).unwrap();
    // A queued task cancelled through its handle is not "discarded": it was cancelled.
    let newest = pool.submit(|_| 11).unwrap();
    assert!(newest.cancel());
    let last = pool.submit(|_| 12).unwrap();
    drop(release);
    for h in queued {
        assert!(h.join().unwrap_err().is_not_started());
    }
    assert!(newer.join().unwrap_err().is_not_started());
    assert!(newest.join().unwrap_err().is_not_started());
    assert_eq!(last.join().unwrap(), 12);
    let m = pool.shutdown().metrics().clone();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!((m.discarded, m.cancelled_before_start), (2, 1), "{m:?}");
    leak_check();
}

#[test]
fn bad_full_policy_settings_are_build_errors() {
    let err = Pool::builder()
        .workers(1)
        .queue_capacity(0)
        .when_full(WhenFull::DiscardOldest)
        .build()
        .unwrap_err();
    assert!(err.is_config());
    assert!(
        err.to_string().contains("DiscardOldest needs a queue"),
        "{err}"
    );
    let err = Pool::builder()
        .workers(1)
        .max_blocked_submitters(0)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("max_blocked_submitters is 0"),
        "{err}"
    );
    let err = Pool::builder()
        .workers(1)
        .when_full(WhenFull::Reject)
        .max_blocked_submitters(2)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("WhenFull::Block only"), "{err}");
    let err = Pool::builder()
        .workers(1)
        .on_discard(drop)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("on_discard"), "{err}");
    leak_check();
}

#[test]
fn the_submitter_beyond_max_blocked_gets_its_task_back_at_once() {
    let pool = Arc::new(
        Pool::builder()
            .workers(1)
            .queue_capacity(1)
            .max_blocked_submitters(1)
            .build()
            .unwrap(),
    );
    assert_eq!(pool.max_blocked_submitters(), Some(1));
    let (release, busy) = occupy(&pool);
    let queued = pool.try_submit(|_| 1).unwrap();
    let blocked = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            // Refused while the other submitter holds the one blocking place: try again.
            let mut task = |_: &Context| 2;
            loop {
                match pool.submit(task) {
                    Ok(h) => return h.join().unwrap(),
                    Err(SubmitError::Full(f)) => task = f,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
        })
    };
    // Once the thread above waits for room, this submit is over the cap: refused at once. Until
    // then it may take the place itself (and time out): try again.
    let mut task = |_: &Context| 3;
    let refused = loop {
        match pool.submit_timeout(task, Duration::from_millis(20)) {
            Err(SubmitError::Full(f)) => break f,
            Err(SubmitError::Timeout(f)) => task = f,
            Err(e) => panic!("unexpected {e}"),
            Ok(h) => panic!("accepted while the pool is held: {h:?}"),
        }
    };
    assert_eq!(refused(&Context::new()), 3); // nothing lost
    drop(release);
    assert_eq!(blocked.join().unwrap(), 2);
    busy.join().unwrap();
    assert_eq!(queued.join().unwrap(), 1);
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert!(m.rejected_full >= 1);
    drop(pool);
    leak_check();
}
