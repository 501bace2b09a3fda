//! What a submit that would wait for room does instead: [`WhenFull`], and a cap on blocked
//! submitters ([`Builder::max_blocked_submitters`](super::Builder::max_blocked_submitters)).
//!
//! The default (`Block` with no cap) takes no branch here: a pool built without these settings
//! runs the submit path unchanged.
//!
//! # Accounting
//!
//! * `Reject` and a submitter over the cap: the submit is refused as `Full` (`rejected_full`).
//! * `CallerRuns`: the submit is refused as `Full` as far as the pool's counters go (the task
//!   never enters the pool, as in Java), counted again in `ran_by_caller`, and then the
//!   submitting thread runs it, after the submit has settled (so a concurrent `close` never
//!   waits for it).
//! * `DiscardOldest`: the displaced task is taken off the queue inside the submit (counted
//!   `dequeued`, then `discarded`), and handed to the `on_discard` hook, or dropped, once the
//!   submit has settled: never while a pool lock is held or a `close` waits.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Pool;
use super::metrics::bump;
use super::pending::PendingTask;
use super::release;
use super::task::{Ending, PoolJob};
use crate::exec::job::NotRun;
use crate::exec::queue::{Refusal, Wait};
use crate::exec::worker::Serving;
use crate::panic::{Panicked, drop_caught};

/// What a submit does when every permitted worker is busy and the queue is full; see
/// [`Builder::when_full`](super::Builder::when_full).
///
/// It applies to the submits that may wait for room ([`submit`](Pool::submit),
/// [`submit_named`](Pool::submit_named), [`submit_timeout`](Pool::submit_timeout),
/// [`submit_ctx`](Pool::submit_ctx), [`execute`](Pool::execute)). The `try_` forms never wait
/// and report `Full` under every policy.
///
/// # Examples
///
/// ```
/// use homebound::pool::{Pool, WhenFull};
///
/// let pool = Pool::builder().workers(1).queue_capacity(1).when_full(WhenFull::Reject).build().unwrap();
/// assert_eq!(pool.when_full(), WhenFull::Reject);
/// # pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WhenFull {
    /// Wait for room (bounded by `submit_timeout` / `submit_ctx`): backpressure on the
    /// submitter. The default, because it loses nothing and needs no decision from the caller.
    #[default]
    Block,
    /// Hand the task back at once as [`SubmitError::Full`](super::SubmitError::Full).
    Reject,
    /// The submitting thread runs the task itself, then `submit` returns its (finished) handle:
    /// backpressure without a blocked submitter. The task gets a child of the pool's context
    /// (so `shutdown_now` cancels it); its panic goes to its handle and the panic handler. From
    /// one of the pool's own tasks it runs inline on that worker, so it never deadlocks.
    CallerRuns,
    /// Take the oldest queued task off the queue and queue the new one. The displaced task is
    /// handed, on the submitting thread, to the [`on_discard`](super::Builder::on_discard)
    /// hook as a [`PendingTask`] (run it, log it, send it elsewhere); without a hook it is
    /// dropped, so its handle resolves as [`NotStarted`](crate::task::JoinError::NotStarted).
    /// Either way it is counted in [`Metrics::discarded`](super::Metrics::discarded). Needs a
    /// queue: a rendezvous pool (`queue_capacity(0)`) with it is a build error.
    DiscardOldest,
}

pub(crate) type DiscardHook = Arc<dyn Fn(PendingTask) + Send + Sync>;

/// A pool's non-default full policy.
pub(crate) struct FullPolicy {
    pub(crate) when_full: WhenFull,
    pub(crate) max_blocked: Option<usize>,
    pub(crate) on_discard: Option<DiscardHook>,
    /// Submitters now waiting for room.
    blocked: AtomicUsize,
}

