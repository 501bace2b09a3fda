//! Refill hysteresis for submitters blocked on a full queue.
//!
//! Waiting on the queue's own send operation wakes a blocked submitter each time one slot
//! frees: on a small machine that is one wake-up (10-50 µs of CPU taken from the workers) per
//! task, which made CPU-bound batches 1.2-1.5× slower than a plain crossbeam pool. Instead a
//! blocked submitter waits for a *room token*, which a worker sends only once the queue has
//! drained to half while someone waits; the submitter then finds room for many tasks, so its
//! thread wakes once per half queue.
//!
//! # No lost wake-ups
//!
//! A submitter announces itself (`waiting += 1`, SeqCst) and then retries the queue; a worker
//! takes a task, and then (SeqCst fence) reads `waiting`. Either the submitter's retry sees the
//! slot the worker freed, or the worker sees the submitter and sends a token. Every later take
//! while the queue is at or below half repeats the check, so one missed send cannot strand a
//! waiter while tasks remain. A worker reads the queue's length (cache lines the submitters
//! write constantly) only when somebody waits: the common take costs a fence and one load.
//!
//! Rendezvous queues (capacity 0) and unbounded ones have no room to wait for and do not use
//! this: there a send must meet a receiver, so submitters wait on the send itself.

use std::sync::atomic::{AtomicUsize, Ordering, fence};

use crossbeam_channel::{Receiver, Sender};

pub(crate) struct Room {
    /// Submitters between announcing themselves and leaving.
    waiting: AtomicUsize,
    /// A worker wakes a waiter once the queue holds at most this many tasks.
    low_water: usize,
    /// Room tokens; capacity 1, so repeated sends while nobody has woken yet cost nothing.
    token_tx: Sender<()>,
    token_rx: Receiver<()>,
}

impl Room {
    /// Room tracking for a bounded queue of `capacity` (at least 1).
    pub(crate) fn new(capacity: usize) -> Room {
        let (token_tx, token_rx) = crossbeam_channel::bounded(1);
        Room {
            waiting: AtomicUsize::new(0),
            low_water: capacity / 2,
            token_tx,
            token_rx,
        }
    }

    /// Worker side, after taking a task; `queue_len` is asked only when someone waits (the
    /// queue's length lives on cache lines the submitters write constantly).
    #[inline]
    pub(crate) fn task_taken(&self, queue_len: impl FnOnce() -> usize) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 && queue_len() <= self.low_water {
            let _ = self.token_tx.try_send(());
        }
    }

    /// Submitter side: announces a waiter until the returned guard drops. Retry the queue after
    /// this and before waiting on [`tokens`](Room::tokens).
    pub(crate) fn wait(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting { room: self }
    }

    /// Where room tokens arrive.
    pub(crate) fn tokens(&self) -> &Receiver<()> {
        &self.token_rx
    }
}

/// A submitter's announcement that it waits for room.
pub(crate) struct Waiting<'a> {
    room: &'a Room,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.room.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}
