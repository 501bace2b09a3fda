//! `first_k` and `race`: run tasks concurrently, keep the first successes, cancel the rest.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Sender, unbounded};
use parking_lot::Mutex;

use crate::context::{Cancelled, Context};
use crate::panic::{Panicked, drop_caught, drop_quietly};
use crate::threads;

/// Runs every task concurrently, returns the first `k` successes in completion order, and
/// cancels the others as soon as the `k`-th success is in.
///
/// * **Threads:** one registered scoped thread per task, so tasks may borrow from the caller
///   and may block (sleep, wait on I/O). For a long task list use [`first_k_limited`]; for
///   many small CPU tasks use [`par_map`](super::par_map).
/// * **Cancellation:** every task gets the same child of `ctx`; it is cancelled once `k` tasks
///   have succeeded (or when `ctx` is). Tasks should sleep and wait through it
///   ([`Context::sleep`], [`Context::recv`]) or [`check`](Context::check) it. Every task is
///   run, even one that starts after the cancel (it sees its context cancelled).
/// * **Always joins:** `first_k` returns only after every task has returned, so no thread
///   outlives the call. A task that ignores cancellation makes the call wait for it; that wait
///   is the price of the no-leak guarantee.
/// * **Fewer than `k` successes:** the result holds what succeeded and every failure
///   ([`FirstK::found_k`] is `false`).
/// * **Bad input:** `k == 0` returns at once with nothing run (every task is dropped unrun, and
///   [`FirstK::discarded`] counts them); `k` greater than the number of tasks runs them all.
/// * **No threads:** if some threads cannot be spawned, the others run every task; if none
///   can, every task fails with [`Failure::Spawn`] unrun.
///
/// Outcomes that arrive after the `k`-th success (mostly cancellation errors, or a success too
/// many) are dropped and counted in [`FirstK::discarded`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, fan};
///
/// let delays = [60_000u64, 10, 60_000, 20];
/// let tasks = delays.map(|ms| move |ctx: &Context| {
///     ctx.sleep(Duration::from_millis(ms))?; // cancelled once two have answered
///     Ok::<_, homebound::Cancelled>(ms)
/// });
/// let first = fan::first_k(&Context::new(), tasks, 2);
/// assert!(first.found_k());
/// assert_eq!(first.discarded, 2); // the two 60 s tasks were cancelled, and have returned
/// let mut fastest = first.into_values(); // in completion order: most likely [10, 20]
/// fastest.sort();
/// assert_eq!(fastest, [10, 20]);
/// homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
pub fn first_k<I, F, T, E>(ctx: &Context, tasks: I, k: usize) -> FirstK<T, E>
where
    I: IntoIterator<Item = F>,
    F: FnOnce(&Context) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    run(ctx, tasks, k, None)
}

/// Like [`first_k`], running at most `limit` tasks at a time on `limit` threads (`0` means no
/// limit: one thread per task, as `first_k`).
///
/// Tasks start in input order as threads free up. A task is started only while fewer than `k`
/// successes are in and `ctx` is not cancelled; the others are dropped unrun: after the `k`-th
/// success they count in [`FirstK::discarded`], after a cancel of `ctx` they are
/// [`Failure::NotStarted`]. Everything else is as for [`first_k`].
///
/// # Examples
///
/// Ask 1000 mirrors for a file, four at a time, and keep the first two answers:
///
/// ```
/// use homebound::{Context, fan};
///
/// let mirrors: Vec<_> = (0..1000u32)
///     .map(|id| move |_ctx: &Context| if id % 3 == 0 { Ok(id) } else { Err("no copy") })
///     .collect();
/// let got = fan::first_k_limited(&Context::new(), mirrors, 2, 4);
/// assert!(got.found_k());
/// assert!(got.values().all(|id| id % 3 == 0));
/// // Most of the list was never started: the first successes came from the first few tasks.
/// assert!(got.discarded > 900);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn first_k_limited<I, F, T, E>(ctx: &Context, tasks: I, k: usize, limit: usize) -> FirstK<T, E>
where
    I: IntoIterator<Item = F>,
    F: FnOnce(&Context) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    run(ctx, tasks, k, (limit > 0).then_some(limit))
}

