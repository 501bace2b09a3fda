//! [`Delivery`], its acknowledgement token [`Ack`], and [`Failed`].
//!
//! # When an entry counts as handled
//!
//! An entry is acknowledged once its last [`Ack`] is dropped **in a healthy run**: written by a
//! sink, filtered out, flat-mapped to nothing, or failed under `Skip`/`Collect` (inside a
//! [`Failed`]). An `Ack` dropped while its thread panics, or after the run's context was
//! cancelled (a failure, a panic, a cancel, an early end of the output iterator), or explicitly
//! [`abandon`](Ack::abandon)ed, leaves the entry pending: Redis delivers it again later.
//!
//! Why drop-based: the pipeline drops a filtered item, a skipped error and a written batch at
//! the moment it is done with them, on whichever thread that happens, and it cancels the run
//! before it drops anything for any other reason. The token only has to look at the run.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use super::ledger::Ledger;
use crate::context::Context;

/// The acknowledgement token of one stream entry: the entry is acknowledged when the last
/// clone of its `Ack` is dropped in a healthy run (see [`Delivery`]).
///
/// Clones share one entry: after [`Delivery::flat_map`], the entry counts as handled when
/// every part is.
///
/// # Examples
///
/// ```
/// use homebound::redis::Delivery;
///
/// let (value, ack) = Delivery::detached("job").into_parts();
/// assert_eq!(value, "job");
/// ack.abandon(); // stays pending: Redis will deliver it again
/// ```
pub struct Ack(Arc<Token>);

/// What every clone of an [`Ack`] shares.
struct Token {
    /// The entry's stream ID (taken by the last drop).
    id: String,
    /// The run the entry was handed to: once it is cancelled, no drop counts as handled.
    run: Context,
    ledger: Arc<Ledger>,
    /// Set when a clone was dropped while panicking or after the run was cancelled, or was
    /// abandoned: the entry stays pending whatever the other clones do.
    spoiled: AtomicBool,
    /// The run never took the entry (it stopped while the reader offered it).
    unstarted: AtomicBool,
}

impl Ack {
    pub(super) fn new(id: String, run: Context, ledger: Arc<Ledger>) -> Ack {
        Ack(Arc::new(Token {
            id,
            run,
            ledger,
            spoiled: AtomicBool::new(false),
            unstarted: AtomicBool::new(false),
        }))
    }

    /// The run stopped before taking the entry: it stays pending, counted as unstarted.
    pub(super) fn unstarted(self) {
        self.0.unstarted.store(true, Ordering::Relaxed);
        self.abandon();
    }

