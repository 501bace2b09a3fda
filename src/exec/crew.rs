//! Who is working: an executor's live, idle and claimed workers, in one atomic word.
//!
//! Every hand-off decision ("give the task to an idle worker, start one more, or report Full")
//! is one compare-and-swap on this word, so it never sees a half-updated state: a worker that is
//! idle is counted exactly once, by exactly one of `idle` or `claims`.
//!
//! # Fields
//!
//! * `live`: workers reserved (started, or being started) that have not left. Never above `max`.
//! * `idle`: parked workers nobody has counted on yet. A worker is parked from the moment it
//!   finds nothing to do (before it spins or blocks), so "about to park" already counts.
//! * `claims`: tasks handed to parked workers that no worker has taken yet.
//!
//! # Invariant
//!
//! While the executor is open, `idle + claims` = the parked workers, and `idle + claims ≤ live
//! ≤ max`. Each transition keeps it:
//!
//! | event | change |
//! |---|---|
//! | a submitter hands a task to an idle worker ([`Crew::claim`] → `Idle`) | `idle − 1, claims + 1` (still parked) |
//! | a submitter reserves a new worker ([`Crew::claim`] → `Start`) | `live + 1` (it starts busy) |
//! | a worker is reserved to start parked ([`Crew::start_parked`]) | `live + 1, idle + 1` |
//! | a worker finds nothing ([`Crew::park`]) | `idle + 1` |
//! | a parked worker takes a task ([`Crew::woke`]) | `claims − 1` if any, else `idle − 1` |
//! | a busy worker takes a task ([`Crew::took`]) | if `claims > 0`: `claims − 1, idle + 1` (the task was meant for a parked worker, which stays parked and is free again) |
//! | a parked worker retires ([`Crew::retire`]) | only if `claims = 0` and `live > min`: `live − 1, idle − 1` |
//!
//! Because a task is handed to a parked worker only with a claim, and a claim is only consumed
//! by whoever takes a task, a claimed task always has a parked worker (or a busy one about to
//! look) to take it: nothing handed off is stranded, and a rendezvous queue never holds more
//! tasks than there are parked workers.

use crossbeam_utils::CachePadded;

use crate::shim::{AtomicUsize, Ordering};

/// Bits per field: three fields share one word.
const FIELD: u32 = usize::BITS / 3;
/// The most workers an executor can count.
pub(crate) const MAX_CREW: usize = (1 << FIELD) - 1;
const LIVE: usize = 1;
const IDLE: usize = 1 << FIELD;
const CLAIM: usize = 1 << (2 * FIELD);

/// A decoded snapshot of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) live: usize,
    pub(crate) idle: usize,
    pub(crate) claims: usize,
}

impl Count {
    fn of(word: usize) -> Count {
        Count {
            live: word & MAX_CREW,
            idle: (word >> FIELD) & MAX_CREW,
            claims: (word >> (2 * FIELD)) & MAX_CREW,
        }
    }
}

/// What a task with nowhere else to go gets from [`Crew::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// An idle worker now counts on it: put it where parked workers look.
    Idle,
    /// A worker slot is reserved: start a worker with the task (or undo with
    /// [`Crew::start_failed`]).
    Start,
    /// Every permitted worker is busy.
    Full,
}

pub(crate) struct Crew {
    word: CachePadded<AtomicUsize>,
    /// `live` again, on a line of its own that changes only when a worker starts or leaves:
    /// submitters check it on every hand-off, while `word` changes each time a worker parks or
    /// wakes, so reading `word` per task would miss the cache. Updated (by the same amounts)
    /// right after `word`, so it lags only for that moment.
    live: CachePadded<AtomicUsize>,
    /// Workers that never retire. Atomic (read `Relaxed`) only so a pool can be resized.
    min: AtomicUsize,
    max: AtomicUsize,
}

