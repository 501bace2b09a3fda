//! Tests for `scope` and `Group`: the semantics of Go's errgroup tests (`TestZeroGroup`,
//! `TestWithContext`, `TestGoLimit`, `TestTryGo`, `TestPanic`) and conc's pool tests (limit,
//! "panics do not exhaust goroutines", "wait error is all returned errors"), plus promises
//! S1-S7 of the reliability bar. Every test ends with the leak check.

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::{
    Cause, Context, group, group::CollectAll, group::FirstSuccess, group::Group, group::Policy,
    scope, task::JoinError, threads,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// Tracks how many tasks run at once, and the peak.
#[derive(Default)]
struct Peak {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Peak {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }
    fn exit(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn smoke() {
    let ctx = Context::new();
    let answer = scope(&ctx, |g| {
        let h = g.spawn(|_ctx| Ok::<_, ()>(21));
        h.join().unwrap() * 2
    })
    .unwrap();
    assert_eq!(answer, 42);
    no_leaks();
}

#[test]
fn zero_group_returns_the_closure_value() {
    let r: Result<&str, group::Error<()>> = scope(&Context::new(), |_g| "nothing spawned");
    assert_eq!(r.unwrap(), "nothing spawned");
    let all: Result<i32, homebound::group::Failures<()>> = Group::builder()
        .policy(CollectAll)
        .build()
        .unwrap()
        .run(&Context::new(), |_g| 1);
    assert_eq!(all.unwrap(), 1);
    let race: Result<i32, homebound::group::Failures<()>> = Group::builder()
        .policy(FirstSuccess)
        .build()
        .unwrap()
        .run(&Context::new(), |_g| 2);
    assert_eq!(race.unwrap(), 2);
    no_leaks();
}

#[test]
fn tasks_borrow_from_the_caller_and_results_come_back_in_spawn_order() {
    let words = ["one".to_string(), "three".to_string(), "seven".to_string()];
    let mut lens = vec![0; words.len()];
    let handles = scope(&Context::new(), |g| {
        for (w, slot) in words.iter().zip(lens.iter_mut()) {
            g.spawn(move |_ctx| {
                *slot = w.len();
                Ok::<_, ()>(())
            });
        }
        words
            .iter()
            .map(|w| g.spawn(move |_ctx| Ok(w.to_uppercase())))
            .collect::<Vec<_>>()
    })
    .unwrap();
    assert_eq!(lens, [3, 5, 5]);
    let upper: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(upper, ["ONE", "THREE", "SEVEN"]);
    no_leaks();
}

#[test]
fn scope_waits_for_every_task_including_nested_spawns() {
    let ended = AtomicUsize::new(0);
    scope(&Context::new(), |g| {
        for _ in 0..4 {
            let inner = g.clone();
            let ended = &ended;
            g.spawn(move |_ctx| {
                for _ in 0..3 {
                    inner.spawn(move |ctx| {
                        ctx.sleep(ms(5))?;
                        ended.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    });
                }
                ended.fetch_add(1, Ordering::SeqCst);
                Ok::<_, homebound::Cancelled>(())
            });
        }
    })
    .unwrap();
    assert_eq!(ended.load(Ordering::SeqCst), 16);
    no_leaks();
}

#[test]
fn first_error_wins_and_cancels_the_group() {
    let ctx = Context::new();
    let (first_failed_tx, first_failed) = bounded::<()>(1);
    let err = scope(&ctx, |g| {
        g.spawn_named("first", move |_ctx| {
            let _signal = first_failed_tx; // dropped after the error is returned
            Err::<(), _>("first")
        });
        for i in 0..3 {
            let first_failed = first_failed.clone();
            g.spawn(move |ctx| {
                // Fail only after the first task has failed, and after seeing the cancel.
                let _ = first_failed.recv();
                ctx.wait();
                Err::<(), _>(["second", "third", "fourth"][i])
            });
        }
    })
    .unwrap_err();
    match err {
        group::Error::Failed { task, error } => {
            assert_eq!(error, "first");
            assert_eq!(task.name(), Some("first"));
        }
        other => panic!("expected the first error, got {other:?}"),
    }
    assert!(
        !ctx.is_cancelled(),
        "the caller's context is never cancelled by the group"
    );
    no_leaks();
}

#[test]
fn context_is_cancelled_on_error_with_the_failing_task_as_cause() {
    let causes = Mutex::new(Vec::new());
    let (started_tx, started) = unbounded::<()>();
    let _ = scope(&Context::new(), |g| {
        for _ in 0..3 {
            let (causes, started_tx) = (&causes, started_tx.clone());
            g.spawn(move |ctx| {
                started_tx.send(()).unwrap();
                let cause = ctx.wait();
                causes.lock().unwrap().push(cause.to_string());
                Ok(())
            });
        }
        // A task spawned after the group is cancelled never starts: fail once all are running.
        g.spawn_named("bad", move |_ctx| {
            for _ in 0..3 {
                started.recv().unwrap();
            }
            Err::<(), _>("boom")
        });
    });
    let causes = causes.into_inner().unwrap();
    assert_eq!(causes.len(), 3);
    for cause in causes {
        assert!(cause.contains("task 'bad' (#3) failed"), "{cause}");
    }
    no_leaks();
}

#[test]
fn cancelling_the_callers_context_stops_the_tasks() {
    let ctx = Context::new();
    let (started_tx, started) = unbounded::<()>();
    let canceller = {
        let ctx = ctx.clone();
        threads::spawn("canceller", move || {
            for _ in 0..3 {
                started.recv().unwrap();
            }
            ctx.cancel();
        })
        .unwrap()
    };
    let err = scope(&ctx, |g| {
        for _ in 0..3 {
            let started_tx = started_tx.clone();
            g.spawn(move |ctx| {
                started_tx.send(()).unwrap();
                ctx.sleep(Duration::from_secs(60))
            });
        }
    })
    .unwrap_err();
    assert!(
        matches!(&err, group::Error::Failed { error, .. } if *error.cause() == Cause::Cancelled)
    );
    canceller.join().unwrap();
    no_leaks();
}

#[test]
fn each_task_gets_its_own_child_context() {
    let ctx = Context::new();
    scope(&ctx, |g| {
        let a = g.spawn(|ctx| Ok::<_, ()>(ctx.clone()));
        let b = g.spawn(|ctx| Ok(ctx.clone()));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_ne!(a, b);
        a.cancel();
        assert!(!b.is_cancelled() && !g.context().is_cancelled());
        g.context().cancel();
        assert!(b.is_cancelled());
    })
    .unwrap();
    assert!(!ctx.is_cancelled());
    no_leaks();
}

fn check_limit(limit: usize) {
    let peak = Peak::default();
    let ran = AtomicUsize::new(0);
    let names = Mutex::new(BTreeSet::new());
    let group = Group::builder()
        .limit(limit)
        .name("limited")
        .build()
        .unwrap();
    group
        .run(&Context::new(), |g| {
            for _ in 0..limit * 10 {
                let (peak, ran, names) = (&peak, &ran, &names);
                g.spawn(move |ctx| {
                    peak.enter();
                    let name = std::thread::current().name().unwrap().to_string();
                    names.lock().unwrap().insert(name);
                    let slept = ctx.sleep(ms(1));
                    ran.fetch_add(1, Ordering::SeqCst);
                    peak.exit();
                    slept
                });
            }
        })
        .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), limit * 10);
    let peak = peak.peak.load(Ordering::SeqCst);
    assert!(peak >= 1 && peak <= limit, "peak {peak} with limit {limit}");
    let names = names.into_inner().unwrap();
    assert!(
        names.len() <= limit,
        "{} threads for limit {limit}",
        names.len()
    );
    assert!(names.iter().all(|n| n.starts_with("homebound-limited-")));
    no_leaks();
}

#[test]
fn limit_1_is_never_exceeded() {
    check_limit(1);
}

#[test]
fn limit_2_is_never_exceeded() {
    check_limit(2);
}

#[test]
fn limit_10_is_never_exceeded() {
    check_limit(10);
}

#[test]
fn many_threads_spawning_into_a_small_full_queue_lose_nothing() {
    for (limit, queue) in [(1, 1), (1, 2), (2, 3), (3, 64)] {
        let ran = AtomicUsize::new(0);
        let peak = Peak::default();
        let group = Group::builder().limit(limit).queue(queue).build().unwrap();
        group
            .run(&Context::new(), |g| {
                // Several non-group threads block in `spawn` at once.
                std::thread::scope(|s| {
                    for _ in 0..4 {
                        s.spawn(|| {
                            for _ in 0..50 {
                                let (ran, peak) = (&ran, &peak);
                                g.spawn(move |_ctx| {
                                    peak.enter();
                                    ran.fetch_add(1, Ordering::SeqCst);
                                    peak.exit();
                                    Ok::<_, ()>(())
                                });
                            }
                        });
                    }
                });
            })
            .unwrap();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            200,
            "limit {limit} queue {queue}"
        );
        assert!(peak.peak.load(Ordering::SeqCst) <= limit);
    }
    no_leaks();
}

