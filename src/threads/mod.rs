//! The registry of every thread homebound spawns, and the leak check built on it: goleak for
//! Rust.
//!
//! Every homebound thread is started through [`Builder`] (or [`spawn`]): it is named
//! `homebound-<owner>-<n>`, recorded with its owner and the source location that spawned it, and
//! removed from the registry when it has fully exited (its thread-local destructors included).
//! [`live`] lists the threads alive now; [`assert_none_alive`] is the goleak-style check that
//! ends homebound's own tests and can end yours.
//!
//! **Use it** at the end of every test that starts threads, directly or through homebound, to
//! prove none survived; and start your own threads with [`spawn`] or [`Builder`] so the check
//! (and anyone reading [`live`]) sees them too. Threads started with plain `std::thread::spawn`
//! are invisible to it.
//!
//! # Guarantees
//!
//! * **A thread counts until it has fully exited**, destructors included, so a passing check
//!   means the threads are gone, not merely past their last line.
//! * **No false alarm from slow exits**: [`assert_none_alive`] retries with backoff up to its
//!   timeout, then panics naming each survivor with its spawn location and age
//!   ([`wait_none_alive`] returns them instead).
//!
//! # Origins: leak checks that work with parallel tests
//!
//! Each registered thread remembers its *origin*: the first thread, outside homebound, on whose
//! behalf it was started (a pool worker started by another pool worker inherits that worker's
//! origin). [`assert_none_alive`] looks only at threads whose origin is the calling thread, so
//! `cargo test` can run tests in parallel and each test checks exactly the threads it caused.
//! [`assert_none_alive_in_process`] checks every registered thread.
//!
//! Homebound's one shared timer thread (it drives every context deadline) and its callback runner
//! threads (they run [`Context::after_cancel`](crate::Context::after_cancel) callbacks) are
//! *daemons*: listed by [`live`], but never counted as a leak. They sleep when idle.
//!
//! # What else the leak check reports
//!
//! * **Callbacks still running**: an `after_cancel` callback scheduled on behalf of the origin
//!   counts as live work until it has returned ([`Leaked::pending`]).
//! * **Panics nobody observed** ([`LostPanic`]): a panic in a detached thread whose handle was
//!   dropped, in an `after_cancel` callback, or in a value homebound had to drop on its own
//!   threads. Once the threads and callbacks are gone, the check fails if any such panic is
//!   recorded for its origin, and takes those records ([`take_lost_panics`] takes them without
//!   a check). A check called on a homebound thread (a watchdog) never counts that thread.
//!
//! # Seeing what the threads do
//!
//! Each registered thread keeps its state in a slot of its own, written only by itself with
//! one relaxed store per change: the task it runs (name and start) and the wait it is in (idle,
//! blocked in `submit`, in `ctx.recv` / `ctx.send` / `ctx.sleep` / `WaitGroup::wait`, in a cancel
//! callback, a pipeline stage blocked sending downstream). [`dump`] reads every slot without
//! stopping anyone and groups the threads by origin, nested in the owner tree (service → pool →
//! group → pipeline), with spawn locations and the owning context's cancel state; [`dump_to`]
//! writes it to any writer, [`dump_on_sigusr1`] (Unix) on a signal. A [`Watchdog`] scans the
//! same slots for tasks running past a threshold (each reported once) and a thread count that
//! keeps growing, and hands its [`Alert`]s to a callback on homebound's callback runner.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use homebound::threads;
//!
//! let handle = threads::spawn("demo", || 6 * 7).unwrap();
//! assert_eq!(handle.join().unwrap(), 42);
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! # Design
//!
//! A thread deregisters itself from a thread-local destructor as it exits (and `join` removes it
//! after the OS join), not when its closure returns: a check that passed while the thread still
//! ran destructors would be a check that lies. Origins are inherited through that same thread-local, which is how a
//! test's check ignores the threads of tests running beside it without any naming convention.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::panic::{self as std_panic, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, Scope, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::context::Context;
use crate::panic::Panicked;
use crate::shim::real;

mod dump;
mod owner;
#[cfg(unix)]
mod signal;
mod state;
mod watchdog;

pub use dump::{ContextState, Dump, OwnerDump, RunningTask, ThreadDump, dump, dump_to};
pub(crate) use owner::{Owner, starting as starting_owner};
#[cfg(unix)]
pub use signal::{DumpOnSignal, dump_on_sigusr1};
/// What `running_word` returns, for a worker that keeps one across a stretch of tasks.
pub(crate) use state::Guard as StateGuard;
use state::Slot;
pub use state::State;
pub(crate) use state::{
    Kind, enter as enter_state, owned_by, running as running_task, running_at, running_now,
};
#[doc(hidden)]
pub use state::{bench_pool_task_state_change, bench_task_state_change, bench_wait_state_change};
pub(crate) use state::{running_word, task_word};
pub use watchdog::{Alert, Watchdog, WatchdogHandle};

