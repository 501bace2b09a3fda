//! Pipelines: [`Pipeline`], typed stages on worker threads joined by bounded chunked channels,
//! with an error policy, cancellation and a per-stage [`Report`].
//!
//! **Use it** for a stream of items (the lines of a file, a receiver, a long iterator) that goes
//! through steps of different cost, some of which block (parse, enrich by a lookup, write in
//! batches), when memory must stay flat however long the input is and you want to know which
//! stage is the bottleneck. **Use something else** for one CPU map over a collection already in
//! memory ([`fan::par_map`](crate::fan::par_map) or rayon), for items that each go to one of `n`
//! identical workers with no stages ([`fan::fan_out`](crate::fan::fan_out)), and when the work per
//! item is around a hundred nanoseconds on a machine with few cores: then one plain loop is
//! faster than any hand-off between threads.
//!
//! # Guarantees
//!
//! * **Nothing lost silently.** Every item read is delivered, filtered, failed (counted, and kept
//!   with [`ErrorPolicy::Collect`]) or, when a run stops early, counted as dropped in the
//!   [`Report`]. `batch` flushes its remainder.
//! * **Bounded memory.** Stages are joined by bounded channels, so a slow stage slows the ones
//!   before it; ordered mode reorders in a bounded window.
//! * **Stops cleanly.** Cancelling the context, a fail-fast error, a panic in any stage (caught,
//!   named with its stage and thread) or dropping the output iterator cancels every stage, wakes
//!   the blocked ones and joins every thread before the terminal returns.
//! * **Two ways to stop**: cancel (abrupt: what is in flight is dropped and counted), or
//!   [`stop_intake_on`](Pipeline::stop_intake_on) (graceful: stop reading, let everything already
//!   read reach the end, flush open batches).
//! * **Bad configuration** (zero workers, an empty name, ...) comes back from the terminal as
//!   [`ErrorKind::Config`], with nothing started.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use homebound::{Context, pipeline::{ErrorPolicy, Pipeline}, threads};
//!
//! let mut total = 0;
//! let outcome = Pipeline::from_iter(&Context::new(), ["12", "x", "30", "", "7"])
//!     .try_map(2, |s: &str| s.parse::<u64>())
//!     .named("parse")
//!     .on_error(ErrorPolicy::Skip)
//!     .filter(1, |n| *n > 10)
//!     .for_each(|n| total += n)
//!     .unwrap();
//! assert_eq!(total, 42);
//! let parse = outcome.report().stage("parse").unwrap();
//! assert_eq!((parse.items_in, parse.items_out, parse.errors), (5, 3, 2));
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! # Design
//!
//! * **Lazy start.** Builder methods record a plan; threads start at the terminal. So `named`
//!   and `on_error` can follow the stage they configure, and a bad configuration costs nothing.
//! * **Typed errors without boxing.** The second type parameter is [`marker::NoErrors`] until the
//!   first `try_map` fixes the error type ([`marker::Fallible`]); a later `try_map` with another
//!   error type does not compile.
//! * **Chunked links.** Items travel in chunks of up to 512, sent when full, before the sending
//!   worker would block on its own input (never hold items while the consumer starves), or 2 ms
//!   after the chunk's first item. The clock and the context are looked at only on the 1st, 2nd,
//!   8th, 32nd and 128th item of a chunk, so the hot loop does one comparison per item. A link
//!   holds 8 chunks.
//! * **Spin, then park.** A worker spins briefly before it sleeps on an empty or full link: on a
//!   small machine, a sleep and a wake-up per chunk cost more than the chunk's work.
//! * **Ordered mode** cuts the pipeline at sequence points (the source, every one-worker stage,
//!   the sink). A segment numbers its chunks, takes a credit per chunk from a bounded credit
//!   channel and reorders at its end: memory is bounded by the window and the reorderer always
//!   has room for what is in flight, so it cannot deadlock. A chunk travels whole, so a slow
//!   stage delays output by up to one chunk.
//! * **Stages run on their own threads**, not as pool tasks: a stage worker blocks on its links
//!   for the whole run, and its own thread gives the report and the leak check the stage's name.
//! * **The graceful stop exists** because a plain cancel also stops the consumer that would
//!   write the flushed batches.
//! * **Report times are wall-clock**: with more runnable threads than cores they include waiting
//!   for a core. `from_iter` cannot interrupt an iterator blocked inside `next()`; use
//!   `from_receiver` for sources that wait.

