//! Instructions per task under callgrind (issue 13): `n` tiny tasks on one worker that is held
//! while the queue fills, then drained; the same for the hand-written peers. Instruction counts
//! repeat exactly, where wall clock on a shared 2-core machine cannot resolve 10%.
//!
//! ```sh
//! cargo bench -p homebound-benches --bench per_task --no-run   # prints nothing useful; builds
//! B=$(ls -t target/release/deps/per_task-* | grep -v '\.d$' | head -1)
//! for n in 20000 40000; do valgrind --tool=callgrind $B pool-exec $n 2>&1 | grep Collected; done
//! # instructions per task = (I(40000) - I(20000)) / 20000
//! ```
//!
//! Variants: `hand`, `pool-exec`, `pool-submit` (handle dropped), `pool-join`, `group-hand`,
//! `group-exec`, `group-spawn` (limit(1)); `rep-hand`, `rep-exec`, `rep-spawn` (`n` runs of
//! the harness's group workload, limit(2), 1000 tasks each); `wall-hand`, `wall-exec`,
//! `wall-submit`, `wall-join` (the harness's pool workload, 2 workers, timed). Without a
//! variant (as `cargo bench` runs it) it does nothing.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crossbeam_channel::bounded;
use homebound::Context;
use homebound::group::Group;
use homebound::pool::Pool;

fn pool(n: u64) -> Pool {
    Pool::builder()
        .workers(1)
        .queue_capacity(n as usize + 8)
        .build()
        .unwrap()
}

