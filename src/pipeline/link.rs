//! The link between two stages: a bounded channel of chunks, bounded by a count of *items*.
//!
//! One channel operation costs about as much as processing hundreds of trivial items, and a
//! thread that parks on an empty channel costs tens of microseconds to wake, so items travel in
//! chunks (micro-batching the user never sees). Two things size a chunk:
//!
//! * the link's **capacity in items** (`buffer`, [`DEFAULT_BUFFER`]): a link holds at most
//!   `buffer / chunk` chunks of at most `buffer / SLOTS` items (and [`MAX_CHUNK`]), so at most
//!   `buffer` items wait in it. A
//!   batch counts as its items: after `batch(n)` an element weighs `n`.
//! * the **receiving stage's speed**: the receiver publishes how long it spends per item, and
//!   the sender cuts chunks of about [`CHUNK_WORK`] of that work. A trivial stage gets full
//!   chunks; a stage that takes 20 ms per item gets one item per chunk, so each of its workers
//!   has work, and a graceful stop drains in a few items' time instead of `buffer` items' time.
//!
//! In an ordered pipeline chunks carry sequence numbers; see [`super::ordered`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use crossbeam_utils::Backoff;

use super::ordered::Gate;
use super::report::StageStats;
use super::ticket::Tickets;
use crate::context::Context;

/// Items that may wait in front of a stage (in the channel from the stage before it) unless
/// [`buffer`](super::Pipeline::buffer) says otherwise.
///
/// The whole in-flight bound of a stage with `w` workers: what waits in its channel (at most
/// `buffer` items, a batch counting as its items), plus the chunk each of its workers holds,
/// plus the chunk each sender is filling; a chunk holds at most `buffer / 8` items (and 512),
/// and about 250 µs of the receiving stage's work once its speed is known. So behind a stage
/// that takes 1 ms per item only a few items wait, and a graceful stop drains in a few
/// milliseconds; behind a trivial stage up to 4096 items wait, which keeps both cores busy.
///
/// ```
/// assert_eq!(homebound::pipeline::DEFAULT_BUFFER, 4096);
/// ```
pub const DEFAULT_BUFFER: usize = 4096;

/// Chunks a link holds: the sender fills the next chunk while the receiver works on one.
pub(crate) const SLOTS: usize = 8;

/// Most items in one chunk, whatever the capacity.
pub(crate) const MAX_CHUNK: usize = 512;

/// The work a chunk should hold once the receiver's cost per item is known.
pub(crate) const CHUNK_WORK: Duration = Duration::from_micros(250);

/// What travels through a link.
pub(crate) struct Chunk<T> {
    /// Position in the order of its segment (ordered pipelines only; 0 otherwise).
    pub(crate) seq: u64,
    pub(crate) items: Vec<T>,
    /// The last part of chunk `seq` (always, except for the parts a parallel stage sends
    /// while it is still working on one input chunk of an ordered pipeline).
    pub(crate) last: bool,
    /// The sender took a credit from the reorder window for this part: give it back.
    pub(crate) credited: bool,
    /// The tickets of the source items these items come from (see [`super::ticket`]).
    pub(crate) tickets: Tickets,
}

impl<T> Chunk<T> {
    pub(crate) fn whole(seq: u64, items: Vec<T>, tickets: Tickets) -> Chunk<T> {
        Chunk {
            seq,
            items,
            last: true,
            credited: false,
            tickets,
        }
    }
}

/// The run stopped (cancelled, or a downstream stage is gone): the worker unwinds its loop.
#[derive(Debug)]
pub(crate) struct Stopped;

/// How the chunks of a link are numbered.
#[derive(Clone)]
pub(crate) enum Order {
    /// Unordered pipeline: numbers are meaningless.
    None,
    /// One sender numbers whole chunks 0, 1, 2, ..: they arrive in order.
    Numbered,
    /// Several workers send the parts of numbered chunks as they finish them: the receiver
    /// reorders them (see [`super::ordered`]).
    Parts(Arc<Gate>),
}

/// What both ends of a link share.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Shared {
    /// Nanoseconds the receiver spends per item (0 until first measured).
    cost_ns: AtomicU64,
}

impl Shared {
    /// Records the receiver's latest measurement (smoothed, so one odd chunk does not swing it).
    pub(crate) fn record(&self, items: usize, took: Duration) {
        if items == 0 {
            return;
        }
        let sample = (u64::try_from(took.as_nanos()).unwrap_or(u64::MAX) / items as u64).max(1);
        let old = self.cost_ns.load(Relaxed);
        let new = if old == 0 {
            sample
        } else {
            // Quick to notice slower items, slower to trust faster ones.
            if sample > old {
                (old + 3 * sample) / 4
            } else {
                (3 * old + sample) / 4
            }
        };
        self.cost_ns.store(new.max(1), Relaxed);
    }

    /// The receiver's cost per item, if measured.
    pub(crate) fn cost(&self) -> Option<u64> {
        match self.cost_ns.load(Relaxed) {
            0 => None,
            ns => Some(ns),
        }
    }
}

/// The receiving end of a link, as the builder hands it to the next stage.
pub(crate) struct Link<T> {
    pub(crate) rx: Receiver<Chunk<T>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) order: Order,
    /// Where the receivers give emptied chunk vectors back to the senders.
    spares: Sender<Vec<T>>,
}

impl<T> Link<T> {
    /// What a receiver of this link gives its emptied vectors back through.
    pub(crate) fn recycler(&self) -> Recycler<T> {
        Recycler(self.spares.clone())
    }
}

