//! Pipelines: [`Pipeline`], typed stages on worker threads joined by bounded chunked channels,
//! with an error policy, cancellation and a per-stage [`Report`].
//!
//! **Use it** for a stream of items (the lines of a file, a receiver, a long iterator) that goes
//! through steps of different cost, some of which block (parse, enrich by a lookup, write in
//! batches), when memory must stay flat however long the input is and you want to know which
//! stage is the bottleneck. For a file of lines, [`Pipeline::from_lines`] reads it on all the
//! first stage's workers at once. **Use something else** for one CPU map over a collection already
//! in memory ([`fan::par_map`](crate::fan::par_map) or rayon), and for items that each go to one
//! of `n` identical workers with no stages ([`fan::fan_out`](crate::fan::fan_out)).
//!
//! # Guarantees
//!
//! * **Nothing lost silently.** Every item read is delivered, filtered, failed (counted, and kept
//!   with [`ErrorPolicy::Collect`]) or, when a run stops early, counted as dropped in the
//!   [`Report`]: for each stage that makes one output per input, `in = out + filtered + errors +
//!   dropped`, and `in` is what the stage before it passed on. `batch` flushes its remainder.
//! * **Bounded memory, counted in items.** At most [`buffer`](Pipeline::buffer) items
//!   ([`DEFAULT_BUFFER`]) wait in front of each stage, a batch counting as its items, in every
//!   mode (ordered, and a `flat_map` that makes a million items of one included); a slow stage
//!   slows the ones before it.
//! * **Prompt with slow stages.** A cancel stops every stage within one item's time plus a few
//!   milliseconds; a slow stage's results reach the consumer within about one item's time (a
//!   partly filled chunk is sent after about 2 ms). One exception, once per change: when a
//!   stage's items turn from fast (microseconds) to slow at once, up to 16 slow items can pass
//!   before it looks up (the blind block under way; see the pulse below).
//! * **Stops cleanly.** Cancelling the context, a fail-fast error, a panic in any stage (caught,
//!   named with its stage) or dropping the output iterator cancels every stage, wakes the blocked
//!   ones and joins every thread before the terminal returns.
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
//! * **Lazy start.** Builder methods record a plan; threads start at the terminal. So `named`,
//!   `on_error`, `buffer` and `unfused` can follow the stage they configure, and a bad
//!   configuration costs nothing.
//! * **Typed errors without boxing.** The second type parameter is [`marker::NoErrors`] until the
//!   first `try_map` fixes the error type ([`marker::Fallible`]); a later `try_map` with another
//!   error type does not compile.
//! * **Fusion** (Flink's operator chaining). Consecutive stateless stages with the same worker
//!   count run as one chain in each worker: no channel, no hand-off and no cross-thread free
//!   between them. Each stage keeps its own counts; a group's time is split between its stages
//!   by timing one call in sixteen.
//! * **The pulse.** A process-wide counter, advanced every millisecond by one daemon thread while
//!   a pipeline runs, and at once by every cancel. Stage loops compare it (one load) between
//!   **blind blocks** of items: one item after it moved, doubling while blocks end before it
//!   moves, up to 16. Inside a block there is no check, so a trivial stage's loop is as tight
//!   as a hand-written one; a stage whose items take a millisecond or more looks up after every
//!   item. When the pulse moved, the loop looks up (stop, or send a partly filled chunk).
//! * **Chunks sized by the receiver.** Items travel in chunks; the receiver publishes its cost
//!   per item, the sender cuts chunks of about 250 µs of that work (one item until it is known,
//!   at most 512 and `buffer / 8`). A trivial stage gets full chunks; a 20 ms stage one item per
//!   chunk, so all its workers have work and a graceful stop drains in a few items' time.
//! * **Spin, then park.** A worker spins briefly before it sleeps on an empty or full link: on a
//!   small machine, a sleep and a wake-up per chunk cost more than the chunk's work.
//! * **Ordered mode** numbers chunks where one thread produces them (the source, a one-worker
//!   stage, the file source handing out its ranges in order). A parallel stage sends each input
//!   chunk's output as numbered parts; the worker holding the chunk the reorderer waits for sends
//!   freely, the others take a credit per part, so the reorderer holds a bounded number of parts
//!   and cannot deadlock. Two parallel stages in a row share a reorderer between them.
//! * **Line sources** split a file into byte ranges on line boundaries that the first stage's
//!   workers read and parse independently (as grep-like tools and Spark's input splits do); the
//!   first stage borrows each line. A reader that cannot be split is read in large blocks by one
//!   thread.
//! * **Stages run on their own threads**, not as pool tasks: a stage worker blocks on its links
//!   for the whole run, and its own thread gives the report and the leak check the stage's name.
//! * **The graceful stop exists** because a plain cancel also stops the consumer that would
//!   write the flushed batches.
//! * **Report times are wall-clock**: with more runnable threads than cores they include waiting
//!   for a core. `from_iter` cannot interrupt an iterator blocked inside `next()`; use
//!   `from_receiver` for sources that wait.
//!
//! Files: `runtime.rs` (one run: threads, counters, teardown), `source.rs` (iterator and
//! receiver sources), `lines.rs` and `split.rs` (the line sources), `group.rs` (fused groups and
//! their worker loop), `chain.rs` (how fused stages are pulled), `stages.rs` (what each kind of
//! fused stage does), `link.rs` (chunked links bounded in items), `outbox.rs` (the sending
//! half), `ordered.rs` (reordering in bounded memory), `pulse.rs` (the check between blind
//! blocks), `ticket.rs` (completion of items, for sources that acknowledge), `batch.rs`,
//! `iter.rs` (the consumer end), `error.rs`, `report.rs`, `progress.rs`.

