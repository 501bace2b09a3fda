//! With the `progress` feature: a bar counts every finished item of a `par_map`, a group run and
//! a pool batch (failed and panicked items included), and its drawing thread is joined.
#![cfg(feature = "progress")]

use std::time::Duration;

use homebound::fan::par_map;
use homebound::pool::Pool;
use homebound::progress::Progress;
use homebound::{Context, scope, threads};

const BOUND: Duration = Duration::from_secs(10);

#[test]
fn par_map_items_are_counted_including_failures() {
    let bar = Progress::start(Some(500));
    let counter = bar.counter();
    let result = par_map(
        &Context::new(),
        (0..500u32).collect::<Vec<_>>(),
        |_ctx, x| {
            let _counted = counter.on_end();
            if x == 499 { Err(x) } else { Ok(x) }
        },
    );
    assert!(result.is_err());
    // The failure cancels the rest: every item that ran is counted, and no more.
    let counted = bar.finish();
    assert!((1..=500).contains(&counted), "{counted}");
    threads::assert_none_alive(BOUND);
}

#[test]
fn group_tasks_and_pool_batches_are_counted_exactly() {
    let bar = Progress::start(Some(20));
    scope(&Context::new(), |g| {
        for i in 0..20 {
            let counter = bar.counter();
            g.spawn(move |_| {
                let _counted = counter.on_end();
                Ok::<_, ()>(i)
            });
        }
    })
    .unwrap();
    assert_eq!(bar.finish(), 20);

    let pool = Pool::builder()
        .name("progress-pool")
        .workers(2)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..50u64)
        .map(|i| {
            pool.submit(move |_| {
                assert!(i != 7, "one panics");
                i
            })
            .unwrap()
        })
        .collect();
    let bar = Progress::start(Some(50));
    let results = bar.join_all(handles);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(bar.finish(), 50);
    pool.shutdown();
    threads::assert_none_alive(BOUND);
}

#[test]
fn a_dropped_bar_stops_its_thread() {
    let bar = Progress::start(None);
    bar.counter().add(3);
    drop(bar);
    threads::assert_none_alive(BOUND);
}
