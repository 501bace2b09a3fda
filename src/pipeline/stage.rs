//! The worker loop every item stage shares, and the per-chunk step of each stage kind.

use std::sync::Arc;

use crossbeam_channel::bounded;

use super::chunk::{CHUNK, LINK_CAPACITY, Mode, Next, Outbox, Stopped};
use super::error::{ErrorPolicy, ErrorStore, Failure, FailureSlot, StageError};
use super::ordered::{Inbox, Reorder, window};
use super::runtime::{Link, Runtime};

/// What a stage does with one input chunk.
pub(crate) trait Step<T, U>: Send + Sync + 'static {
    /// Processes `items` (chunk number `seq`), pushing results into `out`.
    fn chunk(&self, out: &mut Outbox<U>, seq: u64, items: Vec<T>) -> Result<(), Stopped>;
}

/// Each worker's input and output end.
pub(crate) type Ends<T, U> = Vec<(Inbox<T>, Outbox<U>)>;

/// The input and output ends for one stage at position `index`, as its kind and the pipeline's
/// ordering demand: unordered stages coalesce; in ordered pipelines a stage with one worker
/// is a sequence point (reorders its input, numbers its output) and a parallel stage passes
/// chunk numbers through.
pub(crate) fn ends<T: Send + 'static, U: Send + 'static>(
    rt: &mut Runtime,
    index: usize,
    input: Link<T>,
    limit: usize,
) -> (Ends<T, U>, Link<U>) {
    let workers = rt.workers(index);
    let stats = Arc::clone(&rt.stats[index]);
    let (tx, rx) = bounded(LINK_CAPACITY);
    rt.add_drain(index + 1, rx.clone());
    let outbox = |mode| Outbox::new(tx.clone(), rt.ctx.clone(), Arc::clone(&stats), mode, limit);
    match input.credits {
        Some(credits) if workers == 1 => {
            let (give, take) = window(rt.window_after(index));
            let inbox = Inbox::Ordered(Reorder::new(input.rx, credits, Arc::clone(&stats)));
            let mode = Mode::Sequence {
                next: 0,
                credits: take,
            };
            let link = Link {
                rx,
                credits: Some(give),
            };
            (vec![(inbox, outbox(mode))], link)
        }
        credits => {
            let mode = || match credits {
                Some(_) => Mode::Passthrough,
                None => Mode::Coalesce,
            };
            let ends = (0..workers)
                .map(|_| (Inbox::Plain(input.rx.clone()), outbox(mode())))
                .collect();
            (ends, Link { rx, credits })
        }
    }
}

/// Starts the workers of an item stage.
pub(crate) fn spawn<T: Send + 'static, U: Send + 'static, P: Step<T, U>>(
    rt: &mut Runtime,
    index: usize,
    input: Link<T>,
    step: P,
) -> Link<U> {
    let (ends, link) = ends(rt, index, input, CHUNK);
    let step = Arc::new(step);
    for (inbox, outbox) in ends {
        let step = Arc::clone(&step);
        rt.spawn(index, move || work(&*step, inbox, outbox));
    }
    link
}

/// The worker loop: take a chunk (flushing first if none is ready), process it, repeat until
/// the input ends or the run stops.
fn work<T, U, P: Step<T, U>>(step: &P, mut inbox: Inbox<T>, mut out: Outbox<U>) {
    let (ctx, stats) = (out.ctx.clone(), Arc::clone(&out.stats));
    loop {
        match inbox.next(&ctx, &stats, None, &mut || out.flush()) {
            Next::Chunk(chunk) => {
                stats.add_in(chunk.items.len());
                if step.chunk(&mut out, chunk.seq, chunk.items).is_err() {
                    return;
                }
            }
            Next::End => {
                let _ = out.flush();
                return;
            }
            Next::Stopped | Next::Timeout => return,
        }
    }
}

/// Runs `each` on every item, checking for cancellation between items; on a stop, counts
/// the items not reached as dropped.
fn per_item<T, U>(
    out: &mut Outbox<U>,
    seq: u64,
    items: Vec<T>,
    mut each: impl FnMut(T, &mut Outbox<U>) -> Result<(), Stopped>,
) -> Result<(), Stopped> {
    let started = out.start_chunk();
    let mut rest = items.into_iter();
    while let Some(item) = rest.next() {
        if out.ctx.is_cancelled() {
            out.stats.add_dropped(1 + rest.len());
            return Err(Stopped);
        }
        if let Err(stopped) = each(item, out) {
            out.stats.add_dropped(rest.len());
            return Err(stopped);
        }
    }
    out.chunk_took(started);
    out.end_chunk(seq)
}