mod batch;
mod chunk;
mod error;
mod iter;
mod ordered;
#[cfg(feature = "progress")]
mod progress;
mod report;
mod runtime;
mod source;
mod stage;

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

pub use self::error::{Error, ErrorKind, ErrorPolicy, Outcome, StageError};

/// The type-state markers of [`Pipeline`]'s second parameter: whether a pipeline can carry
/// stage errors yet ([`NoErrors`]) or already does ([`Fallible`](marker::Fallible)). You name them only when you
/// write a function that takes or returns a pipeline generically.
pub mod marker {
    pub use super::error::{Accepts, ErrorMode, Fallible, NoErrors};
}
pub use self::iter::Iter;
use self::marker::{Accepts, ErrorMode, NoErrors};
pub use self::report::{Report, StageReport};

use self::error::ErrorStore;
use self::ordered::{Inbox, Reorder};
use self::runtime::{Link, Plan, Runtime, StageMeta};
use crate::context::Context;

/// How a pipeline builds its stages when the run starts.
type Build<T> = Box<dyn FnOnce(&mut Runtime) -> Link<T> + Send>;

/// A typed multi-stage pipeline: a source, stages that each run on their own worker threads,
/// and a consumer, joined by bounded channels.
///
/// ```text
/// source ──▶ map(4) ──▶ filter(2) ──▶ batch(1000, 200ms) ──▶ for_each (your thread)
/// ```
///
/// * **Typed stages**: [`map`](Pipeline::map), [`filter`](Pipeline::filter),
///   [`flat_map`](Pipeline::flat_map), [`try_map`](Pipeline::try_map) (with an
///   [`ErrorPolicy`]), [`inspect`](Pipeline::inspect), [`batch`](Pipeline::batch). Each takes
///   its number of worker threads; name it with [`named`](Pipeline::named).
/// * **Bounded memory, backpressure**: stages are joined by bounded channels, so a slow stage
///   slows down the ones before it instead of letting work pile up.
/// * **Fast**: items travel between stages in chunks of up to 512 (sent early when the sender
///   would otherwise wait, or after 2 ms), so a trivial stage costs nanoseconds per item, not
///   a channel operation and a thread wake-up.
/// * **Ordered on request**: [`ordered`](Pipeline::ordered) delivers items in source order
///   with a bounded reorder window; unordered is the default.
/// * **Stops cleanly**: cancelling the context, a failing stage, a panic, or dropping the
///   output iterator cancels every stage, wakes every blocked one and joins every thread.
/// * **Reports**: the run returns a [`Report`] with per-stage counts, busy and blocked
///   times, and [`bottleneck`](Report::bottleneck).
///
/// Nothing starts until a terminal is called: [`for_each`](Pipeline::for_each),
/// [`collect`](Pipeline::collect) or [`into_iter`](IntoIterator::into_iter). The pipeline runs
/// under a child of the context you give the source.
///
/// # Bad input
///
/// Zero workers, a zero batch size, a zero `max_wait`, an empty name, or `on_error` after a
/// stage that is not `try_map` are recorded by the builder; the terminal then returns
/// [`ErrorKind::Config`] naming the stage, and nothing is started.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let (words, outcome) = Pipeline::from_iter(&ctx, ["a b", "c", "", "d e f"])
///     .flat_map(2, |line: &str| line.split_whitespace().map(str::to_uppercase).collect::<Vec<_>>())
///     .named("split")
///     .filter(1, |w| w != "C")
///     .ordered()
///     .collect()
///     .unwrap();
/// assert_eq!(words, ["A", "B", "D", "E", "F"]);
/// assert_eq!(outcome.report().stage("split").unwrap().items_out, 6);
/// homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "a pipeline does nothing until a terminal (for_each, collect, into_iter) runs it"]
pub struct Pipeline<T, S: ErrorMode = NoErrors> {
    ctx: Context,
    plan: Plan,
    build: Build<T>,
    store: Arc<ErrorStore<S::Error>>,
}

