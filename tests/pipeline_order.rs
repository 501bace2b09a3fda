//! Tests for `Pipeline`: ordered output, batching by size and time, graceful stop, and a
//! proptest of random stage chains against the same chain run sequentially. Every test ends
//! with the leak check.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::threads::State;
use homebound::{Context, pipeline::ErrorPolicy, pipeline::Pipeline, threads};

use common::dump::wait_for;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

fn jitter(seed: u64) -> Duration {
    // A cheap hash of the item: delays between 0 and 255 µs.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    Duration::from_micros(x & 0xff)
}

#[test]
fn ordered_output_under_random_delays() {
    let ctx = Context::new();
    let (out, _) = Pipeline::from_iter(&ctx, 0..3_000u64)
        .map(4, |x| {
            thread::sleep(jitter(x) / 8);
            x
        })
        .filter(3, |x| x % 7 != 0)
        .map(2, |x| {
            thread::sleep(jitter(x + 1) / 8);
            x * 2
        })
        .ordered()
        .collect()
        .unwrap();
    let expected: Vec<u64> = (0..3_000u64)
        .filter(|x| x % 7 != 0)
        .map(|x| x * 2)
        .collect();
    assert_eq!(out, expected);
    no_leaks();
}

#[test]
fn ordered_stage_whose_items_finish_in_reverse_order() {
    let ctx = Context::new();
    let n = 64u64;
    // A slow source sends tiny chunks (the latency bound flushes them), so every item can
    // overtake another.
    let items = (0..n).inspect(|_| thread::sleep(ms(3)));
    let (out, _) = Pipeline::from_iter(&ctx, items)
        .map(8, move |x| {
            // Earlier items take longer: they finish last.
            thread::sleep(Duration::from_micros(500 * (n - x)));
            x
        })
        .ordered()
        .collect()
        .unwrap();
    assert_eq!(out, (0..n).collect::<Vec<_>>());
    no_leaks();
}

/// A worker waiting for its turn (its part must follow an earlier item still in the works)
/// wakes for a cancel: nothing else would wake it, since the earlier item never finishes.
#[test]
fn a_cancel_reaches_a_worker_waiting_for_its_turn() {
    let ctx = Context::new();
    let (started_tx, started) = bounded::<()>(1);
    let run = {
        let ctx = ctx.clone();
        threads::spawn("ordered-cancel", move || {
            Pipeline::from_iter(&ctx, 0..100_000u32)
                .map_ctx(2, move |ctx, x| {
                    if x == 0 {
                        started_tx.send(()).unwrap();
                        let _ = ctx.done().recv(); // until the cancel
                    }
                    x
                })
                .named("waits-its-turn")
                .ordered()
                .collect()
        })
    }
    .unwrap();
    started.recv().unwrap();
    wait_for("waits-its-turn", |t| t.state() == &State::WaitingForOrder);
    ctx.cancel();
    let err = run.join().unwrap().unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    no_leaks();
}

#[test]
fn ordered_single_worker_stages_see_source_order() {
    let ctx = Context::new();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (out, _) = Pipeline::from_iter(&ctx, 0..2_000u64)
        .map(3, |x| {
            thread::sleep(jitter(x) / 16);
            x
        })
        .inspect({
            let seen = seen.clone();
            move |x| seen.lock().push(*x)
        })
        .batch(100, Duration::from_secs(60))
        .ordered()
        .collect()
        .unwrap();
    assert_eq!(*seen.lock(), (0..2_000).collect::<Vec<_>>());
    assert_eq!(out.len(), 20);
    assert_eq!(out.concat(), (0..2_000).collect::<Vec<_>>());
    no_leaks();
}

#[test]
fn batch_by_size_flushes_the_remainder() {
    let ctx = Context::new();
    let (batches, outcome) = Pipeline::from_iter(&ctx, 0..10_005u32)
        .map(2, |x| x)
        .batch(1_000, Duration::from_secs(60))
        .collect()
        .unwrap();
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 10_005);
    assert!(batches.iter().all(|b| b.len() <= 1_000));
    assert_eq!(batches.iter().filter(|b| b.len() == 1_000).count(), 10);
    assert_eq!(outcome.report().stage("batch-2").unwrap().items_in, 10_005);
    no_leaks();
}

