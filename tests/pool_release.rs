//! Cancelled tasks still in the queue do not hold queue slots (issue 14 item 5): a queued task
//! whose caller's context is cancelled (or whose deadline passes) gives its slot back at once;
//! its closure is dropped once, unrun, when a worker reaches its place. Latches, never sleeps;
//! conservation after every scenario; the leak check at the end of every test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use homebound::Context;
use homebound::pool::{Pool, WhenFull};
use homebound::task::JoinError;

mod common;
use common::{BOUND, conserved, leak_check, occupy, occupy_until_cancel};

/// Counts how often a task ran and how often its closure was dropped.
#[derive(Clone, Default)]
struct Tally {
    ran: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Tally {
    fn task(&self) -> impl FnOnce(&Context) + Send + 'static {
        let ran = Arc::clone(&self.ran);
        let dropped = Dropped(Arc::clone(&self.dropped));
        move |_| {
            let _dropped = dropped;
            ran.fetch_add(1, Ordering::SeqCst);
            // A little work, so the stress test's queue fills up.
            (0..20_000u32).for_each(|i| {
                let _ = std::hint::black_box(i);
            });
        }
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.ran.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
        )
    }
}

fn one_worker(capacity: usize) -> Pool {
    Pool::builder()
        .workers(1)
        .queue_capacity(capacity)
        .build()
        .unwrap()
}

#[test]
fn a_cancelled_queued_task_gives_its_slot_back_at_once() {
    let pool = one_worker(2);
    let (open, blocker) = occupy(&pool);
    let request = Context::new();
    let x = Tally::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let cancelled = pool.task(x.task()).context(&request).submit().unwrap();
    let o = Arc::clone(&order);
    let y = pool.submit(move |_| o.lock().unwrap().push("y")).unwrap();
    assert!(pool.try_submit(|_| ()).unwrap_err().is_full());

    request.cancel();
    let o = Arc::clone(&order);
    let z = pool
        .try_submit(move |_| o.lock().unwrap().push("z"))
        .expect("the released slot is free at once");
    conserved(&pool);
    // The closure is dropped by the worker that reaches its place, not by `cancel`.
    assert_eq!(x.counts(), (0, 0));

    drop(open);
    blocker.join().unwrap();
    assert!(matches!(cancelled.join(), Err(JoinError::NotStarted(_))));
    y.join().unwrap();
    z.join().unwrap();
    assert_eq!(x.counts(), (0, 1), "never ran, dropped exactly once");
    // The task that took the released slot took its place in line.
    assert_eq!(*order.lock().unwrap(), ["z", "y"]);
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.completed, m.cancelled_before_start), (3, 1));
    leak_check();
}

#[test]
fn a_blocked_submitter_is_woken_by_the_release() {
    let pool = one_worker(1);
    let (open, blocker) = occupy(&pool);
    let request = Context::new();
    let x = Tally::default();
    let cancelled = pool.task(x.task()).context(&request).submit().unwrap();
    let before = pool.metrics().submitted;
    let (done_tx, done) = bounded(1);
    std::thread::scope(|s| {
        s.spawn(|| {
            let late = pool.submit(|_| "late").unwrap();
            done_tx.send(late).unwrap();
        });
        // Counted in as it starts its hand-off; the queue is full, so it blocks.
        let deadline = Instant::now() + BOUND;
        while pool.metrics().submitted == before {
            assert!(Instant::now() < deadline, "the submitter never started");
            std::thread::yield_now();
        }
        request.cancel();
        let late = done
            .recv_timeout(BOUND)
            .expect("the release woke the blocked submitter");
        // The worker is still blocked: the room came from the release alone.
        assert!(!blocker.is_finished());
        drop(open);
        assert_eq!(late.join().unwrap(), "late");
    });
    blocker.join().unwrap();
    assert!(cancelled.join().unwrap_err().is_not_started());
    assert_eq!(x.counts(), (0, 1));
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.completed, m.cancelled_before_start), (2, 1));
    leak_check();
}