impl<T: Send + 'static> Pipeline<T, NoErrors> {
    /// A pipeline whose source thread drains `items`. The pipeline runs under a child of `ctx`.
    ///
    /// A panic in the iterator is caught and reported as the source stage's panic.
    pub fn from_iter<I>(ctx: &Context, items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        let iter = items.into_iter();
        let total = match iter.size_hint() {
            (low, Some(high)) if low == high => Some(low as u64),
            _ => None,
        };
        let mut pipeline = Self::source(ctx, move |rt| source::from_iter(rt, iter));
        pipeline.plan.total = total;
        pipeline
    }

    /// A pipeline whose source thread receives from `rx` until every sender is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let (tx, rx) = crossbeam_channel::bounded(16);
    /// let feeder = homebound::threads::spawn("feeder", move || {
    ///     for i in 0..100u32 { tx.send(i).unwrap(); }
    /// }).unwrap();
    /// let (out, _) = Pipeline::from_receiver(&ctx, rx).map(2, |x| x * 2).collect().unwrap();
    /// assert_eq!(out.iter().sum::<u32>(), 9900);
    /// feeder.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn from_receiver(ctx: &Context, rx: Receiver<T>) -> Self {
        Self::source(ctx, move |rt| source::from_receiver(rt, rx))
    }

    /// Crate-internal hook for external-queue sources (`crate::redis`): like
    /// [`from_receiver`](Pipeline::from_receiver), with the receiver made when the run starts,
    /// from the run's own context and its intake stop ([`stop_intake_on`](Pipeline::stop_intake_on)),
    /// so that the source can tell a cancelled or failed run from a healthy one.
    #[cfg(feature = "redis")]
    pub(crate) fn from_receiver_with<M>(ctx: &Context, make: M) -> Self
    where
        M: FnOnce(&Context, Option<&Context>) -> Receiver<T> + Send + 'static,
    {
        Self::source(ctx, move |rt| {
            let rx = make(&rt.ctx, rt.plan.stop.as_ref());
            source::from_receiver(rt, rx)
        })
    }

    fn source(ctx: &Context, build: impl FnOnce(&mut Runtime) -> Link<T> + Send + 'static) -> Self {
        let mut plan = Plan::default();
        plan.stages.push(StageMeta {
            kind: "source",
            name: None,
            workers: 1,
            policy: ErrorPolicy::FailFast,
        });
        Pipeline {
            ctx: ctx.child(),
            plan,
            build: Box::new(build),
            store: Arc::default(),
        }
    }
}

