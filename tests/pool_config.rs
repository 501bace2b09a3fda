//! The configuration read back (issue 14 item 9): every getter reflects the builder, and the
//! worker limits follow `resize`. The leak check at the end of every test.

use std::time::Duration;

use homebound::pool::{DEFAULT_QUEUE_PER_WORKER, Pool, WhenFull};

mod common;
use common::leak_check;

#[test]
fn getters_reflect_the_builder_and_resize() {
    let pool = Pool::builder()
        .workers(2)
        .max_workers(5)
        .keep_alive(Duration::from_millis(250))
        .queue_capacity(7)
        .when_full(WhenFull::Block)
        .max_blocked_submitters(3)
        .build()
        .unwrap();
    assert_eq!((pool.workers(), pool.max_workers()), (2, 5));
    assert_eq!(pool.keep_alive(), Some(Duration::from_millis(250)));
    assert_eq!(pool.queue_capacity(), Some(7));
    assert_eq!(pool.when_full(), WhenFull::Block);
    assert_eq!(pool.max_blocked_submitters(), Some(3));
    pool.resize(3, 4).unwrap();
    assert_eq!((pool.workers(), pool.max_workers()), (3, 4));
    assert!(pool.shutdown().metrics().is_conserved());

    let defaults = Pool::builder().workers(1).build().unwrap();
    assert_eq!((defaults.workers(), defaults.max_workers()), (1, 1));
    assert_eq!(defaults.keep_alive(), Some(Duration::from_secs(60)));
    assert_eq!(defaults.queue_capacity(), Some(DEFAULT_QUEUE_PER_WORKER));
    assert_eq!(defaults.when_full(), WhenFull::Block);
    assert_eq!(defaults.max_blocked_submitters(), None);
    defaults.shutdown();

    let odd = Pool::builder()
        .workers(0)
        .max_workers(2)
        .queue_capacity(0)
        .keep_alive(Duration::MAX)
        .when_full(WhenFull::CallerRuns)
        .build()
        .unwrap();
    assert_eq!(odd.queue_capacity(), Some(0));
    assert_eq!(odd.keep_alive(), None, "too large for Instant: never");
    assert_eq!(odd.when_full(), WhenFull::CallerRuns);
    assert_eq!((odd.workers(), odd.max_workers()), (0, 2));
    odd.shutdown();
    leak_check();
}
