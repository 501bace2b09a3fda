//! [`Scope`]: what the group's closure (and any task holding a clone) spawns tasks with.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use crossbeam_utils::Backoff;
use parking_lot::Mutex;

use super::error::TrySpawnError;
use super::room::Room;
use super::shared::Shared;
use super::spawn::{Joinable, SpawnOn, ThreadBody};
use super::task::{self, Job, TaskHandle};
use crate::context::Context;
use crate::panic::Panicked;
use crate::task::TaskInfo;

thread_local! {
    /// On a limited group's worker: the group it serves (see `group_id`), so a task that spawns
    /// into its own full group runs the new task inline instead of deadlocking.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

/// Spawns tasks into a group. The group's closure receives one; clone it into a task to spawn
/// from inside that task (nested spawns are waited for like any other).
///
/// `'scope` is the lifetime of the group's threads and `'env` that of what tasks may borrow, as
/// in [`std::thread::Scope`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use homebound::{Context, scope};
///
/// let visited = AtomicUsize::new(0);
/// scope(&Context::new(), |g| {
///     let inner = g.clone();
///     let visited = &visited;
///     g.spawn(move |_ctx| {
///         visited.fetch_add(1, Ordering::Relaxed);
///         inner.spawn(move |_ctx| { visited.fetch_add(1, Ordering::Relaxed); Ok(()) });
///         Ok::<_, ()>(())
///     });
/// })
/// .unwrap();
/// assert_eq!(visited.load(Ordering::Relaxed), 2);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub struct Scope<'scope, 'env: 'scope, E> {
    shared: Arc<Shared<E>>,
    spawner: &'scope (dyn SpawnOn<'scope> + 'scope),
    /// Every thread the group starts is sent here and joined explicitly by `run`.
    joins: Sender<Joinable<'scope>>,
    /// Present when the group has a limit.
    queue: Option<Queue<'scope, E>>,
    /// Invariant in both lifetimes, like `std::thread::Scope`.
    _env: PhantomData<&'scope mut &'env ()>,
}

/// A limited group's task queue and its lazily started workers.
struct Queue<'scope, E> {
    tx: Sender<Job<'scope, E>>,
    rx: Receiver<Job<'scope, E>>,
    /// Workers started so far; never above `limit`.
    workers: Arc<AtomicUsize>,
    limit: usize,
    /// Where spawners wait for a full queue to drain.
    room: Arc<Room>,
}

impl<E> Clone for Queue<'_, E> {
    fn clone(&self) -> Self {
        Queue {
            tx: self.tx.clone(),
            rx: self.rx.clone(),
            workers: self.workers.clone(),
            limit: self.limit,
            room: self.room.clone(),
        }
    }
}