mod batch;
mod chain;
mod error;
mod group;
mod iter;
mod lines;
mod link;
mod ordered;
mod outbox;
#[cfg(feature = "progress")]
mod progress;
mod pulse;
mod report;
mod runtime;
mod source;
mod split;
mod stages;
mod ticket;

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

pub use self::error::{Error, ErrorKind, ErrorPolicy, Outcome, StageError};
pub use self::lines::Lines;
pub use self::link::DEFAULT_BUFFER;
pub use self::split::ReadAt;

/// The type-state markers of [`Pipeline`]'s second parameter: whether a pipeline can carry
/// stage errors yet ([`NoErrors`]) or already does ([`Fallible`](marker::Fallible)). You name them only when you
/// write a function that takes or returns a pipeline generically.
pub mod marker {
    pub use super::error::{Accepts, ErrorMode, Fallible, NoErrors};
}
pub use self::iter::Iter;
use self::marker::{Accepts, ErrorMode, NoErrors};
pub use self::report::{Report, StageReport};

use self::chain::{Node, Op, Pull};
use self::error::ErrorStore;
use self::group::Tail;
use self::link::Order;
use self::ordered::{Inbox, Reorder};
use self::runtime::{Plan, Runtime, StageMeta};
use self::stages::{
    Call, Each, Filter, FilterMap, FlatMapOp, Inspect, Map, Plain, TryMap, WithCtx,
};
use crate::context::Context;

/// How a pipeline builds its stages when the run starts.
type Build<T> = Box<dyn FnOnce(&mut Runtime) -> Tail<T> + Send>;

