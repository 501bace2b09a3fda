//! What keeping each thread's state costs a pool task, in instructions (issue 17): a program to
//! run under callgrind, built twice, with the state kept (default) and without it
//! (`RUSTFLAGS="--cfg homebound_no_thread_state"`).
//!
//! One worker is held by a first task while `N` tiny tasks fill an unbounded queue, then
//! released to drain them; each task's instructions (its `execute` and its run on the worker)
//! are `(Ir(2N) - Ir(N)) / N`, which cancels the start-up and shutdown.
//!
//! ```text
//! cargo bench -p homebound-benches --bench observe_task_cost --no-run
//! N=100000 valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/observe_task_cost-*
//! N=200000 valgrind ...   # and the same with RUSTFLAGS="--cfg homebound_no_thread_state"
//! ```

use std::hint::black_box;

use crossbeam_channel::bounded;
use homebound::pool::Pool;

fn main() {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let pool = Pool::builder().workers(1).unbounded().build().unwrap();
    let (hold_tx, hold) = bounded::<()>(0);
    let (held_tx, held) = bounded::<()>(0);
    pool.execute(move |_| {
        held_tx.send(()).unwrap();
        let _ = hold.recv();
    })
    .unwrap();
    held.recv().unwrap();
    for i in 0..n {
        pool.execute(move |_| _ = black_box(i)).unwrap();
    }
    drop(hold_tx);
    pool.wait_idle().unwrap();
    let report = pool.shutdown();
    assert_eq!(report.metrics().completed, n + 1);
}
