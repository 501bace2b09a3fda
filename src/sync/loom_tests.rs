//! Loom models of the wait group: no lost wake-ups. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_`.

use loom::thread;

use super::WaitGroup;
use crate::Context;

#[test]
fn loom_last_guard_wakes_waiter() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let a = wg.enter();
        let b = wg.enter();
        let ta = thread::spawn(move || drop(a));
        let tb = thread::spawn(move || drop(b));
        wg.wait();
        assert_eq!(wg.count(), 0);
        ta.join().unwrap();
        tb.join().unwrap();
    });
}

#[test]
fn loom_cancel_wakes_wait_ctx() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let guard = wg.enter();
        let ctx = Context::new();
        let c = ctx.clone();
        let canceller = thread::spawn(move || c.cancel());
        assert!(wg.wait_ctx(&ctx).is_err());
        canceller.join().unwrap();
        drop(guard);
    });
}