#[test]
fn try_spawn_hands_the_closure_back_when_full() {
    let group = Group::builder().limit(1).queue(1).build().unwrap();
    let (release_tx, release) = bounded::<()>(0);
    let (started_tx, started) = bounded::<()>(0);
    let ran_late = AtomicBool::new(false);
    group
        .run(&Context::new(), |g| {
            g.spawn(move |_ctx| {
                started_tx.send(()).unwrap();
                let _ = release.recv();
                Ok::<_, ()>(())
            });
            started.recv().unwrap(); // the only worker is busy
            let queued = g
                .try_spawn(|_ctx| Ok(()))
                .expect("the queue has room for one");
            let err = g.try_spawn(|_ctx| Ok(())).unwrap_err();
            assert!(err.is_full());
            assert_eq!(err.to_string(), "the group's limit is reached");
            assert_eq!(format!("{err:?}"), "Full(..)");
            let closure = err.into_inner();
            drop(release_tx);
            assert!(queued.join().is_ok());
            // The closure we got back is intact: spawn it for real.
            let ran_late = &ran_late;
            g.spawn(move |ctx| {
                closure(ctx)?;
                ran_late.store(true, Ordering::SeqCst);
                Ok(())
            });
        })
        .unwrap();
    assert!(ran_late.load(Ordering::SeqCst));
    no_leaks();
}