/// The registry itself: thread key → what we know about it.
static REGISTRY: Mutex<BTreeMap<u64, ThreadInfo>> = Mutex::new(BTreeMap::new());
/// Source of the `<n>` in thread names and of registry keys.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Set on homebound threads: the origin inherited from the spawner, and a guard whose
    /// destructor removes the entry once the thread is exiting.
    static CURRENT: std::cell::RefCell<Option<Registration>> = const { std::cell::RefCell::new(None) };
}

/// On whose behalf a thread or callback runs: the leak check of that thread covers it.
pub(crate) type Origin = ThreadId;

/// A homebound thread's own record; dropping it (during thread exit) deregisters the thread.
struct Registration {
    key: u64,
    origin: ThreadId,
    origin_name: Option<Arc<str>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        deregister(self.key);
    }
}

/// Removes a thread's entry; what it held (its owning context) is dropped outside the lock.
fn deregister(key: u64) {
    let removed = REGISTRY.lock().remove(&key);
    drop(removed);
}

/// The origin to record for a thread (or callback) started from the current thread.
pub(crate) fn current_origin() -> Origin {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|r| r.origin))
        .ok()
        .flatten()
        .unwrap_or_else(|| thread::current().id())
}

/// What the registry knows about one live homebound thread.
///
/// # Examples
///
/// ```
/// use homebound::threads;
///
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let handle = threads::spawn("inspect", move || { let _ = rx.recv(); }).unwrap();
/// let me = threads::live().into_iter().find(|t| t.owner() == "inspect").unwrap();
/// assert!(me.name().starts_with("homebound-inspect-"));
/// drop(tx);
/// handle.join().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct ThreadInfo {
    name: String,
    owner: String,
    location: &'static Location<'static>,
    started: Instant,
    origin: ThreadId,
    /// The origin's thread name, when the spawner knew it.
    origin_name: Option<Arc<str>>,
    daemon: bool,
    /// What the thread is doing now (its own writes) and the context that owns it.
    slot: Arc<Slot>,
    /// The pool, group, pipeline or service it works for, if any.
    member_of: Option<Owner>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("state", &self.read().0)
            .finish_non_exhaustive()
    }
}

impl ThreadInfo {
    /// The thread's name, `homebound-<owner>-<n>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads;
    ///
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = threads::spawn("indexer", move || { let _ = rx.recv(); }).unwrap();
    /// let info = threads::live().into_iter().find(|t| t.owner() == "indexer").unwrap();
    /// assert!(info.name().starts_with("homebound-indexer-"));
    /// drop(tx);
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The owner given when the thread was spawned (a pool's or stage's name, `"timer"`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads;
    ///
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = threads::spawn("uploader", move || { let _ = rx.recv(); }).unwrap();
    /// assert!(threads::live().iter().any(|t| t.owner() == "uploader"));
    /// drop(tx);
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn owner(&self) -> &str {
        &self.owner
    }
    /// The source location that spawned the thread; for a pool's, group's, pipeline's or
    /// shutdown service's thread, the line of the user's code that created that owner (the
    /// pool's `build`, the group's `scope` / `run`, the pipeline's `collect` / `for_each`, the
    /// `service` call), not homebound's own spawn.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads;
    ///
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = threads::spawn("located", move || { let _ = rx.recv(); }).unwrap();
    /// let line = line!() - 1;
    /// let info = threads::live().into_iter().find(|t| t.owner() == "located").unwrap();
    /// assert_eq!(info.location().line(), line); // the `spawn` call above
    /// drop(tx);
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
    /// How long ago the thread was spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::threads;
    ///
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = threads::spawn("aging", move || { let _ = rx.recv(); }).unwrap();
    /// std::thread::sleep(Duration::from_millis(2));
    /// let info = threads::live().into_iter().find(|t| t.owner() == "aging").unwrap();
    /// assert!(info.age() >= Duration::from_millis(2));
    /// drop(tx);
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
    /// Whether this is a process-wide helper thread that the leak check ignores.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads;
    ///
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = threads::spawn("mine", move || { let _ = rx.recv(); }).unwrap();
    /// let info = threads::live().into_iter().find(|t| t.owner() == "mine").unwrap();
    /// assert!(!info.is_daemon()); // only homebound's own helpers (the timer, ...) are daemons
    /// drop(tx);
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (spawned at {}, alive {:?})",
            self.name,
            self.location,
            self.age()
        )
    }
}

/// Every homebound thread alive now, daemons included, oldest first.
///
/// # Examples
///
/// ```
/// use homebound::threads;
///
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let h = threads::spawn("listed", move || { let _ = rx.recv(); }).unwrap();
/// assert_eq!(threads::live().iter().filter(|t| t.owner() == "listed").count(), 1);
/// drop(tx);
/// h.join().unwrap();
/// assert!(threads::live().iter().all(|t| t.owner() != "listed")); // joined: gone
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn live() -> Vec<ThreadInfo> {
    REGISTRY.lock().values().cloned().collect()
}

