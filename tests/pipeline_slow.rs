//! Slow stages: a cancel stops them within about one item's time, their first result reaches
//! the consumer within about one item's time, and results keep flowing when items turn slow in
//! the middle of a run (chunks are flushed by time, not only when full). Bounds are generous
//! multiples of the item time: they fail by seconds, not milliseconds, when the promise breaks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use homebound::{Context, pipeline::Pipeline, threads};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// Slack for thread wake-ups and a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(400);

#[test]
fn a_deadline_stops_a_slow_stage_within_about_one_item() {
    let item = ms(20);
    let deadline = ms(200);
    let ctx = Context::new().with_timeout(deadline);
    let started = Instant::now();
    let err = Pipeline::from_iter(&ctx, 0..10_000u64)
        .map(2, move |x| {
            thread::sleep(item);
            x
        })
        .for_each(|_| {})
        .unwrap_err();
    let took = started.elapsed();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        took < deadline + 2 * item + SLACK,
        "the run stopped {took:?} after it started (deadline {deadline:?}, item {item:?})"
    );
    no_leaks();
}

#[test]
fn the_first_result_of_a_slow_stage_arrives_within_about_one_item() {
    let item = ms(20);
    let ctx = Context::new();
    let started = Instant::now();
    let mut out = Pipeline::from_iter(&ctx, 0..10_000u64)
        .map(1, move |x| {
            thread::sleep(item);
            x
        })
        .into_iter();
    assert_eq!(out.next(), Some(0));
    let first = started.elapsed();
    let stopping = Instant::now();
    drop(out);
    let stop = stopping.elapsed();
    assert!(first < 2 * item + SLACK, "first result after {first:?}");
    assert!(stop < item + SLACK, "dropping the output took {stop:?}");
    no_leaks();
}

#[test]
fn results_keep_flowing_when_items_turn_slow() {
    let item = ms(10);
    let turn = 3_000u64;
    let ctx = Context::new();
    // Each item carries the moment the stage finished it: its latency is how long it then
    // waited in a chunk before the consumer saw it.
    let mut out = Pipeline::from_iter(&ctx, 0..1_000_000u64)
        .map(1, move |x| {
            if x >= turn {
                thread::sleep(item);
            }
            (x, Instant::now())
        })
        .into_iter();
    let mut slow_seen = 0;
    let mut worst = Duration::ZERO;
    for (x, done) in out.by_ref() {
        if x >= turn {
            worst = worst.max(done.elapsed());
            slow_seen += 1;
            if slow_seen == 20 {
                break;
            }
        }
    }
    let stopping = Instant::now();
    drop(out);
    let stop = stopping.elapsed();
    assert_eq!(slow_seen, 20);
    assert!(
        worst < 2 * item + SLACK,
        "after the items turned slow, a result waited {worst:?} for the consumer (item {item:?})"
    );
    assert!(stop < item + SLACK, "dropping the output took {stop:?}");
    no_leaks();
}

/// Most items a stage runs between two looks at the pulse (the pipeline's documented blind
/// block).
const BLIND_MAX: u64 = 16;

#[test]
fn a_fused_chain_whose_items_turn_slow_after_a_long_fast_stretch_stops_within_one_block() {
    let item = ms(10);
    // Long enough for every stage's blind blocks to have grown to their largest.
    let turn = 300_000u64;
    let ctx = Context::new();
    let (turned_tx, turned) = crossbeam_channel::bounded::<()>(1);
    let started_after_cancel = Arc::new(AtomicU64::new(0));
    let cancelled = Arc::new(AtomicBool::new(false));
    let (counter, flag) = (Arc::clone(&started_after_cancel), Arc::clone(&cancelled));
    // Three one-worker maps: one fused loop. The middle one turns slow at `turn`.
    let run = Pipeline::from_iter(&ctx, 0..u64::MAX)
        .map(1, |x| x.wrapping_mul(3))
        .map(1, move |x| {
            if x / 3 >= turn {
                if flag.load(Ordering::SeqCst) {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                let _ = turned_tx.try_send(());
                thread::sleep(item);
            }
            x
        })
        .named("turns-slow")
        .map(1, |x| x / 3);
    let consumer = thread::spawn(move || run.for_each(|_| {}));
    // Cancel as soon as the first slow item has begun: the stage is in the middle of a block,
    // which it finishes (at most BLIND_MAX items, the one under way included) before it looks
    // up.
    turned.recv().unwrap();
    cancelled.store(true, Ordering::SeqCst);
    let cancelling = Instant::now();
    ctx.cancel();
    let err = consumer.join().unwrap().unwrap_err();
    let stop = cancelling.elapsed();
    let late = started_after_cancel.load(Ordering::SeqCst);
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        late <= BLIND_MAX,
        "{late} slow items began after the cancel (a blind block holds at most {BLIND_MAX})"
    );
    assert!(
        stop < item * BLIND_MAX as u32 + SLACK,
        "the fused chain took {stop:?} to stop (item {item:?})"
    );
    let report = err.report();
    let stage = report.stage("turns-slow").unwrap();
    assert_eq!(
        stage.items_in,
        stage.items_out + stage.dropped,
        "the slow stage's books: {stage:?}"
    );
    no_leaks();
}

/// A small deterministic generator, so a failure can be replayed from its case number.
struct Rng(u64);

impl Rng {
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

#[test]
fn random_mixes_of_fast_and_slow_items_stay_prompt() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for case in 0..10 {
        let item = ms(5 + rng.below(11));
        let turn = rng.below(5_000);
        let workers = 1 + rng.below(3) as usize;
        let ordered = rng.below(2) == 1;
        let fused_tail = rng.below(2) == 1;
        let cancel_after = 1 + rng.below(6);
        let seed = rng.next();
        // After the turn, about half the items are slow, in a pattern set by the seed.
        let slow = move |x: u64| x >= turn && (x ^ seed).count_ones().is_multiple_of(2);
        let what = format!(
            "case {case}: item {item:?}, turn at {turn}, {workers} workers, ordered {ordered}, fused tail {fused_tail}"
        );
        let ctx = Context::new();
        let mut p = Pipeline::from_iter(&ctx, 0..u64::MAX).map(workers, move |x| {
            if slow(x) {
                thread::sleep(item);
            }
            (x, Instant::now())
        });
        if fused_tail {
            p = p.map(workers, |done| done);
        }
        if ordered {
            p = p.ordered();
        }
        let mut out = p.into_iter();
        let mut worst = Duration::ZERO;
        let mut slow_seen = 0;
        let mut cancelled_at = None;
        for (x, done) in out.by_ref() {
            if x >= turn {
                // How long the result waited after its stage finished it.
                worst = worst.max(done.elapsed());
            }
            if slow(x) {
                slow_seen += 1;
                if slow_seen == cancel_after {
                    ctx.cancel();
                    cancelled_at = Some(Instant::now());
                }
            }
        }
        let err = out.finish().unwrap_err();
        let stopped = cancelled_at.expect("cancelled").elapsed();
        eprintln!("{what}: worst wait {worst:?}, stopped {stopped:?} after the cancel");
        assert!(err.is_cancelled(), "{what}: {err:?}");
        assert!(
            worst < 2 * item + SLACK,
            "{what}: a result waited {worst:?} for the consumer"
        );
        assert!(
            stopped < item + SLACK,
            "{what}: the run took {stopped:?} to stop after the cancel"
        );
        no_leaks();
    }
}