impl Crew {
    /// `min ≤ max ≤ MAX_CREW` (the builders check it).
    pub(crate) fn new(min: usize, max: usize) -> Crew {
        debug_assert!(min <= max && max <= MAX_CREW);
        Crew {
            word: CachePadded::new(AtomicUsize::new(0)),
            live: CachePadded::new(AtomicUsize::new(0)),
            min: AtomicUsize::new(min),
            max: AtomicUsize::new(max),
        }
    }

    #[inline]
    pub(crate) fn count(&self) -> Count {
        Count::of(self.word.load(Ordering::SeqCst))
    }

    #[inline]
    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn min(&self) -> usize {
        self.min.load(Ordering::Relaxed)
    }

    /// New limits (`min ≤ max ≤ MAX_CREW`, checked by the caller). Live workers above the new
    /// maximum leave as they park ([`Crew::retire_over_max`]); none is stopped here.
    pub(crate) fn set_limits(&self, min: usize, max: usize) {
        debug_assert!(min <= max && max <= MAX_CREW);
        // Raising: the maximum first, so `min ≤ max` holds for every reader in between.
        if max >= self.max() {
            self.max.store(max, Ordering::SeqCst);
            self.min.store(min, Ordering::SeqCst);
        } else {
            self.min.store(min, Ordering::SeqCst);
            self.max.store(max, Ordering::SeqCst);
        }
    }

    /// A parked worker above the maximum (after a shrink) leaves, if nobody counts on it.
    pub(crate) fn retire_over_max(&self) -> bool {
        if self.live.load(Ordering::Relaxed) <= self.max() {
            return false;
        }
        let retired = self
            .update(|c| {
                (c.claims == 0 && c.idle > 0 && c.live > self.max())
                    .then_some((LIVE + IDLE).wrapping_neg())
            })
            .is_some();
        if retired {
            self.lived(-1);
        }
        retired
    }

    /// Whether every permitted worker exists (read from the quiet mirror: one load of a line
    /// that changes only when workers start or leave).
    #[inline]
    pub(crate) fn at_max(&self) -> bool {
        self.live.load(Ordering::Relaxed) >= self.max()
    }

