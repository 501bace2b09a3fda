//! Error policies, the typed error state of a pipeline, and [`Error`].

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::marker::PhantomData;

use parking_lot::Mutex;

use super::report::Report;
use crate::context::Cancelled;
use crate::panic::Panicked;

/// What a [`try_map`](crate::pipeline::Pipeline::try_map) stage does when its function returns `Err`.
/// Set it with [`on_error`](crate::pipeline::Pipeline::on_error) right after the stage.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::ErrorPolicy, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let (out, outcome) = Pipeline::from_iter(&ctx, ["1", "x", "3"])
///     .try_map(1, |s| s.parse::<u32>())
///     .on_error(ErrorPolicy::Collect)
///     .collect()
///     .unwrap();
/// assert_eq!(out, [1, 3]);
/// assert_eq!(outcome.errors().len(), 1);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// The first error cancels every stage; the run returns it with the stage's name.
    #[default]
    FailFast,
    /// Count the error in the report and go on with the next item.
    Skip,
    /// Keep the error and go on; the errors come back beside the output in [`Outcome`].
    Collect,
}

mod sealed {
    pub trait Sealed {}
}

/// The error state of a [`Pipeline`](crate::pipeline::Pipeline)'s type: [`NoErrors`] until the first
/// `try_map`, then [`Fallible<E>`]. Every `try_map` of one pipeline returns the same `E`.
///
/// You rarely write these types; they show up when you name a pipeline's type:
///
/// ```
/// use homebound::{Context, pipeline::marker::Fallible, pipeline::marker::NoErrors, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let lines: Pipeline<&str, NoErrors> = Pipeline::from_iter(&ctx, ["1", "2"]);
/// let numbers: Pipeline<u8, Fallible<std::num::ParseIntError>> =
///     lines.try_map(1, |s| s.parse::<u8>());
/// let (out, _) = numbers.collect().unwrap();
/// assert_eq!(out.len(), 2);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub trait ErrorMode: sealed::Sealed + Send + 'static {
    /// The error type the run can return.
    type Error: Send + 'static;
}

/// The error state of a pipeline with no `try_map` stage: its runs fail only by cancellation,
/// panic or bad configuration (see [`ErrorMode`] for an example).
#[derive(Debug)]
pub enum NoErrors {}

/// The error state of a pipeline whose `try_map` stages return `Err(E)` (see [`ErrorMode`]
/// for an example).
pub struct Fallible<E>(PhantomData<fn() -> E>);

impl<E> fmt::Debug for Fallible<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fallible")
    }
}

impl sealed::Sealed for NoErrors {}
impl<E> sealed::Sealed for Fallible<E> {}

impl ErrorMode for NoErrors {
    type Error = Infallible;
}

impl<E: Send + 'static> ErrorMode for Fallible<E> {
    type Error = E;
}

/// Which error states a `try_map` returning `Err(E)` may follow: [`NoErrors`] (the first
/// `try_map` picks `E`) or [`Fallible<E>`] with the same `E`.
///
/// A second `try_map` with another error type does not compile; convert the errors to one
/// type inside the closures instead:
///
/// ```compile_fail
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let _ = Pipeline::from_iter(&ctx, ["1"])
///     .try_map(1, |s| s.parse::<u8>())
///     .try_map(1, |n| if n > 0 { Ok(n) } else { Err("zero") });
/// ```
///
/// ```
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let (out, _) = Pipeline::from_iter(&ctx, ["1"])
///     .try_map(1, |s| s.parse::<u8>().map_err(|e| e.to_string()))
///     .try_map(1, |n| if n > 0 { Ok(n) } else { Err("zero".to_string()) })
///     .collect()
///     .unwrap();
/// assert_eq!(out, [1]);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub trait Accepts<E>: ErrorMode {
    /// The error state after the stage.
    type Next: ErrorMode<Error = E>;
}

impl<E: Send + 'static> Accepts<E> for NoErrors {
    type Next = Fallible<E>;
}

