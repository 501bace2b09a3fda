//! Where blocked submitters wait for room, woken by *room tokens*.
//!
//! Waiting on the queue's own send would wake a blocked submitter each time one slot frees: on
//! a small machine that is one wake-up (10-50 µs of CPU taken from the workers) per task, which
//! made CPU-bound batches 1.2-1.5× slower than a plain crossbeam pool. Instead a worker sends a
//! token only when there is room *worth waking for*: a bounded queue has drained to half (the
//! submitter then fills many slots per wake-up), or, without a queue, a worker has parked.
//!
//! # No lost wake-ups
//!
//! A submitter registers (`waiting + 1`), issues a `SeqCst` fence, and then retries the
//! hand-off; a worker makes room (takes a task, or parks), issues a `SeqCst` fence, and then
//! reads `waiting`. By the fences, whichever runs second sees the other's write: the submitter's
//! retry finds the room, or the worker sees the waiter and sends a token. (A take needs no fence
//! of its own: its claim on the queue's head is already a `SeqCst` read-modify-write, see
//! [`Room::took`].) Every later take while the queue is at or below half repeats the check, and
//! a submitter that got through passes a token on to the next waiter if room is left, so one
//! token (the channel holds one) is enough. Stale tokens only cause a retry. A worker reads the
//! queue's length (cache lines the submitters write) only when somebody waits: the common take
//! costs one load.

use crossbeam_utils::CachePadded;

use super::chan::{self, Receiver, Sender};
use crate::shim::{AtomicUsize, Ordering, fence};

pub(crate) struct Room {
    /// Submitters between registering and leaving.
    waiting: CachePadded<AtomicUsize>,
    /// Room tokens; capacity 1, so repeated sends while nobody has woken yet cost nothing.
    token_tx: Sender<()>,
    token_rx: Receiver<()>,
}

impl Room {
    pub(crate) fn new() -> Room {
        let (token_tx, token_rx) = chan::bounded(1);
        Room {
            waiting: CachePadded::new(AtomicUsize::new(0)),
            token_tx,
            token_rx,
        }
    }

    /// Worker side, after making room; `has_room` is asked only when someone waits.
    #[inline]
    pub(crate) fn made(&self, has_room: impl FnOnce() -> bool) {
        fence(Ordering::SeqCst);
        self.tell(has_room);
    }

    /// Worker side, right after a take from a bounded queue: like [`made`](Room::made), without
    /// the fence. The take claimed its slot with a `SeqCst` read-modify-write of the queue's head
    /// (crossbeam's array channel: `compare_exchange` on `head`), and this load of `waiting` is
    /// `SeqCst` too, so in the single total order either the load sees the submitter's
    /// registration, or it precedes it, and then so does the take: the submitter's retry (its
    /// send reads the head after a `SeqCst` fence) sees the room the take made. So the full
    /// barrier a fence costs on every take buys nothing.
    ///
    /// Loom models `SeqCst` loads and read-modify-writes as acquire/release only, so its models
    /// keep the fence (and check the fenced form of the argument).
    #[inline]
    pub(crate) fn took(&self, has_room: impl FnOnce() -> bool) {
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        self.tell(has_room);
    }

    /// Sends a token if a submitter waits and `has_room` says so. The caller has ordered this
    /// load after the room it made ([`made`](Room::made)'s fence, or [`took`](Room::took)'s
    /// claim on the queue's head).
    #[inline]
    fn tell(&self, has_room: impl FnOnce() -> bool) {
        if self.waiting.load(Ordering::SeqCst) > 0 && has_room() {
            let _ = self.token_tx.try_send(());
        }
    }

    /// Wakes a waiting submitter whatever the room (after a resize), to retry its hand-off.
    pub(crate) fn wake(&self) {
        self.made(|| true);
    }

    /// Submitter side: registers a waiter until the guard drops. Retry the hand-off after this
    /// and before waiting on [`tokens`](Room::tokens).
    pub(crate) fn enter(&self) -> Waiter<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        Waiter { room: self }
    }

    /// A sender of room tokens, for a release that happens away from the queue (see
    /// `queue::Releaser`).
    pub(crate) fn token_sender(&self) -> Sender<()> {
        self.token_tx.clone()
    }

    /// Where room tokens arrive.
    pub(crate) fn tokens(&self) -> &Receiver<()> {
        &self.token_rx
    }
}

/// A submitter's registration as a waiter.
pub(crate) struct Waiter<'a> {
    room: &'a Room,
}

impl Waiter<'_> {
    /// Leaves after the hand-off went through, passing a token on if others wait and room is
    /// left (so two workers making room at once wake two waiters, one after the other).
    pub(crate) fn done(self, has_room: impl FnOnce() -> bool) {
        let room = self.room;
        drop(self);
        room.made(has_room);
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.room.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}
