//! Helpers shared by test files (`mod common;` in each): the pool helpers, the stress
//! repetition count, a value whose `Drop` panics. Not every file uses every helper, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use std::time::Duration;

#[cfg(unix)]
pub mod child;
pub mod dump;
pub mod executor;

use crossbeam_channel::{Receiver, Sender, bounded};
use homebound::{pool, pool::Pool, threads};

/// The "promptly" bound: generous, so a loaded 2-core machine never flakes.
pub const BOUND: Duration = Duration::from_secs(10);

/// The leak check that ends every test.
pub fn leak_check() {
    threads::assert_none_alive(BOUND);
}

/// A gate tasks can wait on; dropping the sender opens it.
pub fn gate() -> (Sender<()>, Receiver<()>) {
    bounded(0)
}

/// Occupies one worker until the returned sender is dropped; cancellation does not end the
/// task. Returns once the task runs.
pub fn occupy(pool: &Pool) -> (Sender<()>, pool::TaskHandle<()>) {
    let (open, gate) = gate();
    let (started_tx, started) = bounded(1);
    let handle = pool
        .submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
    started.recv().unwrap();
    (open, handle)
}

/// Like [`occupy`], but the task also ends when its context is cancelled.
pub fn occupy_until_cancel(pool: &Pool) -> (Sender<()>, pool::TaskHandle<()>) {
    let (open, gate) = gate();
    let (started_tx, started) = bounded(1);
    let handle = pool
        .submit(move |ctx| {
            started_tx.send(()).unwrap();
            let _ = ctx.recv(&gate);
        })
        .unwrap();
    started.recv().unwrap();
    (open, handle)
}

/// How many times a stress loop repeats `base` rounds: `base` times `HOMEBOUND_STRESS_REPS`
/// (a positive integer, default 1). CI's stress step sets it; a plain `cargo test` runs the
/// base count.
pub fn stress_reps(base: u64) -> u64 {
    let reps = std::env::var("HOMEBOUND_STRESS_REPS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    base.saturating_mul(reps)
}

/// A value whose `Drop` panics (unless the thread is already unwinding): as a panic payload, it
/// panics again when the payload is dropped; as a capture, it makes dropping a closure panic.
pub struct PanicsOnDrop(pub &'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{} panicked in its drop", self.0);
        }
    }
}

/// The pool's metrics, asserted conserved (every accepted task counted exactly once).
pub fn conserved(pool: &Pool) -> pool::Metrics {
    let m = pool.metrics();
    assert!(m.is_conserved(), "{m:?}");
    m
}
