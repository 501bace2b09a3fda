//! `Pool` as a [`Drain`]: a pool registered with [`Shutdown::drain`](super::Shutdown::drain) is
//! shut down gracefully (queued tasks still run) within the grace time left.

use std::sync::Arc;
use std::time::Duration;

use super::drain::Drain;
use crate::pool::Pool;

/// Drains gracefully for three quarters of `remaining`; if workers are still busy then, cancels
/// their tasks (`shutdown_now`) with the last quarter left for them to notice and be joined, and
/// reports them by name.
fn drain_pool(pool: &Pool, remaining: Duration) -> Result<(), String> {
    let report = pool.shutdown_timeout(remaining.mul_f64(0.75));
    if report.is_complete() {
        return Ok(());
    }
    let stragglers: Vec<String> = report
        .stragglers()
        .iter()
        .map(ToString::to_string)
        .collect();
    // Tasks queued behind the stragglers never started: they come back and are dropped, which
    // resolves their handles as cancelled. Running tasks see their context cancelled.
    let unstarted = pool.shutdown_now().len();
    Err(format!(
        "{} worker(s) still busy after the grace period ({}); {unstarted} queued task(s) cancelled",
        stragglers.len(),
        stragglers.join(", ")
    ))
}

/// Registering the pool itself hands it over: after the drain the pool is dropped, which joins
/// its workers. If a task ignores cancellation that join waits for it, and `Shutdown` reports
/// the drain as still running at the end of the grace period.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{pool::Pool, shutdown::ServiceOutcome, shutdown::Shutdown};
///
/// let pool = Pool::builder().workers(2).build().unwrap();
/// let handles: Vec<_> = (0..10u64).map(|i| pool.submit(move |_| i * i).unwrap()).collect();
/// let mut shutdown = Shutdown::new().grace(Duration::from_secs(5));
/// shutdown.drain("pool", pool);
/// let report = shutdown.wait(); // no services: drains run at once
/// assert!(matches!(report.drains()[0].outcome(), ServiceOutcome::Ok));
/// let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 285); // every queued task ran
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
impl Drain for Pool {
    fn drain(self: Box<Self>, remaining: Duration) -> Result<(), String> {
        drain_pool(&self, remaining)
    }
}

/// A shared pool (services submit to it through their own `Arc`) is closed and drained the same
/// way; it is joined fully when its last `Arc` drops.
impl Drain for Arc<Pool> {
    fn drain(self: Box<Self>, remaining: Duration) -> Result<(), String> {
        drain_pool(&self, remaining)
    }
}
