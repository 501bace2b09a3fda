//! Workers on demand: a pool with no core worker (`workers(0)`, no thread while idle), and core
//! workers started lazily ([`Builder::prestart`]`(false)`) or now ([`Pool::prestart`]).
//!
//! # No task stranded by the last worker retiring
//!
//! In a pool with no core worker, the last parked worker may retire just as a task is queued at
//! the maximum (such a task claims no worker). Each side checks the other after acting: the
//! submitter reads the live count after queueing and starts a worker if none is left; a
//! retiring worker reads the queue after leaving and comes back for a task it finds. Both are
//! sequentially consistent, so at least one of them sees the other.

use super::error::BuildError;
use super::worker::Begin;
use super::{Builder, Pool};

impl Builder {
    /// Whether `build` starts the core [`workers`](Builder::workers) at once (`true`, the
    /// default) or each starts when a task arrives and finds no worker idle (`false`, Java's
    /// default), until `workers` are alive; they never retire either way.
    ///
    /// Eager is the default because the first tasks then pay no thread start-up, a hand-off
    /// right after `build` finds an idle worker, and a failure to start a thread is reported by
    /// `build` rather than by a later submit. Lazy suits a pool built early that may stay
    /// unused; [`Pool::prestart`] starts the missing core workers when you choose.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(2).prestart(false).build().unwrap();
    /// assert_eq!(pool.metrics().workers_live, 0);
    /// assert_eq!(pool.submit(|_| 1).unwrap().join().unwrap(), 1);
    /// assert_eq!(pool.metrics().workers_live, 1); // started by the task
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn prestart(mut self, eager: bool) -> Self {
        self.prestart = eager;
        self
    }
}

impl Pool {
    /// Starts the core workers that are not running yet (Java's `prestartAllCoreThreads`);
    /// returns how many it started. They count as idle at once. Nothing to do for a pool built
    /// with the default [`prestart`](Builder::prestart)`(true)` or with `workers(0)`.
    ///
    /// # Errors
    ///
    /// The spawn error if a thread could not be started (the workers started before it stay).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(3).prestart(false).build().unwrap();
    /// assert_eq!(pool.prestart().unwrap(), 3);
    /// assert_eq!(pool.metrics().workers_idle, 3);
    /// assert_eq!(pool.prestart().unwrap(), 0);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn prestart(&self) -> Result<usize, BuildError> {
        let crew = &self.shared.queue.crew;
        let mut started = 0;
        while crew.count().live < crew.min() && crew.start_parked() {
            if let Err((e, _)) = self.shared.spawn_worker(Begin::Parked) {
                crew.start_failed(true);
                return Err(BuildError::spawn(e));
            }
            started += 1;
        }
        Ok(started)
    }

    /// After a hand-off in a pool with no core worker: if no worker is alive (the last one
    /// retired as the task was queued), start one to take it.
    pub(super) fn keep_one_worker(&self) {
        let crew = &self.shared.queue.crew;
        if crew.count().live == 0
            && crew.reserve()
            && self.shared.spawn_worker(Begin::Busy).is_err()
        {
            // The next submit tries again; shutdown_now hands the task back meanwhile.
            crew.start_failed(false);
        }
    }
}
