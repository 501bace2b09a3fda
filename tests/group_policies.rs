//! The conc and errgroup policies: `RunAll` (conc's `WaitGroup`: nothing cancels, every
//! accepted task runs even when one panics, the panic is returned or re-raised after all ended)
//! and `FailFastCollect` (conc's `WithCancelOnError` with its errors collected: the first
//! failure cancels at once, and every failure is reported, with the one that cancelled named),
//! and `limit()` read back. Counters prove nothing is lost; every test ends with the leak check.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::unbounded;
use homebound::{
    Context, group,
    group::{CollectAll, FailFastCollect, Group, RunAll},
    threads,
};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// Counts its drops: captured by every closure, so a closure that was neither run nor dropped
/// would show up as a missing drop.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn run_all_runs_every_task_when_some_panic_and_returns_the_panics_after_all_ended() {
    const TASKS: usize = 100;
    for limit in [None, Some(2)] {
        let (ran, dropped, saw_cancel) = (
            AtomicUsize::new(0),
            Arc::new(AtomicUsize::new(0)),
            AtomicUsize::new(0),
        );
        let builder = Group::builder().policy(RunAll);
        let group = match limit {
            Some(n) => builder.limit(n),
            None => builder,
        }
        .build()
        .unwrap();
        let failures = group
            .run(&Context::new(), |g| {
                for i in 0..TASKS {
                    let (ran, saw_cancel) = (&ran, &saw_cancel);
                    let token = Token(dropped.clone());
                    g.spawn(move |ctx| {
                        let _token = token;
                        if ctx.is_cancelled() {
                            saw_cancel.fetch_add(1, Ordering::SeqCst);
                        }
                        ran.fetch_add(1, Ordering::SeqCst);
                        match i % 10 {
                            0 => panic!("task {i} panicked"),
                            5 => Err(format!("task {i} failed")),
                            _ => Ok(()),
                        }
                    });
                }
            })
            .unwrap_err();
        assert_eq!(ran.load(Ordering::SeqCst), TASKS, "limit {limit:?}");
        assert_eq!(dropped.load(Ordering::SeqCst), TASKS);
        assert_eq!(
            saw_cancel.load(Ordering::SeqCst),
            0,
            "nothing cancelled the group"
        );
        assert_eq!(failures.len(), 20);
        assert_eq!(failures.iter().filter(|f| f.is_panicked()).count(), 10);
        assert!(failures.cancelled_by().is_none());
        let indices: Vec<usize> = failures.iter().map(|f| f.task().index()).collect();
        let expected: Vec<usize> = (0..TASKS).filter(|i| i % 5 == 0).collect();
        assert_eq!(indices, expected);
    }
    no_leaks();
}

#[test]
fn run_all_with_resume_panics_re_raises_the_first_panic_after_every_task_ended() {
    let ran = AtomicUsize::new(0);
    let (release, gate) = unbounded::<()>();
    let group = Group::builder()
        .policy(RunAll)
        .resume_panics(true)
        .build()
        .unwrap();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        group.run(&Context::new(), |g| {
            g.spawn(|_ctx| -> Result<(), ()> { panic::panic_any(7_u32) });
            for _ in 0..4 {
                let (ran, gate) = (&ran, gate.clone());
                g.spawn(move |ctx| {
                    let _ = gate.recv(); // ends only when released, after the panic
                    assert!(!ctx.is_cancelled());
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            drop(release);
        })
    }))
    .unwrap_err();
    // The original payload, re-raised only once the others had ended.
    assert_eq!(unwound.downcast_ref::<u32>(), Some(&7));
    assert_eq!(ran.load(Ordering::SeqCst), 4);
    no_leaks();
}

