//! The README tour: a context with a deadline stops workers that a `WaitGroup` waits for, and the
//! leak check proves every thread ended.
//!
//! Run it with `cargo run --release --example quickstart`.

use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select};
use homebound::{Context, WaitGroup, threads};

fn main() {
    let started = Instant::now();
    // Problem 4 (no way to stop): the whole job is bounded by a deadline.
    let ctx = Context::new().with_timeout(Duration::from_millis(300));
    let (jobs_tx, jobs) = bounded::<u64>(16);
    let (results_tx, results) = bounded::<(usize, u64)>(16);

    // Problem 5 (unclear completion): every worker holds a WaitGroup guard until it returns.
    let wg = WaitGroup::new();
    let workers: Vec<_> = (0..2)
        .map(|id| {
            let (ctx, jobs, results_tx, guard) =
                (ctx.clone(), jobs.clone(), results_tx.clone(), wg.enter());
            threads::spawn("quickstart-worker", move || {
                let _done = guard;
                let mut handled = 0u64;
                loop {
                    // The worker sleeps in select!, and the deadline wakes it with no polling.
                    select! {
                        recv(jobs) -> job => match job {
                            Ok(n) => {
                                handled += 1;
                                if ctx.send(&results_tx, (id, collatz_steps(n))).is_err() {
                                    break;
                                }
                            }
                            Err(_) => break,
                        },
                        recv(ctx.done()) -> _ => break,
                    }
                }
                handled
            })
            .expect("spawn worker")
        })
        .collect();
    drop((jobs, results_tx));

    // The producer feeds numbers until the deadline stops it; `send` hands back what it could not
    // deliver, so nothing is silently dropped.
    let producer = {
        let ctx = ctx.clone();
        threads::spawn("quickstart-producer", move || {
            let mut sent = 0u64;
            for n in 1.. {
                if ctx.send(&jobs_tx, n).is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        })
        .expect("spawn producer")
    };

    let mut longest = (0u64, 0usize);
    let mut received = 0u64;
    while let Ok((worker, steps)) = ctx.recv(&results) {
        received += 1;
        longest = longest.max((steps, worker));
    }

    wg.wait();
    let handled: Vec<u64> = workers
        .into_iter()
        .map(|w| w.join().expect("worker panicked"))
        .collect();
    let sent = producer.join().expect("producer panicked");
    println!(
        "deadline: {:?}",
        ctx.cause().expect("the deadline cancelled the context")
    );
    println!("sent {sent} numbers, workers handled {handled:?}, {received} results received");
    println!(
        "longest Collatz run seen: {} steps (worker {})",
        longest.0, longest.1
    );
    // Problem 3 (leaks): every thread homebound started has ended.
    threads::assert_none_alive(Duration::from_secs(5));
    println!("no thread leaked; finished in {:?}", started.elapsed());
}

fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n != 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}
