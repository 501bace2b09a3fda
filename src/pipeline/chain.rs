//! Fusion: consecutive stateless stages (`map`, `filter`, `flat_map`, `inspect`, `try_map` and
//! their `_ctx` forms) with the same number of workers run as one **chain** in each worker, as
//! Flink chains operators: no channel, no thread hand-off and no cross-thread free between them.
//!
//! A chain is pulled from its top: each stage asks the one below for a batch of items (at most
//! what the worker's outbox has room for), runs its function on them in a tight, monomorphic
//! loop (see [`super::stages`]), and hands its output up. The stages below are behind a
//! `Box<dyn Pull>`, so a stage costs one virtual call per batch, not per item. Between blind
//! blocks of items (see [`super::pulse::Pace`]) each loop looks at the [pulse](super::pulse):
//! when it has moved, the chain returns at once, leaving what it has not processed where it
//! is, so the worker can stop or flush and then resume.
//!
//! Every stage keeps its counts locally and adds them to its own [`StageStats`] once per input
//! chunk, so the report counts per logical stage even when several run in one loop.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{Failure, FailureSlot};
use super::link::{Next, Recycler, Shared};
use super::ordered::Inbox;
use super::pulse::Beat;
use super::report::StageStats;
use super::runtime::Runtime;
use super::ticket::Tickets;
use crate::context::Context;
use crate::panic::{Panicked, drop_quietly};

/// What a [`Pull::pull`] call did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pulled {
    /// It appended output; there may be more.
    More,
    /// The pulse moved: look up (the run may be cancelled, a chunk may be due) before pulling
    /// again. There may be output.
    Beat,
    /// Everything the chain took in has come out: the current input chunk is done.
    Drained,
    /// A stage failed the run (fail-fast error).
    Stopped,
}

/// What a [`Pull::refill`] call found.
pub(crate) enum Refill {
    /// A new input chunk, with its number and its item count (0 if unknown).
    Got { seq: u64, items: usize },
    /// Nothing now (only when not waiting).
    Empty,
    /// The input has ended.
    End,
    /// The run was cancelled.
    Stopped,
}

/// A chain of fused stages (or just the end of a link), as one worker runs it.
pub(crate) trait Pull<T>: Send {
    /// Appends output to `out`: at most about `want` items, returning early after any item at
    /// which the pulse moved.
    fn pull(&mut self, out: &mut Vec<T>, want: usize, beat: &Beat) -> Pulled;

    /// Takes the next input chunk, once the chain is drained; waits for it only if `wait`.
    fn refill(&mut self, ctx: &Context, wait: bool) -> Refill;

    /// Adds the locally kept counts to the stages' counters. With `stopped`, what the chain
    /// still holds is dropped and counted as dropped by the stage that held it.
    fn settle(&mut self, stopped: bool);

    /// The top stage's output goes to an outbox, which counts it when it is sent.
    fn set_last(&mut self);

    /// What the link feeding the chain shares with its sender (where to publish the chain's
    /// cost per item), if it is fed by a link.
    fn input(&self) -> Option<Arc<Shared>>;

    /// The tickets of the input chunk just taken (see [`super::ticket`]).
    fn tickets(&mut self) -> Tickets {
        Tickets::new()
    }
}

/// The bottom of a chain fed by a link: hands on the items of one chunk at a time.
pub(crate) struct LinkEnd<T> {
    inbox: Inbox<T>,
    shared: Arc<Shared>,
    recycler: Recycler<T>,
    /// The first stage of the chain: it receives these items.
    stats: Arc<StageStats>,
    current: Vec<T>,
    tickets: Tickets,
}

impl<T> LinkEnd<T> {
    pub(crate) fn new(
        inbox: Inbox<T>,
        shared: Arc<Shared>,
        recycler: Recycler<T>,
        stats: Arc<StageStats>,
    ) -> Self {
        LinkEnd {
            inbox,
            shared,
            recycler,
            stats,
            current: Vec::new(),
            tickets: Tickets::new(),
        }
    }
}

