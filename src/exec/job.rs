//! The one type-erased job both layers queue, and what a layer tells it (its [`Host`]).
//!
//! A job is one of two shapes, so that every task costs at most one allocation besides what its
//! closure already needs:
//!
//! * **shared**: the closure lives *in* the task's result [`Slot`](super::slot::Slot), which the
//!   handle holds too (`Arc`): one allocation for the closure, its result and its state (pool
//!   `submit`);
//! * **owned**: a box with the closure and where its end goes: nowhere (`execute`, one
//!   allocation), or a separate slot its handle holds (a group's `spawn`, whose handles must not
//!   carry the closure's borrowed lifetime).
//!
//! Either way a job carries no reference to its executor: whoever consumes it passes the layer
//! in (`&X`), which saves two shared reference-count updates per task.
//!
//! Every job is consumed exactly once: run, reported as not run, or (if it is dropped
//! unconsumed) abandoned, which still ends its handle as not started, so no `join` waits for a
//! task that is gone.

use std::any::Any;
use std::io;
use std::sync::Arc;

use super::slot::Slot;
use crate::context::{Cancelled, Cause, Context};
use crate::panic::{Panicked, drop_caught, drop_quietly};
use crate::task::JoinError;

/// What a layer (pool or group) tells the jobs it runs.
pub(crate) trait Host {
    /// Who a task is, as its job and handle carry it.
    type Info: Send + Sync;

    /// Whether a running task's context is kept in its slot, so its handle can cancel it.
    const CANCELS: bool;

    /// Reports a task that will not run and returns the error its handle gets.
    fn not_run(&self, info: &Self::Info, why: NotRun) -> JoinError;

    /// A user value the executor had to drop (a closure that will not run, a result nobody
    /// reads) panicked in its `Drop`.
    fn drop_panicked(&self, info: &Self::Info, panic: Panicked);

    /// A task without a handle panicked: nobody will join it. The default drops the report,
    /// for hosts that already recorded the panic elsewhere (a group's result).
    fn unread_panic(&self, _info: &Self::Info, _panic: Panicked) {}
}

/// Why a job is consumed without running.
#[derive(Debug)]
pub(crate) enum NotRun {
    /// The executor was cancelled or closed before the task could start.
    Cancelled,
    /// No thread could be started for it.
    SpawnFailed(io::Error),
}

/// How a task ended, as its handle will see it.
pub(crate) struct Settled<V> {
    pub(crate) result: Result<V, JoinError>,
    /// The first success of its group (a race's winner).
    pub(crate) won: bool,
}

/// What a task's closure returns, as a layer sees it: turns the closure's outcome into what its
/// handle gets, recording what the layer records (a group's failure, a pool's metrics) first.
pub(crate) trait Output<X: Host>: Sized {
    type Value;

    fn settle(ran: Result<Self, Panicked>, host: &X, info: &X::Info) -> Settled<Self::Value>;
}

/// A task whose closure lives in its shared slot.
pub(crate) trait SharedRun<X: Host>: Send + Sync {
    /// Runs it; `false` if it had been cancelled through its handle (nothing ran).
    fn run(self: Arc<Self>, host: &X, ctx: &Context) -> bool;
    fn not_run(self: Arc<Self>, host: &X, why: NotRun);
    fn abandon(self: Arc<Self>);
    fn info(&self) -> &X::Info;
    fn is_cancelled(&self) -> bool;
}

/// A task in a box of its own.
pub(crate) trait OwnedRun<X: Host>: Send {
    fn run(self: Box<Self>, host: &X, ctx: &Context);
    fn not_run(self: Box<Self>, host: &X, why: NotRun);
    fn abandon(self: Box<Self>);
    fn info(&self) -> &X::Info;
    /// For handing the closure back when a `'static` task was refused.
    fn into_any(self: Box<Self>) -> Box<dyn Any>
    where
        Self: 'static;
}

enum Body<'a, X: Host> {
    Shared(Arc<dyn SharedRun<X> + 'a>),
    Owned(Box<dyn OwnedRun<X> + 'a>),
}

/// A task as queues carry it.
pub(crate) struct Job<'a, X: Host> {
    /// `None` only while being consumed.
    body: Option<Body<'a, X>>,
}

/// What is left of a job that was refused before anyone saw it (see [`Job::refused`]): a
/// shared task's closure is still in the slot its submitter holds; an owned one comes back.
pub(crate) enum Refused<'a, X: Host> {
    Shared,
    Owned(Box<dyn OwnedRun<X> + 'a>),
}

impl<'a, X: Host> Job<'a, X> {
    pub(crate) fn shared(task: Arc<dyn SharedRun<X> + 'a>) -> Self {
        Job {
            body: Some(Body::Shared(task)),
        }
    }

    pub(crate) fn owned(task: Box<dyn OwnedRun<X> + 'a>) -> Self {
        Job {
            body: Some(Body::Owned(task)),
        }
    }

