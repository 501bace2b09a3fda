//! `scope` / `Group` against their peers, in the same run:
//!
//! * 1k trivial tasks, no limit: `homebound::scope` vs a hand-written `std::thread::scope`
//!   (one thread per task in both).
//! * 1k trivial tasks, limit 2: `Group::builder().limit(2)`, with `spawn` (a handle per task)
//!   and with `execute` (no handle), vs `rayon::scope` (global pool) vs a hand-written scoped
//!   worker queue (2 workers, crossbeam `bounded(1024)` like the group's default queue, boxed
//!   tasks without results: `execute`'s like), and the same queue with a result slot per task
//!   (`spawn`'s like).
//! * 256 CPU-bound tasks of ~50 µs: `Group` limited to the core count (`spawn`, `execute`, and
//!   `queue(0)`) vs `rayon::scope` vs the hand-written scoped queue.
//!
//! Run: `cargo bench --bench group -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use homebound::{Context, group::Group, scope};
use parking_lot::Mutex;

const TASKS: u64 = 1000;
/// A limited group's default queue capacity, which the hand-written peer copies.
const GROUP_DEFAULT_QUEUE: usize = 1024;

fn trivial_unlimited(c: &mut Criterion) {
    let mut group = c.benchmark_group("group/1k_trivial_unlimited");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let ctx = Context::new();
    group.bench_function("homebound_scope", |b| {
        b.iter(|| {
            let sum = AtomicU64::new(0);
            scope(&ctx, |g| {
                for i in 0..TASKS {
                    let sum = &sum;
                    g.spawn(move |_ctx| {
                        sum.fetch_add(i, Ordering::Relaxed);
                        Ok::<_, ()>(())
                    });
                }
            })
            .unwrap();
            black_box(sum.into_inner())
        })
    });
    group.bench_function("std_thread_scope", |b| {
        b.iter(|| {
            let sum = AtomicU64::new(0);
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let sum = &sum;
                        s.spawn(move || {
                            sum.fetch_add(i, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
            });
            black_box(sum.into_inner())
        })
    });
    // Same, with homebound's registered threads: isolates the thread registry's share.
    group.bench_function("std_thread_scope_registered", |b| {
        b.iter(|| {
            let sum = AtomicU64::new(0);
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let sum = &sum;
                        homebound::threads::Builder::new("raw")
                            .spawn_scoped(s, move || {
                                sum.fetch_add(i, Ordering::Relaxed);
                            })
                            .unwrap()
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
            });
            black_box(sum.into_inner())
        })
    });
    group.finish();
}

/// How a group bench hands each task over.
#[derive(Clone, Copy)]
enum Via {
    /// `spawn`, dropping the handle at once.
    Spawn,
    /// `execute`: no handle.
    Execute,
}

/// Runs `tasks` tasks adding `work(i)` to a sum through `group`, and returns the sum.
fn group_sum(
    group: &Group,
    ctx: &Context,
    tasks: u64,
    via: Via,
    work: impl Fn(u64) -> u64 + Copy + Send,
) -> u64 {
    let sum = AtomicU64::new(0);
    group
        .run(ctx, |g| {
            for i in 0..tasks {
                let sum = &sum;
                let task = move |_ctx: &Context| {
                    sum.fetch_add(work(i), Ordering::Relaxed);
                    Ok::<_, ()>(())
                };
                match via {
                    Via::Spawn => drop(g.spawn(task)),
                    Via::Execute => g.execute(task),
                }
            }
        })
        .unwrap();
    sum.into_inner()
}

