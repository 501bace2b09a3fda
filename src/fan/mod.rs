//! Fan-out and fan-in: [`merge`] many receivers into one, [`fan_out`] a receiver to `n`
//! workers, [`par_map`] a batch of CPU work on rayon, and keep the [`first_k`] successes (or the
//! first, [`race`]) of a set of tasks while cancelling the rest.
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
//! must be kept or a deadline must keep the results finished so far (a
//! [`group`](crate::group) with [`CollectAll`](crate::group::CollectAll): `par_map` stops at the
//! first error and returns no partial results), and for items through several stages (a
//! [`Pipeline`](crate::pipeline::Pipeline)).
//!
//! | helper | threads | ends when | failure |
//! |---|---|---|---|
//! | [`merge`] / [`merge_ctx`] | one, running a `Select` over every input | every input disconnected, the handle dropped or stopped, or (`merge_ctx`) the context cancelled | none: [`Merged::stop`] hands back what was not read |
//! | [`fan_out`] | `workers` | the input disconnected and drained, the handle dropped or stopped, the context cancelled, or a panic | the first panic, from [`FanOut::stop`] |
//! | [`par_map`] / [`par_map_in`] | rayon's | every item is mapped, or the first error, panic or cancel | [`ParMapError`] |
//! | [`first_k`] / [`race`] | one per task, scoped | `k` successes are in (the rest are cancelled) and every task has returned | [`FirstK::failures`], [`AllFailed`] |
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
//! * **`first_k` gives each task its own scoped thread**, since its tasks may block and may
//!   borrow; `k == 0` runs nothing, like `take(0)`.
//! * The output capacities are fixed: 1024 for `merge`, 32 per worker for `fan_out`. A
//!   [`BuildError`] does not hand the receivers back: a `Receiver` is cheap to clone, so a
//!   caller who needs it afterwards keeps a clone.

mod fan_out;
mod first_k;
mod merge;
mod par_map;

use std::fmt;
use std::io;

pub use self::fan_out::{FanOut, fan_out};
pub use self::first_k::{AllFailed, Failure, FirstK, first_k, race};
pub use self::merge::{Merged, Unmerged, merge, merge_ctx};
pub use self::par_map::{ParMapError, par_map, par_map_in};

/// The error of starting a fan helper: bad configuration, or the OS refused a thread.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan::{self, BuildError}};
///
/// let (_tx, rx) = crossbeam_channel::unbounded::<u32>();
/// let err = fan::fan_out(&Context::new(), rx, 0, |_, n: u32| n).unwrap_err();
/// assert!(matches!(err, BuildError::ZeroWorkers));
/// assert_eq!(err.to_string(), "fan_out needs at least one worker");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// [`fan_out`] was asked for zero workers.
    ZeroWorkers,
    /// A thread could not be spawned; every thread already started was stopped and joined.
    Spawn(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str("fan_out needs at least one worker"),
            BuildError::Spawn(e) => write!(f, "could not spawn a fan thread: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            BuildError::ZeroWorkers => None,
        }
    }
}
