//! [`GroupScope`]: what the group's closure (and any task holding a clone) spawns tasks with.

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
use super::life::Life;
use super::room::Room;
use super::shared::Shared;
use super::spawn::{Joinable, SpawnOn, ThreadBody};
use super::task::{self, GroupTaskHandle, Job};
use crate::context::Context;

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
pub struct GroupScope<'scope, 'env: 'scope, E> {
    shared: Arc<Shared<E>>,
    spawner: &'scope (dyn SpawnOn<'scope> + 'scope),
    /// Every thread the group starts is sent here and joined explicitly by `run`.
    joins: Sender<Joinable<'scope>>,
    /// Present when the group has a limit.
    queue: Option<Queue<'scope>>,
    /// Invariant in both lifetimes, like `std::thread::Scope`.
    _env: PhantomData<&'scope mut &'env ()>,
}

/// A limited group's task queue and its lazily started workers.
struct Queue<'scope> {
    tx: Sender<Job<'scope>>,
    rx: Receiver<Job<'scope>>,
    /// Workers started so far; never above `limit`.
    workers: Arc<AtomicUsize>,
    limit: usize,
    /// Where spawners wait for a full queue to drain.
    room: Arc<Room>,
}

impl Clone for Queue<'_> {
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

impl<'scope, 'env, E: Send + 'env> GroupScope<'scope, 'env, E> {
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
        GroupScope {
            shared,
            spawner,
            joins,
            queue,
            _env: PhantomData,
        }
    }

    /// Spawns a task. It receives a child of the group's context and may borrow anything that
    /// outlives the group.
    ///
    /// Without a limit the task gets its own thread. With a limit it is queued for the group's
    /// workers; when the queue ([`GroupBuilder::queue`](crate::GroupBuilder::queue)) is full,
    /// `spawn` blocks until the workers have drained it to half (one wake-up per half queue
    /// rather than per task), or, with `queue(0)`, until a worker is free; if the group
    /// is cancelled while waiting, the task is not started and its handle (and a
    /// [`CollectAll`](crate::CollectAll) result) report it as cancelled. A task spawned by one of
    /// the group's own workers into a full queue runs inline on that worker instead of waiting,
    /// so nested spawns cannot deadlock the group.
    ///
    /// A task spawned after the group was cancelled is not started.
    #[track_caller]
    pub fn spawn<T, F>(&self, f: F) -> GroupTaskHandle<T>
    where
        F: FnOnce(Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_inner(None, Location::caller(), f)
    }

    /// Like [`spawn`](GroupScope::spawn), naming the task: the name appears in errors, in
    /// straggler reports and (without a limit) in its thread's name.
    #[track_caller]
    pub fn spawn_named<T, F>(&self, name: impl Into<String>, f: F) -> GroupTaskHandle<T>
    where
        F: FnOnce(Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_inner(Some(name.into()), Location::caller(), f)
    }

    /// Spawns a task only if that needs no waiting (Go's `TryGo`).
    ///
    /// # Errors
    ///
    /// [`TrySpawnError::Full`] when the group's limit is reached, or
    /// [`TrySpawnError::Cancelled`] when the group is cancelled; both hand the closure back.
    #[track_caller]
    pub fn try_spawn<T, F>(&self, f: F) -> Result<GroupTaskHandle<T>, TrySpawnError<F>>
    where
        F: FnOnce(Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        let location = Location::caller();
        if self.shared.ctx.is_cancelled() {
            return Err(TrySpawnError::Cancelled(f));
        }
        let Some(queue) = &self.queue else {
            return Ok(self.spawn_inner(None, location, f));
        };
        let Some(counted) = self.shared.life.enter() else {
            return Err(TrySpawnError::Cancelled(f));
        };
        if self.ensure_worker(queue).is_err() && queue.workers.load(Ordering::Acquire) == 0 {
            return Err(TrySpawnError::Full(f));
        }
        // The closure must come back if the queue refuses the job: keep it reachable.
        let cell = Arc::new(Mutex::new(Some(f)));
        let inner = cell.clone();
        let task = self.shared.next_task(None, location);
        let (job, handle) = task::new_job(&self.shared, task, counted, move |ctx| {
            match inner.lock().take() {
                Some(f) => f(ctx),
                None => unreachable!("a queued task runs once, and only if it was accepted"),
            }
        });
        match queue.tx.try_send(job) {
            Ok(()) => Ok(handle),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                job.defuse();
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

    fn spawn_inner<T, F>(
        &self,
        name: Option<String>,
        location: &'static Location<'static>,
        f: F,
    ) -> GroupTaskHandle<T>
    where
        F: FnOnce(Context) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        let task = self.shared.next_task(name, location);
        let Some(counted) = self.shared.life.enter() else {
            return task::refused(task);
        };
        let (job, handle) = task::new_job(&self.shared, task, counted, f);
        if self.shared.ctx.is_cancelled() {
            drop(job); // reports "not started"
            return handle;
        }
        match &self.queue {
            None => {
                let owner = handle.task().name().unwrap_or(&self.shared.owner);
                self.spawn_thread(owner, job);
            }
            Some(queue) => self.enqueue(queue, job),
        }
        handle
    }

    /// Runs `job` on a new thread, or reports it as not started if none can be created.
    fn spawn_thread(&self, owner: &str, job: Job<'scope>) {
        // The job stays reachable so a failed spawn can report it with its OS error.
        let cell = Arc::new(Mutex::new(Some(job)));
        let in_thread = cell.clone();
        let body: ThreadBody<'scope> = Box::new(move || {
            let job = in_thread.lock().take();
            if let Some(job) = job {
                job.run();
            }
        });
        match self.spawner.spawn_on(self.shared.thread(owner), body) {
            Ok(thread) => self.joined_later(thread),
            Err(error) => {
                let job = cell.lock().take();
                if let Some(job) = job {
                    job.spawn_failed(error);
                }
            }
        }
    }

    fn enqueue(&self, queue: &Queue<'scope>, job: Job<'scope>) {
        if let Err(error) = self.ensure_worker(queue)
            && queue.workers.load(Ordering::Acquire) == 0
        {
            return job.spawn_failed(error);
        }
        let mut job = match queue.tx.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
        };
        if WORKER_OF.with(Cell::get) == group_id(&self.shared) {
            return job.run();
        }
        if queue.tx.capacity() == Some(0) {
            // A rendezvous queue: wait for a free worker.
            if let Err(refused) = self.shared.ctx.send(&queue.tx, job) {
                drop(refused.into_inner()); // cancelled while waiting: reports "not started"
            }
            return;
        }
        loop {
            if queue
                .room
                .wait(|| queue.tx.len(), &self.shared.ctx)
                .is_err()
            {
                return drop(job); // cancelled while waiting: reports "not started"
            }
            job = match queue.tx.try_send(job) {
                Ok(()) => return,
                Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
            };
        }
    }

    /// Starts one more worker while fewer than `limit` exist.
    fn ensure_worker(&self, queue: &Queue<'scope>) -> std::io::Result<()> {
        let mut started = queue.workers.load(Ordering::Acquire);
        while started < queue.limit {
            match queue.workers.compare_exchange_weak(
                started,
                started + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let body = worker(
                        queue.rx.clone(),
                        queue.room.clone(),
                        self.shared.life.clone(),
                        group_id(&self.shared),
                    );
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
fn worker<'scope>(
    rx: Receiver<Job<'scope>>,
    room: Arc<Room>,
    life: Arc<Life>,
    group: usize,
) -> ThreadBody<'scope> {
    Box::new(move || {
        WORKER_OF.with(|w| w.set(group));
        loop {
            // Spin briefly before parking: a busy group hands off tasks without a wake-up.
            let backoff = Backoff::new();
            let job = loop {
                match rx.try_recv() {
                    Ok(job) => break Some(job),
                    Err(TryRecvError::Disconnected) => break None,
                    Err(TryRecvError::Empty) if !backoff.is_completed() => backoff.snooze(),
                    Err(TryRecvError::Empty) => {
                        break crossbeam_channel::select! {
                            recv(rx) -> job => job.ok(),
                            recv(life.closed()) -> _ => None,
                        };
                    }
                }
            };
            match job {
                Some(job) => {
                    room.took(|| rx.len());
                    job.run();
                }
                None => break,
            }
        }
        WORKER_OF.with(|w| w.set(0));
    })
}

fn group_id<E>(shared: &Arc<Shared<E>>) -> usize {
    Arc::as_ptr(shared).cast::<()>() as usize
}

impl<E> Clone for GroupScope<'_, '_, E> {
    fn clone(&self) -> Self {
        GroupScope {
            shared: self.shared.clone(),
            spawner: self.spawner,
            joins: self.joins.clone(),
            queue: self.queue.clone(),
            _env: PhantomData,
        }
    }
}

impl<E> fmt::Debug for GroupScope<'_, '_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupScope")
            .field("context", &self.shared.ctx)
            .field("limit", &self.queue.as_ref().map(|q| q.limit))
            .finish_non_exhaustive()
    }
}
