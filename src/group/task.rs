//! One task: its result slot, the [`GroupTaskHandle`] that reads it, and the type-erased job that a
//! thread or a worker runs (or reports as not started).

use std::fmt;
use std::io;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::error::{GroupError, GroupTaskError, TaskInfo};
use super::life::TaskGuard;
use super::shared::Shared;
use crate::context::{Cause, Context};
use crate::error::{Cancelled, Panicked};

/// Where a task's result waits for its handle.
struct Slot<T> {
    task: TaskInfo,
    state: Mutex<State<T>>,
    ended: Condvar,
}

enum State<T> {
    Pending,
    Ended {
        result: Result<T, GroupTaskError>,
        won: bool,
    },
    Taken,
}

impl<T> Slot<T> {
    fn end(&self, result: Result<T, GroupTaskError>, won: bool) {
        *self.state.lock() = State::Ended { result, won };
        self.ended.notify_all();
    }
}

/// The handle of one task of a group: its identity, and its value once it has ended.
///
/// A handle does not need to be joined: the group itself waits for every task. Errors and
/// panics are reported by the group's result; the handle only says which kind of end the task
/// had ([`GroupTaskError`]). Handles have no lifetime, so they may be returned from the group's
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
pub struct GroupTaskHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> GroupTaskHandle<T> {
    /// Which task this is.
    pub fn task(&self) -> &TaskInfo {
        &self.slot.task
    }

    /// Whether the task has ended (returned, failed, panicked or was not started).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.slot.state.lock(), State::Pending)
    }

    /// Whether this task was the first of its group to succeed (the winner of a
    /// [`FirstSuccess`](crate::FirstSuccess) race). `false` while it runs.
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
    /// [`GroupTaskError`] if the task failed, panicked or never started.
    pub fn join(self) -> Result<T, GroupTaskError> {
        let mut state = self.slot.state.lock();
        while matches!(*state, State::Pending) {
            self.slot.ended.wait(&mut state);
        }
        match std::mem::replace(&mut *state, State::Taken) {
            State::Ended { result, .. } => result,
            // Only `join(self)` takes, and it consumes the one handle.
            State::Pending | State::Taken => unreachable!("a task result is taken only once"),
        }
    }
}

impl<T> fmt::Debug for GroupTaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupTaskHandle")
            .field("task", &self.slot.task)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// How a job is consumed.
pub(super) enum Start {
    Run,
    /// The group was cancelled or closed before the task could start.
    NotStarted,
    /// No thread could be created for it.
    SpawnFailed(io::Error),
}

type Body<'scope> = Box<dyn FnOnce(Start) + Send + 'scope>;

/// A task ready to run. Dropping it unrun reports the task as not started, so a task is never
/// lost whichever path drops it.
pub(super) struct Job<'scope> {
    body: Option<Body<'scope>>,
    /// Keeps the task counted in its group until the job is consumed.
    _counted: TaskGuard,
}

impl<'scope> Job<'scope> {
    pub(super) fn run(mut self) {
        self.consume(Start::Run);
    }

    /// Discards a job that was never accepted (its closure went back to the caller): nothing is
    /// reported, because as far as the group knows the task never existed.
    pub(super) fn defuse(mut self) {
        drop(self.body.take());
    }

    pub(super) fn spawn_failed(mut self, error: io::Error) {
        self.consume(Start::SpawnFailed(error));
    }

    fn consume(&mut self, start: Start) {
        if let Some(body) = self.body.take() {
            body(start);
        }
    }
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        self.consume(Start::NotStarted);
    }
}

/// Builds the job for `f` and the handle to its result.
pub(super) fn new_job<'scope, T, E, F>(
    shared: &Arc<Shared<E>>,
    task: TaskInfo,
    counted: TaskGuard,
    f: F,
) -> (Job<'scope>, GroupTaskHandle<T>)
where
    F: FnOnce(Context) -> Result<T, E> + Send + 'scope,
    T: Send + 'scope,
    E: Send + 'scope,
{
    let slot = Arc::new(Slot {
        task,
        state: Mutex::new(State::Pending),
        ended: Condvar::new(),
    });
    let handle = GroupTaskHandle { slot: slot.clone() };
    let shared = shared.clone();
    let body: Body<'scope> = Box::new(move |start| match start {
        Start::Run if !shared.ctx.is_cancelled() => run_task(&shared, &slot, f),
        Start::Run | Start::NotStarted => not_started(&shared, &slot, f),
        Start::SpawnFailed(error) => {
            shared.fail(GroupError::Spawn {
                task: slot.task.clone(),
                error,
            });
            slot.end(Err(GroupTaskError::SpawnFailed), false);
            drop_user_closure(&shared, &slot.task, f);
        }
    });
    let job = Job {
        body: Some(body),
        _counted: counted,
    };
    (job, handle)
}

fn run_task<T, E, F>(shared: &Shared<E>, slot: &Slot<T>, f: F)
where
    F: FnOnce(Context) -> Result<T, E>,
{
    let _running = shared.life.track(&slot.task);
    let ctx = shared.ctx.child();
    // The group records the failure before the handle sees it, so a caller woken by `join`
    // finds the group already cancelled.
    match Panicked::catch(move || f(ctx)) {
        Ok(Ok(value)) => {
            let won = shared.succeed(&slot.task);
            slot.end(Ok(value), won);
        }
        Ok(Err(error)) => {
            let task = slot.task.clone();
            shared.fail(GroupError::Failed { task, error });
            slot.end(Err(GroupTaskError::Failed), false);
        }
        Err(panic) => {
            let message = panic.message().to_string();
            let task = slot.task.clone();
            shared.fail(GroupError::Panicked { task, panic });
            slot.end(Err(GroupTaskError::Panicked { message }), false);
        }
    }
}

fn not_started<T, E, F>(shared: &Shared<E>, slot: &Slot<T>, f: F) {
    let cause = shared
        .ctx
        .check()
        .err()
        .unwrap_or_else(|| Cancelled::new(Cause::Cancelled));
    shared.fail(GroupError::Cancelled {
        task: slot.task.clone(),
        cause: cause.clone(),
    });
    slot.end(Err(GroupTaskError::NotStarted(cause)), false);
    drop_user_closure(shared, &slot.task, f);
}

/// Drops a closure that will never run; its captures' `Drop` is user code and may panic.
fn drop_user_closure<E, F>(shared: &Shared<E>, task: &TaskInfo, f: F) {
    if let Err(panic) = Panicked::catch(move || drop(f)) {
        shared.fail(GroupError::Panicked {
            task: task.clone(),
            panic,
        });
    }
}

/// The handle of a task refused because its group had already ended.
pub(super) fn refused<T>(task: TaskInfo) -> GroupTaskHandle<T> {
    let cause = Cancelled::new(Cause::Cancelled);
    GroupTaskHandle {
        slot: Arc::new(Slot {
            task,
            state: Mutex::new(State::Ended {
                result: Err(GroupTaskError::NotStarted(cause)),
                won: false,
            }),
            ended: Condvar::new(),
        }),
    }
}
