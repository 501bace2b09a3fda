//! Why a group cancelled its context, seen by code that holds only the context (Go's
//! `context.Cause(ctx) == err` after errgroup): a panic is the cause as its `Panicked`; an error
//! is a `TaskFailed` naming the task, or with `ErrorAsCause` the error itself, while `run` still
//! returns the original. Every test ends with the leak check.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use homebound::{
    Cause, Context, Panicked, group,
    group::{ErrorAsCause, FailFastCollect, Group, Scope, TaskFailed},
    scope, threads,
};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// Spawns `n` tasks that report the cause they see once the group is cancelled, and returns
/// once all of them run (a task not yet started when the group is cancelled never starts).
fn watchers<'scope, 'env, E: Send + 'env>(g: &Scope<'scope, 'env, E>, n: usize) -> Receiver<Cause> {
    let (seen_tx, seen) = unbounded();
    let (started_tx, started) = unbounded::<()>();
    for _ in 0..n {
        let (seen_tx, started_tx) = (seen_tx.clone(), started_tx.clone());
        g.spawn(move |ctx| {
            started_tx.send(()).unwrap();
            seen_tx.send(ctx.wait()).unwrap();
            Ok(())
        });
    }
    for _ in 0..n {
        started.recv().unwrap();
    }
    seen
}

/// An error that counts its clones and drops: every copy the group makes must go away.
#[derive(Debug)]
struct Counted {
    code: u32,
    clones: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Counted {
    fn new(code: u32, clones: &Arc<AtomicUsize>, drops: &Arc<AtomicUsize>) -> Self {
        Counted {
            code,
            clones: clones.clone(),
            drops: drops.clone(),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Counted {
            code: self.code,
            clones: self.clones.clone(),
            drops: self.drops.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code {}", self.code)
    }
}

impl std::error::Error for Counted {}

#[test]
fn by_default_an_error_cancels_with_a_task_failed_naming_the_task() {
    let mut seen = None;
    let err = scope(&Context::new(), |g| {
        seen = Some(watchers(g, 1));
        g.spawn_named("bad", |_ctx| Err::<(), _>("boom"));
    })
    .unwrap_err();
    let seen = seen.unwrap();
    assert_eq!(err.into_error(), Some("boom"));
    let cause = seen.recv().unwrap();
    let failed = cause
        .reason()
        .unwrap()
        .downcast_ref::<TaskFailed>()
        .unwrap();
    assert_eq!(failed.task().name(), Some("bad"));
    assert_eq!(failed.task().index(), 1);
    assert!(!failed.is_spawn_failure());
    assert_eq!(cause.to_string(), "task 'bad' (#1) failed");
    no_leaks();
}

#[test]
fn error_as_cause_gives_the_context_the_error_itself_and_run_the_original() {
    let (clones, drops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut seen = None;
    let group = Group::builder().cause(ErrorAsCause).build().unwrap();
    let err = group
        .run(&Context::new(), |g| {
            seen = Some(watchers(g, 3));
            let failing = Counted::new(42, &clones, &drops);
            g.spawn_named("bad", move |_ctx| Err::<(), _>(failing));
        })
        .unwrap_err();
    // The caller gets the very value the task returned.
    let group::Error::Failed { task, error } = err else {
        panic!("not the task's error")
    };
    assert_eq!((task.name(), error.code), (Some("bad"), 42));
    drop(error);
    // Every sibling saw the error itself, downcastable: one shared copy, not one per task.
    let causes: Vec<Cause> = seen.unwrap().iter().collect();
    assert_eq!(causes.len(), 3);
    let first = causes[0]
        .reason()
        .unwrap()
        .downcast_ref::<Counted>()
        .unwrap();
    assert_eq!(first.code, 42);
    for cause in &causes {
        assert_eq!(cause, &causes[0]);
    }
    assert_eq!(clones.load(Ordering::SeqCst), 1);
    drop(causes);
    // Original and clone are both gone once nothing holds the group's context.
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    no_leaks();
}

#[test]
fn the_cause_outlives_the_group_in_a_kept_context() {
    let group = Group::builder().cause(ErrorAsCause).build().unwrap();
    let mut kept = None;
    let err = group
        .run(&Context::new(), |g| {
            kept = Some(g.context().clone());
            g.spawn(|_ctx| Err::<(), _>(std::fmt::Error));
        })
        .unwrap_err();
    assert!(matches!(
        err,
        group::Error::Failed {
            error: std::fmt::Error,
            ..
        }
    ));
    let ctx = kept.unwrap();
    let cause = ctx.cause().unwrap();
    assert!(
        cause
            .reason()
            .unwrap()
            .downcast_ref::<std::fmt::Error>()
            .is_some()
    );
    // Forwarded unchanged to an unrelated context, it still downcasts there.
    let other = Context::new();
    other.cancel_with_cause(cause.clone());
    assert_eq!(other.cause(), Some(cause));
    no_leaks();
}

#[test]
fn only_the_failure_that_cancels_the_group_is_cloned() {
    let (clones, drops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let group = Group::builder()
        .policy(FailFastCollect)
        .cause(ErrorAsCause)
        .build()
        .unwrap();
    let failures = group
        .run(&Context::new(), |g| {
            for i in 0..8 {
                let failing = Counted::new(i, &clones, &drops);
                g.spawn(move |ctx| {
                    ctx.wait(); // fail only after the group is cancelled
                    Err::<(), _>(failing)
                });
            }
            let first = Counted::new(100, &clones, &drops);
            g.spawn(move |_ctx| Err::<(), _>(first));
        })
        .unwrap_err();
    assert_eq!(failures.len(), 9);
    let cancelled_by = failures.cancelled_by().unwrap();
    assert_eq!(cancelled_by.task().index(), 8);
    assert!(matches!(cancelled_by, group::Error::Failed { error, .. } if error.code == 100));
    assert_eq!(clones.load(Ordering::SeqCst), 1);
    drop(failures);
    assert_eq!(drops.load(Ordering::SeqCst), 9 + 1);
    no_leaks();
}

#[test]
fn a_panic_cancels_with_its_panicked_and_run_keeps_the_payload() {
    #[derive(Debug, PartialEq)]
    struct Code(u16);
    let mut seen = None;
    let err = scope(&Context::new(), |g| {
        seen = Some(watchers(g, 1));
        g.spawn_named("bad", |_ctx| -> Result<(), ()> {
            panic::panic_any(Code(503))
        });
    })
    .unwrap_err();
    let cause = seen.unwrap().recv().unwrap();
    let panicked = cause.reason().unwrap().downcast_ref::<Panicked>().unwrap();
    // A copy without the payload (which is not `Clone`): message, thread, site.
    assert!(panicked.thread().unwrap().starts_with("homebound-bad"));
    assert!(panicked.location().unwrap().contains("group_cause.rs"));
    assert!(panicked.downcast_ref::<Code>().is_none());
    // The payload itself stays with the group's result, so it can be resumed or inspected.
    let group::Error::Panicked { task, panic } = err else {
        panic!("not a panic")
    };
    assert_eq!(task.name(), Some("bad"));
    assert_eq!(panic.downcast_ref::<Code>().as_deref(), Some(&Code(503)));
    no_leaks();
}

#[test]
fn a_panic_of_the_groups_closure_is_the_cause_its_tasks_see() {
    let (seen_tx, seen) = unbounded::<Cause>();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        scope(&Context::new(), |g| {
            let (started_tx, started) = unbounded::<()>();
            g.spawn(move |ctx| {
                started_tx.send(()).unwrap();
                seen_tx.send(ctx.wait()).unwrap();
                Ok::<_, ()>(())
            });
            started.recv().unwrap(); // a task not yet started when the closure panics never starts
            panic!("the closure broke");
        })
    }))
    .unwrap_err();
    assert_eq!(unwound.downcast_ref::<&str>(), Some(&"the closure broke"));
    let cause = seen.recv().unwrap();
    let panicked = cause.reason().unwrap().downcast_ref::<Panicked>().unwrap();
    assert_eq!(panicked.message(), "the closure broke");
    no_leaks();
}

/// An error whose `Clone` panics: user code the group runs to build the cause.
#[derive(Debug)]
struct CloneBomb;

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        panic!("clone exploded")
    }
}

