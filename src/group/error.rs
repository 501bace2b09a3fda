//! What a group reports: who a task is, how one task failed, every failure, handle errors,
//! `try_spawn` and configuration errors.

use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::Arc;

use crate::error::{Cancelled, Panicked};

/// Who a task is: its index in spawn order, its name if it was given one, and the source
/// location that spawned it.
///
/// # Examples
///
/// ```
/// use homebound::{Context, scope};
///
/// let ctx = Context::new();
/// let handle = scope(&ctx, |g| g.spawn_named("answer", |_ctx| Ok::<_, ()>(42))).unwrap();
/// assert_eq!(handle.task().name(), Some("answer"));
/// assert_eq!(handle.task().index(), 0);
/// assert_eq!(handle.task().to_string(), "task 'answer' (#0)");
/// ```
#[derive(Clone, Debug)]
pub struct TaskInfo {
    index: usize,
    /// Shared, not owned: a task's identity is copied into every error and report that names
    /// it, and an execute-only task carries it in its job.
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
}

impl TaskInfo {
    pub(crate) fn new(
        index: usize,
        name: Option<String>,
        location: &'static Location<'static>,
    ) -> Self {
        TaskInfo {
            index,
            name: name.map(Arc::from),
            location,
        }
    }

    /// The task's index: unique within its group and increasing in spawn order.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The name given with `spawn_named`, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (`#[track_caller]`).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The name, or `#<index>` for an unnamed task: what straggler reports list.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.to_string(),
            None => format!("#{}", self.index),
        }
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "task '{name}' (#{})", self.index),
            None => write!(f, "task #{}", self.index),
        }
    }
}

/// How one task of a group failed. A [`FailFast`](crate::FailFast) group returns the first of
/// these; [`CollectAll`](crate::CollectAll) and [`FirstSuccess`](crate::FirstSuccess) groups
/// return all of them as [`Failures`].
///
/// # Examples
///
/// ```
/// use homebound::{Context, GroupError, scope};
///
/// let ctx = Context::new();
/// let err = scope(&ctx, |g| {
///     g.spawn_named("parse", |_ctx| Err::<(), _>("bad header"));
/// })
/// .unwrap_err();
/// assert!(matches!(&err, GroupError::Failed { error, .. } if *error == "bad header"));
/// assert_eq!(err.task().name(), Some("parse"));
/// assert_eq!(err.to_string(), "task 'parse' (#0) failed: bad header");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum GroupError<E> {
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
    Cancelled {
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

impl<E> GroupError<E> {
    /// The task that failed.
    pub fn task(&self) -> &TaskInfo {
        match self {
            GroupError::Failed { task, .. }
            | GroupError::Panicked { task, .. }
            | GroupError::Cancelled { task, .. }
            | GroupError::Spawn { task, .. } => task,
        }
    }

    /// The task's own error, if it returned one.
    pub fn into_error(self) -> Option<E> {
        match self {
            GroupError::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, GroupError::Panicked { .. })
    }

    /// Whether the task never started because the group was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, GroupError::Cancelled { .. })
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Failed { task, error } => write!(f, "{task} failed: {error}"),
            GroupError::Panicked { task, panic } => {
                write!(f, "{task} spawned at {} {panic}", task.location)
            }
            GroupError::Cancelled { task, cause } => write!(f, "{task} was not started: {cause}"),
            GroupError::Spawn { task, error } => {
                write!(
                    f,
                    "{task} was not started: spawning its thread failed: {error}"
                )
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GroupError::Failed { error, .. } => Some(error),
            GroupError::Panicked { panic, .. } => Some(panic),
            GroupError::Cancelled { cause, .. } => Some(cause),
            GroupError::Spawn { error, .. } => Some(error),
        }
    }
}

/// Every failure of a [`CollectAll`](crate::CollectAll) or
/// [`FirstSuccess`](crate::FirstSuccess) group, in task index order. Never empty, and always
/// this shape, even when only one task failed.
///
/// # Examples
///
/// ```
/// use homebound::{CollectAll, Context, Group};
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
    failures: Vec<GroupError<E>>,
}

impl<E> Failures<E> {
    pub(crate) fn new(mut failures: Vec<GroupError<E>>) -> Self {
        failures.sort_by_key(|f| f.task().index());
        Failures { failures }
    }

    /// How many tasks failed (at least one).
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Always `false`: a group reports `Failures` only when something failed.
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures, in task index order.
    pub fn iter(&self) -> std::slice::Iter<'_, GroupError<E>> {
        self.failures.iter()
    }

    /// The failures, in task index order.
    pub fn into_vec(self) -> Vec<GroupError<E>> {
        self.failures
    }
}

impl<E> IntoIterator for Failures<E> {
    type Item = GroupError<E>;
    type IntoIter = std::vec::IntoIter<GroupError<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.failures.into_iter()
    }
}

impl<'a, E> IntoIterator for &'a Failures<E> {
    type Item = &'a GroupError<E>;
    type IntoIter = std::slice::Iter<'a, GroupError<E>>;
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

/// Why a [`GroupTaskHandle`](crate::GroupTaskHandle) has no value. The details (the task's own error, the
/// panic payload) go to the group's result, which is where errors are reported.
///
/// # Examples
///
/// ```
/// use homebound::{CollectAll, Context, Group, GroupTaskError};
///
/// let group = Group::builder().policy(CollectAll).build().unwrap();
/// let mut handle = None;
/// let _ = group.run(&Context::new(), |g| {
///     handle = Some(g.spawn(|_ctx| Err::<u32, _>("nope")));
/// });
/// assert!(matches!(handle.unwrap().join(), Err(GroupTaskError::Failed)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum GroupTaskError {
    /// The task returned `Err`; the group's result carries the error.
    Failed,
    /// The task panicked; the group's result carries the payload.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The task never started: its group was cancelled (or had ended) first.
    NotStarted(Cancelled),
    /// The task never started: its thread could not be spawned.
    SpawnFailed,
}

impl fmt::Display for GroupTaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupTaskError::Failed => {
                f.write_str("the task returned an error (see its group's result)")
            }
            GroupTaskError::Panicked { message } => write!(f, "the task panicked: {message}"),
            GroupTaskError::NotStarted(cause) => write!(f, "the task was not started: {cause}"),
            GroupTaskError::SpawnFailed => {
                f.write_str("the task was not started: its thread could not be spawned")
            }
        }
    }
}

impl std::error::Error for GroupTaskError {}

/// The error of [`GroupScope::try_spawn`](crate::GroupScope::try_spawn): the task was not
/// accepted, and its closure comes back.
///
/// # Examples
///
/// ```
/// use homebound::{Context, scope};
///
/// let ctx = Context::new();
/// let r: Result<(), homebound::GroupError<()>> = scope(&ctx, |g| {
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
    pub fn into_inner(self) -> F {
        match self {
            TrySpawnError::Full(f) | TrySpawnError::Cancelled(f) => f,
        }
    }

    /// Whether the group was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySpawnError::Full(_))
    }

    /// Whether the group was cancelled.
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
/// [`GroupBuilder::build`](crate::GroupBuilder::build).
///
/// # Examples
///
/// ```
/// use homebound::Group;
///
/// let err = Group::builder().limit(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid group: limit(0): a limited group needs at least one worker");
/// ```
#[derive(Clone, Debug)]
pub struct GroupBuildError {
    message: &'static str,
}

impl GroupBuildError {
    pub(crate) fn new(message: &'static str) -> Self {
        GroupBuildError { message }
    }
}

impl fmt::Display for GroupBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid group: {}", self.message)
    }
}

impl std::error::Error for GroupBuildError {}