impl<T: Send> Pull<T> for LinkEnd<T> {
    #[inline]
    fn pull(&mut self, out: &mut Vec<T>, want: usize, _beat: &Beat) -> Pulled {
        if self.current.is_empty() {
            return Pulled::Drained;
        }
        if out.is_empty() && self.current.len() <= want {
            // The whole rest of the chunk: hand over the vector itself, and give the emptied
            // one it replaces back to the sender.
            std::mem::swap(out, &mut self.current);
            self.recycler.give(std::mem::take(&mut self.current));
        } else {
            let n = want.min(self.current.len());
            out.extend(self.current.drain(..n));
        }
        Pulled::More
    }

    fn refill(&mut self, ctx: &Context, wait: bool) -> Refill {
        debug_assert!(self.current.is_empty());
        match self.inbox.next(ctx, &self.stats, None, wait) {
            Next::Chunk(chunk) => {
                let items = chunk.items.len();
                let drained = std::mem::replace(&mut self.current, chunk.items);
                self.recycler.give(drained);
                self.tickets = chunk.tickets;
                Refill::Got {
                    seq: chunk.seq,
                    items,
                }
            }
            Next::Empty => Refill::Empty,
            Next::End | Next::Timeout => Refill::End,
            Next::Stopped => Refill::Stopped,
        }
    }

    fn settle(&mut self, stopped: bool) {
        if stopped && !self.current.is_empty() {
            let n = self.current.len();
            self.stats.add_in(n);
            self.stats.add_dropped(n);
            drop_quietly(std::mem::take(&mut self.current));
        }
    }

    fn set_last(&mut self) {}

    fn input(&self) -> Option<Arc<Shared>> {
        Some(Arc::clone(&self.shared))
    }

    fn tickets(&mut self) -> Tickets {
        std::mem::take(&mut self.tickets)
    }
}

/// One stage's counts, kept by a worker between settlements.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) items_in: u64,
    pub(crate) items_out: u64,
    pub(crate) filtered: u64,
    pub(crate) errors: u64,
}

impl Counts {
    pub(crate) fn settle(&mut self, stats: &StageStats, count_out: bool) {
        let c = std::mem::take(self);
        stats.add_in_u64(c.items_in);
        if count_out {
            stats.add_out_u64(c.items_out);
        }
        stats.add_filtered_u64(c.filtered);
        stats.add_errors_u64(c.errors);
    }
}

/// What one stage does to a batch of items.
pub(crate) trait Op<T, U>: Send {
    /// Processes `items` from the front, appending output to `out`; returns early after an item
    /// at which the pulse moved (or, for an expanding stage, once `out` holds `want` items),
    /// leaving the rest in `items`.
    fn run(
        &mut self,
        items: &mut Vec<T>,
        out: &mut Vec<U>,
        want: usize,
        beat: &Beat,
        counts: &mut Counts,
    ) -> Ran;

    /// Whether it holds unfinished work of its own (a `flat_map`'s current iterator).
    fn holds(&self) -> bool {
        false
    }

    /// How many inputs to ask for, to make about `want` outputs.
    fn inputs_for(&self, want: usize) -> usize {
        want
    }

    /// Drops its unfinished work (the run stopped); returns how many inputs it abandons.
    fn abandon(&mut self) -> usize {
        0
    }
}

/// How an [`Op::run`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ran {
    /// Every item was processed.
    Done,
    /// The pulse moved, or `out` is full: come back for the rest.
    Paused,
    /// The stage failed the run.
    Stopped,
}

/// One fused stage on top of the chain below it.
pub(crate) struct Node<T, U, O> {
    below: Box<dyn Pull<T>>,
    op: O,
    /// Items the stage below handed up, not yet processed.
    items: Vec<T>,
    counts: Counts,
    stats: Arc<StageStats>,
    last: bool,
    /// Time spent in `op` since the stage's stats were last settled. Every call is timed: a
    /// call is a chunk of items or runs until the pulse moves, so two clock reads cost a
    /// trivial stage about half an instruction per item, where timing one call in sixteen
    /// missed a stage whose cost sits in a few slow items and named another the bottleneck.
    own_ns: u64,
    /// Where a panic of the stage's function is recorded (with the stage's name: the thread is
    /// named after its group).
    failure: Arc<FailureSlot>,
    ctx: Context,
    _out: std::marker::PhantomData<fn() -> U>,
}