impl<T: Send + 'static, S: ErrorMode> Pipeline<T, S> {
    /// Adds a stage: records it in the plan and chains its builder after the current one.
    fn then<U, S2>(
        self,
        kind: &'static str,
        workers: usize,
        store: Arc<ErrorStore<S2::Error>>,
        make: impl FnOnce(&mut Runtime, usize, Link<T>) -> Link<U> + Send + 'static,
    ) -> Pipeline<U, S2>
    where
        U: Send + 'static,
        S2: ErrorMode,
    {
        let mut plan = self.plan;
        let index = plan.stages.len();
        plan.stages.push(StageMeta {
            kind,
            name: None,
            workers,
            policy: ErrorPolicy::FailFast,
        });
        if workers == 0 {
            plan.invalid(format!(
                "stage '{}': workers must be at least 1",
                plan.name(index)
            ));
        }
        let prev = self.build;
        Pipeline {
            ctx: self.ctx,
            plan,
            build: Box::new(move |rt| {
                let input = prev(rt);
                make(rt, index, input)
            }),
            store,
        }
    }

    /// Applies `f` to every item on `workers` threads.
    pub fn map<U, F>(self, workers: usize, f: F) -> Pipeline<U, S>
    where
        U: Send + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        self.then("map", workers, store, move |rt, i, input| {
            stage::spawn(rt, i, input, stage::Map(f))
        })
    }

    /// Keeps the items for which `pred` returns `true`, on `workers` threads.
    pub fn filter<F>(self, workers: usize, pred: F) -> Pipeline<T, S>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        self.then("filter", workers, store, move |rt, i, input| {
            stage::spawn(rt, i, input, stage::Filter(pred))
        })
    }

    /// Replaces every item with the items `f` returns for it, on `workers` threads.
    pub fn flat_map<U, I, F>(self, workers: usize, f: F) -> Pipeline<U, S>
    where
        U: Send + 'static,
        I: IntoIterator<Item = U>,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        self.then("flat_map", workers, store, move |rt, i, input| {
            stage::spawn(rt, i, input, stage::FlatMap(f))
        })
    }

    /// Calls `f` on every item as it passes, on one thread (in source order when the pipeline
    /// is [`ordered`](Pipeline::ordered)).
    pub fn inspect<F>(self, f: F) -> Pipeline<T, S>
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        self.then("inspect", 1, store, move |rt, i, input| {
            stage::spawn(rt, i, input, stage::Inspect(f))
        })
    }

    /// Applies a fallible `f` on `workers` threads. By default the first `Err` cancels the run,
    /// which returns it with the stage's name ([`ErrorPolicy::FailFast`]); choose another
    /// policy with [`on_error`](Pipeline::on_error). All `try_map` stages of one pipeline
    /// return the same error type.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::ErrorPolicy, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let (sum, outcome) = Pipeline::from_iter(&ctx, ["1", "2", "oops", "4"])
    ///     .try_map(2, |s| s.parse::<u32>())
    ///     .on_error(ErrorPolicy::Skip)
    ///     .collect()
    ///     .map(|(v, o)| (v.iter().sum::<u32>(), o))
    ///     .unwrap();
    /// assert_eq!(sum, 7);
    /// assert_eq!(outcome.report().stage("try_map-1").unwrap().errors, 1);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_map<U, E, F>(self, workers: usize, f: F) -> Pipeline<U, S::Next>
    where
        S: Accepts<E>,
        U: Send + 'static,
        E: Send + 'static,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let store: Arc<ErrorStore<E>> = carry(self.store.clone());
        let stage_store = Arc::clone(&store);
        self.then("try_map", workers, store, move |rt, i, input| {
            let step = stage::TryMap {
                f,
                stage: rt.plan.name(i),
                policy: rt.plan.stages[i].policy,
                store: stage_store,
                failure: Arc::clone(&rt.failure),
            };
            stage::spawn(rt, i, input, step)
        })
    }

    /// Groups items into `Vec`s of `size`, sending a smaller one when `max_wait` has passed
    /// since its first item, and the remainder at the end. Runs on one thread.
    ///
    /// If the run is cancelled, the open batch is counted as dropped in the report. For a
    /// graceful stop that flushes every open batch, use [`stop_intake_on`](Pipeline::stop_intake_on).
    /// In the report, the batch stage's `items_out` (and everything after it) counts batches.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let (batches, _) = Pipeline::from_iter(&ctx, 0..10)
    ///     .batch(4, Duration::from_secs(60))
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(batches, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn batch(self, size: usize, max_wait: Duration) -> Pipeline<Vec<T>, S> {
        let store = Arc::clone(&self.store);
        let mut next = self.then("batch", 1, store, move |rt, i, input| {
            batch::spawn(rt, i, input, size, max_wait)
        });
        let name = next.plan.name(next.plan.stages.len() - 1);
        if size == 0 {
            next.plan
                .invalid(format!("stage '{name}': batch size must be at least 1"));
        }
        if max_wait.is_zero() {
            next.plan.invalid(format!(
                "stage '{name}': max_wait must be greater than zero"
            ));
        }
        next
    }

    /// Names the last stage added (or the source): the name appears in thread names, errors
    /// and the report.
    pub fn named(mut self, name: &str) -> Self {
        if name.is_empty() {
            self.plan
                .invalid("a stage name must not be empty".to_string());
        } else if let Some(last) = self.plan.stages.last_mut() {
            last.name = Some(name.to_string());
        }
        self
    }

    /// Sets the error policy of the last stage, which must be a [`try_map`](Pipeline::try_map).
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        let index = self.plan.stages.len() - 1;
        if self.plan.stages[index].kind == "try_map" {
            self.plan.stages[index].policy = policy;
        } else {
            let name = self.plan.name(index);
            self.plan.invalid(format!(
                "stage '{name}': on_error must follow a try_map stage"
            ));
        }
        self
    }

    /// Delivers the output in source order, whatever the stages' parallelism (applies to the
    /// whole pipeline). Stages with one worker (and `inspect`, `batch`) also see their input in
    /// source order. Memory stays bounded: a reorder window of a few dozen chunks per segment.
    pub fn ordered(mut self) -> Self {
        self.plan.ordered = true;
        self
    }

    /// A graceful stop: when `stop` is cancelled, the source stops taking input and everything
    /// already read flows to the end (open batches included). The run then ends normally and
    /// its report says [`intake_stopped`](Report::intake_stopped). Cancelling the
    /// pipeline's own context (the one given to the source) is the abrupt stop.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (ctx, stop) = (Context::new(), Context::new());
    /// stop.cancel(); // e.g. on Ctrl-C
    /// let (out, outcome) = Pipeline::from_iter(&ctx, 0..u64::MAX)
    ///     .stop_intake_on(&stop)
    ///     .collect()
    ///     .unwrap();
    /// assert!(out.is_empty());
    /// assert!(outcome.report().intake_stopped());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stop_intake_on(mut self, stop: &Context) -> Self {
        self.plan.stop = Some(stop.clone());
        self
    }

    /// Draws a progress bar on stderr while the pipeline runs: items read by the source, items
    /// per second, and an ETA when the total is known (`total`, or else an exact size hint of
    /// the source iterator). Requires the `progress` feature.
    #[cfg(feature = "progress")]
    pub fn progress(mut self, total: Option<u64>) -> Self {
        self.plan.progress = true;
        if total.is_some() {
            self.plan.total = total;
        }
        self
    }

    /// Runs the pipeline, calling `f` on every output item on the calling thread.
    ///
    /// # Errors
    ///
    /// As for [`Iter::finish`].
    ///
    /// # Panics
    ///
    /// If `f` panics, the pipeline is cancelled and every stage joined before the panic
    /// continues.
    pub fn for_each<F>(self, mut f: F) -> Result<Outcome<S::Error>, Error<S::Error>>
    where
        F: FnMut(T),
    {
        let mut iter = self.into_iter();
        while let Some(chunk) = iter.next_chunk() {
            chunk.for_each(&mut f);
        }
        iter.finish()
    }

    /// Runs the pipeline and collects its output.
    ///
    /// # Errors
    ///
    /// As for [`Iter::finish`].
    #[allow(clippy::type_complexity)]
    pub fn collect(self) -> Result<(Vec<T>, Outcome<S::Error>), Error<S::Error>> {
        let mut iter = self.into_iter();
        let mut items = Vec::new();
        while let Some(chunk) = iter.next_chunk() {
            items.extend(chunk);
        }
        iter.finish().map(|outcome| (items, outcome))
    }
}

