//! Pool: seeded randomised stress of submit / try_submit / submit_timeout / submit_ctx /
//! cancel from 4 submitter threads racing shutdown / shutdown_timeout / shutdown_now, with
//! exactly-once accounting through a per-task run counter (P1, reliability.md §2.4).
//!
//! Set `HOMEBOUND_SEED` to replay a run; a failure message names its seed and iteration.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use homebound::{Context, pool, pool::Pool, pool::SubmitError, task::JoinError, threads};

mod common;

const ITERATIONS: u64 = 1000;
const SUBMITTERS: usize = 4;
const MAX_OPS: usize = 8;

/// xorshift64*: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Record {
    Rejected,
    Accepted(pool::TaskHandle<usize>),
}

#[test]
fn randomised_submit_cancel_shutdown_accounts_for_every_task_exactly_once() {
    let seed = std::env::var("HOMEBOUND_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2026);
    for iteration in 0..common::stress_reps(ITERATIONS) {
        one_iteration(seed, iteration);
    }
    threads::assert_none_alive(Duration::from_secs(10));
}

fn one_iteration(seed: u64, iteration: u64) {
    let at = format!("seed {seed} iteration {iteration}");
    let mut rng = Rng::new(seed ^ iteration.wrapping_mul(0xA24B_AED4_963E_E407));
    let workers = 1 + rng.below(2) as usize;
    let pool = Pool::builder()
        .name("stress")
        .workers(workers)
        .max_workers(workers + rng.below(2) as usize)
        .keep_alive(Duration::from_micros(rng.below(500)))
        .queue_capacity(rng.below(4) as usize)
        .build()
        .unwrap();
    let runs: Arc<[AtomicU8]> = (0..SUBMITTERS * MAX_OPS)
        .map(|_| AtomicU8::new(0))
        .collect();
    let seeds: Vec<u64> = (0..SUBMITTERS).map(|_| rng.next()).collect();
    let shutdown_kind = rng.below(3);
    let spin = rng.below(20_000);
    let run_pending = rng.next();

    let (records, pending_ran) = std::thread::scope(|s| {
        let submitters: Vec<_> = seeds
            .iter()
            .enumerate()
            .map(|(who, &seed)| {
                let (pool, runs) = (&pool, &runs);
                s.spawn(move || submitter(pool, runs, who, seed))
            })
            .collect();
        for _ in 0..spin {
            std::hint::spin_loop();
        }
        let mut pending_ran = 0u64;
        match shutdown_kind {
            0 => {
                pool.shutdown();
            }
            1 => {
                let _ = pool.shutdown_timeout(Duration::ZERO);
                pool.shutdown();
            }
            _ => {
                for (i, p) in pool.shutdown_now().into_iter().enumerate() {
                    if run_pending >> (i % 64) & 1 == 1 && p.run() {
                        pending_ran += 1;
                    }
                }
            }
        }
        let records: Vec<(usize, Record)> = submitters
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (records, pending_ran)
    });
    // Submitters that ran after the shutdown were rejected: everything is final now.
    let report = pool.shutdown();
    assert!(report.is_complete(), "{at}");
    let m = report.metrics().clone();

    let Tally {
        accepted,
        ran_with_value,
        panicked,
    } = tally(records, &runs, &at);
    for r in runs.iter() {
        assert!(r.load(Ordering::SeqCst) <= 1, "{at}: a task ran twice");
    }
    assert!(m.is_conserved(), "{at}: {m:?}");
    assert_eq!((m.queued, m.running), (0, 0), "{at}: {m:?}");
    assert_eq!(m.accepted, accepted, "{at}: {m:?}");
    assert_eq!(
        m.completed + m.panicked + m.cancelled_before_start + m.returned_by_shutdown_now,
        accepted,
        "{at}: {m:?}"
    );
    // Tasks handed back by shutdown_now and run here count as returned, not completed.
    assert!(m.panicked <= panicked, "{at}: {m:?}");
    assert_eq!(
        m.completed + m.panicked + pending_ran,
        ran_with_value + panicked,
        "{at}: {m:?}"
    );
    drop(pool);
    threads::assert_none_alive(Duration::from_secs(10));
}

/// What the submitters' records say happened, each record checked against its run count.
struct Tally {
    accepted: u64,
    ran_with_value: u64,
    panicked: u64,
}

fn tally(records: Vec<(usize, Record)>, runs: &[AtomicU8], at: &str) -> Tally {
    let mut t = Tally {
        accepted: 0,
        ran_with_value: 0,
        panicked: 0,
    };
    for (id, record) in records {
        let runs_now = runs[id].load(Ordering::SeqCst);
        match record {
            Record::Rejected => assert_eq!(runs_now, 0, "{at}: rejected task {id} ran"),
            Record::Accepted(h) => {
                t.accepted += 1;
                match h.join() {
                    Ok(v) => {
                        assert_eq!(v, id, "{at}");
                        assert_eq!(runs_now, 1, "{at}: task {id} ran {runs_now} times");
                        t.ran_with_value += 1;
                    }
                    Err(JoinError::Panicked(_)) => {
                        assert_eq!(runs_now, 1, "{at}: task {id}");
                        t.panicked += 1;
                    }
                    Err(JoinError::NotStarted(_)) => {
                        assert_eq!(runs_now, 0, "{at}: cancelled task {id} ran")
                    }
                    Err(e) => panic!("{at}: {e}"),
                }
            }
        }
    }
    t
}

fn submitter(pool: &Pool, runs: &Arc<[AtomicU8]>, who: usize, seed: u64) -> Vec<(usize, Record)> {
    let mut rng = Rng::new(seed);
    let ops = 1 + rng.below(MAX_OPS as u64) as usize;
    let mut records: Vec<(usize, Record)> = Vec::with_capacity(ops);
    for op in 0..ops {
        let id = who * MAX_OPS + op;
        let panics = rng.below(8) == 0;
        let task = {
            let runs = Arc::clone(runs);
            move |_: &Context| {
                runs[id].fetch_add(1, Ordering::SeqCst);
                if panics {
                    panic!("planned panic in task {id}");
                }
                id
            }
        };
        let result = match rng.below(5) {
            0 => pool.submit(task),
            1 => pool.try_submit(task),
            2 => pool.submit_timeout(task, Duration::from_micros(rng.below(200))),
            3 => {
                let ctx = Context::new().with_timeout(Duration::from_micros(rng.below(200)));
                pool.submit_ctx(&ctx, task)
            }
            _ => {
                if let Some((_, Record::Accepted(h))) = records.last() {
                    h.cancel();
                }
                pool.submit(task)
            }
        };
        match result {
            Ok(h) => records.push((id, Record::Accepted(h))),
            Err(
                e @ (SubmitError::Full(_)
                | SubmitError::Closed(_)
                | SubmitError::Timeout(_)
                | SubmitError::Cancelled(_)),
            ) => {
                drop(e.into_inner());
                records.push((id, Record::Rejected));
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    records
}

/// Issue 14: the same accounting with the full policies (`CallerRuns`, `DiscardOldest` whose
/// hook runs or drops what it gets, `Reject`, `Block` with a cap on blocked submitters),
/// `resize` and the lifecycle calls (`close` + `await_termination`, `wait_idle_timeout`)
/// racing the submitters.
#[test]
fn randomised_policies_close_and_wait_idle_account_for_every_task_exactly_once() {
    let seed = std::env::var("HOMEBOUND_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2027);
    for iteration in 0..common::stress_reps(ITERATIONS / 2) {
        one_policy_iteration(seed, iteration);
    }
    threads::assert_none_alive(Duration::from_secs(10));
}

fn one_policy_iteration(seed: u64, iteration: u64) {
    use homebound::pool::WhenFull;
    use std::sync::atomic::AtomicU64;

    let at = format!("seed {seed} iteration {iteration}");
    let mut rng = Rng::new(seed ^ iteration.wrapping_mul(0x9FB2_1C65_1E98_DF25));
    let workers = 1 + rng.below(2) as usize;
    let capacity = 1 + rng.below(3) as usize;
    let policy = match rng.below(4) {
        0 => WhenFull::Block,
        1 => WhenFull::Reject,
        2 => WhenFull::CallerRuns,
        _ => WhenFull::DiscardOldest,
    };
    let hook_ran = Arc::new(AtomicU64::new(0));
    let mut builder = Pool::builder()
        .name("stress-policy")
        .workers(workers)
        .max_workers(workers + rng.below(2) as usize)
        .keep_alive(Duration::from_micros(rng.below(500)))
        .queue_capacity(capacity)
        .when_full(policy);
    match policy {
        WhenFull::Block => builder = builder.max_blocked_submitters(1 + rng.below(2) as usize),
        WhenFull::DiscardOldest => {
            let (hook_ran, every) = (Arc::clone(&hook_ran), AtomicU64::new(rng.next()));
            builder = builder.on_discard(move |task| {
                // Run some of the displaced tasks, drop the others.
                if every.fetch_add(1, Ordering::Relaxed) % 2 == 0 && task.run() {
                    hook_ran.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        _ => {}
    }
    let pool = builder.build().unwrap();
    let runs: Arc<[AtomicU8]> = (0..SUBMITTERS * MAX_OPS)
        .map(|_| AtomicU8::new(0))
        .collect();
    let seeds: Vec<u64> = (0..SUBMITTERS).map(|_| rng.next()).collect();
    let ending = rng.below(4);
    let spin = rng.below(20_000);
    let resizes: Vec<(usize, usize)> = (0..rng.below(3))
        .map(|_| {
            let w = rng.below(3) as usize;
            (w, (w + rng.below(2) as usize).max(1))
        })
        .collect();
    let run_pending = rng.next();

    let (records, pending_ran) = std::thread::scope(|s| {
        let submitters: Vec<_> = seeds
            .iter()
            .enumerate()
            .map(|(who, &seed)| {
                let (pool, runs) = (&pool, &runs);
                s.spawn(move || submitter(pool, runs, who, seed))
            })
            .collect();
        for _ in 0..spin {
            std::hint::spin_loop();
        }
        // Resizes race the submitters (and, when the pool closes first, are refused).
        for (w, max) in resizes {
            if let Err(e) = pool.resize(w, max) {
                assert!(e.to_string().contains("closed"), "{at}: {e}");
            }
        }
        let mut pending_ran = 0u64;
        match ending {
            0 => {
                pool.close();
                assert!(pool.await_termination(Duration::from_secs(10)), "{at}");
                assert!(pool.is_terminated(), "{at}");
            }
            1 => {
                let _ = pool.wait_idle_timeout(Duration::from_micros(rng.below(500)));
                pool.shutdown();
            }
            2 => {
                pool.close();
                for (i, p) in pool.shutdown_now().into_iter().enumerate() {
                    if run_pending >> (i % 64) & 1 == 1 && p.run() {
                        pending_ran += 1;
                    }
                }
            }
            _ => {
                let _ = pool.shutdown_timeout(Duration::ZERO);
                pool.shutdown();
            }
        }
        let records: Vec<(usize, Record)> = submitters
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (records, pending_ran)
    });
    let report = pool.shutdown();
    assert!(report.is_complete(), "{at}");
    pool.wait_idle().unwrap();
    let m = report.metrics().clone();

    let Tally {
        accepted,
        ran_with_value,
        panicked,
    } = tally(records, &runs, &at);
    assert!(m.is_conserved(), "{at}: {m:?}");
    assert_eq!((m.queued, m.running), (0, 0), "{at}: {m:?}");
    // CallerRuns tasks never entered the pool: refused as Full there, accepted here.
    assert_eq!(m.accepted + m.ran_by_caller, accepted, "{at}: {m:?}");
    assert_eq!(
        m.completed
            + m.panicked
            + m.cancelled_before_start
            + m.returned_by_shutdown_now
            + m.discarded,
        m.accepted,
        "{at}: {m:?}"
    );
    if policy != WhenFull::DiscardOldest {
        assert_eq!(m.discarded, 0, "{at}: {m:?}");
    }
    if policy != WhenFull::CallerRuns {
        assert_eq!(m.ran_by_caller, 0, "{at}: {m:?}");
    }
    // Every run is accounted for: by a worker, by shutdown_now's caller, by the discard hook
    // or by a submitter (CallerRuns).
    assert_eq!(
        m.completed + m.panicked + pending_ran + hook_ran.load(Ordering::SeqCst) + m.ran_by_caller,
        ran_with_value + panicked,
        "{at}: {m:?}"
    );
    drop(pool);
    threads::assert_none_alive(Duration::from_secs(10));
}
