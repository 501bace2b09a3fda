//! What a group reports: how one task failed, every failure, `try_spawn` and configuration
//! errors.

use std::fmt;
use std::io;

use crate::context::Cancelled;
use crate::panic::Panicked;
use crate::task::TaskInfo;

/// How one task of a group failed. A [`FailFast`](crate::group::FailFast) group returns the first of
/// these; [`CollectAll`](crate::group::CollectAll) and [`FirstSuccess`](crate::group::FirstSuccess) groups
/// return all of them as [`Failures`].
///
/// # Examples
///
/// ```
/// use homebound::{Context, group, scope};
///
/// let ctx = Context::new();
/// let err = scope(&ctx, |g| {
///     g.spawn_named("parse", |_ctx| Err::<(), _>("bad header"));
/// })
/// .unwrap_err();
/// assert!(matches!(&err, group::Error::Failed { error, .. } if *error == "bad header"));
/// assert_eq!(err.task().name(), Some("parse"));
/// assert_eq!(err.to_string(), "task 'parse' (#0) failed: bad header");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// The task returned `Err(error)`.
    Failed {
        /// The task.
        task: TaskInfo,
        /// What it returned.
        error: E,
    },
    /// The task panicked; the panic was caught after it unwound the task.
    Panicked {
        /// The task (its [`location`](TaskInfo::location) is the spawn site).
        task: TaskInfo,
        /// The message, the thread's name and the payload ([`Panicked::resume`] re-raises it).
        panic: Panicked,
    },
    /// The task never started: the group was cancelled (or had ended) before it could.
    NotStarted {
        /// The task.
        task: TaskInfo,
        /// Why the group was cancelled.
        cause: Cancelled,
    },
    /// The task never started: the OS refused to create a thread for it.
    Spawn {
        /// The task.
        task: TaskInfo,
        /// The OS error.
        error: io::Error,
    },
}

