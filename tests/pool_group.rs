//! Groups on a shared pool (issue 14 item 7): `pool.group().limit(n).start(&ctx)`, errgroup
//! guarantees on the pool's workers, and `invoke_all` / `invoke_any`. Latches, never sleeps;
//! the pool's conservation identity after every scenario; the leak check at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_channel::bounded;
use homebound::Context;
use homebound::group::Error;
use homebound::pool::Pool;

mod common;
use common::{BOUND, leak_check};

#[test]
fn a_group_returns_values_in_order_and_keeps_to_its_limit() {
    let pool = Pool::builder().workers(4).build().unwrap();
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut g = pool.group().limit(2).start(&Context::new());
    for i in 0..20u64 {
        let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
        g.spawn(move |_| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            std::thread::yield_now();
            now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(i)
        })
        .unwrap();
    }
    assert_eq!(g.wait().unwrap(), (0..20).collect::<Vec<_>>());
    assert!(peak.load(Ordering::SeqCst) <= 2);
    pool.wait_idle().unwrap();
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.completed, 20, "the pool counts the group's tasks");
    pool.shutdown();
    leak_check();
}

#[test]
fn the_first_failure_cancels_the_siblings_and_is_reported_after_all_ended() {
    let pool = Pool::builder().workers(3).build().unwrap();
    let (waiting_tx, waiting) = bounded(2);
    let ended = Arc::new(AtomicUsize::new(0));
    let mut g = pool.group().start(&Context::new());
    for _ in 0..2 {
        let (waiting_tx, ended) = (waiting_tx.clone(), Arc::clone(&ended));
        g.spawn(move |ctx| {
            waiting_tx.send(()).unwrap();
            ctx.wait(); // until a sibling fails
            ended.fetch_add(1, Ordering::SeqCst);
            Ok(0)
        })
        .unwrap();
    }
    waiting.recv_timeout(BOUND).unwrap();
    waiting.recv_timeout(BOUND).unwrap();
    g.spawn(|_| Err("disk full")).unwrap();
    match g.wait() {
        Err(Error::Failed { task, error }) => {
            assert_eq!((task.index(), error), (2, "disk full"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        ended.load(Ordering::SeqCst),
        2,
        "wait returned after every task ended"
    );
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    pool.shutdown();
    leak_check();
}

#[test]
fn a_panic_is_reported_and_cancels_the_siblings() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut g = pool.group().start(&Context::new());
    g.spawn(|ctx| {
        ctx.wait();
        Ok::<u8, ()>(1)
    })
    .unwrap();
    g.spawn(|_| panic!("group boom")).unwrap();
    match g.wait() {
        Err(Error::Panicked { panic, .. }) => assert_eq!(panic.message(), "group boom"),
        other => panic!("unexpected {other:?}"),
    }
    pool.wait_idle().unwrap();
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!((m.completed, m.panicked), (1, 1));
    pool.shutdown();
    leak_check();
}

#[test]
fn a_cancelled_caller_stops_spawns_and_queued_tasks() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let request = Context::new();
    let mut g = pool.group().limit(1).start(&request);
    let (started_tx, started) = bounded(1);
    g.spawn(move |ctx| {
        started_tx.send(()).unwrap();
        ctx.wait();
        Ok::<_, ()>(0)
    })
    .unwrap();
    started.recv_timeout(BOUND).unwrap();
    let blocked = std::thread::scope(|s| {
        let spawner = s.spawn(|| g.spawn(|_| Ok(1)).map_err(|e| e.is_cancelled()));
        request.cancel();
        spawner.join().unwrap()
    });
    assert_eq!(
        blocked,
        Err(true),
        "waiting for a place stops on cancel, the task comes back"
    );
    match g.wait() {
        Err(Error::NotStarted { .. }) | Ok(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(pool.metrics().is_conserved());
    pool.shutdown();
    leak_check();
}

#[test]
fn dropping_a_group_cancels_it_and_waits_for_its_tasks() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = bounded(1);
    {
        let mut g = pool.group().start(&Context::new());
        let done = Arc::clone(&done);
        g.spawn(move |ctx| {
            started_tx.send(()).unwrap();
            ctx.wait();
            done.store(true, Ordering::SeqCst);
            Ok::<_, ()>(())
        })
        .unwrap();
        started.recv_timeout(BOUND).unwrap();
    }
    assert!(
        done.load(Ordering::SeqCst),
        "the task ended before the drop returned"
    );
    assert!(pool.metrics().is_conserved());
    pool.shutdown();
    leak_check();
}

#[test]
fn invoke_all_and_invoke_any() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let ctx = Context::new();
    let squares = (1..=5u32).map(|i| move |_: &Context| Ok::<_, String>(i * i));
    assert_eq!(pool.invoke_all(&ctx, squares).unwrap(), [1, 4, 9, 16, 25]);
    type Task = fn(&Context) -> Result<u8, ()>;
    let none: Vec<Task> = Vec::new();
    assert!(pool.invoke_all(&ctx, none.clone()).unwrap().is_empty());
    assert!(pool.invoke_any(&ctx, none).unwrap_err().is_empty());
    let failing = (0..3).map(|i| move |_: &Context| if i == 1 { Err(i) } else { Ok(i) });
    assert!(matches!(
        pool.invoke_all(&ctx, failing),
        Err(Error::Failed { error: 1, .. })
    ));
    let all_fail = (0..4).map(|i| move |_: &Context| Err::<u8, _>(i));
    let errors = pool.invoke_any(&ctx, all_fail).unwrap_err();
    let mut got: Vec<_> = errors.into_iter().filter_map(Error::into_error).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2, 3]);
    let one_up = (0..4).map(|i| {
        move |ctx: &Context| {
            if i == 2 {
                Ok(i)
            } else {
                ctx.wait(); // the winner cancels the others
                Err(i)
            }
        }
    });
    // Every task needs a worker of its own here: the losers wait until the winner ends.
    let wide = Pool::builder().workers(4).build().unwrap();
    assert_eq!(wide.invoke_any(&ctx, one_up).unwrap(), 2);
    assert!(wide.shutdown().metrics().is_conserved());
    // A closed pool: the group reports the task it could not submit.
    pool.close();
    let late = (0..2).map(|i| move |_: &Context| Ok::<_, ()>(i));
    assert!(matches!(
        pool.invoke_all(&ctx, late),
        Err(Error::NotStarted { .. })
    ));
    assert!(pool.await_termination(BOUND));
    assert!(pool.metrics().is_conserved());
    leak_check();
}

#[test]
fn many_groups_share_one_small_pool() {
    let pool = Pool::builder().workers(2).build().unwrap();
    std::thread::scope(|s| {
        for r in 0..4u64 {
            let pool = &pool;
            s.spawn(move || {
                let mut g = pool.group().limit(1).start(&Context::new());
                for i in 0..25u64 {
                    g.spawn(move |_| Ok::<_, ()>(r * 100 + i)).unwrap();
                }
                let values = g.wait().unwrap();
                assert_eq!(values, (0..25).map(|i| r * 100 + i).collect::<Vec<_>>());
            });
        }
    });
    pool.wait_idle().unwrap();
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    assert_eq!(m.completed, 100);
    pool.shutdown();
    leak_check();
}