impl FullPolicy {
    /// `None` for the default: `Block` with no cap (the submit path then takes no branch).
    pub(crate) fn new(
        when_full: WhenFull,
        max_blocked: Option<usize>,
        on_discard: Option<DiscardHook>,
    ) -> Option<FullPolicy> {
        (when_full != WhenFull::Block || max_blocked.is_some()).then(|| FullPolicy {
            when_full,
            max_blocked,
            on_discard,
            blocked: AtomicUsize::new(0),
        })
    }
}

impl fmt::Debug for FullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FullPolicy")
            .field("when_full", &self.when_full)
            .field("max_blocked", &self.max_blocked)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Tasks this thread's submit displaced, to hand over once the submit has settled.
    static DISPLACED: RefCell<Vec<PoolJob>> = const { RefCell::new(Vec::new()) };
}

const NO_WAIT: Wait<'static> = Wait::No;

impl Pool {
    /// The policy for a full pool (see [`WhenFull`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::{Pool, WhenFull};
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// assert_eq!(pool.when_full(), WhenFull::Block);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn when_full(&self) -> WhenFull {
        self.shared
            .cfg
            .full
            .as_ref()
            .map_or(WhenFull::Block, |p| p.when_full)
    }

    /// The hand-off under a non-default policy (called inside the counted submit).
    pub(super) fn hand_over_full(
        &self,
        policy: &FullPolicy,
        job: PoolJob,
        wait: Wait<'_>,
    ) -> Result<(), (PoolJob, Refusal)> {
        if matches!(wait, Wait::No) {
            return self.hand_over_plain(job, wait);
        }
        match policy.when_full {
            WhenFull::Block => {
                let job = match self.hand_over_plain(job, NO_WAIT) {
                    Err((job, Refusal::Full)) => job,
                    other => return other,
                };
                let cap = policy.max_blocked.unwrap_or(usize::MAX);
                if policy.blocked.fetch_add(1, Ordering::AcqRel) >= cap {
                    policy.blocked.fetch_sub(1, Ordering::AcqRel);
                    return Err((job, Refusal::Full));
                }
                let offered = self.hand_over_plain(job, wait);
                policy.blocked.fetch_sub(1, Ordering::AcqRel);
                offered
            }
            WhenFull::Reject | WhenFull::CallerRuns => self.hand_over_plain(job, NO_WAIT),
            WhenFull::DiscardOldest => self.displace(job),
        }
    }

    /// Queues `job`, taking the oldest queued tasks off the queue while it is full.
    fn displace(&self, mut job: PoolJob) -> Result<(), (PoolJob, Refusal)> {
        let w = &self.shared.counters.work;
        loop {
            job = match self.hand_over_plain(job, NO_WAIT) {
                Err((job, Refusal::Full)) => job,
                other => return other,
            };
            // Full: the oldest queued task makes way. (None: a worker took it first; retry.)
            let mut next = self.shared.queue.take();
            if next.is_none() {
                std::hint::spin_loop();
            }
            while let Some(oldest) = next.take() {
                bump(&w.dequeued);
                let released = !release::claim(&oldest);
                bump(if released || oldest.is_cancelled() {
                    &w.cancelled_before_start
                } else {
                    &w.discarded
                });
                let _ = DISPLACED.try_with(|d| d.borrow_mut().push(oldest));
                // A released task's place went to the task that took its slot, if one did:
                // that one is now the oldest.
                if released {
                    next = self.shared.queue.reclaim();
                }
            }
        }
    }

    /// After a submit settled: hands displaced tasks to the hook (or drops them).
    pub(super) fn after_full(&self, policy: &FullPolicy) {
        if policy.when_full != WhenFull::DiscardOldest {
            return;
        }
        let displaced = DISPLACED
            .try_with(|d| std::mem::take(&mut *d.borrow_mut()))
            .unwrap_or_default();
        if displaced.is_empty() {
            return;
        }
        // Its end is counted: a `wait_idle` may be over.
        self.shared.life.idle.ring();
        let handler = &self.shared.cfg.panic_handler;
        for job in displaced {
            if job.is_cancelled() || release::is_released(&job) {
                self.drop_job(job);
                continue;
            }
            let task = PendingTask::new(job, handler.clone());
            match &policy.on_discard {
                Some(hook) => {
                    if Panicked::catch(|| hook(task)).is_err() {
                        bump(&self.shared.counters.workers.hook_panics);
                    }
                }
                None => self.drop_job(task.into_job()),
            }
        }
    }

    fn drop_job(&self, job: PoolJob) {
        if drop_caught(job).is_err() {
            bump(&self.shared.counters.workers.hook_panics);
        }
    }

    /// Under `CallerRuns`, a waiting submit refused as full runs its task on this thread;
    /// otherwise the job comes back.
    pub(super) fn caller_runs(
        &self,
        job: PoolJob,
        why: &Refusal,
        wait: &Wait<'_>,
    ) -> Result<(), PoolJob> {
        let runs_here = matches!(wait, Wait::Until { .. })
            && matches!(why, Refusal::Full | Refusal::OwnWorker)
            && self
                .shared
                .cfg
                .full
                .as_ref()
                .is_some_and(|p| p.when_full == WhenFull::CallerRuns);
        if !runs_here {
            return Err(job);
        }
        bump(&self.shared.counters.submit.ran_by_caller);
        // Marked as working for this pool: a submit from the task never waits for the pool's
        // own queue, and its `wait_idle` does not wait for itself.
        let _serving = Serving::enter(self.shared.id());
        let ctx = self.shared.root.child();
        let ending = Ending::caller(self.shared.cfg.panic_handler.clone());
        // A task submitted with options runs under its own context, as on a worker.
        match job.info().opts().map(|opts| opts.enter(&ctx)) {
            None => {
                job.run(&ending, &ctx);
            }
            Some(Ok(scope)) => {
                job.run(&ending, scope.ctx());
                if drop_caught(scope).is_err() {
                    bump(&self.shared.counters.workers.hook_panics);
                }
            }
            // Never queued, so never released: only its context can stop it here.
            Some(Err(_)) => job.not_run(&ending, NotRun::Cancelled),
        }
        if drop_caught(ctx).is_err() {
            bump(&self.shared.counters.workers.hook_panics);
        }
        Ok(())
    }
}

