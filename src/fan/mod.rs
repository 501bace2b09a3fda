//! Fan-out and fan-in: [`merge`] many receivers into one, [`fan_out`] a receiver to `n`
//! workers, [`par_map`] a batch of CPU work on rayon ([`par_map_all`] to keep every item's
//! outcome), and keep the [`first_k`] successes (or the first, [`race`]) of a set of tasks while
//! cancelling the rest ([`first_k_limited`], [`race_limited`] to run only `limit` at a time).
//!
//! Every helper owns the threads it starts and joins them before it returns or when its handle is
//! dropped, so the leak check ([`threads::assert_none_alive`](crate::threads::assert_none_alive))
//! passes after each one.
//!
//! **Use them** for the classic Go shapes: many channels into one, one channel to `n` identical
//! workers, a CPU map over a collection that must stop at the first failure, and "ask several,
//! keep the first answers". **Use something else** when a plain `crossbeam_channel::select!`
//! over two or three receivers in your own loop does the job (no thread needed), when a rayon
//! map needs neither a context nor cancellation (call rayon directly), when every task's error
//! must be kept or a deadline must keep the results finished so far and the tasks block (a
//! [`group`](crate::group) with [`CollectAll`](crate::group::CollectAll); for CPU work,
//! [`par_map_all`]: `par_map` stops at the first error and returns no partial results), and for
//! items through several stages (a [`Pipeline`](crate::pipeline::Pipeline)).
//!
//! | helper | threads | ends when | failure |
//! |---|---|---|---|
//! | [`merge`] / [`merge_ctx`] | one, running a `Select` over every input | every input disconnected, the handle dropped or stopped, or (`merge_ctx`) the context cancelled | none: [`Merged::stop`] hands back what was not read |
//! | [`fan_out`] | `workers` | the input disconnected and drained, the handle dropped or stopped, the context cancelled, or a panic | the first panic, from [`FanOut::stop`] |
//! | [`par_map`] / [`par_map_in`] | rayon's | every item is mapped, or the first error, panic or cancel | [`ParMapError`] |
//! | [`par_map_all`] | rayon's | every item is mapped or, once the context is cancelled (a deadline), not started | per item: [`Failure`] |
//! | [`first_k`] / [`race`] | one per task, scoped | `k` successes are in (the rest are cancelled) and every task has returned | [`FirstK::failures`], [`AllFailed`] |
//! | [`first_k_limited`] / [`race_limited`] | at most `limit`, scoped | as `first_k`; tasks not started by then are not run | as `first_k` |
//!
//! # CPU work goes to rayon, blocking work does not
//!
//! [`par_map`] runs on rayon's work-stealing threads. Use it for CPU-bound closures only: a
//! closure that blocks (sleeps, waits on a channel, a lock held elsewhere, I/O) occupies one of
//! rayon's few threads and starves every other user of the same pool, and it can deadlock when
//! the thing it waits for needs a rayon thread too. Send blocking work to [`fan_out`], to
//! [`first_k`], or to a worker pool, whose threads are meant to block.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use crossbeam_channel::unbounded;
//! use homebound::{Context, fan, threads};
//!
//! let ctx = Context::new();
//! // Fan out: two workers square the numbers of one input channel.
//! let (tx, rx) = unbounded();
//! for n in 1..=4u64 { tx.send(n).unwrap(); }
//! drop(tx);
//! let squares = fan::fan_out(&ctx, rx, 2, |_ctx, n: u64| n * n).unwrap();
//! // Fan in: merge the workers' output with another source.
//! let (tx2, rx2) = unbounded();
//! tx2.send(100).unwrap();
//! drop(tx2);
//! let merged = fan::merge(vec![squares.receiver().clone(), rx2]).unwrap();
//! let mut all: Vec<u64> = merged.collect();
//! all.sort();
//! assert_eq!(all, [1, 4, 9, 16, 100]);
//! squares.stop().unwrap();
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! # Design
//!
//! * **Handles, not bare receivers.** [`merge`] and [`fan_out`] return [`Merged`] and
//!   [`FanOut`], which own the output receiver and the threads and join them on drop; a bare
//!   `Receiver` could not, and "no thread outlives the handle" would be false. Both are
//!   iterators, and `receiver()` lends the channel to `select!` or to another `merge`.
//! * **`merge` sweeps, then selects.** A `Select` over `n` inputs costs O(n) per message, so the
//!   thread sweeps the open inputs round robin with `try_recv` (a quota per input, starting one
//!   input later each sweep, which is also what keeps it fair) and parks in the `Select` only
//!   when a whole sweep found nothing.
//! * **Nothing is dropped quietly.** [`Merged::stop`] hands back the messages already taken and
//!   the inputs still connected; [`FirstK::discarded`] counts outcomes that arrived after the
//!   cutoff (mostly the cancellations it caused), rather than listing them as failures.
//! * **`par_map` is rayon's short-circuiting `collect`** with one `is_cancelled` load and a
//!   `catch_unwind` per item; the first failure in time is kept and cancels the rest.
//! * **`par_map_all` is rayon's `collect` into one `Result` per item**: nothing short-circuits,
//!   and a cancelled context turns the items not started yet into [`Failure::NotStarted`].
//! * **`first_k` gives each task its own scoped thread**, since its tasks may block and may
//!   borrow; `k == 0` runs nothing, like `take(0)`. [`first_k_limited`] runs `limit` scoped
//!   workers that take tasks in input order, and stops starting them once `k` have succeeded.
//! * The output capacities are fixed: 1024 for `merge`, 32 per worker for `fan_out`. A
//!   [`BuildError`] does not hand the receivers back: a `Receiver` is cheap to clone, so a
//!   caller who needs it afterwards keeps a clone.

mod error;
mod fan_out;
mod first_k;
mod merge;
mod par_map;
mod par_map_all;

pub use self::error::BuildError;
pub use self::fan_out::{FanOut, fan_out};
pub use self::first_k::{AllFailed, Failure, FirstK, first_k, first_k_limited, race, race_limited};
pub use self::merge::{Merged, Unmerged, merge, merge_ctx};
pub use self::par_map::{ParMapError, par_map, par_map_in};
pub use self::par_map_all::par_map_all;
