//! Pool: non-blocking hand-offs never refuse free capacity (issue 13), and the workers a pool
//! grows belong to whoever built it (issue 12, item 5).
//!
//! A non-blocking `try_submit` / `try_execute` succeeds whenever a worker is idle (parked or
//! about to park) or one more worker may be started below `max_workers`, whatever the timing;
//! it returns `Full` only when every permitted worker is busy and the queue (if any) is full.
//! Each scenario runs in a loop, so a timing dependence shows.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use homebound::{Context, pool::Pool, threads};

mod common;
use common::{BOUND, leak_check};

const ITERATIONS: usize = 200;

/// A task that reports it started, then waits for the gate to open.
fn blocker(started: &Sender<()>, gate: &Receiver<()>) -> impl FnOnce(&Context) + Send + 'static {
    let (started, gate) = (started.clone(), gate.clone());
    move |_| {
        started.send(()).unwrap();
        let _ = gate.recv();
    }
}

#[test]
fn an_idle_rendezvous_pool_accepts_try_submit_and_grows_to_max() {
    for iteration in 0..ITERATIONS {
        let pool = Pool::builder()
            .name("handoff")
            .workers(1)
            .max_workers(10)
            .queue_capacity(0)
            .build()
            .unwrap();
        let (open, gate) = bounded::<()>(0);
        let (started_tx, started) = unbounded();
        // Right after build: the one worker may not have reached its queue yet; it is idle.
        let mut handles = Vec::new();
        for i in 0..10 {
            let task = blocker(&started_tx, &gate);
            if i % 2 == 0 {
                handles.push(
                    pool.try_submit(task)
                        .unwrap_or_else(|e| panic!("iteration {iteration}, task {i}: {e}")),
                );
            } else {
                pool.try_execute(task)
                    .unwrap_or_else(|e| panic!("iteration {iteration}, task {i}: {e}"));
            }
        }
        for _ in 0..10 {
            started
                .recv_timeout(BOUND)
                .expect("a handed-off task did not start");
        }
        // Every permitted worker is busy and there is no queue: now, and only now, Full.
        assert!(pool.try_submit(|_| ()).unwrap_err().is_full());
        assert!(pool.try_execute(|_| ()).unwrap_err().is_full());
        let m = pool.metrics();
        assert_eq!((m.workers_live, m.running), (10, 10), "{m:?}");
        drop(open);
        for h in handles {
            h.join().unwrap();
        }
        let report = pool.shutdown();
        assert!(report.is_complete());
        assert!(report.metrics().is_conserved());
        assert_eq!(report.metrics().completed, 10);
        drop(pool);
    }
    leak_check();
}

#[test]
fn a_fresh_pool_with_a_queue_grows_under_try_submit() {
    for _ in 0..ITERATIONS {
        let pool = Pool::builder()
            .name("handoff")
            .workers(1)
            .max_workers(3)
            .queue_capacity(1)
            .build()
            .unwrap();
        let (open, gate) = bounded::<()>(0);
        let (started_tx, started) = unbounded();
        // Three workers and one queue slot: four tasks fit without waiting.
        let handles: Vec<_> = (0..4)
            .map(|i| {
                pool.try_submit(blocker(&started_tx, &gate))
                    .unwrap_or_else(|e| panic!("task {i}: {e}"))
            })
            .collect();
        for _ in 0..3 {
            started.recv_timeout(BOUND).expect("the pool did not grow");
        }
        assert!(pool.try_submit(|_| ()).unwrap_err().is_full());
        drop(open);
        for h in handles {
            h.join().unwrap();
        }
        drop(pool);
    }
    leak_check();
}

#[test]
fn a_task_submitting_to_its_own_pool_grows_it_before_the_self_submit_rule() {
    for iteration in 0..ITERATIONS {
        let pool = Arc::new(
            Pool::builder()
                .name("handoff")
                .workers(1)
                .max_workers(4096)
                .queue_capacity(0)
                .build()
                .unwrap(),
        );
        let inner = pool.clone();
        let outer = pool
            .submit(move |_| {
                let here = std::thread::current().id();
                // Both tasks wait until both were accepted, so neither can be helped along by
                // this worker's `join`: each needs a worker of its own.
                let (open, gate) = bounded::<()>(0);
                let task = |gate: Receiver<()>| {
                    move |_: &Context| {
                        let _ = gate.recv();
                        std::thread::current().id()
                    }
                };
                // No queue, the only worker is this one, 4095 slots are free: grow.
                let a = inner
                    .try_submit(task(gate.clone()))
                    .unwrap_or_else(|e| panic!("iteration {iteration}: try_submit: {e}"));
                let b = inner
                    .submit(task(gate))
                    .unwrap_or_else(|e| panic!("iteration {iteration}: submit: {e}"));
                drop(open);
                let (a, b) = (a.join().unwrap(), b.join().unwrap());
                assert!(a != here && b != here && a != b);
            })
            .unwrap();
        outer.join().unwrap();
        drop(pool);
    }
    leak_check();
}

#[test]
fn workers_grown_for_a_helper_thread_belong_to_the_pools_creator() {
    // Issue 12 item 5: the submit comes from a plain scoped thread, yet the workers it makes
    // the pool start must be seen by the leak check of the thread that built the pool.
    let pool = Pool::builder()
        .name("origin")
        .workers(1)
        .max_workers(3)
        .keep_alive(BOUND)
        .build()
        .unwrap();
    let (open, gate) = bounded::<()>(0);
    let (started_tx, started) = unbounded();
    let handles = std::thread::scope(|s| {
        s.spawn(|| {
            (0..3)
                .map(|_| pool.submit(blocker(&started_tx, &gate)).unwrap())
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap()
    });
    for _ in 0..3 {
        started.recv_timeout(BOUND).expect("the pool did not grow");
    }
    let seen = threads::wait_none_alive(Duration::ZERO).unwrap_err();
    assert_eq!(
        seen.threads().len(),
        3,
        "the creator's leak check must see every worker: {seen}"
    );
    drop(open);
    for h in handles {
        h.join().unwrap();
    }
    drop(pool);
    leak_check();
}

/// A result nobody will read: a task whose handle was dropped before the task started runs
/// without its slot's lock (nobody else can reach the slot), and its result is dropped exactly
/// once, on the worker, a panic from its `Drop` contained and counted.
#[test]
fn a_result_whose_handle_was_dropped_before_the_start_is_dropped_once_contained() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(Arc<AtomicUsize>, bool);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            if self.1 {
                panic!("drop of a result nobody reads");
            }
        }
    }
    let pool = Pool::builder().workers(1).build().unwrap();
    let (open, gate) = bounded::<()>(0);
    let (started_tx, started) = unbounded();
    pool.execute(blocker(&started_tx, &gate)).unwrap();
    started.recv_timeout(BOUND).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    for i in 0..10 {
        let drops = Arc::clone(&drops);
        // Dropped at once, while the only worker is held: no handle exists when it starts.
        drop(pool.submit(move |_| Counted(drops, i == 3)).unwrap());
    }
    drop(open);
    let report = pool.shutdown();
    assert_eq!(drops.load(Ordering::SeqCst), 10);
    let m = report.metrics();
    assert_eq!((m.completed, m.hook_panics), (11, 1));
    assert!(m.is_conserved());
    drop(pool);
    leak_check();
}