impl super::Builder {
    /// The full-policy settings' checks (see `Builder::build`).
    pub(super) fn check_when_full(&self) -> Result<(), super::BuildError> {
        use super::BuildError;
        use super::builder::Capacity;
        if let Some(n) = self.max_blocked {
            if n == 0 {
                return Err(BuildError::config(
                    "max_blocked_submitters is 0; use when_full(WhenFull::Reject) so that no submitter waits",
                ));
            }
            if self.when_full != WhenFull::Block {
                return Err(BuildError::config(format!(
                    "max_blocked_submitters applies to WhenFull::Block only (no submitter waits under {:?})",
                    self.when_full
                )));
            }
        }
        if self.when_full == WhenFull::DiscardOldest && self.capacity == Capacity::Bounded(0) {
            return Err(BuildError::config(
                "WhenFull::DiscardOldest needs a queue to discard from; queue_capacity(0) has none",
            ));
        }
        if self.on_discard.is_some() && self.when_full != WhenFull::DiscardOldest {
            return Err(BuildError::config(
                "on_discard is only called under WhenFull::DiscardOldest",
            ));
        }
        Ok(())
    }
}

impl Pool {
    /// The cap set with [`Builder::max_blocked_submitters`](super::Builder::max_blocked_submitters)
    /// (`None`: no cap).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::pool::Pool;
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// assert_eq!(pool.max_blocked_submitters(), None);
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn max_blocked_submitters(&self) -> Option<usize> {
        self.shared.cfg.full.as_ref().and_then(|p| p.max_blocked)
    }
}
