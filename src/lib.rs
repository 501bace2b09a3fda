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
//! ## A tour
//!
//! * [`Context`]: a cancellation tree with deadlines and causes; its [`done`](Context::done)
//!   receiver disconnects on cancel, so it wakes any `crossbeam_channel::select!` (problem 4).
//! * [`WaitGroup`]: a counting latch whose guards count down on drop, panics included, with
//!   timed and cancel-aware waits (problem 5).
//! * [`threads`]: every thread homebound spawns is named and registered;
//!   [`threads::assert_none_alive`] is the leak check that ends every test (problem 3).
//! * [`Pool`]: a worker pool with a bounded queue (backpressure), dynamic workers, joinable and
//!   cancellable [`TaskHandle`]s, conserved [`PoolMetrics`] and Java's shutdown contract:
//!   `shutdown`, `shutdown_timeout` (names stragglers), `shutdown_now` (hands back unstarted
//!   tasks) (problems 1, 2 and 5).
//! * [`Pipeline`]: typed stages (`map`, `filter`, `try_map`, `batch`, ..) each on its own
//!   worker threads, joined by bounded chunked channels; ordered on request, with an error
//!   policy, whole-pipeline cancellation and a per-stage report naming the bottleneck
//!   (problems 1–5).
//! * [`Panicked`] and [`panic_message`]: panics become values with their message (problem 2).
//! * [`scope`] and [`Group`]: errgroup for OS threads. Tasks borrow from the caller, the first
//!   error or panic cancels their siblings, an optional limit bounds the threads, and nothing
//!   returns before every task has ended and every thread is joined (problems 1, 2, 5).
//! * [`Shutdown`]: services on registered threads, SIGINT/SIGTERM, a grace period, drains in
//!   reverse order, a second signal that forces the exit, and a [`ShutdownReport`] naming every
//!   straggler, with the exit code to use (problems 2, 4, 5).
//! * [`every`] and [`Every`]: periodic jobs that never overlap, skip and count missed ticks,
//!   survive errors and panics, and stop mid-wait on cancel (problem 4).
//! * [`fan`]: [`merge`] receivers on one thread, [`fan_out`] to `n` workers, [`par_map`] CPU
//!   work on rayon with cancel-on-first-failure, and [`first_k`] / [`race`] that cancel the
//!   losers; each joins every thread it starts (problems 1, 3 and 4).
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

pub mod context;
pub mod fan;
pub mod group;
mod panic;
pub mod periodic;
pub mod pipeline;
pub mod pool;
pub mod prelude;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod shim;
pub mod shutdown;
pub mod sync;
pub mod task;
pub mod threads;

pub use context::{Cancelled, Cause, Context};
pub use group::scope;
pub use panic::Panicked;
pub use sync::WaitGroup;

/// The README's examples, compiled and run as doc tests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
