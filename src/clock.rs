//! homebound's one clock: every time read and every timed wait in the crate goes through here.
//!
//! Deadlines are `Instant`s read from [`now`]; a timed wait is a deadline handed to [`wait`]
//! (or one of its channel forms), never a `Duration` given straight to the OS. That single seam
//! is what lets `homebound::testing::virtual_time` (feature `testing`) swap in a virtual clock
//! for the threads of a test. Waits without a deadline come through here too ([`recv`],
//! [`select`] with `None`, the shim's condition variable): the virtual clock moves only while
//! every thread of the scope is in one of these waits, so a blocking call that bypassed them
//! would stand in for a running thread and stall time.
//!
//! The real clock is the default and costs nothing: without the `testing` feature these are
//! `#[inline]` forwards to `Instant::now()` and the underlying wait; with it, one relaxed atomic
//! load decides that no thread is attached to a virtual clock (see `benches/clock.rs`).

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvError, RecvTimeoutError, Select, SelectedOperation};

#[cfg(feature = "testing")]
pub(crate) mod virt;

/// The current time on this thread's clock: the real one, or its virtual-time scope's.
#[inline]
pub(crate) fn now() -> Instant {
    #[cfg(feature = "testing")]
    if let Some(now) = virt::now() {
        return now;
    }
    Instant::now()
}

/// [`now`], for the clock bench (`benches/clock.rs`) only: not part of the API.
#[doc(hidden)]
#[inline]
pub fn now_for_bench() -> Instant {
    now()
}

/// The deadline `timeout` from now, or `None` when `Instant` cannot hold it (never).
#[inline]
pub(crate) fn after(timeout: Duration) -> Option<Instant> {
    now().checked_add(timeout)
}

/// Time since `earlier` on homebound's clock (zero if it is later).
#[inline]
pub(crate) fn since(earlier: Instant) -> Duration {
    now().saturating_duration_since(earlier)
}

/// Time left until `deadline` (zero once it has passed).
#[inline]
pub(crate) fn until(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(now())
}

/// The one timed (or untimed) wait. `attempt(limit)` blocks for its event until the real
/// instant `limit` (`None`: without a limit) and returns `Some` when the event came, `None` when
/// the limit passed. On the real clock that is one call with `deadline`; on a virtual clock the
/// wait is split into short real slices while the virtual clock decides when `deadline` is due.
///
/// Callers treat `Some` like a condition variable's wake-up: they re-check their own state.
#[inline]
#[track_caller]
pub(crate) fn wait<R>(
    deadline: Option<Instant>,
    attempt: impl FnMut(Option<Instant>) -> Option<R>,
) -> Option<R> {
    #[cfg(feature = "testing")]
    if virt::attached() {
        return virt::wait(std::panic::Location::caller(), deadline, attempt);
    }
    let mut attempt = attempt;
    attempt(deadline)
}

/// `rx.recv()` until `deadline` on homebound's clock.
#[inline]
#[track_caller]
pub(crate) fn recv_deadline<T>(
    rx: &Receiver<T>,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    wait(deadline, |limit| match limit {
        Some(at) => match rx.recv_deadline(at) {
            Err(RecvTimeoutError::Timeout) => None,
            got => Some(got),
        },
        None => Some(rx.recv().map_err(|_| RecvTimeoutError::Disconnected)),
    })
    .unwrap_or(Err(RecvTimeoutError::Timeout))
}

/// `rx.recv()` on homebound's clock.
#[inline]
#[track_caller]
pub(crate) fn recv<T>(rx: &Receiver<T>) -> Result<T, RecvError> {
    recv_deadline(rx, None).map_err(|_| RecvError)
}

/// `rx.recv_timeout(timeout)` on homebound's clock; a timeout too large for `Instant` waits
/// without a limit.
#[inline]
#[track_caller]
pub(crate) fn recv_timeout<T>(rx: &Receiver<T>, timeout: Duration) -> Result<T, RecvTimeoutError> {
    recv_deadline(rx, after(timeout))
}

/// `sel.select()` until `deadline` on homebound's clock; `None` once it passed.
#[inline]
#[track_caller]
pub(crate) fn select<'a>(
    sel: &mut Select<'a>,
    deadline: Option<Instant>,
) -> Option<SelectedOperation<'a>> {
    wait(deadline, |limit| match limit {
        Some(at) => sel.select_deadline(at).ok(),
        None => Some(sel.select()),
    })
}

/// Sleeps the calling thread until `deadline` on homebound's clock (no cancel: callers that
/// need one wait on a context instead).
#[cfg(feature = "testing")]
#[track_caller]
pub(crate) fn sleep_until(deadline: Instant) {
    if virt::sleep(std::panic::Location::caller(), deadline) {
        return;
    }
    wait(Some(deadline), |limit| {
        let at = limit.expect("a sleep always has a limit");
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        None::<()>
    });
}

/// Wraps the body of a thread about to be spawned from the current thread: under a virtual-time
/// scope, the new thread belongs to the scope (registered now, before it runs, so the scope
/// never sees everyone blocked while it is starting). Daemons (homebound's process-wide helpers)
/// never belong to a scope.
#[inline]
pub(crate) fn inherit<F, T>(f: F, daemon: bool) -> impl FnOnce() -> T
where
    F: FnOnce() -> T,
{
    #[cfg(feature = "testing")]
    let member = (!daemon).then(virt::Membership::for_spawn).flatten();
    #[cfg(not(feature = "testing"))]
    let _ = daemon;
    move || {
        #[cfg(feature = "testing")]
        let _attached = member.map(virt::Membership::attach);
        f()
    }
}