impl<E> Error<E> {
    /// The task that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let err = scope(&Context::new(), |g| {
    ///     g.spawn(|_ctx| Ok::<_, &str>(()));
    ///     g.spawn_named("fetch", |_ctx| Err::<(), _>("timeout"));
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.task().name(), Some("fetch"));
    /// assert_eq!(err.task().index(), 1); // the second task spawned
    /// ```
    pub fn task(&self) -> &TaskInfo {
        match self {
            Error::Failed { task, .. }
            | Error::Panicked { task, .. }
            | Error::NotStarted { task, .. }
            | Error::Spawn { task, .. } => task,
        }
    }

    /// The task's own error, if it returned one.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let err = scope(&Context::new(), |g| {
    ///     g.spawn(|_ctx| Err::<(), _>(404));
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.into_error(), Some(404)); // the task's own error, by value
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self {
            Error::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let err = scope(&Context::new(), |g| {
    ///     g.spawn(|_ctx| -> Result<(), ()> { panic!("index out of range") });
    /// })
    /// .unwrap_err();
    /// assert!(err.is_panicked());
    /// assert!(err.into_error().is_none()); // a panic is not the task's own error
    /// ```
    pub fn is_panicked(&self) -> bool {
        matches!(self, Error::Panicked { .. })
    }

    /// Whether the task never started (the group was cancelled or had ended first).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{CollectAll, Group}};
    ///
    /// let group = Group::builder().policy(CollectAll).build().unwrap();
    /// let failures = group
    ///     .run(&Context::new(), |g| {
    ///         g.spawn(|_ctx| Err::<(), _>("fatal"));
    ///         g.context().cancel(); // as a failing fail-fast task would
    ///         g.spawn(|_ctx| Ok(())); // too late: never runs
    ///     })
    ///     .unwrap_err();
    /// let last = failures.iter().last().unwrap();
    /// assert_eq!(last.task().index(), 1);
    /// assert!(last.is_not_started());
    /// ```
    pub fn is_not_started(&self) -> bool {
        matches!(self, Error::NotStarted { .. })
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed { task, error } => write!(f, "{task} failed: {error}"),
            Error::Panicked { task, panic } => {
                write!(f, "{task} spawned at {} {panic}", task.location())
            }
            Error::NotStarted { task, cause } => write!(f, "{task} was not started: {cause}"),
            Error::Spawn { task, error } => {
                write!(
                    f,
                    "{task} was not started: spawning its thread failed: {error}"
                )
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Failed { error, .. } => Some(error),
            Error::Panicked { panic, .. } => Some(panic),
            Error::NotStarted { cause, .. } => Some(cause),
            Error::Spawn { error, .. } => Some(error),
        }
    }
}

/// Every failure of a [`CollectAll`](crate::group::CollectAll) or
/// [`FirstSuccess`](crate::group::FirstSuccess) group, in task index order. Never empty, and always
/// this shape, even when only one task failed.
///
/// # Examples
///
/// ```
/// use homebound::{group::CollectAll, Context, group::Group};
///
/// let group = Group::builder().policy(CollectAll).build().unwrap();
/// let failures = group
///     .run(&Context::new(), |g| {
///         for i in 0..4 {
///             g.spawn(move |_ctx| if i % 2 == 0 { Err(i) } else { Ok(()) });
///         }
///     })
///     .unwrap_err();
/// let failed: Vec<usize> = failures.iter().map(|f| f.task().index()).collect();
/// assert_eq!(failed, [0, 2]);
/// ```
#[derive(Debug)]
pub struct Failures<E> {
    failures: Vec<Error<E>>,
    /// Where the failure that cancelled the group is in `failures`.
    cancelled_by: Option<usize>,
}

impl<E> Failures<E> {
    /// `cancelled_by` is the position in `failures` (as recorded) of the failure that cancelled
    /// the group.
    pub(crate) fn new(failures: Vec<Error<E>>, cancelled_by: Option<usize>) -> Self {
        let mut tagged: Vec<(usize, Error<E>)> = failures.into_iter().enumerate().collect();
        tagged.sort_by_key(|(_, f)| f.task().index()); // stable: one task's failures keep their order
        let cancelled_by = cancelled_by.and_then(|at| tagged.iter().position(|(p, _)| *p == at));
        Failures {
            failures: tagged.into_iter().map(|(_, f)| f).collect(),
            cancelled_by,
        }
    }

    /// The failure that cancelled the group, if one did: the root cause among what are often
    /// its consequences (tasks that returned an error because they were cancelled, or never
    /// started). `None` when no failure cancelled the group (a [`CollectAll`] group's errors,
    /// a [`RunAll`](crate::group::RunAll) group, or a group stopped by the caller's context).
    ///
    /// [`CollectAll`]: crate::group::CollectAll
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{FailFastCollect, Group}};
    ///
    /// let group = Group::builder().policy(FailFastCollect).limit(1).build().unwrap();
    /// let failures = group
    ///     .run(&Context::new(), |g| {
    ///         g.spawn_named("first", |_ctx| Err::<(), _>("disk full"));
    ///         g.spawn_named("queued", |_ctx| Ok(())); // behind it: never starts
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failures.cancelled_by().unwrap().task().name(), Some("first"));
    /// assert!(failures.iter().any(|f| f.is_not_started()));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn cancelled_by(&self) -> Option<&Error<E>> {
        self.failures.get(self.cancelled_by?)
    }

    /// How many tasks failed (at least one).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{CollectAll, Group}};
    ///
    /// let group = Group::builder().policy(CollectAll).build().unwrap();
    /// let failures = group
    ///     .run(&Context::new(), |g| {
    ///         for i in 0..5 {
    ///             g.spawn(move |_ctx| if i < 3 { Err(i) } else { Ok(()) });
    ///         }
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failures.len(), 3); // every failure, none dropped
    /// ```
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Always `false`: a group reports `Failures` only when something failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{CollectAll, Group}};
    ///
    /// let group = Group::builder().policy(CollectAll).build().unwrap();
    /// let failures = group
    ///     .run(&Context::new(), |g| {
    ///         g.spawn(|_ctx| Err::<(), _>("only one"));
    ///     })
    ///     .unwrap_err();
    /// assert!(!failures.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures, in task index order.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{CollectAll, Group}};
    ///
    /// let group = Group::builder().policy(CollectAll).build().unwrap();
    /// let failures = group
    ///     .run(&Context::new(), |g| {
    ///         for name in ["a.csv", "b.csv", "c.csv"] {
    ///             g.spawn_named(name, move |_ctx| if name == "b.csv" { Ok(()) } else { Err("bad row") });
    ///         }
    ///     })
    ///     .unwrap_err();
    /// let names: Vec<_> = failures.iter().map(|f| f.task().name().unwrap()).collect();
    /// assert_eq!(names, ["a.csv", "c.csv"]);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Error<E>> {
        self.failures.iter()
    }

    /// The failures, in task index order.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{CollectAll, Group}};
    ///
    /// let group = Group::builder().policy(CollectAll).build().unwrap();
    /// let failures = group
    ///     .run(&Context::new(), |g| {
    ///         g.spawn(|_ctx| Err::<(), _>("disk full"));
    ///         g.spawn(|_ctx| Err::<(), _>("quota exceeded"));
    ///     })
    ///     .unwrap_err();
    /// let errors: Vec<&str> = failures.into_vec().into_iter().filter_map(|f| f.into_error()).collect();
    /// assert_eq!(errors, ["disk full", "quota exceeded"]);
    /// ```
    pub fn into_vec(self) -> Vec<Error<E>> {
        self.failures
    }
}