#[test]
fn try_spawn_on_a_cancelled_group_hands_the_closure_back() {
    scope(&Context::new(), |g| {
        g.context().cancel();
        let err = g.try_spawn(|_ctx| Ok::<_, ()>(())).unwrap_err();
        assert!(err.is_cancelled());
    })
    .unwrap();
    no_leaks();
}

#[test]
fn spawn_after_cancel_does_not_start_the_task() {
    let ran = AtomicBool::new(false);
    let ctx = Context::new();
    let group = Group::builder().policy(CollectAll).build().unwrap();
    let failures = group
        .run(&ctx, |g| {
            g.context().cancel_with("stop");
            let ran = &ran;
            let h = g.spawn_named("late", move |_ctx| {
                ran.store(true, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
            match h.join() {
                Err(JoinError::NotStarted(c)) => assert_eq!(c.to_string(), "cancelled: stop"),
                other => panic!("expected not started, got {other:?}"),
            }
        })
        .unwrap_err();
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(failures.len(), 1);
    let only = failures.iter().next().unwrap();
    assert!(only.is_not_started());
    assert_eq!(only.task().name(), Some("late"));
    no_leaks();
}

#[test]
fn blocked_spawn_is_cancel_aware_and_the_task_is_reported_not_lost() {
    let group = Group::builder()
        .limit(1)
        .queue(0)
        .policy(CollectAll)
        .build()
        .unwrap();
    let (started_tx, started) = bounded::<()>(0);
    let ran_second = AtomicBool::new(false);
    let failures = group
        .run(&Context::new(), |g| {
            let group_ctx = g.context().clone();
            let canceller = threads::spawn("canceller", move || {
                started.recv().unwrap();
                group_ctx.cancel_with("enough");
            })
            .unwrap();
            g.spawn_named("busy", move |ctx| {
                started_tx.send(()).unwrap();
                ctx.wait();
                Err::<(), _>("stopped")
            });
            // The only worker is busy and the queue has no room: this blocks until the cancel.
            let ran_second = &ran_second;
            let second = g.spawn_named("waiting", move |_ctx| {
                ran_second.store(true, Ordering::SeqCst);
                Ok(())
            });
            assert!(matches!(second.join(), Err(JoinError::NotStarted(_))));
            canceller.join().unwrap();
        })
        .unwrap_err();
    assert!(!ran_second.load(Ordering::SeqCst));
    let names: Vec<_> = failures.iter().map(|f| f.task().label()).collect();
    assert_eq!(names, ["busy", "waiting"]);
    assert!(failures.iter().nth(1).unwrap().is_not_started());
    no_leaks();
}

#[test]
fn panics_are_reported_with_message_thread_and_spawn_location() {
    let sibling_saw_cancel = AtomicBool::new(false);
    let (started_tx, started) = bounded::<()>(1);
    let spawn_line = line!() + 9;
    let err = scope(&Context::new(), |g| {
        let saw = &sibling_saw_cancel;
        g.spawn(move |ctx| {
            started_tx.send(()).unwrap();
            ctx.wait();
            saw.store(true, Ordering::SeqCst);
            Ok(())
        });
        g.spawn_named("crasher", move |_ctx| -> Result<(), String> {
            started.recv().unwrap();
            panic!("kaboom {}", 7)
        });
    })
    .unwrap_err();
    match &err {
        group::Error::Panicked { task, panic } => {
            assert_eq!(panic.message(), "kaboom 7");
            assert!(panic.thread().unwrap().starts_with("homebound-crasher-"));
            assert_eq!(task.location().line(), spawn_line);
            assert!(task.location().file().ends_with("group.rs"));
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("task 'crasher' (#1)") && text.contains("kaboom 7"),
        "{text}"
    );
    assert!(sibling_saw_cancel.load(Ordering::SeqCst));
    no_leaks();
}

#[test]
fn a_non_string_panic_payload_is_reported_and_can_be_resumed() {
    let err = scope(&Context::new(), |g| {
        g.spawn(|_ctx| -> Result<(), ()> { panic::panic_any(42u32) });
    })
    .unwrap_err();
    let group::Error::Panicked { panic, .. } = err else {
        panic!("expected a panic")
    };
    assert_eq!(panic.message(), "non-string panic payload");
    let payload = panic::catch_unwind(AssertUnwindSafe(|| panic.resume())).unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    no_leaks();
}

#[test]
fn resume_panics_reraises_after_every_task_ended() {
    let ended = AtomicUsize::new(0);
    let group = Group::builder().resume_panics(true).build().unwrap();
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        group.run(&Context::new(), |g| {
            let (started_tx, started) = unbounded::<()>();
            for _ in 0..3 {
                let (ended, started_tx) = (&ended, started_tx.clone());
                g.spawn(move |ctx| {
                    started_tx.send(()).unwrap();
                    ctx.wait();
                    ended.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            g.spawn(move |_ctx| -> Result<(), ()> {
                for _ in 0..3 {
                    started.recv().unwrap();
                }
                panic!("original")
            });
        })
    }))
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"original"));
    assert_eq!(ended.load(Ordering::SeqCst), 3);
    no_leaks();
}

#[test]
fn a_panic_in_the_closure_waits_for_the_tasks_then_resumes() {
    let ended = AtomicBool::new(false);
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        let _: Result<(), group::Error<()>> = scope(&Context::new(), |g| {
            let ended = &ended;
            g.spawn(move |ctx| {
                ctx.wait(); // cancelled because the closure panicked
                ended.store(true, Ordering::SeqCst);
                Ok(())
            });
            panic!("closure");
        });
    }))
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"closure"));
    assert!(ended.load(Ordering::SeqCst));
    no_leaks();
}

