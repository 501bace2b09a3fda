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
//! Homebound's one shared timer thread (it drives every context deadline) is a *daemon*: listed
//! by [`live`], but never counted as a leak. It sleeps on a condition variable when idle.
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

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, Scope, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The registry itself: thread key → what we know about it.
static REGISTRY: Mutex<BTreeMap<u64, ThreadInfo>> = Mutex::new(BTreeMap::new());
/// Source of the `<n>` in thread names and of registry keys.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Set on homebound threads: the origin inherited from the spawner, and a guard whose
    /// destructor removes the entry once the thread is exiting.
    static CURRENT: std::cell::RefCell<Option<Registration>> = const { std::cell::RefCell::new(None) };
}

/// A homebound thread's own record; dropping it (during thread exit) deregisters the thread.
struct Registration {
    key: u64,
    origin: ThreadId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        REGISTRY.lock().remove(&self.key);
    }
}

/// The origin to record for a thread spawned from the current thread.
fn current_origin() -> ThreadId {
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
    daemon: bool,
}

impl ThreadInfo {
    /// The thread's name, `homebound-<owner>-<n>`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The owner given when the thread was spawned (a pool's or stage's name, `"timer"`, ...).
    pub fn owner(&self) -> &str {
        &self.owner
    }
    /// The source location that spawned the thread.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
    /// How long ago the thread was spawned.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
    /// Whether this is a process-wide helper thread that the leak check ignores.
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
pub fn live() -> Vec<ThreadInfo> {
    REGISTRY.lock().values().cloned().collect()
}

/// Threads that outlived a leak check: the error of [`wait_none_alive`].
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
#[derive(Clone, Debug)]
pub struct Leaked {
    threads: Vec<ThreadInfo>,
}

impl Leaked {
    /// The threads still alive when the check gave up.
    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }
}

impl fmt::Display for Leaked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} homebound thread(s) still alive:", self.threads.len())?;
        for t in &self.threads {
            write!(f, "\n  {t}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Leaked {}

/// Waits up to `timeout` for every non-daemon thread started on behalf of the calling thread to
/// exit, retrying with backoff; returns the survivors if some are still alive.
pub fn wait_none_alive(timeout: Duration) -> Result<(), Leaked> {
    let origin = current_origin();
    wait_until_empty(timeout, |t| !t.daemon && t.origin == origin)
}

/// Like [`wait_none_alive`], but over every registered non-daemon thread in the process.
pub fn wait_none_alive_in_process(timeout: Duration) -> Result<(), Leaked> {
    wait_until_empty(timeout, |t| !t.daemon)
}

/// Panics, naming each survivor, if a thread started on behalf of the calling thread is still
/// alive after `timeout`. The check retries with backoff, so a thread that is just exiting does
/// not make it fail.
///
/// # Panics
///
/// When threads survive: the message lists each one's name, spawn location and age.
pub fn assert_none_alive(timeout: Duration) {
    if let Err(leaked) = wait_none_alive(timeout) {
        panic!("thread leak: {leaked}");
    }
}

/// Like [`assert_none_alive`], over every registered non-daemon thread in the process.
///
/// # Panics
///
/// When threads survive, naming each one.
pub fn assert_none_alive_in_process(timeout: Duration) {
    if let Err(leaked) = wait_none_alive_in_process(timeout) {
        panic!("thread leak: {leaked}");
    }
}

fn wait_until_empty(timeout: Duration, counts: impl Fn(&ThreadInfo) -> bool) -> Result<(), Leaked> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        let survivors: Vec<ThreadInfo> = REGISTRY
            .lock()
            .values()
            .filter(|t| counts(t))
            .cloned()
            .collect();
        if survivors.is_empty() {
            return Ok(());
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(Leaked { threads: survivors });
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
}

impl Builder {
    /// A builder for a thread belonging to `owner` (used in its name and in leak reports).
    pub fn new(owner: &str) -> Self {
        Builder {
            owner: owner.to_string(),
            stack_size: None,
            daemon: false,
        }
    }

    /// The new thread's stack size in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
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
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (builder, key, origin) = self.prepare(Location::caller());
        match builder.spawn(move || run_registered(key, origin, f)) {
            Ok(inner) => Ok(JoinHandle { inner, key }),
            Err(e) => {
                REGISTRY.lock().remove(&key);
                Err(e)
            }
        }
    }

    /// Spawns the thread inside a `std::thread::scope`, so it may borrow from the caller.
    ///
    /// # Errors
    ///
    /// The OS error if the thread could not be created; nothing stays registered then.
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
        let (builder, key, origin) = self.prepare(Location::caller());
        match builder.spawn_scoped(scope, move || run_registered(key, origin, f)) {
            Ok(inner) => Ok(ScopedJoinHandle { inner, key }),
            Err(e) => {
                REGISTRY.lock().remove(&key);
                Err(e)
            }
        }
    }

    /// Registers the thread before it exists, so `live()` never misses a thread that is running.
    fn prepare(self, location: &'static Location<'static>) -> (thread::Builder, u64, ThreadId) {
        let key = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = format!("homebound-{}-{key}", self.owner);
        let origin = current_origin();
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
            daemon: self.daemon,
        };
        REGISTRY.lock().insert(key, info);
        (builder, key, origin)
    }
}

/// The body of every registered thread: install the registration whose destructor deregisters
/// the thread during its exit, after the user's closure and its panics are done.
fn run_registered<T>(key: u64, origin: ThreadId, f: impl FnOnce() -> T) -> T {
    // If TLS is already unusable (cannot happen at thread start), deregister on return instead.
    let installed = CURRENT.try_with(|c| *c.borrow_mut() = Some(Registration { key, origin }));
    // `then`, not `then_some`: the latter builds (and drops, deregistering) the value eagerly.
    let _fallback = installed.is_err().then(|| Registration { key, origin });
    f()
}

/// An owned handle to a registered thread. Joining it waits until the thread, its thread-local
/// destructors included, has exited.
///
/// Dropping the handle detaches the thread; it stays listed by [`live`] until it exits.
///
/// # Examples
///
/// ```
/// let h = homebound::threads::spawn("answer", || 42).unwrap();
/// assert!(h.name().starts_with("homebound-answer-"));
/// assert_eq!(h.join().unwrap(), 42);
/// ```
#[must_use = "a homebound thread must be joined, or the leak check will report it"]
#[derive(Debug)]
pub struct JoinHandle<T> {
    inner: thread::JoinHandle<T>,
    key: u64,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to exit and returns its result (`Err` holds its panic payload).
    pub fn join(self) -> thread::Result<T> {
        let result = self.inner.join();
        REGISTRY.lock().remove(&self.key);
        result
    }

    /// Whether the thread's closure has returned.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        self.inner.thread().name().unwrap_or("")
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
    pub fn join(self) -> thread::Result<T> {
        let result = self.inner.join();
        REGISTRY.lock().remove(&self.key);
        result
    }

    /// Whether the thread's closure has returned.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        self.inner.thread().name().unwrap_or("")
    }
}
