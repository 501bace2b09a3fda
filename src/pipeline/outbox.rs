//! The sending half of a link, as one worker sees it: buffers output into chunks and sends a
//! chunk when
//!
//! * it holds as many items as the link allows and the receiver's speed suggests (see
//!   [`super::link`]),
//! * the worker is about to wait for input (it never sits on items while the receiver starves),
//! * or [`FLUSH_TICKS`] beats of the pulse have passed since its first item (the worker notices
//!   at the first item after the pulse moved: so a stage that turns slow still delivers each
//!   result within about one item's time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_utils::Backoff;

use super::link::{CHUNK_WORK, Chunk, Sending, Shared, Stopped};
use super::ordered::Gate;
use super::pulse::{self, FLUSH_TICKS};
use super::report::StageStats;
use super::ticket::{Ticket, Tickets};
use crate::context::Context;
use crate::panic::drop_quietly;

/// How an [`Outbox`] numbers its chunks.
pub(crate) enum Mode {
    /// Unordered: numbers are meaningless.
    Coalesce,
    /// The only sender of an ordered link: whole chunks numbered 0, 1, 2, ...
    Numbered { next: u64 },
    /// One of several senders of an ordered link: the parts of input chunk `seq`, each allowed
    /// through by the gate.
    Parts { seq: u64, gate: Arc<Gate> },
}

/// The sending half of a link, as one worker sees it.
pub(crate) struct Outbox<T> {
    tx: Sender<Chunk<T>>,
    /// Emptied chunk vectors the receivers gave back.
    spares: Receiver<Vec<T>>,
    /// The receiver's cost per item.
    shared: Arc<Shared>,
    pub(crate) ctx: Context,
    /// The sending stage: its `items_out`, its time blocked sending.
    pub(crate) stats: Arc<StageStats>,
    /// The chunk being filled. Workers push into it directly.
    pub(crate) buf: Vec<T>,
    /// Largest chunk for now.
    limit: usize,
    /// Largest chunk the link allows.
    max: usize,
    /// The pulse, and the time, when `buf` received its first item.
    since: u64,
    since_at: Instant,
    mode: Mode,
    /// Time spent blocked sending, over the outbox's life.
    blocked: Duration,
    /// The tickets of the items in `buf`, and whether the current input's are among them.
    tickets: Tickets,
    covered: bool,
}

impl<T> Outbox<T> {
    pub(crate) fn new(
        sending: &Sending<T>,
        shared: Arc<Shared>,
        ctx: Context,
        stats: Arc<StageStats>,
        mode: Mode,
        max: usize,
    ) -> Self {
        Outbox {
            tx: sending.tx.clone(),
            spares: sending.spares.clone(),
            shared,
            ctx,
            stats,
            buf: Vec::new(),
            limit: 1,
            max: max.max(1),
            since: 0,
            since_at: Instant::now(),
            mode,
            blocked: Duration::ZERO,
            tickets: Tickets::new(),
            covered: false,
        }
    }

    /// The items appended from now on come from an input covered by `tickets`: the chunk
    /// that carries them carries the tickets too (once per chunk).
    #[inline]
    pub(crate) fn cover(&mut self, tickets: &[Ticket]) {
        if !self.covered && !tickets.is_empty() {
            self.tickets.extend(tickets.iter().cloned());
            self.covered = true;
        }
    }

    /// The next item pushed is covered by `ticket` (a source attaching its own).
    #[allow(dead_code)] // the seam for sources that acknowledge (see `super::ticket`)
    pub(crate) fn attach(&mut self, ticket: Ticket) {
        self.tickets.push(ticket);
    }