    fn body(&self) -> &Body<'a, X> {
        self.body
            .as_ref()
            .expect("a job holds its task until consumed")
    }

    fn take(&mut self) -> Body<'a, X> {
        self.body.take().expect("a job is consumed once")
    }

    pub(crate) fn info(&self) -> &X::Info {
        match self.body() {
            Body::Shared(task) => task.info(),
            Body::Owned(task) => task.info(),
        }
    }

    /// Whether it was cancelled through its handle before it started.
    pub(crate) fn is_cancelled(&self) -> bool {
        match self.body() {
            Body::Shared(task) => task.is_cancelled(),
            Body::Owned(_) => false,
        }
    }

    /// Runs the task with `ctx`, catching its panic; `false` if it had been cancelled through
    /// its handle, so nothing ran. A result nobody will read is dropped here, contained.
    #[inline(always)]
    pub(crate) fn run(mut self, host: &X, ctx: &Context) -> bool {
        match self.take() {
            Body::Shared(task) => task.run(host, ctx),
            Body::Owned(task) => {
                task.run(host, ctx);
                true
            }
        }
    }

    /// Consumes the task without running it, reporting why.
    pub(crate) fn not_run(mut self, host: &X, why: NotRun) {
        match self.take() {
            Body::Shared(task) => task.not_run(host, why),
            Body::Owned(task) => task.not_run(host, why),
        }
    }

    /// Takes the task out of a job the executor refused, without resolving anything: as far as
    /// the caller knows the task never existed, and its closure goes back to the caller.
    pub(crate) fn refused(mut self) -> Refused<'a, X> {
        match self.take() {
            Body::Shared(task) => {
                drop(task);
                Refused::Shared
            }
            Body::Owned(task) => Refused::Owned(task),
        }
    }
}

impl<X: Host> Drop for Job<'_, X> {
    fn drop(&mut self) {
        match self.body.take() {
            Some(Body::Shared(task)) => task.abandon(),
            Some(Body::Owned(task)) => task.abandon(),
            None => {}
        }
    }
}

/// The error a task's handle gets when its job was dropped unconsumed.
pub(crate) fn abandoned() -> JoinError {
    JoinError::NotStarted(Cancelled::new(Cause::Cancelled))
}

/// Where an owned task's end goes besides its layer.
pub(crate) trait Outlet<X: Host, V>: Send {
    fn info(&self) -> &X::Info;
    fn end(&self, settled: Settled<V>);
    /// Ends a task that ran; an outlet with no reader hands a panic to its host instead.
    fn end_run(&self, _host: &X, settled: Settled<V>) {
        self.end(settled);
    }
    /// Gives the outlet up once the task has ended; a result nobody reads dies here.
    fn release(self, host: &X);

    /// [`end_run`](Outlet::end_run) then [`release`](Outlet::release), for an outlet that can
    /// do both at once.
    fn end_run_and_release(self, host: &X, settled: Settled<V>)
    where
        Self: Sized,
    {
        self.end_run(host, settled);
        self.release(host);
    }
}

/// The outlet of a task without a handle: it only carries who the task is.
pub(crate) struct NoHandle<I>(pub(crate) I);

impl<X: Host> Outlet<X, ()> for NoHandle<X::Info> {
    fn info(&self) -> &X::Info {
        &self.0
    }

    fn end(&self, _: Settled<()>) {}

    fn end_run(&self, host: &X, settled: Settled<()>) {
        if let Err(JoinError::Panicked(panic)) = settled.result {
            host.unread_panic(&self.0, panic);
        }
    }

    fn release(self, _: &X) {}
}

/// The outlet of a task whose handle holds a separate slot.
impl<X: Host, V: Send> Outlet<X, V> for Arc<Slot<X::Info, V>> {
    fn info(&self) -> &X::Info {
        Slot::info(self)
    }

    fn end(&self, settled: Settled<V>) {
        Slot::end(self, settled);
    }

    fn release(self, host: &X) {
        Slot::release(self, host);
    }

    fn end_run_and_release(self, host: &X, settled: Settled<V>) {
        Slot::end_and_release(self, host, settled);
    }
}

/// An owned task: its closure and its outlet, in one box.
pub(crate) struct Cell<F, O> {
    f: F,
    outlet: O,
}

impl<F, O> Cell<F, O> {
    pub(crate) fn new(f: F, outlet: O) -> Self {
        Cell { f, outlet }
    }
}

impl<X, F, R, O> OwnedRun<X> for Cell<F, O>
where
    X: Host,
    F: FnOnce(&Context) -> R + Send,
    R: Output<X>,
    O: Outlet<X, R::Value>,
{
    fn run(self: Box<Self>, host: &X, ctx: &Context) {
        let Cell { f, outlet } = *self;
        let settled = R::settle(Panicked::catch(move || f(ctx)), host, outlet.info());
        outlet.end_run_and_release(host, settled);
    }

    fn not_run(self: Box<Self>, host: &X, why: NotRun) {
        let Cell { f, outlet } = *self;
        let error = host.not_run(outlet.info(), why);
        outlet.end(Settled {
            result: Err(error),
            won: false,
        });
        if let Err(panic) = drop_caught(f) {
            host.drop_panicked(outlet.info(), panic);
        }
        outlet.release(host);
    }

    fn abandon(self: Box<Self>) {
        let Cell { f, outlet } = *self;
        outlet.end(Settled {
            result: Err(abandoned()),
            won: false,
        });
        // Nobody to report to, and this may run while unwinding.
        drop_quietly(f);
        drop_quietly(outlet);
    }

    fn info(&self) -> &X::Info {
        self.outlet.info()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any>
    where
        Self: 'static,
    {
        self
    }
}
