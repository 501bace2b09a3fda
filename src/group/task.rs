//! One task: its result slot, the [`TaskHandle`] that reads it, and the type-erased job that a
//! thread or a worker runs (or reports as not started).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::error::Error;
use super::shared::Shared;
use crate::context::Cancelled;
use crate::context::{Cause, Context};
use crate::panic::Panicked;
use crate::task::{JoinError, TaskInfo};

/// Where a task's result waits for its handle, and who the task is.
///
/// An error, the rare case, is boxed: the spawning thread writes the slot and a worker then
/// takes it over, once per task, so a small slot moves fewer cache lines between them.
struct Slot<T> {
    task: TaskInfo,
    state: Mutex<State<T>>,
    ended: Condvar,
}

enum State<T> {
    Pending,
    Ended {
        result: Result<T, Box<JoinError>>,
        won: bool,
    },
    Taken,
}

impl<T> Slot<T> {
    fn new(task: TaskInfo, state: State<T>) -> Arc<Self> {
        Arc::new(Slot {
            task,
            state: Mutex::new(state),
            ended: Condvar::new(),
        })
    }

    fn end(&self, result: Result<T, JoinError>, won: bool) {
        let result = result.map_err(Box::new);
        *self.state.lock() = State::Ended { result, won };
        self.ended.notify_all();
    }
}

/// The handle of one task of a group: its identity, and its value once it has ended.
///
/// A handle does not need to be joined: the group itself waits for every task. Errors and
/// panics are reported by the group's result; the handle only says which kind of end the task
/// had ([`JoinError`]). Handles have no lifetime, so they may be returned from the group's
/// closure and read after `run` has returned.
///
/// # Examples
///
/// ```
/// use homebound::{Context, scope};
///
/// let words = vec!["a", "bb", "ccc"];
/// let handles = scope(&Context::new(), |g| {
///     words.iter().map(|w| g.spawn(move |_ctx| Ok::<_, ()>(w.len()))).collect::<Vec<_>>()
/// })
/// .unwrap();
/// let lens: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(lens, [1, 2, 3]);
/// ```
pub struct TaskHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> TaskHandle<T> {
    /// Which task this is.
    pub fn task(&self) -> &TaskInfo {
        &self.slot.task
    }

    /// Whether the task has ended (returned, failed, panicked or was not started).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.slot.state.lock(), State::Pending)
    }

    /// Whether this task was the first of its group to succeed (the winner of a
    /// [`FirstSuccess`](crate::group::FirstSuccess) race). `false` while it runs.
    pub fn is_winner(&self) -> bool {
        matches!(*self.slot.state.lock(), State::Ended { won: true, .. })
    }

    /// Waits for the task to end and returns its value.
    ///
    /// Inside the group's closure this blocks until the task ends; after `run` returned it never
    /// blocks. With a limit, joining a task that is still queued behind the joining task itself
    /// deadlocks, as with any bounded pool.
    ///
    /// # Errors
    ///
    /// [`JoinError`] if the task failed, panicked or never started.
    pub fn join(self) -> Result<T, JoinError> {
        let mut state = self.slot.state.lock();
        while matches!(*state, State::Pending) {
            self.slot.ended.wait(&mut state);
        }
        match std::mem::replace(&mut *state, State::Taken) {
            State::Ended { result, .. } => result.map_err(|error| *error),
            // Only `join(self)` takes, and it consumes the one handle.
            State::Pending | State::Taken => unreachable!("a task result is taken only once"),
        }
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task", &self.slot.task)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// How a job is consumed.
enum Start<'a> {
    Run(&'a Context),
    /// The group was cancelled or closed before the task could start.
    NotStarted,
    /// No thread could be created for it.
    SpawnFailed(io::Error),
}

/// A task's closure together with the slot its result goes to, type-erased so that one queue
/// carries every task of a group.
trait Runnable<E>: Send {
    /// Consumes the task and reports how it ended to the group.
    fn start(self: Box<Self>, shared: &Shared<E>, start: Start<'_>);
    /// Ends the task's handle without telling the group (see [`Job`]'s `Drop`).
    fn abandon(self: Box<Self>);
}

/// A task ready to run, as queues and threads carry it.
///
/// Every accepted job must be consumed exactly once (`run`, `not_started` or `spawn_failed`),
/// after which its consumer reports its end with [`Life::end`](super::life::Life::end): the group
/// waits for that count. A job holds no reference to its group (that would be two atomic
/// reference-count updates shared by the spawner and the workers per task); the consumer passes
/// the group in. Every path that takes a job out of a queue consumes it, and a queue holds jobs
/// only while a worker can still take them, so none is dropped unconsumed; if one were, its
/// `Drop` still ends its handle as not started, so `join` cannot hang.
pub(super) struct Job<'scope, E> {
    body: Option<Box<dyn Runnable<E> + 'scope>>,
}

impl<E> Job<'_, E> {
    /// Runs the task (or reports it as not started if the group is cancelled).
    pub(super) fn run(self, shared: &Shared<E>, ctx: &Context) {
        self.consume(shared, Start::Run(ctx));
    }

    /// Reports the task as not started: the group was cancelled before it could run.
    pub(super) fn not_started(self, shared: &Shared<E>) {
        self.consume(shared, Start::NotStarted);
    }

    /// Reports that no thread could be created for the task.
    pub(super) fn spawn_failed(self, shared: &Shared<E>, error: io::Error) {
        self.consume(shared, Start::SpawnFailed(error));
    }

    fn consume(mut self, shared: &Shared<E>, start: Start<'_>) {
        if let Some(body) = self.body.take() {
            body.start(shared, start);
        }
    }

    /// Discards a job the queue refused, whose closure goes back to the caller: nothing is
    /// reported, because as far as the caller knows the task never existed (the caller still
    /// ends its count).
    pub(super) fn defuse(mut self) {
        drop(self.body.take());
    }
}

