//! Memory stays bounded by a count of items, in every mode: ordered parallel `flat_map`, the
//! read-ahead in front of a slow stage, and batches (counted as their items).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use homebound::{Context, pipeline::DEFAULT_BUFFER, pipeline::Pipeline, threads};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// Counts the items alive now and the most ever alive at once.
#[derive(Default)]
struct Census {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl Census {
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

/// An item that registers itself in a census while it lives.
struct Counted {
    census: Arc<Census>,
}

impl Counted {
    fn new(census: &Arc<Census>) -> Counted {
        let live = census.live.fetch_add(1, Ordering::SeqCst) + 1;
        census.peak.fetch_max(live, Ordering::SeqCst);
        Counted {
            census: Arc::clone(census),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.census.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Items alive at once that the tests below tolerate: a few chunks per link, far below what
/// the unbounded cases reach (a million, or a hundred thousand).
const TOLERATED: usize = 20_000;

#[test]
fn ordered_parallel_flat_map_is_bounded() {
    for ordered in [false, true] {
        let census = Arc::new(Census::default());
        let ctx = Context::new();
        let expand = {
            let census = Arc::clone(&census);
            move |_: u32| {
                let census = Arc::clone(&census);
                (0..500_000).map(move |_| Counted::new(&census))
            }
        };
        let mut p = Pipeline::from_iter(&ctx, 0..2u32).flat_map(2, expand);
        if ordered {
            p = p.ordered();
        }
        let mut seen = 0usize;
        let outcome = p.for_each(|c| {
            seen += 1;
            drop(c);
        });
        outcome.unwrap();
        assert_eq!(seen, 1_000_000);
        assert_eq!(census.live(), 0);
        assert!(
            census.peak() < TOLERATED,
            "ordered={ordered}: {} items alive at once",
            census.peak()
        );
    }
    no_leaks();
}

#[test]
fn read_ahead_in_front_of_a_slow_stage_is_bounded_and_drains_fast() {
    let census = Arc::new(Census::default());
    let (ctx, stop) = (Context::new(), Context::new());
    let items = {
        let census = Arc::clone(&census);
        (0..u64::MAX).map(move |_| Counted::new(&census))
    };
    let mut out = Pipeline::from_iter(&ctx, items)
        .map(1, |c| {
            thread::sleep(ms(1));
            c
        })
        .stop_intake_on(&stop)
        .into_iter();
    let started = Instant::now();
    while started.elapsed() < ms(500) {
        drop(out.next().unwrap());
    }
    let in_flight = census.live();
    stop.cancel();
    let stopping = Instant::now();
    let rest = out.by_ref().count();
    let drain = stopping.elapsed();
    let report = out.finish().unwrap().into_report();
    assert!(report.intake_stopped());
    // The documented bound: what waits in the one link (the buffer), plus the chunk the
    // worker holds and the one the source is filling (at most 512 items each).
    assert!(
        census.peak() <= DEFAULT_BUFFER + 2 * 512,
        "{} items in flight at once ({in_flight} after 500 ms)",
        census.peak()
    );
    assert!(
        drain < ms(1_000),
        "a graceful stop took {drain:?} to drain {rest} items"
    );
    no_leaks();
}

#[test]
fn batches_count_as_their_items() {
    let census = Arc::new(Census::default());
    let ctx = Context::new();
    let items = {
        let census = Arc::clone(&census);
        (0..u64::MAX).map(move |_| Counted::new(&census))
    };
    let mut out = Pipeline::from_iter(&ctx, items)
        .batch(1_000, ms(1_000))
        .map(1, |batch| batch)
        .into_iter();
    // A slow consumer: every link in front of it fills up with whole batches.
    let started = Instant::now();
    while started.elapsed() < ms(500) {
        drop(out.next().unwrap());
        thread::sleep(ms(5));
    }
    drop(out);
    assert!(
        census.peak() < TOLERATED,
        "{} items alive at once in batches of 1000",
        census.peak()
    );
    no_leaks();
}
