//! The clock seam (issue 18): every time read in homebound goes through one internal clock so
//! tests can make it virtual. The real clock must cost nothing measurable, so each bench runs
//! homebound's path against the plain `Instant::now()` path it replaced, in the same run.
//!
//! Run both builds: `cargo bench --bench clock` (the default: no `testing` feature, the clock
//! is `Instant::now()` inlined) and `cargo bench --bench clock --features testing` (with
//! `homebound/testing` compiled in: one relaxed atomic load first).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use homebound::Context;

fn now(c: &mut Criterion) {
    let mut g = c.benchmark_group("now");
    g.bench_function("homebound clock", |b| b.iter(homebound::__clock_now));
    g.bench_function("Instant::now", |b| b.iter(Instant::now));
    g.finish();
}

/// A context deadline check: time left before the deadline.
fn deadline_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("deadline check");
    let ctx = Context::new().with_timeout(Duration::from_secs(3600));
    g.bench_function("Context::remaining (clock)", |b| {
        b.iter(|| black_box(&ctx).remaining())
    });
    g.bench_function("by hand (Instant::now)", |b| {
        b.iter(|| {
            black_box(&ctx)
                .deadline()
                .map(|at| at.saturating_duration_since(Instant::now()))
        })
    });
    g.finish();
}

/// Making a context with a deadline: the clock read plus arming the shared timer.
fn with_timeout(c: &mut Criterion) {
    let mut g = c.benchmark_group("with_timeout+drop");
    let root = Context::new();
    let hour = Duration::from_secs(3600);
    g.bench_function("with_timeout (clock)", |b| {
        b.iter(|| drop(black_box(root.with_timeout(hour))))
    });
    g.bench_function("with_deadline(Instant::now() + d)", |b| {
        b.iter(|| drop(black_box(root.with_deadline(Instant::now() + hour))))
    });
    g.finish();
}

criterion_group!(benches, now, deadline_check, with_timeout);
criterion_main!(benches);
