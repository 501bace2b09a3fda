//! The link between two stages: items travel in chunks (micro-batching the user never sees).
//!
//! One channel operation costs about as much as processing hundreds of trivial items, and a
//! thread that parks on an empty channel costs tens of microseconds to wake. So a worker
//! buffers its output in an [`Outbox`] and sends a whole chunk when
//!
//! * it is full ([`CHUNK`] items, or the stage's own limit),
//! * the worker is about to wait for input (it never sits on items while the consumer starves),
//! * or [`LATENCY`] has passed since the chunk's first item (checked after the 2nd, 8th, 32nd
//!   and 128th item, so a fast stage reads the clock five times per chunk and a slow one
//!   flushes after its second item).
//!
//! In an ordered pipeline chunks carry sequence numbers; see [`super::ordered`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use crossbeam_utils::Backoff;

use super::report::StageStats;
use crate::context::Context;

/// Most items per chunk.
pub(crate) const CHUNK: usize = 512;
/// Chunks a link holds before its sender blocks: memory per link is at most
/// `LINK_CAPACITY * CHUNK` items.
pub(crate) const LINK_CAPACITY: usize = 8;
/// Longest time an item waits in a partly filled chunk while its worker keeps busy.
pub(crate) const LATENCY: Duration = Duration::from_millis(2);

/// What travels through a link.
pub(crate) struct Chunk<T> {
    /// Position in the source order (ordered pipelines only; 0 otherwise).
    pub(crate) seq: u64,
    pub(crate) items: Vec<T>,
}

/// The run must stop (cancelled, or a downstream stage is gone): the worker unwinds its loop.
#[derive(Debug)]
pub(crate) struct Stopped;

/// How an [`Outbox`] numbers and cuts its chunks.
pub(crate) enum Mode {
    /// Unordered: coalesce items into full chunks; sequence numbers are meaningless.
    Coalesce,
    /// Start of an ordered segment (one thread): number chunks 0, 1, 2, .., and take one credit
    /// from the reorder window before each send, so at most `window` chunks are in flight.
    Sequence { next: u64, credits: Receiver<()> },
    /// Inside an ordered segment: one output chunk per input chunk, with the input's number
    /// (possibly empty, so the reorderer never waits for a number that will not come).
    Passthrough,
}

/// The sending half of a link, as one worker sees it.
pub(crate) struct Outbox<T> {
    tx: Sender<Chunk<T>>,
    pub(crate) ctx: Context,
    pub(crate) stats: Arc<StageStats>,
    buf: Vec<T>,
    /// Largest chunk this outbox sends.
    limit: usize,
    /// When `buf` received its first item (meaningless while `buf` is empty).
    started: Instant,
    /// `buf` length at which [`push`](Outbox::push) next looks at the clock and the limit
    /// (never, in passthrough mode).
    checkpoint: usize,
    mode: Mode,
    /// Set when whole chunks take longer than [`LATENCY`]; the stage then works item by item
    /// so the latency bound holds.
    slow: bool,
    /// Chunks started, for sampling their duration.
    chunks: u32,
}

impl<T> Outbox<T> {
    pub(crate) fn new(
        tx: Sender<Chunk<T>>,
        ctx: Context,
        stats: Arc<StageStats>,
        mode: Mode,
        limit: usize,
    ) -> Self {
        Outbox {
            tx,
            ctx,
            stats,
            buf: Vec::new(),
            limit,
            started: Instant::now(),
            checkpoint: if matches!(mode, Mode::Passthrough) {
                usize::MAX
            } else {
                1
            },
            mode,
            slow: false,
            chunks: 0,
        }
    }

    /// Whether the stage may process whole chunks at once (its chunks are fast).
    #[inline]
    pub(crate) fn fast(&self) -> bool {
        !self.slow
    }

