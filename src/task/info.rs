//! [`TaskInfo`]: who a task is.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

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
    /// The span current where the task was spawned (`tracing` feature; nothing otherwise).
    span: crate::observe::Span,
}

impl TaskInfo {
    #[inline]
    pub(crate) fn new(
        index: usize,
        name: Option<String>,
        location: &'static Location<'static>,
    ) -> Self {
        TaskInfo {
            index,
            name: name.map(Arc::from),
            location,
            span: crate::observe::Span::current(),
        }
    }

    /// The span current where the task was spawned, entered around it.
    pub(crate) fn span(&self) -> &crate::observe::Span {
        &self.span
    }

    /// The task's index: unique within its group and increasing in spawn order.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let (a, b) = scope(&Context::new(), |g| {
    ///     (g.spawn(|_| Ok::<_, ()>(())), g.spawn(|_| Ok::<_, ()>(())))
    /// })
    /// .unwrap();
    /// assert_eq!((a.task().index(), b.task().index()), (0, 1)); // spawn order
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The name given with `spawn_named`, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let (named, anon) = scope(&Context::new(), |g| {
    ///     (g.spawn_named("fetch", |_| Ok::<_, ()>(())), g.spawn(|_| Ok::<_, ()>(())))
    /// })
    /// .unwrap();
    /// assert_eq!(named.task().name(), Some("fetch"));
    /// assert_eq!(anon.task().name(), None);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (`#[track_caller]`).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let handle = scope(&Context::new(), |g| g.spawn(|_| Ok::<_, ()>(()))).unwrap();
    /// assert!(handle.task().location().file().ends_with(".rs")); // the line that spawned it
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The name, or `#<index>` for an unnamed task: what straggler reports list.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let (named, anon) = scope(&Context::new(), |g| {
    ///     (g.spawn_named("fetch", |_| Ok::<_, ()>(())), g.spawn(|_| Ok::<_, ()>(())))
    /// })
    /// .unwrap();
    /// assert_eq!(named.task().label(), "fetch");
    /// assert_eq!(anon.task().label(), "#1");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
