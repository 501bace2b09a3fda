//! `par_map`: an order-preserving, cancel-aware, panic-safe parallel map on rayon.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::context::Cancelled;
use crate::context::Context;
use crate::panic::{Panicked, drop_quietly};

/// Maps every item with `f` on rayon's global pool and returns the results in input order, or
/// the first failure.
///
/// * **Context:** `f` gets a child of `ctx`. Long items can call
///   [`check`](Context::check) to stop early.
/// * **First failure cancels the rest:** the first `Err` or panic (first in time, not in input
///   order) cancels the child context; items not yet started are skipped (each item starts with
///   one atomic load of the cancel flag), and items already running finish. A panic is caught
///   with its message; it never unwinds into the caller. If `ctx` itself is cancelled, the
///   result is [`ParMapError::Cancelled`].
/// * **Items that are skipped** are dropped without being mapped.
/// * **To keep every result** (every error, and what finished before a deadline), use
///   [`par_map_all`](super::par_map_all) instead.
/// * **CPU work only.** rayon's threads are few and shared; a closure that blocks (sleeps, waits
///   on channels or locks, does I/O) starves every other user of the pool. Give blocking work to
///   [`fan_out`](super::fan_out), [`first_k`](super::first_k) or a worker pool.
///
/// The overhead over rayon's own `par_iter().map(..).collect()` is one atomic load and a
/// `catch_unwind` per item, and rayon's short-circuiting collect; see `BENCHMARKS.md`.
///
/// # Errors
///
/// [`ParMapError::Failed`] with the first error and its item's index, [`ParMapError::Panicked`]
/// with the first panic, or [`ParMapError::Cancelled`] when `ctx` was cancelled before every
/// item was mapped.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan::{self, ParMapError}};
///
/// let ctx = Context::new();
/// let squares = fan::par_map(&ctx, vec![1u64, 2, 3], |_ctx, n| Ok::<_, String>(n * n));
/// assert_eq!(squares.unwrap(), [1, 4, 9]);
///
/// let parsed = fan::par_map(&ctx, vec!["1", "x", "3"], |_ctx, s| s.parse::<u32>());
/// assert!(matches!(parsed, Err(ParMapError::Failed { index: 1, .. })));
/// ```
pub fn par_map<I, T, U, E, F>(ctx: &Context, items: I, f: F) -> Result<Vec<U>, ParMapError<E>>
where
    I: IntoParallelIterator<Item = T>,
    I::Iter: IndexedParallelIterator,
    U: Send,
    E: Send,
    F: Fn(&Context, T) -> Result<U, E> + Sync + Send,
{
    let child = ctx.child();
    let first: Mutex<Option<ParMapError<E>>> = Mutex::new(None);
    let fail = |failure: ParMapError<E>| {
        let rejected = {
            let mut slot = first.lock();
            if slot.is_none() {
                *slot = Some(failure);
                None
            } else {
                Some(failure)
            }
        };
        child.cancel();
        drop_quietly(rejected);
        Skip
    };
    let mapped: Result<Vec<U>, Skip> = items
        .into_par_iter()
        .enumerate()
        .map(|(index, item)| {
            if child.is_cancelled() {
                // A user value: its `Drop` may panic, which must not unwind through rayon.
                drop_quietly(item);
                return Err(Skip);
            }
            match panic::catch_unwind(AssertUnwindSafe(|| f(&child, item))) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(fail(ParMapError::Failed { index, error })),
                Err(payload) => Err(fail(ParMapError::Panicked {
                    index,
                    panic: Panicked::from_payload(payload),
                })),
            }
        })
        .collect();
    match (mapped, first.into_inner()) {
        (Ok(values), _) => Ok(values),
        (Err(Skip), Some(failure)) => Err(failure),
        // Nothing failed, so the skip came from the caller's context.
        (Err(Skip), None) => Err(ParMapError::Cancelled(
            ctx.check().err().unwrap_or_else(|| child_cancelled(&child)),
        )),
    }
}