#[test]
fn panics_do_not_exhaust_a_limited_group() {
    for policy_all in [false, true] {
        let ctx = Context::new();
        let spawn_all = |g: &homebound::group::Scope<'_, '_, ()>| {
            for i in 0..10 {
                g.spawn(move |_ctx| -> Result<(), ()> { panic!("task {i}") });
            }
        };
        if policy_all {
            let group = Group::builder()
                .limit(2)
                .policy(CollectAll)
                .build()
                .unwrap();
            let failures = group.run(&ctx, spawn_all).unwrap_err();
            assert_eq!(failures.len(), 10, "every task is accounted for");
            assert!(failures.iter().any(group::Error::is_panicked));
            assert!(
                failures
                    .iter()
                    .all(|f| f.is_panicked() || f.is_not_started())
            );
        } else {
            let group = Group::builder().limit(2).build().unwrap();
            assert!(group.run(&ctx, spawn_all).unwrap_err().is_panicked());
        }
    }
    no_leaks();
}

#[test]
fn collect_all_returns_every_error_in_the_same_shape() {
    let group = Group::builder().policy(CollectAll).build().unwrap();
    let one = group
        .run(&Context::new(), |g| {
            g.spawn(|_ctx| Ok::<_, String>(()));
            g.spawn_named("only", |_ctx| Err::<(), _>("single".to_string()));
        })
        .unwrap_err();
    assert_eq!(one.len(), 1);
    assert_eq!(
        one.to_string(),
        "1 task(s) failed: task 'only' (#1) failed: single"
    );

    let finished = AtomicUsize::new(0);
    let many = group
        .run(&Context::new(), |g| {
            for i in 0..6 {
                let finished = &finished;
                g.spawn(move |ctx| {
                    // Errors do not cancel under CollectAll: everyone runs to the end.
                    ctx.sleep(ms(5)).map_err(|c| c.to_string())?;
                    finished.fetch_add(1, Ordering::SeqCst);
                    if i % 2 == 1 {
                        Err(format!("odd {i}"))
                    } else {
                        Ok(())
                    }
                });
            }
        })
        .unwrap_err();
    assert_eq!(finished.load(Ordering::SeqCst), 6);
    let errors: Vec<String> = many
        .into_iter()
        .filter_map(group::Error::into_error)
        .collect();
    assert_eq!(errors, ["odd 1", "odd 3", "odd 5"]);
    no_leaks();
}