#[test]
fn cancel_racing_a_worker_runs_or_releases_exactly_once() {
    const ROUNDS: usize = 200;
    let pool = one_worker(1);
    let mut tallies = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let (open, blocker) = occupy(&pool);
        let request = Context::new();
        let x = Tally::default();
        let raced = pool.task(x.task()).context(&request).submit().unwrap();
        let start = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                request.cancel();
            });
            start.wait();
            drop(open); // the worker goes on to take the raced task
        });
        // Either way there is room for one more (a released slot or a taken task's).
        let after = pool.submit(|_| 7).unwrap();
        blocker.join().unwrap();
        let outcome = raced.join();
        if let Err(e) = &outcome {
            assert!(e.is_not_started(), "{e:?}");
        }
        assert_eq!(after.join().unwrap(), 7);
        conserved(&pool);
        tallies.push((outcome.is_ok(), x));
    }
    pool.shutdown();
    let m = conserved(&pool);
    // After shutdown every worker has dropped what it dropped: never both, always once.
    for (ran, x) in &tallies {
        assert_eq!(x.counts(), (usize::from(*ran), 1));
    }
    let ran = tallies.iter().filter(|(ran, _)| *ran).count();
    assert_eq!(m.cancelled_before_start, (ROUNDS - ran) as u64);
    assert_eq!(m.completed, (2 * ROUNDS + ran) as u64);
    leak_check();
}

#[test]
fn a_task_in_a_released_slot_can_be_released_in_turn() {
    let pool = one_worker(2);
    let (open, blocker) = occupy(&pool);
    let (a, b) = (Context::new(), Context::new());
    let (x, z) = (Tally::default(), Tally::default());
    let hx = pool.task(x.task()).context(&a).submit().unwrap();
    let hy = pool.submit(|_| "y").unwrap();
    a.cancel();
    let hz = pool.task(z.task()).context(&b).try_submit().unwrap();
    b.cancel();
    let hw = pool.try_submit(|_| "w").expect("z's released slot");
    assert!(pool.try_submit(|_| "").unwrap_err().is_full());
    drop(open);
    blocker.join().unwrap();
    assert!(hx.join().unwrap_err().is_not_started());
    assert!(hz.join().unwrap_err().is_not_started());
    assert_eq!((hy.join().unwrap(), hw.join().unwrap()), ("y", "w"));
    assert_eq!((x.counts(), z.counts()), ((0, 1), (0, 1)));
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.completed, m.cancelled_before_start), (3, 2));
    leak_check();
}

#[test]
fn a_queued_task_whose_deadline_passes_gives_its_slot_back() {
    let pool = one_worker(1);
    let (open, blocker) = occupy(&pool);
    let x = Tally::default();
    let expired = pool
        .task(x.task())
        .timeout(Duration::from_millis(1))
        .submit()
        .unwrap();
    // The deadline fires on homebound's timer thread; the slot is free from then on.
    let deadline = Instant::now() + BOUND;
    let mut f = |_: &Context| "after";
    let after = loop {
        match pool.try_submit(f) {
            Ok(h) => break h,
            Err(e) => {
                assert!(e.is_full());
                assert!(Instant::now() < deadline, "the slot was never released");
                f = e.into_inner();
                std::thread::yield_now();
            }
        }
    };
    assert_eq!(x.counts(), (0, 0), "not dropped on the timer thread");
    drop(open);
    blocker.join().unwrap();
    assert!(expired.join().unwrap_err().is_not_started());
    assert_eq!(after.join().unwrap(), "after");
    assert_eq!(x.counts(), (0, 1));
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.completed, m.cancelled_before_start), (2, 1));
    leak_check();
}