impl<E> Drop for Job<'_, E> {
    fn drop(&mut self) {
        if let Some(body) = self.body.take() {
            body.abandon();
        }
    }
}

/// Where a task's end goes besides its group: the slot its handle reads, or nowhere for a task
/// started without a handle.
trait Outlet<T>: Send {
    fn task(&self) -> &TaskInfo;
    fn end(&self, result: Result<T, JoinError>, won: bool);
    /// Gives up the outlet once the task has ended.
    fn release<E>(self, shared: &Shared<E>);
}

/// The outlet of a task with a handle: the slot the handle reads.
struct ToHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T: Send> Outlet<T> for ToHandle<T> {
    fn task(&self) -> &TaskInfo {
        &self.slot.task
    }

    fn end(&self, result: Result<T, JoinError>, won: bool) {
        self.slot.end(result, won);
    }

    /// If the handle is already gone, the result dies here, and its `Drop` is user code: a
    /// panic in it is the task's, not the worker's.
    fn release<E>(self, shared: &Shared<E>) {
        // `into_inner` rather than `drop`: exactly one of the task and its handle sees the last
        // reference, so a result is never dropped on a worker while a handle could still read
        // it.
        if let Some(Slot { task, state, .. }) = Arc::into_inner(self.slot)
            && let Err(panic) = Panicked::catch(move || drop(state))
        {
            shared.fail(Error::Panicked { task, panic });
        }
    }
}

/// The outlet of a task started by [`Scope::execute`](super::Scope::execute): the
/// group records its failure, and nothing else wants its end.
struct NoHandle(TaskInfo);

impl Outlet<()> for NoHandle {
    fn task(&self) -> &TaskInfo {
        &self.0
    }

    fn end(&self, _: Result<(), JoinError>, _: bool) {}

    fn release<E>(self, _: &Shared<E>) {}
}

struct Cell<F, O, T> {
    f: F,
    outlet: O,
    _result: PhantomData<fn() -> T>,
}

