//! The source threads: one thread that pulls from your iterator or receiver and chunks the
//! items. (The file source that splits its work across workers is in `lines.rs`.)

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError};

use super::group::Tail;
use super::link::Stopped;
use super::link::{self, Link, Order};
use super::outbox::{Mode, Outbox};
use super::pulse::{BLIND_MAX, Beat, Pace};
use super::runtime::{Runtime, SourceFlags};
use super::ticket::Ticket;
use crate::context::Context;

/// How the only sender of a link numbers its chunks.
pub(crate) fn order_and_mode(rt: &Runtime) -> (Order, Mode) {
    if rt.ordered() {
        (Order::Numbered, Mode::Numbered { next: 0 })
    } else {
        (Order::None, Mode::Coalesce)
    }
}

/// The outbox of a single-threaded source (stage 0) and the link it feeds.
pub(crate) fn outbox<T: Send + 'static>(rt: &mut Runtime) -> (Outbox<T>, Link<T>) {
    let capacity = rt.plan.capacity_after(0);
    let (order, mode) = order_and_mode(rt);
    let (sending, link) = link::link(capacity, order);
    let out = Outbox::new(
        &sending,
        Arc::clone(&link.shared),
        rt.ctx.clone(),
        Arc::clone(&rt.stats[0]),
        mode,
        capacity.chunk,
    );
    (out, link)
}

/// Marks the source complete once everything it read has been sent.
pub(crate) fn complete<T>(out: &mut Outbox<T>, flags: &SourceFlags, intake_stopped: bool) {
    if out.flush().is_ok() {
        flags
            .intake_stopped
            .store(intake_stopped, Ordering::Release);
        flags.complete.store(true, Ordering::Release);
    }
}

/// How a source loop ended.
enum End {
    /// The input ended (false) or the intake was stopped (true).
    Complete(bool),
    Stopped,
}

/// Looks up after the pulse moved (and notes it): the run cancelled, the intake stopped, a
/// chunk due.
fn look_up<T>(
    beat: &mut Beat,
    out: &mut Outbox<T>,
    ctx: &Context,
    stop: Option<&Context>,
) -> Option<End> {
    beat.catch_up();
    if ctx.is_cancelled() {
        return Some(End::Stopped);
    }
    if stop.is_some_and(Context::is_cancelled) {
        return Some(End::Complete(true));
    }
    out.on_beat().err().map(|_| End::Stopped)
}

/// Ends a source thread: counts what it read, and marks the source complete unless the run
/// stopped it.
fn finish<T>(out: &mut Outbox<T>, flags: &SourceFlags, read: u64, end: End) {
    out.stats.add_in_u64(read);
    if let End::Complete(intake_stopped) = end {
        complete(out, flags, intake_stopped);
    }
}

/// Starts the thread that drains `iter`.
pub(crate) fn from_iter<I>(rt: &mut Runtime, iter: I) -> Tail<I::Item>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    let (mut out, link) = outbox(rt);
    let (ctx, stop, flags) = (rt.ctx.clone(), rt.plan.stop.clone(), Arc::clone(&rt.source));
    rt.spawn(0, move || {
        if ctx.is_cancelled() {
            return;
        }
        if stop.as_ref().is_some_and(Context::is_cancelled) {
            complete(&mut out, &flags, true);
            return;
        }
        let mut iter = iter;
        let mut beat = Beat::new();
        let mut read = 0u64;
        let mut pace = Pace::new();
        let end = loop {
            // Fill the chunk in blind blocks (see `Pace`), looking at the pulse between them:
            // cancellation, the intake stop and the flush by time are noticed when it moves.
            let room = out.room();
            let was_empty = out.buf.is_empty();
            let mut chunk = std::mem::take(&mut out.buf);
            let (before, full) = (chunk.len(), chunk.len() + room);
            chunk.reserve(room);
            let probe = beat.probe();
            let (mut ended, mut moved) = (false, false);
            'fill: while chunk.len() < full {
                if pace.block() == BLIND_MAX {
                    // Blocks at their largest: a constant length, and the pace left alone.
                    while full - chunk.len() >= BLIND_MAX {
                        let had = chunk.len();
                        chunk.extend(iter.by_ref().take(BLIND_MAX));
                        if chunk.len() - had < BLIND_MAX {
                            ended = true;
                            break 'fill;
                        }
                        if probe.moved() {
                            pace.moved();
                            moved = true;
                            break 'fill;
                        }
                    }
                    if chunk.len() == full {
                        break;
                    }
                }
                let block = pace.block().min(full - chunk.len());
                let had = chunk.len();
                chunk.extend(iter.by_ref().take(block));
                if chunk.len() - had < block {
                    ended = true;
                    break;
                }
                if probe.moved() {
                    pace.moved();
                    moved = true;
                    break;
                }
                pace.quiet();
            }
            read += (chunk.len() - before) as u64;
            out.buf = chunk;
            out.appended(was_empty);
            if out.full() && out.flush().is_err() {
                break End::Stopped;
            }
            if ended {
                break End::Complete(false);
            }
            if moved && let Some(end) = look_up(&mut beat, &mut out, &ctx, stop.as_ref()) {
                break end;
            }
        };
        finish(&mut out, &flags, read, end);
    });
    Tail::Link(link)
}

