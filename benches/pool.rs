//! Pool throughput against its peers, measured in the same run:
//! a hand-written fixed pool (boxed closures over a crossbeam bounded channel), the
//! `threadpool` crate, and `rayon` (`ThreadPool::spawn` + a latch), all with 2 workers.
//!
//! * A: 100k tiny tasks each capturing a `u64`, from one thread (per-task overhead).
//! * B: 10k tasks × ~50 µs of CPU (scaling; the 2-core ceiling is ~2×).
//! * C: 20k tasks × ~10 µs of CPU from 4 submitter threads.
//!
//! Every task ends by counting down a shared counter; the last one wakes the measuring thread.
//! homebound is measured twice: `execute` (fire-and-forget, like every peer) and `submit`
//! (with a joinable handle, dropped at once).
//! Run: `cargo bench --bench pool -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::{Receiver, Sender, bounded};
use homebound::pool::Pool;

const WORKERS: usize = 2;
const QUEUE: usize = 2048;

/// Counts tasks down; the last one signals.
struct Latch {
    left: AtomicUsize,
    sum: AtomicU64,
    done_tx: Sender<()>,
}

impl Latch {
    fn new(n: usize) -> (Arc<Latch>, Receiver<()>) {
        let (done_tx, done) = bounded(1);
        let latch = Latch {
            left: AtomicUsize::new(n),
            sum: AtomicU64::new(0),
            done_tx,
        };
        (Arc::new(latch), done)
    }

    #[inline]
    fn count(&self, x: u64) {
        self.sum.fetch_add(x, Ordering::Relaxed);
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done_tx.send(()).unwrap();
        }
    }
}

/// ~`iters` rounds of dependent arithmetic the optimiser cannot remove.
#[inline(never)]
fn burn(iters: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    for i in 0..iters {
        x = x.rotate_left(5) ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

/// Iterations of `burn` that take about `target`.
fn calibrate(target: Duration) -> u64 {
    let probe = 200_000;
    let t = Instant::now();
    black_box(burn(probe));
    let per = t.elapsed().as_secs_f64() / probe as f64;
    (target.as_secs_f64() / per).max(1.0) as u64
}

/// The hand-written baseline: boxed closures over a crossbeam bounded channel.
struct HandPool {
    tx: Option<Sender<Box<dyn FnOnce() + Send>>>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl HandPool {
    fn new(n: usize) -> Self {
        let (tx, rx) = bounded::<Box<dyn FnOnce() + Send>>(QUEUE);
        let workers = (0..n)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    for job in rx {
                        job();
                    }
                })
            })
            .collect();
        HandPool {
            tx: Some(tx),
            workers,
        }
    }

    fn execute(&self, f: impl FnOnce() + Send + 'static) {
        self.tx.as_ref().unwrap().send(Box::new(f)).unwrap();
    }
}

impl Drop for HandPool {
    fn drop(&mut self) {
        self.tx.take();
        for w in self.workers.drain(..) {
            w.join().unwrap();
        }
    }
}

struct Peers {
    homebound: Pool,
    hand: HandPool,
    threadpool: threadpool::ThreadPool,
    rayon: rayon::ThreadPool,
}

fn peers() -> Peers {
    Peers {
        homebound: Pool::builder()
            .name("bench")
            .workers(WORKERS)
            .queue_capacity(QUEUE)
            .build()
            .unwrap(),
        hand: HandPool::new(WORKERS),
        threadpool: threadpool::ThreadPool::new(WORKERS),
        rayon: rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            .build()
            .unwrap(),
    }
}

/// Submits `n` tasks from `submitters` scoped threads, each task a concrete closure handed to
/// `$submit` (so every peer boxes it exactly as it would in real use), then waits for all.
macro_rules! drive {
    ($n:expr, $submitters:expr, $work:expr, $peer:expr, |$pool:ident, $task:ident| $submit:expr) => {{
        let (n, submitters, work) = ($n, $submitters, $work);
        let (latch, done) = Latch::new(n);
        thread::scope(|s| {
            for who in 0..submitters {
                let latch = &latch;
                let $pool = $peer;
                s.spawn(move || {
                    for i in (who..n).step_by(submitters) {
                        let latch = Arc::clone(latch);
                        let x = i as u64;
                        let $task = move || {
                            let v = if work == 0 { x } else { burn(work) & 1 };
                            latch.count(v);
                        };
                        $submit;
                    }
                });
            }
        });
        done.recv().unwrap();
        latch.sum.load(Ordering::Relaxed)
    }};
}

fn bench_group(c: &mut Criterion, name: &str, n: usize, submitters: usize, work: u64) {
    let p = peers();
    let mut g = c.benchmark_group(name);
    g.sample_size(10).throughput(Throughput::Elements(n as u64));
    let id = |peer: &str| BenchmarkId::new(peer, n);
    // `execute`: fire-and-forget, like every peer here.
    g.bench_function(id("homebound_execute"), |b| {
        b.iter(|| {
            drive!(n, submitters, work, &p.homebound, |pool, task| {
                pool.execute(move |_| task()).unwrap()
            })
        })
    });
    // `submit`: with a joinable handle (dropped at once here), which no peer offers.
    g.bench_function(id("homebound_submit"), |b| {
        b.iter(|| {
            drive!(n, submitters, work, &p.homebound, |pool, task| {
                let _ = pool.submit(move |_| task()).unwrap();
            })
        })
    });
    g.bench_function(id("hand_written"), |b| {
        b.iter(|| {
            drive!(n, submitters, work, &p.hand, |pool, task| pool
                .execute(task))
        })
    });
    g.bench_function(id("threadpool"), |b| {
        b.iter(|| {
            drive!(n, submitters, work, p.threadpool.clone(), |pool, task| {
                pool.execute(task)
            })
        })
    });
    g.bench_function(id("rayon_spawn"), |b| {
        b.iter(|| drive!(n, submitters, work, &p.rayon, |pool, task| pool.spawn(task)))
    });
    g.finish();
    p.homebound.shutdown();
}

fn a_tiny_tasks(c: &mut Criterion) {
    bench_group(c, "pool_A_tiny_u64_tasks", 100_000, 1, 0);
}

fn b_cpu_50us(c: &mut Criterion) {
    let work = calibrate(Duration::from_micros(50));
    bench_group(c, "pool_B_10k_x_50us", 10_000, 1, work);
}

fn c_four_submitters(c: &mut Criterion) {
    let work = calibrate(Duration::from_micros(10));
    bench_group(c, "pool_C_20k_x_10us_4_submitters", 20_000, 4, work);
}

criterion_group!(benches, a_tiny_tasks, b_cpu_50us, c_four_submitters);
criterion_main!(benches);
