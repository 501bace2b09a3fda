//! The receiving half of a link, and the bounded reordering of ordered pipelines.
//!
//! # How order is kept
//!
//! A single thread (the source, a one-worker stage, or the split file source handing out its
//! byte ranges in order) numbers its chunks 0, 1, 2, ..: they arrive in order. A *parallel*
//! stage takes numbered chunks in order (first come, first served from a FIFO channel) and
//! sends, for each input chunk `n`, one or more **parts** tagged `n`, the last one marked. The
//! receiver (a [`Reorder`]) hands parts on in number order: all parts of `n`, then `n + 1`.
//! If the next stage is parallel too, its workers share the reorderer (a [`Dispenser`]) and
//! number what they take afresh.
//!
//! # Why memory stays bounded, in items
//!
//! A part holds at most one chunk's worth of items. The worker whose chunk is the one the
//! reorderer waits for (the *head*) sends its parts freely: they are handed on at once. Any
//! other worker must take a **credit** from the reorderer's [`Gate`] for each part; the credit
//! comes back when the part is handed on. So the reorderer never holds more than `window`
//! parts, whatever a `flat_map` makes of one item, and a worker holds at most one part while it
//! waits. This cannot deadlock: chunks are taken in number order, so every chunk before the
//! head's is finished, the head's worker never waits for a credit, and the reorderer always
//! accepts what arrives.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use super::link::{Chunk, Next, Stopped, recv, try_recv};
use super::pulse::TICK;
use super::report::StageStats;
use super::ticket::Tickets;
use crate::context::Context;
use crate::panic::drop_quietly;
use crate::shim;

/// Where the parallel workers of one ordered segment learn whether they may send a part.
pub(crate) struct Gate {
    /// The number of the chunk the reorderer hands on next.
    head: AtomicU64,
    /// On homebound's clock (the shim's lock and condition), so a worker waiting for its turn
    /// inside `virtual_time` lets the clock move.
    credits: shim::Mutex<usize>,
    changed: shim::Condvar,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("head", &self.head.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Gate {
    pub(crate) fn new(window: usize) -> Arc<Gate> {
        Arc::new(Gate {
            head: AtomicU64::new(0),
            credits: shim::Mutex::new(window.max(1)),
            changed: shim::Condvar::default(),
        })
    }

    /// Whether chunk `seq` is the one the reorderer waits for.
    #[inline]
    pub(crate) fn is_head(&self, seq: u64) -> bool {
        self.head.load(Ordering::Acquire) == seq
    }

    /// Waits until a part of chunk `seq` may be sent: at once for the head, otherwise for a
    /// credit. Returns whether a credit was taken (the part must say so).
    pub(crate) fn pass(self: &Arc<Self>, seq: u64, ctx: &Context) -> Result<bool, Stopped> {
        if self.is_head(seq) {
            return Ok(false);
        }
        if let Some(credited) = self.try_pass(&mut self.credits.lock(), seq) {
            return Ok(credited);
        }
        // A cancel wakes the wait. The callback takes the lock before notifying, so a waiter
        // between its check and its wait cannot miss it; registered before the lock is taken
        // here, since it runs at once on a context cancelled already.
        let gate = Arc::downgrade(self);
        let _wake = ctx.wake_on_cancel(move || {
            if let Some(gate) = gate.upgrade() {
                let _credits = gate.credits.lock();
                gate.changed.notify_all();
            }
        });
        let _waiting = crate::threads::enter_state(crate::threads::Kind::Ordered);
        let credits = self.credits.lock();
        let mut credits = self.changed.wait_while(credits, None, |credits| {
            !self.is_head(seq) && *credits == 0 && !ctx.is_cancelled()
        });
        self.try_pass(&mut credits, seq).ok_or(Stopped)
    }

    /// Passes chunk `seq` if it may: `Some(false)` for the head, `Some(true)` with a credit
    /// taken.
    fn try_pass(&self, credits: &mut usize, seq: u64) -> Option<bool> {
        if self.is_head(seq) {
            Some(false)
        } else if *credits > 0 {
            *credits -= 1;
            Some(true)
        } else {
            None
        }
    }

    fn give_back(&self) {
        *self.credits.lock() += 1;
        self.changed.notify_all();
    }

    fn advance(&self, head: u64) {
        let _credits = self.credits.lock();
        self.head.store(head, Ordering::Release);
        self.changed.notify_all();
    }
}

/// Parts that arrived before their turn.
struct Pending<T> {
    parts: VecDeque<Part<T>>,
    /// The last part has arrived.
    complete: bool,
}

/// A part waiting in a reorderer: its items, whether it took a credit, its tickets.
type Part<T> = (Vec<T>, bool, Tickets);

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            parts: VecDeque::new(),
            complete: false,
        }
    }
}

/// The end of an ordered segment: hands chunks (and parts) on in number order.
pub(crate) struct Reorder<T> {
    rx: Receiver<Chunk<T>>,
    /// The parallel senders' gate, if the senders are parallel.
    gate: Option<Arc<Gate>>,
    /// The number of the chunk to hand on next.
    next: u64,
    pending: BTreeMap<u64, Pending<T>>,
    /// The link ended: what is pending is all there is.
    ended: bool,
    /// Counts the items still pending if the run stops.
    stats: Arc<StageStats>,
}

impl<T> Reorder<T> {
    pub(crate) fn new(
        rx: Receiver<Chunk<T>>,
        gate: Option<Arc<Gate>>,
        stats: Arc<StageStats>,
    ) -> Self {
        Reorder {
            rx,
            gate,
            next: 0,
            pending: BTreeMap::new(),
            ended: false,
            stats,
        }
    }

