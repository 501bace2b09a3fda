//! Where a group's threads come from: scoped threads (tasks may borrow) or, for the timeout form,
//! registered `'static` threads. Both go through the thread registry and are joined explicitly.

use std::io;
use std::thread::{self, Scope};

use crate::threads::{self, Builder};

/// A group thread's body.
pub(super) type ThreadBody<'scope> = Box<dyn FnOnce() + Send + 'scope>;

/// Spawns a group thread. The trait object hides `std::thread::Scope`'s `'env`, so the same
/// group code drives scoped and `'static` threads.
pub(super) trait SpawnOn<'scope>: Sync {
    fn spawn_on(
        &'scope self,
        builder: Builder,
        body: ThreadBody<'scope>,
    ) -> io::Result<Joinable<'scope>>;
}

impl<'scope, 'env> SpawnOn<'scope> for Scope<'scope, 'env> {
    fn spawn_on(
        &'scope self,
        builder: Builder,
        body: ThreadBody<'scope>,
    ) -> io::Result<Joinable<'scope>> {
        builder.spawn_scoped(self, body).map(Joinable::Scoped)
    }
}

/// Spawns registered non-scoped threads (the timeout form, whose tasks are `'static`).
pub(super) struct Detached;

impl SpawnOn<'static> for Detached {
    fn spawn_on(
        &'static self,
        builder: Builder,
        body: ThreadBody<'static>,
    ) -> io::Result<Joinable<'static>> {
        builder.spawn(body).map(Joinable::Owned)
    }
}

/// A group thread to join explicitly (which, unlike the implicit join at the end of
/// `std::thread::scope`, waits for its thread-local destructors and deregisters it).
pub(super) enum Joinable<'scope> {
    Scoped(threads::ScopedJoinHandle<'scope, ()>),
    Owned(threads::JoinHandle<()>),
}

impl Joinable<'_> {
    pub(super) fn join(self) -> thread::Result<()> {
        match self {
            Joinable::Scoped(h) => h.join(),
            Joinable::Owned(h) => h.join(),
        }
    }

    pub(super) fn is_finished(&self) -> bool {
        match self {
            Joinable::Scoped(h) => h.is_finished(),
            Joinable::Owned(h) => h.is_finished(),
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            Joinable::Scoped(h) => h.name().to_string(),
            Joinable::Owned(h) => h.name().to_string(),
        }
    }
}