    fn lived(&self, delta: isize) {
        if delta > 0 {
            self.live.fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        } else {
            self.live.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// Adds the (wrapping) delta `change` picks for the current count, with a compare-and-swap
    /// loop, until it succeeds or `change` declines (`None`). Returns the word it replaced.
    fn update(&self, mut change: impl FnMut(Count) -> Option<usize>) -> Option<usize> {
        let mut word = self.word.load(Ordering::SeqCst);
        loop {
            let delta = change(Count::of(word))?;
            let next = word.wrapping_add(delta);
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(word),
                Err(now) => word = now,
            }
        }
    }

    /// For a task with nowhere else to go: an idle worker, else (if `start`) a new worker's slot.
    pub(crate) fn claim(&self, start: bool) -> Claim {
        let mut claim = Claim::Full;
        self.update(|c| {
            if c.idle > 0 {
                claim = Claim::Idle;
                Some(CLAIM.wrapping_sub(IDLE))
            } else if start && c.live < self.max() {
                claim = Claim::Start;
                Some(LIVE)
            } else {
                claim = Claim::Full;
                None
            }
        });
        if claim == Claim::Start {
            self.lived(1);
        }
        claim
    }

    /// Reserves a slot for a worker that starts busy (with a task, or to take one queued).
    pub(crate) fn reserve(&self) -> bool {
        let reserved = self
            .update(|c| (c.live < self.max()).then_some(LIVE))
            .is_some();
        if reserved {
            self.lived(1);
        }
        reserved
    }

    /// Reserves a worker that starts parked (idle at once, before its thread runs).
    pub(crate) fn start_parked(&self) -> bool {
        let reserved = self
            .update(|c| (c.live < self.max()).then_some(LIVE + IDLE))
            .is_some();
        if reserved {
            self.lived(1);
        }
        reserved
    }

    /// Undoes a reservation whose thread could not be started.
    pub(crate) fn start_failed(&self, parked: bool) {
        let reserved = if parked { LIVE + IDLE } else { LIVE };
        self.word.fetch_sub(reserved, Ordering::SeqCst);
        self.lived(-1);
    }

    /// A worker found nothing to do: it is idle from now on, before it spins or blocks.
    pub(crate) fn park(&self) {
        self.word.fetch_add(IDLE, Ordering::SeqCst);
    }

    /// A parked worker took a task.
    pub(crate) fn woke(&self) {
        self.update(|c| Some(if c.claims > 0 { CLAIM } else { IDLE }.wrapping_neg()));
    }

    /// A busy worker took a task without parking. The common case (no claims) is one load.
    #[inline]
    pub(crate) fn took(&self) {
        if Count::of(self.word.load(Ordering::Relaxed)).claims == 0 {
            return;
        }
        self.update(|c| (c.claims > 0).then_some(IDLE.wrapping_sub(CLAIM)));
    }

    /// A parked worker has waited its keep-alive: it may leave if nobody counts on a parked
    /// worker and the executor keeps more than `min`.
    pub(crate) fn retire(&self) -> bool {
        let retired = self
            .update(|c| {
                (c.claims == 0 && c.idle > 0 && c.live > self.min())
                    .then_some((LIVE + IDLE).wrapping_neg())
            })
            .is_some();
        if retired {
            self.lived(-1);
        }
        retired
    }

    /// A parked worker leaves because the executor closed.
    pub(crate) fn leave_parked(&self) {
        self.update(|c| {
            Some(
                if c.claims > 0 {
                    LIVE + CLAIM
                } else {
                    LIVE + IDLE
                }
                .wrapping_neg(),
            )
        });
        self.lived(-1);
    }

    /// A busy worker leaves.
    pub(crate) fn leave_busy(&self) {
        self.word.fetch_sub(LIVE, Ordering::SeqCst);
        self.lived(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_prefer_idle_workers_then_start_then_full() {
        let crew = Crew::new(1, 2);
        assert!(crew.start_parked());
        assert_eq!(crew.claim(true), Claim::Idle);
        assert_eq!(
            crew.count(),
            Count {
                live: 1,
                idle: 0,
                claims: 1
            }
        );
        assert_eq!(crew.claim(true), Claim::Start);
        assert_eq!(crew.claim(true), Claim::Full);
        crew.woke(); // the parked worker takes its task
        assert_eq!(
            crew.count(),
            Count {
                live: 2,
                idle: 0,
                claims: 0
            }
        );
        crew.park();
        assert!(crew.retire());
        assert_eq!(
            crew.count(),
            Count {
                live: 1,
                idle: 0,
                claims: 0
            }
        );
        crew.park();
        assert!(!crew.retire(), "the last worker above min stays");
    }

    #[test]
    fn a_busy_worker_taking_a_claimed_task_frees_the_parked_one() {
        let crew = Crew::new(0, 2);
        assert_eq!(crew.claim(true), Claim::Start);
        assert!(crew.start_parked());
        assert_eq!(crew.claim(false), Claim::Idle);
        crew.took();
        assert_eq!(
            crew.count(),
            Count {
                live: 2,
                idle: 1,
                claims: 0
            }
        );
        crew.leave_parked();
        crew.leave_busy();
        assert_eq!(
            crew.count(),
            Count {
                live: 0,
                idle: 0,
                claims: 0
            }
        );
    }

    #[test]
    fn a_worker_counted_on_does_not_retire() {
        let crew = Crew::new(0, 1);
        assert!(crew.start_parked());
        assert_eq!(crew.claim(false), Claim::Idle);
        assert!(!crew.retire());
        crew.woke();
        crew.park();
        assert!(crew.retire());
        assert_eq!(
            crew.count(),
            Count {
                live: 0,
                idle: 0,
                claims: 0
            }
        );
    }
}