/// A typed multi-stage pipeline: a source, stages that run on worker threads, and a consumer,
/// joined by bounded channels.
///
/// ```text
/// source ──▶ map(4) ──▶ filter(4) ──▶ batch(1000, 200ms) ──▶ for_each (your thread)
///            └──── one fused loop ───┘
/// ```
///
/// * **Typed stages**: [`map`](Pipeline::map), [`filter`](Pipeline::filter),
///   [`flat_map`](Pipeline::flat_map), [`try_map`](Pipeline::try_map) (with an
///   [`ErrorPolicy`]), [`inspect`](Pipeline::inspect), [`batch`](Pipeline::batch), and
///   [`map_ctx`](Pipeline::map_ctx) / [`try_map_ctx`](Pipeline::try_map_ctx) /
///   [`for_each_ctx`](Pipeline::for_each_ctx) whose functions see the run's [`Context`] (to
///   stop a long item early). Each takes its number of worker threads; name it with
///   [`named`](Pipeline::named).
/// * **Fused**: consecutive stateless stages with the same number of workers run as one loop
///   in each worker (Flink's operator chaining): no channel between them, no thread hand-off,
///   and the report still counts each stage. [`unfused`](Pipeline::unfused) opts a stage out.
/// * **Bounded by items, with backpressure**: at most [`buffer`](Pipeline::buffer) items
///   ([`DEFAULT_BUFFER`] unless set) wait in front of each stage, a batch counting as its
///   items, in every mode. A slow stage slows down the ones before it instead of letting work
///   pile up.
/// * **Prompt with slow stages**: a stage looks up between blind blocks of items (one atomic
///   load), which shrink to one item as soon as items take about a millisecond. A cancel stops
///   it within one item's time plus a few milliseconds, and a partly filled chunk is sent after
///   about 2 ms, so a slow stage's first result reaches the consumer within about one item's
///   time. When items turn from fast to slow at once, up to 16 of them can pass first.
/// * **Fast**: items travel in chunks sized to about 250 µs of the receiving stage's work (up
///   to 512), so a trivial stage costs nanoseconds per item, and a slow stage gets one item per
///   chunk so that all its workers are busy. [`from_lines`](Pipeline::from_lines) reads a file
///   in byte ranges on all workers at once, and its first stage parses borrowed lines.
/// * **Ordered on request**: [`ordered`](Pipeline::ordered) delivers items in source order in
///   bounded memory; unordered is the default.
/// * **Stops cleanly**: cancelling the context, a failing stage, a panic, or dropping the
///   output iterator cancels every stage, wakes every blocked one and joins every thread.
/// * **Reports**: the run returns a [`Report`] with per-stage counts, busy and blocked times,
///   utilisation, and the [`bottleneck`](Report::bottleneck).
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
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let (lengths, _) = Pipeline::from_iter(&ctx, vec!["alpha", "be", "c"])
    ///     .map(2, str::len)
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(lengths, [5, 2, 1]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
        pipeline.plan.source_len = total;
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

    /// A pipeline whose source is `body`, run on the source thread with an emitter: the seam
    /// for sources inside homebound that acknowledge what they read (see `ticket.rs`).
    #[allow(dead_code)] // the seam for sources that acknowledge
    pub(crate) fn from_emitter(
        ctx: &Context,
        body: impl FnOnce(&mut source::Emitter<'_, T>) + Send + 'static,
    ) -> Self {
        Self::source(ctx, move |rt| source::from_emitter(rt, body))
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

    fn source(ctx: &Context, build: impl FnOnce(&mut Runtime) -> Tail<T> + Send + 'static) -> Self {
        let mut plan = Plan::default();
        plan.stages.push(StageMeta::new("source", 1, 1));
        Pipeline {
            ctx: ctx.child(),
            plan,
            build: Box::new(build),
            store: Arc::default(),
        }
    }
}

impl Pipeline<String, NoErrors> {
    /// A source for the lines of the file at `path`, read in parallel: the file is split into
    /// byte ranges on line boundaries (1 MiB each, see [`Lines::split_size`]), and each worker
    /// of the first stage reads and parses whole ranges on its own, as `grep`-like tools and
    /// Spark's input splits do. There is no reading thread, and no `String` per line: the first
    /// stage's function borrows each line from the range being parsed, so a stage that keeps
    /// few lines copies only those.
    ///
    /// Lines are split as [`BufRead::lines`](std::io::BufRead::lines) splits them (`\n` or
    /// `\r\n`, a last line without a newline included). The stage's function gets
    /// `Err(io::Error)` once for a range that cannot be read (its lines are lost) and for a
    /// line that is not UTF-8; the other ranges go on. With [`ordered`](Pipeline::ordered) the
    /// lines come in file order. For input that cannot be split (a pipe, a socket, a
    /// decompressor), use [`from_reader`](Pipeline::from_reader).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// # let path = std::env::temp_dir().join(format!("hb-doc-from-lines-{}", std::process::id()));
    /// std::fs::write(&path, "INFO start\nERROR disk full\nINFO done\n").unwrap();
    /// let ctx = Context::new();
    /// let (errors, _) = Pipeline::from_lines(&ctx, &path)
    ///     .filter_map(2, |line| {
    ///         let line = line.ok()?;
    ///         line.strip_prefix("ERROR ").map(str::to_string) // copies only what it keeps
    ///     })
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(errors, ["disk full"]);
    /// # std::fs::remove_file(&path).unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn from_lines(ctx: &Context, path: impl AsRef<std::path::Path>) -> Lines {
        Lines::file(ctx, path.as_ref())
    }

    /// Like [`from_lines`](Pipeline::from_lines), over any [`ReadAt`] source of known length
    /// (a byte slice, your own storage), split across the workers the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let bytes = b"warn: low disk\ninfo: ok\nwarn: hot\n".to_vec(); // any ReadAt: bytes, a file
    /// let (warnings, _) = Pipeline::from_read_at(&Context::new(), bytes)
    ///     .filter_map(2, |line| line.ok()?.strip_prefix("warn: ").map(str::to_string))
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(warnings, ["low disk", "hot"]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn from_read_at(ctx: &Context, source: impl ReadAt + 'static) -> Lines {
        Lines::read_at(ctx, Arc::new(source))
    }

    /// A source for the lines of any reader where the input cannot be split (a pipe, a socket,
    /// a decompressor): one thread reads large blocks and cuts them at line boundaries, and the
    /// workers of the first stage split and parse the blocks, borrowing the lines, as for
    /// [`from_lines`](Pipeline::from_lines). A read error ends the input: the first stage's
    /// function gets it once, as `Err`, after the lines read before it.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let input = std::io::Cursor::new("3\n4\nfive\n");
    /// let (sum, outcome) = Pipeline::from_reader(&ctx, input)
    ///     .filter_map(1, |line| line.ok()?.parse::<u32>().ok())
    ///     .named("numbers")
    ///     .collect()
    ///     .map(|(v, o)| (v.iter().sum::<u32>(), o))
    ///     .unwrap();
    /// assert_eq!(sum, 7);
    /// assert_eq!(outcome.report().stage("numbers").unwrap().filtered, 1);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn from_reader(ctx: &Context, reader: impl std::io::Read + Send + 'static) -> Lines {
        Lines::reader(ctx, Box::new(reader))
    }
}

impl<T: Send + 'static, S: ErrorMode> Pipeline<T, S> {
    /// Adds a stage: records it in the plan and chains its builder after the current one.
    fn then<U, S2>(
        self,
        meta: StageMeta,
        store: Arc<ErrorStore<S2::Error>>,
        make: impl FnOnce(&mut Runtime, usize, Tail<T>) -> Tail<U> + Send + 'static,
    ) -> Pipeline<U, S2>
    where
        U: Send + 'static,
        S2: ErrorMode,
    {
        let mut plan = self.plan;
        let index = plan.stages.len();
        let workers = meta.workers;
        plan.stages.push(meta);
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

    /// Adds a stateless stage whose workers run `op` (made once per worker), fused with the
    /// stages before it when it can be.
    fn stateless<U, S2, O>(
        self,
        kind: &'static str,
        workers: usize,
        weight: Option<usize>,
        store: Arc<ErrorStore<S2::Error>>,
        op: impl Fn(&Runtime, usize) -> O + Send + 'static,
    ) -> Pipeline<U, S2>
    where
        U: Send + 'static,
        S2: ErrorMode,
        O: Op<T, U> + 'static,
    {
        let weight = weight.unwrap_or_else(|| self.last_weight());
        self.then(
            StageMeta::new(kind, workers, weight),
            store,
            move |rt, i, tail| {
                group::add_stage(rt, i, tail, |rt, below| {
                    Box::new(Node::new(below, op(rt, i), rt, i)) as Box<dyn Pull<U>>
                })
            },
        )
    }

    fn last_weight(&self) -> usize {
        self.plan.stages.last().map_or(1, |m| m.weight)
    }

    /// Applies `f` to every item on `workers` threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (squares, _) = Pipeline::from_iter(&Context::new(), 1..=5u64)
    ///     .map(2, |x| x * x)
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(squares, [1, 4, 9, 16, 25]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn map<U, F>(self, workers: usize, f: F) -> Pipeline<U, S>
    where
        U: Send + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        self.mapped(workers, Plain(f))
    }

    /// Like [`map`](Pipeline::map), and `f` also receives the run's context: a function that
    /// takes long per item can stop early when the run is cancelled (as a Go stage selects on
    /// `done`), for instance by sleeping or waiting with [`Context::sleep`] or
    /// [`Context::recv`], or by checking [`Context::is_cancelled`] in its own loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new().with_timeout(Duration::from_millis(50));
    /// let started = Instant::now();
    /// let err = Pipeline::from_iter(&ctx, 0..10u32)
    ///     .map_ctx(2, |ctx, x| {
    ///         let _ = ctx.sleep(Duration::from_secs(60)); // a long item, cut short on cancel
    ///         x
    ///     })
    ///     .for_each(|_| {})
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// assert!(started.elapsed() < Duration::from_secs(30));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn map_ctx<U, F>(self, workers: usize, f: F) -> Pipeline<U, S>
    where
        U: Send + 'static,
        F: Fn(&Context, T) -> U + Send + Sync + 'static,
    {
        self.mapped(workers, WithCtx(f))
    }

    fn mapped<U, F>(self, workers: usize, f: F) -> Pipeline<U, S>
    where
        U: Send + 'static,
        F: Call<T, U> + 'static,
    {
        let store = Arc::clone(&self.store);
        let f = Arc::new(f);
        self.stateless("map", workers, None, store, move |rt, _| {
            Each::new(Map {
                f: Arc::clone(&f),
                ctx: rt.ctx.clone(),
            })
        })
    }

    /// Keeps the items for which `pred` returns `true`, on `workers` threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (evens, outcome) = Pipeline::from_iter(&Context::new(), 0..10u32)
    ///     .filter(2, |x| x % 2 == 0)
    ///     .named("evens")
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(evens, [0, 2, 4, 6, 8]);
    /// assert_eq!(outcome.report().stage("evens").unwrap().filtered, 5);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn filter<F>(self, workers: usize, pred: F) -> Pipeline<T, S>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        let pred = Arc::new(pred);
        self.stateless("filter", workers, None, store, move |_, _| {
            Each::new(Filter(Arc::clone(&pred)))
        })
    }

    /// Replaces every item with the items `f` returns for it, on `workers` threads. One item
    /// may expand into any number: they are made as the next stage takes them, so memory stays
    /// bounded (ordered or not).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (chars, _) = Pipeline::from_iter(&Context::new(), ["ab", "", "cde"])
    ///     .flat_map(2, |s: &str| s.chars().collect::<Vec<_>>())
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(chars, ['a', 'b', 'c', 'd', 'e']);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn flat_map<U, I, F>(self, workers: usize, f: F) -> Pipeline<U, S>
    where
        U: Send + 'static,
        I: IntoIterator<Item = U> + 'static,
        I::IntoIter: Send,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        let f = Arc::new(f);
        self.stateless("flat_map", workers, Some(1), store, move |_, _| {
            FlatMapOp::<F, I::IntoIter>::new(Arc::clone(&f))
        })
    }

    /// Keeps the values `f` returns `Some` for (a fused `filter` and `map`), on `workers`
    /// threads. Items for which it returns `None` count as filtered.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (ports, outcome) = Pipeline::from_iter(&Context::new(), ["80", "http", "443"])
    ///     .filter_map(2, |s: &str| s.parse::<u16>().ok())
    ///     .named("ports")
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(ports, [80, 443]);
    /// assert_eq!(outcome.report().stage("ports").unwrap().filtered, 1);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn filter_map<U, F>(self, workers: usize, f: F) -> Pipeline<U, S>
    where
        U: Send + 'static,
        F: Fn(T) -> Option<U> + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        let f = Arc::new(f);
        self.stateless("filter_map", workers, None, store, move |_, _| {
            Each::new(FilterMap(Arc::clone(&f)))
        })
    }

    /// Calls `f` on every item as it passes, on one thread (in source order when the pipeline
    /// is [`ordered`](Pipeline::ordered)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let bytes = Arc::new(AtomicU64::new(0));
    /// let counter = Arc::clone(&bytes);
    /// let (_, _) = Pipeline::from_iter(&Context::new(), ["abc", "de"])
    ///     .inspect(move |s| { counter.fetch_add(s.len() as u64, Ordering::Relaxed); })
    ///     .map(1, str::to_uppercase)
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(bytes.load(Ordering::Relaxed), 5);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn inspect<F>(self, f: F) -> Pipeline<T, S>
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        let store = Arc::clone(&self.store);
        let f = Arc::new(f);
        self.stateless("inspect", 1, None, store, move |_, _| {
            Each::new(Inspect(Arc::clone(&f)))
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
        self.fallible(workers, Plain(f))
    }

    /// Like [`try_map`](Pipeline::try_map), and `f` also receives the run's context (see
    /// [`map_ctx`](Pipeline::map_ctx)).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let (out, _) = Pipeline::from_iter(&ctx, [1u32, 2, 3])
    ///     .try_map_ctx(2, |ctx, x| {
    ///         ctx.check()?; // Err(Cancelled) once the run is cancelled
    ///         Ok::<_, homebound::Cancelled>(x * 10)
    ///     })
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out, [10, 20, 30]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_map_ctx<U, E, F>(self, workers: usize, f: F) -> Pipeline<U, S::Next>
    where
        S: Accepts<E>,
        U: Send + 'static,
        E: Send + 'static,
        F: Fn(&Context, T) -> Result<U, E> + Send + Sync + 'static,
    {
        self.fallible(workers, WithCtx(f))
    }

    fn fallible<U, E, F>(self, workers: usize, f: F) -> Pipeline<U, S::Next>
    where
        S: Accepts<E>,
        U: Send + 'static,
        E: Send + 'static,
        F: Call<T, Result<U, E>> + 'static,
    {
        let store: Arc<ErrorStore<E>> = carry(self.store.clone());
        let stage_store = Arc::clone(&store);
        let f = Arc::new(f);
        self.stateless("try_map", workers, None, store, move |rt, i| {
            Each::new(TryMap {
                f: Arc::clone(&f),
                ctx: rt.ctx.clone(),
                fail: stages::Fail::new(rt, i, Arc::clone(&stage_store)),
            })
        })
    }

    /// Groups items into `Vec`s of `size`, sending a smaller one when `max_wait` has passed
    /// since its first item, and the remainder at the end. Runs on one thread.
    ///
    /// If the run is cancelled, the open batch is counted as dropped in the report. For a
    /// graceful stop that flushes every open batch, use [`stop_intake_on`](Pipeline::stop_intake_on).
    /// In the report, the batch stage's `items_out` (and everything after it) counts batches.
    /// For the bound on what waits between stages, a batch counts as its `size` items.
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
        let weight = self.last_weight().saturating_mul(size.max(1));
        let mut next = self.then(
            StageMeta::new("batch", 1, weight),
            store,
            move |rt, i, tail| batch::spawn(rt, i, tail, size, max_wait),
        );
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
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let err = Pipeline::from_iter(&Context::new(), ["1", "x"])
    ///     .try_map(1, |s| s.parse::<u8>())
    ///     .named("parse") // names the try_map just added
    ///     .for_each(|_| {})
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "stage 'parse' failed: invalid digit found in string");
    /// assert!(err.report().stage("parse").is_some());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::{ErrorPolicy, Pipeline}};
    ///
    /// let (ok, outcome) = Pipeline::from_iter(&Context::new(), ["1", "x", "3"])
    ///     .try_map(1, |s| s.parse::<u32>())
    ///     .on_error(ErrorPolicy::Skip) // count the failures and go on
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(ok.len(), 2);
    /// assert_eq!(outcome.report().stage("try_map-1").unwrap().errors, 1);
    /// assert!(outcome.errors().is_empty()); // Skip counts them; Collect would keep them
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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

    /// At most `items` items wait between the last stage added (or the source) and the next
    /// one: Go's `make(chan T, items)` for the stage's output. `0` is a rendezvous: one item at
    /// a time, handed over when the next stage takes it. Without it, [`DEFAULT_BUFFER`] items
    /// may wait. A batch counts as its items.
    ///
    /// Setting it puts a channel after the stage even if the next stage could have been fused
    /// with it.
    ///
    /// On top of what waits in the channels, each worker holds the chunk it is working on (at
    /// most 512 items, and about 250 µs of the stage's work once its speed is known).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let (out, _) = Pipeline::from_iter(&ctx, 0..100u32)
    ///     .buffer(10) // the source reads at most 10 items ahead of the map
    ///     .map(1, |x| x + 1)
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(out.len(), 100);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn buffer(mut self, items: usize) -> Self {
        if let Some(last) = self.plan.stages.last_mut() {
            last.buffer = Some(items);
        }
        self
    }

    /// Runs the last stage added on threads of its own instead of fusing it with the stages
    /// before it (fusion is on by default for consecutive stateless stages with the same number
    /// of workers). Two slow one-worker stages, for instance, then work at the same time on
    /// different items instead of one after the other.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let run = |unfused: bool| {
    ///     let p = Pipeline::from_iter(&Context::new(), 0..10u32).map(1, |x| x + 1).named("a");
    ///     let p = p.map(1, |x| x * 2).named("b");
    ///     let p = if unfused { p.unfused() } else { p };
    ///     p.for_each(|_| {}).unwrap().into_report()
    /// };
    /// assert_eq!(run(false).stage("b").unwrap().fused_into.as_deref(), Some("a")); // one loop
    /// assert_eq!(run(true).stage("b").unwrap().fused_into, None); // threads of its own
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn unfused(mut self) -> Self {
        if let Some(last) = self.plan.stages.last_mut() {
            last.unfused = true;
        }
        self
    }

    /// Delivers the output in source order, whatever the stages' parallelism (applies to the
    /// whole pipeline). Stages with one worker (and `inspect`, `batch`) also see their input in
    /// source order. Memory stays bounded by items, as unordered: a parallel stage may run
    /// ahead of the slowest chunk by a few chunks per worker, never by more.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (out, _) = Pipeline::from_iter(&Context::new(), 0..1_000u32)
    ///     .map(4, |x| x + 1) // four workers, finishing in any order
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert!(out.windows(2).all(|w| w[0] < w[1])); // delivered in source order
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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

    /// Draws a progress bar on stderr while the pipeline runs: the items the consumer has
    /// received (those that made it through the last stage), their rate, and an ETA when the
    /// total is known: `total`, or else the source's exact length if every stage makes one
    /// output per input (`map`, `inspect`). The bar ends with a newline. Requires the
    /// `progress` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let outcome = Pipeline::from_iter(&ctx, 0..1_000u32)
    ///     .map(2, |x| x * 2)
    ///     .progress(None) // the total comes from the source: 1000
    ///     .for_each(|_| {})
    ///     .unwrap();
    /// assert_eq!(outcome.report().items_delivered(), 1_000);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[cfg(feature = "progress")]
    #[cfg_attr(docsrs, doc(cfg(feature = "progress")))]
    pub fn progress(mut self, total: Option<u64>) -> Self {
        self.plan.progress = true;
        self.plan.total = total;
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
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let mut total = 0u64;
    /// let outcome = Pipeline::from_iter(&Context::new(), 1..=100u64)
    ///     .map(2, |x| x * 2)
    ///     .for_each(|x| total += x) // on the calling thread: may borrow mutably
    ///     .unwrap();
    /// assert_eq!(total, 10_100);
    /// assert_eq!(outcome.report().items_delivered(), 100);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn for_each<F>(self, mut f: F) -> Result<Outcome<S::Error>, Error<S::Error>>
    where
        F: FnMut(T),
    {
        let mut iter = self.into_iter();
        while let Some(mut chunk) = iter.next_vec() {
            chunk.drain(..).for_each(&mut f);
            iter.give_back(chunk);
        }
        iter.finish()
    }

    /// Like [`for_each`](Pipeline::for_each), and `f` also receives the run's context, so that
    /// a long step can stop early when the run is cancelled.
    ///
    /// # Errors
    ///
    /// As for [`Iter::finish`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let mut seen = 0;
    /// let err = Pipeline::from_iter(&ctx, 0..u64::MAX)
    ///     .for_each_ctx(|ctx, _| {
    ///         seen += 1;
    ///         if seen == 100 {
    ///             ctx.cancel(); // the run's context: stops this run only
    ///         }
    ///     })
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// assert!(!ctx.is_cancelled());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn for_each_ctx<F>(self, mut f: F) -> Result<Outcome<S::Error>, Error<S::Error>>
    where
        F: FnMut(&Context, T),
    {
        let ctx = self.ctx.clone();
        let mut iter = self.into_iter();
        while let Some(mut chunk) = iter.next_vec() {
            for item in chunk.drain(..) {
                f(&ctx, item);
            }
            iter.give_back(chunk);
        }
        iter.finish()
    }

    /// Runs the pipeline and collects its output.
    ///
    /// # Errors
    ///
    /// As for [`Iter::finish`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (mut words, outcome) = Pipeline::from_iter(&Context::new(), ["b a", "c"])
    ///     .flat_map(2, |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>())
    ///     .collect()
    ///     .unwrap();
    /// words.sort();
    /// assert_eq!(words, ["a", "b", "c"]);
    /// assert_eq!(outcome.report().items_read(), 2);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[allow(clippy::type_complexity)]
    #[track_caller]
    pub fn collect(self) -> Result<(Vec<T>, Outcome<S::Error>), Error<S::Error>> {
        let mut iter = self.into_iter();
        let mut items = Vec::new();
        while let Some(mut chunk) = iter.next_vec() {
            items.append(&mut chunk);
            iter.give_back(chunk);
        }
        iter.finish().map(|outcome| (items, outcome))
    }
}

