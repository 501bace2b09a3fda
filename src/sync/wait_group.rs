//! [`WaitGroup`]: a counting latch with RAII guards, timeouts and cancel-aware waiting.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::Cancelled;
use crate::context::Context;
use crate::shim::{Condvar, Mutex};

/// A counting latch: work *enters* it (taking a [`Guard`]) and is done when the guard drops;
/// waiters are released when the count reaches zero.
///
/// Dropping a guard is the only way to count down, and it also happens while a thread unwinds
/// from a panic, so a panicking participant can never strand the waiters and the count can never
/// go below zero. Clones share the same count.
///
/// # Reuse
///
/// A `WaitGroup` may be reused: a wait returns once the count has been zero at some moment since
/// the wait began, even if new work entered right after (every transition to zero starts a new
/// *generation*). Go panics in that race; here it is defined behaviour.
///
/// # Wait groups vs barriers
///
/// `std::sync::Barrier` needs the number of participants up front and makes them all wait for
/// each other. A `WaitGroup` lets any number of participants come and go; only the waiters block.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::WaitGroup;
///
/// let wg = WaitGroup::new();
/// let handles: Vec<_> = (0..4)
///     .map(|i| {
///         let guard = wg.enter();
///         homebound::threads::spawn("worker", move || {
///             let _done = guard; // counts down when this thread's work ends, even on panic
///             i * 2
///         })
///         .unwrap()
///     })
///     .collect();
/// assert!(wg.wait_timeout(Duration::from_secs(5)));
/// assert_eq!(wg.count(), 0);
/// # for h in handles { h.join().unwrap(); }
/// ```
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    zero: Condvar,
}

#[derive(Default)]
struct State {
    /// Outstanding guards.
    count: usize,
    /// Incremented each time `count` returns to zero; waiters leave when it moves.
    generation: u64,
}

/// Proof that one unit of work is inside a [`WaitGroup`]; dropping it counts down.
///
/// # Examples
///
/// ```
/// let wg = homebound::WaitGroup::new();
/// let guard = wg.enter();
/// assert_eq!(wg.count(), 1);
/// drop(guard);
/// assert_eq!(wg.count(), 0);
/// ```
#[must_use = "dropping the guard immediately marks the work as done"]
pub struct Guard {
    inner: Arc<Inner>,
}

impl WaitGroup {
    /// An empty wait group.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// assert_eq!(wg.count(), 0);
    /// wg.wait(); // nothing entered: returns at once
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one unit of work, done when the returned guard drops.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{WaitGroup, threads};
    ///
    /// let wg = WaitGroup::new();
    /// let guard = wg.enter();
    /// let worker = threads::spawn("worker", move || drop(guard)).unwrap();
    /// wg.wait();
    /// assert_eq!(wg.count(), 0);
    /// worker.join().unwrap();
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn enter(&self) -> Guard {
        self.inner.state.lock().count += 1;
        Guard {
            inner: self.inner.clone(),
        }
    }

    /// Adds `n` units of work at once, returning one guard for each.
    ///
    /// # Panics
    ///
    /// If `n` guards cannot exist (the count would overflow `usize`, or their `Vec` cannot be
    /// allocated), with a message saying so. The count is then unchanged and waiters are not
    /// affected: nothing is counted before every guard exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// let mut guards = wg.add(3);
    /// assert_eq!(wg.count(), 3);
    /// guards.pop();
    /// assert_eq!(wg.count(), 2);
    /// drop(guards);
    /// assert_eq!(wg.count(), 0);
    /// ```
    pub fn add(&self, n: usize) -> Vec<Guard> {
        let mut guards = Vec::new();
        if guards.try_reserve_exact(n).is_err() {
            panic!("WaitGroup::add({n}): cannot hold {n} guards; the count is unchanged");
        }
        let mut state = self.inner.state.lock();
        let Some(count) = state.count.checked_add(n) else {
            let current = state.count;
            drop(state);
            panic!(
                "WaitGroup::add({n}): the count {current} would overflow usize; it is unchanged"
            );
        };
        state.count = count;
        drop(state);
        guards.extend((0..n).map(|_| Guard {
            inner: self.inner.clone(),
        }));
        guards
    }

