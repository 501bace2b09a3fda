//! User code that runs inside a group's own bookkeeping rather than inside a task: a cancel
//! callback that panics when a failure cancels the group. It must neither kill the worker
//! (whose queued tasks would then never end) nor go unreported. Every test ends with the leak
//! check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use homebound::{Context, group, group::CollectAll, group::Group, task::JoinError, threads};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

#[test]
fn a_cancel_callback_that_panics_is_reported_and_the_group_still_ends() {
    let ran_after = Arc::new(AtomicUsize::new(0));
    let group = Group::builder()
        .limit(1)
        .policy(CollectAll)
        .build()
        .unwrap();
    let after = ran_after.clone();
    // The timeout form, so that a group left waiting shows up as stragglers, not a hang.
    let outcome = group.run_timeout(&Context::new(), Duration::from_secs(60), move |g| {
        g.context()
            .after_cancel(|| panic!("the cancel callback panicked"))
            .detach();
        g.spawn_named("first", |_ctx| -> Result<(), ()> {
            panic!("the task panicked")
        });
        g.spawn_named("second", move |_ctx| {
            after.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    });
    let failures = match outcome {
        Ok(Err(failures)) => failures,
        Ok(Ok(())) => panic!("the panics went unreported"),
        Err(stragglers) => panic!("the group never ended: {:?}", stragglers.tasks()),
    };
    let messages: Vec<String> = failures
        .iter()
        .filter_map(|f| match f {
            group::Error::Panicked { panic, .. } => Some(panic.message().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(messages, ["the task panicked"]);
    // The task panic cancelled the group, so the second task was reported, not run.
    let second = failures.iter().find(|f| f.task().name() == Some("second"));
    assert!(second.is_some_and(group::Error::is_not_started));
    assert_eq!(ran_after.load(Ordering::SeqCst), 0);
    // The callback ran on homebound's callback runner (not in the group's bookkeeping); its
    // panic is reported by the leak check, which waits for it.
    let leaked = threads::wait_none_alive(Duration::from_secs(10)).unwrap_err();
    let lost: Vec<&str> = leaked
        .panics()
        .iter()
        .map(|p| p.panic().message())
        .collect();
    assert_eq!(lost, ["the cancel callback panicked"]);
    no_leaks();
}

/// Panics when dropped: a capture whose `Drop` is user code that fails.
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        panic!("a callback's capture panicked when dropped");
    }
}

#[test]
fn a_panic_while_dropping_what_a_task_left_on_its_context_is_reported() {
    // Unlimited (the task's own thread) and limited (the worker replaces the context).
    for group in [Group::new(), Group::builder().limit(1).build().unwrap()] {
        let ran_after = Arc::new(AtomicUsize::new(0));
        let after = ran_after.clone();
        // The timeout form, so that a group left waiting shows up as stragglers, not a hang.
        let outcome = group.run_timeout(&Context::new(), Duration::from_secs(60), move |g| {
            g.spawn(|ctx| {
                let grenade = Grenade;
                // Never run (the task's context is not cancelled), only dropped with it.
                ctx.after_cancel(move || drop(grenade)).detach();
                Ok::<_, ()>(())
            })
            .join()
            .unwrap();
            g.execute(move |_ctx| {
                after.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        });
        match outcome {
            Ok(Err(group::Error::Panicked { panic, .. })) => {
                assert_eq!(
                    panic.message(),
                    "a callback's capture panicked when dropped"
                );
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(stragglers) => panic!("the group never ended: {:?}", stragglers.tasks()),
        }
        // The panic cancelled the group; the group still ended, and the task after it was
        // either run or reported, never lost.
        assert!(ran_after.load(Ordering::SeqCst) <= 1);
    }
    no_leaks();
}

/// An error whose `Drop` panics when it is `loud`: a failure the group discards (fail-fast
/// keeps only the first) runs that `Drop` inside the group's bookkeeping.
#[derive(Debug)]
struct Brittle {
    loud: bool,
}

impl Drop for Brittle {
    fn drop(&mut self) {
        if self.loud {
            panic!("a discarded error panicked when dropped");
        }
    }
}

#[test]
fn a_discarded_error_that_panics_when_dropped_still_ends_its_task_and_the_group() {
    // Limited (a worker settles the task) and unlimited (its own thread).
    for group in [
        Group::builder()
            .limit(1)
            .run_accepted(true)
            .build()
            .unwrap(),
        Group::builder().run_accepted(true).build().unwrap(),
    ] {
        let mut second = None;
        let outcome = group.run_timeout(&Context::new(), Duration::from_secs(60), |g| {
            let first = g.spawn(|_ctx| Err::<(), _>(Brittle { loud: false }));
            assert!(matches!(first.join(), Err(JoinError::Failed)));
            // Runs although the group is cancelled (`run_accepted`); its error is discarded.
            second = Some(g.spawn(|_ctx| Err::<(), _>(Brittle { loud: true })));
        });
        match outcome {
            Ok(Err(group::Error::Failed { .. })) => {}
            Ok(other) => panic!("the first error must be the group's: {other:?}"),
            Err(stragglers) => panic!("the group never ended: {:?}", stragglers.tasks()),
        }
        // The group waited for every task, so the second one has ended, with its own end.
        let second = second.expect("spawned");
        assert!(second.is_finished(), "the task's handle was never ended");
        assert!(matches!(second.join(), Err(JoinError::Failed)));
    }
    no_leaks();
}
