//! # homebound — every thread knows how it ends
//!
//! homebound packages the concurrency patterns Go programmers learned the hard way (worker pools,
//! pipelines, fan-out and fan-in, cancellation contexts, graceful shutdown, leak checks) as
//! typed, leak-free building blocks for synchronous Rust on OS threads. No async runtime and no
//! `unsafe`: crossbeam channels, parking_lot locks, rayon for CPU-bound fan-out.
//!
//! ## The five problems
//!
//! 1. **Unbounded spawning**: a loop that spawns a thread per item exhausts the machine.
//! 2. **Lost results and silent errors**: work finishes, but nobody collects its value, error or
//!    panic.
//! 3. **Leaks**: a thread blocks forever on a channel nobody will send to, or loops with no exit.
//! 4. **No way to stop**: a long job cannot be cancelled, timed out, or shut down in order.
//! 5. **Unclear completion**: the caller does not know when all the work has ended.
//!
//! ## Which piece for which job
//!
//! | job | use | not / instead |
//! |---|---|---|
//! | CPU batch over a collection, stop at the first error | [`fan::par_map`] (rayon, input order, cancel-aware) | rayon's `par_iter` directly when you need no context, no cancellation and no caught panics |
//! | batch where every error is kept, under a deadline | [`fan::par_map_all`] under `ctx.with_timeout(..)` for CPU work; a [`group::Group`] with [`group::CollectAll`] and [`limit`](group::Builder::limit) for blocking work | not `par_map`: it stops at the first error and keeps no partial results |
//! | stream of items through stages (read, parse, filter, write) | [`pipeline::Pipeline`] | a plain loop when each item costs ~100 ns and cores are few |
//! | the same stream of work shared by several processes or machines | `redis::Consumer` (feature `redis`): a Redis Streams consumer group feeding each process's [`pipeline::Pipeline`] | a distributed dataflow engine for joins, windows or state across machines |
//! | long-lived service running requests as they come | [`pool::Pool`], inside a [`shutdown::Shutdown`] | a group for a batch that ends as a whole |
//! | a blocking TCP server that must stop on cancel | `net::accept` (feature `net`, Unix) in the acceptor, handlers on a [`pool::Pool`] | an async runtime when you serve many thousands of idle connections |
//! | N channels into one | [`fan::merge`] | crossbeam's `select!` in your own loop for a fixed handful |
//! | first k answers of n, cancel the rest | [`fan::first_k`], [`fan::race`] | |
//! | periodic job | [`periodic::every`] | a cron-style scheduler for calendar times |
//! | stop on Ctrl-C / SIGTERM with a grace period and a report | [`shutdown::Shutdown`] | |
//! | stop work on a deadline, a failure or a caller's request | [`Context`] | an `AtomicBool` for a single flag between two threads you own |
//! | know when threads you started have ended | [`WaitGroup`] | join their handles when you need their results |
//! | a test that must prove no thread leaked | [`threads::assert_none_alive`] | |
//! | fine-grained fork-join, parallel iterators, work stealing | **rayon** | homebound has no work stealing, and a group starts its threads on every call |
//! | channels, `select!`, scoped threads with no lifecycle to manage | **crossbeam** (homebound is built on it) | |
//!
//! ## The modules
//!
//! Each module's documentation is its guide: what it is for, when not to use it, its
//! guarantees, an example and the reasons behind its design.
//!
//! * [`context`]: [`Context`], a cancellation tree with deadlines and causes; its
//!   [`done`](Context::done) receiver disconnects on cancel, so it wakes any
//!   `crossbeam_channel::select!` (problem 4).
//! * [`sync`]: [`WaitGroup`], a counting latch whose guards count down on drop, panics included,
//!   with timed and cancel-aware waits (problem 5).
//! * [`threads`]: every thread homebound spawns is named and registered;
//!   [`threads::assert_none_alive`] is the leak check that ends every test (problem 3).
//! * [`group`]: [`scope`] and [`group::Group`], errgroup for OS threads. Tasks borrow from the
//!   caller, the first error or panic cancels their siblings, an optional limit bounds the
//!   threads, and nothing returns before every thread is joined (problems 1, 2, 5).
//! * [`pool`]: [`pool::Pool`], a worker pool with a bounded queue, dynamic workers, joinable and
//!   cancellable handles, conserved metrics and Java's shutdown contract (problems 1, 2, 5).
//! * [`task`]: what pool and group tasks share: [`task::JoinError`] (how a handle ends without a
//!   value) and [`task::TaskInfo`]; panics become [`Panicked`] values (problem 2).
//! * [`pipeline`]: [`pipeline::Pipeline`], typed stages on worker threads joined by bounded
//!   chunked channels, with an error policy, cancellation and a report naming the bottleneck
//!   (problems 1–5).
//! * [`fan`]: [`fan::merge`], [`fan::fan_out`], [`fan::par_map`], [`fan::first_k`] and
//!   [`fan::race`]; each joins every thread it starts (problems 1, 3, 4).
//! * [`shutdown`]: [`shutdown::Shutdown`], services, SIGINT/SIGTERM, a grace period, drains, and
//!   a report naming every straggler with the exit code to use (problems 2, 4, 5).
//! * [`periodic`]: [`periodic::every`], periodic jobs that never overlap, skip and count missed
//!   ticks, survive errors and panics, and stop mid-wait on cancel (problem 4).
//! * [`prelude`]: the dozen names nearly every program uses.
//!
//! ```
//! use std::time::Duration;
//! use homebound::{Context, WaitGroup, threads};
//!
//! let ctx = Context::new().with_timeout(Duration::from_millis(50));
//! let wg = WaitGroup::new();
//! let mut handles = Vec::new();
//! for _ in 0..2 {
//!     let (ctx, guard) = (ctx.clone(), wg.enter());
//!     handles.push(threads::spawn("spinner", move || {
//!         let _done = guard;
//!         let mut rounds = 0u64;
//!         while !ctx.is_cancelled() {
//!             rounds += 1;
//!             let _ = ctx.sleep(Duration::from_millis(1));
//!         }
//!         rounds
//!     }).unwrap());
//! }
//! wg.wait();
//! for h in handles { h.join().unwrap(); }
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! ## Panics and `panic = "abort"`
//!
//! homebound catches panics in user code with `catch_unwind` and turns them into values. Under
//! `panic = "abort"` there is nothing to catch: a panic ends the process, as it always does.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
#[doc(hidden)]
pub use clock::now_for_bench as __clock_now;
pub mod context;
mod exec;
pub mod fan;
pub mod group;
#[cfg(all(feature = "net", unix))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "net", unix))))]
pub mod net;
mod observe;
#[cfg(feature = "serde")]
mod observe_serde;
mod panic;
pub mod periodic;
pub mod pipeline;
pub mod pool;
pub mod prelude;
#[cfg(feature = "progress")]
#[cfg_attr(docsrs, doc(cfg(feature = "progress")))]
#[path = "observe_progress.rs"]
pub mod progress;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod shim;
pub mod shutdown;
pub mod sync;
pub mod task;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod threads;

pub use context::{Cancelled, Cause, Context};
pub use group::scope;
pub use panic::Panicked;
pub use sync::WaitGroup;

/// The README's examples, compiled and run as doc tests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
