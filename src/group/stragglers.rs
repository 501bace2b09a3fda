//! [`Stragglers`]: what `Group::run_timeout` returns when tasks outlive the timeout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::life::Life;
use super::spawn::Joinable;
use crate::panic::Panicked;

/// Tasks of a [`Group::run_timeout`](crate::group::Group::run_timeout) that were still running when the timeout passed.
///
/// Their threads are still alive. [`join`](Stragglers::join) waits for them and joins every
/// thread; dropping a `Stragglers` detaches them instead, and they stay listed by
/// [`threads::live`](crate::threads::live) (so the leak check names them) until they end.
///
/// # Examples
///
/// See [`Group::run_timeout`](crate::group::Group::run_timeout).
#[must_use = "the stragglers' threads are still running: join them or they stay detached"]
pub struct Stragglers {
    /// Boxed: a timeout is the rare path, and it keeps `run_timeout`'s `Result` small.
    inner: Box<StragglersInner>,
}

struct StragglersInner {
    tasks: Vec<String>,
    threads: Vec<Joinable<'static>>,
    joined: Receiver<Joinable<'static>>,
    life: Arc<Life>,
    body_panic: Option<Panicked>,
}

impl Stragglers {
    pub(super) fn new(
        tasks: Vec<String>,
        threads: Vec<Joinable<'static>>,
        joined: Receiver<Joinable<'static>>,
        life: Arc<Life>,
        body_panic: Option<Panicked>,
    ) -> Self {
        Stragglers {
            inner: Box::new(StragglersInner {
                tasks,
                threads,
                joined,
                life,
                body_panic,
            }),
        }
    }

    /// The labels (names, or `#<index>`) of the tasks running when the timeout passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, group::Group};
    ///
    /// let (release, stuck) = bounded::<()>(0);
    /// let stragglers = Group::new()
    ///     .run_timeout(&Context::new(), Duration::from_millis(10), |g| {
    ///         g.spawn_named("deaf", move |_ctx| { let _ = stuck.recv(); Ok::<_, ()>(()) });
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(stragglers.tasks(), ["deaf"]);
    /// drop(release);
    /// stragglers.join();
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn tasks(&self) -> &[String] {
        &self.inner.tasks
    }

    /// The names of the group's threads still alive when the timeout passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, group::Group};
    ///
    /// let (release, stuck) = bounded::<()>(0);
    /// let stragglers = Group::new()
    ///     .run_timeout(&Context::new(), Duration::from_millis(10), |g| {
    ///         g.spawn_named("deaf", move |_ctx| { let _ = stuck.recv(); Ok::<_, ()>(()) });
    ///     })
    ///     .unwrap_err();
    /// let threads = stragglers.threads();
    /// assert_eq!(threads.len(), 1);
    /// assert!(threads[0].contains("deaf"), "{threads:?}"); // as `threads::live` lists it
    /// drop(release);
    /// stragglers.join();
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn threads(&self) -> Vec<String> {
        self.inner.threads.iter().map(Joinable::name).collect()
    }

    /// Waits for the stragglers to end and joins every thread the group started.
    ///
    /// # Panics
    ///
    /// Resumes the panic of the group's closure, if it panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, group::Group, threads};
    ///
    /// let (release, stuck) = bounded::<()>(0);
    /// let stragglers = Group::new()
    ///     .run_timeout(&Context::new(), Duration::from_millis(10), |g| {
    ///         g.spawn(move |_ctx| { let _ = stuck.recv(); Ok::<_, ()>(()) });
    ///     })
    ///     .unwrap_err();
    /// drop(release); // lets the straggler end
    /// stragglers.join(); // and joins its thread
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn join(self) {
        let inner = *self.inner;
        inner.life.close(); // waits for every task
        for thread in inner.threads.into_iter().chain(inner.joined.try_iter()) {
            let _ = thread.join();
        }
        if let Some(panic) = inner.body_panic {
            panic.resume();
        }
    }

    /// Like [`join`](Stragglers::join), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// `self` (with an updated task list) if tasks are still running after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use crossbeam_channel::bounded;
    /// use homebound::{Context, group::Group};
    ///
    /// let (release, stuck) = bounded::<()>(0);
    /// let stragglers = Group::new()
    ///     .run_timeout(&Context::new(), Duration::from_millis(10), |g| {
    ///         g.spawn_named("deaf", move |_ctx| { let _ = stuck.recv(); Ok::<_, ()>(()) });
    ///     })
    ///     .unwrap_err();
    /// let stragglers = stragglers.join_timeout(Duration::from_millis(10)).unwrap_err(); // still stuck
    /// assert_eq!(stragglers.tasks(), ["deaf"]);
    /// drop(release);
    /// assert!(stragglers.join_timeout(Duration::from_secs(5)).is_ok());
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn join_timeout(mut self, timeout: Duration) -> Result<(), Stragglers> {
        if self.inner.life.wait_idle(crate::clock::after(timeout)) {
            self.join();
            Ok(())
        } else {
            self.inner.tasks = self.inner.life.running();
            Err(self)
        }
    }
}

impl fmt::Debug for Stragglers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stragglers")
            .field("tasks", &self.inner.tasks)
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Stragglers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} task(s) still running after the group's timeout: {}",
            self.inner.tasks.len(),
            self.inner.tasks.join(", ")
        )
    }
}

impl std::error::Error for Stragglers {}
