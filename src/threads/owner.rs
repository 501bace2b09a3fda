//! The owner tree: which shutdown service, pool, group or pipeline each thread works for, and
//! which owner that one was started under.
//!
//! An [`Owner`] is created once per pool, group run, pipeline run or service, with the user's
//! source location (the constructors are `#[track_caller]`). Its parent is the owner of the
//! thread that created it: a pool built inside a service's closure is the service's child, a
//! group run inside a pool task the pool's, a pipeline started inside a group task the group's.
//! A registered thread belongs to the owner it was spawned for (an explicit one, or the one
//! being started on the spawning thread), else to its spawner's, so the whole chain is known
//! without anyone passing it along.
//!
//! Nodes only point up (to their parent), and each is kept alive by its threads and by the
//! value that created it: nothing here needs cleaning up.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Source of owner ids: creation order, so a parent's id is below its children's.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The owner the calling (registered) thread belongs to.
    static MINE: RefCell<Option<Owner>> = const { RefCell::new(None) };
    /// The owner being started on this thread (see [`starting`]): threads spawned meanwhile
    /// belong to it.
    static STARTING: RefCell<Option<Owner>> = const { RefCell::new(None) };
}

/// A pool, group, pipeline or service, as a node of the owner tree.
#[derive(Clone)]
pub(crate) struct Owner(Arc<Node>);

struct Node {
    id: u64,
    kind: &'static str,
    name: String,
    location: &'static Location<'static>,
    parent: Option<Owner>,
}

impl Owner {
    /// A new owner of `kind` named `name`, created at the caller's location, under the owner
    /// of the calling thread (if any).
    #[track_caller]
    pub(crate) fn new(kind: &'static str, name: &str) -> Owner {
        Owner::at(kind, name, Location::caller())
    }

    /// Like [`Owner::new`], created at `location`.
    pub(crate) fn at(
        kind: &'static str,
        name: &str,
        location: &'static Location<'static>,
    ) -> Owner {
        Owner(Arc::new(Node {
            id: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
            kind,
            name: name.to_string(),
            location,
            parent: current(),
        }))
    }

    pub(super) fn id(&self) -> u64 {
        self.0.id
    }

    pub(super) fn kind(&self) -> &'static str {
        self.0.kind
    }

    pub(super) fn name(&self) -> &str {
        &self.0.name
    }

    pub(super) fn location(&self) -> &'static Location<'static> {
        self.0.location
    }

    pub(super) fn parent(&self) -> Option<&Owner> {
        self.0.parent.as_ref()
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}' #{}", self.0.kind, self.0.name, self.0.id)
    }
}

/// The owner new owners and threads started on the calling thread belong to: the one being
/// started here, else the thread's own.
pub(super) fn current() -> Option<Owner> {
    STARTING
        .try_with(|s| s.borrow().clone())
        .ok()
        .flatten()
        .or_else(|| MINE.try_with(|m| m.borrow().clone()).ok().flatten())
}

/// The owner being started on the calling thread, if any.
pub(super) fn being_started() -> Option<Owner> {
    STARTING.try_with(|s| s.borrow().clone()).ok().flatten()
}

/// Records the owner the calling (just started) thread belongs to.
pub(super) fn install(owner: Option<Owner>) {
    let _ = MINE.try_with(|m| *m.borrow_mut() = owner);
}

/// Until the guard drops, threads spawned on the calling thread (without an owner of their
/// own) belong to `owner` and show its location: for the pieces that start their threads in
/// one call (a pipeline run, a service).
pub(crate) fn starting(owner: Owner) -> Starting {
    let before = STARTING
        .try_with(|s| s.borrow_mut().replace(owner))
        .ok()
        .flatten();
    Starting { before }
}

/// Ends what [`starting`] began, restoring the owner it replaced.
#[must_use = "the owner is being started only while the guard lives"]
pub(crate) struct Starting {
    before: Option<Owner>,
}

impl Drop for Starting {
    fn drop(&mut self) {
        let before = self.before.take();
        let _ = STARTING.try_with(|s| *s.borrow_mut() = before);
    }
}