    /// The entry's stream ID.
    ///
    /// ```
    /// let d = homebound::redis::Delivery::detached(7);
    /// assert_eq!(d.id(), "0-0");
    /// ```
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Gives the entry up: it stays pending in Redis and will be delivered again (to this
    /// consumer or another) once it has been idle for the claim time, counting one more
    /// delivery. Use it for "retry later"; after
    /// [`max_deliveries`](super::Builder::max_deliveries) it goes to the dead-letter stream.
    ///
    /// ```
    /// let (_, ack) = homebound::redis::Delivery::detached(()).into_parts();
    /// ack.abandon();
    /// ```
    pub fn abandon(self) {
        self.0.spoiled.store(true, Ordering::Relaxed);
    }
}

impl Clone for Ack {
    fn clone(&self) -> Self {
        Ack(Arc::clone(&self.0))
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if thread::panicking() || self.0.run.is_cancelled() {
            self.0.spoiled.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        // The last clone is gone (the Arc's release/acquire orders every `spoiled` store
        // before this load).
        let id = std::mem::take(&mut self.id);
        if self.unstarted.load(Ordering::Relaxed) {
            return self.ledger.release(&id);
        }
        let handled = !self.spoiled.load(Ordering::Relaxed)
            && !thread::panicking()
            && !self.run.is_cancelled();
        self.ledger.resolve(id, handled);
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ack").field(&self.0.id).finish()
    }
}

/// A value that stands for one stream entry, with the entry's acknowledgement token.
///
/// A [`Consumer`](super::Consumer)'s pipeline yields `Delivery<Entry>`; keep the token with the
/// value through the stages with [`map`](Delivery::map), [`try_map`](Delivery::try_map) and
/// [`flat_map`](Delivery::flat_map) (your closures see only the value). The entry is
/// acknowledged when the delivery is dropped in a healthy run: after your sink wrote it, or
/// when a `filter` drops it. A delivery dropped by a cancelled or failed run, or while a
/// thread panics, leaves its entry pending.
///
/// `Delivery<T>` derefs to `T`.
///
/// # Examples
///
/// ```
/// use homebound::redis::{Delivery, Failed};
///
/// let d = Delivery::detached("42");
/// let parsed: Result<Delivery<u32>, Failed<_>> = d.try_map(|s| s.parse::<u32>());
/// let doubled = parsed.unwrap().map(|n| n * 2);
/// assert_eq!(*doubled, 84);
/// ```
pub struct Delivery<T> {
    value: T,
    ack: Ack,
}

impl<T> Delivery<T> {
    /// Puts a value and a token together (the inverse of [`into_parts`](Delivery::into_parts)).
    ///
    /// ```
    /// use homebound::redis::Delivery;
    ///
    /// let (n, ack) = Delivery::detached(1).into_parts();
    /// let d = Delivery::new(n + 1, ack);
    /// assert_eq!(*d, 2);
    /// ```
    pub fn new(value: T, ack: Ack) -> Self {
        Delivery { value, ack }
    }

    /// A delivery with no consumer behind it: its token acknowledges nothing. For testing
    /// stage functions without Redis. Its ID is `0-0`.
    ///
    /// ```
    /// let d = homebound::redis::Delivery::detached(String::from("line"));
    /// assert_eq!(d.len(), 4);
    /// ```
    pub fn detached(value: T) -> Self {
        let ack = Ack::new("0-0".to_string(), Context::new(), Arc::default());
        Delivery { value, ack }
    }

    /// The entry's stream ID.
    ///
    /// ```
    /// assert_eq!(homebound::redis::Delivery::detached(()).id(), "0-0");
    /// ```
    pub fn id(&self) -> &str {
        self.ack.id()
    }

    /// Transforms the value; the token moves to the result.
    ///
    /// ```
    /// let d = homebound::redis::Delivery::detached(3).map(|n| n * 10);
    /// assert_eq!(*d, 30);
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Delivery<U> {
        let Delivery { value, ack } = self;
        Delivery {
            value: f(value),
            ack,
        }
    }

    /// Transforms the value with a fallible `f`. On `Err` the token travels inside the
    /// [`Failed`], so the pipeline's error policy decides the entry's fate: skipped or collected
    /// means handled (acknowledged); a fail-fast error fails the run and leaves it pending.
    ///
    /// Return this from a `try_map` stage rather than dropping the delivery inside your
    /// closure: a delivery dropped there would count as handled even under `FailFast`.
    ///
    /// ```
    /// use homebound::redis::Delivery;
    ///
    /// let bad = Delivery::detached("x").try_map(|s| s.parse::<u8>()).unwrap_err();
    /// assert_eq!(bad.id(), "0-0");
    /// assert_eq!(bad.to_string(), "entry 0-0: invalid digit found in string");
    /// ```
    pub fn try_map<U, E>(
        self,
        f: impl FnOnce(T) -> Result<U, E>,
    ) -> Result<Delivery<U>, Failed<E>> {
        let Delivery { value, ack } = self;
        match f(value) {
            Ok(value) => Ok(Delivery { value, ack }),
            Err(error) => Err(Failed { error, ack }),
        }
    }