impl<T: Send + 'static, S: ErrorMode> IntoIterator for Pipeline<T, S> {
    type Item = T;
    type IntoIter = Iter<T, S::Error>;

    /// Starts the pipeline and returns its output as an iterator. See [`Iter`].
    #[track_caller]
    fn into_iter(self) -> Iter<T, S::Error> {
        if let Some(message) = self.plan.error {
            return Iter::invalid(message, self.store);
        }
        // Issue 17: the run is a node of the owner tree; its threads are its own in the dump.
        let stages: Vec<String> = (0..self.plan.stages.len())
            .map(|i| self.plan.name(i))
            .collect();
        let owner = crate::threads::Owner::new("pipeline", &stages.join(" → "));
        let _owner = crate::threads::starting_owner(owner);
        let mut rt = Runtime::new(self.ctx, self.plan);
        let tail = (self.build)(&mut rt);
        let link = group::close(&mut rt, tail);
        let sink = rt.stats.len() - 1;
        rt.add_drain(sink, link.rx.clone());
        let stats = Arc::clone(rt.sink());
        let ends = (Arc::clone(&link.shared), link.recycler());
        let inbox = match link.order {
            Order::Parts(gate) => Inbox::Ordered(Reorder::new(link.rx, Some(gate), stats)),
            Order::None | Order::Numbered => Inbox::Plain(link.rx),
        };
        rt.start_progress();
        Iter::running(rt, inbox, ends, self.store)
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
