//! Groups of fused stages, and the worker loop that runs one.
//!
//! While the builder adds stateless stages with the same worker count, the pipeline's tail is
//! an open [`Group`]: one [chain](super::chain) per worker, not started yet. A stage that cannot
//! join it (another worker count, `batch`, a `buffer` or `unfused()` in between, the consumer)
//! *closes* it: a link is made, each worker gets an outbox on it and starts [`drive`]-ing its
//! chain, and the next stage reads the link.

use std::sync::Arc;
use std::time::Instant;

use super::chain::{LinkEnd, Pull, Pulled, Refill};
use super::link::{self, Link, Order, Stopped};
use super::ordered::{Dispenser, Gate, Inbox, Reorder};
use super::outbox::{Mode, Outbox};
use super::pulse::Beat;
use super::runtime::Runtime;
use crate::context::Context;

/// How a group numbers its output, as its input and worker count demand.
pub(crate) enum Numbering {
    /// Unordered pipeline.
    Unordered,
    /// One worker taking its input in order: it numbers whole chunks.
    Sequential,
    /// Parallel workers taking numbered input chunks in order: they send numbered parts.
    Parts,
}

impl Numbering {
    /// For `workers` workers of an ordered pipeline (or not).
    pub(crate) fn of(ordered: bool, workers: usize) -> Numbering {
        match (ordered, workers) {
            (false, _) => Numbering::Unordered,
            (true, 1) => Numbering::Sequential,
            (true, _) => Numbering::Parts,
        }
    }
}

/// Fused stages not started yet: one chain per worker.
pub(crate) struct Group<T> {
    /// The first and the last stage in the group.
    pub(crate) first: usize,
    pub(crate) last: usize,
    pub(crate) chains: Vec<Box<dyn Pull<T>>>,
    pub(crate) numbering: Numbering,
}

/// The end of a pipeline under construction.
pub(crate) enum Tail<T> {
    /// Items arrive through a link (from a source thread, a batch stage, a closed group).
    Link(Link<T>),
    /// An open group: stateless stages may still join it.
    Group(Group<T>),
}

/// Adds a stateless stage at `index` that wraps each worker's chain with `wrap`: into the open
/// group if the worker counts match and nothing forbids it, else into a new group over a link.
pub(crate) fn add_stage<T, U>(
    rt: &mut Runtime,
    index: usize,
    tail: Tail<T>,
    mut wrap: impl FnMut(&mut Runtime, Box<dyn Pull<T>>) -> Box<dyn Pull<U>>,
) -> Tail<U>
where
    T: Send + 'static,
    U: Send + 'static,
{
    let workers = rt.workers(index);
    let group = match tail {
        Tail::Group(group) if group.chains.len() == workers && rt.plan.may_fuse(index) => {
            let leader = rt.plan.name(group.first);
            rt.stats[index].fuse_into(group.first, leader);
            group
        }
        tail => {
            let link = close(rt, tail);
            open(rt, index, link)
        }
    };
    let chains = group
        .chains
        .into_iter()
        .map(|chain| wrap(rt, chain))
        .collect();
    Tail::Group(Group {
        first: group.first,
        last: index,
        chains,
        numbering: group.numbering,
    })
}

/// The inboxes of the workers of stage `index` reading `link`, and how they number their
/// output: a reorderer in front of one worker whose input comes in parts; one shared by several
/// workers (each numbering what it takes afresh); plain channel ends otherwise.
///
/// Items left in the link when the run ends count as received and dropped by the stage (not
/// for a link of byte blocks, whose lines were never counted).
pub(crate) fn inboxes<T: Send + 'static>(
    rt: &mut Runtime,
    index: usize,
    link: &Link<T>,
    items: bool,
) -> (Vec<Inbox<T>>, Numbering) {
    let workers = rt.workers(index);
    let stats = Arc::clone(&rt.stats[index]);
    if items {
        rt.add_drain(index, link.rx.clone());
    }
    let inboxes = match &link.order {
        Order::Parts(gate) if workers == 1 => vec![Inbox::Ordered(Reorder::new(
            link.rx.clone(),
            Some(Arc::clone(gate)),
            stats,
        ))],
        Order::Parts(gate) => {
            let shared =
                Dispenser::new(Reorder::new(link.rx.clone(), Some(Arc::clone(gate)), stats));
            (0..workers)
                .map(|_| Inbox::Shared(Arc::clone(&shared)))
                .collect()
        }
        Order::None | Order::Numbered => (0..workers)
            .map(|_| Inbox::Plain(link.rx.clone()))
            .collect(),
    };
    (inboxes, Numbering::of(rt.ordered(), workers))
}