/// What a leak check found: threads that outlived it, callbacks still running, and panics
/// nobody observed. The error of [`wait_none_alive`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads;
///
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let stuck = threads::spawn("stuck", move || { let _ = rx.recv(); }).unwrap();
/// let leaked = threads::wait_none_alive(Duration::from_millis(20)).unwrap_err();
/// assert_eq!(leaked.threads().len(), 1);
/// drop(tx);
/// stuck.join().unwrap();
/// ```
#[derive(Debug)]
pub struct Leaked {
    threads: Vec<ThreadInfo>,
    pending: Vec<Pending>,
    panics: Vec<LostPanic>,
}

impl Leaked {
    /// The threads still alive when the check gave up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::threads;
    ///
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = threads::spawn("leaky", move || { let _ = rx.recv(); }).unwrap();
    /// let leaked = threads::wait_none_alive(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(leaked.threads()[0].owner(), "leaky");
    /// drop(tx);
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }

    /// The callbacks still running (or queued) when the check gave up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let (release, stuck) = crossbeam_channel::bounded::<()>(0);
    /// let ctx = Context::new();
    /// ctx.after_cancel(move || { let _ = stuck.recv(); }).detach();
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_millis(20)).unwrap_err();
    /// assert_eq!(leaked.pending().len(), 1);
    /// drop(release);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// The panics nobody observed; the check took them, so the next one starts clean.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new();
    /// ctx.after_cancel(|| panic!("lost in a callback")).detach();
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_secs(5)).unwrap_err();
    /// assert_eq!(leaked.panics().len(), 1);
    /// assert!(leaked.threads().is_empty());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn panics(&self) -> &[LostPanic] {
        &self.panics
    }

    /// Takes the lost panics, e.g. to re-raise one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new();
    /// ctx.after_cancel(|| panic!("to re-raise")).detach();
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_secs(5)).unwrap_err();
    /// let panic = leaked.into_panics().pop().unwrap().into_panic();
    /// assert_eq!(panic.message(), "to re-raise"); // e.g. panic.resume()
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_panics(self) -> Vec<LostPanic> {
        self.panics
    }
}

impl fmt::Display for Leaked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if !self.threads.is_empty() || (self.pending.is_empty() && self.panics.is_empty()) {
            write!(f, "{} homebound thread(s) still alive:", self.threads.len())?;
            for t in &self.threads {
                write!(f, "\n  {t}")?;
            }
            sep = "\n";
        }
        if !self.pending.is_empty() {
            write!(f, "{sep}{} callback(s) still running:", self.pending.len())?;
            for p in &self.pending {
                write!(f, "\n  {p}")?;
            }
            sep = "\n";
        }
        if !self.panics.is_empty() {
            write!(f, "{sep}{} panic(s) nobody observed:", self.panics.len())?;
            for p in &self.panics {
                write!(f, "\n  {p}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Leaked {}

/// Waits up to `timeout` for every non-daemon thread and every callback started on behalf of
/// the calling thread to end, retrying with backoff. Fails with the survivors if some are still
/// alive, or with the panics nobody observed (taking them) if there are any. The calling thread
/// itself is never counted.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads;
///
/// let h = threads::spawn("quick", || 1 + 1).unwrap();
/// drop(h); // detached, but it ends on its own
/// assert!(threads::wait_none_alive(Duration::from_secs(5)).is_ok());
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn wait_none_alive(timeout: Duration) -> Result<(), Leaked> {
    let origin = Some(current_origin());
    let me = own_key();
    wait_until_empty(timeout, origin, |key, t| {
        !t.daemon && origin == Some(t.origin) && Some(key) != me
    })
}

/// Like [`wait_none_alive`], but over every registered non-daemon thread, callback and lost
/// panic in the process.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads;
///
/// let from_elsewhere = std::thread::spawn(|| {
///     threads::spawn("other-origin", || ()).unwrap() // started on behalf of another thread
/// });
/// from_elsewhere.join().unwrap().join().unwrap();
/// assert!(threads::wait_none_alive_in_process(Duration::from_secs(5)).is_ok());
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn wait_none_alive_in_process(timeout: Duration) -> Result<(), Leaked> {
    let me = own_key();
    wait_until_empty(timeout, None, |key, t| !t.daemon && Some(key) != me)
}

/// Panics, naming each survivor, if a thread or callback started on behalf of the calling thread
/// is still alive after `timeout`, or if one of them panicked with nobody observing it. The
/// check retries with backoff, so a thread that is just exiting does not make it fail.
///
/// # Panics
///
/// When threads survive: the message lists each one's name, spawn location and age. When
/// panics were lost: each one's message and where it happened.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads;
///
/// let h = threads::spawn("worker", || "work").unwrap();
/// assert_eq!(h.join().unwrap(), "work");
/// threads::assert_none_alive(Duration::from_secs(5)); // at the end of every test
/// ```
pub fn assert_none_alive(timeout: Duration) {
    if let Err(leaked) = wait_none_alive(timeout) {
        panic!("thread leak: {leaked}");
    }
}

/// Like [`assert_none_alive`], over every registered non-daemon thread, callback and lost panic
/// in the process.
///
/// # Panics
///
/// When threads survive or panics were lost, naming each one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads;
///
/// let h = threads::spawn("worker", || ()).unwrap();
/// h.join().unwrap();
/// threads::assert_none_alive_in_process(Duration::from_secs(5)); // e.g. at the end of main
/// ```
pub fn assert_none_alive_in_process(timeout: Duration) {
    if let Err(leaked) = wait_none_alive_in_process(timeout) {
        panic!("thread leak: {leaked}");
    }
}

/// The registry key of the calling thread, if it is a homebound thread.
fn own_key() -> Option<u64> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|r| r.key))
        .ok()
        .flatten()
}