    /// Replaces the value with several; each part carries a clone of the token, and the entry
    /// counts as handled when every part is (at once, if there are none).
    ///
    /// ```
    /// let parts = homebound::redis::Delivery::detached("a b c")
    ///     .flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>());
    /// assert_eq!(parts.len(), 3);
    /// assert!(parts.iter().all(|p| p.id() == "0-0"));
    /// ```
    pub fn flat_map<U, I>(self, f: impl FnOnce(T) -> I) -> Vec<Delivery<U>>
    where
        I: IntoIterator<Item = U>,
    {
        let Delivery { value, ack } = self;
        f(value)
            .into_iter()
            .map(|value| Delivery {
                value,
                ack: ack.clone(),
            })
            .collect()
    }

    /// Gives the entry up and returns the value: the entry stays pending and will be delivered
    /// again (see [`Ack::abandon`]).
    ///
    /// ```
    /// let value = homebound::redis::Delivery::detached(5).abandon();
    /// assert_eq!(value, 5);
    /// ```
    pub fn abandon(self) -> T {
        self.ack.abandon();
        self.value
    }

    /// Splits the delivery; the entry is acknowledged when the [`Ack`] is dropped (in a healthy
    /// run).
    ///
    /// ```
    /// let (value, _ack) = homebound::redis::Delivery::detached('x').into_parts();
    /// assert_eq!(value, 'x');
    /// ```
    pub fn into_parts(self) -> (T, Ack) {
        (self.value, self.ack)
    }
}

impl<T> Deref for Delivery<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Delivery<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id())
            .field("value", &self.value)
            .finish()
    }
}

/// The error of [`Delivery::try_map`]: your error, with the entry's token. Its `Debug` does not
/// need `E: Debug`.
///
/// Dropped in a healthy run (a `Skip` or `Collect` policy) it acknowledges the entry; kept by
/// a fail-fast run's error, it is dropped after the run was cancelled and leaves the entry
/// pending.
///
/// # Examples
///
/// ```
/// use homebound::redis::Delivery;
///
/// let failed = Delivery::detached("-1").try_map(|s| s.parse::<u8>()).unwrap_err();
/// assert_eq!(failed.error().to_string(), "invalid digit found in string");
/// let retry_later = failed.abandon(); // or into_error(), which counts the entry as handled
/// # let _ = retry_later;
/// ```
pub struct Failed<E> {
    error: E,
    ack: Ack,
}

impl<E> Failed<E> {
    /// The entry's stream ID.
    ///
    /// ```
    /// let f = homebound::redis::Delivery::detached(()).try_map(|()| Err::<(), _>("no")).unwrap_err();
    /// assert_eq!(f.id(), "0-0");
    /// ```
    pub fn id(&self) -> &str {
        self.ack.id()
    }

    /// Your error.
    ///
    /// ```
    /// let f = homebound::redis::Delivery::detached(()).try_map(|()| Err::<(), _>("no")).unwrap_err();
    /// assert_eq!(*f.error(), "no");
    /// ```
    pub fn error(&self) -> &E {
        &self.error
    }

    /// Your error; the token is dropped, so the entry counts as handled (in a healthy run).
    ///
    /// ```
    /// let f = homebound::redis::Delivery::detached(()).try_map(|()| Err::<(), _>("no")).unwrap_err();
    /// assert_eq!(f.into_error(), "no");
    /// ```
    pub fn into_error(self) -> E {
        self.error
    }

    /// Your error; the entry stays pending, to be delivered again (see [`Ack::abandon`]).
    ///
    /// ```
    /// let f = homebound::redis::Delivery::detached(()).try_map(|()| Err::<(), _>("no")).unwrap_err();
    /// assert_eq!(f.abandon(), "no");
    /// ```
    pub fn abandon(self) -> E {
        self.ack.abandon();
        self.error
    }
}

impl<E> fmt::Debug for Failed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failed")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl<E: fmt::Display> fmt::Display for Failed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}: {}", self.id(), self.error)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Failed<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