/// The sending end of a link, before the senders' outboxes are made.
pub(crate) struct Sending<T> {
    pub(crate) tx: Sender<Chunk<T>>,
    pub(crate) spares: Receiver<Vec<T>>,
}

/// Gives emptied chunk vectors back to a link's senders, so a chunk's allocation is made once
/// and travels round, instead of being allocated by one thread and freed by another per chunk.
pub(crate) struct Recycler<T>(Sender<Vec<T>>);

impl<T> Clone for Recycler<T> {
    fn clone(&self) -> Self {
        Recycler(self.0.clone())
    }
}

impl<T> Recycler<T> {
    /// Offers `spare` (empty) to the senders; dropped if they have enough.
    #[inline]
    pub(crate) fn give(&self, spare: Vec<T>) {
        if spare.is_empty() && spare.capacity() > 0 {
            let _ = self.0.try_send(spare);
        }
    }
}

/// How a link with room for `buffer` items of weight `weight` is cut into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Capacity {
    /// Chunks the channel holds (0: a rendezvous, as Go's unbuffered channel).
    pub(crate) slots: usize,
    /// Most elements per chunk.
    pub(crate) chunk: usize,
}

impl Capacity {
    pub(crate) fn new(buffer: usize, weight: usize) -> Capacity {
        let weight = weight.max(1);
        if buffer == 0 {
            return Capacity { slots: 0, chunk: 1 };
        }
        let elements = (buffer / weight).max(1);
        let chunk = (elements / SLOTS).clamp(1, MAX_CHUNK);
        let slots = (elements / chunk).max(1);
        Capacity { slots, chunk }
    }
}

/// A new link: its sending end and its receiving end.
pub(crate) fn link<T>(capacity: Capacity, order: Order) -> (Sending<T>, Link<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.slots);
    // Room for every chunk in flight to come back.
    let (give, take) = crossbeam_channel::bounded(capacity.slots + SLOTS);
    let link = Link {
        rx,
        shared: Arc::default(),
        order,
        spares: give,
    };
    (Sending { tx, spares: take }, link)
}

/// What a worker gets when it asks for input.
pub(crate) enum Next<T> {
    Chunk(Chunk<T>),
    /// Nothing now (only from a call that must not wait).
    Empty,
    /// Every sender has finished and the link is empty.
    End,
    /// The deadline given to the call passed first.
    Timeout,
    /// The pipeline was cancelled.
    Stopped,
}

/// Receives one chunk from `rx` without waiting.
pub(crate) fn try_recv<T>(rx: &Receiver<Chunk<T>>, ctx: &Context) -> Next<T> {
    if ctx.is_cancelled() {
        return Next::Stopped;
    }
    match rx.try_recv() {
        Ok(chunk) => Next::Chunk(chunk),
        Err(TryRecvError::Disconnected) => Next::End,
        Err(TryRecvError::Empty) => Next::Empty,
    }
}

/// Receives one chunk from `rx`, waiting until a chunk, the end, cancellation, or `deadline`.
/// Time spent waiting counts as waiting for upstream.
pub(crate) fn recv<T>(
    rx: &Receiver<Chunk<T>>,
    ctx: &Context,
    stats: &StageStats,
    deadline: Option<Instant>,
) -> Next<T> {
    match try_recv(rx, ctx) {
        Next::Empty => {}
        other => return other,
    }
    let waited = Instant::now();
    // Parking and waking a thread costs tens of microseconds; a chunk is often only a moment
    // away, so spin and yield briefly first.
    let backoff = Backoff::new();
    while !backoff.is_completed() {
        backoff.snooze();
        let next = match rx.try_recv() {
            Ok(chunk) => Next::Chunk(chunk),
            Err(TryRecvError::Disconnected) => Next::End,
            Err(TryRecvError::Empty) => continue,
        };
        stats.add_recv_wait(waited.elapsed());
        return next;
    }
    // Through homebound's clock, so a virtual-time test sees the exact batch max-wait.
    let mut sel = crossbeam_channel::Select::new();
    let chunk = sel.recv(rx);
    sel.recv(ctx.done());
    let next = match crate::clock::select(&mut sel, deadline) {
        Some(op) if op.index() == chunk => op.recv(rx).map_or(Next::End, Next::Chunk),
        Some(op) => {
            let _ = op.recv(ctx.done());
            Next::Stopped
        }
        None => Next::Timeout,
    };
    stats.add_recv_wait(waited.elapsed());
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_counts_items_and_weights() {
        let c = |slots, chunk| Capacity { slots, chunk };
        assert_eq!(Capacity::new(4096, 1), c(8, 512));
        assert_eq!(Capacity::new(1024, 1), c(8, 128));
        assert_eq!(Capacity::new(10, 1), c(10, 1));
        assert_eq!(Capacity::new(1, 1), c(1, 1));
        assert_eq!(Capacity::new(0, 1), c(0, 1));
        // Batches of 1000 behind the default buffer: one batch per chunk, four chunks wait.
        assert_eq!(Capacity::new(4096, 1000), c(4, 1));
        assert_eq!(Capacity::new(4096, 100), c(8, 5));
        for buffer in [1, 2, 3, 7, 100, 1000, 1024, 5000, 100_000] {
            for weight in [1, 3, 100, 1000, 10_000] {
                let c = Capacity::new(buffer, weight);
                let waiting = c.slots * c.chunk * weight;
                // At most `buffer` items wait, unless a single element already weighs more.
                assert!(waiting <= buffer.max(weight), "{buffer} {weight} {c:?}");
            }
        }
    }
}