/// The peer for a limited group: `workers` scoped threads draining a bounded queue of boxed
/// tasks. With `results`, each task also fills a result slot (`Arc<Mutex<Option<u64>>>`) that
/// the spawner drops, as the bench drops `spawn`'s handles: the like-for-like peer of `spawn`.
fn hand_written_queue(
    workers: usize,
    tasks: u64,
    results: bool,
    work: impl Fn(u64) -> u64 + Copy + Send,
) -> u64 {
    let sum = AtomicU64::new(0);
    let sum_ref = &sum;
    std::thread::scope(|s| {
        let (tx, rx) =
            crossbeam_channel::bounded::<Box<dyn FnOnce() + Send + '_>>(GROUP_DEFAULT_QUEUE);
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || {
                    for job in rx {
                        job();
                    }
                })
            })
            .collect();
        for i in 0..tasks {
            let add = move || sum_ref.fetch_add(work(i), Ordering::Relaxed);
            if results {
                let slot = Arc::new(Mutex::new(None));
                let result = slot.clone();
                tx.send(Box::new(move || *result.lock() = Some(add())))
                    .unwrap();
                drop(slot);
            } else {
                tx.send(Box::new(move || {
                    add();
                }))
                .unwrap();
            }
        }
        drop(tx);
        for h in handles {
            h.join().unwrap();
        }
    });
    sum.into_inner()
}

fn trivial_limit_2(c: &mut Criterion) {
    let mut group = c.benchmark_group("group/1k_trivial_limit2");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let ctx = Context::new();
    let limited = Group::builder().limit(2).build().unwrap();
    group.bench_function("homebound_group_limit2", |b| {
        b.iter(|| black_box(group_sum(&limited, &ctx, TASKS, Via::Spawn, |i| i)))
    });
    group.bench_function("homebound_group_limit2_execute", |b| {
        b.iter(|| black_box(group_sum(&limited, &ctx, TASKS, Via::Execute, |i| i)))
    });
    group.bench_function("rayon_scope", |b| {
        b.iter(|| {
            let sum = AtomicU64::new(0);
            rayon::scope(|s| {
                for i in 0..TASKS {
                    let sum = &sum;
                    s.spawn(move |_| {
                        sum.fetch_add(i, Ordering::Relaxed);
                    });
                }
            });
            black_box(sum.into_inner())
        })
    });
    group.bench_function("hand_written_scoped_queue", |b| {
        b.iter(|| black_box(hand_written_queue(2, TASKS, false, |i| i)))
    });
    group.bench_function("hand_written_scoped_queue_with_results", |b| {
        b.iter(|| black_box(hand_written_queue(2, TASKS, true, |i| i)))
    });
    group.finish();
}

/// Iterations of `spin` that take about `target` on this machine.
fn calibrate(target: Duration) -> u64 {
    let mut iters = 1_000u64;
    loop {
        let start = Instant::now();
        black_box(spin(iters));
        let took = start.elapsed();
        if took >= Duration::from_millis(20) {
            return (iters as f64 * target.as_secs_f64() / took.as_secs_f64()) as u64;
        }
        iters *= 2;
    }
}

fn spin(iters: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..iters {
        x = black_box(x.rotate_left(5) ^ i).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

fn cpu_bound(c: &mut Criterion) {
    let iters = calibrate(Duration::from_micros(50));
    let cores = num_cpus::get();
    let mut group = c.benchmark_group("group/256_cpu_50us");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let ctx = Context::new();
    let limited = Group::builder().limit(cores).build().unwrap();
    let work = move |_| spin(iters);
    group.bench_function("homebound_group_limit_cores", |b| {
        b.iter(|| black_box(group_sum(&limited, &ctx, 256, Via::Spawn, work)))
    });
    group.bench_function("homebound_group_limit_cores_execute", |b| {
        b.iter(|| black_box(group_sum(&limited, &ctx, 256, Via::Execute, work)))
    });
    let strict = Group::builder().limit(cores).queue(0).build().unwrap();
    group.bench_function("homebound_group_limit_cores_queue0", |b| {
        b.iter(|| black_box(group_sum(&strict, &ctx, 256, Via::Spawn, work)))
    });
    group.bench_function("rayon_scope", |b| {
        b.iter(|| {
            let sum = AtomicU64::new(0);
            rayon::scope(|s| {
                for _ in 0..256 {
                    let sum = &sum;
                    s.spawn(move |_| {
                        sum.fetch_add(spin(iters), Ordering::Relaxed);
                    });
                }
            });
            black_box(sum.into_inner())
        })
    });
    group.bench_function("hand_written_scoped_queue", |b| {
        b.iter(|| black_box(hand_written_queue(cores, 256, false, work)))
    });
    group.finish();
}

criterion_group!(benches, trivial_unlimited, trivial_limit_2, cpu_bound);
criterion_main!(benches);