impl<T: Send + 'static, S: ErrorMode> IntoIterator for Pipeline<T, S> {
    type Item = T;
    type IntoIter = Iter<T, S::Error>;

    /// Starts the pipeline and returns its output as an iterator. See [`Iter`].
    fn into_iter(self) -> Iter<T, S::Error> {
        if let Some(message) = self.plan.error {
            return Iter::invalid(message, self.store);
        }
        let mut rt = Runtime::new(self.ctx, self.plan);
        let link = (self.build)(&mut rt);
        let sink = Arc::clone(rt.sink());
        let inbox = match link.credits {
            Some(credits) => Inbox::Ordered(Reorder::new(link.rx, credits, sink)),
            None => Inbox::Plain(link.rx),
        };
        rt.start_progress();
        Iter::running(rt, inbox, self.store)
    }
}

impl<T, S: ErrorMode> fmt::Debug for Pipeline<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = (0..self.plan.stages.len())
            .map(|i| self.plan.name(i))
            .collect();
        f.debug_struct("Pipeline")
            .field("stages", &names)
            .field("ordered", &self.plan.ordered)
            .finish_non_exhaustive()
    }
}

/// The error store for the next `try_map`: the pipeline's own if it already has an error type
/// (the same `E`, as [`Accepts`] guarantees), a new one after [`NoErrors`].
fn carry<A: Send + 'static, B: Send + 'static>(store: Arc<ErrorStore<A>>) -> Arc<ErrorStore<B>> {
    let store: Arc<dyn Any + Send + Sync> = store;
    store.downcast::<ErrorStore<B>>().unwrap_or_default()
}