#[test]
fn discard_oldest_discards_the_task_in_a_released_slot_not_the_tombstone() {
    let (seen_tx, seen) = bounded(4);
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(2)
        .when_full(WhenFull::DiscardOldest)
        .on_discard(move |t| seen_tx.send(t.name().map(str::to_owned)).unwrap())
        .build()
        .unwrap();
    let (open, blocker) = occupy(&pool);
    let request = Context::new();
    let x = Tally::default();
    let hx = pool.task(x.task()).context(&request).submit().unwrap();
    let hy = pool.submit_named("y", |_| "y").unwrap();
    request.cancel();
    // The released slot: nothing is discarded.
    let hz = pool.submit_named("z", |_| "z").unwrap();
    assert_eq!(pool.metrics().discarded, 0);
    // Full again: the oldest in line is z, in x's place; x itself is only a tombstone.
    let hw = pool.submit_named("w", |_| "w").unwrap();
    assert_eq!(seen.try_recv().unwrap().as_deref(), Some("z"));
    drop(open);
    blocker.join().unwrap();
    assert!(hx.join().unwrap_err().is_not_started());
    assert!(hz.join().unwrap_err().is_not_started());
    assert_eq!((hy.join().unwrap(), hw.join().unwrap()), ("y", "w"));
    assert_eq!(x.counts(), (0, 1));
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.discarded, m.cancelled_before_start), (1, 1));
    leak_check();
}

#[test]
fn shutdown_now_never_hands_back_a_released_task() {
    let pool = one_worker(2);
    let (_open, blocker) = occupy_until_cancel(&pool);
    let request = Context::new();
    let x = Tally::default();
    let hx = pool
        .task(x.task())
        .name("x")
        .context(&request)
        .submit()
        .unwrap();
    let _hy = pool.submit_named("y", |_| ()).unwrap();
    request.cancel();
    let _hz = pool.submit_named("z", |_| ()).unwrap();
    let pending = pool.shutdown_now();
    let mut names: Vec<_> = pending
        .iter()
        .map(|t| t.name().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["y", "z"]);
    drop(pending);
    blocker.join().unwrap();
    assert!(hx.join().unwrap_err().is_not_started());
    assert_eq!(x.counts(), (0, 1));
    let m = conserved(&pool);
    assert_eq!(
        (m.returned_by_shutdown_now, m.cancelled_before_start),
        (2, 1)
    );
    leak_check();
}

#[test]
fn releases_racing_submitters_and_workers_lose_nothing() {
    const SUBMITTERS: usize = 3;
    let rounds = common::stress_reps(300) as usize;
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let all = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..SUBMITTERS {
            let (pool, all) = (&pool, &all);
            s.spawn(move || {
                let mut mine = Vec::with_capacity(rounds);
                let mut previous: Option<Context> = None;
                for i in 0..rounds {
                    let x = Tally::default();
                    let request = Context::new();
                    let h = if i % 3 == 2 {
                        let ran = Arc::clone(&x.ran);
                        let dropped = Dropped(Arc::clone(&x.dropped));
                        pool.submit(move |_| {
                            let _dropped = dropped;
                            ran.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap()
                    } else {
                        pool.task(x.task()).context(&request).submit().unwrap()
                    };
                    // The previous request is cancelled while its task is queued, taken,
                    // running or done: whichever the race gives.
                    if let Some(p) = previous.take()
                        && i % 2 == 1
                    {
                        p.cancel();
                    }
                    previous = Some(request);
                    mine.push((h, x));
                }
                all.lock().unwrap().extend(mine);
            });
        }
    });
    let all = all.into_inner().unwrap();
    let mut ran = 0;
    let m = pool.shutdown().metrics().clone();
    for (h, x) in all {
        match h.join() {
            Ok(()) => {
                ran += 1;
                assert_eq!(x.counts(), (1, 1));
            }
            Err(e) => {
                assert!(e.is_not_started(), "{e:?}");
                assert_eq!(x.counts(), (0, 1));
            }
        }
    }
    assert!(m.is_conserved(), "{m}");
    assert_eq!(m.accepted, (SUBMITTERS * rounds) as u64);
    assert_eq!(m.completed, ran);
    assert_eq!(m.completed + m.cancelled_before_start, m.accepted);
    leak_check();
}
