//! [`Pool::resize`]: new worker limits at runtime (Java's `setCorePoolSize` /
//! `setMaximumPoolSize`, ants' `Tune`, pond's `Resize`).
//!
//! Growing takes effect at once: blocked submitters are woken to retry (a hand-off may now
//! start a worker), and new core workers start (parked) when the pool starts them eagerly.
//! Shrinking never interrupts a task: idle workers above the new maximum leave at once, busy
//! ones when they next find nothing to do; workers above the new core count become extras that
//! retire after `keep_alive` without work. The conservation identity holds throughout: resizing
//! moves no task.

use super::Pool;
use super::builder::MAX_WORKERS;
use super::error::BuildError;

impl Pool {
    /// Sets the core worker count (`workers`, never retire) and the most workers alive at once
    /// (`max_workers`), with the rules of [`Builder::workers`](super::Builder::workers) and
    /// [`Builder::max_workers`](super::Builder::max_workers). See the module docs for how
    /// workers follow: no running task is interrupted.
    ///
    /// # Errors
    ///
    /// A configuration error, with nothing changed: both 0, `max_workers < workers`, more than
    /// [`MAX_WORKERS`], or the pool is closed. A spawn error if a new core worker could not be
    /// started (the new limits stay; missing core workers start on demand).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// pool.resize(4, 8).unwrap();
    /// assert_eq!((pool.workers(), pool.max_workers()), (4, 8));
    /// assert_eq!(pool.metrics().workers_live, 4); // new core workers start at once
    /// assert!(pool.resize(3, 2).is_err()); // max below workers: nothing changes
    /// pool.resize(1, 1).unwrap(); // idle workers above the maximum leave
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn resize(&self, workers: usize, max_workers: usize) -> Result<(), BuildError> {
        if max_workers == 0 {
            return Err(BuildError::config(
                "resize(0, 0): a pool needs max_workers of at least 1",
            ));
        }
        if max_workers < workers {
            return Err(BuildError::config(format!(
                "resize: max_workers ({max_workers}) is less than workers ({workers})"
            )));
        }
        if max_workers > MAX_WORKERS {
            return Err(BuildError::config(format!(
                "resize: max_workers is {max_workers}, more than the limit of {MAX_WORKERS}"
            )));
        }
        let _one_at_a_time = self.shared.life.resizing.lock();
        if self.shared.life.closed.is_set() || self.is_closed() {
            return Err(BuildError::config("resize: the pool is closed"));
        }
        self.shared.queue.resize(workers, max_workers);
        crate::observe::pool_resized(&self.shared.name, workers, max_workers);
        if self.shared.cfg.prestart {
            self.prestart()?;
        }
        Ok(())
    }

    /// The core worker count: set by [`Builder::workers`](super::Builder::workers) or the
    /// last [`resize`](Pool::resize).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).max_workers(3).build().unwrap();
    /// assert_eq!(pool.workers(), 2);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.queue.crew.min()
    }

    /// The most workers alive at once: set by
    /// [`Builder::max_workers`](super::Builder::max_workers) or the last
    /// [`resize`](Pool::resize). Right after a shrink, busy workers above it finish their
    /// task first ([`Metrics::workers_live`](super::Metrics::workers_live) shows them).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.queue.crew.max()
    }
}