#[test]
fn first_success_cancels_the_rest() {
    let group = Group::builder().policy(FirstSuccess).build().unwrap();
    let (slow, fast) = group
        .run(&Context::new(), |g| {
            let (started_tx, started) = bounded::<()>(1);
            let slow = g.spawn(move |ctx| {
                started_tx.send(()).unwrap();
                ctx.sleep(Duration::from_secs(60)).map_err(|_| "lost")?;
                Ok::<_, &str>("slow")
            });
            let fast = g.spawn(move |_ctx| {
                started.recv().unwrap();
                Ok("fast")
            });
            (slow, fast)
        })
        .unwrap();
    assert!(fast.is_winner() && !slow.is_winner());
    assert_eq!(fast.join().unwrap(), "fast");
    assert!(matches!(slow.join(), Err(JoinError::Failed)));

    let all_failed = group
        .run(&Context::new(), |g| {
            for i in 0..3 {
                g.spawn(move |_ctx| Err::<(), _>(i));
            }
        })
        .unwrap_err();
    assert_eq!(all_failed.len(), 3);
    no_leaks();
}

#[test]
fn nested_groups_work() {
    let total = AtomicUsize::new(0);
    scope(&Context::new(), |outer| {
        for _ in 0..3 {
            let total = &total;
            outer.spawn(move |ctx| {
                let inner = Group::builder().limit(2).build().unwrap();
                inner.run(ctx, |g| {
                    for _ in 0..4 {
                        g.spawn(move |_ctx| {
                            total.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, ()>(())
                        });
                    }
                })
            });
        }
    })
    .unwrap();
    assert_eq!(total.load(Ordering::SeqCst), 12);
    no_leaks();
}