/// Runs every task concurrently and returns the first success, cancelling the others; returns
/// only after every task has returned. This is [`first_k`] with `k = 1`.
///
/// # Errors
///
/// [`AllFailed`] with every task's failure when none succeeded (empty for no tasks).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Context, fan};
///
/// let mirrors = [("slow", 60_000u64), ("fast", 5)].map(|(name, ms)| move |ctx: &Context| {
///     ctx.sleep(Duration::from_millis(ms))?;
///     Ok::<_, homebound::Cancelled>(name)
/// });
/// assert_eq!(fan::race(&Context::new(), mirrors).unwrap(), "fast");
/// ```
pub fn race<I, F, T, E>(ctx: &Context, tasks: I) -> Result<T, AllFailed<E>>
where
    I: IntoIterator<Item = F>,
    F: FnOnce(&Context) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    first_success(first_k(ctx, tasks, 1))
}

/// [`race`] with at most `limit` tasks running at a time: [`first_k_limited`] with `k = 1`.
/// Tasks not started when the first success comes are never run.
///
/// # Errors
///
/// [`AllFailed`] with every task's failure when none succeeded (empty for no tasks).
///
/// # Examples
///
/// Try the replicas one after another until one answers:
///
/// ```
/// use homebound::{Context, fan};
///
/// let replicas = ["a", "b", "c"].map(|name| move |_: &Context| {
///     if name == "a" { Err("a is down") } else { Ok(name) }
/// });
/// assert_eq!(fan::race_limited(&Context::new(), replicas, 1).unwrap(), "b"); // "c" never ran
/// ```
pub fn race_limited<I, F, T, E>(ctx: &Context, tasks: I, limit: usize) -> Result<T, AllFailed<E>>
where
    I: IntoIterator<Item = F>,
    F: FnOnce(&Context) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    first_success(first_k_limited(ctx, tasks, 1, limit))
}

fn first_success<T, E>(mut first: FirstK<T, E>) -> Result<T, AllFailed<E>> {
    match first.successes.pop() {
        Some((_, value)) => Ok(value),
        None => Err(AllFailed {
            failures: first.failures,
        }),
    }
}

/// How one task ended, as a worker reports it.
enum Outcome<T, E> {
    Ran(Result<T, Failure<E>>),
    /// Dropped unrun: the shared context was cancelled before it started.
    Unrun(Cancelled),
}

/// The body of [`first_k`] (`limit == None`: one thread per task, every task runs) and
/// [`first_k_limited`].
fn run<I, F, T, E>(ctx: &Context, tasks: I, k: usize, limit: Option<usize>) -> FirstK<T, E>
where
    I: IntoIterator<Item = F>,
    F: FnOnce(&Context) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    let tasks: Vec<F> = tasks.into_iter().collect();
    let mut out = FirstK {
        k,
        successes: Vec::new(),
        failures: Vec::new(),
        discarded: 0,
    };
    if k == 0 {
        out.discarded = tasks.len();
        for task in tasks {
            drop_quietly(task);
        }
        return out;
    }
    let workers = limit.map_or(tasks.len(), |limit| limit.min(tasks.len()));
    let shared = Shared {
        queue: Mutex::new(tasks.into_iter().enumerate()),
        child: ctx.child(),
        k,
        successes: AtomicUsize::new(0),
        every_task_runs: limit.is_none(),
    };
    let (tx, rx) = unbounded::<(usize, Outcome<T, E>)>();
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(workers);
        let mut spawn_error = None;
        for _ in 0..workers {
            let (tx, shared) = (tx.clone(), &shared);
            let spawned =
                threads::Builder::new("first-k").spawn_scoped(scope, move || work(shared, &tx));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        if let (true, Some(e)) = (handles.is_empty(), spawn_error) {
            // No thread at all: every task fails unrun (its `Drop` is user code).
            let unrun: Vec<(usize, F)> = shared.queue.lock().by_ref().collect();
            for (index, task) in unrun {
                let failure = match drop_caught(task) {
                    Ok(()) => Failure::Spawn(io::Error::new(e.kind(), e.to_string())),
                    Err(panicked) => Failure::Panicked(panicked),
                };
                let _ = tx.send((index, Outcome::Ran(Err(failure))));
            }
        }
        drop(tx);
        // Every task sends exactly one outcome, so this ends when the last one has reported.
        for (index, outcome) in rx {
            out.accept(index, outcome, &shared.child);
        }
        for handle in handles {
            // Task bodies catch panics; a join error would be homebound's own.
            if let Err(payload) = handle.join() {
                drop_quietly(payload);
            }
        }
    });
    out
}