impl std::fmt::Display for CloneBomb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("clone bomb")
    }
}

impl std::error::Error for CloneBomb {}

#[test]
fn an_error_whose_clone_panics_is_reported_and_still_cancels_the_group() {
    let group = Group::builder()
        .policy(FailFastCollect)
        .cause(ErrorAsCause)
        .build()
        .unwrap();
    let mut seen = None;
    let failures = group
        .run(&Context::new(), |g| {
            seen = Some(watchers(g, 1));
            g.spawn_named("bomb", |_ctx| Err::<(), _>(CloneBomb));
        })
        .unwrap_err();
    // The group was cancelled (the sibling woke) with a cause naming the task.
    let cause = seen.unwrap().recv().unwrap();
    let failed = cause
        .reason()
        .unwrap()
        .downcast_ref::<TaskFailed>()
        .unwrap();
    assert_eq!(failed.task().name(), Some("bomb"));
    // Nothing lost: the error itself and the clone's panic are both reported.
    let kinds: Vec<(Option<&str>, bool)> = failures
        .iter()
        .map(|f| (f.task().name(), f.is_panicked()))
        .collect();
    assert_eq!(kinds, [(Some("bomb"), false), (Some("bomb"), true)]);
    assert!(matches!(
        failures.cancelled_by(),
        Some(group::Error::Failed { .. })
    ));
    no_leaks();
}

#[test]
fn a_task_whose_thread_cannot_be_spawned_cancels_with_a_spawn_failure() {
    // Far beyond any address space: the OS refuses the thread.
    const HUGE: usize = 1 << 50;
    let ctx = Context::new();
    let mut kept = None;
    let err = Group::builder()
        .stack_size(HUGE)
        .build()
        .unwrap()
        .run(&ctx, |g| {
            kept = Some(g.context().clone());
            g.spawn_named("big", |_ctx| Ok::<_, ()>(()));
        })
        .unwrap_err();
    assert!(matches!(err, group::Error::Spawn { .. }));
    let cause = kept.unwrap().cause().unwrap();
    let failed = cause
        .reason()
        .unwrap()
        .downcast_ref::<TaskFailed>()
        .unwrap();
    assert!(failed.is_spawn_failure());
    assert!(
        cause
            .to_string()
            .starts_with("task 'big' (#0) could not be spawned: ")
    );
    assert!(
        !ctx.is_cancelled(),
        "the caller's context is never cancelled by the group"
    );
    no_leaks();
}

#[test]
fn a_group_cause_forwarded_across_many_levels_still_downcasts() {
    let group = Group::builder().cause(ErrorAsCause).build().unwrap();
    let mut kept = None;
    let _ = group.run(&Context::new(), |g| {
        kept = Some(g.context().clone());
        g.spawn(|_ctx| Err::<(), _>(std::fmt::Error));
    });
    let mut cause = kept.unwrap().cause().unwrap();
    for _ in 0..100_000 {
        let next = Context::new();
        next.cancel_with_cause(cause);
        cause = next.cause().unwrap();
    }
    assert!(
        cause
            .reason()
            .unwrap()
            .downcast_ref::<std::fmt::Error>()
            .is_some()
    );
    no_leaks();
}