#[test]
fn nested_spawns_into_a_full_limited_group_do_not_deadlock() {
    let ran = AtomicUsize::new(0);
    let peak = Peak::default();
    let group = Group::builder().limit(1).queue(0).build().unwrap();
    group
        .run(&Context::new(), |g| {
            for _ in 0..3 {
                let inner = g.clone();
                let (ran, peak) = (&ran, &peak);
                g.spawn(move |_ctx| {
                    for _ in 0..3 {
                        inner.spawn(move |_ctx| {
                            peak.enter();
                            ran.fetch_add(1, Ordering::SeqCst);
                            peak.exit();
                            Ok(())
                        });
                    }
                    Ok::<_, ()>(())
                });
            }
        })
        .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 9);
    assert_eq!(peak.peak.load(Ordering::SeqCst), 1);
    no_leaks();
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let err = Group::builder().limit(0).build().unwrap_err();
    assert!(err.to_string().contains("limit(0)"), "{err}");
    let err = Group::builder().queue(4).build().unwrap_err();
    assert!(err.to_string().contains("without limit"), "{err}");
    let err = Group::builder().name("").build().unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    no_leaks();
}

#[test]
fn a_thread_that_cannot_be_spawned_is_reported_not_panicked() {
    // Far beyond any address space: the OS refuses the thread.
    const HUGE: usize = 1 << 50;
    let ran = AtomicBool::new(false);
    for limit in [None, Some(2)] {
        let builder = Group::builder().stack_size(HUGE).policy(CollectAll);
        let group = match limit {
            Some(n) => builder.limit(n),
            None => builder,
        }
        .build()
        .unwrap();
        let mut handle = None;
        let failures = group
            .run(&Context::new(), |g| {
                let ran = &ran;
                handle = Some(g.spawn_named("big", move |_ctx| {
                    ran.store(true, Ordering::SeqCst);
                    Ok::<_, ()>(())
                }));
            })
            .unwrap_err();
        assert_eq!(failures.len(), 1);
        let only = failures.into_iter().next().unwrap();
        assert!(matches!(&only, group::Error::Spawn { task, .. } if task.name() == Some("big")));
        assert!(matches!(handle.unwrap().join(), Err(JoinError::Spawn)));
    }
    assert!(!ran.load(Ordering::SeqCst));
    no_leaks();
}

#[test]
fn a_group_is_reusable_configuration() {
    let group = Group::builder().limit(2).build().unwrap();
    for round in 0..3 {
        let v = group
            .run(&Context::new(), |g| {
                g.spawn(move |_| Ok::<_, ()>(round)).join()
            })
            .unwrap();
        assert_eq!(v.unwrap(), round);
    }
    no_leaks();
}

#[test]
fn run_timeout_names_the_task_that_ignores_cancellation() {
    let (release_tx, release) = bounded::<()>(0);
    let (started_tx, started) = unbounded::<()>();
    // Generous: "obedient" must have seen the cancellation and ended by then, even under load.
    let stragglers = Group::new()
        .run_timeout(&Context::new(), Duration::from_secs(1), |g| {
            let started_too = started_tx.clone();
            g.spawn_named("obedient", move |ctx| {
                started_too.send(()).unwrap();
                ctx.wait();
                Ok::<_, &str>(())
            });
            g.spawn_named("deaf", move |_ctx| {
                started_tx.send(()).unwrap();
                let _ = release.recv(); // ignores the context
                Ok(())
            });
            g.spawn_named("failing", move |_ctx| {
                started.recv().unwrap();
                started.recv().unwrap();
                Err::<(), _>("cancels the group")
            });
        })
        .unwrap_err();
    assert_eq!(stragglers.tasks(), ["deaf"]);
    assert_eq!(stragglers.threads().len(), 1);
    assert!(stragglers.to_string().contains("deaf"));
    // Still alive and visible to the leak check until joined.
    let alive = threads::live();
    assert!(
        alive.iter().any(|t| t.name() == stragglers.threads()[0]),
        "{alive:?}"
    );
    assert!(threads::wait_none_alive(ms(1)).is_err());
    let stragglers = stragglers.join_timeout(ms(1)).unwrap_err();
    drop(release_tx);
    stragglers.join();
    no_leaks();
}

