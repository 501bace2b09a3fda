//! Many short limited groups, to catch a task the group forgets to count in or out: busy
//! workers report task ends in batches (see `group/life.rs`), and a lost end would hang `run`,
//! a counted-twice one would let it return early. Every test ends with the leak check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use homebound::{Context, group::Group, threads};

mod common;

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// A small deterministic generator, so a failure can be replayed from its seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn many_short_runs_account_for_every_task() {
    let mut rng = Lcg(0x5eed);
    for seed in 0..common::stress_reps(300) {
        let limit = 1 + rng.below(3) as usize;
        let builder = Group::builder().limit(limit);
        let builder = match rng.below(4) {
            0 => builder.queue(0),
            1 => builder.queue(1),
            2 => builder.queue(4),
            _ => builder,
        };
        let group = builder.build().unwrap();
        let tasks = rng.below(120) as usize;
        let nested_every = 1 + rng.below(8) as usize;
        let (spawned, ran, finished) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        group
            .run(&Context::new(), |g| {
                for i in 0..tasks {
                    let (spawned, ran, finished) = (&spawned, &ran, &finished);
                    let inner = g.clone();
                    spawned.fetch_add(1, Ordering::SeqCst);
                    let task = move |_ctx: &Context| {
                        ran.fetch_add(1, Ordering::SeqCst);
                        if i % nested_every == 0 {
                            spawned.fetch_add(1, Ordering::SeqCst);
                            inner.execute(move |_ctx| {
                                ran.fetch_add(1, Ordering::SeqCst);
                                finished.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            });
                        }
                        finished.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    };
                    if i % 2 == 0 {
                        g.execute(task);
                    } else {
                        drop(g.spawn(task));
                    }
                }
            })
            .unwrap();
        // `run` returned only after every task, nested ones included, had ended.
        let spawned = spawned.load(Ordering::SeqCst);
        assert_eq!(ran.load(Ordering::SeqCst), spawned, "seed {seed}");
        assert_eq!(finished.load(Ordering::SeqCst), spawned, "seed {seed}");
    }
    no_leaks();
}

#[test]
fn run_timeout_with_a_limit_returns_once_the_tasks_end() {
    // Ends held back by busy workers must reach a waiter at once; otherwise this would wait
    // out the whole timeout and report stragglers.
    let ran = Arc::new(AtomicUsize::new(0));
    let group = Group::builder().limit(2).build().unwrap();
    let rounds = common::stress_reps(20);
    for _ in 0..rounds {
        let result = group.run_timeout(&Context::new(), Duration::from_secs(60), |g| {
            for _ in 0..500 {
                let ran = ran.clone();
                g.execute(move |_ctx| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
            }
        });
        assert!(matches!(result, Ok(Ok(()))));
    }
    assert_eq!(ran.load(Ordering::SeqCst) as u64, rounds * 500);
    no_leaks();
}
