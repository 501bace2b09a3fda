//! The rule for tasks a group accepted before (or while) it was cancelled. By default they are
//! not started and reported as such (prompt stop); with `run_accepted(true)` every accepted task
//! runs, as Go's `g.Go(f)` always runs `f`. Either way nothing is lost: counters of runs and of
//! closure drops account for every task. Every test ends with the leak check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::{
    Context, group,
    group::{FailFastCollect, Group, RunAll},
    task::JoinError,
    threads,
};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// Counts its drops: captured by every closure.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A limit-1 group whose only worker is held by a task that fails once released, with
/// `queued` tasks behind it. Returns (tasks run, closures dropped).
fn fail_with_queued_tasks(run_accepted: bool, queued: usize) -> (usize, usize) {
    let (ran, dropped) = (AtomicUsize::new(0), Arc::new(AtomicUsize::new(0)));
    let group = Group::builder()
        .limit(1)
        .run_accepted(run_accepted)
        .build()
        .unwrap();
    let (release, gate) = bounded::<()>(0);
    let err = group
        .run(&Context::new(), |g| {
            g.spawn_named("first", move |_ctx| {
                let _ = gate.recv();
                Err::<(), _>("first failed")
            });
            for _ in 0..queued {
                let (ran, token) = (&ran, Token(dropped.clone()));
                g.execute(move |ctx| {
                    let _token = token;
                    ran.fetch_add(1, Ordering::SeqCst);
                    ctx.check().map_err(|_| "cancelled")
                });
            }
            drop(release); // every task is queued behind "first" before it fails
        })
        .unwrap_err();
    // The group's error is the first failure either way.
    assert_eq!(err.into_error(), Some("first failed"));
    (ran.into_inner(), dropped.load(Ordering::SeqCst))
}

#[test]
fn by_default_tasks_queued_when_the_group_fails_never_start_and_are_dropped() {
    let (ran, dropped) = fail_with_queued_tasks(false, 50);
    assert_eq!(ran, 0);
    assert_eq!(dropped, 50);
    no_leaks();
}

#[test]
fn with_run_accepted_every_queued_task_runs_with_its_context_cancelled() {
    let (ran, dropped) = fail_with_queued_tasks(true, 50);
    assert_eq!(ran, 50);
    assert_eq!(dropped, 50);
    no_leaks();
}

#[test]
fn handles_and_failures_report_each_way_a_task_ended() {
    for run_accepted in [false, true] {
        let group = Group::builder()
            .policy(FailFastCollect)
            .limit(1)
            .run_accepted(run_accepted)
            .build()
            .unwrap();
        let (release, gate) = bounded::<()>(0);
        let mut handles = Vec::new();
        let failures = group
            .run(&Context::new(), |g| {
                handles.push(g.spawn(move |_ctx| {
                    let _ = gate.recv();
                    Err::<(), _>("first")
                }));
                for _ in 0..5 {
                    handles.push(g.spawn(|ctx| ctx.check().map_err(|_| "saw the cancel")));
                }
                drop(release);
            })
            .unwrap_err();
        let ends: Vec<bool> = handles
            .into_iter()
            .skip(1)
            .map(|h| matches!(h.join(), Err(JoinError::NotStarted(_))))
            .collect();
        assert_eq!(ends, [!run_accepted; 5], "run_accepted({run_accepted})");
        assert_eq!(failures.len(), 6);
        let not_started = failures.iter().filter(|f| f.is_not_started()).count();
        assert_eq!(not_started, if run_accepted { 0 } else { 5 });
    }
    no_leaks();
}