    /// The next part in order; waits (until `deadline`) only if `wait`.
    pub(crate) fn next(
        &mut self,
        ctx: &Context,
        stats: &StageStats,
        deadline: Option<Instant>,
        wait: bool,
    ) -> Next<T> {
        loop {
            let head = self.next;
            if let Some((items, tickets)) = self.take_pending() {
                return Next::Chunk(Chunk::whole(head, items, tickets));
            }
            if self.ended {
                // A gap can only follow a stopped sender (the run is failing): hand on what is
                // left, in order, rather than lose it.
                match self.pending.keys().next() {
                    Some(&first) => {
                        self.next = first;
                        if let Some(p) = self.pending.get_mut(&first) {
                            p.complete = true;
                        }
                        continue;
                    }
                    None => return Next::End,
                }
            }
            let got = if wait {
                recv(&self.rx, ctx, stats, deadline)
            } else {
                try_recv(&self.rx, ctx)
            };
            match got {
                Next::Chunk(chunk) => {
                    if chunk.seq == self.next && !self.pending.contains_key(&chunk.seq) {
                        // In its turn: hand it on without storing it.
                        if chunk.credited {
                            self.give_back();
                        }
                        let seq = chunk.seq;
                        if chunk.last {
                            self.advance();
                        }
                        if chunk.items.is_empty() {
                            continue;
                        }
                        return Next::Chunk(Chunk::whole(seq, chunk.items, chunk.tickets));
                    }
                    let pending = self.pending.entry(chunk.seq).or_default();
                    pending
                        .parts
                        .push_back((chunk.items, chunk.credited, chunk.tickets));
                    pending.complete |= chunk.last;
                }
                Next::End => self.ended = true,
                other => return other,
            }
        }
    }

    /// The next pending part of the head chunk, if any (advancing past completed chunks).
    fn take_pending(&mut self) -> Option<(Vec<T>, Tickets)> {
        loop {
            let pending = self.pending.get_mut(&self.next)?;
            match pending.parts.pop_front() {
                Some((items, credited, tickets)) => {
                    let done = pending.complete && pending.parts.is_empty();
                    if done {
                        self.pending.remove(&self.next);
                    }
                    if credited {
                        self.give_back();
                    }
                    if done {
                        self.advance();
                    }
                    if items.is_empty() {
                        continue;
                    }
                    return Some((items, tickets));
                }
                None if pending.complete => {
                    self.pending.remove(&self.next);
                    self.advance();
                }
                None => return None,
            }
        }
    }

    fn give_back(&self) {
        if let Some(gate) = &self.gate {
            gate.give_back();
        }
    }

    fn advance(&mut self) {
        self.next += 1;
        if let Some(gate) = &self.gate {
            gate.advance(self.next);
        }
    }
}

impl<T> Drop for Reorder<T> {
    fn drop(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let left: usize = pending
            .values()
            .flat_map(|p| p.parts.iter())
            .map(|(items, _, _)| items.len())
            .sum();
        // Taken from the link but never handed on: received, and dropped.
        self.stats.add_in(left);
        self.stats.add_dropped(left);
        drop_quietly(pending);
    }
}

/// A reorderer shared by the workers of a parallel stage whose input comes from another
/// parallel stage: each takes the next part in order and numbers it afresh.
pub(crate) struct Dispenser<T> {
    state: Mutex<(Reorder<T>, u64)>,
}

impl<T> Dispenser<T> {
    pub(crate) fn new(reorder: Reorder<T>) -> Arc<Self> {
        Arc::new(Dispenser {
            state: Mutex::new((reorder, 0)),
        })
    }

    fn next(&self, ctx: &Context, stats: &StageStats, wait: bool) -> Next<T> {
        let waited = Instant::now();
        let mut state = loop {
            // One worker at a time takes the next part (possibly waiting for it); the others
            // wait for the lock, looking at the context every tick.
            let locked = if wait {
                self.state.try_lock_for(TICK)
            } else {
                self.state.try_lock()
            };
            match locked {
                Some(state) => break state,
                None if !wait => return Next::Empty,
                None if ctx.is_cancelled() => return Next::Stopped,
                None => {}
            }
        };
        if wait {
            stats.add_recv_wait(waited.elapsed());
        }
        let (reorder, numbered) = &mut *state;
        match reorder.next(ctx, stats, None, wait) {
            Next::Chunk(mut chunk) => {
                chunk.seq = *numbered;
                *numbered += 1;
                Next::Chunk(chunk)
            }
            other => other,
        }
    }
}

/// Where a worker (or the consumer) takes its input chunks from.
pub(crate) enum Inbox<T> {
    /// Chunks in arrival order (unordered, or from one sender that numbers them in order).
    Plain(Receiver<Chunk<T>>),
    /// Parts from parallel senders, in order, for one receiver.
    Ordered(Reorder<T>),
    /// Parts from parallel senders, in order, for parallel receivers.
    Shared(Arc<Dispenser<T>>),
}

impl<T> Inbox<T> {
    /// The next chunk; waits (until `deadline`) only if `wait`.
    pub(crate) fn next(
        &mut self,
        ctx: &Context,
        stats: &StageStats,
        deadline: Option<Instant>,
        wait: bool,
    ) -> Next<T> {
        match self {
            Inbox::Plain(rx) if wait => recv(rx, ctx, stats, deadline),
            Inbox::Plain(rx) => try_recv(rx, ctx),
            Inbox::Ordered(reorder) => reorder.next(ctx, stats, deadline, wait),
            Inbox::Shared(dispenser) => dispenser.next(ctx, stats, wait),
        }
    }
}