/// What the workers of one [`first_k`] call share.
struct Shared<Q> {
    /// The tasks not taken yet, in input order, with their indices.
    queue: Mutex<Q>,
    /// The context every task gets; cancelled once `k` tasks have succeeded.
    child: Context,
    k: usize,
    /// Successes so far, counted by the workers so they stop starting tasks at once.
    successes: AtomicUsize,
    every_task_runs: bool,
}

/// A worker: takes tasks in input order until none is left, and reports each one's outcome.
fn work<Q, F, T, E>(shared: &Shared<Q>, tx: &Sender<(usize, Outcome<T, E>)>)
where
    Q: Iterator<Item = (usize, F)>,
    F: FnOnce(&Context) -> Result<T, E>,
{
    let child = &shared.child;
    loop {
        let next = shared.queue.lock().next();
        let Some((index, task)) = next else { return };
        let outcome = match child.check() {
            Err(cancelled) if !shared.every_task_runs => match drop_caught(task) {
                Ok(()) => Outcome::Unrun(cancelled),
                Err(panicked) => Outcome::Ran(Err(Failure::Panicked(panicked))),
            },
            _ => Outcome::Ran(match Panicked::catch(|| task(child)) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(Failure::Error(e)),
                Err(p) => Err(Failure::Panicked(p)),
            }),
        };
        let succeeded = matches!(outcome, Outcome::Ran(Ok(_)));
        let _ = tx.send((index, outcome));
        // Cancelled only after the success is sent: the failures the cancel causes then
        // arrive after it, and are not mistaken for failures that came first.
        if succeeded && shared.successes.fetch_add(1, Ordering::SeqCst) + 1 >= shared.k {
            child.cancel();
        }
    }
}

/// The outcome of [`first_k`]: the first successes in completion order, and the failures that
/// came before them.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan};
///
/// let tasks = [Ok(1), Err("down"), Ok(3)].map(|r| move |_: &Context| r);
/// let got = fan::first_k(&Context::new(), tasks, 5); // k > number of tasks: all run
/// assert!(!got.found_k());
/// let mut values: Vec<i32> = got.values().copied().collect();
/// values.sort();
/// assert_eq!(values, [1, 3]);
/// assert_eq!(got.failures.len(), 1);
/// assert_eq!(got.failures[0].0, 1); // the index of the task that failed
/// ```
#[must_use = "the successes and failures of the tasks are in the FirstK"]
#[non_exhaustive]
pub struct FirstK<T, E> {
    /// How many successes were asked for.
    pub k: usize,
    /// At most `k` successes, in completion order, each with the index of its task.
    pub successes: Vec<(usize, T)>,
    /// The failures that arrived before the `k`-th success, in completion order, each with the
    /// index of its task. When fewer than `k` tasks succeeded, this is every other task.
    pub failures: Vec<(usize, Failure<E>)>,
    /// Tasks whose outcome was dropped: they finished after the `k`-th success (usually with
    /// a cancellation error), or were never run: for `k == 0`, or by [`first_k_limited`]
    /// once `k` successes were in.
    pub discarded: usize,
}

impl<T, E> FirstK<T, E> {
    /// Whether `k` successes were found.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let tasks = [Ok(1), Err("down"), Ok(3)].map(|r| move |_: &Context| r);
    /// assert!(fan::first_k(&Context::new(), tasks, 2).found_k());
    /// let tasks = [Err("down"), Ok(3)].map(|r| move |_: &Context| r);
    /// assert!(!fan::first_k(&Context::new(), tasks, 2).found_k()); // only one success
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn found_k(&self) -> bool {
        self.successes.len() >= self.k
    }

