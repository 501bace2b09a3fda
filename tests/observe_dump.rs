//! The live dump names each thread's owner and state correctly, in scenarios built with latches:
//! a task blocked in a known wait, an idle worker, a submitter blocked on a full queue, a stuck
//! pipeline stage, a cancel callback, and a cancelled owner.

mod common;

use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};
use homebound::pipeline::Pipeline;
use homebound::pool::Pool;
use homebound::threads::{self, ContextState, State};
use homebound::{Context, WaitGroup, scope};

use common::dump::wait_for;
use common::leak_check;

fn started() -> (crossbeam_channel::Sender<()>, Receiver<()>) {
    bounded(16)
}

#[test]
fn pool_worker_shows_named_task_running_and_idle_worker_idle() {
    let pool = Pool::builder()
        .name("dump-pool")
        .workers(2)
        .build()
        .unwrap();
    let (started_tx, started_rx) = started();
    let (release_tx, release) = bounded::<()>(0);
    let handle = pool
        .submit_named("stuck-task", move |_ctx| {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
    started_rx.recv().unwrap();
    let running = wait_for(
        "dump-pool",
        |t| matches!(t.state(), State::Running { task: Some(n) } if &**n == "stuck-task"),
    );
    assert_eq!(running.context(), Some(&ContextState::Live));
    assert!(
        running
            .to_string()
            .contains("running task 'stuck-task' for")
    );
    let idle = wait_for("dump-pool", |t| *t.state() == State::Idle);
    assert_ne!(idle.name(), running.name());
    let text = threads::dump().to_string();
    assert!(
        text.lines()
            .any(|l| l.contains("pool 'dump-pool' at ") && l.ends_with("(2 thread(s)):")),
        "{text}"
    );
    drop(release_tx);
    handle.join().unwrap();
    // The task ended: its worker is no longer running it.
    let after = wait_for("dump-pool", |t| {
        t.name() == running.name() && !t.state().is_running()
    });
    assert!(!after.state().is_running());
    pool.shutdown();
    leak_check();
}

#[test]
fn tasks_blocked_in_recv_sleep_and_wait_group_are_named() {
    let pool = Pool::builder()
        .name("dump-waits")
        .workers(3)
        .build()
        .unwrap();
    let (started_tx, started_rx) = started();
    let (_never_tx, never) = bounded::<()>(0);
    let stop = Context::new();
    let wg = WaitGroup::new();
    let held = wg.enter();
    let (s1, s2, s3) = (started_tx.clone(), started_tx.clone(), started_tx);
    let (stop1, stop2, stop3) = (stop.clone(), stop.clone(), stop.clone());
    let wg2 = wg.clone();
    let a = pool
        .submit_named("recv", move |_| {
            s1.send(()).unwrap();
            let _ = stop1.recv(&never);
        })
        .unwrap();
    let b = pool
        .submit_named("sleep", move |_| {
            s2.send(()).unwrap();
            let _ = stop2.sleep(Duration::from_secs(3600));
        })
        .unwrap();
    let c = pool
        .submit_named("wait", move |_| {
            s3.send(()).unwrap();
            let _ = wg2.wait_ctx(&stop3);
        })
        .unwrap();
    for _ in 0..3 {
        started_rx.recv().unwrap();
    }
    for (task, state) in [
        ("recv", State::Receiving),
        ("sleep", State::Sleeping),
        ("wait", State::WaitingGroup),
    ] {
        // The wait, and the task that waits.
        let t = wait_for("dump-waits", |t| *t.state() == state);
        assert_eq!(t.task().and_then(|t| t.name()), Some(task), "{t}");
        assert!(
            t.to_string()
                .contains(&format!("running task '{task}' for ")),
            "{t}"
        );
    }
    stop.cancel();
    for h in [a, b, c] {
        h.join().unwrap();
    }
    drop(held);
    pool.shutdown();
    leak_check();
}

#[test]
fn submitter_blocked_on_a_full_queue_is_shown_submitting() {
    let pool = std::sync::Arc::new(
        Pool::builder()
            .name("dump-full")
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let (started_tx, started_rx) = started();
    let (release_tx, release) = bounded::<()>(0);
    let busy = pool
        .submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
    started_rx.recv().unwrap();
    let queued = pool.submit(|_| ()).unwrap(); // fills the queue
    let submitter = {
        let pool = std::sync::Arc::clone(&pool);
        threads::spawn("submitter", move || pool.submit(|_| ()).map(|h| h.join()))
    }
    .unwrap();
    let blocked = wait_for("submitter", |t| *t.state() == State::Submitting);
    assert!(blocked.to_string().contains("blocked in submit"));
    drop(release_tx);
    busy.join().unwrap();
    queued.join().unwrap();
    assert!(submitter.join().unwrap().is_ok());
    pool.shutdown();
    leak_check();
}

#[test]
fn stuck_pipeline_stage_shows_running_with_its_context() {
    let ctx = Context::new();
    let (started_tx, started_rx) = started();
    let (release_tx, release) = bounded::<()>(0);
    let run = {
        let ctx = ctx.clone();
        threads::spawn("pipe-driver", move || {
            Pipeline::from_iter(&ctx, 0..4u32)
                .map(1, move |x| {
                    if x == 0 {
                        started_tx.send(()).unwrap();
                        let _ = release.recv();
                    }
                    x
                })
                .named("stuck-stage")
                .collect()
                .map(|(items, _)| items.len())
        })
    }
    .unwrap();
    started_rx.recv().unwrap();
    let stage = wait_for("stuck-stage", |t| t.state().is_running());
    assert_eq!(stage.context(), Some(&ContextState::Live));
    let driver = wait_for("pipe-driver", |_| true);
    assert!(driver.context().is_none()); // started with plain spawn: no owning context
    drop(release_tx);
    assert_eq!(run.join().unwrap().unwrap(), 4);
    leak_check();
}

#[test]
fn cancel_callback_and_cancelled_owner_are_shown() {
    let ctx = Context::new();
    let (started_tx, started_rx) = started();
    let (release_tx, release) = bounded::<()>(0);
    ctx.after_cancel(move || {
        started_tx.send(()).unwrap();
        let _ = release.recv();
    })
    .detach();
    let group_ctx = Context::new();
    let (in_task_tx, in_task) = started();
    let (finish_tx, finish) = bounded::<()>(0);
    let group = {
        let group_ctx = group_ctx.clone();
        threads::spawn("group-driver", move || {
            scope(&group_ctx, |g| {
                g.spawn_named("ignores-cancel", move |_ctx| {
                    in_task_tx.send(()).unwrap();
                    let _ = finish.recv();
                    Ok::<_, ()>(())
                });
            })
        })
    }
    .unwrap();
    ctx.cancel();
    started_rx.recv().unwrap();
    let callback = wait_for("callbacks", |t| *t.state() == State::InCallback);
    assert!(callback.is_daemon());
    in_task.recv().unwrap();
    group_ctx.cancel_with("operator said stop");
    let task = wait_for("ignores-cancel", |t| {
        t.state().is_running() && t.context().is_some_and(ContextState::is_cancelled)
    });
    assert!(task.to_string().contains("operator said stop"), "{task}");
    drop(release_tx);
    drop(finish_tx);
    let _ = group.join().unwrap();
    leak_check();
}

#[test]
fn dump_to_writes_the_readable_dump() {
    let (release_tx, release) = bounded::<()>(0);
    let h = threads::spawn("dump-to", move || {
        let _ = release.recv();
    })
    .unwrap();
    let mut out = Vec::new();
    threads::dump_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("homebound threads: "), "{text}");
    assert!(text.contains("dump-to (1 thread(s)):"), "{text}");
    assert!(text.contains(file!()), "the spawn location: {text}");
    drop(release_tx);
    h.join().unwrap();
    leak_check();
}

#[test]
fn stage_blocked_on_a_full_next_stage_shows_blocked_sending() {
    let ctx = Context::new();
    let (started_tx, started_rx) = started();
    let (release_tx, release) = bounded::<()>(0);
    let run = {
        let ctx = ctx.clone();
        threads::spawn("pipe-consumer", move || {
            let mut first = Some((started_tx, release));
            Pipeline::from_iter(&ctx, 0..10_000u32)
                .map(1, |x| x)
                .named("full-producer")
                .unfused()
                .buffer(1)
                .for_each(|_| {
                    // The consumer is stuck: the producer fills the link and blocks.
                    if let Some((started, release)) = first.take() {
                        started.send(()).unwrap();
                        let _ = release.recv();
                    }
                })
                .map(|outcome| outcome.report().items_delivered())
        })
    }
    .unwrap();
    started_rx.recv().unwrap();
    let producer = wait_for("full-producer", |t| {
        t.state().to_string().contains("blocked sending")
    });
    assert_eq!(producer.state(), &State::BlockedDownstream);
    assert!(producer.task().is_some(), "{producer}"); // still in its stage's work
    drop(release_tx);
    assert_eq!(run.join().unwrap().unwrap(), 10_000);
    leak_check();
}

#[test]
fn ordered_stage_waiting_for_an_earlier_item_shows_waiting_for_order() {
    let ctx = Context::new();
    let (started_tx, started_rx) = started();
    let (release_tx, release) = bounded::<()>(0);
    let run = {
        let ctx = ctx.clone();
        threads::spawn("ordered-consumer", move || {
            Pipeline::from_iter(&ctx, 0..100_000u32)
                .map(2, move |x| {
                    // The first item is stuck on one worker; the other worker runs ahead until
                    // the reorder window is full, then holds its output for the first item.
                    if x == 0 {
                        started_tx.send(()).unwrap();
                        let _ = release.recv();
                    }
                    x
                })
                .named("ordered-stage")
                .ordered()
                .collect()
        })
    }
    .unwrap();
    started_rx.recv().unwrap();
    let waiting = wait_for("ordered-stage", |t| t.state() == &State::WaitingForOrder);
    assert!(
        waiting.to_string().contains("waiting for an earlier item"),
        "{waiting}"
    );
    drop(release_tx);
    let (items, _outcome) = run.join().unwrap().unwrap();
    assert_eq!(items, (0..100_000u32).collect::<Vec<_>>());
    leak_check();
}