/// Like [`par_map`], on `pool` instead of rayon's global pool.
///
/// # Errors
///
/// As for [`par_map`].
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan};
///
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// let lens = fan::par_map_in(&pool, &Context::new(), vec!["a", "bb"], |_, s| {
///     Ok::<_, std::convert::Infallible>(s.len())
/// });
/// assert_eq!(lens.unwrap(), [1, 2]);
/// ```
pub fn par_map_in<I, T, U, E, F>(
    pool: &rayon::ThreadPool,
    ctx: &Context,
    items: I,
    f: F,
) -> Result<Vec<U>, ParMapError<E>>
where
    I: IntoParallelIterator<Item = T> + Send,
    I::Iter: IndexedParallelIterator,
    U: Send,
    E: Send,
    F: Fn(&Context, T) -> Result<U, E> + Sync + Send,
{
    pool.install(|| par_map(ctx, items, f))
}

/// Marker error that makes rayon's `Result` collect short-circuit; the real failure is kept aside.
#[derive(Debug)]
struct Skip;

/// The cancellation error of a child whose parent was cancelled (the parent's cause is inherited).
fn child_cancelled(child: &Context) -> Cancelled {
    child
        .check()
        .err()
        .unwrap_or_else(|| Cancelled::new(crate::Cause::Cancelled))
}

/// Why [`par_map`] returned no results.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan::{self, ParMapError}};
///
/// let err = fan::par_map(&Context::new(), vec![1, 2], |_, n: i32| {
///     if n == 2 { panic!("bad item {n}") }
///     Ok::<_, String>(n)
/// })
/// .unwrap_err();
/// assert!(matches!(&err, ParMapError::Panicked { index: 1, panic } if panic.message() == "bad item 2"));
/// assert!(err.to_string().contains("item 1 panicked"));
/// ```
#[non_exhaustive]
pub enum ParMapError<E> {
    /// The closure returned an error: the first one, with its item's position.
    Failed {
        /// The position of the item in the input.
        index: usize,
        /// The closure's error.
        error: E,
    },
    /// The closure panicked: the first panic, with its item's position.
    Panicked {
        /// The position of the item in the input.
        index: usize,
        /// The panic, with its message and thread.
        panic: Panicked,
    },
    /// The caller's context was cancelled before every item was mapped.
    Cancelled(Cancelled),
}

impl<E> ParMapError<E> {
    /// The index of the item that failed or panicked (`None` for a cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let err = fan::par_map(&Context::new(), vec![1, 2, 3], |_, n: i32| {
    ///     if n == 3 { Err("odd one out") } else { Ok(n) }
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.index(), Some(2)); // the position of the failing item
    /// ```
    pub fn index(&self) -> Option<usize> {
        match self {
            ParMapError::Failed { index, .. } | ParMapError::Panicked { index, .. } => Some(*index),
            ParMapError::Cancelled(_) => None,
        }
    }

    /// The closure's error, if that is what stopped the map.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let err = fan::par_map(&Context::new(), vec!["1", "x"], |_, s: &str| s.parse::<u8>())
    ///     .unwrap_err();
    /// assert!(err.into_error().is_some()); // the closure's own ParseIntError
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self {
            ParMapError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for ParMapError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParMapError::Failed { index, error } => f
                .debug_struct("Failed")
                .field("index", index)
                .field("error", error)
                .finish(),
            ParMapError::Panicked { index, panic } => f
                .debug_struct("Panicked")
                .field("index", index)
                .field("panic", panic)
                .finish(),
            ParMapError::Cancelled(c) => f.debug_tuple("Cancelled").field(c).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for ParMapError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParMapError::Failed { index, error } => write!(f, "item {index} failed: {error}"),
            ParMapError::Panicked { index, panic } => {
                write!(f, "item {index} panicked: {}", panic.message())
            }
            ParMapError::Cancelled(c) => c.fmt(f),
        }
    }
}

impl<E> std::error::Error for ParMapError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParMapError::Failed { error, .. } => Some(error),
            ParMapError::Panicked { panic, .. } => Some(panic),
            ParMapError::Cancelled(c) => Some(c),
        }
    }
}