    /// Starts timing a chunk: every chunk while the stage is slow, one in eight while it is
    /// fast (a clock read costs as much as processing a few dozen trivial items).
    #[inline]
    pub(crate) fn start_chunk(&mut self) -> Option<Instant> {
        self.chunks = self.chunks.wrapping_add(1);
        (self.slow || self.chunks % 8 == 1).then(Instant::now)
    }

    /// Records how long a timed chunk took, switching between whole-chunk and per-item work.
    #[inline]
    pub(crate) fn chunk_took(&mut self, started: Option<Instant>) {
        if let Some(started) = started {
            let took = started.elapsed();
            self.slow = if self.slow {
                took > LATENCY / 4
            } else {
                took > LATENCY
            };
        }
    }

    /// Buffers one item, sending the chunk when it is full or has waited long enough.
    #[inline]
    pub(crate) fn push(&mut self, item: T) -> Result<(), Stopped> {
        self.buf.push(item);
        // The common case is one comparison; the clock and the limit are looked at only at
        // the checkpoints (see `at_checkpoint`).
        if self.buf.len() < self.checkpoint {
            return Ok(());
        }
        self.at_checkpoint()
    }

    #[cold]
    fn at_checkpoint(&mut self) -> Result<(), Stopped> {
        // The checkpoints double as cancellation checks for loops that only push (the
        // source): every item or two while items are slow, five times per chunk when fast.
        // What is buffered is counted as dropped when the outbox is dropped.
        if self.ctx.is_cancelled() {
            return Err(Stopped);
        }
        let n = self.buf.len();
        if n == 1 {
            self.started = Instant::now();
            self.checkpoint = 2.min(self.limit);
            if n < self.limit {
                return Ok(());
            }
        }
        if n >= self.limit || self.started.elapsed() >= LATENCY {
            return self.flush();
        }
        // Checkpoints at 1, 2, 8, 32, 128 items: a slow producer flushes after its second item,
        // a fast one reads the clock five times per chunk.
        self.checkpoint = (n * 4).min(self.limit);
        Ok(())
    }

    /// Hands over the output of one whole input chunk numbered `seq`.
    pub(crate) fn emit(&mut self, seq: u64, items: Vec<T>) -> Result<(), Stopped> {
        match self.mode {
            Mode::Passthrough => {
                debug_assert!(self.buf.is_empty());
                self.send(seq, items)
            }
            _ if self.buf.is_empty() && items.len() >= self.limit / 2 => match self.next_seq() {
                Ok(seq) => self.send(seq, items),
                Err(stopped) => {
                    self.stats.add_dropped(items.len());
                    Err(stopped)
                }
            },
            _ => {
                let mut rest = items.into_iter();
                while let Some(item) = rest.next() {
                    if let Err(stopped) = self.push(item) {
                        self.stats.add_dropped(rest.len());
                        return Err(stopped);
                    }
                }
                Ok(())
            }
        }
    }

    /// Ends the processing of input chunk `seq`: in passthrough mode its output goes now.
    #[inline]
    pub(crate) fn end_chunk(&mut self, seq: u64) -> Result<(), Stopped> {
        if matches!(self.mode, Mode::Passthrough) {
            let items = std::mem::take(&mut self.buf);
            return self.send(seq, items);
        }
        Ok(())
    }

    /// Sends whatever is buffered (outside passthrough mode, where chunks end explicitly).
    pub(crate) fn flush(&mut self) -> Result<(), Stopped> {
        if self.buf.is_empty() || matches!(self.mode, Mode::Passthrough) {
            return Ok(());
        }
        let items = std::mem::replace(&mut self.buf, Vec::with_capacity(self.limit.min(CHUNK)));
        self.checkpoint = 1;
        let seq = match self.next_seq() {
            Ok(seq) => seq,
            Err(stopped) => {
                self.stats.add_dropped(items.len());
                return Err(stopped);
            }
        };
        self.send(seq, items)
    }

