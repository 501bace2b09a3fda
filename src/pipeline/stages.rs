//! What each kind of fused stage does to its items.
//!
//! The stages that make at most one output per input (`map`, `filter`, `filter_map`,
//! `inspect`, `try_map` and their `_ctx` forms) share one loop, [`Each`]: it takes the items in
//! **blind blocks** paced by the [pulse](super::pulse) (one item after the pulse moved, doubling
//! while blocks end before it moves, up to [`BLIND_MAX`](super::pulse::BLIND_MAX)), and each
//! stage only says what it does to a block ([`Step`]). A block is a plain iterator adapter
//! (`extend(block.map(f))`), which the compiler turns into a tight loop with no check inside;
//! the pulse is looked at between blocks. `flat_map` expands one item into many and has a loop
//! of its own ([`FlatMapOp`]).

use std::iter::Take;
use std::sync::Arc;
use std::vec::Drain;

use super::chain::{Counts, Op, Ran};
use super::error::{ErrorPolicy, ErrorStore, Failure, FailureSlot, StageError};
use super::pulse::{BLIND_MAX, Beat, Pace};
use super::runtime::Runtime;
use crate::context::Context;
use crate::panic::drop_quietly;

/// One blind block: the next few items of the batch being processed.
pub(crate) type Block<'a, 'b, T> = Take<&'a mut Drain<'b, T>>;

/// What a stage that makes at most one output per input does to a block of items.
pub(crate) trait Step<T, U>: Send {
    /// Appends the outputs of `items` to `out`, counting errors in `errors`. Returns `false`
    /// if the stage failed the run (the rest of the block stays where it was).
    fn block(&mut self, items: Block<'_, '_, T>, out: &mut Vec<U>, errors: &mut u64) -> bool;
}

/// The loop of the stages that make at most one output per input: `step` on blind blocks,
/// paced by the pulse.
pub(crate) struct Each<S> {
    step: S,
    pace: Pace,
}

impl<S> Each<S> {
    pub(crate) fn new(step: S) -> Self {
        Each {
            step,
            pace: Pace::new(),
        }
    }
}

impl<T, U, S: Step<T, U>> Op<T, U> for Each<S> {
    #[inline]
    fn run(
        &mut self,
        items: &mut Vec<T>,
        out: &mut Vec<U>,
        _: usize,
        beat: &Beat,
        c: &mut Counts,
    ) -> Ran {
        let probe = beat.probe();
        let (before, made_before, errors_before) = (items.len(), out.len(), c.errors);
        out.reserve(items.len());
        let mut rest = items.drain(..);
        let mut ran = Ran::Done;
        'blocks: while rest.len() > 0 {
            if probe.moved() {
                self.pace.moved();
                ran = Ran::Paused;
                break;
            }
            if self.pace.block() == BLIND_MAX {
                // Blocks at their largest: a constant length, so the step's loop has a known
                // trip count, and the pace is not touched again.
                while rest.len() >= BLIND_MAX {
                    if !self
                        .step
                        .block(rest.by_ref().take(BLIND_MAX), out, &mut c.errors)
                    {
                        ran = Ran::Stopped;
                        break 'blocks;
                    }
                    if probe.moved() {
                        self.pace.moved();
                        ran = Ran::Paused;
                        break 'blocks;
                    }
                }
                if rest.len() == 0 {
                    break;
                }
            }
            let block = rest.by_ref().take(self.pace.block());
            if !self.step.block(block, out, &mut c.errors) {
                ran = Ran::Stopped;
                break;
            }
            self.pace.quiet();
        }
        if rest.len() > 0 {
            // The loop stopped early: keep the rest for the next call.
            let left: Vec<T> = rest.collect();
            *items = left;
        } else {
            drop(rest);
        }
        let taken = (before - items.len()) as u64;
        let made = (out.len() - made_before) as u64;
        let errors = c.errors - errors_before;
        c.items_in += taken;
        c.items_out += made;
        c.filtered += taken - made - errors;
        ran
    }
}

/// A stage's function, with or without the run's context, called the same way.
pub(crate) trait Call<T, R>: Send + Sync {
    fn call(&self, ctx: &Context, item: T) -> R;
}

/// A function of the item alone (`map`, `try_map`).
pub(crate) struct Plain<F>(pub(crate) F);
/// A function that also receives the run's context (`map_ctx`, `try_map_ctx`).
pub(crate) struct WithCtx<F>(pub(crate) F);

impl<T, R, F: Fn(T) -> R + Send + Sync> Call<T, R> for Plain<F> {
    #[inline(always)]
    fn call(&self, _: &Context, item: T) -> R {
        (self.0)(item)
    }
}

impl<T, R, F: Fn(&Context, T) -> R + Send + Sync> Call<T, R> for WithCtx<F> {
    #[inline(always)]
    fn call(&self, ctx: &Context, item: T) -> R {
        (self.0)(ctx, item)
    }
}

/// `map` and `map_ctx`.
pub(crate) struct Map<F> {
    pub(crate) f: Arc<F>,
    pub(crate) ctx: Context,
}

impl<T, U, F: Call<T, U>> Step<T, U> for Map<F> {
    #[inline]
    fn block(&mut self, items: Block<'_, '_, T>, out: &mut Vec<U>, _: &mut u64) -> bool {
        let (f, ctx) = (&*self.f, &self.ctx);
        out.extend(items.map(|item| f.call(ctx, item)));
        true
    }
}

/// `filter`.
pub(crate) struct Filter<F>(pub(crate) Arc<F>);

