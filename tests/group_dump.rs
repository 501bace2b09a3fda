//! What a limited group's worker shows in the thread dump while it runs a task: an unnamed
//! task as a task, a named one by its name, also when the same worker ran unnamed tasks just
//! before (it runs those without looking at who they are, until a named task is spawned).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::bounded;
use homebound::Context;
use homebound::group::Group;
use homebound::threads::State;

use common::dump::wait_for;
use common::leak_check;

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
    leak_check();
}