#[test]
fn with_run_accepted_a_task_spawned_after_the_cancel_still_runs() {
    for limit in [None, Some(1)] {
        let ctx = Context::new();
        let builder = Group::builder().run_accepted(true);
        let group = match limit {
            Some(n) => builder.limit(n),
            None => builder,
        }
        .build()
        .unwrap();
        let (seen_tx, seen) = unbounded::<bool>();
        let err = group
            .run(&ctx, |g| {
                ctx.cancel(); // the caller's context: the group is cancelled before any spawn
                for _ in 0..3 {
                    let seen_tx = seen_tx.clone();
                    g.execute(move |ctx| {
                        seen_tx.send(ctx.is_cancelled()).unwrap();
                        ctx.check()
                    });
                }
            })
            .unwrap_err();
        drop(seen_tx);
        assert_eq!(
            seen.iter().collect::<Vec<_>>(),
            [true; 3],
            "limit {limit:?}"
        );
        assert!(matches!(err, group::Error::Failed { .. }));
    }
    no_leaks();
}

#[test]
fn with_run_accepted_spawn_waits_for_room_even_when_the_group_is_cancelled() {
    let group = Group::builder()
        .limit(1)
        .queue(0)
        .run_accepted(true)
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    let (release, gate) = bounded::<()>(0);
    let (started_tx, started) = bounded::<()>(0);
    group
        .run(&Context::new(), |g| {
            g.spawn(move |_ctx| {
                started_tx.send(()).unwrap();
                let _ = gate.recv(); // holds the only worker until released
                Ok::<_, ()>(())
            });
            started.recv().unwrap();
            g.context().cancel();
            // The worker is busy and there is no queue: these spawns wait for it, not fail.
            let releaser = thread::spawn(move || drop(release));
            for _ in 0..3 {
                let ran = &ran;
                g.spawn(move |_ctx| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            releaser.join().unwrap();
        })
        .unwrap();
    assert_eq!(ran.into_inner(), 3);
    no_leaks();
}

#[test]
fn try_spawn_never_accepts_into_a_cancelled_group_and_hands_the_closure_back() {
    let dropped = Arc::new(AtomicUsize::new(0));
    for limit in [None, Some(2)] {
        let builder = Group::builder().run_accepted(true);
        let group = match limit {
            Some(n) => builder.limit(n),
            None => builder,
        }
        .build()
        .unwrap();
        group
            .run(&Context::new(), |g| {
                g.context().cancel();
                let token = Token(dropped.clone());
                let err = g
                    .try_spawn(move |_ctx| {
                        let _token = token;
                        Ok::<_, ()>(())
                    })
                    .unwrap_err();
                assert!(err.is_cancelled());
                drop(err.into_inner());
            })
            .unwrap();
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
    no_leaks();
}

#[test]
fn nothing_is_lost_when_the_caller_cancels_during_a_burst_of_spawns() {
    const TASKS: usize = 2_000;
    for run_accepted in [false, true] {
        let ctx = Context::new();
        let (ran, dropped) = (AtomicUsize::new(0), Arc::new(AtomicUsize::new(0)));
        let group = Group::builder()
            .policy(RunAll)
            .limit(2)
            .queue(8)
            .run_accepted(run_accepted)
            .build()
            .unwrap();
        let (halfway_tx, halfway) = bounded::<()>(1);
        let canceller = {
            let ctx = ctx.clone();
            thread::spawn(move || {
                let _ = halfway.recv();
                ctx.cancel();
            })
        };
        let result = group.run(&ctx, |g| {
            for i in 0..TASKS {
                if i == TASKS / 2 {
                    halfway_tx.send(()).unwrap();
                }
                let (ran, token) = (&ran, Token(dropped.clone()));
                g.execute(move |_ctx| {
                    let _token = token;
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
            }
        });
        canceller.join().unwrap();
        let ran = ran.into_inner();
        let not_started = match result {
            Ok(()) => 0,
            Err(failures) => failures.iter().filter(|f| f.is_not_started()).count(),
        };
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            TASKS,
            "every closure dropped once"
        );
        assert_eq!(ran + not_started, TASKS, "run_accepted({run_accepted})");
        if run_accepted {
            assert_eq!(ran, TASKS);
        }
    }
    no_leaks();
}