    /// The next sequence number, after taking a credit from the reorder window.
    fn next_seq(&mut self) -> Result<u64, Stopped> {
        let Mode::Sequence { next, credits } = &mut self.mode else {
            return Ok(0);
        };
        if credits.try_recv().is_err() {
            let waited = Instant::now();
            let got = self.ctx.recv(credits);
            self.stats.add_send_wait(waited.elapsed());
            got.map_err(|_| Stopped)?;
        }
        let seq = *next;
        *next += 1;
        Ok(seq)
    }

    /// Sends one chunk, blocking (cancel-aware) while the link is full.
    fn send(&mut self, seq: u64, items: Vec<T>) -> Result<(), Stopped> {
        let n = items.len();
        let mut chunk = match self.tx.try_send(Chunk { seq, items }) {
            Ok(()) => {
                self.stats.add_out(n);
                return Ok(());
            }
            Err(TrySendError::Full(chunk)) => chunk,
            Err(TrySendError::Disconnected(_)) => {
                self.stats.add_dropped(n);
                return Err(Stopped);
            }
        };
        let waited = Instant::now();
        // As in `recv_chunk`: room is often only a moment away, so spin and yield briefly
        // before parking.
        let backoff = Backoff::new();
        while !backoff.is_completed() && !self.ctx.is_cancelled() {
            backoff.snooze();
            chunk = match self.tx.try_send(chunk) {
                Ok(()) => {
                    self.stats.add_send_wait(waited.elapsed());
                    self.stats.add_out(n);
                    return Ok(());
                }
                Err(TrySendError::Full(chunk)) => chunk,
                Err(TrySendError::Disconnected(_)) => {
                    self.stats.add_dropped(n);
                    return Err(Stopped);
                }
            };
        }
        let sent = self.ctx.send(&self.tx, chunk);
        self.stats.add_send_wait(waited.elapsed());
        match sent {
            Ok(()) => {
                self.stats.add_out(n);
                Ok(())
            }
            Err(_) => {
                self.stats.add_dropped(n);
                Err(Stopped)
            }
        }
    }
}

impl<T> Drop for Outbox<T> {
    fn drop(&mut self) {
        // Items still buffered here were never sent: the run stopped. Count them.
        self.stats.add_dropped(self.buf.len());
    }
}

/// What a worker gets when it asks its [`Inbox`](super::ordered::Inbox) for work.
pub(crate) enum Next<T> {
    Chunk(Chunk<T>),
    /// Every upstream worker has finished and the link is empty.
    End,
    /// The deadline given to the call passed first.
    Timeout,
    /// The pipeline was cancelled.
    Stopped,
}

/// Receives one chunk from `rx`: first without blocking; if the link is empty, runs
/// `before_wait` (flush your outbox) and then blocks until a chunk, the end, cancellation, or
/// `deadline`. Time spent blocked counts as waiting for upstream.
pub(crate) fn recv_chunk<T>(
    rx: &Receiver<Chunk<T>>,
    ctx: &Context,
    stats: &StageStats,
    deadline: Option<Instant>,
    before_wait: &mut dyn FnMut() -> Result<(), Stopped>,
) -> Next<T> {
    if ctx.is_cancelled() {
        return Next::Stopped;
    }
    match rx.try_recv() {
        Ok(chunk) => return Next::Chunk(chunk),
        Err(TryRecvError::Disconnected) => return Next::End,
        Err(TryRecvError::Empty) => {}
    }
    if before_wait().is_err() {
        return Next::Stopped;
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
    let next = match deadline {
        None => crossbeam_channel::select! {
            recv(rx) -> msg => msg.map_or(Next::End, Next::Chunk),
            recv(ctx.done()) -> _ => Next::Stopped,
        },
        Some(at) => crossbeam_channel::select! {
            recv(rx) -> msg => msg.map_or(Next::End, Next::Chunk),
            recv(ctx.done()) -> _ => Next::Stopped,
            default(at.saturating_duration_since(waited)) => Next::Timeout,
        },
    };
    stats.add_recv_wait(waited.elapsed());
    next
}