/// Waits for the threads `counts` selects and the callbacks of `origin` (all, for `None`), then
/// takes the lost panics of `origin`.
fn wait_until_empty(
    timeout: Duration,
    origin: Option<Origin>,
    counts: impl Fn(u64, &ThreadInfo) -> bool,
) -> Result<(), Leaked> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        let threads: Vec<ThreadInfo> = REGISTRY
            .lock()
            .iter()
            .filter(|(key, t)| counts(**key, t))
            .map(|(_, t)| t.clone())
            .collect();
        let running = RUNNING.try_with(Cell::get).ok().flatten();
        let pending: Vec<Pending> = PENDING
            .lock()
            .iter()
            .filter(|(key, p)| {
                (origin.is_none() || origin == Some(p.origin)) && Some(**key) != running
            })
            .map(|(_, p)| p.clone())
            .collect();
        if threads.is_empty() && pending.is_empty() {
            let panics = take_lost(origin);
            if panics.is_empty() {
                return Ok(());
            }
            return Err(Leaked {
                threads,
                pending,
                panics,
            });
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(Leaked {
                threads,
                pending,
                panics: take_lost(origin),
            });
        }
        // goleak's schedule: retry quickly first, then back off, never past the deadline.
        thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Spawns a registered thread named `homebound-<owner>-<n>`.
///
/// # Errors
///
/// The OS error if the thread could not be created.
///
/// # Examples
///
/// ```
/// let h = homebound::threads::spawn("example", || "done").unwrap();
/// assert_eq!(h.join().unwrap(), "done");
/// ```
#[track_caller]
pub fn spawn<F, T>(owner: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new(owner).spawn(f)
}

/// Configures and spawns a registered thread.
///
/// # Examples
///
/// ```
/// let data = vec![1, 2, 3];
/// std::thread::scope(|s| {
///     let h = homebound::threads::Builder::new("sum")
///         .stack_size(256 * 1024)
///         .spawn_scoped(s, || data.iter().sum::<i32>())
///         .unwrap();
///     assert_eq!(h.join().unwrap(), 6);
/// });
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Builder does nothing until spawn is called"]
pub struct Builder {
    owner: String,
    stack_size: Option<usize>,
    daemon: bool,
    /// Set by pools and groups: their threads belong to whoever built them.
    origin: Option<ThreadId>,
    /// The context whose cancellation stops the thread, shown by the dump.
    context: Option<Context>,
    /// The owner (pool, group, ...) the thread works for, shown by the dump.
    member_of: Option<Owner>,
    /// The user's call the thread is started for (a group task's `spawn`), if not its owner's.
    at: Option<&'static Location<'static>>,
}

