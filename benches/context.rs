//! Context benches, each against a peer in the same run:
//! tokio-util's `CancellationToken` driven from plain threads, a hand-written
//! "drop the Sender" crossbeam channel, a thread spawned per callback (Go's `AfterFunc` runs
//! each callback on a new goroutine), and std's `catch_unwind` for `Panicked::catch`.
//!
//! Run: `cargo bench --bench context`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use crossbeam_channel::{Receiver, Sender, bounded, select};
use homebound::{Context, Panicked};
use tokio_util::sync::CancellationToken;

fn is_cancelled(c: &mut Criterion) {
    let mut g = c.benchmark_group("is_cancelled");
    let ctx = Context::new().child();
    g.bench_function("homebound", |b| b.iter(|| black_box(&ctx).is_cancelled()));
    let token = CancellationToken::new().child_token();
    g.bench_function("tokio-util", |b| {
        b.iter(|| black_box(&token).is_cancelled())
    });
    let flag = AtomicBool::new(false);
    g.bench_function("raw AtomicBool", |b| {
        b.iter(|| black_box(&flag).load(Ordering::Acquire))
    });
    g.finish();
}

fn child_and_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("child+drop");
    let root = Context::new();
    g.bench_function("homebound", |b| b.iter(|| drop(black_box(root.child()))));
    let token = CancellationToken::new();
    g.bench_function("tokio-util", |b| {
        b.iter(|| drop(black_box(token.child_token())))
    });
    g.finish();
}

/// The cost of cancelling a context that has no callbacks (issue 15: `after_cancel` must not
/// make this dearer).
fn cancel_without_callbacks(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel (no callbacks)");
    let root = Context::new();
    g.bench_function("homebound", |b| {
        b.iter_batched(
            || root.child(),
            |ctx| {
                ctx.cancel();
                ctx
            },
            BatchSize::SmallInput,
        )
    });
    let token = CancellationToken::new();
    g.bench_function("tokio-util", |b| {
        b.iter_batched(
            || token.child_token(),
            |t| {
                t.cancel();
                t
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn cancel_root_with_1k_children(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel root with 1k children");
    g.bench_function("homebound", |b| {
        b.iter_batched(
            || {
                let root = Context::new();
                let kids: Vec<Context> = (0..1000).map(|_| root.child()).collect();
                (root, kids)
            },
            |(root, kids)| {
                root.cancel();
                (root, kids)
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("tokio-util", |b| {
        b.iter_batched(
            || {
                let root = CancellationToken::new();
                let kids: Vec<CancellationToken> = (0..1000).map(|_| root.child_token()).collect();
                (root, kids)
            },
            |(root, kids)| {
                root.cancel();
                (root, kids)
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// One round of the wake-latency measurement: hand the waiter something to block on in
/// `select!`, wait until it is about to park, then time from the cancel to its wake-up.
trait Waitable: Send + 'static {
    fn receiver(&self) -> Receiver<()>;
    fn fire(self);
}

impl Waitable for Context {
    fn receiver(&self) -> Receiver<()> {
        self.done().clone()
    }
    fn fire(self) {
        self.cancel();
    }
}

/// The peer: a bare channel whose Sender is dropped to broadcast "stop".
struct DropSender(Sender<()>, Receiver<()>);

impl Waitable for DropSender {
    fn receiver(&self) -> Receiver<()> {
        self.1.clone()
    }
    fn fire(self) {
        drop(self.0);
    }
}

fn wake_latency<W: Waitable>(iters: u64, make: impl Fn() -> W) -> Duration {
    let (work_tx, work_rx) = bounded::<Receiver<()>>(0);
    let (woke_tx, woke_rx) = bounded::<Instant>(0);
    let (_never_tx, never) = bounded::<()>(0);
    let waiter = thread::spawn(move || {
        for done in work_rx {
            select! {
                recv(never) -> _ => unreachable!(),
                recv(done) -> _ => woke_tx.send(Instant::now()).unwrap(),
            }
        }
    });
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let w = make();
        work_tx.send(w.receiver()).unwrap();
        // Give the waiter time to park (both peers get the same pause).
        let park_by = Instant::now() + Duration::from_micros(200);
        while Instant::now() < park_by {
            std::hint::spin_loop();
        }
        let fired = Instant::now();
        w.fire();
        total += woke_rx.recv().unwrap() - fired;
    }
    drop(work_tx);
    waiter.join().unwrap();
    total
}

fn cancel_wake_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel wake latency");
    g.sample_size(20);
    g.bench_function("homebound done()", |b| {
        b.iter_custom(|iters| wake_latency(iters, Context::new))
    });
    g.bench_function("crossbeam drop-Sender", |b| {
        b.iter_custom(|iters| {
            wake_latency(iters, || {
                let (tx, rx) = bounded(0);
                DropSender(tx, rx)
            })
        })
    });
    g.finish();
}

/// From `cancel()` to the callback starting: homebound's runner (a parked thread is woken)
/// against a thread spawned per callback.
fn after_cancel_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel to callback start");
    g.sample_size(20);
    g.bench_function("homebound after_cancel", |b| {
        b.iter_custom(|iters| {
            let (started_tx, started) = bounded::<Instant>(1);
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ctx = Context::new();
                let tx = started_tx.clone();
                ctx.after_cancel(move || tx.send(Instant::now()).unwrap())
                    .detach();
                let fired = Instant::now();
                ctx.cancel();
                total += started.recv().unwrap() - fired;
            }
            total
        })
    });
    g.bench_function("thread per callback", |b| {
        b.iter_custom(|iters| {
            let (started_tx, started) = bounded::<Instant>(1);
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tx = started_tx.clone();
                let fired = Instant::now();
                let h = thread::spawn(move || tx.send(Instant::now()).unwrap());
                total += started.recv().unwrap() - fired;
                h.join().unwrap();
            }
            total
        })
    });
    g.finish();
}

/// `Panicked::catch` when nothing panics (issue 15 item 3: keeping everything about a panic
/// must cost nothing on this path) against std's `catch_unwind`.
fn catch_without_panic(c: &mut Criterion) {
    let mut g = c.benchmark_group("catch (no panic)");
    g.bench_function("homebound Panicked::catch", |b| {
        b.iter(|| Panicked::catch(|| black_box(7u64) * 6).ok())
    });
    g.bench_function("std catch_unwind", |b| {
        b.iter(|| std::panic::catch_unwind(|| black_box(7u64) * 6).ok())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = is_cancelled, child_and_drop, cancel_without_callbacks, cancel_root_with_1k_children,
        cancel_wake_latency, after_cancel_latency, catch_without_panic
}
criterion_main!(benches);