impl<'scope, 'env, E: Send + 'env> Scope<'scope, 'env, E> {
    pub(super) fn new(
        shared: Arc<Shared<E>>,
        spawner: &'scope (dyn SpawnOn<'scope> + 'scope),
        joins: Sender<Joinable<'scope>>,
        limit: Option<(usize, usize)>,
    ) -> Self {
        let queue = limit.map(|(limit, capacity)| {
            let (tx, rx) = crossbeam_channel::bounded(capacity);
            Queue {
                tx,
                rx,
                workers: Arc::new(AtomicUsize::new(0)),
                limit,
                room: Arc::new(Room::new(capacity)),
            }
        });
        Scope {
            shared,
            spawner,
            joins,
            queue,
            _env: PhantomData,
        }
    }

    /// Spawns a task. It receives a child of the group's context (borrowed, as the pool's
    /// tasks do: `ctx.clone()` keeps it) and may borrow anything that outlives the group.
    ///
    /// With a limit, a worker hands the same context to task after task as long as no task
    /// cancels it, keeps a clone, takes its `done()` channel or registers a callback on it;
    /// otherwise the next task gets a fresh child. Either way each task sees a context nobody
    /// else has used, which saves an allocation per small task.
    ///
    /// Without a limit the task gets its own thread. With a limit it is queued for the group's
    /// workers; when the queue ([`Builder::queue`](crate::group::Builder::queue)) is full,
    /// `spawn` blocks until the workers have drained it to half (one wake-up per half queue
    /// rather than per task), or, with `queue(0)`, until a worker is free; if the group
    /// is cancelled while waiting, the task is not started and its handle (and a
    /// [`CollectAll`](crate::group::CollectAll) result) report it as cancelled. A task spawned by one of
    /// the group's own workers into a full queue runs inline on that worker instead of waiting,
    /// so nested spawns cannot deadlock the group.
    ///
    /// A task spawned after the group was cancelled is not started.
    #[track_caller]
    pub fn spawn<T, F>(&self, f: F) -> TaskHandle<T>
    where
        F: FnOnce(&Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_inner(None, Location::caller(), f)
    }

    /// Like [`spawn`](Scope::spawn), naming the task: the name appears in errors, in
    /// straggler reports and (without a limit) in its thread's name.
    #[track_caller]
    pub fn spawn_named<T, F>(&self, name: impl Into<String>, f: F) -> TaskHandle<T>
    where
        F: FnOnce(&Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_inner(Some(name.into()), Location::caller(), f)
    }

    /// Like [`spawn`](Scope::spawn) for a task whose only result is success or failure,
    /// without a handle: Go's `errgroup.Go`. The group still records the task's error or panic
    /// (per its policy) and waits for it; only the per-task handle is left out, which saves an
    /// allocation per task, so prefer it for many small tasks whose results go elsewhere.
    ///
    /// A task executed after the group has ended (possible only from a `'static` scope of
    /// [`run_timeout`](crate::group::Group::run_timeout) kept beyond it) is dropped without running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use homebound::{Context, group::Group};
    ///
    /// let total = AtomicU64::new(0);
    /// Group::builder()
    ///     .limit(2)
    ///     .build()
    ///     .unwrap()
    ///     .run(&Context::new(), |g| {
    ///         for i in 1..=100u64 {
    ///             let total = &total;
    ///             g.execute(move |_ctx| {
    ///                 total.fetch_add(i, Ordering::Relaxed);
    ///                 Ok::<_, ()>(())
    ///             });
    ///         }
    ///     })
    ///     .unwrap();
    /// assert_eq!(total.into_inner(), 5050);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn execute<F>(&self, f: F)
    where
        F: FnOnce(&Context) -> Result<(), E> + Send + 'scope,
    {
        let location = Location::caller();
        let entry = self.shared.life.enter();
        if entry.accepted {
            let task = TaskInfo::new(entry.index, None, location);
            self.launch(task::new_job_without_handle(task, f), None);
        }
    }

    /// Spawns a task only if that needs no waiting (Go's `TryGo`).
    ///
    /// # Errors
    ///
    /// [`TrySpawnError::Full`] when the group's limit is reached, or
    /// [`TrySpawnError::Cancelled`] when the group is cancelled; both hand the closure back.
    #[track_caller]
    pub fn try_spawn<T, F>(&self, f: F) -> Result<TaskHandle<T>, TrySpawnError<F>>
    where
        F: FnOnce(&Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        let location = Location::caller();
        if self.shared.ctx.is_cancelled() {
            return Err(TrySpawnError::Cancelled(f));
        }
        let Some(queue) = &self.queue else {
            return Ok(self.spawn_inner(None, location, f));
        };
        if self.ensure_worker(queue).is_err() && queue.workers.load(Ordering::Acquire) == 0 {
            return Err(TrySpawnError::Full(f));
        }
        let life = &self.shared.life;
        let entry = life.enter();
        if !entry.accepted {
            return Err(TrySpawnError::Cancelled(f));
        }
        // The closure must come back if the queue refuses the job: keep it reachable.
        let cell = Arc::new(Mutex::new(Some(f)));
        let inner = cell.clone();
        let task = TaskInfo::new(entry.index, None, location);
        let (job, handle) = task::new_job(task, move |ctx: &Context| match inner.lock().take() {
            Some(f) => f(ctx),
            None => unreachable!("a queued task runs once, and only if it was accepted"),
        });
        match queue.tx.try_send(job) {
            Ok(()) => Ok(handle),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                job.defuse();
                life.end(1);
                let f = cell.lock().take();
                match f {
                    Some(f) => Err(TrySpawnError::Full(f)),
                    None => unreachable!("the refused job never ran"),
                }
            }
        }
    }

    /// The group's context: cancel it to stop the group's tasks (it is a child of the context
    /// given to `run`, which is never cancelled by the group).
    pub fn context(&self) -> &Context {
        &self.shared.ctx
    }

    pub(super) fn spawn_inner<T, F>(
        &self,
        name: Option<String>,
        location: &'static Location<'static>,
        f: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(&Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        let entry = self.shared.life.enter();
        let task = TaskInfo::new(entry.index, name, location);
        if !entry.accepted {
            return task::refused(task);
        }
        let (job, handle) = task::new_job(task, f);
        self.launch(job, handle.task().name());
        handle
    }

    /// Starts an accepted job: on its own thread, or through the queue of a limited group.
    fn launch(&self, job: Job<'scope, E>, name: Option<&str>) {
        if self.shared.ctx.is_cancelled() {
            return self.not_started(job);
        }
        match &self.queue {
            None => self.spawn_thread(name.unwrap_or(&self.shared.owner), job),
            Some(queue) => self.enqueue(queue, job),
        }
    }

    /// Reports an accepted job as not started (the group was cancelled) and ends it.
    fn not_started(&self, job: Job<'scope, E>) {
        job.not_started(&self.shared);
        self.shared.life.end(1);
    }

    /// Reports an accepted job for which no thread could be created, and ends it.
    fn spawn_failed(&self, job: Job<'scope, E>, error: std::io::Error) {
        job.spawn_failed(&self.shared, error);
        self.shared.life.end(1);
    }

    /// Runs `job` on a new thread, or reports it as not started if none can be created.
    fn spawn_thread(&self, owner: &str, job: Job<'scope, E>) {
        // The job stays reachable so a failed spawn can report it with its OS error.
        let cell = Arc::new(Mutex::new(Some(job)));
        let in_thread = cell.clone();
        let shared = self.shared.clone();
        let body: ThreadBody<'scope> = Box::new(move || {
            let job = in_thread.lock().take();
            if let Some(job) = job {
                run_alone(&shared, job);
                shared.life.end(1);
            }
        });
        match self.spawner.spawn_on(self.shared.thread(owner), body) {
            Ok(thread) => self.joined_later(thread),
            Err(error) => {
                let job = cell.lock().take();
                if let Some(job) = job {
                    self.spawn_failed(job, error);
                }
            }
        }
    }

    fn enqueue(&self, queue: &Queue<'scope, E>, job: Job<'scope, E>) {
        if let Err(error) = self.ensure_worker(queue)
            && queue.workers.load(Ordering::Acquire) == 0
        {
            return self.spawn_failed(job, error);
        }
        let mut job = match queue.tx.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
        };
        if WORKER_OF.with(Cell::get) == group_id(&self.shared) {
            // Waiting for room would wait for this very worker: run the task here instead.
            run_alone(&self.shared, job);
            return self.shared.life.end(1);
        }
        if queue.tx.capacity() == Some(0) {
            // A rendezvous queue: wait for a free worker.
            if let Err(refused) = self.shared.ctx.send(&queue.tx, job) {
                self.not_started(refused.into_inner()); // cancelled while waiting
            }
            return;
        }
        loop {
            if queue
                .room
                .wait(|| queue.tx.len(), &self.shared.ctx)
                .is_err()
            {
                return self.not_started(job); // cancelled while waiting
            }
            job = match queue.tx.try_send(job) {
                Ok(()) => return,
                Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
            };
        }
    }

    /// Starts one more worker while fewer than `limit` exist.
    fn ensure_worker(&self, queue: &Queue<'scope, E>) -> std::io::Result<()> {
        let mut started = queue.workers.load(Ordering::Acquire);
        while started < queue.limit {
            match queue.workers.compare_exchange_weak(
                started,
                started + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let body = worker(queue.rx.clone(), queue.room.clone(), self.shared.clone());
                    return match self
                        .spawner
                        .spawn_on(self.shared.thread(&self.shared.owner), body)
                    {
                        Ok(thread) => {
                            self.joined_later(thread);
                            Ok(())
                        }
                        Err(error) => {
                            queue.workers.fetch_sub(1, Ordering::AcqRel);
                            Err(error)
                        }
                    };
                }
                Err(now) => started = now,
            }
        }
        Ok(())
    }

    fn joined_later(&self, thread: Joinable<'scope>) {
        // The joiner outlives every spawner (see `Life`); if it is gone anyway (a timeout
        // report was dropped), join here rather than leave the thread unjoined.
        if let Err(unsent) = self.joins.send(thread) {
            let _ = unsent.into_inner().join();
        }
    }
}

