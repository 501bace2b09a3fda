//! The pool's configuration, read back (the worker limits are in `resize`, the full policy in
//! `when_full`).

use std::time::Duration;

use super::Pool;

impl Pool {
    /// How long a worker above the core count waits for work before it retires (`None`:
    /// never, for a keep-alive too large for `Instant`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).keep_alive(Duration::from_secs(5)).build().unwrap();
    /// assert_eq!(pool.keep_alive(), Some(Duration::from_secs(5)));
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn keep_alive(&self) -> Option<Duration> {
        self.shared.cfg.keep_alive
    }

    /// The queue's capacity (`Some(0)`: rendezvous; `None`: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::{DEFAULT_QUEUE_PER_WORKER, Pool};
    ///
    /// let pool = Pool::builder().workers(2).build().unwrap();
    /// assert_eq!(pool.queue_capacity(), Some(2 * DEFAULT_QUEUE_PER_WORKER));
    /// let unbounded = Pool::builder().workers(1).unbounded().build().unwrap();
    /// assert_eq!(unbounded.queue_capacity(), None);
    /// # pool.shutdown(); unbounded.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn queue_capacity(&self) -> Option<usize> {
        self.shared.cfg.capacity
    }
}
