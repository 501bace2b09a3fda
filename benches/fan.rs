//! `fan` against its peers, in the same run:
//! * `par_map` vs rayon's `par_iter().map().collect()` (and rayon's own `Result` collect) on
//!   1M items × ~1 µs and 10k items × ~50 µs;
//! * the same pair run interleaved (printed ratios), for a machine too noisy for criterion;
//! * `merge` of 1000 receivers (one thread) vs 1000 forwarding threads.
//!
//! Run: `cargo bench --bench fan -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::{Receiver, bounded, unbounded};
use homebound::{Context, fan};
use rayon::prelude::*;

/// Rounds of `spin` that take about one microsecond on this machine (calibrated once).
fn rounds_per_us() -> u64 {
    static ROUNDS: OnceLock<u64> = OnceLock::new();
    *ROUNDS.get_or_init(|| {
        let probe = 2_000_000u64;
        let start = Instant::now();
        black_box(spin(1, probe));
        let per_round = start.elapsed().as_nanos() as f64 / probe as f64;
        ((1000.0 / per_round) as u64).max(1)
    })
}

/// CPU work: a xorshift chain `rounds` long that the optimiser cannot skip.
fn spin(seed: u64, rounds: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

fn par_map_group(c: &mut Criterion, name: &str, items: usize, micros: u64) {
    let rounds = rounds_per_us() * micros;
    let input: Vec<u64> = (0..items as u64).collect();
    let ctx = Context::new();
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(items as u64));
    group.bench_function("rayon par_iter.map.collect", |b| {
        b.iter(|| {
            let out: Vec<u64> = input.par_iter().map(|&x| spin(x, rounds)).collect();
            black_box(out)
        })
    });
    group.bench_function("rayon collect::<Result<Vec>>", |b| {
        b.iter(|| {
            let out: Result<Vec<u64>, Infallible> =
                input.par_iter().map(|&x| Ok(spin(x, rounds))).collect();
            black_box(out)
        })
    });
    group.bench_function("homebound par_map", |b| {
        b.iter(|| {
            let out = fan::par_map(&ctx, &input[..], |_, &x| {
                Ok::<_, Infallible>(spin(x, rounds))
            });
            black_box(out.unwrap())
        })
    });
    group.finish();
}

fn par_map_small_items(c: &mut Criterion) {
    par_map_group(c, "par_map 1M x 1us", 1_000_000, 1);
}

fn par_map_large_items(c: &mut Criterion) {
    par_map_group(c, "par_map 10k x 50us", 10_000, 50);
}

/// On a shared, noisy machine criterion's back-to-back groups drift by 2x between functions.
/// This runs rayon and `par_map` alternately (ABBA order), pairs adjacent runs, and prints the
/// median of the per-pair ratios and the ratio of the best times: both are robust to slow drift.
fn par_map_interleaved(_: &mut Criterion) {
    for (items, micros, pairs) in [(200_000usize, 1u64, 15usize), (2_000, 50, 15)] {
        let rounds = rounds_per_us() * micros;
        let input: Vec<u64> = (0..items as u64).collect();
        let ctx = Context::new();
        let rayon_run = || {
            let start = Instant::now();
            let out: Vec<u64> = input.par_iter().map(|&x| spin(x, rounds)).collect();
            black_box(out);
            start.elapsed()
        };
        let homebound_run = || {
            let start = Instant::now();
            let out = fan::par_map(&ctx, &input[..], |_, &x| {
                Ok::<_, Infallible>(spin(x, rounds))
            });
            black_box(out.unwrap());
            start.elapsed()
        };
        let (mut ratios, mut best_r, mut best_h) = (Vec::new(), Duration::MAX, Duration::MAX);
        for pair in 0..pairs {
            let (r, h) = if pair % 2 == 0 {
                let r = rayon_run();
                (r, homebound_run())
            } else {
                let h = homebound_run();
                (rayon_run(), h)
            };
            best_r = best_r.min(r);
            best_h = best_h.min(h);
            ratios.push(h.as_secs_f64() / r.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "par_map interleaved {items} x {micros}us: rayon best {best_r:.1?}, par_map best \
             {best_h:.1?}, best-time ratio {:.3}, median pair ratio {:.3} ({pairs} pairs)",
            best_h.as_secs_f64() / best_r.as_secs_f64(),
            ratios[ratios.len() / 2]
        );
    }
}

const INPUTS: usize = 1000;
const PER_INPUT: usize = 100;

/// 1000 disconnected receivers holding 100 messages each.
fn filled_inputs() -> Vec<Receiver<u64>> {
    (0..INPUTS)
        .map(|i| {
            let (tx, rx) = unbounded();
            for m in 0..PER_INPUT as u64 {
                tx.send(i as u64 * 1000 + m).unwrap();
            }
            rx
        })
        .collect()
}

/// Merges `inputs` with homebound's one-thread `merge` and sums what comes out.
fn merge_one_thread(inputs: Vec<Receiver<u64>>) -> u64 {
    let merged = fan::merge(inputs).unwrap();
    merged.fold(0u64, |acc, m| acc.wrapping_add(m))
}

/// The peer: one forwarding thread per input into a shared bounded output.
fn merge_thread_per_input(inputs: Vec<Receiver<u64>>) -> u64 {
    let (tx, rx) = bounded(1024);
    let handles: Vec<_> = inputs
        .into_iter()
        .map(|input| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for m in input {
                    if tx.send(m).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let sum = rx.iter().fold(0u64, |acc, m| acc.wrapping_add(m));
    for h in handles {
        h.join().unwrap();
    }
    sum
}

/// Interleaved runs of both merges (see `par_map_interleaved`).
fn merge_interleaved(_: &mut Criterion) {
    let pairs = 9;
    let (mut best_m, mut best_t, mut ratios) = (Duration::MAX, Duration::MAX, Vec::new());
    for pair in 0..pairs {
        let time = |f: fn(Vec<Receiver<u64>>) -> u64| {
            let inputs = filled_inputs();
            let start = Instant::now();
            black_box(f(inputs));
            start.elapsed()
        };
        let (m, t) = if pair % 2 == 0 {
            let m = time(merge_one_thread);
            (m, time(merge_thread_per_input))
        } else {
            let t = time(merge_thread_per_input);
            (time(merge_one_thread), t)
        };
        best_m = best_m.min(m);
        best_t = best_t.min(t);
        ratios.push(m.as_secs_f64() / t.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "merge interleaved {INPUTS} x {PER_INPUT}: 1000 threads best {best_t:.1?}, merge best \
         {best_m:.1?}, best-time ratio {:.3}, median pair ratio {:.3} ({pairs} pairs)",
        best_m.as_secs_f64() / best_t.as_secs_f64(),
        ratios[ratios.len() / 2]
    );
}

fn merge_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge 1000 receivers x 100 msgs");
    group.sample_size(10);
    group.throughput(Throughput::Elements((INPUTS * PER_INPUT) as u64));
    group.bench_function("homebound merge (1 thread)", |b| {
        b.iter_batched(
            filled_inputs,
            |inputs| black_box(merge_one_thread(inputs)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("1000 forwarding threads", |b| {
        b.iter_batched(
            filled_inputs,
            |inputs| black_box(merge_thread_per_input(inputs)),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = par_map_interleaved, merge_interleaved, par_map_small_items, par_map_large_items, merge_group
}
criterion_main!(benches);
