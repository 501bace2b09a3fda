//! Group: non-blocking hand-offs never refuse free capacity (issue 13), and the threads a group
//! starts belong to whoever runs it (issue 12, item 5).
//!
//! `try_spawn` on a limited group succeeds whenever a worker is idle or one more may be started
//! below the limit, whatever the timing (Go's `TryGo` with `SetLimit`); it reports `Full` only
//! when every permitted worker is busy and the queue (if any) is full. Each scenario runs in a
//! loop, so a timing dependence shows.

use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::{Context, group::Group, threads};

const ITERATIONS: usize = 200;
const BOUND: Duration = Duration::from_secs(10);

fn no_leaks() {
    threads::assert_none_alive(BOUND);
}

#[test]
fn a_fresh_rendezvous_group_accepts_limit_try_spawns_at_once() {
    let group = Group::builder().limit(4).queue(0).build().unwrap();
    for iteration in 0..ITERATIONS {
        let (open, gate) = bounded::<()>(0);
        let (started_tx, started) = unbounded::<()>();
        group
            .run(&Context::new(), |g| {
                for i in 0..4 {
                    let (gate, started_tx) = (gate.clone(), started_tx.clone());
                    g.try_spawn(move |_ctx| {
                        started_tx.send(()).unwrap();
                        let _ = gate.recv();
                        Ok::<_, ()>(())
                    })
                    .unwrap_or_else(|e| panic!("iteration {iteration}, task {i}: {e}"));
                }
                for _ in 0..4 {
                    started.recv_timeout(BOUND).unwrap();
                }
                // Four busy workers, no queue: now, and only now, Full.
                assert!(g.try_spawn(|_ctx| Ok(())).unwrap_err().is_full());
                drop(open);
            })
            .unwrap();
    }
    no_leaks();
}

#[test]
fn a_task_spawning_into_its_own_full_group_grows_it_before_running_inline() {
    let group = Group::builder().limit(4).queue(0).build().unwrap();
    for _ in 0..ITERATIONS {
        let handle = group
            .run(&Context::new(), |g| {
                let inner = g.clone();
                g.spawn(move |_ctx| {
                    let here = std::thread::current().id();
                    let a = inner.try_spawn(|_ctx| Ok(std::thread::current().id()));
                    let b = inner.spawn(|_ctx| Ok(std::thread::current().id()));
                    let a = a.map_err(|e| e.to_string()).expect("a free worker slot");
                    Ok::<_, ()>((here, a.join().unwrap(), b.join().unwrap()))
                })
            })
            .unwrap();
        let (here, a, b) = handle.join().unwrap();
        assert_ne!(a, here, "grew instead of running inline");
        assert_ne!(b, here, "grew instead of running inline");
    }
    no_leaks();
}

#[test]
fn threads_started_for_a_helper_thread_belong_to_the_groups_runner() {
    // Issue 12 item 5: a plain scoped thread inside the group's closure spawns the task; the
    // straggler's thread must still be seen by the leak check of the thread that ran the group.
    let (release, stuck) = bounded::<()>(0);
    let stragglers = Group::new()
        .run_timeout(&Context::new(), Duration::from_millis(20), |g| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    g.spawn_named("deaf", move |_ctx| {
                        let _ = stuck.recv();
                        Ok::<_, ()>(())
                    });
                });
            });
        })
        .unwrap_err();
    let seen = threads::wait_none_alive(Duration::ZERO).unwrap_err();
    assert_eq!(seen.threads().len(), 1, "{seen}");
    drop(release);
    stragglers.join();
    no_leaks();
}

/// A spawned task whose handle was dropped before it ended: its result is dropped exactly
/// once (by the worker, without the slot's lock, when nobody else holds the slot).
#[test]
fn a_result_whose_handle_was_dropped_is_dropped_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let group = Group::builder().limit(1).build().unwrap();
    let (open, gate) = bounded::<()>(0);
    let (started_tx, started) = unbounded::<()>();
    group
        .run(&Context::new(), |g| {
            g.execute(move |_| {
                started_tx.send(()).unwrap();
                let _ = gate.recv();
                Ok::<_, ()>(())
            });
            started.recv_timeout(BOUND).unwrap();
            for _ in 0..10 {
                let drops = Arc::clone(&drops);
                drop(g.spawn(move |_| Ok(Counted(drops))));
            }
            drop(open);
        })
        .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 10);
    no_leaks();
}
