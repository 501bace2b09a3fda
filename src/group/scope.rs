//! [`Scope`]: what the group's closure (and any task holding a clone) spawns tasks with.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem;
use std::panic::Location;
use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::error::TrySpawnError;
use super::shared::Shared;
use super::spawn::{Joinable, SpawnOn, ThreadBody};
use super::task::{self, GroupJob, TaskHandle};
use crate::context::Context;
use crate::exec::job::NotRun;
use crate::exec::queue::{Capacity, Queue, Refusal, Wait};
use crate::exec::stretch::Stretch;
use crate::exec::worker::{self, Begin, Work, new_id};
use crate::panic::{Panicked, drop_caught};
use crate::task::TaskInfo;
use crate::threads;

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
    /// Present when the group has a limit: the executor core's queue, fed to workers started on
    /// demand (see `exec::queue` for the hand-off rule).
    queue: Option<Arc<Queue<GroupJob<'scope, E>>>>,
    /// Invariant in both lifetimes, like `std::thread::Scope`.
    _env: PhantomData<&'scope mut &'env ()>,
}

impl<'scope, 'env, E: Send + 'env> Scope<'scope, 'env, E> {
    pub(super) fn new(
        shared: Arc<Shared<E>>,
        spawner: &'scope (dyn SpawnOn<'scope> + 'scope),
        joins: Sender<Joinable<'scope>>,
        limit: Option<(usize, usize)>,
    ) -> Self {
        let queue = limit.map(|(limit, capacity)| {
            let queue = Queue::new(new_id(), Capacity::Bounded(capacity), 0, limit);
            shared.life.set_queue(queue.closer());
            Arc::new(queue)
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
    /// the group's own workers starts one more worker if the limit allows, and otherwise runs
    /// inline on that worker instead of waiting, so nested spawns cannot deadlock the group.
    ///
    /// A task spawned after the group was cancelled is not started.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let text = String::from("one two three");
    /// let words = scope(&Context::new(), |g| {
    ///     let count = g.spawn(|_ctx| Ok::<_, ()>(text.split(' ').count())); // borrows `text`
    ///     count.join().unwrap()
    /// })
    /// .unwrap();
    /// assert_eq!(words, 3);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[inline]
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
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, scope};
    ///
    /// let err = scope(&Context::new(), |g| {
    ///     let h = g.spawn_named("load-config", |_ctx| Err::<(), _>("missing key"));
    ///     assert_eq!(h.task().name(), Some("load-config"));
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.to_string(), "task 'load-config' (#0) failed: missing key");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
    #[inline]
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

    /// Spawns a task only if that needs no waiting (Go's `TryGo`): with a limit, it is accepted
    /// whenever a worker is idle (parked, or about to park), the queue has room, or one more
    /// worker may be started below the limit, whatever the timing; a fresh `limit(n)` group
    /// accepts `n` tasks at once even with `queue(0)`.
    ///
    /// # Errors
    ///
    /// [`TrySpawnError::Full`] when every permitted worker is busy and the queue (if any) is
    /// full, or [`TrySpawnError::Cancelled`] when the group is cancelled; both hand the closure
    /// back.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group};
    ///
    /// let group = Group::builder().limit(2).queue(0).build().unwrap();
    /// group
    ///     .run(&Context::new(), |g| {
    ///         let (release, gate) = crossbeam_channel::bounded::<()>(0);
    ///         for _ in 0..2 {
    ///             let gate = gate.clone();
    ///             g.try_spawn(move |_ctx| Ok::<_, ()>(gate.recv().unwrap_or(()))).unwrap();
    ///         }
    ///         assert!(g.try_spawn(|_ctx| Ok(())).unwrap_err().is_full()); // two busy workers
    ///         drop(release);
    ///     })
    ///     .unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
        let life = &self.shared.life;
        let entry = life.enter();
        if !entry.accepted {
            return Err(TrySpawnError::Cancelled(f));
        }
        // The closure must come back if the hand-off refuses the job: keep it reachable.
        let cell = Arc::new(Mutex::new(Some(f)));
        let inner = cell.clone();
        let task = TaskInfo::new(entry.index, None, location);
        let (job, handle) = task::new_job(task, move |ctx: &Context| match inner.lock().take() {
            Some(f) => f(ctx),
            None => unreachable!("a queued task runs once, and only if it was accepted"),
        });
        match queue.offer(job, Wait::No, &mut |first| self.start_worker(queue, first)) {
            Ok(()) => Ok(handle),
            Err((job, _)) => {
                // As far as the caller knows the task never existed: nothing is reported.
                drop(job.refused());
                drop(handle);
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
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, scope};
    ///
    /// let ctx = Context::new();
    /// let (started_tx, started) = bounded(0);
    /// scope(&ctx, |g| {
    ///     g.spawn(move |task_ctx| {
    ///         started_tx.send(()).unwrap();
    ///         task_ctx.wait(); // runs until the group is cancelled
    ///         Ok::<_, ()>(())
    ///     });
    ///     started.recv().unwrap(); // (a task cancelled before it starts is reported as not started)
    ///     g.context().cancel(); // stops the group's tasks
    /// })
    /// .unwrap();
    /// assert!(!ctx.is_cancelled()); // the caller's context is untouched
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn context(&self) -> &Context {
        &self.shared.ctx
    }

    /// The group's limit: how many of its tasks may run at once (`None`: unlimited, a thread
    /// per task). See [`Builder::limit`](crate::group::Builder::limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, group::Group, scope};
    ///
    /// let r: Result<(), homebound::group::Error<()>> =
    ///     scope(&Context::new(), |g| assert_eq!(g.limit(), None));
    /// assert!(r.is_ok());
    /// let group = Group::builder().limit(3).build().unwrap();
    /// let r: Result<(), homebound::group::Error<()>> =
    ///     group.run(&Context::new(), |g| assert_eq!(g.limit(), Some(3)));
    /// assert!(r.is_ok());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.queue.as_ref().map(|q| q.crew.max())
    }

    #[inline]
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
        if task.name().is_some() {
            self.shared.observe_names();
        }
        let (job, handle) = task::new_job(task, f);
        self.launch(job, handle.task().name());
        handle
    }

    /// Starts an accepted job: on its own thread, or through the queue of a limited group.
    /// The common case (a limited group, not cancelled, room in its queue) is inlined into
    /// the caller, however many spawn forms it uses; everything else is out of line.
    #[inline(always)]
    fn launch(&self, job: GroupJob<'scope, E>, name: Option<&str>) {
        if let Some(queue) = &self.queue
            && !self.shared.skips_start()
        {
            if let Err(job) = queue.try_queue(job) {
                self.enqueue(queue, job);
            }
            return;
        }
        self.launch_other(job, name);
    }

    /// [`launch`](Scope::launch) without a queue, or into a cancelled group.
    #[inline(never)]
    fn launch_other(&self, job: GroupJob<'scope, E>, name: Option<&str>) {
        if self.shared.skips_start() {
            return self.not_started(job);
        }
        match &self.queue {
            None => self.spawn_thread(name.unwrap_or(&self.shared.owner), job),
            Some(queue) => self.enqueue(queue, job),
        }
    }

    /// Reports an accepted job as not started (the group was cancelled) and ends it.
    fn not_started(&self, job: GroupJob<'scope, E>) {
        contained(&self.shared, || {
            job.not_run(&self.shared, NotRun::Cancelled)
        });
        self.shared.life.end(1);
    }

    /// Reports an accepted job for which no thread could be created, and ends it.
    fn spawn_failed(&self, job: GroupJob<'scope, E>, error: io::Error) {
        contained(&self.shared, || {
            job.not_run(&self.shared, NotRun::SpawnFailed(error));
        });
        self.shared.life.end(1);
    }

    /// Runs `job` on a new thread, or reports it as not started if none can be created.
    fn spawn_thread(&self, owner: &str, job: GroupJob<'scope, E>) {
        let at = job.info().location(); // issue 17: the dump shows the task's `spawn` line
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
        match self
            .spawner
            .spawn_on(self.shared.thread(owner).at(at), body)
        {
            Ok(thread) => self.joined_later(thread),
            Err(error) => {
                let job = cell.lock().take();
                if let Some(job) = job {
                    self.spawn_failed(job, error);
                }
            }
        }
    }

    /// Hands a job to a limited group's workers (see `exec::queue`), waiting for room while the
    /// group is not cancelled: what `launch` does when its queue had no room at once, or a
    /// worker must be started.
    #[inline(never)]
    fn enqueue(&self, queue: &Arc<Queue<GroupJob<'scope, E>>>, job: GroupJob<'scope, E>) {
        let wait = Wait::Until {
            deadline: None,
            // A group that runs accepted tasks waits for room even once cancelled (Go's `g.Go`).
            ctx: (!self.shared.runs_accepted()).then_some(&self.shared.ctx),
        };
        match queue.offer(job, wait, &mut |first| self.start_worker(queue, first)) {
            Ok(()) => {}
            Err((job, Refusal::OwnWorker)) => {
                // Waiting for room would wait for this very worker, and the limit is reached:
                // run the task here instead.
                run_alone(&self.shared, job);
                self.shared.life.end(1);
            }
            Err((job, Refusal::NoWorker(error))) => self.spawn_failed(job, error),
            // Cancelled while waiting (a group's queue closes only once nothing is in flight,
            // and its spawns have no deadline).
            Err((job, Refusal::Cancelled | Refusal::Closed | Refusal::Full | Refusal::Timeout)) => {
                self.not_started(job)
            }
        }
    }

    /// Starts one more worker (its slot is reserved in the queue's crew) with its first job.
    fn start_worker(
        &self,
        queue: &Arc<Queue<GroupJob<'scope, E>>>,
        first: GroupJob<'scope, E>,
    ) -> Result<(), (io::Error, GroupJob<'scope, E>)> {
        // The job stays reachable so a failed spawn can hand it back.
        let cell = Arc::new(Mutex::new(Some(first)));
        let body = worker(queue.clone(), self.shared.clone(), cell.clone());
        match self
            .spawner
            .spawn_on(self.shared.thread(&self.shared.owner), body)
        {
            Ok(thread) => {
                self.joined_later(thread);
                Ok(())
            }
            Err(error) => {
                let job = cell.lock().take();
                Err((
                    error,
                    job.expect("a thread that did not start never took its job"),
                ))
            }
        }
    }

    fn joined_later(&self, thread: Joinable<'scope>) {
        // The joiner outlives every spawner (see `Life`); if it is gone anyway (a timeout
        // report was dropped), join here rather than leave the thread unjoined.
        if let Err(unsent) = self.joins.send(thread) {
            let _ = unsent.into_inner().join();
        }
    }
}

