//! Pipeline benches, each against peers in the same run.
//!
//! * `three_maps`: 3 trivial map stages over 1M `u64` (one worker each), summed by the
//!   consumer. Peers: a hand-written per-item crossbeam pipeline, a hand-written chunked one
//!   (512 items per message, mapped in place: the side-by-side harness's peer), the `pariter`
//!   crate (three chained `parallel_map`s, over 100k items because it is ~500x slower), and the
//!   three maps fused by hand into one sequential loop (the floor).
//! * `log_workload`: the `log_pipeline` example's read lines → parse → keep → enrich → batch
//!   over a 500k-line log held in memory: homebound as the example calls it (`from_read_at`,
//!   lines split across the workers and scanned in place), homebound over `lines()` (a source
//!   thread making a `String` per line, as the example did before), a sequential loop over
//!   `lines()`, and a sequential loop scanning the buffer in place.
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
use homebound::{
    Context,
    pipeline::{ErrorPolicy, Pipeline},
};

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

/// Hand-chunked: 512 items per message, bounded(16) links, each stage maps its chunk in place
/// (the side-by-side harness's `xbeam-chunked-512`).
fn chunked_three_maps(n: u64) -> u64 {
    const CHUNK: usize = 512;
    thread::scope(|s| {
        let (tx0, rx0) = bounded::<Vec<u64>>(16);
        let (tx1, rx1) = bounded::<Vec<u64>>(16);
        let (tx2, rx2) = bounded::<Vec<u64>>(16);
        let (tx3, rx3) = bounded::<Vec<u64>>(16);
        s.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            for x in 0..n {
                chunk.push(x);
                if chunk.len() == CHUNK {
                    tx0.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                        .unwrap();
                }
            }
            if !chunk.is_empty() {
                tx0.send(chunk).unwrap();
            }
        });
        for (rx, tx) in [(rx0, tx1), (rx1, tx2), (rx2, tx3)] {
            s.spawn(move || {
                for mut chunk in rx {
                    chunk.iter_mut().for_each(|x| *x = step(*x));
                    tx.send(chunk).unwrap();
                }
            });
        }
        rx3.iter().flatten().fold(0u64, u64::wrapping_add)
    })
}

/// The floor: the three maps fused by hand into one loop on one thread.
fn fused_three_maps(n: u64) -> u64 {
    (0..n)
        .map(|x| step(step(step(black_box(x)))))
        .fold(0u64, u64::wrapping_add)
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
    assert_eq!(fused_three_maps(N), expected);
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
    g.bench_function("crossbeam_chunked_512", |b| {
        b.iter(|| black_box(chunked_three_maps(N)))
    });
    g.bench_function("fused_loop", |b| b.iter(|| black_box(fused_three_maps(N))));
    g.throughput(Throughput::Elements(N_PARITER));
    g.bench_function("pariter_100k", |b| {
        b.iter(|| black_box(pariter_three_maps(N_PARITER)))
    });
    g.finish();
}

/// What the log workload computes: the bytes of the enriched lines it writes.
type Written = usize;

/// As `examples/log_pipeline.rs` calls it: the text split across both workers, each line
/// scanned in place and copied only if kept; parse, keep and enrich fused.
fn homebound_log(text: &Arc<[u8]>) -> Written {
    let ctx = Context::new();
    let mut written = 0usize;
    Pipeline::from_read_at(&ctx, Arc::clone(text))
        .try_map(2, |line| {
            let line = line.map_err(|e| e.to_string())?;
            let fields = logfmt::scan(line).map_err(|e| e.to_string())?;
            Ok::<_, String>(
                fields
                    .is_interesting()
                    .then(|| logfmt::Record::new(line, fields)),
            )
        })
        .on_error(ErrorPolicy::Skip)
        .filter_map(2, |record| record)
        .map(2, |r| logfmt::enrich(&r))
        .batch(1000, Duration::from_millis(200))
        .for_each(|batch| written += batch.iter().map(String::len).sum::<usize>())
        .unwrap();
    written
}

/// As the example called it before: a source thread over `lines()` (a `String` per line).
fn homebound_lines_log(text: &Arc<[u8]>) -> Written {
    let ctx = Context::new();
    let mut written = 0usize;
    Pipeline::from_iter(&ctx, Cursor::new(Arc::clone(text)).lines())
        .try_map(2, |line: io::Result<String>| {
            logfmt::parse(line.map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        })
        .on_error(ErrorPolicy::Skip)
        .filter(1, logfmt::Record::is_interesting)
        .map(1, |r| logfmt::enrich(&r))
        .batch(1000, Duration::from_millis(200))
        .for_each(|batch| written += batch.iter().map(String::len).sum::<usize>())
        .unwrap();
    written
}

fn sequential_log(text: &Arc<[u8]>) -> Written {
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

/// One thread scanning the text in place (no `String` per line): the single-thread limit.
fn sequential_in_place_log(text: &Arc<[u8]>) -> Written {
    let text = std::str::from_utf8(text).unwrap();
    let mut written = 0usize;
    let mut batch = Vec::with_capacity(1000);
    for line in text.lines() {
        let Ok(fields) = logfmt::scan(line) else {
            continue;
        };
        if fields.is_interesting() {
            batch.push(logfmt::enrich(&logfmt::Record::new(line, fields)));
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
    let expected = sequential_log(&text);
    assert_eq!(homebound_log(&text), expected);
    assert_eq!(homebound_lines_log(&text), expected);
    assert_eq!(sequential_in_place_log(&text), expected);
    let mut g = c.benchmark_group("log_workload_500k");
    g.throughput(Throughput::Elements(LOG_LINES));
    g.bench_function("homebound", |b| b.iter(|| black_box(homebound_log(&text))));
    g.bench_function("homebound_over_lines", |b| {
        b.iter(|| black_box(homebound_lines_log(&text)))
    });
    g.bench_function("sequential", |b| {
        b.iter(|| black_box(sequential_log(&text)))
    });
    g.bench_function("sequential_in_place", |b| {
        b.iter(|| black_box(sequential_in_place_log(&text)))
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
