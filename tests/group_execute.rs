//! `GroupScope::execute` (a task without a handle, Go's `errgroup.Go`) and the end of a task's
//! result when its handle is already gone. Nothing is lost without a handle: the group still
//! counts, waits for and reports every task. Every test ends with the leak check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::{Context, group, group::CollectAll, group::FirstSuccess, group::Group, threads};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

fn collect_all(limit: usize) -> Group<CollectAll> {
    Group::builder()
        .limit(limit)
        .policy(CollectAll)
        .build()
        .unwrap()
}

#[test]
fn every_executed_task_runs_once_with_and_without_a_limit() {
    let cases = [
        (Group::new(), 40),
        (Group::builder().limit(1).build().unwrap(), 300),
        (Group::builder().limit(3).queue(2).build().unwrap(), 300),
    ];
    for (group, n) in cases {
        let runs: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        group
            .run(&Context::new(), |g| {
                for run in &runs {
                    g.execute(move |_ctx| {
                        run.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    });
                }
            })
            .unwrap();
        let once = runs
            .iter()
            .filter(|r| r.load(Ordering::SeqCst) == 1)
            .count();
        assert_eq!(once, n);
    }
    no_leaks();
}

#[test]
fn the_first_error_of_an_executed_task_names_it() {
    let line = line!() + 6;
    let err = Group::builder()
        .limit(2)
        .build()
        .unwrap()
        .run(&Context::new(), |g| {
            g.execute(|_ctx| Err("broken"));
        })
        .unwrap_err();
    match err {
        group::Error::Failed { task, error } => {
            assert_eq!(error, "broken");
            assert_eq!(task.index(), 0);
            assert_eq!(task.name(), None);
            assert_eq!(task.location().file(), file!());
            assert_eq!(task.location().line(), line);
        }
        other => panic!("unexpected {other:?}"),
    }
    no_leaks();
}

#[test]
fn collect_all_gets_every_failure_and_panic_of_executed_tasks() {
    let failures = collect_all(2)
        .run(&Context::new(), |g| {
            for i in 0..6u32 {
                g.execute(move |_ctx| match i % 3 {
                    0 => Ok(()),
                    1 => Err(i),
                    _ => panic!("task {i} panicked"),
                });
            }
        })
        .unwrap_err();
    // Which tasks ran before the first panic cancelled the rest depends on scheduling; what
    // was reported must match each task's plan, once per task, with at least one panic.
    let mut seen = std::collections::BTreeSet::new();
    let mut panics = 0;
    for failure in failures.iter() {
        let i = failure.task().index() as u32;
        assert!(seen.insert(i), "task {i} reported twice");
        match failure {
            group::Error::Failed { error, .. } => assert!(i % 3 == 1 && *error == i),
            group::Error::Panicked { panic, .. } => {
                assert!(i % 3 == 2);
                assert_eq!(panic.message(), format!("task {i} panicked"));
                panics += 1;
            }
            group::Error::NotStarted { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(panics >= 1);
    no_leaks();
}

#[test]
fn tasks_executed_into_a_cancelled_group_are_reported_not_run() {
    let ran = AtomicUsize::new(0);
    let failures = collect_all(1)
        .run(&Context::new(), |g| {
            g.context().cancel_with("closed for the day");
            for _ in 0..3 {
                let ran = &ran;
                g.execute(move |_ctx| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
            }
        })
        .unwrap_err();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(failures.len(), 3);
    assert!(failures.iter().all(group::Error::is_not_started));
    no_leaks();
}

#[test]
fn an_executed_success_wins_a_race_and_all_failures_lose_it() {
    let race = Group::builder().policy(FirstSuccess).build().unwrap();
    let won = race.run(&Context::new(), |g| {
        g.execute(|_ctx| Err("mirror one is down"));
        g.execute(|_ctx| Ok(()));
    });
    assert!(won.is_ok());
    let lost = race
        .run(&Context::new(), |g| {
            g.execute(|_ctx| Err("mirror one is down"));
            g.execute(|_ctx| Err("mirror two is down"));
        })
        .unwrap_err();
    assert_eq!(lost.len(), 2);
    no_leaks();
}

/// A result whose `Drop` panics: user code that runs wherever the result dies.
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        panic!("the result's drop panicked");
    }
}

#[test]
fn a_result_whose_handle_is_gone_dies_on_the_worker_and_its_panic_is_the_tasks() {
    let (go_tx, go) = bounded::<()>(0);
    let failures = collect_all(1)
        .run(&Context::new(), |g| {
            let handle = g.spawn_named("grenade", move |_ctx| {
                go.recv().unwrap(); // the handle is dropped before this task ends
                Ok::<_, ()>(Grenade)
            });
            g.spawn_named("behind", |_ctx| Ok(()));
            drop(handle);
            go_tx.send(()).unwrap();
        })
        .unwrap_err();
    // The panic is reported as the task's; the only worker survived it and still consumed the
    // task queued behind (not started: the panic cancelled the group). Had the worker died,
    // `run` would wait forever for that task.
    let ends: Vec<(String, bool)> = failures
        .iter()
        .map(|f| (f.task().label(), f.is_panicked()))
        .collect();
    assert_eq!(ends, [("grenade".into(), true), ("behind".into(), false)]);
    match failures.iter().next() {
        Some(group::Error::Panicked { panic, .. }) => {
            assert_eq!(panic.message(), "the result's drop panicked");
        }
        other => panic!("unexpected {other:?}"),
    }
    no_leaks();
}
