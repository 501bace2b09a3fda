//! Structured task groups: [`scope`] and [`Group`], Go's `errgroup` for OS threads.
//!
//! A group runs tasks that may borrow from the caller's stack (it is built on
//! `std::thread::scope`), gives each task a child of the group's [`Context`], and returns only
//! after every task has ended, with every thread it started joined explicitly, so
//! [`threads::assert_none_alive`](crate::threads::assert_none_alive) passes right after it.
//!
//! **Use it** for a batch that must end as a whole before you go on: fetch N sources, process one
//! request's files, or a CPU batch where every error must be kept and an overall deadline holds
//! (a [`CollectAll`] group with a [`limit`](Builder::limit), run under
//! `ctx.with_timeout(..)`). **Use something else** for a stream of requests from many callers
//! over a long time (a [`Pool`](crate::pool::Pool)), for fine-grained fork-join CPU work where
//! every microsecond counts (`rayon::scope` or `par_iter`, whose threads already exist; a group
//! starts and joins its threads on each call), or for items flowing through stages (a
//! [`Pipeline`](crate::pipeline::Pipeline)).
//!
//! * **Policies** ([`Policy`]): [`FailFast`] (default: the first error or panic cancels the
//!   group and is returned as a [`Error`]), [`CollectAll`] (every failure, as
//!   [`Failures`]), [`FirstSuccess`] (a race: the first `Ok` cancels the rest),
//!   [`FailFastCollect`] (conc's `WithCancelOnError`: cancel at the first failure, report every
//!   one, [`Failures::cancelled_by`] names the first) and [`RunAll`] (conc's `WaitGroup`:
//!   nothing cancels, not even a panic; every failure is returned, or the first panic re-raised
//!   with [`Builder::resume_panics`], after all ended). Each policy is a type, so `run`'s error
//!   has exactly the shape the policy promises.
//! * **Causes**: code that holds only the group's context sees why it was cancelled
//!   (`ctx.cause()`, Go's `context.Cause`): a panic as its [`Panicked`](crate::Panicked), an
//!   error as a [`TaskFailed`] naming the task, or with [`Builder::cause`]`(`[`ErrorAsCause`]`)`
//!   as the error itself, downcastable, while `run` still returns the original.
//! * **Accepted tasks after a cancel**: by default a task that has not started when the group
//!   is cancelled never starts (prompt stop; it is reported [`Error::NotStarted`]). With
//!   [`Builder::run_accepted`]`(true)` every accepted task runs, with a cancelled context, as
//!   Go's `g.Go(f)` always runs `f`.
//! * **Limits**: [`Builder::limit`] runs tasks on at most `n` worker threads fed by a
//!   bounded queue ([`Builder::queue`]); `spawn` blocks (cancel-aware) when it is full and
//!   [`Scope::try_spawn`] hands the closure back. [`Group::limit`] and [`Scope::limit`] read
//!   it back.
//! * **Without a handle**: [`Scope::execute`] is Go's `g.Go`: the group still reports the
//!   task's error or panic, and the task costs one allocation instead of two.
//! * **Services**: [`Scope::start`] (Trio's `nursery.start`) waits until a long-lived task
//!   reports that it is [`Ready`], with a value for the caller, and leaves it running.
//! * **Panics** are caught with their message, thread name and spawn location, cancel the
//!   group at once, and come back as [`Error::Panicked`]; opt into std's behaviour with
//!   [`Builder::resume_panics`].
//! * **Nothing lost**: every spawned task ends in exactly one way, which its [`TaskHandle`]
//!   reports: a value, [`JoinError::Failed`], [`JoinError::Panicked`] or
//!   [`JoinError::NotStarted`] (spawned after or while the group was cancelled).
//! * **Hung tasks**: a task that ignores cancellation keeps a scoped group waiting (scoped
//!   threads cannot be abandoned). [`Group::run_timeout`] runs `'static` tasks instead and
//!   returns after the bound with the [`Stragglers`]' names.
//!
//! # Groups vs `std::thread::scope`
//!
//! `std::thread::scope` also borrows and waits, but it has no context to stop the other
//! threads when one fails, re-raises a panic without its message or origin (and only after its
//! implicit join, which does not wait for thread-local destructors), has no limit, and gives no
//! way to see which thread is stuck.
//!
//! # Borrowing
//!
//! Tasks may borrow anything that outlives the group call, like `std::thread::scope`'s threads,
//! but not the group closure's own locals, which are gone before the tasks are waited for:
//!
//! ```compile_fail,E0373
//! use homebound::{Context, scope};
//!
//! let _ = scope(&Context::new(), |g| {
//!     let local = vec![1, 2, 3];
//!     g.spawn(|_ctx| Ok::<_, ()>(local.len())); // `local` does not live long enough
//! });
//! ```
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use homebound::{Context, group, scope, threads};
//!
//! let sources = ["alpha", "beta", "gamma"];
//! let result = scope(&Context::new(), |g| {
//!     for name in sources {
//!         g.spawn_named(name, move |ctx| {
//!             if name == "beta" {
//!                 return Err(format!("{name}: connection refused"));
//!             }
//!             // Slow work that stops when a sibling fails.
//!             ctx.sleep(Duration::from_secs(30)).map_err(|c| c.to_string())?;
//!             Ok(name.len())
//!         });
//!     }
//! });
//! match result {
//!     Err(group::Error::Failed { task, error }) => {
//!         assert_eq!(task.name(), Some("beta"));
//!         assert_eq!(error, "beta: connection refused");
//!     }
//!     other => panic!("unexpected: {other:?}"),
//! }
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! # Design
//!
//! * **Policies are types**, so `run`'s error has exactly the shape the policy promises.
//!   [`CollectAll`] does not cancel on errors (the list would fill with cancellations); a panic
//!   cancels under every policy, and [`FirstSuccess`] never swallows one.
//! * **Errors go to the group, values to the handles**: `E` is shared, `T` is per task, and a
//!   handle has no lifetime, so it can be returned from the closure and read after `run`.
//! * **No `unsafe`**: `run` is `std::thread::scope` with the caller's `'env`; the [`Scope`] hides
//!   it behind a trait object, so the same code drives the `'static` `run_timeout` form.
//! * **Joining does not trust disconnection.** After the closure, the group waits for the
//!   in-flight count to reach zero, closes (only from exactly zero), then joins every thread
//!   explicitly; a forgotten `Scope` clone cannot hang it.
//! * **Limits.** The queue (default 1024) bounds memory, the limit bounds what runs. A spawner
//!   waiting for room sleeps until the queue has drained to half, not one slot: waking it per
//!   task costs busy workers more than small tasks do. `try_spawn` accepts whenever a worker is
//!   idle, the queue has room or a worker may still be started (the executor core it shares
//!   with the pool). A task spawning into its own full group starts one more worker if the
//!   limit allows and otherwise runs the new task inline, so nested spawns under `limit(1)`
//!   cannot deadlock. A worker
//!   reuses a task context nobody touched (no clone, child, callback, cancel or `done()`).