#[test]
fn batch_by_time_with_a_slow_producer() {
    // The pipeline gives up after 10 s, so a broken time flush fails instead of hanging.
    let ctx = Context::new().with_timeout(Duration::from_secs(10));
    let (tx, rx) = unbounded::<u32>();
    let mut batches = Pipeline::from_receiver(&ctx, rx)
        .batch(100, ms(5))
        .into_iter();
    // Lockstep: the next item is sent only after the previous one came out in a batch, which
    // can only happen through the time limit (100 items never arrive at once).
    for i in 0..5u32 {
        tx.send(i).unwrap();
        let batch = batches.next().expect("a batch flushed by time");
        assert_eq!(batch, [i]);
    }
    tx.send(99).unwrap();
    drop(tx);
    assert_eq!(batches.next(), Some(vec![99]));
    assert_eq!(batches.next(), None);
    let outcome = batches.finish().unwrap();
    assert_eq!(outcome.report().items_read(), 6);
    no_leaks();
}

#[test]
fn graceful_stop_flushes_open_batches() {
    let ctx = Context::new();
    let stop = Context::new();
    let mut delivered = 0usize;
    let outcome = Pipeline::from_iter(&ctx, 0..u64::MAX)
        .map(2, |x| x)
        .batch(1_000, Duration::from_secs(60))
        .stop_intake_on(&stop)
        .for_each(|batch| {
            delivered += batch.len();
            if delivered >= 5_000 {
                stop.cancel();
            }
        })
        .unwrap();
    let report = outcome.report();
    assert!(report.intake_stopped());
    assert!(report.cancelled().is_none());
    assert_eq!(report.dropped(), 0);
    assert_eq!(delivered as u64, report.items_read(), "{report}");
    no_leaks();
}

#[test]
fn flat_map_expands() {
    let ctx = Context::new();
    let (out, _) = Pipeline::from_iter(&ctx, 0..1_000u32)
        .flat_map(2, |x| vec![x; (x % 4) as usize])
        .ordered()
        .collect()
        .unwrap();
    let expected: Vec<u32> = (0..1_000u32)
        .flat_map(|x| vec![x; (x % 4) as usize])
        .collect();
    assert_eq!(out, expected);
    no_leaks();
}

mod chains {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Add(u64, usize),
        Filter(u64, usize),
        Dup(usize),
        TrySkip(u64, usize),
        Inspect,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..100u64, 1..4usize).prop_map(|(k, w)| Op::Add(k, w)),
            (2..5u64, 1..4usize).prop_map(|(k, w)| Op::Filter(k, w)),
            (1..4usize).prop_map(Op::Dup),
            (2..7u64, 1..4usize).prop_map(|(k, w)| Op::TrySkip(k, w)),
            Just(Op::Inspect),
        ]
    }

    fn sequential(items: Vec<u64>, ops: &[Op]) -> Vec<u64> {
        let mut items = items;
        for op in ops {
            items = match *op {
                Op::Add(k, _) => items.into_iter().map(|x| x + k).collect(),
                Op::Filter(k, _) => items.into_iter().filter(|x| x % k != 0).collect(),
                Op::Dup(_) => items.into_iter().flat_map(|x| [x, x + 1]).collect(),
                Op::TrySkip(k, _) => items.into_iter().filter(|x| x % k != 1).collect(),
                Op::Inspect => items,
            };
        }
        items
    }

    fn run(items: Vec<u64>, ops: &[Op], ordered: bool) -> Vec<u64> {
        let ctx = Context::new();
        let mut p = Pipeline::from_iter(&ctx, items)
            .try_map(1, Ok::<u64, u64>)
            .on_error(ErrorPolicy::Skip);
        for op in ops {
            p = match *op {
                Op::Add(k, w) => p.map(w, move |x| x + k),
                Op::Filter(k, w) => p.filter(w, move |x| x % k != 0),
                Op::Dup(w) => p.flat_map(w, |x| [x, x + 1]),
                Op::TrySkip(k, w) => p
                    .try_map(w, move |x| if x % k == 1 { Err(x) } else { Ok(x) })
                    .on_error(ErrorPolicy::Skip),
                Op::Inspect => p.inspect(|_| {}),
            };
        }
        if ordered {
            p = p.ordered();
        }
        p.collect().unwrap().0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn chains_match_sequential(
            items in proptest::collection::vec(0..1_000u64, 0..3_000),
            ops in proptest::collection::vec(op(), 0..5),
            ordered in any::<bool>(),
        ) {
            let expected = sequential(items.clone(), &ops);
            let mut got = run(items, &ops, ordered);
            if ordered {
                prop_assert_eq!(got, expected);
            } else {
                let mut expected = expected;
                expected.sort_unstable();
                got.sort_unstable();
                prop_assert_eq!(got, expected);
            }
            no_leaks();
        }
    }
}
