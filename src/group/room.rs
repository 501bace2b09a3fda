//! Refill hysteresis for a limited group's queue: a spawner that finds the queue full waits
//! until it has drained to half, instead of being woken once per task as each slot frees up.
//!
//! On 2 cores, waking the spawning thread costs 10-50 µs of CPU that the busy workers need
//! (performance.md), so a wake-up per task made 50 µs tasks ~1.5× slower than rayon. With the
//! hysteresis there is one wake-up per half a queue.
//!
//! # No lost wake-ups
//!
//! A waiter registers (`waiters += 1`, SeqCst) and then checks the queue's length; a worker
//! takes a job and then checks `waiters` (SeqCst). Whichever runs second sees the other's
//! write: either the waiter sees the drained queue and does not sleep, or the worker sees the
//! waiter and sends it a token. Stale tokens only cause a re-check.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::Backoff;

use crate::context::Cancelled;
use crate::context::Context;

pub(super) struct Room {
    /// Spawners waiting for the queue to drain.
    waiters: AtomicUsize,
    /// Waiters are woken when the queue holds at most this many jobs.
    low: usize,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl Room {
    pub(super) fn new(capacity: usize) -> Room {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(64);
        Room {
            waiters: AtomicUsize::new(0),
            low: capacity / 2,
            wake_tx,
            wake_rx,
        }
    }

    /// Waits until the queue (whose current length `len` reports) has drained to the low mark.
    pub(super) fn wait(&self, len: impl Fn() -> usize, ctx: &Context) -> Result<(), Cancelled> {
        // Workers on small tasks drain half a queue in a few microseconds, sooner than a park
        // and wake-up would take: spin briefly first (as crossbeam's blocking `send` does).
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            if len() <= self.low {
                return ctx.check();
            }
            backoff.snooze();
        }
        loop {
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let drained = len() <= self.low;
            let woken = drained
                || crossbeam_channel::select! {
                    recv(self.wake_rx) -> _ => true,
                    recv(ctx.done()) -> _ => false,
                };
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if !woken {
                return ctx.check();
            }
            if drained || len() <= self.low {
                return Ok(());
            }
        }
    }

    /// Called by a worker after it took a job; `len` reports the queue's length now. The
    /// common case (nobody waiting) is one atomic load.
    pub(super) fn took(&self, len: impl FnOnce() -> usize) {
        let waiters = self.waiters.load(Ordering::SeqCst);
        if waiters > 0 && len() <= self.low {
            for _ in 0..waiters {
                if self.wake_tx.try_send(()).is_err() {
                    break;
                }
            }
        }
    }
}