impl<T, F: Fn(&T) -> bool + Send + Sync> Step<T, T> for Filter<F> {
    #[inline]
    fn block(&mut self, items: Block<'_, '_, T>, out: &mut Vec<T>, _: &mut u64) -> bool {
        let f = &*self.0;
        out.extend(items.filter(|item| f(item)));
        true
    }
}

/// `filter_map`.
pub(crate) struct FilterMap<F>(pub(crate) Arc<F>);

impl<T, U, F: Fn(T) -> Option<U> + Send + Sync> Step<T, U> for FilterMap<F> {
    #[inline]
    fn block(&mut self, items: Block<'_, '_, T>, out: &mut Vec<U>, _: &mut u64) -> bool {
        out.extend(items.filter_map(&*self.0));
        true
    }
}

/// `inspect`.
pub(crate) struct Inspect<F>(pub(crate) Arc<F>);

impl<T, F: Fn(&T) + Send + Sync> Step<T, T> for Inspect<F> {
    #[inline]
    fn block(&mut self, items: Block<'_, '_, T>, out: &mut Vec<T>, _: &mut u64) -> bool {
        out.extend(items.inspect(&*self.0));
        true
    }
}

/// `try_map` and `try_map_ctx`, with the stage's error policy.
pub(crate) struct TryMap<F, E> {
    pub(crate) f: Arc<F>,
    pub(crate) ctx: Context,
    pub(crate) fail: Fail<E>,
}

impl<T, U, E: Send, F: Call<T, Result<U, E>>> Step<T, U> for TryMap<F, E> {
    #[inline]
    fn block(&mut self, items: Block<'_, '_, T>, out: &mut Vec<U>, errors: &mut u64) -> bool {
        for item in items {
            match self.f.call(&self.ctx, item) {
                Ok(value) => out.push(value),
                Err(error) => {
                    *errors += 1;
                    if !self.fail.failed(error) {
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// What a fallible stage does with an error: its policy, and where the error goes.
pub(crate) struct Fail<E> {
    ctx: Context,
    stage: String,
    policy: ErrorPolicy,
    store: Arc<ErrorStore<E>>,
    failure: Arc<FailureSlot>,
}

impl<E> Fail<E> {
    /// For stage `index` of the run, storing its errors in `store`.
    pub(crate) fn new(rt: &Runtime, index: usize, store: Arc<ErrorStore<E>>) -> Self {
        Fail {
            ctx: rt.ctx.clone(),
            stage: rt.plan.name(index),
            policy: rt.plan.stages[index].policy,
            store,
            failure: Arc::clone(&rt.failure),
        }
    }

    /// Records an error by the stage's policy; returns whether the stage may go on.
    #[cold]
    pub(crate) fn failed(&self, error: E) -> bool {
        let error = StageError {
            stage: self.stage.clone(),
            error,
        };
        match self.policy {
            ErrorPolicy::Skip => {
                drop(error);
                true
            }
            ErrorPolicy::Collect => {
                self.store.collected.lock().push(error);
                true
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
                self.ctx
                    .cancel_with(format!("stage '{}' failed", self.stage));
                // An error that lost the claim is dropped only now, in a cancelled run: a
                // value it carries (a queue entry's acknowledgement token) must not see a
                // healthy run when it is dropped.
                drop(lost);
                false
            }
        }
    }
}

/// `flat_map`: holds the iterator of the item it is expanding, so one item that expands into
/// a million never makes more than `want` items at a time.
pub(crate) struct FlatMapOp<F, I> {
    pub(crate) f: Arc<F>,
    pub(crate) current: Option<I>,
    /// Inputs taken and outputs made, to guess how many inputs make `want` outputs.
    pub(crate) taken: u64,
    pub(crate) made: u64,
}

impl<F, I> FlatMapOp<F, I> {
    pub(crate) fn new(f: Arc<F>) -> Self {
        FlatMapOp {
            f,
            current: None,
            taken: 0,
            made: 0,
        }
    }
}

impl<T, U, F, R> Op<T, U> for FlatMapOp<F, R::IntoIter>
where
    F: Fn(T) -> R + Send + Sync,
    R: IntoIterator<Item = U>,
    R::IntoIter: Send,
{
    fn run(
        &mut self,
        items: &mut Vec<T>,
        out: &mut Vec<U>,
        want: usize,
        beat: &Beat,
        c: &mut Counts,
    ) -> Ran {
        let room = out.len() + want;
        let made_before = out.len();
        let mut ran = Ran::Done;
        'expand: loop {
            if let Some(current) = &mut self.current {
                while out.len() < room {
                    match current.next() {
                        Some(item) => {
                            out.push(item);
                            if beat.moved() {
                                ran = Ran::Paused;
                                break 'expand;
                            }
                        }
                        None => break,
                    }
                }
                if out.len() >= room {
                    ran = Ran::Paused;
                    break;
                }
                self.current = None;
            }
            if items.is_empty() {
                break;
            }
            // One input at a time: the rest waits in `items` while this one expands.
            let item = items.remove(0);
            c.items_in += 1;
            self.taken += 1;
            self.current = Some((self.f)(item).into_iter());
            if beat.moved() {
                ran = Ran::Paused;
                break;
            }
        }
        let made = (out.len() - made_before) as u64;
        self.made += made;
        c.items_out += made;
        ran
    }

    fn holds(&self) -> bool {
        self.current.is_some()
    }

    fn inputs_for(&self, want: usize) -> usize {
        // Ask for about as many inputs as make `want` outputs at the ratio seen so far (and
        // few at first): inputs left over would only wait here.
        let ratio = (self.made / self.taken.max(1)).max(1);
        (want as u64 / ratio).clamp(1, 64) as usize
    }

    fn abandon(&mut self) -> usize {
        if let Some(current) = self.current.take() {
            drop_quietly(current);
        }
        0
    }
}
