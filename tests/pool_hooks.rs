//! Task hooks and histograms (issue 14 items 8 and 9): `before_task` / `after_task` see every
//! task's name, queue wait, run time and outcome; a panicking hook is contained; power-of-two
//! histograms of queue wait and run time give p50 / p99. Latches, never sleeps; conservation
//! after every scenario; the leak check at the end of every test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::unbounded;
use homebound::Context;
use homebound::pool::{Pool, TaskOutcome};

mod common;
use common::{conserved, leak_check, occupy};

type Seen = (Option<String>, Option<TaskOutcome>, Option<Duration>);

#[test]
fn the_hooks_see_every_task_with_its_name_and_outcome() {
    let (before_tx, before) = unbounded::<Seen>();
    let (after_tx, after) = unbounded::<Seen>();
    let pool = Pool::builder()
        .workers(1)
        .before_task(move |t| {
            before_tx
                .send((t.name().map(str::to_owned), t.outcome(), t.run_time()))
                .unwrap()
        })
        .after_task(move |t| {
            after_tx
                .send((t.name().map(str::to_owned), t.outcome(), t.run_time()))
                .unwrap()
        })
        .build()
        .unwrap();
    let (release, busy) = occupy(&pool); // unnamed, ends Completed
    let ok = pool.submit_named("ok", |_| 1).unwrap();
    let boom = pool
        .submit_named("boom", |_| -> u8 { panic!("hooked") })
        .unwrap();
    let cancelled = pool.submit_named("cancelled", |_| 0).unwrap();
    assert!(cancelled.cancel());
    let gone = Context::new();
    let skipped = pool
        .task(|_| 0)
        .name("skipped")
        .context(&gone)
        .submit()
        .unwrap();
    gone.cancel();
    drop(release);
    busy.join().unwrap();
    ok.join().unwrap();
    assert!(boom.join().is_err());
    assert!(cancelled.join().is_err() && skipped.join().is_err());
    pool.wait_idle().unwrap();
    let before: Vec<Seen> = before.try_iter().collect();
    let after: Vec<Seen> = after.try_iter().collect();
    let named = |v: &[Seen]| -> Vec<(Option<String>, Option<TaskOutcome>)> {
        v.iter().map(|(n, o, _)| (n.clone(), *o)).collect()
    };
    // `before` runs for every task taken (a cancelled one is found cancelled only as it
    // would start); it never sees a run time or an outcome.
    assert!(before.iter().all(|(_, o, r)| o.is_none() && r.is_none()));
    assert_eq!(
        named(&after),
        [
            (None, Some(TaskOutcome::Completed)),
            (Some("ok".into()), Some(TaskOutcome::Completed)),
            (Some("boom".into()), Some(TaskOutcome::Panicked)),
            (Some("cancelled".into()), Some(TaskOutcome::NotStarted)),
            (Some("skipped".into()), Some(TaskOutcome::NotStarted)),
        ]
    );
    assert!(after.iter().all(|(_, _, r)| r.is_some()));
    assert_eq!(
        before.len(),
        4,
        "all but the one skipped before it could start: {before:?}"
    );
    let m = conserved(&pool);
    assert_eq!(
        (m.completed, m.panicked, m.cancelled_before_start),
        (2, 1, 2)
    );
    pool.shutdown();
    leak_check();
}

#[test]
fn before_runs_on_the_worker_just_before_the_task_and_after_just_after() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (l1, l2) = (Arc::clone(&log), Arc::clone(&log));
    let pool = Pool::builder()
        .workers(1)
        .before_task(move |t| {
            l1.lock()
                .unwrap()
                .push(format!("before {}", t.name().unwrap()))
        })
        .after_task(move |t| {
            l2.lock()
                .unwrap()
                .push(format!("after {}", t.name().unwrap()))
        })
        .build()
        .unwrap();
    for name in ["a", "b"] {
        let log = Arc::clone(&log);
        pool.submit_named(name, move |_| {
            log.lock().unwrap().push(format!("run {name}"))
        })
        .unwrap()
        .join()
        .unwrap();
    }
    pool.wait_idle().unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "before a", "run a", "after a", "before b", "run b", "after b"
        ]
    );
    assert!(pool.metrics().is_conserved());
    pool.shutdown();
    leak_check();
}

#[test]
fn a_panicking_hook_is_contained_and_counted() {
    let pool = Pool::builder()
        .workers(1)
        .before_task(|_| panic!("before hook"))
        .after_task(|_| panic!("after hook"))
        .build()
        .unwrap();
    for i in 0..3 {
        assert_eq!(pool.submit(move |_| i).unwrap().join().unwrap(), i);
    }
    pool.wait_idle().unwrap();
    let m = conserved(&pool);
    assert_eq!((m.completed, m.hook_panics, m.workers_live), (3, 6, 1));
    pool.shutdown();
    leak_check();
}

#[test]
fn histograms_count_every_task_and_place_a_slow_one_high() {
    let pool = Pool::builder().workers(2).histograms(true).build().unwrap();
    for _ in 0..99 {
        pool.execute(|_| ()).unwrap();
    }
    pool.submit(|_| Context::new().sleep(Duration::from_millis(5)))
        .unwrap()
        .join()
        .unwrap()
        .ok();
    pool.wait_idle().unwrap();
    let m = conserved(&pool);
    let (wait, run) = (
        m.queue_wait_histogram.clone().unwrap(),
        m.run_time_histogram.clone().unwrap(),
    );
    assert_eq!((wait.count(), run.count()), (100, 100));
    assert!(run.p50().unwrap() <= run.p99().unwrap());
    // The slow task is the top 1%: the maximum is at least its 5 ms.
    assert!(
        run.percentile(1.0).unwrap() >= Duration::from_millis(5),
        "{run:?}"
    );
    let in_buckets: u64 = run
        .buckets()
        .map(|(lo, hi, n)| {
            assert!(lo < hi);
            n
        })
        .sum();
    assert_eq!(in_buckets, 100);
    pool.shutdown();
    // Off by default.
    let plain = Pool::builder().workers(1).build().unwrap();
    assert!(plain.metrics().run_time_histogram.is_none());
    plain.shutdown();
    leak_check();
}
