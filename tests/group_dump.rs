//! What a limited group's worker shows in the thread dump while it runs a task: an unnamed
//! task as a task, a named one by its name, also when the same worker ran unnamed tasks just
//! before (it runs those without looking at who they are, until a named task is spawned).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use homebound::Context;
use homebound::group::Group;
use homebound::threads::{self, State, ThreadDump};

const BOUND: Duration = Duration::from_secs(10);

fn no_leaks() {
    threads::assert_none_alive(BOUND);
}

/// Takes dumps until one shows a thread of `owner` for which `pred` holds (its state is stored a
/// few instructions after the latch the caller waited on); panics with the last dump after
/// `BOUND`.
fn wait_for(owner: &str, pred: impl Fn(&ThreadDump) -> bool) -> ThreadDump {
    let deadline = Instant::now() + BOUND;
    loop {
        let dump = threads::dump();
        if let Some(t) = dump
            .threads()
            .iter()
            .find(|t| t.owner() == owner && pred(t))
        {
            return t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no match for {owner} in:\n{dump}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_named_task_after_unnamed_ones_shows_its_name_on_the_same_worker() {
    let group = Group::builder()
        .limit(1)
        .name("dump-group")
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    group
        .run(&Context::new(), |g| {
            let (started_tx, started) = bounded::<()>(1);
            let (release_tx, release) = bounded::<()>(0);
            let ran = &ran;
            for _ in 0..100 {
                g.execute(move |_ctx| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
            }
            // An unnamed task shows as a task without a name.
            let gate = release.clone();
            let unnamed_started = started_tx.clone();
            g.execute(move |_ctx| {
                unnamed_started.send(()).unwrap();
                let _ = gate.recv();
                Ok(())
            });
            started.recv().unwrap();
            wait_for("dump-group", |t| {
                matches!(t.state(), State::Running { task: None })
            });
            release_tx.send(()).unwrap();
            // The same (only) worker, now with a named task.
            g.spawn_named("named-after-unnamed", move |_ctx| {
                started_tx.send(()).unwrap();
                let _ = release.recv();
                Ok(())
            });
            started.recv().unwrap();
            wait_for("dump-group", |t| {
                matches!(t.state(), State::Running { task: Some(n) } if &**n == "named-after-unnamed")
            });
            drop(release_tx);
        })
        .unwrap();
    assert_eq!(ran.into_inner(), 100);
    no_leaks();
}