impl<E: Send + 'static> Accepts<E> for Fallible<E> {
    type Next = Fallible<E>;
}

/// An error returned by the function of a `try_map` stage, with the stage's name.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::ErrorPolicy, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let (_, outcome) = Pipeline::from_iter(&ctx, ["7", "seven"])
///     .try_map(1, |s| s.parse::<u8>())
///     .named("parse")
///     .on_error(ErrorPolicy::Collect)
///     .collect()
///     .unwrap();
/// let e = &outcome.errors()[0];
/// assert_eq!(e.stage, "parse");
/// assert_eq!(e.to_string(), "stage 'parse' failed: invalid digit found in string");
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StageError<E> {
    /// The stage's name.
    pub stage: String,
    /// The function's error.
    pub error: E,
}

impl<E> fmt::Debug for StageError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageError")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl<E: fmt::Display> fmt::Display for StageError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage '{}' failed: {}", self.stage, self.error)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StageError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Why a run failed.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::Pipeline, pipeline};
///
/// let ctx = Context::new();
/// let err = Pipeline::from_iter(&ctx, 0..10)
///     .map(1, |x: i32| if x == 3 { panic!("three") } else { x })
///     .named("picky")
///     .for_each(|_| {})
///     .unwrap_err();
/// match err.into_kind() {
///     pipeline::ErrorKind::Panicked { stage, panic } => {
///         assert_eq!(stage, "picky");
///         assert_eq!(panic.message(), "three");
///     }
///     other => panic!("{other:?}"),
/// }
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[non_exhaustive]
pub enum ErrorKind<E> {
    /// The pipeline was built with bad input (zero workers, a zero batch size, ..): nothing ran.
    Config(String),
    /// A `try_map` stage with [`ErrorPolicy::FailFast`] failed.
    Failed(StageError<E>),
    /// A stage (or the source iterator) panicked.
    Panicked {
        /// The stage's name.
        stage: String,
        /// The panic, with its message and thread.
        panic: Panicked,
    },
    /// A stage's thread could not be started.
    Spawn {
        /// The stage's name.
        stage: String,
        /// The OS error.
        error: io::Error,
    },
    /// The context given to the source was cancelled (or its deadline passed) before the end.
    Cancelled(Cancelled),
}

/// The error of a pipeline run: why it failed, and the [`Report`] of what it did.
///
/// Its `Debug` does not require `E: Debug`, so `.unwrap()` always works.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::Pipeline, pipeline};
///
/// let ctx = Context::new();
/// let err = Pipeline::from_iter(&ctx, ["1", "x", "3"])
///     .try_map(2, |s| s.parse::<u32>())
///     .named("parse")
///     .collect()
///     .unwrap_err();
/// assert_eq!(err.stage(), Some("parse"));
/// assert!(matches!(err.kind(), pipeline::ErrorKind::Failed(e) if e.stage == "parse"));
/// assert!(err.to_string().starts_with("stage 'parse' failed"));
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub struct Error<E> {
    kind: ErrorKind<E>,
    report: Box<Report>,
}

impl<E> Error<E> {
    pub(crate) fn new(kind: ErrorKind<E>, report: Report) -> Self {
        Error {
            kind,
            report: Box::new(report),
        }
    }