#[test]
fn run_timeout_returns_the_result_when_tasks_end_in_time() {
    let group = Group::builder().limit(2).build().unwrap();
    let inner = group
        .run_timeout(&Context::new(), Duration::from_secs(30), |g| {
            for i in 0..5 {
                g.spawn(move |_ctx| if i == 3 { Err("three") } else { Ok(i) });
            }
        })
        .unwrap();
    assert!(matches!(
        inner,
        Err(group::Error::Failed { error: "three", .. })
    ));
    no_leaks();
}

#[test]
fn handles_report_every_kind_of_end_and_outlive_the_group() {
    let group = Group::builder().policy(CollectAll).build().unwrap();
    // Errors do not cancel a collect-all group: both run, and the handles outlive it.
    let mut handles = None;
    let failures = group
        .run(&Context::new(), |g| {
            handles = Some((
                g.spawn(|_ctx| Ok::<_, &str>(1)),
                g.spawn(|_ctx| Err::<u8, _>("e")),
            ));
        })
        .unwrap_err();
    let (ok, failed) = handles.unwrap();
    assert!(ok.is_finished() && failed.is_finished());
    assert_eq!(ok.join().unwrap(), 1);
    assert!(matches!(failed.join(), Err(JoinError::Failed)));
    assert_eq!(failures.len(), 1);

    // Joined one by one inside the group, so each ends before the next is spawned.
    let failures = group
        .run(&Context::new(), |g| {
            let panicked = g.spawn(|_ctx| -> Result<(), &str> { panic!("p") }).join();
            assert!(matches!(panicked, Err(JoinError::Panicked(p)) if p.message() == "p"));
            let late = g.spawn(|_ctx| Ok(())).join(); // the panic cancelled the group
            assert!(matches!(late, Err(JoinError::NotStarted(_))));
        })
        .unwrap_err();
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().next().unwrap().is_panicked());
    no_leaks();
}

#[test]
fn running_tasks_are_visible_to_the_thread_registry() {
    let (started_tx, started) = bounded::<()>(0);
    let (release_tx, release) = bounded::<()>(0);
    scope(&Context::new(), |g| {
        g.spawn_named("visible", move |_ctx| {
            started_tx.send(()).unwrap();
            let _ = release.recv();
            Ok::<_, ()>(())
        });
        started.recv().unwrap();
        let live = threads::live();
        assert!(
            live.iter()
                .any(|t| t.name().starts_with("homebound-visible-")),
            "{live:?}"
        );
        assert!(threads::wait_none_alive(ms(1)).is_err());
        drop(release_tx);
    })
    .unwrap();
    no_leaks();
}

