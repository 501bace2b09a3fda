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