impl Builder {
    /// A builder for a thread belonging to `owner` (used in its name and in leak reports).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads::Builder;
    ///
    /// let h = Builder::new("parser").spawn(|| 6 * 7).unwrap();
    /// assert!(h.name().starts_with("homebound-parser-"));
    /// assert_eq!(h.join().unwrap(), 42);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn new(owner: &str) -> Self {
        Builder {
            owner: owner.to_string(),
            stack_size: None,
            daemon: false,
            origin: None,
            context: None,
            member_of: None,
            at: None,
        }
    }

    /// The new thread's stack size in bytes. A stack overflow cannot be contained like a panic:
    /// it aborts the whole process, so size the stack for the deepest call chain.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads::Builder;
    ///
    /// let deep = Builder::new("deep").stack_size(8 * 1024 * 1024);
    /// let h = deep.spawn(|| (1..=10u64).product::<u64>()).unwrap();
    /// assert_eq!(h.join().unwrap(), 3_628_800);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Records `origin` (see [`current_origin`]) instead of the spawning thread's: a pool's or
    /// group's threads belong to whoever built it, whichever thread made it start one.
    pub(crate) fn origin(mut self, origin: ThreadId) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Records the context that owns the thread (a pool's root, a group's or pipeline's
    /// context): the dump shows its cancel state.
    pub(crate) fn context(mut self, ctx: &Context) -> Self {
        self.context = Some(ctx.clone());
        self
    }

    /// Records the owner the thread works for: the dump nests it there, and shows the owner's
    /// location (the user's call that created it) as the thread's spawn location.
    pub(crate) fn member_of(mut self, owner: &Owner) -> Self {
        self.member_of = Some(owner.clone());
        self
    }

    /// Records `location` (the user's call the thread runs for, e.g. a group task's `spawn`) as
    /// the thread's spawn location.
    pub(crate) fn at(mut self, location: &'static Location<'static>) -> Self {
        self.at = Some(location);
        self
    }

    /// Marks a process-wide helper that the leak check ignores.
    pub(crate) fn daemon(mut self) -> Self {
        self.daemon = true;
        self
    }

    /// Spawns the thread.
    ///
    /// # Errors
    ///
    /// The OS error if the thread could not be created; nothing stays registered then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::threads::{self, Builder};
    ///
    /// let h = Builder::new("compress").spawn(|| vec![0u8; 4].len()).unwrap();
    /// assert_eq!(h.join().unwrap(), 4);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let f = crate::clock::inherit(f, self.daemon);
        let (builder, reg, location) = self.prepare(Location::caller());
        let key = reg.key;
        let watch = Arc::new(Watch::default());
        let thread_watch = watch.clone();
        match builder.spawn(move || run_registered(reg, location, Some(thread_watch), f)) {
            Ok(inner) => Ok(JoinHandle {
                inner: Some(inner),
                key,
                watch,
            }),
            Err(e) => {
                deregister(key);
                Err(e)
            }
        }
    }

    /// Spawns the thread inside a `std::thread::scope`, so it may borrow from the caller.
    ///
    /// # Errors
    ///
    /// The OS error if the thread could not be created; nothing stays registered then.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads::Builder;
    ///
    /// let mut counts = [0; 3];
    /// std::thread::scope(|s| {
    ///     let fill = || counts.iter_mut().for_each(|c| *c += 1);
    ///     Builder::new("fill").spawn_scoped(s, fill).unwrap().join().unwrap();
    /// });
    /// assert_eq!(counts, [1, 1, 1]); // borrowed mutably by the thread
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let f = crate::clock::inherit(f, self.daemon);
        let (builder, reg, location) = self.prepare(Location::caller());
        let key = reg.key;
        // A scoped thread's panic is never lost: the scope re-raises it if nobody joins.
        match builder.spawn_scoped(scope, move || run_registered(reg, location, None, f)) {
            Ok(inner) => Ok(ScopedJoinHandle { inner, key }),
            Err(e) => {
                deregister(key);
                Err(e)
            }
        }
    }

    /// Registers the thread before it exists, so `live()` never misses a thread that is running.
    /// Returns the location recorded: a thread started for an owner shows where the user
    /// created that owner, not homebound's own spawn call.
    fn prepare(
        self,
        caller: &'static Location<'static>,
    ) -> (thread::Builder, NewThread, &'static Location<'static>) {
        let _ = state::epoch(); // before any state is stamped
        let (member_of, location) = match self.member_of.or_else(owner::being_started) {
            _ if self.daemon => (None, caller),
            Some(owner) => {
                let at = self.at.unwrap_or_else(|| owner.location());
                (Some(owner), at)
            }
            None => (owner::current(), self.at.unwrap_or(caller)),
        };
        let key = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = format!("homebound-{}-{key}", self.owner);
        let origin = self.origin.unwrap_or_else(current_origin);
        let origin_name = origin_name(origin);
        let slot = Arc::new(Slot::new(self.context));
        let mut builder = thread::Builder::new().name(name.clone());
        if let Some(bytes) = self.stack_size {
            builder = builder.stack_size(bytes);
        }
        let info = ThreadInfo {
            name,
            owner: self.owner,
            location,
            started: Instant::now(),
            origin,
            origin_name: origin_name.clone(),
            daemon: self.daemon,
            slot: Arc::clone(&slot),
            member_of: member_of.clone(),
        };
        REGISTRY.lock().insert(key, info);
        let reg = NewThread {
            key,
            origin,
            origin_name,
            slot,
            member_of,
        };
        (builder, reg, location)
    }
}

/// What a new thread installs as it starts.
struct NewThread {
    key: u64,
    origin: ThreadId,
    origin_name: Option<Arc<str>>,
    slot: Arc<Slot>,
    member_of: Option<Owner>,
}

/// The name of the origin thread, when the calling thread knows it: it is the origin, or it
/// runs on behalf of the same one.
fn origin_name(origin: ThreadId) -> Option<Arc<str>> {
    let me = thread::current();
    if me.id() == origin {
        return me.name().map(Arc::from);
    }
    CURRENT
        .try_with(|c| {
            c.borrow()
                .as_ref()
                .filter(|r| r.origin == origin)
                .and_then(|r| r.origin_name.clone())
        })
        .ok()
        .flatten()
}