    /// Why the run failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::{ErrorKind, Pipeline}};
    ///
    /// let err = Pipeline::from_iter(&Context::new(), 0..5)
    ///     .map(0, |x: i32| x) // zero workers
    ///     .for_each(|_| {})
    ///     .unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config(_))); // nothing ran
    /// assert_eq!(err.report().items_read(), 0);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn kind(&self) -> &ErrorKind<E> {
        &self.kind
    }

    /// Takes the reason apart.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::{ErrorKind, Pipeline}};
    ///
    /// let err = Pipeline::from_iter(&Context::new(), ["7", "x"])
    ///     .try_map(1, |s| s.parse::<u8>())
    ///     .named("parse")
    ///     .collect()
    ///     .unwrap_err();
    /// let ErrorKind::Failed(failed) = err.into_kind() else { panic!("expected the parse error") };
    /// assert_eq!(failed.stage, "parse");
    /// assert_eq!(failed.error.to_string(), "invalid digit found in string");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_kind(self) -> ErrorKind<E> {
        self.kind
    }

    /// What the run did before it stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let err = Pipeline::from_iter(&Context::new(), 1..=100u32)
    ///     .try_map(1, |x| if x == 4 { Err("bad record") } else { Ok(x) })
    ///     .for_each(|_| {})
    ///     .unwrap_err();
    /// let report = err.report(); // what the run did before it stopped
    /// assert!(report.items_read() >= 4);
    /// assert!(report.cancelled().is_some());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The name of the stage that failed or panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let err = Pipeline::from_iter(&Context::new(), 0..10)
    ///     .map(1, |x: u32| if x == 5 { panic!("five") } else { x })
    ///     .named("picky")
    ///     .for_each(|_| {})
    ///     .unwrap_err();
    /// assert_eq!(err.stage(), Some("picky"));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stage(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Failed(e) => Some(&e.stage),
            ErrorKind::Panicked { stage, .. } | ErrorKind::Spawn { stage, .. } => Some(stage),
            ErrorKind::Config(_) | ErrorKind::Cancelled(_) => None,
        }
    }

    /// Whether the run stopped because its context was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let ctx = Context::new();
    /// let err = Pipeline::from_iter(&ctx, 0..u64::MAX)
    ///     .map(2, |x| x + 1)
    ///     .for_each(|x| if x == 100 { ctx.cancel(); }) // e.g. the service is shutting down
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// assert_eq!(err.stage(), None); // no stage failed
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, ErrorKind::Cancelled(_))
    }

    /// The stage function's error, if that is why the run failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct BadRow(u32);
    ///
    /// let err = Pipeline::from_iter(&Context::new(), 1..=10u32)
    ///     .try_map(1, |x| if x == 3 { Err(BadRow(x)) } else { Ok(x) })
    ///     .for_each(|_| {})
    ///     .unwrap_err();
    /// assert_eq!(err.into_error(), Some(BadRow(3))); // the stage's own error, by value
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self.kind {
            ErrorKind::Failed(e) => Some(e.error),
            _ => None,
        }
    }
}

impl<E> fmt::Debug for ErrorKind<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Config(msg) => f.debug_tuple("Config").field(msg).finish(),
            ErrorKind::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            ErrorKind::Panicked { stage, panic } => f
                .debug_struct("Panicked")
                .field("stage", stage)
                .field("panic", panic)
                .finish(),
            ErrorKind::Spawn { stage, error } => f
                .debug_struct("Spawn")
                .field("stage", stage)
                .field("error", error)
                .finish(),
            ErrorKind::Cancelled(c) => f.debug_tuple("Cancelled").field(c).finish(),
        }
    }
}

impl<E> fmt::Debug for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Config(msg) => write!(f, "invalid pipeline: {msg}"),
            ErrorKind::Failed(e) => e.fmt(f),
            ErrorKind::Panicked { stage, panic } => {
                write!(f, "stage '{stage}' panicked: {}", panic.message())
            }
            ErrorKind::Spawn { stage, error } => {
                write!(f, "could not start a thread for stage '{stage}': {error}")
            }
            ErrorKind::Cancelled(c) => write!(f, "pipeline {c}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Failed(e) => Some(&e.error),
            ErrorKind::Panicked { panic, .. } => Some(panic),
            ErrorKind::Spawn { error, .. } => Some(error),
            ErrorKind::Cancelled(c) => Some(c),
            ErrorKind::Config(_) => None,
        }
    }
}