// ---- property test: random outcomes under every policy ----

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug)]
    pub enum Outcome {
        Ok,
        Err,
        Panic,
        /// Sleeps on the context; returns `Err` if cancelled.
        Slow(u64),
        /// Sleeps without looking at the context (bounded), then succeeds.
        IgnoresCancel(u64),
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            3 => Just(Outcome::Ok),
            2 => Just(Outcome::Err),
            1 => Just(Outcome::Panic),
            2 => (1u64..8).prop_map(Outcome::Slow),
            1 => (1u64..4).prop_map(Outcome::IgnoresCancel),
        ]
    }

    /// The group's result and every handle's end.
    type Report<P> = (
        Result<(), <P as Policy>::Error<String>>,
        Vec<Result<(), JoinError>>,
    );

    /// Runs the outcomes under `group`.
    fn run<P: Policy>(
        group: Group<P>,
        outcomes: &[Outcome],
        started: &AtomicUsize,
        ended: &AtomicUsize,
    ) -> Report<P> {
        let mut handles = Vec::new();
        let result = group.run(&Context::new(), |g| {
            for (i, &o) in outcomes.iter().enumerate() {
                handles.push(g.spawn(move |ctx| {
                    started.fetch_add(1, Ordering::SeqCst);
                    let _ended = Ended(ended);
                    match o {
                        Outcome::Ok => Ok(()),
                        Outcome::Err => Err(format!("planned {i}")),
                        Outcome::Panic => panic!("planned panic {i}"),
                        Outcome::Slow(n) => ctx.sleep(ms(n)).map_err(|_| format!("cancelled {i}")),
                        Outcome::IgnoresCancel(n) => {
                            std::thread::sleep(ms(n));
                            Ok(())
                        }
                    }
                }));
            }
        });
        let ends = handles.into_iter().map(|h| h.join()).collect();
        (result, ends)
    }

    struct Ended<'a>(&'a AtomicUsize);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn limit_group(limit: Option<usize>) -> homebound::group::Builder {
        match limit {
            Some(n) => Group::builder().limit(n),
            None => Group::builder(),
        }
    }

    fn check_accounting(
        n: usize,
        started: &AtomicUsize,
        ended: &AtomicUsize,
        ends: &[Result<(), JoinError>],
    ) {
        assert_eq!(
            started.load(Ordering::SeqCst),
            ended.load(Ordering::SeqCst),
            "every started task ended"
        );
        let not_started = ends
            .iter()
            .filter(|e| matches!(e, Err(JoinError::NotStarted(_))))
            .count();
        assert_eq!(
            started.load(Ordering::SeqCst) + not_started,
            n,
            "every task started or was reported"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn every_policy_reports_what_happened(
            outcomes in proptest::collection::vec(outcome(), 0..8),
            limit in proptest::option::of(1usize..4),
        ) {
            let n = outcomes.len();
            let has = |f: fn(&Outcome) -> bool| outcomes.iter().any(f);
            let any_panic = has(|o| matches!(o, Outcome::Panic));
            let any_err = has(|o| matches!(o, Outcome::Err));

            // Fail-fast: Ok exactly when no task fails on its own.
            let (started, ended) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let group = limit_group(limit).build().unwrap();
            let (result, ends) = run(group, &outcomes, &started, &ended);
            check_accounting(n, &started, &ended, &ends);
            match &result {
                Ok(()) => prop_assert!(!any_panic && !any_err),
                Err(group::Error::Failed { task, error }) => {
                    prop_assert!(any_panic || any_err);
                    let i = task.index();
                    let planned = matches!(outcomes[i], Outcome::Err) && *error == format!("planned {i}");
                    let cancelled = matches!(outcomes[i], Outcome::Slow(_)) && *error == format!("cancelled {i}");
                    prop_assert!(planned || cancelled, "{error}");
                }
                Err(group::Error::Panicked { task, .. }) => prop_assert!(matches!(outcomes[task.index()], Outcome::Panic)),
                Err(group::Error::NotStarted { .. }) => prop_assert!(any_panic || any_err),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }

            // Collect-all: without a panic, exactly the planned errors; with one, at least them.
            let (started, ended) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let group = limit_group(limit).policy(CollectAll).build().unwrap();
            let (result, ends) = run(group, &outcomes, &started, &ended);
            check_accounting(n, &started, &ended, &ends);
            let planned: BTreeSet<usize> = outcomes.iter().enumerate()
                .filter(|(_, o)| matches!(o, Outcome::Err | Outcome::Panic)).map(|(i, _)| i).collect();
            match result {
                Ok(()) => prop_assert!(planned.is_empty()),
                Err(failures) => {
                    let failed: BTreeSet<usize> = failures.iter().map(|f| f.task().index()).collect();
                    if any_panic {
                        prop_assert!(failed.is_superset(&planned));
                    } else {
                        prop_assert_eq!(failed, planned);
                    }
                }
            }

            // First-success: fails only when a task panicked or every task failed.
            let (started, ended) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let group = limit_group(limit).policy(FirstSuccess).build().unwrap();
            let (result, ends) = run(group, &outcomes, &started, &ended);
            check_accounting(n, &started, &ended, &ends);
            // Tasks queued behind the winner may never start, so judge by what actually ran.
            let ran_panic = ends.iter().any(|e| matches!(e, Err(JoinError::Panicked(_))));
            let any_ok = ends.iter().any(Result::is_ok);
            prop_assert_eq!(result.is_err(), ran_panic || (n > 0 && !any_ok));
            if outcomes.iter().all(|o| matches!(o, Outcome::Err)) && n > 0 {
                prop_assert!(result.is_err());
            }
            if !outcomes.iter().any(|o| matches!(o, Outcome::Err | Outcome::Panic)) {
                prop_assert!(result.is_ok());
            }

            no_leaks();
        }
    }
}