    /// The number of outstanding guards.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// let a = wg.enter();
    /// let b = wg.clone().enter(); // clones share the count
    /// assert_eq!(wg.count(), 2);
    /// drop((a, b));
    /// assert_eq!(wg.count(), 0);
    /// ```
    pub fn count(&self) -> usize {
        self.inner.state.lock().count
    }

    /// Blocks until the count is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{WaitGroup, threads};
    ///
    /// let wg = WaitGroup::new();
    /// let guards = wg.add(2);
    /// let workers: Vec<_> = guards
    ///     .into_iter()
    ///     .map(|guard| threads::spawn("worker", move || drop(guard)).unwrap())
    ///     .collect();
    /// wg.wait(); // both guards dropped
    /// assert_eq!(wg.count(), 0);
    /// # for w in workers { w.join().unwrap(); }
    /// # threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn wait(&self) {
        self.wait_inner(None, None);
    }

    /// Blocks until the count is zero or `timeout` has passed; returns whether it reached zero.
    /// A timeout never changes the count. `Duration::MAX` waits without a limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// let guard = wg.enter();
    /// assert!(!wg.wait_timeout(Duration::from_millis(1))); // still one inside
    /// assert_eq!(wg.count(), 1); // a timeout changes nothing
    /// drop(guard);
    /// assert!(wg.wait_timeout(Duration::from_secs(5)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match crate::clock::after(timeout) {
            Some(deadline) => self.wait_deadline(deadline),
            None => {
                self.wait();
                true
            }
        }
    }

    /// Blocks until the count is zero or `deadline` has passed; returns whether it reached zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use homebound::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// let _guard = wg.enter();
    /// assert!(!wg.wait_deadline(Instant::now() + Duration::from_millis(1)));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_inner(Some(deadline), None)
    }

    /// Blocks until the count is zero or `ctx` is cancelled (its deadline included).
    ///
    /// # Errors
    ///
    /// [`Cancelled`] with the context's cause if it was cancelled first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, WaitGroup};
    ///
    /// let wg = WaitGroup::new();
    /// let _stuck = wg.enter();
    /// let ctx = Context::new().with_timeout(Duration::from_millis(5));
    /// let err = wg.wait_ctx(&ctx).unwrap_err();
    /// assert!(err.is_deadline_exceeded());
    /// ```
    pub fn wait_ctx(&self, ctx: &Context) -> Result<(), Cancelled> {
        ctx.check()?;
        let inner = self.inner.clone();
        // Taking the lock before notifying means a waiter between its check and its sleep
        // cannot miss this wake-up.
        let _wake = ctx.wake_on_cancel(move || {
            let _state = inner.state.lock();
            inner.zero.notify_all();
        });
        if self.wait_inner(None, Some(ctx)) {
            Ok(())
        } else {
            ctx.check()
        }
    }

    /// The shared wait loop; returns whether the count reached zero.
    fn wait_inner(&self, deadline: Option<Instant>, ctx: Option<&Context>) -> bool {
        let mut state = self.inner.state.lock();
        let generation = state.generation;
        let reached = |state: &mut State| state.count == 0 || state.generation != generation;
        if reached(&mut state) {
            return true;
        }
        let _waiting = crate::threads::enter_state(crate::threads::Kind::WaitGroup);
        let mut state = self.inner.zero.wait_while(state, deadline, |state| {
            !reached(state) && !ctx.is_some_and(Context::is_cancelled)
        });
        reached(&mut state)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut state = self.inner.state.lock();
        // Guards are only created by incrementing, so the count is at least one here.
        state.count -= 1;
        if state.count == 0 {
            state.generation = state.generation.wrapping_add(1);
            // Notify while holding the lock: a waiter that checked the count cannot miss it.
            self.inner.zero.notify_all();
        }
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Guard { .. }")
    }
}
