//! Deterministic time for tests (feature `testing`): [`virtual_time`].
//!
//! Every timeout, deadline, keep-alive, `every()` period and grace period in homebound reads one
//! internal clock. Inside [`virtual_time`] that clock is virtual for the scope's threads, so a
//! test of a 30 s grace period or an hourly job runs in milliseconds and sees exact times.
//!
//! # The rules
//!
//! * **Who is in the scope.** The thread that calls `virtual_time`, and every thread homebound
//!   starts from a thread in the scope (pool workers, group tasks, pipeline stages, periodic
//!   jobs, shutdown services, [`threads::spawn`]). Threads started any
//!   other way (`std::thread::spawn`), homebound's own process-wide helpers (the deadline timer,
//!   the callback runner that runs `after_cancel` callbacks) and every other test's threads are
//!   outside it and see real time.
//! * **Blocked.** A thread counts as blocked while it waits in a homebound wait: a context's
//!   `wait`, `sleep`, `recv`, `send` and their timed forms; `WaitGroup` waits; joins of pool
//!   and group tasks and a group waiting for its tasks; `start` waiting for its task to be
//!   ready; an idle pool worker, a submit waiting for room, and `wait_idle_timeout` /
//!   `await_termination`; a shutdown waiting on its services and drains; a pipeline stage or
//!   receiver source waiting for input, and an ordered stage waiting for its turn; receiving
//!   from `fan::merge` or `fan::fan_out`, and fan-in's own forwarding thread; joining a thread
//!   started with [`threads::spawn`] or [`threads::Builder::spawn`]. A thread blocked
//!   anywhere else (a raw channel, a std lock, I/O, `std::thread::sleep`) is *running* as far as
//!   the clock knows: time does not move until it reaches a homebound wait or ends.
//!   [`Clock::dump`] lists the scope's threads and names the ones time is waiting for.
//! * **Auto-advance** (Go's `testing/synctest` rule). When every thread in the scope is blocked,
//!   the clock jumps to the earliest deadline (of a timed wait or of a context) and wakes what
//!   is due there; everything due at the same instant sees the same `now`. Before it jumps, each
//!   blocked thread re-checks its own condition once, so a message sent or a count released just
//!   before its sender blocked is seen at the old time.
//! * **[`Clock::advance`]** is a sleep of the calling thread on the virtual clock: time moves
//!   through every deadline on the way in order, letting the scope's threads react at each one,
//!   and the call returns at exactly `now + d`.
//! * **Deadlock.** When every thread in the scope is blocked without a deadline, no context
//!   deadline is armed and nothing changes for half a second of real time (a thread outside the
//!   scope could still wake one), the scope fails: every blocked wait panics with a report that
//!   names each thread and where it waits, and `virtual_time` panics with that report.
//! * **Nesting** is refused: calling `virtual_time` from a thread that is already in a scope
//!   panics. **Parallel tests** are independent: each call has its own clock and its own
//!   threads, and threads of other tests keep the real clock.
//! * **After the scope.** Threads that outlive it (a leak: `threads::assert_none_alive` will
//!   name them) and contexts made in it keep its clock, which runs on at the real pace from the
//!   instant the scope ended.
//!
//! Virtual instants are ordinary `Instant`s: the clock starts at the real `Instant::now()` and
//! moves only as described, so deadlines and `Context::deadline()` compare as usual.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::virt::Scope;
use crate::threads;

/// A virtual-time scope's clock, handed to the closure of [`virtual_time`].
#[derive(Debug, Clone)]
pub struct Clock {
    scope: Arc<Scope>,
}

impl Clock {
    /// The scope's current virtual time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::testing::virtual_time;
    ///
    /// virtual_time(|clock| {
    ///     let start = clock.now();
    ///     clock.advance(Duration::from_secs(90));
    ///     assert_eq!(clock.now() - start, Duration::from_secs(90));
    /// });
    /// ```
    pub fn now(&self) -> Instant {
        self.scope.now()
    }