impl<T, U, O> Node<T, U, O> {
    pub(crate) fn new(below: Box<dyn Pull<T>>, op: O, rt: &Runtime, index: usize) -> Self {
        Node {
            below,
            op,
            items: Vec::new(),
            counts: Counts::default(),
            stats: Arc::clone(&rt.stats[index]),
            last: false,
            own_ns: 0,
            failure: Arc::clone(&rt.failure),
            ctx: rt.ctx.clone(),
            _out: std::marker::PhantomData,
        }
    }

    /// Runs the stage's function on what it holds: timed, a panic caught and recorded under
    /// the stage's own name.
    fn run(&mut self, out: &mut Vec<U>, want: usize, beat: &Beat) -> Ran
    where
        T: Send,
        O: Op<T, U>,
    {
        let started = Instant::now();
        let (op, items, counts) = (&mut self.op, &mut self.items, &mut self.counts);
        let ran = panic::catch_unwind(AssertUnwindSafe(|| op.run(items, out, want, beat, counts)));
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.own_ns = self.own_ns.saturating_add(took);
        match ran {
            Ok(ran) => ran,
            Err(payload) => {
                let stage = self.stats.name.clone();
                let reason = format!("stage '{stage}' panicked");
                self.failure.claim(Failure::Panicked {
                    stage,
                    panic: Panicked::from_payload(payload),
                });
                self.ctx.cancel_with(reason);
                Ran::Stopped
            }
        }
    }
}

impl<T: Send, U, O: Op<T, U>> Pull<U> for Node<T, U, O> {
    fn pull(&mut self, out: &mut Vec<U>, want: usize, beat: &Beat) -> Pulled {
        let start = out.len();
        loop {
            if self.items.is_empty() && !self.op.holds() {
                let ask = self.op.inputs_for(want - (out.len() - start)).max(1);
                match self.below.pull(&mut self.items, ask, beat) {
                    Pulled::More => {}
                    Pulled::Drained if self.items.is_empty() => {
                        return if out.len() > start {
                            Pulled::More
                        } else {
                            Pulled::Drained
                        };
                    }
                    Pulled::Drained => {}
                    // Leave what came up for the next call: the worker must look up now.
                    Pulled::Beat => return Pulled::Beat,
                    Pulled::Stopped => return Pulled::Stopped,
                }
            }
            match self.run(out, want, beat) {
                Ran::Done if out.len() - start < want => {}
                Ran::Done => return Pulled::More,
                Ran::Paused if beat.moved() => return Pulled::Beat,
                Ran::Paused => return Pulled::More,
                Ran::Stopped => return Pulled::Stopped,
            }
        }
    }

    fn refill(&mut self, ctx: &Context, wait: bool) -> Refill {
        self.below.refill(ctx, wait)
    }

    fn settle(&mut self, stopped: bool) {
        if stopped {
            let held = self.items.len() as u64 + self.op.abandon() as u64;
            // Handed up by the stage below, never finished here.
            self.counts.items_in += self.items.len() as u64;
            self.stats.add_dropped(held as usize);
            drop_quietly(std::mem::take(&mut self.items));
        }
        self.counts.settle(&self.stats, !self.last);
        if self.own_ns > 0 {
            self.stats
                .add_own_busy(Duration::from_nanos(std::mem::take(&mut self.own_ns)));
        }
        self.below.settle(stopped);
    }

    fn set_last(&mut self) {
        self.last = true;
    }

    fn input(&self) -> Option<Arc<Shared>> {
        self.below.input()
    }

    fn tickets(&mut self) -> Tickets {
        self.below.tickets()
    }
}