impl<E> IntoIterator for Failures<E> {
    type Item = Error<E>;
    type IntoIter = std::vec::IntoIter<Error<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.failures.into_iter()
    }
}

impl<'a, E> IntoIterator for &'a Failures<E> {
    type Item = &'a Error<E>;
    type IntoIter = std::slice::Iter<'a, Error<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.failures.iter()
    }
}

impl<E: fmt::Display> fmt::Display for Failures<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} task(s) failed", self.failures.len())?;
        for (i, failure) in self.failures.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Failures<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures.first().map(|f| f as _)
    }
}

/// The error of [`Scope::try_spawn`](crate::group::Scope::try_spawn): the task was not
/// accepted, and its closure comes back.
///
/// # Examples
///
/// ```
/// use homebound::{Context, scope};
///
/// let ctx = Context::new();
/// let r: Result<(), homebound::group::Error<()>> = scope(&ctx, |g| {
///     ctx.cancel();
///     let err = g.try_spawn(|_ctx| Ok(())).unwrap_err();
///     assert!(err.is_cancelled());
///     let _closure = err.into_inner(); // nothing is lost
/// });
/// assert!(r.is_ok());
/// ```
pub enum TrySpawnError<F> {
    /// The group's limit is reached: every worker is busy and its queue is full.
    Full(F),
    /// The group is cancelled (or has ended); no new task starts.
    Cancelled(F),
}

impl<F> TrySpawnError<F> {
    /// Takes back the closure that was not spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group, scope};
    ///
    /// let r: Result<(), group::Error<()>> = scope(&Context::new(), |g| {
    ///     g.context().cancel();
    ///     let err = g.try_spawn(|_ctx| Ok(6 * 7)).unwrap_err();
    ///     let job = err.into_inner(); // the closure, unrun: run it elsewhere
    ///     assert_eq!(job(&Context::new()), Ok(42));
    /// });
    /// assert!(r.is_ok());
    /// ```
    pub fn into_inner(self) -> F {
        match self {
            TrySpawnError::Full(f) | TrySpawnError::Cancelled(f) => f,
        }
    }

    /// Whether the group was full.
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, group::Group};
    ///
    /// let group = Group::builder().limit(1).queue(0).build().unwrap();
    /// let (release, wait) = bounded::<()>(0);
    /// group
    ///     .run(&Context::new(), |g| {
    ///         g.spawn(move |_ctx| {
    ///             let _ = wait.recv(); // holds the only worker
    ///             Ok::<_, ()>(())
    ///         });
    ///         let err = g.try_spawn(|_ctx| Ok(())).unwrap_err();
    ///         assert!(err.is_full() && !err.is_cancelled());
    ///         drop(release);
    ///     })
    ///     .unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySpawnError::Full(_))
    }

    /// Whether the group was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group, scope};
    ///
    /// let r: Result<(), group::Error<()>> = scope(&Context::new(), |g| {
    ///     g.context().cancel();
    ///     let err = g.try_spawn(|_ctx| Ok(())).unwrap_err();
    ///     assert!(err.is_cancelled() && !err.is_full());
    /// });
    /// assert!(r.is_ok());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TrySpawnError::Cancelled(_))
    }
}

impl<F> fmt::Debug for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySpawnError::Full(_) => f.write_str("Full(..)"),
            TrySpawnError::Cancelled(_) => f.write_str("Cancelled(..)"),
        }
    }
}

impl<F> fmt::Display for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySpawnError::Full(_) => f.write_str("the group's limit is reached"),
            TrySpawnError::Cancelled(_) => f.write_str("the group is cancelled"),
        }
    }
}

impl<F> std::error::Error for TrySpawnError<F> {}

/// A group configuration that cannot work, reported by
/// [`Builder::build`](crate::group::Builder::build).
///
/// # Examples
///
/// ```
/// use homebound::group::Group;
///
/// let err = Group::builder().limit(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid group: limit(0): a limited group needs at least one worker");
/// ```
#[derive(Clone, Debug)]
pub struct BuildError {
    message: &'static str,
}

impl BuildError {
    pub(crate) fn new(message: &'static str) -> Self {
        BuildError { message }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid group: {}", self.message)
    }
}

impl std::error::Error for BuildError {}
