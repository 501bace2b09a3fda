//! Pipeline benches, each against peers in the same run.
//!
//! * `three_maps`: 3 trivial map stages over 1M `u64` (one worker each), summed by the
//!   consumer. Peers: a hand-written per-item crossbeam pipeline, a hand-written chunked one
//!   (256 items per message), and the `pariter` crate (three chained `parallel_map`s, over
//!   100k items because it is ~500x slower).
//! * `log_workload`: the `log_pipeline` example's read lines → parse → keep → enrich → batch
//!   over a 500k-line log held in memory, against the same steps in a sequential loop.
//!
//! Before the benches, a 10M-item run prints the peak RSS before and after (memory must stay
//! flat: links are bounded).
//!
//! Run: `cargo bench --bench pipeline -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::{self, BufRead, Cursor};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use crossbeam_channel::bounded;
use homebound::{Context, pipeline::Pipeline};

#[path = "../examples/support/logfmt.rs"]
#[allow(dead_code)]
mod logfmt;

const N: u64 = 1_000_000;
/// Lines in the log workload.
const LOG_LINES: u64 = 500_000;
/// pariter moves every item through channels (~0.2M items/s here): a smaller run keeps the
/// bench short; throughput is per element either way.
const N_PARITER: u64 = 100_000;

#[inline]
fn step(x: u64) -> u64 {
    x.wrapping_mul(3).wrapping_add(1)
}

fn homebound_three_maps(n: u64) -> u64 {
    let ctx = Context::new();
    let mut sum = 0u64;
    Pipeline::from_iter(&ctx, 0..n)
        .map(1, step)
        .map(1, step)
        .map(1, step)
        .for_each(|x| sum = sum.wrapping_add(x))
        .unwrap();
    sum
}

fn per_item_three_maps(n: u64) -> u64 {
    thread::scope(|s| {
        let (tx0, rx0) = bounded::<u64>(1024);
        let (tx1, rx1) = bounded::<u64>(1024);
        let (tx2, rx2) = bounded::<u64>(1024);
        let (tx3, rx3) = bounded::<u64>(1024);
        s.spawn(move || (0..n).for_each(|x| tx0.send(x).unwrap()));
        for (rx, tx) in [(rx0, tx1), (rx1, tx2), (rx2, tx3)] {
            s.spawn(move || rx.iter().for_each(|x| tx.send(step(x)).unwrap()));
        }
        rx3.iter().fold(0u64, u64::wrapping_add)
    })
}

fn chunked_three_maps(n: u64) -> u64 {
    thread::scope(|s| {
        let (tx0, rx0) = bounded::<Vec<u64>>(16);
        let (tx1, rx1) = bounded::<Vec<u64>>(16);
        let (tx2, rx2) = bounded::<Vec<u64>>(16);
        let (tx3, rx3) = bounded::<Vec<u64>>(16);
        s.spawn(move || {
            let mut chunk = Vec::with_capacity(256);
            for x in 0..n {
                chunk.push(x);
                if chunk.len() == 256 {
                    tx0.send(std::mem::replace(&mut chunk, Vec::with_capacity(256)))
                        .unwrap();
                }
            }
            if !chunk.is_empty() {
                tx0.send(chunk).unwrap();
            }
        });
        for (rx, tx) in [(rx0, tx1), (rx1, tx2), (rx2, tx3)] {
            s.spawn(move || {
                for chunk in rx {
                    tx.send(chunk.into_iter().map(step).collect()).unwrap();
                }
            });
        }
        rx3.iter().flatten().fold(0u64, u64::wrapping_add)
    })
}

fn pariter_three_maps(n: u64) -> u64 {
    use pariter::IteratorExt;
    (0..n)
        .parallel_map(step)
        .parallel_map(step)
        .parallel_map(step)
        .fold(0u64, u64::wrapping_add)
}

fn three_maps(c: &mut Criterion) {
    let expected = (0..N)
        .map(|x| step(step(step(x))))
        .fold(0u64, u64::wrapping_add);
    assert_eq!(homebound_three_maps(N), expected);
    assert_eq!(per_item_three_maps(N), expected);
    assert_eq!(chunked_three_maps(N), expected);
    let expected_small = (0..N_PARITER)
        .map(|x| step(step(step(x))))
        .fold(0u64, u64::wrapping_add);
    assert_eq!(pariter_three_maps(N_PARITER), expected_small);
    let mut g = c.benchmark_group("three_maps_1M");
    g.throughput(Throughput::Elements(N));
    g.bench_function("homebound", |b| {
        b.iter(|| black_box(homebound_three_maps(N)))
    });
    g.bench_function("crossbeam_per_item", |b| {
        b.iter(|| black_box(per_item_three_maps(N)))
    });
    g.bench_function("crossbeam_chunked_256", |b| {
        b.iter(|| black_box(chunked_three_maps(N)))
    });
    g.throughput(Throughput::Elements(N_PARITER));
    g.bench_function("pariter_100k", |b| {
        b.iter(|| black_box(pariter_three_maps(N_PARITER)))
    });
    g.finish();
}

fn homebound_log(text: &Arc<[u8]>) -> usize {
    let ctx = Context::new();
    let mut written = 0usize;
    Pipeline::from_iter(&ctx, Cursor::new(Arc::clone(text)).lines())
        .try_map(2, |line: io::Result<String>| {
            logfmt::parse(line.map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        })
        .on_error(homebound::pipeline::ErrorPolicy::Skip)
        .filter(1, logfmt::Record::is_interesting)
        .map(1, |r| logfmt::enrich(&r))
        .batch(1000, Duration::from_millis(200))
        .for_each(|batch| written += batch.iter().map(String::len).sum::<usize>())
        .unwrap();
    written
}

fn sequential_log(text: &Arc<[u8]>) -> usize {
    let mut written = 0usize;
    let mut batch = Vec::with_capacity(1000);
    for line in Cursor::new(Arc::clone(text)).lines() {
        let Ok(record) = logfmt::parse(line.unwrap()) else {
            continue;
        };
        if record.is_interesting() {
            batch.push(logfmt::enrich(&record));
            if batch.len() == 1000 {
                written += batch.drain(..).map(|s: String| s.len()).sum::<usize>();
            }
        }
    }
    written + batch.iter().map(String::len).sum::<usize>()
}

fn log_workload(c: &mut Criterion) {
    let mut text = Vec::new();
    for line in logfmt::Generator::new(7).take(LOG_LINES as usize) {
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
    }
    let text: Arc<[u8]> = text.into();
    assert_eq!(homebound_log(&text), sequential_log(&text));
    let mut g = c.benchmark_group("log_workload_500k");
    g.throughput(Throughput::Elements(LOG_LINES));
    g.bench_function("homebound", |b| b.iter(|| black_box(homebound_log(&text))));
    g.bench_function("sequential", |b| {
        b.iter(|| black_box(sequential_log(&text)))
    });
    g.finish();
}

/// Peak resident set size in KiB (Linux), or 0 where unknown.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_over_10m() {
    let before = peak_rss_kib();
    let _ = black_box(homebound_three_maps(1_000_000));
    let after_1m = peak_rss_kib();
    let _ = black_box(homebound_three_maps(10_000_000));
    let after_10m = peak_rss_kib();
    eprintln!(
        "peak RSS: start {before} KiB, after 1M items {after_1m} KiB, after 10M items {after_10m} KiB"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = three_maps, log_workload
}

fn main() {
    rss_over_10m();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