/// A limited group's worker thread: its first job, then the queue, until the group closes.
fn worker<'scope, E: Send + 'scope>(
    queue: Arc<Queue<GroupJob<'scope, E>>>,
    shared: Arc<Shared<E>>,
    first: Arc<Mutex<Option<GroupJob<'scope, E>>>>,
) -> ThreadBody<'scope> {
    Box::new(move || {
        let first = first.lock().take();
        let mut w = GroupWorker {
            queue,
            shared,
            ended: 0,
            stretch: Stretch::new(),
        };
        worker::work(&mut w, first.map_or(Begin::Busy, Begin::With));
        if w.ended > 0 {
            w.shared.life.end(w.ended);
        }
    })
}

/// One limited group's worker, as the core's worker loop drives it.
struct GroupWorker<'scope, E> {
    queue: Arc<Queue<GroupJob<'scope, E>>>,
    shared: Arc<Shared<E>>,
    /// Ends not yet reported to the group (see `InFlight`, invariant 3): reported whenever the
    /// worker finds its queue empty, before it parks.
    ended: usize,
    stretch: Stretch,
}

impl<'scope, E: Send + 'scope> GroupWorker<'scope, E> {
    /// [`Work::run`] for a task of a cancelled group (reported as not started), or one that
    /// is watched (its name shown, its span entered, its label listed).
    #[inline(never)]
    fn run_watched(&mut self, job: GroupJob<'scope, E>, ctx: &Context) {
        let stretch = &mut self.stretch;
        contained(&self.shared, || {
            run_job(&self.shared, job, ctx, Some(stretch))
        });
    }
}

