//! `first_k` and `race`: run tasks concurrently, keep the first successes, cancel the rest.

use std::fmt;
use std::io;

use crossbeam_channel::unbounded;

use crate::context::Context;
use crate::panic::Panicked;
use crate::threads;

/// Runs every task concurrently, returns the first `k` successes in completion order, and
/// cancels the others as soon as the `k`-th success is in.
///
/// * **Threads:** one registered scoped thread per task, so tasks may borrow from the caller
///   and may block (sleep, wait on I/O). For many small CPU tasks use
///   [`par_map`](super::par_map) instead.
/// * **Cancellation:** every task gets the same child of `ctx`; it is cancelled once `k` tasks
///   have succeeded (or when `ctx` is). Tasks should sleep and wait through it
///   ([`Context::sleep`], [`Context::recv`]) or [`check`](Context::check) it.
/// * **Always joins:** `first_k` returns only after every task has returned, so no thread
///   outlives the call. A task that ignores cancellation makes the call wait for it; that wait
///   is the price of the no-leak guarantee.
/// * **Fewer than `k` successes:** the result holds what succeeded and every failure
///   ([`FirstK::is_complete`] is `false`).
/// * **Bad input:** `k == 0` returns at once with nothing run (every task is dropped unrun, and
///   [`FirstK::discarded`] counts them); `k` greater than the number of tasks runs them all.
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
/// assert!(first.is_complete());
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
    let tasks: Vec<F> = tasks.into_iter().collect();
    let mut out = FirstK {
        k,
        successes: Vec::new(),
        failures: Vec::new(),
        discarded: 0,
    };
    if k == 0 {
        out.discarded = tasks.len();
        return out;
    }
    let child = ctx.child();
    let (tx, rx) = unbounded::<(usize, Result<T, Failure<E>>)>();
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(tasks.len());
        for (index, task) in tasks.into_iter().enumerate() {
            let (task_tx, child) = (tx.clone(), &child);
            let spawned = threads::Builder::new("first-k").spawn_scoped(scope, move || {
                let outcome = match Panicked::catch(|| task(child)) {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) => Err(Failure::Error(e)),
                    Err(p) => Err(Failure::Panicked(p)),
                };
                let _ = task_tx.send((index, outcome));
            });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    let _ = tx.send((index, Err(Failure::Spawn(e))));
                }
            }
        }
        drop(tx);
        // Every task sends exactly one outcome, so this ends when the last one has reported.
        for (index, outcome) in rx {
            out.accept(index, outcome, &child);
        }
        for handle in handles {
            // Task bodies catch panics; a join error cannot carry one.
            let _ = handle.join();
        }
    });
    out
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
    let mut first = first_k(ctx, tasks, 1);
    match first.successes.pop() {
        Some((_, value)) => Ok(value),
        None => Err(AllFailed {
            failures: first.failures,
        }),
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
/// assert!(!got.is_complete());
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
    /// a cancellation error), or, for `k == 0`, were never run.
    pub discarded: usize,
}

impl<T, E> FirstK<T, E> {
    /// Whether `k` successes were found.
    pub fn is_complete(&self) -> bool {
        self.successes.len() >= self.k
    }

    /// The successful values, in completion order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.successes.iter().map(|(_, v)| v)
    }

    /// The successful values, in completion order, without their task indices.
    pub fn into_values(self) -> Vec<T> {
        self.successes.into_iter().map(|(_, v)| v).collect()
    }

    fn accept(&mut self, index: usize, outcome: Result<T, Failure<E>>, child: &Context) {
        if self.is_complete() {
            self.discarded += 1;
            return;
        }
        match outcome {
            Ok(value) => {
                self.successes.push((index, value));
                if self.is_complete() {
                    child.cancel();
                }
            }
            Err(failure) => self.failures.push((index, failure)),
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

/// Why one task of [`first_k`] or [`race`] did not succeed.
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
pub enum Failure<E> {
    /// The task returned an error.
    Error(E),
    /// The task panicked.
    Panicked(Panicked),
    /// The task's thread could not be started; the task was dropped unrun.
    Spawn(io::Error),
}

impl<E: fmt::Debug> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Failure::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            Failure::Spawn(e) => f.debug_tuple("Spawn").field(e).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Panicked(p) => p.fmt(f),
            Failure::Spawn(e) => write!(f, "could not spawn the task's thread: {e}"),
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