/// The body of every registered thread: install the registration whose destructor deregisters
/// the thread during its exit, after the user's closure and its panics are done. A panic is
/// handed on to the joiner; if the handle was dropped, nobody will join, so it is recorded as
/// lost (before the thread deregisters, so a leak check that saw the thread gone sees it).
fn run_registered<T>(
    reg: NewThread,
    location: &'static Location<'static>,
    watch: Option<Arc<Watch>>,
    f: impl FnOnce() -> T,
) -> T {
    let NewThread {
        key,
        origin,
        origin_name,
        slot,
        member_of,
    } = reg;
    state::install(slot);
    owner::install(member_of);
    let registration = || Registration {
        key,
        origin,
        origin_name: origin_name.clone(),
    };
    // If TLS is already unusable (cannot happen at thread start), deregister on return instead.
    let installed = CURRENT.try_with(|c| *c.borrow_mut() = Some(registration()));
    // `then`, not `then_some`: the latter builds (and drops, deregistering) the value eagerly.
    let _fallback = installed.is_err().then(registration);
    crate::panic::set_spawn_location(location);
    crate::panic::install_hook();
    let Some(watch) = watch else {
        return f();
    };
    let ran = std_panic::catch_unwind(AssertUnwindSafe(f));
    watch.thread_returned();
    match ran {
        Ok(value) => value,
        Err(payload) => {
            let message = crate::panic::panic_message(&*payload);
            let lost = LostPanic {
                origin: Some(origin),
                what: format!(
                    "detached thread {}",
                    thread::current().name().unwrap_or("?")
                ),
                panic: Panicked::from_payload(Box::new(message)),
            };
            watch.thread_panicked(lost);
            std_panic::resume_unwind(payload)
        }
    }
}

/// Between a thread and its handle: whether the handle was dropped unjoined, the panic the
/// thread ended with while the handle still lived (to record if the handle is then dropped),
/// and whether its function has returned.
#[derive(Default)]
struct Watch {
    state: real::Mutex<WatchState>,
    /// Notified when the function returns: a join waits for that on homebound's clock, so
    /// inside `virtual_time` the joiner counts as blocked and time can move to the thread's
    /// wake-ups. The OS join that follows only waits for the thread's exit.
    returned: real::Condvar,
}

#[derive(Default)]
struct WatchState {
    detached: bool,
    panic: Option<LostPanic>,
    returned: bool,
}

impl Watch {
    fn thread_panicked(&self, lost: LostPanic) {
        let mut state = self.state.lock();
        if state.detached {
            drop(state);
            record(lost);
        } else {
            state.panic = Some(lost);
        }
    }

    fn thread_returned(&self) {
        self.state.lock().returned = true;
        self.returned.notify_all();
    }

    #[track_caller]
    fn wait_returned(&self) {
        drop(
            self.returned
                .wait_while(self.state.lock(), None, |s| !s.returned),
        );
    }

    fn handle_dropped(&self) {
        let mut state = self.state.lock();
        state.detached = true;
        let lost = state.panic.take();
        drop(state);
        if let Some(lost) = lost {
            record(lost);
        }
    }
}

/// An owned handle to a registered thread. Joining it waits until the thread, its thread-local
/// destructors included, has exited.
///
/// Dropping the handle detaches the thread; it stays listed by [`live`] until it exits, and a
/// panic it ends with is recorded as a [`LostPanic`] that the leak check reports.
///
/// # Examples
///
/// ```
/// let h = homebound::threads::spawn("answer", || 42).unwrap();
/// assert!(h.name().starts_with("homebound-answer-"));
/// assert_eq!(h.join().unwrap(), 42);
/// ```
#[must_use = "a homebound thread must be joined, or the leak check will report it"]
pub struct JoinHandle<T> {
    /// `None` once joined.
    inner: Option<thread::JoinHandle<T>>,
    key: u64,
    watch: Arc<Watch>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to exit and returns its result (`Err` holds its panic payload).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads;
    ///
    /// let ok = threads::spawn("ok", || 5).unwrap();
    /// assert_eq!(ok.join().unwrap(), 5);
    /// let bad = threads::spawn("bad", || -> u8 { panic!("boom") }).unwrap();
    /// assert!(bad.join().is_err()); // joined: the panic is observed, not lost
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn join(mut self) -> thread::Result<T> {
        let inner = self.inner.take().expect("a JoinHandle is joined once");
        self.watch.wait_returned();
        let result = inner.join();
        deregister(self.key);
        result
    }

    /// Whether the thread's closure has returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads;
    ///
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = threads::spawn("waiting", move || { let _ = rx.recv(); }).unwrap();
    /// assert!(!h.is_finished()); // blocked until `tx` goes
    /// drop(tx);
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(thread::JoinHandle::is_finished)
    }

    /// The thread's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = homebound::threads::spawn("resizer", || ()).unwrap();
    /// assert!(h.name().starts_with("homebound-resizer-"));
    /// h.join().unwrap();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(&self) -> &str {
        self.inner
            .as_ref()
            .and_then(|h| h.thread().name())
            .unwrap_or("")
    }
}