/// `map`.
pub(crate) struct Map<F>(pub(crate) F);

impl<T, U, F> Step<T, U> for Map<F>
where
    F: Fn(T) -> U + Send + Sync + 'static,
{
    fn chunk(&self, out: &mut Outbox<U>, seq: u64, items: Vec<T>) -> Result<(), Stopped> {
        if out.fast() {
            let started = out.start_chunk();
            let mapped: Vec<U> = items.into_iter().map(&self.0).collect();
            out.chunk_took(started);
            return out.emit(seq, mapped);
        }
        per_item(out, seq, items, |item, out| out.push((self.0)(item)))
    }
}

/// `filter`.
pub(crate) struct Filter<F>(pub(crate) F);

impl<T, F> Step<T, T> for Filter<F>
where
    F: Fn(&T) -> bool + Send + Sync + 'static,
{
    fn chunk(&self, out: &mut Outbox<T>, seq: u64, items: Vec<T>) -> Result<(), Stopped> {
        let n = items.len();
        if out.fast() {
            let started = out.start_chunk();
            let kept: Vec<T> = items.into_iter().filter(|x| (self.0)(x)).collect();
            out.chunk_took(started);
            out.stats.add_filtered(n - kept.len());
            return out.emit(seq, kept);
        }
        per_item(out, seq, items, |item, out| {
            if (self.0)(&item) {
                out.push(item)
            } else {
                out.stats.add_filtered(1);
                Ok(())
            }
        })
    }
}

/// `flat_map`.
pub(crate) struct FlatMap<F>(pub(crate) F);

impl<T, U, I, F> Step<T, U> for FlatMap<F>
where
    F: Fn(T) -> I + Send + Sync + 'static,
    I: IntoIterator<Item = U>,
{
    fn chunk(&self, out: &mut Outbox<U>, seq: u64, items: Vec<T>) -> Result<(), Stopped> {
        per_item(out, seq, items, |item, out| {
            for produced in (self.0)(item) {
                out.push(produced)?;
            }
            Ok(())
        })
    }
}

/// `inspect`.
pub(crate) struct Inspect<F>(pub(crate) F);

impl<T, F> Step<T, T> for Inspect<F>
where
    F: Fn(&T) + Send + Sync + 'static,
{
    fn chunk(&self, out: &mut Outbox<T>, seq: u64, items: Vec<T>) -> Result<(), Stopped> {
        if out.fast() {
            let started = out.start_chunk();
            items.iter().for_each(&self.0);
            out.chunk_took(started);
            return out.emit(seq, items);
        }
        per_item(out, seq, items, |item, out| {
            (self.0)(&item);
            out.push(item)
        })
    }
}

/// `try_map`, with its error policy.
pub(crate) struct TryMap<F, E> {
    pub(crate) f: F,
    pub(crate) stage: String,
    pub(crate) policy: ErrorPolicy,
    pub(crate) store: Arc<ErrorStore<E>>,
    pub(crate) failure: Arc<FailureSlot>,
}

impl<T, U, E, F> Step<T, U> for TryMap<F, E>
where
    F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    E: Send + 'static,
{
    fn chunk(&self, out: &mut Outbox<U>, seq: u64, items: Vec<T>) -> Result<(), Stopped> {
        per_item(out, seq, items, |item, out| match (self.f)(item) {
            Ok(value) => out.push(value),
            Err(error) => {
                out.stats.add_errors(1);
                let error = StageError {
                    stage: self.stage.clone(),
                    error,
                };
                match self.policy {
                    ErrorPolicy::Skip => Ok(()),
                    ErrorPolicy::Collect => {
                        self.store.collected.lock().push(error);
                        Ok(())
                    }
                    ErrorPolicy::FailFast => {
                        // Store the error before cancelling: the consumer reads it after the
                        // cancellation has stopped everything.
                        let lost = if self.failure.claim(Failure::Error) {
                            *self.store.first.lock() = Some(error);
                            None
                        } else {
                            Some(error)
                        };
                        out.ctx
                            .cancel_with(format!("stage '{}' failed", self.stage));
                        // An error that lost the claim is dropped only now, in a cancelled
                        // run: a value it carries (a queue entry's acknowledgement token)
                        // must not see a healthy run when it is dropped.
                        drop(lost);
                        Err(Stopped)
                    }
                }
            }
        })
    }
}
