//! A limited group's worker hands one task context to task after task while no task keeps,
//! clones, cancels or registers on it. These tests pin down that reuse is invisible: each task
//! still sees a fresh, uncancelled child of the group's context, and nothing one task left on
//! its context reaches another. `limit(1)` makes every task run on the same worker. Every test
//! ends with the leak check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use homebound::{Context, group, group::Group, threads};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

fn one_worker() -> Group {
    Group::builder().limit(1).name("one").build().unwrap()
}

/// Runs `first` and then `second` on the group's only worker, joining each before the next.
fn in_turn<'env, A, B>(first: A, second: B)
where
    A: for<'s> FnOnce(&group::Scope<'s, 'env, ()>),
    B: for<'s> FnOnce(&group::Scope<'s, 'env, ()>),
{
    one_worker()
        .run(&Context::new(), |g| {
            first(g);
            second(g);
        })
        .unwrap();
}

#[test]
fn a_task_that_cancels_its_context_leaves_the_next_task_uncancelled() {
    let next_was_cancelled = AtomicBool::new(true);
    let group_was_cancelled = AtomicBool::new(true);
    in_turn(
        |g| {
            let cancelled_own = g.spawn(|ctx| {
                ctx.cancel_with("this task is done with it");
                Ok(ctx.is_cancelled())
            });
            assert!(cancelled_own.join().unwrap());
        },
        |g| {
            let (next, group) = (&next_was_cancelled, &group_was_cancelled);
            let group_ctx = g.context().clone();
            g.spawn(move |ctx| {
                next.store(ctx.is_cancelled(), Ordering::SeqCst);
                group.store(group_ctx.is_cancelled(), Ordering::SeqCst);
                Ok(())
            })
            .join()
            .unwrap();
        },
    );
    assert!(!next_was_cancelled.load(Ordering::SeqCst));
    assert!(!group_was_cancelled.load(Ordering::SeqCst));
    no_leaks();
}

#[test]
fn a_context_a_task_keeps_is_never_handed_to_another_task() {
    let kept = one_worker()
        .run(&Context::new(), |g| {
            let a = g.spawn(|ctx| Ok::<_, ()>(ctx.clone())).join().unwrap();
            let b = g.spawn(|ctx| Ok(ctx.clone())).join().unwrap();
            let c = g.spawn(|ctx| Ok(ctx.clone())).join().unwrap();
            (a, b, c)
        })
        .unwrap();
    let (a, b, c) = kept;
    assert!(a != b && b != c && a != c);
    // Each is its own child: cancelling one touches no other.
    let fresh = one_worker()
        .run(&Context::new(), |g| {
            let a = g.spawn(|ctx| Ok::<_, ()>(ctx.clone())).join().unwrap();
            a.cancel();
            g.spawn(|ctx| Ok(ctx.is_cancelled())).join().unwrap()
        })
        .unwrap();
    assert!(!fresh);
    no_leaks();
}

#[test]
fn a_forgotten_cancel_callback_never_fires_for_a_later_task() {
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    in_turn(
        move |g| {
            g.spawn(move |ctx| {
                ctx.after_cancel(move || flag.store(true, Ordering::SeqCst))
                    .detach();
                Ok(())
            })
            .join()
            .unwrap();
        },
        |g| {
            // Cancelling the next task's context must not run the first task's callback.
            g.spawn(|ctx| {
                ctx.cancel();
                Ok(())
            })
            .join()
            .unwrap();
        },
    );
    // Nor does the group's end: the first task's context went with the first task, as it
    // would without reuse.
    assert!(!fired.load(Ordering::SeqCst));
    no_leaks();
}

#[test]
fn a_done_channel_one_task_took_is_not_the_next_tasks() {
    let (a, b) = one_worker()
        .run(&Context::new(), |g| {
            let a = g
                .spawn(|ctx| Ok::<_, ()>(ctx.done().clone()))
                .join()
                .unwrap();
            let b = g.spawn(|ctx| Ok(ctx.done().clone())).join().unwrap();
            (a, b)
        })
        .unwrap();
    // Otherwise whoever kept the first receiver would see the second task's cancel.
    assert!(!a.same_channel(&b));
    no_leaks();
}

#[test]
fn task_contexts_are_children_of_the_group_context() {
    let (saw_cancel_tx, saw_cancel) = crossbeam_channel::bounded::<bool>(1);
    let (started_tx, started) = crossbeam_channel::bounded::<()>(1);
    let result = one_worker().run(&Context::new(), |g| {
        // Reused or not, a task's context hears the group's cancel.
        g.spawn(|_ctx| Ok::<_, ()>(())).join().unwrap();
        g.spawn(move |ctx| {
            started_tx.send(()).unwrap();
            ctx.wait(); // returns once the group context is cancelled below
            saw_cancel_tx.send(ctx.is_cancelled()).unwrap();
            Ok(())
        });
        started.recv().unwrap();
        g.context().cancel_with("stop the waiting task");
    });
    assert!(result.is_ok());
    assert!(saw_cancel.recv().unwrap());
    no_leaks();
}