/// Dropping the handle detaches the thread: a panic it ends with is recorded as lost.
impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.watch.handle_dropped();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// A handle to a registered scoped thread; see [`JoinHandle`].
///
/// # Examples
///
/// ```
/// let words = ["every", "thread"];
/// let total = std::thread::scope(|s| {
///     let h = homebound::threads::Builder::new("count")
///         .spawn_scoped(s, || words.iter().map(|w| w.len()).sum::<usize>())
///         .unwrap();
///     h.join().unwrap()
/// });
/// assert_eq!(total, 11);
/// ```
#[must_use = "a homebound thread must be joined, or the leak check will report it"]
#[derive(Debug)]
pub struct ScopedJoinHandle<'scope, T> {
    inner: thread::ScopedJoinHandle<'scope, T>,
    key: u64,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to exit (thread-local destructors included, unlike the implicit
    /// join at the end of `std::thread::scope`) and returns its result.
    ///
    /// # Examples
    ///
    /// ```
    /// let total = std::thread::scope(|s| {
    ///     let h = homebound::threads::Builder::new("sum").spawn_scoped(s, || 2 + 3).unwrap();
    ///     h.join().unwrap()
    /// });
    /// assert_eq!(total, 5);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn join(self) -> thread::Result<T> {
        let result = self.inner.join();
        deregister(self.key);
        result
    }

    /// Whether the thread's closure has returned.
    ///
    /// # Examples
    ///
    /// ```
    /// std::thread::scope(|s| {
    ///     let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    ///     let wait = move || { let _ = rx.recv(); };
    ///     let h = homebound::threads::Builder::new("scoped").spawn_scoped(s, wait).unwrap();
    ///     assert!(!h.is_finished());
    ///     drop(tx);
    ///     h.join().unwrap();
    /// });
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// The thread's name.
    ///
    /// # Examples
    ///
    /// ```
    /// std::thread::scope(|s| {
    ///     let h = homebound::threads::Builder::new("scoped").spawn_scoped(s, || ()).unwrap();
    ///     assert!(h.name().starts_with("homebound-scoped-"));
    ///     h.join().unwrap();
    /// });
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn name(&self) -> &str {
        self.inner.thread().name().unwrap_or("")
    }
}

// ----- panics nobody observed -----

/// Panics recorded as lost, with the origin they belong to (`None`: only process-wide checks).
static LOST: Mutex<Vec<LostPanic>> = Mutex::new(Vec::new());

/// A panic nobody observed: in a detached thread, an `after_cancel` callback, or a value
/// homebound dropped on its own. The leak check reports (and takes) these.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::threads;
///
/// let (go, wait) = crossbeam_channel::bounded::<()>(0);
/// let detached = threads::spawn("fire-and-forget", move || {
///     let _ = wait.recv();
///     panic!("nobody is watching");
/// }).unwrap();
/// drop(detached);
/// drop(go);
/// let leaked = threads::wait_none_alive(Duration::from_secs(5)).unwrap_err();
/// assert_eq!(leaked.panics()[0].panic().message(), "nobody is watching");
/// assert!(leaked.panics()[0].what().starts_with("detached thread homebound-fire-and-forget-"));
/// threads::assert_none_alive(Duration::from_secs(5)); // the check took them
/// ```
#[derive(Debug)]
pub struct LostPanic {
    origin: Option<Origin>,
    what: String,
    panic: Panicked,
}

impl LostPanic {
    /// What panicked: `"detached thread homebound-x-3"`, `"after_cancel callback registered at
    /// src/main.rs:10:5"`, ...
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new();
    /// ctx.after_cancel(|| panic!("oops")).detach();
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_secs(5)).unwrap_err();
    /// assert!(leaked.panics()[0].what().starts_with("after_cancel callback"));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The panic: message, thread, location, backtrace, payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new();
    /// ctx.after_cancel(|| panic!("bad callback")).detach();
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_secs(5)).unwrap_err();
    /// assert_eq!(leaked.panics()[0].panic().message(), "bad callback");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn panic(&self) -> &Panicked {
        &self.panic
    }

    /// Takes the panic, e.g. to re-raise it with [`Panicked::resume`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new();
    /// ctx.after_cancel(|| std::panic::panic_any(7_i32)).detach();
    /// ctx.cancel();
    /// let lost = threads::wait_none_alive(Duration::from_secs(5)).unwrap_err().into_panics();
    /// let panic = lost.into_iter().next().unwrap().into_panic();
    /// assert_eq!(*panic.downcast_ref::<i32>().unwrap(), 7); // or panic.resume()
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_panic(self) -> Panicked {
        self.panic
    }
}

impl fmt::Display for LostPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.panic)?;
        if let Some(at) = self.panic.location() {
            write!(f, " (at {at})")?;
        }
        Ok(())
    }
}

/// Records a panic nobody will observe, for the leak check of `origin` (`None`: only the
/// process-wide check). The hook for every piece that runs user code with no one to hand the
/// panic to: a pool task without a panic handler calls this with `Some(current_origin())`.
pub(crate) fn record_lost_panic(origin: Option<Origin>, what: impl Into<String>, panic: Panicked) {
    record(LostPanic {
        origin,
        what: what.into(),
        panic,
    });
}

