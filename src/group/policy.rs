//! Error policies. Each policy is its own type, so the error a group returns has the shape its
//! policy promises (conc's "change the type" rule) instead of one enum with variants that a
//! given policy can never produce.

use std::fmt::Debug;

use super::error::{Error, Failures};

mod sealed {
    pub trait Sealed {}
}

/// How a group reacts to its tasks' results, and what it returns: [`FailFast`] (the default),
/// [`CollectAll`], [`FirstSuccess`], [`FailFastCollect`] or [`RunAll`]. Sealed: these policies
/// are the whole set.
///
/// | policy | an error cancels | a panic cancels | first `Ok` cancels | `run`'s error |
/// |---|---|---|---|---|
/// | [`FailFast`] (errgroup) | yes | yes | no | the first [`Error`] |
/// | [`FailFastCollect`] (conc `WithCancelOnError`) | yes | yes | no | every failure, [`Failures`] |
/// | [`CollectAll`] | no | yes | no | every failure, [`Failures`] |
/// | [`RunAll`] (conc `WaitGroup`) | no | no | no | every failure, [`Failures`] |
/// | [`FirstSuccess`] (a race) | no | yes | yes | every failure, if none succeeded |
///
/// Whatever the policy, `run` returns only after every task has ended. Cancelling the caller's
/// context (or the group's, through [`Scope::context`](crate::group::Scope::context)) stops
/// every group.
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
    /// Whether a task's panic cancels the group.
    #[doc(hidden)]
    const CANCEL_ON_PANIC: bool = true;

    /// Turns what the group recorded into its result. `cancelled_by` is the index of the task
    /// whose failure cancelled the group, if one did.
    #[doc(hidden)]
    fn finish<E>(
        failures: Vec<Error<E>>,
        any_success: bool,
        cancelled_by: Option<usize>,
    ) -> Result<(), Self::Error<E>>;
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

/// Fail fast *and* report every failure (conc's `WithCancelOnError` with its errors
/// collected): the first error or panic cancels the group's context at once, as under
/// [`FailFast`], and `run` returns every failure as [`Failures`], in task index order: the one
/// that cancelled the group ([`Failures::cancelled_by`]), what the other tasks returned once
/// cancelled, and the tasks that never started ([`Error::NotStarted`]).
///
/// # Examples
///
/// ```
/// use homebound::{Context, group::{FailFastCollect, Group}};
///
/// let group = Group::builder().policy(FailFastCollect).build().unwrap();
/// let failures = group
///     .run(&Context::new(), |g| {
///         g.spawn_named("db", |_ctx| Err::<(), _>("connection refused".to_string()));
///         g.spawn_named("cache", |ctx| Err::<(), _>(format!("gave up: {}", ctx.wait())));
///     })
///     .unwrap_err();
/// assert_eq!(failures.len(), 2); // both errors, not only the first
/// assert_eq!(failures.cancelled_by().unwrap().task().name(), Some("db"));
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FailFastCollect;

/// Run everything, cancel nothing (conc's `WaitGroup`): neither an error nor a panic cancels
/// the group, so every accepted task runs to its end, and `run` returns every failure, panics
/// included, as [`Failures`] once all have ended. With
/// [`resume_panics(true)`](crate::group::Builder::resume_panics) the first panic is re-raised
/// instead, after every task has ended (conc's `Wait`).
///
/// Unlike [`CollectAll`], a panic does not stop the others. Only the caller's context (a
/// deadline, a shutdown) or a panic of the group's closure itself cancels a `RunAll` group; to
/// have even then every accepted task run, add
/// [`run_accepted(true)`](crate::group::Builder::run_accepted).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use homebound::{Context, group::{Group, RunAll}};
///
/// let ran = AtomicUsize::new(0);
/// let group = Group::builder().policy(RunAll).limit(2).build().unwrap();
/// let failures = group
///     .run(&Context::new(), |g| {
///         for i in 0..10 {
///             let ran = &ran;
///             g.execute(move |_ctx| {
///                 ran.fetch_add(1, Ordering::Relaxed);
///                 if i == 0 { panic!("task 0 broke"); }
///                 Ok::<_, ()>(())
///             });
///         }
///     })
///     .unwrap_err();
/// assert_eq!(ran.into_inner(), 10); // the panic stopped nothing
/// assert!(failures.iter().next().unwrap().is_panicked());
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RunAll;

impl sealed::Sealed for FailFast {}
impl sealed::Sealed for CollectAll {}
impl sealed::Sealed for FirstSuccess {}
impl sealed::Sealed for FailFastCollect {}
impl sealed::Sealed for RunAll {}

impl Policy for FailFast {
    type Error<E> = Error<E>;
    const CANCEL_ON_ERROR: bool = true;
    const CANCEL_ON_SUCCESS: bool = false;
    const KEEP_ALL: bool = false;

    fn finish<E>(failures: Vec<Error<E>>, _: bool, _: Option<usize>) -> Result<(), Error<E>> {
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

    fn finish<E>(
        failures: Vec<Error<E>>,
        _: bool,
        cancelled_by: Option<usize>,
    ) -> Result<(), Failures<E>> {
        every_failure(failures, cancelled_by)
    }
}

impl Policy for FailFastCollect {
    type Error<E> = Failures<E>;
    const CANCEL_ON_ERROR: bool = true;
    const CANCEL_ON_SUCCESS: bool = false;
    const KEEP_ALL: bool = true;

    fn finish<E>(
        failures: Vec<Error<E>>,
        _: bool,
        cancelled_by: Option<usize>,
    ) -> Result<(), Failures<E>> {
        every_failure(failures, cancelled_by)
    }
}

impl Policy for RunAll {
    type Error<E> = Failures<E>;
    const CANCEL_ON_ERROR: bool = false;
    const CANCEL_ON_SUCCESS: bool = false;
    const KEEP_ALL: bool = true;
    const CANCEL_ON_PANIC: bool = false;

    fn finish<E>(
        failures: Vec<Error<E>>,
        _: bool,
        cancelled_by: Option<usize>,
    ) -> Result<(), Failures<E>> {
        every_failure(failures, cancelled_by)
    }
}

/// `Ok` when nothing failed, otherwise every failure.
fn every_failure<E>(
    failures: Vec<Error<E>>,
    cancelled_by: Option<usize>,
) -> Result<(), Failures<E>> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failures::new(failures, cancelled_by))
    }
}

impl Policy for FirstSuccess {
    type Error<E> = Failures<E>;
    const CANCEL_ON_ERROR: bool = false;
    const CANCEL_ON_SUCCESS: bool = true;
    const KEEP_ALL: bool = true;

    fn finish<E>(
        failures: Vec<Error<E>>,
        any_success: bool,
        cancelled_by: Option<usize>,
    ) -> Result<(), Failures<E>> {
        let panicked = failures.iter().any(Error::is_panicked);
        if failures.is_empty() || (any_success && !panicked) {
            Ok(())
        } else {
            Err(Failures::new(failures, cancelled_by))
        }
    }
}
