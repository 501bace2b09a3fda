//! `par_map_all`: a parallel map that keeps every item's outcome.

use std::panic::{self, AssertUnwindSafe};

use rayon::prelude::*;

use super::first_k::Failure;
use crate::context::Context;
use crate::panic::{Panicked, drop_caught};

/// Maps every item with `f` on rayon's global pool and returns **every** item's outcome, in
/// input order: nothing is thrown away, whatever fails.
///
/// Where [`par_map`](super::par_map) stops at the first failure (and returns nothing else),
/// `par_map_all` keeps going:
///
/// * **Errors and panics** are that item's outcome ([`Failure::Error`],
///   [`Failure::Panicked`]); they cancel nothing, and every other item is still mapped.
/// * **A cancelled or timed-out `ctx`** (e.g. `ctx.with_timeout(..)` as a batch deadline)
///   stops *starting* items: each item not started yet is [`Failure::NotStarted`] with the
///   context's cause, and dropped unmapped. Items already running get the same `ctx` to check
///   and finish as they choose; every result finished before or after the deadline is kept.
/// * **Zero items** give an empty `Vec`.
///
/// Use it for a CPU batch where every error must be reported and the finished results kept;
/// for blocking work use a [`Group`](crate::group::Group) with
/// [`CollectAll`](crate::group::CollectAll) and a limit. The cost over rayon's own
/// `par_iter().map(..).collect()` is one atomic load and a `catch_unwind` per item.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, fan::{self, Failure}};
///
/// let ctx = Context::new().with_timeout(Duration::from_secs(60)); // the batch's deadline
/// let parsed = fan::par_map_all(&ctx, vec!["1", "x", "3"], |_ctx, s| s.parse::<u32>());
/// assert_eq!(parsed[0].as_ref().ok(), Some(&1));
/// assert!(matches!(parsed[1], Err(Failure::Error(_)))); // "x" is reported ...
/// assert_eq!(parsed[2].as_ref().ok(), Some(&3)); // ... and "3" still mapped
///
/// let (ok, failed): (Vec<_>, Vec<_>) = parsed.into_iter().partition(Result::is_ok);
/// assert_eq!((ok.len(), failed.len()), (2, 1));
/// ```
pub fn par_map_all<I, T, U, E, F>(ctx: &Context, items: I, f: F) -> Vec<Result<U, Failure<E>>>
where
    I: IntoParallelIterator<Item = T>,
    I::Iter: IndexedParallelIterator,
    U: Send,
    E: Send,
    F: Fn(&Context, T) -> Result<U, E> + Sync + Send,
{
    items
        .into_par_iter()
        .map(|item| {
            if let Err(cancelled) = ctx.check() {
                // The item is a user value: its `Drop` may panic.
                return Err(match drop_caught(item) {
                    Ok(()) => Failure::NotStarted(cancelled),
                    Err(panicked) => Failure::Panicked(panicked),
                });
            }
            match panic::catch_unwind(AssertUnwindSafe(|| f(ctx, item))) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(Failure::Error(error)),
                Err(payload) => Err(Failure::Panicked(Panicked::from_payload(payload))),
            }
        })
        .collect()
}