    /// The successful values, in completion order.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let tasks = [10, 20, 30].map(|n| move |_: &Context| Ok::<_, ()>(n));
    /// let got = fan::first_k(&Context::new(), tasks, 3);
    /// let total: i32 = got.values().sum();
    /// assert_eq!(total, 60);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.successes.iter().map(|(_, v)| v)
    }

    /// The successful values, in completion order, without their task indices.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let tasks = ["a", "b"].map(|s| move |_: &Context| Ok::<_, ()>(s.to_string()));
    /// let mut values = fan::first_k(&Context::new(), tasks, 2).into_values();
    /// values.sort();
    /// assert_eq!(values, ["a", "b"]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn into_values(self) -> Vec<T> {
        self.successes.into_iter().map(|(_, v)| v).collect()
    }

    fn accept(&mut self, index: usize, outcome: Outcome<T, E>, child: &Context) {
        if self.found_k() {
            self.discarded += 1;
            return;
        }
        match outcome {
            Outcome::Ran(Ok(value)) => {
                self.successes.push((index, value));
                if self.found_k() {
                    child.cancel();
                }
            }
            Outcome::Ran(Err(failure)) => self.failures.push((index, failure)),
            Outcome::Unrun(cancelled) => {
                self.failures.push((index, Failure::NotStarted(cancelled)))
            }
        }
    }
}

impl<T, E> fmt::Debug for FirstK<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstK")
            .field("k", &self.k)
            .field("successes", &self.successes.len())
            .field("failures", &self.failures.len())
            .field("discarded", &self.discarded)
            .finish()
    }
}

/// Why one task of [`first_k`] or [`race`], or one item of
/// [`par_map_all`](super::par_map_all), did not succeed.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan::{self, Failure}};
///
/// let tasks = [|_: &Context| -> Result<u8, String> { panic!("oops") }];
/// let err = fan::race(&Context::new(), tasks).unwrap_err();
/// assert!(matches!(&err.failures[0].1, Failure::Panicked(p) if p.message() == "oops"));
/// ```
#[non_exhaustive]
pub enum Failure<E> {
    /// The task returned an error.
    Error(E),
    /// The task panicked (or, dropped unrun, its `Drop` did).
    Panicked(Panicked),
    /// The task's thread could not be started; the task was dropped unrun.
    Spawn(io::Error),
    /// The context was cancelled (or its deadline passed) before the task or item started; it
    /// was dropped unrun. Its cause says why.
    NotStarted(Cancelled),
}

impl<E: fmt::Debug> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Failure::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            Failure::Spawn(e) => f.debug_tuple("Spawn").field(e).finish(),
            Failure::NotStarted(c) => f.debug_tuple("NotStarted").field(c).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Panicked(p) => p.fmt(f),
            Failure::Spawn(e) => write!(f, "could not spawn the task's thread: {e}"),
            Failure::NotStarted(c) => write!(f, "not started: {c}"),
        }
    }
}

impl<E> std::error::Error for Failure<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Error(e) => Some(e),
            Failure::Panicked(p) => Some(p),
            Failure::Spawn(e) => Some(e),
            Failure::NotStarted(c) => Some(c),
        }
    }
}

/// The error of [`race`]: no task succeeded. Holds every task's failure in completion order.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan};
///
/// let tasks = ["a", "b"].map(|name| move |_: &Context| Err::<(), _>(format!("{name} is down")));
/// let err = fan::race(&Context::new(), tasks).unwrap_err();
/// assert_eq!(err.failures.len(), 2);
/// assert_eq!(err.to_string(), "all 2 tasks failed");
/// ```
#[non_exhaustive]
pub struct AllFailed<E> {
    /// Each task's index and failure, in completion order.
    pub failures: Vec<(usize, Failure<E>)>,
}

impl<E: fmt::Debug> fmt::Debug for AllFailed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllFailed")
            .field("failures", &self.failures)
            .finish()
    }
}

impl<E> fmt::Display for AllFailed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.len() {
            0 => f.write_str("no tasks to race"),
            n => write!(f, "all {n} tasks failed"),
        }
    }
}

impl<E: fmt::Debug> std::error::Error for AllFailed<E> {}
