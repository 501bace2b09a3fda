//! `GroupScope::start`, Trio's `nursery.start`: the caller gets the value a long-lived task
//! reports when it is ready, or learns how the task ended before that; the task stays a member
//! of the group (cancelled, waited for, reported). Every test ends with the leak check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::{
    Context, group, group::CollectAll, group::Group, group::Ready, group::StartError, scope,
    task::JoinError, threads,
};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

#[test]
fn start_returns_the_ready_value_and_the_service_keeps_running() {
    let served_until_cancelled = AtomicBool::new(false);
    let result = Group::builder()
        .limit(2)
        .build()
        .unwrap()
        .run(&Context::new(), |g| {
            let flag = &served_until_cancelled;
            let requests = g
                .start_named("echo", move |ctx, ready| {
                    let (tx, rx) = unbounded::<(u32, crossbeam_channel::Sender<u32>)>();
                    ready.ready(tx);
                    // Serve until the group is cancelled, not until the senders are gone: the
                    // caller keeps one.
                    while let Ok((n, reply)) = ctx.recv(&rx) {
                        reply.send(n * 2).unwrap();
                    }
                    flag.store(ctx.is_cancelled(), Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .unwrap();
            let (reply_tx, reply) = bounded(1);
            requests.send((21, reply_tx)).unwrap();
            assert_eq!(reply.recv().unwrap(), 42);
            g.context().cancel_with("shutting down");
            requests // kept alive past the cancel, so only the cancel can stop the service
        });
    assert!(result.is_ok());
    assert!(served_until_cancelled.load(Ordering::SeqCst));
    no_leaks();
}

#[test]
fn a_failure_before_ready_comes_back_from_start_and_from_the_group() {
    let err = scope(&Context::new(), |g| {
        let started = g.start_named("db", |_ctx, _ready: Ready<u16>| Err("no such database"));
        assert!(matches!(started, Err(StartError::Task(JoinError::Failed))));
    })
    .unwrap_err();
    match err {
        group::Error::Failed { task, error } => {
            assert_eq!(task.name(), Some("db"));
            assert_eq!(error, "no such database");
        }
        other => panic!("unexpected {other:?}"),
    }
    no_leaks();
}

#[test]
fn ending_without_ready_and_panicking_before_ready_are_told_apart() {
    let failures = Group::builder()
        .policy(CollectAll)
        .build()
        .unwrap()
        .run(&Context::new(), |g| {
            let quiet = g.start(|_ctx, _ready: Ready<()>| Ok::<_, ()>(()));
            assert!(matches!(quiet, Err(StartError::EndedBeforeReady)));
            let panicked = g.start(|_ctx, _ready: Ready<()>| panic!("config missing"));
            match panicked {
                Err(StartError::Task(JoinError::Panicked(p))) => {
                    assert_eq!(p.message(), "config missing");
                }
                other => panic!("unexpected {other:?}"),
            }
            // The panic cancelled the group: a later start is not started, and says so.
            let late = g.start(|_ctx, ready: Ready<()>| {
                ready.ready(());
                Ok(())
            });
            assert!(matches!(
                late,
                Err(StartError::Task(JoinError::NotStarted(_)))
            ));
        })
        .unwrap_err();
    assert!(
        failures
            .iter()
            .next()
            .is_some_and(group::Error::is_panicked)
    );
    no_leaks();
}

#[test]
fn start_error_messages_name_the_way_the_task_ended() {
    assert_eq!(
        StartError::EndedBeforeReady.to_string(),
        "the task ended without reporting that it was ready"
    );
    let failed = StartError::Task(JoinError::Failed);
    assert!(
        failed
            .to_string()
            .starts_with("the task ended before it was ready: ")
    );
    assert!(std::error::Error::source(&failed).is_some());
    no_leaks();
}
