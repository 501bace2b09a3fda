//! The cost of keeping each thread's state for the dump (issue 17), against today's hot path
//! (no state kept) in the same run.
//!
//! Every state change is measured as a pair (enter and leave), on a registered thread, as the
//! hooks run it:
//!
//! * `pool task, same name`: a named pool task's start and end, as the worker makes them: it
//!   passes the start on its pool's clock (nanoseconds since the pool's epoch), which converts
//!   with an add and a divide (the offset between the clocks is cached per thread); no clock
//!   read, no lock (an unnamed pool task stores a word the worker packed once per stretch);
//! * `task, no name`: a group task's start and end, from an `Instant` already read;
//! * `task, same name`: a named task whose name the thread already holds (a compare, no lock;
//!   a new name takes the thread's own uncontended lock once);
//! * `wait (reads the clock)`: a blocking wait (`ctx.recv`, `sleep`, `submit` on a full queue),
//!   which reads the clock: only on paths that are about to block;
//! * peers: `today (nothing)`, the same loop without the state; `Instant::now()`, one clock
//!   read; `uncontended Mutex store`, what a locked slot would cost.
//!
//! Run: `cargo bench -p homebound-benches --bench observe`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_channel::unbounded;
use homebound::threads;
use parking_lot::Mutex;

/// What the registered thread measures.
#[derive(Clone, Copy)]
enum Case {
    Today,
    PoolTask,
    Task,
    NamedTask,
    Wait,
    Now,
    Mutex,
}

/// Runs `iters` rounds of `case` and returns how long they took.
fn rounds(case: Case, iters: u64) -> Duration {
    let since = Instant::now();
    let slot = Mutex::new((0u64, None::<&str>));
    let start = Instant::now();
    for _ in 0..iters {
        match case {
            Case::Today => drop(black_box(since)),
            Case::PoolTask => {
                let name = Some(black_box("fetch"));
                threads::bench_pool_task_state_change(name, black_box(since), black_box(1_000))
            }
            Case::Task => threads::bench_task_state_change(None, black_box(since)),
            Case::NamedTask => {
                threads::bench_task_state_change(Some(black_box("fetch")), black_box(since))
            }
            Case::Wait => threads::bench_wait_state_change(),
            Case::Now => drop(black_box(Instant::now())),
            Case::Mutex => {
                *slot.lock() = (black_box(1), None);
                *slot.lock() = (black_box(0), None);
            }
        }
    }
    start.elapsed()
}

fn state_change(c: &mut Criterion) {
    // State is kept only on registered threads: the rounds run on one (criterion's own thread
    // is not), which takes each request and answers with the time it took.
    let (ask, asked) = unbounded::<(Case, u64)>();
    let (answer, answered) = unbounded::<Duration>();
    let measurer = threads::spawn("bench", move || {
        for (case, iters) in asked {
            answer.send(rounds(case, iters)).unwrap();
        }
    })
    .unwrap();
    let mut g = c.benchmark_group("thread state change (enter + leave)");
    for (name, case) in [
        ("today (nothing)", Case::Today),
        ("pool task, same name", Case::PoolTask),
        ("task, no name", Case::Task),
        ("task, same name", Case::NamedTask),
        ("wait (reads the clock)", Case::Wait),
        ("peer: Instant::now()", Case::Now),
        ("peer: uncontended Mutex store x2", Case::Mutex),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                ask.send((case, iters)).unwrap();
                answered.recv().unwrap()
            })
        });
    }
    g.finish();
    drop(ask);
    measurer.join().unwrap();
}

criterion_group!(benches, state_change);
criterion_main!(benches);