    /// Virtual time since the scope began.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, testing::virtual_time};
    ///
    /// virtual_time(|clock| {
    ///     Context::new().sleep(Duration::from_secs(3600)).unwrap(); // instant in real time
    ///     assert_eq!(clock.elapsed(), Duration::from_secs(3600));
    /// });
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.now().duration_since(self.scope.start())
    }

    /// The scope's threads, one line each: where each is blocked in a homebound wait (and
    /// until which virtual instant), or that it is running, which includes being blocked
    /// outside homebound (a raw channel, I/O). When time does not move, this names the thread
    /// it waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::testing::virtual_time;
    ///
    /// virtual_time(|clock| {
    ///     let dump = clock.dump();
    ///     let me = std::thread::current().name().unwrap().to_owned();
    ///     assert!(dump.contains(&format!("thread '{me}' running")), "{dump}");
    /// });
    /// ```
    pub fn dump(&self) -> String {
        self.scope.dump()
    }

    /// Sleeps the calling thread for `d` of virtual time: the clock moves through every
    /// deadline before `now + d` in order (the scope's threads run at each one until they block
    /// again) and the call returns at exactly `now + d`.
    ///
    /// # Panics
    ///
    /// If called from a thread outside this clock's scope (its time cannot be moved from there),
    /// or if the scope deadlocks meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Cause, Context, testing::virtual_time};
    ///
    /// virtual_time(|clock| {
    ///     let ctx = Context::new().with_timeout(Duration::from_secs(30));
    ///     clock.advance(Duration::from_secs(29));
    ///     assert!(!ctx.is_cancelled());
    ///     clock.advance(Duration::from_secs(1));
    ///     assert_eq!(ctx.cause(), Some(Cause::DeadlineExceeded));
    /// });
    /// ```
    #[track_caller]
    pub fn advance(&self, d: Duration) {
        assert!(
            self.scope.is_current(),
            "Clock::advance: the calling thread is not in this clock's virtual-time scope"
        );
        let deadline = self.now().checked_add(d).expect("advance: too far");
        crate::clock::sleep_until(deadline);
    }
}

/// Runs `f` with homebound's clock virtual for the calling thread and every thread homebound
/// starts from it; see the [module docs](self) for the rules. Returns what `f` returns.
///
/// # Panics
///
/// Re-raises a panic of `f`; panics with a report naming the blocked threads if the scope
/// deadlocks; panics if the calling thread is already in a virtual-time scope.
///
/// # Examples
///
/// A 30 s timeout, tested in no time and exactly:
///
/// ```
/// use std::time::Duration;
/// use homebound::{Cause, Context, testing::virtual_time, threads};
///
/// let waited = virtual_time(|clock| {
///     let ctx = Context::new().with_timeout(Duration::from_secs(30));
///     assert_eq!(ctx.wait(), Cause::DeadlineExceeded); // the clock jumps to the deadline
///     clock.elapsed()
/// });
/// assert_eq!(waited, Duration::from_secs(30));
/// threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[track_caller]
pub fn virtual_time<R>(f: impl FnOnce(&Clock) -> R) -> R {
    assert!(
        !crate::clock::virt::attached(),
        "virtual_time cannot be nested: this thread is already in a virtual-time scope"
    );
    let scope = Scope::new();
    let root = scope.member().attach();
    // A daemon never joins the scope it serves; it is joined below.
    let driver = {
        let scope = scope.clone();
        threads::Builder::new("virtual-clock")
            .daemon()
            .spawn(move || scope.drive())
            .expect("virtual_time: could not start the clock thread")
    };
    let clock = Clock {
        scope: scope.clone(),
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&clock)));
    drop(root);
    scope.close();
    let _ = driver.join();
    match result {
        Ok(value) => {
            if let Some(report) = scope.deadlock() {
                panic!("{report}");
            }
            value
        }
        Err(payload) => panic::resume_unwind(payload),
    }
}