/// Starts reading `link` with the workers of stage `index`: a group with no stage in it yet.
pub(crate) fn open<T: Send + 'static>(rt: &mut Runtime, index: usize, link: Link<T>) -> Group<T> {
    let (inboxes, numbering) = inboxes(rt, index, &link, true);
    let chains = inboxes
        .into_iter()
        .map(|inbox| {
            let stats = Arc::clone(&rt.stats[index]);
            let shared = Arc::clone(&link.shared);
            Box::new(LinkEnd::new(inbox, shared, link.recycler(), stats)) as Box<dyn Pull<T>>
        })
        .collect();
    Group {
        first: index,
        last: index,
        chains,
        numbering,
    }
}

/// Makes `tail` a link: starts an open group's workers on a new link.
pub(crate) fn close<T: Send + 'static>(rt: &mut Runtime, tail: Tail<T>) -> Link<T> {
    let group = match tail {
        Tail::Link(link) => return link,
        Tail::Group(group) => group,
    };
    let capacity = rt.plan.capacity_after(group.last);
    let workers = group.chains.len();
    let order = match group.numbering {
        Numbering::Unordered => Order::None,
        Numbering::Sequential => Order::Numbered,
        // The reorderer holds at most this many parts: every slot of the link, and two parts
        // per worker, so the window binds only when one chunk is much slower than the rest.
        Numbering::Parts => Order::Parts(Gate::new(capacity.slots + 2 * workers)),
    };
    let (sending, link) = link::link(capacity, order.clone());
    let stats = Arc::clone(&rt.stats[group.last]);
    for mut chain in group.chains {
        chain.set_last();
        let mode = match &order {
            Order::None => Mode::Coalesce,
            Order::Numbered => Mode::Numbered { next: 0 },
            Order::Parts(gate) => Mode::Parts {
                seq: 0,
                gate: Arc::clone(gate),
            },
        };
        let out = Outbox::new(
            &sending,
            Arc::clone(&link.shared),
            rt.ctx.clone(),
            Arc::clone(&stats),
            mode,
            capacity.chunk,
        );
        let ctx = rt.ctx.clone();
        rt.spawn(group.first, move || drive(chain, out, &ctx));
    }
    link
}

/// One worker of a group: takes an input chunk, pulls the chain's output into the outbox until
/// the chunk is drained, repeats until the input ends or the run stops.
pub(crate) fn drive<T>(mut chain: Box<dyn Pull<T>>, mut out: Outbox<T>, ctx: &Context) {
    let input = chain.input();
    let mut beat = Beat::new();
    let stopped = run(&mut *chain, &mut out, ctx, &mut beat, input.as_deref()).is_err();
    if !stopped && out.flush().is_err() {
        chain.settle(true);
        return;
    }
    chain.settle(stopped);
}

fn run<T>(
    chain: &mut dyn Pull<T>,
    out: &mut Outbox<T>,
    ctx: &Context,
    beat: &mut Beat,
    input: Option<&link::Shared>,
) -> Result<(), Stopped> {
    loop {
        let (seq, items) = match chain.refill(ctx, false) {
            Refill::Got { seq, items } => (seq, items),
            Refill::Empty => {
                // Never sit on items while waiting for more.
                out.before_wait()?;
                match chain.refill(ctx, true) {
                    Refill::Got { seq, items } => (seq, items),
                    Refill::Empty | Refill::End => return Ok(()),
                    Refill::Stopped => return Err(Stopped),
                }
            }
            Refill::End => return Ok(()),
            Refill::Stopped => return Err(Stopped),
        };
        out.begin_input(seq);
        // Kept until the input chunk is done; every output chunk with some of its items
        // carries a clone.
        let tickets = chain.tickets();
        let started = Instant::now();
        let _state = crate::threads::running_task(None, started);
        let blocked = out.blocked();
        loop {
            out.cover(&tickets);
            let was_empty = out.buf.is_empty();
            let want = out.room();
            let pulled = chain.pull(&mut out.buf, want, beat);
            out.appended(was_empty);
            match pulled {
                Pulled::More => {
                    if out.full() {
                        out.flush()?;
                    }
                }
                Pulled::Beat => {
                    beat.catch_up();
                    if ctx.is_cancelled() {
                        return Err(Stopped);
                    }
                    if out.full() {
                        out.flush()?;
                    } else {
                        out.on_beat()?;
                    }
                }
                Pulled::Drained => break,
                Pulled::Stopped => return Err(Stopped),
            }
        }
        if let Some(input) = input {
            // The chain's cost per input item, without the time it waited to send: the
            // sender sizes its chunks by it.
            let took = started.elapsed().saturating_sub(out.blocked() - blocked);
            input.record(items, took);
        }
        chain.settle(false);
        out.end_input()?;
        out.at_input_end()?;
        drop(tickets);
    }
}
