//! The `batch(size, max_wait)` stage: groups items into `Vec`s by size or by time.
//!
//! A batch is sent when it holds `size` items, when `max_wait` has passed since its first item
//! (the worker waits for input with that deadline, so a quiet input still flushes on time),
//! and with whatever remains when the input ends. If the run is cancelled, the open batch is
//! counted as dropped in the report: never lost without a trace.
//!
//! Downstream, a batch weighs `size` items: the links after it hold as many items as any other
//! link, not as many batches (see [`super::link::Capacity`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::group::{self, Numbering, Tail};
use super::link::{self, Next, Order, Recycler, Shared, Stopped};
use super::ordered::Inbox;
use super::outbox::{Mode, Outbox};
use super::pulse::Beat;
use super::runtime::Runtime;
use super::ticket::Tickets;
use crate::panic::drop_quietly;

/// Starts the batching worker (always one: batching needs the items in one place).
pub(crate) fn spawn<T: Send + 'static>(
    rt: &mut Runtime,
    index: usize,
    tail: Tail<T>,
    size: usize,
    max_wait: Duration,
) -> Tail<Vec<T>> {
    let input = group::close(rt, tail);
    let (inboxes, numbering) = group::inboxes(rt, index, &input, true);
    let capacity = rt.plan.capacity_after(index);
    let (order, mode) = match numbering {
        Numbering::Unordered => (Order::None, Mode::Coalesce),
        _ => (Order::Numbered, Mode::Numbered { next: 0 }),
    };
    let (sending, link) = link::link(capacity, order);
    let out = Outbox::new(
        &sending,
        Arc::clone(&link.shared),
        rt.ctx.clone(),
        Arc::clone(&rt.stats[index]),
        mode,
        capacity.chunk,
    );
    if let Some(inbox) = inboxes.into_iter().next() {
        let batcher = Batcher {
            out,
            size,
            max_wait,
            batch: Vec::new(),
            due: None,
            tickets: Tickets::new(),
        };
        let (shared, recycler) = (Arc::clone(&input.shared), input.recycler());
        rt.spawn(index, move || batcher.run(inbox, &shared, &recycler));
    }
    Tail::Link(link)
}

struct Batcher<T> {
    out: Outbox<Vec<T>>,
    size: usize,
    max_wait: Duration,
    batch: Vec<T>,
    /// When the open batch must go; `None` while it is empty (or `max_wait` overflows).
    due: Option<Instant>,
    /// The tickets of the inputs whose items are in the open batch (and of the input being
    /// taken): each batch sent carries a clone.
    tickets: Tickets,
}

impl<T> Batcher<T> {
    fn run(mut self, mut inbox: Inbox<T>, shared: &Shared, recycler: &Recycler<T>) {
        let ctx = self.out.ctx.clone();
        let stats = Arc::clone(&self.out.stats);
        let mut beat = Beat::new();
        loop {
            let next = match inbox.next(&ctx, &stats, None, false) {
                Next::Empty => {
                    // Never sit on finished batches while waiting for more input.
                    if self.out.before_wait().is_err() {
                        break;
                    }
                    inbox.next(&ctx, &stats, self.due, true)
                }
                other => other,
            };
            match next {
                Next::Chunk(chunk) => {
                    let started = Instant::now();
                    let blocked = self.out.blocked();
                    let n = chunk.items.len();
                    stats.add_in(n);
                    self.tickets.extend(chunk.tickets);
                    let mut items = chunk.items;
                    let taken = self.take(&mut items);
                    recycler.give(items);
                    if taken.is_err() {
                        break;
                    }
                    if self.batch.is_empty() {
                        // Everything taken so far has been sent.
                        self.tickets.clear();
                    }
                    let took = started
                        .elapsed()
                        .saturating_sub(self.out.blocked() - blocked);
                    shared.record(n, took);
                    // Finished batches waiting for a fuller chunk go after a beat or two.
                    if beat.moved() {
                        beat.catch_up();
                        if self.out.on_beat().is_err() {
                            break;
                        }
                    }
                }
                Next::Timeout | Next::Empty => {
                    self.due = None;
                    if self.send().is_err() {
                        break;
                    }
                }
                Next::End => {
                    if self.send().is_ok() {
                        let _ = self.out.flush();
                    }
                    break;
                }
                Next::Stopped => break,
            }
        }
        // An open batch at a stop was received and never sent.
        stats.add_dropped(self.batch.len());
        drop_quietly(std::mem::take(&mut self.batch));
    }

    /// Moves `items` into batches, sending each full one.
    fn take(&mut self, items: &mut Vec<T>) -> Result<(), Stopped> {
        let mut rest = items.drain(..);
        while let Some(item) = rest.next() {
            if self.batch.is_empty() {
                self.due = crate::clock::after(self.max_wait);
                self.batch.reserve(self.size.min(4096));
            }
            self.batch.push(item);
            if self.batch.len() >= self.size {
                self.due = None;
                if let Err(stopped) = self.send() {
                    self.out.stats.add_dropped(rest.len());
                    drop_quietly(rest.collect::<Vec<T>>());
                    return Err(stopped);
                }
            }
        }
        // The input may never pause: honour the deadline between chunks too.
        if self.due.is_some_and(|at| crate::clock::now() >= at) {
            self.due = None;
            self.send()?;
        }
        Ok(())
    }

    /// Sends the open batch (if any) downstream; on a stop, counts its items as dropped.
    fn send(&mut self) -> Result<(), Stopped> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let full = std::mem::take(&mut self.batch);
        let n = full.len();
        for ticket in &self.tickets {
            self.out.attach(ticket.clone());
        }
        self.out.push(full).inspect_err(|_| {
            // The outbox counted one dropped batch; count its items instead.
            self.out.stats.add_dropped(n.saturating_sub(1));
        })
    }
}