fn hold_pool(p: &Pool) -> crossbeam_channel::Sender<()> {
    let (release, gate) = bounded::<()>(0);
    let (started_tx, started) = bounded::<()>(1);
    p.execute(move |_| {
        started_tx.send(()).unwrap();
        let _ = gate.recv();
    })
    .unwrap();
    started.recv().unwrap();
    release
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(which), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        return;
    };
    let which = which.as_str();
    let sum = Arc::new(AtomicU64::new(0));
    match which {
        "pool-exec" => {
            let p = pool(n);
            let release = hold_pool(&p);
            for i in 0..n {
                let sum = Arc::clone(&sum);
                p.execute(move |_| {
                    sum.fetch_add(i, Ordering::Relaxed);
                })
                .unwrap();
            }
            drop(release);
            p.shutdown();
        }
        "pool-submit" => {
            let p = pool(n);
            let release = hold_pool(&p);
            for i in 0..n {
                let sum = Arc::clone(&sum);
                let _ = p
                    .submit(move |_| {
                        sum.fetch_add(i, Ordering::Relaxed);
                    })
                    .unwrap();
            }
            drop(release);
            p.shutdown();
        }
        "pool-join" => {
            // The first park of a thread builds parking_lot's table, after which glibc folds
            // every freed slot at once: a one-off cost that landed in either run at random.
            let (lock, bell) = (parking_lot::Mutex::new(()), parking_lot::Condvar::new());
            let _ = bell.wait_for(&mut lock.lock(), std::time::Duration::from_micros(1));
            let p = pool(n);
            let release = hold_pool(&p);
            let handles: Vec<_> = (0..n).map(|i| p.submit(move |_| i).unwrap()).collect();
            drop(release);
            let s = handles
                .into_iter()
                .fold(0u64, |s, h| s.wrapping_add(h.join().unwrap()));
            sum.fetch_add(s, Ordering::Relaxed);
            p.shutdown();
        }
        "hand" => {
            let (tx, rx) = bounded::<Box<dyn FnOnce() + Send>>(n as usize + 8);
            let worker = thread::spawn(move || {
                for job in rx {
                    job();
                }
            });
            let (release, gate) = bounded::<()>(0);
            let (started_tx, started) = bounded::<()>(1);
            tx.send(Box::new(move || {
                started_tx.send(()).unwrap();
                let _ = gate.recv();
            }))
            .unwrap();
            started.recv().unwrap();
            for i in 0..n {
                let sum = Arc::clone(&sum);
                tx.send(Box::new(move || {
                    sum.fetch_add(i, Ordering::Relaxed);
                }))
                .unwrap();
            }
            drop(release);
            drop(tx);
            worker.join().unwrap();
        }
        "group-exec" | "group-spawn" => {
            let spawn = which == "group-spawn";
            let total = AtomicU64::new(0);
            let group = Group::builder()
                .limit(1)
                .queue(n as usize + 8)
                .build()
                .unwrap();
            group
                .run(&Context::new(), |g| {
                    let (release, gate) = bounded::<()>(0);
                    let (started_tx, started) = bounded::<()>(1);
                    g.execute(move |_| {
                        started_tx.send(()).unwrap();
                        let _ = gate.recv();
                        Ok::<(), ()>(())
                    });
                    started.recv().unwrap();
                    for i in 0..n {
                        let total = &total;
                        let task = move |_: &Context| {
                            total.fetch_add(i, Ordering::Relaxed);
                            Ok::<(), ()>(())
                        };
                        if spawn {
                            drop(g.spawn(task));
                        } else {
                            g.execute(task);
                        }
                    }
                    drop(release);
                })
                .unwrap();
            sum.fetch_add(total.into_inner(), Ordering::Relaxed);
        }
        "group-hand" => {
            let total = AtomicU64::new(0);
            let t = &total;
            thread::scope(|s| {
                let (tx, rx) = bounded::<Box<dyn FnOnce() + Send + '_>>(n as usize + 8);
                let w = s.spawn(move || {
                    for job in rx {
                        job();
                    }
                });
                let (release, gate) = bounded::<()>(0);
                let (started_tx, started) = bounded::<()>(1);
                tx.send(Box::new(move || {
                    started_tx.send(()).unwrap();
                    let _ = gate.recv();
                }))
                .unwrap();
                started.recv().unwrap();
                for i in 0..n {
                    tx.send(Box::new(move || {
                        t.fetch_add(i, Ordering::Relaxed);
                    }))
                    .unwrap();
                }
                drop(release);
                drop(tx);
                w.join().unwrap();
            });
            sum.fetch_add(total.into_inner(), Ordering::Relaxed);
        }
        "wall-exec" | "wall-hand" | "wall-join" | "wall-submit" => {
            let t = std::time::Instant::now();
            match which {
                "wall-exec" | "wall-submit" => {
                    let p = Pool::builder().workers(2).build().unwrap();
                    for i in 0..n {
                        let sum = Arc::clone(&sum);
                        if which == "wall-exec" {
                            p.execute(move |_| {
                                sum.fetch_add(i, Ordering::Relaxed);
                            })
                            .unwrap();
                        } else {
                            let _ = p
                                .submit(move |_| {
                                    sum.fetch_add(i, Ordering::Relaxed);
                                })
                                .unwrap();
                        }
                    }
                    p.shutdown();
                }
                "wall-join" => {
                    let p = Pool::builder().workers(2).build().unwrap();
                    let handles: Vec<_> = (0..n).map(|i| p.submit(move |_| i).unwrap()).collect();
                    let s = handles
                        .into_iter()
                        .fold(0u64, |s, h| s.wrapping_add(h.join().unwrap()));
                    sum.fetch_add(s, Ordering::Relaxed);
                    p.shutdown();
                }
                _ => {
                    let (tx, rx) = bounded::<Box<dyn FnOnce() + Send>>(2048);
                    let ws: Vec<_> = (0..2)
                        .map(|_| {
                            let rx = rx.clone();
                            thread::spawn(move || {
                                for job in rx {
                                    job();
                                }
                            })
                        })
                        .collect();
                    for i in 0..n {
                        let sum = Arc::clone(&sum);
                        tx.send(Box::new(move || {
                            sum.fetch_add(i, Ordering::Relaxed);
                        }))
                        .unwrap();
                    }
                    drop(tx);
                    for w in ws {
                        w.join().unwrap();
                    }
                }
            }
            println!("{which} {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        }
        "rep-exec" | "rep-spawn" | "rep-hand" => {
            // `n` runs of the harness's group workload: limit(2), 1000 tiny tasks per run.
            let mut total = 0u64;
            for _ in 0..n {
                let s = AtomicU64::new(0);
                let sr = &s;
                if which == "rep-hand" {
                    thread::scope(|sc| {
                        let (tx, rx) = bounded::<Box<dyn FnOnce() + Send + '_>>(1024);
                        let hs: Vec<_> = (0..2)
                            .map(|_| {
                                let rx = rx.clone();
                                sc.spawn(move || {
                                    for job in rx {
                                        job();
                                    }
                                })
                            })
                            .collect();
                        for i in 0..1000u64 {
                            tx.send(Box::new(move || {
                                sr.fetch_add(i, Ordering::Relaxed);
                            }))
                            .unwrap();
                        }
                        drop(tx);
                        for h in hs {
                            h.join().unwrap();
                        }
                    });
                } else {
                    let group = Group::builder().limit(2).build().unwrap();
                    group
                        .run(&Context::new(), |g| {
                            for i in 0..1000u64 {
                                let task = move |_: &Context| {
                                    sr.fetch_add(i, Ordering::Relaxed);
                                    Ok::<(), ()>(())
                                };
                                if which == "rep-spawn" {
                                    drop(g.spawn(task));
                                } else {
                                    g.execute(task);
                                }
                            }
                        })
                        .unwrap();
                }
                total += s.into_inner();
            }
            assert_eq!(total, n * 499_500);
            sum.fetch_add(n * (n - 1) / 2, Ordering::Relaxed);
        }
        other => panic!("unknown variant {other}"),
    }
    assert_eq!(sum.load(Ordering::Relaxed), n * (n - 1) / 2);
}
