//! [`Scope::start`]: Trio's `nursery.start`. A long-lived task (a service) tells the caller
//! when it is ready, with a value for it, and goes on running inside the group.

use std::fmt;
use std::panic::Location;

use crossbeam_channel::Sender;

use super::scope::Scope;
use crate::context::Context;
use crate::task::JoinError;

/// What a task started with [`Scope::start`] calls once it is ready; the value goes to the
/// caller of `start`.
///
/// Dropping it without calling [`ready`](Ready::ready) is allowed: `start` then returns
/// [`StartError`] once the task has ended.
///
/// # Examples
///
/// ```
/// use crossbeam_channel::unbounded;
/// use homebound::{Context, scope};
///
/// scope(&Context::new(), |g| {
///     // A service that must set up before anyone may use it.
///     let requests = g
///         .start(|ctx, ready| {
///             let (tx, rx) = unbounded::<u32>();
///             ready.ready(tx); // set up: hand the caller its way in
///             // Serves until every sender is gone or the group is cancelled.
///             while let Ok(n) = ctx.recv(&rx) {
///                 assert!(n > 0);
///             }
///             Ok::<_, ()>(())
///         })
///         .unwrap();
///     requests.send(7).unwrap();
/// })
/// .unwrap();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub struct Ready<V> {
    tx: Sender<V>,
}

impl<V> Ready<V> {
    /// Reports that the task is ready, handing `value` to the caller of `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// scope(&Context::new(), |g| {
    ///     let port = g
    ///         .start(|_ctx, ready| {
    ///             ready.ready(8080_u16); // bound: the caller may connect now
    ///             Ok::<_, ()>(())
    ///         })
    ///         .unwrap();
    ///     assert_eq!(port, 8080);
    /// })
    /// .unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn ready(self, value: V) {
        // `start` waits on the receiver for as long as the task can call this, so the send
        // cannot fail; if it ever did, the value would only be dropped.
        let _ = self.tx.send(value);
    }
}

impl<V> fmt::Debug for Ready<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ready(..)")
    }
}

/// Why [`Scope::start`] has no value: the task ended before it was ready.
///
/// The group reports a failure itself (its policy decides how); this only says which way the
/// task ended.
///
/// # Examples
///
/// ```
/// use homebound::{group::CollectAll, Context, group::Group, group::StartError};
///
/// let group = Group::builder().policy(CollectAll).build().unwrap();
/// let failures = group
///     .run(&Context::new(), |g| {
///         let err = g.start(|_ctx, _ready: homebound::group::Ready<u16>| Err("port taken")).unwrap_err();
///         assert!(matches!(err, StartError::Task(homebound::task::JoinError::Failed)));
///         let err = g.start(|_ctx, _ready: homebound::group::Ready<u16>| Ok(())).unwrap_err();
///         assert!(matches!(err, StartError::EndedBeforeReady));
///     })
///     .unwrap_err();
/// assert_eq!(failures.len(), 1);
/// ```
#[derive(Debug)]
pub enum StartError {
    /// The task returned `Ok` without calling [`Ready::ready`].
    EndedBeforeReady,
    /// The task failed, panicked, was not started or could not be spawned.
    Task(JoinError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::EndedBeforeReady => {
                f.write_str("the task ended without reporting that it was ready")
            }
            StartError::Task(end) => write!(f, "the task ended before it was ready: {end}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::EndedBeforeReady => None,
            StartError::Task(end) => Some(end),
        }
    }
}

impl<'scope, 'env, E: Send + 'env> Scope<'scope, 'env, E> {
    /// Starts a task and waits until it reports that it is ready (Trio's `nursery.start`): for a
    /// service that must bind its socket or load its state before the rest of the group may use
    /// it. The task receives its context and a [`Ready`]; the value it passes to
    /// [`Ready::ready`] comes back from `start`, and the task goes on running as a member of
    /// the group (cancelled, waited for and reported like any other).
    ///
    /// With a limit, the task needs a worker of its own for as long as it runs. Called from one
    /// of the group's own tasks when every worker is busy, `start` waits until one is free, or
    /// forever if none will be, as joining a queued task would.
    ///
    /// # Errors
    ///
    /// [`StartError`] if the task ended before it was ready; the group reports its failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// scope(&Context::new(), |g| {
    ///     let entries = g
    ///         .start(|ctx, ready| {
    ///             let table: Vec<u32> = (1..=3).collect(); // set-up the caller must wait for
    ///             ready.ready(table.len());
    ///             ctx.wait(); // then serve until the group is cancelled
    ///             Ok::<_, ()>(())
    ///         })
    ///         .unwrap();
    ///     assert_eq!(entries, 3);
    ///     g.context().cancel();
    /// })
    /// .unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn start<V, F>(&self, f: F) -> Result<V, StartError>
    where
        F: FnOnce(&Context, Ready<V>) -> Result<(), E> + Send + 'scope,
        V: Send + 'scope,
    {
        self.start_inner(None, Location::caller(), f)
    }

    /// Like [`start`](Scope::start), naming the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::{CollectAll, Group, Ready, StartError}, task::JoinError};
    ///
    /// let group = Group::builder().policy(CollectAll).build().unwrap();
    /// let failures = group
    ///     .run(&Context::new(), |g| {
    ///         let err = g
    ///             .start_named("listener", |_ctx, _ready: Ready<u16>| Err("port 80 taken"))
    ///             .unwrap_err();
    ///         assert!(matches!(err, StartError::Task(JoinError::Failed)));
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failures.iter().next().unwrap().task().name(), Some("listener"));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn start_named<V, F>(&self, name: impl Into<String>, f: F) -> Result<V, StartError>
    where
        F: FnOnce(&Context, Ready<V>) -> Result<(), E> + Send + 'scope,
        V: Send + 'scope,
    {
        self.start_inner(Some(name.into()), Location::caller(), f)
    }

    fn start_inner<V, F>(
        &self,
        name: Option<String>,
        location: &'static Location<'static>,
        f: F,
    ) -> Result<V, StartError>
    where
        F: FnOnce(&Context, Ready<V>) -> Result<(), E> + Send + 'scope,
        V: Send + 'scope,
    {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let handle = self.spawn_inner(name, location, move |ctx: &Context| f(ctx, Ready { tx }));
        match crate::clock::recv(&rx) {
            Ok(value) => Ok(value),
            // The task dropped its `Ready`: it has ended, or is about to.
            Err(_) => match handle.join() {
                Ok(()) => Err(StartError::EndedBeforeReady),
                Err(end) => Err(StartError::Task(end)),
            },
        }
    }
}