mod cause;
mod error;
mod in_flight;
mod life;
mod policy;
mod run;
mod scope;
pub(crate) mod shared;
mod spawn;
mod start;
mod stragglers;
mod task;

pub use self::cause::{CauseRule, ErrorAsCause, ErrorCause, TaskAsCause, TaskFailed};
pub use self::error::{BuildError, Error, Failures, TrySpawnError};
pub use self::policy::{CollectAll, FailFast, FailFastCollect, FirstSuccess, Policy, RunAll};
pub use self::run::{Builder, Group};
pub use self::scope::Scope;
pub use self::start::{Ready, StartError};
pub use self::stragglers::Stragglers;
pub use self::task::TaskHandle;

use crate::context::Context;
#[cfg(doc)]
use crate::task::JoinError;

/// Runs a fail-fast task group without a limit: `Group::new().run(ctx, f)`.
///
/// `f` spawns tasks with the [`Scope`] it receives; tasks may borrow anything that
/// outlives the call. `scope` returns after every task has ended (nested spawns included) and
/// every thread has been joined: `f`'s value, or the first failure.
///
/// # Errors
///
/// The first [`Error`]: a task's `Err`, a panic, a task that could not start.
///
/// # Panics
///
/// Resumes a panic of `f` itself, after every task has ended.
///
/// # Examples
///
/// ```
/// use homebound::{Context, scope};
///
/// let mut totals = vec![0u64; 4];
/// let data: Vec<u64> = (1..=400).collect();
/// scope(&Context::new(), |g| {
///     for (chunk, total) in data.chunks(100).zip(totals.iter_mut()) {
///         g.spawn(move |ctx| {
///             ctx.check()?;
///             *total = chunk.iter().sum();
///             Ok::<_, homebound::Cancelled>(())
///         });
///     }
/// })
/// .unwrap();
/// assert_eq!(totals.iter().sum::<u64>(), 80_200);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[track_caller]
pub fn scope<'env, R, E, F>(ctx: &Context, f: F) -> Result<R, Error<E>>
where
    E: Send + 'env,
    F: for<'scope> FnOnce(&Scope<'scope, 'env, E>) -> R,
{
    Group::new().run(ctx, f)
}