/// A limited group's worker: runs queued jobs until the group closes.
fn worker<'scope, E: Send + 'scope>(
    rx: Receiver<Job<'scope, E>>,
    room: Arc<Room>,
    shared: Arc<Shared<E>>,
) -> ThreadBody<'scope> {
    Box::new(move || {
        WORKER_OF.with(|w| w.set(group_id(&shared)));
        // One task context per worker, handed to task after task while no task keeps, clones
        // or cancels it (`is_reusable`): a fresh child per task was a quarter of a small
        // task's cost.
        let mut ctx = shared.ctx.child();
        // Ends not yet reported to the group (see `InFlight`, invariant 3).
        let mut ended = 0;
        loop {
            // Spin briefly before parking: a busy group hands off tasks without a wake-up.
            let backoff = Backoff::new();
            let job = loop {
                match rx.try_recv() {
                    Ok(job) => break Some(job),
                    Err(TryRecvError::Disconnected) => break None,
                    Err(TryRecvError::Empty) => {
                        if ended > 0 {
                            shared.life.end(std::mem::take(&mut ended));
                        }
                        if !backoff.is_completed() {
                            backoff.snooze();
                            continue;
                        }
                        break crossbeam_channel::select! {
                            recv(rx) -> job => job.ok(),
                            recv(shared.life.closed()) -> _ => None,
                        };
                    }
                }
            };
            let Some(job) = job else { break };
            room.took(|| rx.len());
            contained(&shared, || job.run(&shared, &ctx));
            if !ctx.is_reusable() {
                // Dropping the old context drops what the task registered on it: user code.
                let used = std::mem::replace(&mut ctx, shared.ctx.child());
                contained(&shared, move || drop(used));
            }
            ended += 1;
        }
        if ended > 0 {
            shared.life.end(ended);
        }
        WORKER_OF.with(|w| w.set(0));
    })
}

