//! The receiving half of a link, and the bounded reorder window of ordered pipelines.
//!
//! # How order is kept
//!
//! An ordered pipeline is cut into *segments* at its sequence points: the source, every stage
//! with one worker, and the consumer. The start of a segment numbers its chunks 0, 1, 2, ..;
//! parallel stages inside the segment turn each input chunk into exactly one output chunk with
//! the same number; the end of the segment (a [`Reorder`]) hands chunks on in number order.
//!
//! # Why memory stays O(window)
//!
//! Before sending chunk `n` the segment start takes a *credit* from a channel that holds
//! `window` of them; the reorderer gives one back each time it hands a chunk on. So at most
//! `window` chunks are between the two ends, and the reorder buffer never holds more. This
//! cannot deadlock: the reorderer always has room for every chunk in flight, so it keeps
//! draining its link, and the chunk it waits for is always somewhere upstream making progress.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};

use super::chunk::{Chunk, Next, Stopped, recv_chunk};
use super::report::StageStats;
use crate::context::Context;

/// A credit channel holding `window` credits.
pub(crate) fn window(window: usize) -> (Sender<()>, Receiver<()>) {
    let (tx, rx) = bounded(window);
    for _ in 0..window {
        let _ = tx.try_send(());
    }
    (tx, rx)
}

/// Where a worker (or the consumer) takes its input chunks from.
pub(crate) enum Inbox<T> {
    /// Chunks in arrival order.
    Plain(Receiver<Chunk<T>>),
    /// Chunks in sequence order.
    Ordered(Reorder<T>),
}

impl<T> Inbox<T> {
    /// The next chunk; see [`recv_chunk`] for `deadline` and `before_wait`.
    pub(crate) fn next(
        &mut self,
        ctx: &Context,
        stats: &StageStats,
        deadline: Option<Instant>,
        before_wait: &mut dyn FnMut() -> Result<(), Stopped>,
    ) -> Next<T> {
        match self {
            Inbox::Plain(rx) => recv_chunk(rx, ctx, stats, deadline, before_wait),
            Inbox::Ordered(reorder) => reorder.next(ctx, stats, deadline, before_wait),
        }
    }
}

/// The end of an ordered segment: hands chunks on in sequence order.
pub(crate) struct Reorder<T> {
    rx: Receiver<Chunk<T>>,
    /// The number of the chunk to hand on next.
    next: u64,
    /// Chunks that arrived early; never more than the window's size.
    pending: BTreeMap<u64, Vec<T>>,
    /// Gives credits back to the segment's start.
    credits: Sender<()>,
    /// Counts the items still pending if the run stops.
    stats: Arc<StageStats>,
}

impl<T> Reorder<T> {
    pub(crate) fn new(rx: Receiver<Chunk<T>>, credits: Sender<()>, stats: Arc<StageStats>) -> Self {
        Reorder {
            rx,
            next: 0,
            pending: BTreeMap::new(),
            credits,
            stats,
        }
    }

    fn next(
        &mut self,
        ctx: &Context,
        stats: &StageStats,
        deadline: Option<Instant>,
        before_wait: &mut dyn FnMut() -> Result<(), Stopped>,
    ) -> Next<T> {
        loop {
            if let Some(items) = self.pending.remove(&self.next) {
                return self.hand_on(items);
            }
            match recv_chunk(&self.rx, ctx, stats, deadline, before_wait) {
                Next::Chunk(chunk) if chunk.seq == self.next => return self.hand_on(chunk.items),
                Next::Chunk(chunk) => {
                    self.pending.insert(chunk.seq, chunk.items);
                }
                // Every chunk sent has arrived. A gap can only follow a stopped upstream worker
                // (the run is failing); hand on what is left in order rather than lose it.
                Next::End => match self.pending.pop_first() {
                    Some((seq, items)) => {
                        self.next = seq;
                        return self.hand_on(items);
                    }
                    None => return Next::End,
                },
                other => return other,
            }
        }
    }

    fn hand_on(&mut self, items: Vec<T>) -> Next<T> {
        let seq = self.next;
        self.next += 1;
        // Never blocks: credits in the channel plus chunks in flight equal the window.
        let _ = self.credits.try_send(());
        Next::Chunk(Chunk { seq, items })
    }
}

impl<T> Drop for Reorder<T> {
    fn drop(&mut self) {
        let left: usize = self.pending.values().map(Vec::len).sum();
        self.stats.add_dropped(left);
    }
}