impl<'scope, E: Send + 'scope> Work for GroupWorker<'scope, E> {
    type Job = GroupJob<'scope, E>;

    fn queue(&self) -> &Queue<Self::Job> {
        &self.queue
    }

    fn root(&self) -> &Context {
        &self.shared.ctx
    }

    /// The common task (the group not cancelled, nobody watching who runs) runs after two
    /// loads, with no catch of its own: its job catches the task's panic, and every step after
    /// the task that runs user code (recording a failure) contains its own panic
    /// (`Shared::fail_contained`). Inlined into both of the core loop's call sites.
    #[inline(always)]
    fn run(&mut self, job: Self::Job, ctx: &Context, parked: bool) -> bool {
        self.stretch.next(parked);
        if self.shared.skips_start() || self.shared.is_observed() {
            self.run_watched(job, ctx);
        } else {
            self.stretch.show();
            job.run(&self.shared, ctx);
        }
        self.ended += 1;
        true
    }

    fn idle(&mut self) {
        self.stretch.end();
        if self.ended > 0 {
            self.shared.life.end(mem::take(&mut self.ended));
        }
    }

    fn panicked(&mut self, panic: Panicked) {
        let _ = Panicked::catch(|| self.shared.fail_outside_task(panic));
    }
}

/// Runs a job, or reports it as not started if the group is cancelled. `stretch`: a worker's,
/// which says when the task started; `None` reads the clock.
#[inline(never)]
fn run_job<E>(
    shared: &Shared<E>,
    job: GroupJob<'_, E>,
    ctx: &Context,
    stretch: Option<&mut Stretch>,
) {
    if shared.skips_start() {
        if let Some(stretch) = stretch {
            stretch.end();
        }
        job.not_run(shared, NotRun::Cancelled);
    } else {
        let info = job.info();
        let _running = shared.life.track(info);
        // An unnamed task shows the stretch's word, kept across its tasks; a named one shows
        // its name over it.
        let _state = match (info.name(), stretch) {
            (None, Some(stretch)) => {
                stretch.show();
                None
            }
            (name, Some(stretch)) => Some(threads::running_task(name, stretch.since())),
            (name, None) => Some(threads::running_now(name)),
        };
        let _span = info.span().clone().entered();
        let event = crate::observe::group_task_started(info.name());
        job.run(shared, ctx);
        event.ended();
    }
}

/// Runs `f` so that no panic escapes it. A task's own panic is caught inside its job, but the
/// group's bookkeeping around a task runs user code too (a `Drop` of a discarded error, a cancel
/// callback that panics). Whatever escapes is reported, and the caller goes on to count the
/// task as ended: a thread that unwound here would leave the group waiting forever.
fn contained<E>(shared: &Shared<E>, f: impl FnOnce()) {
    if let Err(panic) = Panicked::catch(f) {
        // Reporting cancels the group, which runs callbacks again: one more panic there has
        // nowhere left to go.
        let _ = Panicked::catch(|| shared.fail_outside_task(panic));
    }
}

/// Runs a job outside a worker (on its own thread, or inline) with a context of its own, which
/// goes, with what the task registered on it, before the caller counts the task as ended.
fn run_alone<E>(shared: &Shared<E>, job: GroupJob<'_, E>) {
    let ctx = shared.ctx.child();
    contained(shared, || run_job(shared, job, &ctx, None));
    if let Err(panic) = drop_caught(ctx) {
        let _ = Panicked::catch(|| shared.fail_outside_task(panic));
    }
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
            .field("limit", &self.queue.as_ref().map(|q| q.crew.max()))
            .finish_non_exhaustive()
    }
}