/// The first failure of a run, whatever its kind: the first one wins and cancels the run.
pub(crate) enum Failure {
    /// A fail-fast error; its value is in the pipeline's [`ErrorStore`].
    Error,
    Panicked {
        stage: String,
        panic: Panicked,
    },
    Spawn {
        stage: String,
        error: io::Error,
    },
}

/// The one-slot record of a run's first failure.
#[derive(Default)]
pub(crate) struct FailureSlot(Mutex<Option<Failure>>);

impl FailureSlot {
    /// Records `failure` if it is the first; returns whether it was.
    pub(crate) fn claim(&self, failure: Failure) -> bool {
        let mut slot = self.0.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(failure);
        true
    }

    pub(crate) fn take(&self) -> Option<Failure> {
        self.0.lock().take()
    }
}

/// The typed errors of a run's `try_map` stages.
pub(crate) struct ErrorStore<E> {
    /// The fail-fast error that stopped the run.
    pub(crate) first: Mutex<Option<StageError<E>>>,
    /// Errors of stages with [`ErrorPolicy::Collect`].
    pub(crate) collected: Mutex<Vec<StageError<E>>>,
}

impl<E> Default for ErrorStore<E> {
    fn default() -> Self {
        ErrorStore {
            first: Mutex::new(None),
            collected: Mutex::new(Vec::new()),
        }
    }
}

/// A successful run: the report, and the errors of stages with [`ErrorPolicy::Collect`].
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let outcome = Pipeline::from_iter(&ctx, 0..10).for_each(|_| {}).unwrap();
/// assert!(outcome.errors().is_empty());
/// assert_eq!(outcome.report().items_delivered(), 10);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub struct Outcome<E> {
    pub(crate) report: Report,
    pub(crate) errors: Vec<StageError<E>>,
}

impl<E> Outcome<E> {
    /// What the run did.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let outcome = Pipeline::from_iter(&Context::new(), 0..50u32)
    ///     .filter(2, |x| x % 5 == 0)
    ///     .for_each(|_| {})
    ///     .unwrap();
    /// assert_eq!(outcome.report().items_read(), 50);
    /// assert_eq!(outcome.report().items_delivered(), 10);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The collected errors, in the order they happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::{ErrorPolicy, Pipeline}};
    ///
    /// let (numbers, outcome) = Pipeline::from_iter(&Context::new(), ["1", "two", "3", "four"])
    ///     .try_map(1, |s| s.parse::<u32>())
    ///     .named("parse")
    ///     .on_error(ErrorPolicy::Collect)
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(numbers.len(), 2);
    /// assert_eq!(outcome.errors().len(), 2); // kept, not fatal
    /// assert!(outcome.errors().iter().all(|e| e.stage == "parse"));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn errors(&self) -> &[StageError<E>] {
        &self.errors
    }

    /// Just the report.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let report = Pipeline::from_iter(&Context::new(), ["a", "b", "c"])
    ///     .map(1, str::len)
    ///     .for_each(|_| {})
    ///     .unwrap()
    ///     .into_report();
    /// assert_eq!(report.items_delivered(), 3);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_report(self) -> Report {
        self.report
    }

    /// The report and the collected errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::{ErrorPolicy, Pipeline}};
    ///
    /// let outcome = Pipeline::from_iter(&Context::new(), 1..=6u32)
    ///     .try_map(2, |x| if x % 3 == 0 { Err(x) } else { Ok(x) })
    ///     .on_error(ErrorPolicy::Collect)
    ///     .for_each(|_| {})
    ///     .unwrap();
    /// let (report, errors) = outcome.into_parts();
    /// let mut bad: Vec<u32> = errors.into_iter().map(|e| e.error).collect();
    /// bad.sort();
    /// assert_eq!(bad, [3, 6]);
    /// assert_eq!(report.items_delivered(), 4);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_parts(self) -> (Report, Vec<StageError<E>>) {
        (self.report, self.errors)
    }
}

impl<E> fmt::Debug for Outcome<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcome")
            .field("report", &self.report)
            .field("errors", &self.errors.len())
            .finish()
    }
}