    /// Room left in the chunk being filled (at least 1: a full chunk is sent first).
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.buf.len()).max(1)
    }

    /// Whether the chunk being filled is full.
    #[inline]
    pub(crate) fn full(&self) -> bool {
        self.buf.len() >= self.limit
    }

    /// Call after appending to `buf` directly: starts its clock if it was empty.
    #[inline]
    pub(crate) fn appended(&mut self, was_empty: bool) {
        if was_empty && !self.buf.is_empty() {
            self.started();
        }
    }

    /// The chunk being filled got its first item (one clock read per chunk).
    fn started(&mut self) {
        self.since = pulse::now();
        self.since_at = Instant::now();
    }

    /// Buffers one item, sending the chunk when it is full.
    #[inline]
    pub(crate) fn push(&mut self, item: T) -> Result<(), Stopped> {
        if self.buf.is_empty() {
            self.started();
        }
        self.buf.push(item);
        if self.buf.len() >= self.limit {
            return self.flush();
        }
        Ok(())
    }

    /// Time spent blocked sending so far.
    pub(crate) fn blocked(&self) -> Duration {
        self.blocked
    }

    /// The pulse moved: sends the chunk being filled if it has waited long enough.
    pub(crate) fn on_beat(&mut self) -> Result<(), Stopped> {
        if self.buf.is_empty() || pulse::now().wrapping_sub(self.since) < FLUSH_TICKS {
            return Ok(());
        }
        match &self.mode {
            // Parts of any chunk but the head's would only wait in the reorderer.
            Mode::Parts { seq, gate } if !gate.is_head(*seq) => Ok(()),
            _ => self.flush(),
        }
    }

    /// An input chunk is done: sends the chunk being filled if it has waited long enough by
    /// the clock (in case the pulse's thread has not had a core lately).
    pub(crate) fn at_input_end(&mut self) -> Result<(), Stopped> {
        if self.buf.is_empty() || self.since_at.elapsed() < pulse::TICK * FLUSH_TICKS as u32 {
            return Ok(());
        }
        match &self.mode {
            Mode::Parts { .. } => Ok(()),
            _ => self.flush(),
        }
    }

    /// The worker is about to wait for input: sends what is buffered.
    pub(crate) fn before_wait(&mut self) -> Result<(), Stopped> {
        self.flush()
    }

    /// A new input chunk numbered `seq` begins (ordered parallel stages number their parts
    /// after it).
    pub(crate) fn begin_input(&mut self, seq: u64) {
        self.covered = false;
        if let Mode::Parts { seq: current, .. } = &mut self.mode {
            debug_assert!(self.buf.is_empty());
            *current = seq;
        }
    }

    /// The current input chunk is finished: a parallel stage of an ordered pipeline sends its
    /// last part (even empty: the reorderer must learn that the chunk is complete).
    pub(crate) fn end_input(&mut self) -> Result<(), Stopped> {
        match &self.mode {
            Mode::Parts { seq, gate } => {
                let (seq, gate) = (*seq, Arc::clone(gate));
                let credited = self.pass(&gate, seq)?;
                let (items, tickets) = self.take();
                self.send(Chunk {
                    seq,
                    items,
                    last: true,
                    credited,
                    tickets,
                })
            }
            _ => Ok(()),
        }
    }

    /// Sends what is buffered (as a part that is not the last, in parts mode).
    pub(crate) fn flush(&mut self) -> Result<(), Stopped> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = match &mut self.mode {
            Mode::Coalesce => {
                let (items, tickets) = self.take();
                Chunk::whole(0, items, tickets)
            }
            Mode::Numbered { next } => {
                let seq = *next;
                *next += 1;
                let (items, tickets) = self.take();
                Chunk::whole(seq, items, tickets)
            }
            Mode::Parts { seq, gate } => {
                let (seq, gate) = (*seq, Arc::clone(gate));
                let credited = self.pass(&gate, seq)?;
                let (items, tickets) = self.take();
                Chunk {
                    seq,
                    items,
                    last: false,
                    credited,
                    tickets,
                }
            }
        };
        self.send(chunk)
    }

    fn pass(&mut self, gate: &Arc<Gate>, seq: u64) -> Result<bool, Stopped> {
        if gate.is_head(seq) {
            return Ok(false);
        }
        let waited = Instant::now();
        let passed = gate.pass(seq, &self.ctx);
        self.note_blocked(waited.elapsed());
        passed
    }

    /// Takes the buffered items, and sizes the next chunk: about [`CHUNK_WORK`] of the
    /// receiver's work, and one item until the receiver has measured itself (a fast receiver
    /// does so within microseconds; a slow one is not handed hundreds of items before anyone
    /// knows it is slow).
    fn take(&mut self) -> (Vec<T>, Tickets) {
        self.limit = match self.shared.cost() {
            Some(ns) => {
                let work = u64::try_from(CHUNK_WORK.as_nanos()).unwrap_or(u64::MAX);
                usize::try_from(work / ns).unwrap_or(usize::MAX)
            }
            None => 1,
        }
        .clamp(1, self.max);
        let capacity = self.limit;
        // The input being processed may still add items to the next chunk: it will be
        // covered again.
        self.covered = false;
        let next = match self.spares.try_recv() {
            Ok(mut spare) => {
                spare.reserve(capacity);
                spare
            }
            Err(_) => Vec::with_capacity(capacity),
        };
        let items = std::mem::replace(&mut self.buf, next);
        (items, std::mem::take(&mut self.tickets))
    }

    fn note_blocked(&mut self, d: Duration) {
        self.blocked += d;
        self.stats.add_send_wait(d);
    }

    /// Sends one chunk, blocking (cancel-aware) while the link is full.
    fn send(&mut self, chunk: Chunk<T>) -> Result<(), Stopped> {
        let n = chunk.items.len();
        let mut chunk = match self.tx.try_send(chunk) {
            Ok(()) => {
                self.stats.add_out(n);
                return Ok(());
            }
            Err(TrySendError::Full(chunk)) => chunk,
            Err(TrySendError::Disconnected(chunk)) => return self.lost(chunk),
        };
        let waited = Instant::now();
        let _state = crate::threads::enter_state(crate::threads::Kind::Downstream); // issue 17
        // Room is often only a moment away: spin and yield briefly before parking.
        let backoff = Backoff::new();
        while !backoff.is_completed() && !self.ctx.is_cancelled() {
            backoff.snooze();
            chunk = match self.tx.try_send(chunk) {
                Ok(()) => {
                    self.note_blocked(waited.elapsed());
                    self.stats.add_out(n);
                    return Ok(());
                }
                Err(TrySendError::Full(chunk)) => chunk,
                Err(TrySendError::Disconnected(chunk)) => return self.lost(chunk),
            };
        }
        let sent = self.ctx.send(&self.tx, chunk);
        self.note_blocked(waited.elapsed());
        match sent {
            Ok(()) => {
                self.stats.add_out(n);
                Ok(())
            }
            Err(e) => self.lost(e.into_inner()),
        }
    }

    /// A chunk that could not be sent: its items are dropped (and counted).
    fn lost(&mut self, chunk: Chunk<T>) -> Result<(), Stopped> {
        self.stats.add_dropped(chunk.items.len());
        drop_quietly(chunk.items);
        Err(Stopped)
    }
}

impl<T> Drop for Outbox<T> {
    fn drop(&mut self) {
        // Items still buffered here were never sent: the run stopped. Count them.
        self.stats.add_dropped(self.buf.len());
        drop_quietly(std::mem::take(&mut self.buf));
    }
}