/// Starts the thread that drains `rx` until it disconnects.
pub(crate) fn from_receiver<T: Send + 'static>(rt: &mut Runtime, rx: Receiver<T>) -> Tail<T> {
    let (mut out, link) = outbox(rt);
    let (ctx, stop, flags) = (rt.ctx.clone(), rt.plan.stop.clone(), Arc::clone(&rt.source));
    rt.spawn(0, move || {
        let never = crossbeam_channel::never();
        let stop_done = stop.as_ref().map_or(&never, Context::done);
        let mut beat = Beat::new();
        let mut read = 0u64;
        let end = loop {
            if ctx.is_cancelled() {
                break End::Stopped;
            }
            if stop.as_ref().is_some_and(Context::is_cancelled) {
                break End::Complete(true);
            }
            let item = match rx.try_recv() {
                Ok(item) => item,
                Err(TryRecvError::Disconnected) => break End::Complete(false),
                Err(TryRecvError::Empty) => {
                    // Nothing to read: never sit on items while waiting.
                    if out.before_wait().is_err() {
                        break End::Stopped;
                    }
                    let waited = Instant::now();
                    // `None`: the context or the intake stop fired; the loop head sorts it out.
                    // Through homebound's clock: a waiting source counts as blocked in a
                    // virtual-time test.
                    let mut sel = crossbeam_channel::Select::new();
                    let msg = sel.recv(&rx);
                    let (done, stopped) = (sel.recv(ctx.done()), sel.recv(stop_done));
                    let item = match crate::clock::select(&mut sel, None) {
                        Some(op) if op.index() == msg => Some(op.recv(&rx).ok()),
                        Some(op) if op.index() == done => op.recv(ctx.done()).ok().and(None),
                        Some(op) => {
                            debug_assert_eq!(op.index(), stopped);
                            op.recv(stop_done).ok().and(None)
                        }
                        None => None,
                    };
                    out.stats.add_recv_wait(waited.elapsed());
                    match item {
                        Some(Some(item)) => item,
                        Some(None) => break End::Complete(false),
                        None => continue,
                    }
                }
            };
            read += 1;
            if out.push(item).is_err() {
                break End::Stopped;
            }
            if beat.moved()
                && let Some(end) = look_up(&mut beat, &mut out, &ctx, stop.as_ref())
            {
                break end;
            }
        };
        finish(&mut out, &flags, read, end);
    });
    Tail::Link(link)
}

/// What a source written inside homebound (such as a Redis stream's) uses to send items on:
/// the seam for sources that must learn when their items have been fully handled (see
/// [`super::ticket`]).
#[allow(dead_code)] // the seam for sources that acknowledge
pub(crate) struct Emitter<'a, T> {
    out: &'a mut Outbox<T>,
    ctx: Context,
    stop: Option<Context>,
    beat: Beat,
    read: u64,
}

#[allow(dead_code)] // the seam for sources that acknowledge
impl<T> Emitter<'_, T> {
    /// Sends `item` on, covered by `ticket` if any. `Err` when the run has stopped or the
    /// intake was stopped ([`intake_stopped`](Emitter::intake_stopped)): return then.
    pub(crate) fn emit(&mut self, item: T, ticket: Option<Ticket>) -> Result<(), Stopped> {
        if let Some(ticket) = ticket {
            self.out.attach(ticket);
        }
        self.read += 1;
        self.out.push(item)?;
        if self.beat.moved()
            && look_up(&mut self.beat, self.out, &self.ctx, self.stop.as_ref()).is_some()
        {
            return Err(Stopped);
        }
        Ok(())
    }

    /// Sends what is buffered: call it before waiting for the outside world.
    pub(crate) fn idle(&mut self) -> Result<(), Stopped> {
        self.out.before_wait()
    }

    /// The run's context: cancelled when the run stops (select on its `done()` while waiting).
    pub(crate) fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// Whether the graceful stop (`stop_intake_on`) was asked for: read nothing more.
    pub(crate) fn intake_stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(Context::is_cancelled)
    }
}

/// Starts a source thread that runs `body` with an [`Emitter`]. The source is complete when
/// `body` returns, unless the run was cancelled.
#[allow(dead_code)] // the seam for sources that acknowledge
pub(crate) fn from_emitter<T: Send + 'static>(
    rt: &mut Runtime,
    body: impl FnOnce(&mut Emitter<'_, T>) + Send + 'static,
) -> Tail<T> {
    let (mut out, link) = outbox(rt);
    let (ctx, stop, flags) = (rt.ctx.clone(), rt.plan.stop.clone(), Arc::clone(&rt.source));
    rt.spawn(0, move || {
        let mut emitter = Emitter {
            out: &mut out,
            ctx: ctx.clone(),
            stop,
            beat: Beat::new(),
            read: 0,
        };
        body(&mut emitter);
        let (read, intake_stopped) = (emitter.read, emitter.intake_stopped());
        out.stats.add_in_u64(read);
        if !ctx.is_cancelled() {
            complete(&mut out, &flags, intake_stopped);
        }
    });
    Tail::Link(link)
}
