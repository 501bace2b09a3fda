//! Error policies. Each policy is its own type, so the error a group returns has the shape its
//! policy promises (conc's "change the type" rule) instead of one enum with variants that a
//! given policy can never produce.

use std::fmt::Debug;

use super::error::{Error, Failures};

mod sealed {
    pub trait Sealed {}
}

/// How a group reacts to its tasks' results, and what it returns: [`FailFast`] (the default),
/// [`CollectAll`] or [`FirstSuccess`]. Sealed: the three policies are the whole set.
///
/// Whatever the policy, a panicking task cancels the group at once, and `run` returns only after
/// every task has ended.
pub trait Policy: sealed::Sealed + Copy + Debug + Send + Sync + 'static {
    /// The error `run` returns under this policy.
    type Error<E>;

    /// Whether an `Err` cancels the group.
    #[doc(hidden)]
    const CANCEL_ON_ERROR: bool;
    /// Whether the first `Ok` cancels the group.
    #[doc(hidden)]
    const CANCEL_ON_SUCCESS: bool;
    /// Whether every failure is kept (otherwise only the first, plus the first panic).
    #[doc(hidden)]
    const KEEP_ALL: bool;

    /// Turns what the group recorded into its result.
    #[doc(hidden)]
    fn finish<E>(failures: Vec<Error<E>>, any_success: bool) -> Result<(), Self::Error<E>>;
}

/// The default policy (errgroup's): the first error or panic cancels the group's context at
/// once, and `run` returns that first failure as a [`Error`](super::Error) after every task has ended.
/// Later failures (usually consequences of the cancellation) are dropped.
///
/// # Examples
///
/// ```
/// use homebound::{Context, group, scope};
///
/// let err = scope(&Context::new(), |g| {
///     g.spawn(|_ctx| Err::<(), _>("first"));
///     g.spawn(|ctx| { ctx.wait(); Err::<(), _>("cancelled") }); // woken by the first error
/// })
/// .unwrap_err();
/// assert!(matches!(err, group::Error::Failed { error: "first", .. }));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FailFast;

/// Every task runs to its end (errors do not cancel; panics still do), and `run` returns every
/// failure as [`Failures`], in task index order, even when there is only one.
///
/// # Examples
///
/// ```
/// use homebound::{group::CollectAll, Context, group::Group};
///
/// let group = Group::builder().policy(CollectAll).build().unwrap();
/// let failures = group
///     .run(&Context::new(), |g| {
///         g.spawn(|_ctx| Err::<(), _>("a"));
///         g.spawn(|_ctx| Err::<(), _>("b"));
///     })
///     .unwrap_err();
/// assert_eq!(failures.len(), 2);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CollectAll;

/// A race: the first `Ok` cancels the group, and `run` succeeds if some task succeeded and none
/// panicked. Otherwise it returns every failure as [`Failures`]. The winner's
/// [`TaskHandle::is_winner`](crate::group::TaskHandle::is_winner) is `true`. A group with no tasks
/// succeeds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, group::FirstSuccess, group::Group};
///
/// let group = Group::builder().policy(FirstSuccess).build().unwrap();
/// let (slow, fast) = group
///     .run(&Context::new(), |g| {
///         let slow = g.spawn(|ctx| {
///             ctx.sleep(Duration::from_secs(30)).map_err(|_| "lost")?;
///             Ok::<_, &str>("slow")
///         });
///         let fast = g.spawn(|_ctx| Ok("fast"));
///         (slow, fast)
///     })
///     .unwrap();
/// assert!(fast.is_winner());
/// assert_eq!(fast.join().unwrap(), "fast");
/// assert!(slow.join().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstSuccess;

impl sealed::Sealed for FailFast {}
impl sealed::Sealed for CollectAll {}
impl sealed::Sealed for FirstSuccess {}

impl Policy for FailFast {
    type Error<E> = Error<E>;
    const CANCEL_ON_ERROR: bool = true;
    const CANCEL_ON_SUCCESS: bool = false;
    const KEEP_ALL: bool = false;

    fn finish<E>(failures: Vec<Error<E>>, _: bool) -> Result<(), Error<E>> {
        match failures.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }
}

impl Policy for CollectAll {
    type Error<E> = Failures<E>;
    const CANCEL_ON_ERROR: bool = false;
    const CANCEL_ON_SUCCESS: bool = false;
    const KEEP_ALL: bool = true;

    fn finish<E>(failures: Vec<Error<E>>, _: bool) -> Result<(), Failures<E>> {
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Failures::new(failures))
        }
    }
}

impl Policy for FirstSuccess {
    type Error<E> = Failures<E>;
    const CANCEL_ON_ERROR: bool = false;
    const CANCEL_ON_SUCCESS: bool = true;
    const KEEP_ALL: bool = true;

    fn finish<E>(failures: Vec<Error<E>>, any_success: bool) -> Result<(), Failures<E>> {
        let panicked = failures.iter().any(Error::is_panicked);
        if failures.is_empty() || (any_success && !panicked) {
            Ok(())
        } else {
            Err(Failures::new(failures))
        }
    }
}