impl<T, E, F, O> Runnable<E> for Cell<F, O, T>
where
    F: FnOnce(&Context) -> Result<T, E> + Send,
    O: Outlet<T>,
{
    fn start(self: Box<Self>, shared: &Shared<E>, start: Start<'_>) {
        let Cell { f, outlet, .. } = *self;
        match start {
            Start::Run(ctx) if !shared.ctx.is_cancelled() => run_task(shared, &outlet, ctx, f),
            Start::Run(_) | Start::NotStarted => not_started(shared, &outlet, f),
            Start::SpawnFailed(error) => {
                shared.fail(Error::Spawn {
                    task: outlet.task().clone(),
                    error,
                });
                outlet.end(Err(JoinError::SpawnFailed), false);
                drop_user_closure(shared, outlet.task(), f);
            }
        }
        outlet.release(shared);
    }

    fn abandon(self: Box<Self>) {
        let Cell { f, outlet, .. } = *self;
        outlet.end(
            Err(JoinError::NotStarted(Cancelled::new(Cause::Cancelled))),
            false,
        );
        // Nobody to report a panic to, and this may run during unwinding: contain it.
        let _ = Panicked::catch(move || drop(f));
    }
}

/// Builds the job for `f` and the handle to its result.
pub(super) fn new_job<'scope, T, E, F>(task: TaskInfo, f: F) -> (Job<'scope, E>, TaskHandle<T>)
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'scope,
    T: Send + 'scope,
    E: 'scope,
{
    let slot = Slot::new(task, State::Pending);
    let handle = TaskHandle { slot: slot.clone() };
    (job(f, ToHandle { slot }), handle)
}

/// Builds the job for a task without a handle: one allocation instead of two.
pub(super) fn new_job_without_handle<'scope, E, F>(task: TaskInfo, f: F) -> Job<'scope, E>
where
    F: FnOnce(&Context) -> Result<(), E> + Send + 'scope,
    E: 'scope,
{
    job(f, NoHandle(task))
}

fn job<'scope, T, E, F, O>(f: F, outlet: O) -> Job<'scope, E>
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'scope,
    O: Outlet<T> + 'scope,
    T: 'scope,
    E: 'scope,
{
    Job {
        body: Some(Box::new(Cell {
            f,
            outlet,
            _result: PhantomData,
        })),
    }
}

fn run_task<T, E, F>(shared: &Shared<E>, outlet: &impl Outlet<T>, ctx: &Context, f: F)
where
    F: FnOnce(&Context) -> Result<T, E>,
{
    let task = outlet.task();
    let _running = shared.life.track(task);
    // The group records the failure before the handle sees it, so a caller woken by `join`
    // finds the group already cancelled.
    match Panicked::catch(move || f(ctx)) {
        Ok(Ok(value)) => {
            let won = shared.succeed(task);
            outlet.end(Ok(value), won);
        }
        Ok(Err(error)) => {
            let task = task.clone();
            shared.fail(Error::Failed { task, error });
            outlet.end(Err(JoinError::Failed), false);
        }
        Err(panic) => {
            let for_handle = panic.without_payload();
            let task = task.clone();
            shared.fail(Error::Panicked { task, panic });
            outlet.end(Err(JoinError::Panicked(for_handle)), false);
        }
    }
}

fn not_started<T, E, F>(shared: &Shared<E>, outlet: &impl Outlet<T>, f: F) {
    let cause = shared
        .ctx
        .check()
        .err()
        .unwrap_or_else(|| Cancelled::new(Cause::Cancelled));
    shared.fail(Error::Cancelled {
        task: outlet.task().clone(),
        cause: cause.clone(),
    });
    outlet.end(Err(JoinError::NotStarted(cause)), false);
    drop_user_closure(shared, outlet.task(), f);
}

/// Drops a closure that will never run; its captures' `Drop` is user code and may panic.
fn drop_user_closure<E, F>(shared: &Shared<E>, task: &TaskInfo, f: F) {
    if let Err(panic) = crate::panic::drop_caught(f) {
        shared.fail(Error::Panicked {
            task: task.clone(),
            panic,
        });
    }
}

/// The handle of a task refused because its group had already ended.
pub(super) fn refused<T>(task: TaskInfo) -> TaskHandle<T> {
    let cause = Cancelled::new(Cause::Cancelled);
    TaskHandle {
        slot: Slot::new(
            task,
            State::Ended {
                result: Err(Box::new(JoinError::NotStarted(cause))),
                won: false,
            },
        ),
    }
}