fn record(lost: LostPanic) {
    LOST.lock().push(lost);
}

/// Takes the lost panics of `origin` (all of them for `None`); they are dropped by the caller,
/// outside the lock.
fn take_lost(origin: Option<Origin>) -> Vec<LostPanic> {
    let mut lost = LOST.lock();
    if lost.is_empty() {
        return Vec::new();
    }
    let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *lost)
        .into_iter()
        .partition(|p| origin.is_none() || p.origin == origin);
    *lost = kept;
    taken
}

/// Takes the panics nobody observed that belong to the calling thread's leak check, without
/// waiting for anything: for tests that provoke one on purpose.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, threads};
///
/// let ctx = Context::new();
/// ctx.after_cancel(|| panic!("callback failed")).detach();
/// ctx.cancel();
/// // Wait for the callback to end (the check waits for callbacks), then look at what it left.
/// let leaked = threads::wait_none_alive(Duration::from_secs(5)).unwrap_err();
/// assert_eq!(leaked.panics()[0].panic().message(), "callback failed");
/// assert!(threads::take_lost_panics().is_empty()); // the check took it already
/// ```
pub fn take_lost_panics() -> Vec<LostPanic> {
    take_lost(Some(current_origin()))
}

// ----- callbacks still running -----

/// Callbacks scheduled on behalf of an origin that have not returned yet.
static PENDING: Mutex<BTreeMap<u64, Pending>> = Mutex::new(BTreeMap::new());

/// A callback the leak check is waiting for: scheduled on behalf of the calling thread and not
/// finished yet.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, threads};
///
/// let (release, stuck) = crossbeam_channel::bounded::<()>(0);
/// let ctx = Context::new();
/// ctx.after_cancel(move || { let _ = stuck.recv(); }).detach();
/// ctx.cancel();
/// let leaked = threads::wait_none_alive(Duration::from_millis(20)).unwrap_err();
/// assert_eq!(leaked.pending()[0].what(), "after_cancel callback");
/// drop(release);
/// threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct Pending {
    what: &'static str,
    location: &'static Location<'static>,
    since: Instant,
    origin: Origin,
}

impl Pending {
    /// What is running, e.g. `"after_cancel callback"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let (release, stuck) = crossbeam_channel::bounded::<()>(0);
    /// let ctx = Context::new();
    /// ctx.after_cancel(move || { let _ = stuck.recv(); }).detach();
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_millis(20)).unwrap_err();
    /// assert_eq!(leaked.pending()[0].what(), "after_cancel callback");
    /// drop(release);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn what(&self) -> &str {
        self.what
    }

    /// Where it was registered.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let (release, stuck) = crossbeam_channel::bounded::<()>(0);
    /// let ctx = Context::new();
    /// ctx.after_cancel(move || { let _ = stuck.recv(); }).detach();
    /// let line = line!() - 1;
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_millis(20)).unwrap_err();
    /// assert_eq!(leaked.pending()[0].location().line(), line); // where it was registered
    /// drop(release);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// How long ago it was scheduled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let (release, stuck) = crossbeam_channel::bounded::<()>(0);
    /// let ctx = Context::new();
    /// ctx.after_cancel(move || { let _ = stuck.recv(); }).detach();
    /// ctx.cancel();
    /// let leaked = threads::wait_none_alive(Duration::from_millis(20)).unwrap_err();
    /// assert!(leaked.pending()[0].age() >= Duration::from_millis(20)); // queued before the wait
    /// drop(release);
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn age(&self) -> Duration {
        self.since.elapsed()
    }
}

impl fmt::Display for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} registered at {} (scheduled {:?} ago)",
            self.what,
            self.location,
            self.age()
        )
    }
}

/// Counts a callback as live work of `origin` until dropped.
#[cfg_attr(loom, allow(dead_code))] // loom runs callbacks inline
pub(crate) struct Busy {
    key: u64,
}

thread_local! {
    /// The callback this thread is running, which its own leak check must not wait for.
    static RUNNING: Cell<Option<u64>> = const { Cell::new(None) };
}

#[cfg_attr(loom, allow(dead_code))]
impl Busy {
    /// Runs the callback `busy` stands for; a leak check it calls does not count it.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _ = RUNNING.try_with(|r| r.set(Some(self.key)));
        let _state = state::enter(Kind::Callback);
        let result = f();
        let _ = RUNNING.try_with(|r| r.set(None));
        result
    }
}

/// Starts counting a callback as live work of `origin`.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn busy(
    origin: Origin,
    what: &'static str,
    location: &'static Location<'static>,
) -> Busy {
    let key = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let pending = Pending {
        what,
        location,
        since: Instant::now(),
        origin,
    };
    PENDING.lock().insert(key, pending);
    Busy { key }
}

impl Drop for Busy {
    fn drop(&mut self) {
        PENDING.lock().remove(&self.key);
    }
}