#[test]
fn run_all_with_no_tasks_or_no_failures_succeeds() {
    let group = Group::builder().policy(RunAll).build().unwrap();
    group
        .run(&Context::new(), |_g: &group::Scope<'_, '_, ()>| {})
        .unwrap();
    let sum = AtomicUsize::new(0);
    group
        .run(&Context::new(), |g| {
            for i in 1..=10 {
                let sum = &sum;
                g.execute(move |_ctx| {
                    sum.fetch_add(i, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
            }
        })
        .unwrap();
    assert_eq!(sum.into_inner(), 55);
    no_leaks();
}

#[test]
fn run_all_still_stops_when_the_callers_context_is_cancelled() {
    let ctx = Context::new();
    let group = Group::builder().policy(RunAll).build().unwrap();
    let (started_tx, started) = unbounded::<()>();
    let failures = group
        .run(&ctx, |g| {
            for _ in 0..3 {
                let started_tx = started_tx.clone();
                g.spawn(move |ctx| {
                    started_tx.send(()).unwrap();
                    Err::<(), _>(ctx.wait().to_string())
                });
            }
            for _ in 0..3 {
                started.recv().unwrap();
            }
            ctx.cancel();
        })
        .unwrap_err();
    assert_eq!(failures.len(), 3);
    assert!(
        failures.cancelled_by().is_none(),
        "the caller cancelled, not a task"
    );
    no_leaks();
}

#[test]
fn fail_fast_collect_cancels_at_once_and_reports_every_failure() {
    const WAITING: usize = 5;
    const QUEUED: usize = 20;
    let (ran, dropped) = (AtomicUsize::new(0), Arc::new(AtomicUsize::new(0)));
    let (started_tx, started) = unbounded::<()>();
    let group = Group::builder()
        .policy(FailFastCollect)
        .limit(WAITING + 1)
        .build()
        .unwrap();
    let mut handles = Vec::new();
    let failures = group
        .run(&Context::new(), |g| {
            for _ in 0..WAITING {
                let (ran, started_tx, token) = (&ran, started_tx.clone(), Token(dropped.clone()));
                handles.push(g.spawn(move |ctx| {
                    let _token = token;
                    ran.fetch_add(1, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    Err::<(), _>(format!("stopped: {}", ctx.wait()))
                }));
            }
            for _ in 0..WAITING {
                started.recv().unwrap();
            }
            let token = Token(dropped.clone());
            handles.push(g.spawn_named("root", move |_ctx| {
                let _token = token;
                Err("disk full".to_string())
            }));
            g.context().wait(); // everything after this is spawned into a cancelled group
            for _ in 0..QUEUED {
                let (ran, token) = (&ran, Token(dropped.clone()));
                handles.push(g.spawn(move |_ctx| {
                    let _token = token;
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }));
            }
        })
        .unwrap_err();
    let total = WAITING + 1 + QUEUED;
    // Nothing lost: every closure was dropped, every accepted task is reported.
    assert_eq!(dropped.load(Ordering::SeqCst), total);
    assert_eq!(ran.load(Ordering::SeqCst), WAITING);
    assert_eq!(failures.len(), total);
    let root = failures.cancelled_by().unwrap();
    assert!(
        matches!(root, group::Error::Failed { task, error } if task.name() == Some("root") && error == "disk full")
    );
    let failed = failures
        .iter()
        .filter(|f| matches!(f, group::Error::Failed { .. }))
        .count();
    let not_started = failures.iter().filter(|f| f.is_not_started()).count();
    assert_eq!((failed, not_started), (WAITING + 1, QUEUED));
    for f in failures.iter().take(WAITING) {
        assert!(
            matches!(f, group::Error::Failed { error, .. } if error.contains("task 'root' (#5) failed"))
        );
    }
    assert!(handles.into_iter().all(|h| h.join().is_err()));
    no_leaks();
}

#[test]
fn fail_fast_collect_cancels_on_a_panic_and_names_it() {
    let group = Group::builder().policy(FailFastCollect).build().unwrap();
    let failures = group
        .run(&Context::new(), |g| {
            g.spawn(|ctx| Err::<(), _>(ctx.wait().to_string()));
            g.spawn_named("bad", |_ctx| -> Result<(), String> { panic!("bad row") });
        })
        .unwrap_err();
    assert_eq!(failures.len(), 2);
    let root = failures.cancelled_by().unwrap();
    assert!(root.is_panicked());
    assert_eq!(root.task().name(), Some("bad"));
    no_leaks();
}

#[test]
fn collect_all_names_the_panic_that_cancelled_it_but_not_its_errors() {
    let group = Group::builder().policy(CollectAll).build().unwrap();
    let failures = group
        .run(&Context::new(), |g| {
            g.spawn(|_ctx| Err::<(), _>("plain error"));
        })
        .unwrap_err();
    assert!(
        failures.cancelled_by().is_none(),
        "errors do not cancel a CollectAll group"
    );
    let failures = group
        .run(&Context::new(), |g| {
            g.spawn(|_ctx| -> Result<(), &str> { panic!("broke") });
        })
        .unwrap_err();
    assert!(failures.cancelled_by().unwrap().is_panicked());
    no_leaks();
}

#[test]
fn the_limit_is_readable_on_the_group_and_its_scope() {
    let unlimited = Group::builder().policy(RunAll).build().unwrap();
    let limited = Group::builder().limit(3).queue(0).build().unwrap();
    assert_eq!((unlimited.limit(), limited.limit()), (None, Some(3)));
    let inner = limited
        .run(&Context::new(), |g| {
            let nested = g.clone();
            let seen = g.spawn(move |_ctx| Ok::<_, ()>(nested.limit()));
            (g.limit(), seen)
        })
        .unwrap();
    assert_eq!(inner.0, Some(3));
    assert_eq!(inner.1.join().unwrap(), Some(3));
    unlimited
        .run(&Context::new(), |g: &group::Scope<'_, '_, ()>| {
            assert_eq!(g.limit(), None)
        })
        .unwrap();
    no_leaks();
}