/// Runs `f` so that no panic escapes it. A task's own panic is caught inside its job, but the
/// group's bookkeeping around a task runs user code too (a `Drop` of a discarded error or of
/// what a task left on its context, a cancel callback that panics). Whatever escapes is
/// reported, and the caller goes on to count the task as ended: a thread that unwound here
/// would leave the group waiting forever.
fn contained<E>(shared: &Shared<E>, f: impl FnOnce()) {
    if let Err(panic) = Panicked::catch(f) {
        // Reporting cancels the group, which runs callbacks again: one more panic there has
        // nowhere left to go.
        let _ = Panicked::catch(|| shared.fail_outside_task(panic));
    }
}

/// Runs a job outside a worker (on its own thread, or inline) with a context of its own, which
/// goes, with what the task registered on it, before the caller counts the task as ended.
fn run_alone<E>(shared: &Shared<E>, job: Job<'_, E>) {
    let ctx = shared.ctx.child();
    contained(shared, || job.run(shared, &ctx));
    contained(shared, move || drop(ctx));
}

fn group_id<E>(shared: &Arc<Shared<E>>) -> usize {
    Arc::as_ptr(shared).cast::<()>() as usize
}

impl<E> Clone for Scope<'_, '_, E> {
    fn clone(&self) -> Self {
        Scope {
            shared: self.shared.clone(),
            spawner: self.spawner,
            joins: self.joins.clone(),
            queue: self.queue.clone(),
            _env: PhantomData,
        }
    }
}

impl<E> fmt::Debug for Scope<'_, '_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("context", &self.shared.ctx)
            .field("limit", &self.queue.as_ref().map(|q| q.limit))
            .finish_non_exhaustive()
    }
}
