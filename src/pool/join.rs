//! Joining a [`TaskHandle`] beyond `join`: cancel-aware ([`TaskHandle::join_ctx`]) and as a
//! `Future` ([`Join`], through `IntoFuture`), which needs no async runtime.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::handle::TaskHandle;
use super::worker::wait_helping;
use crate::context::Context;
use crate::task::JoinError;

/// The error of [`TaskHandle::join_ctx`]: the caller's context was cancelled first (the handle
/// comes back, so you may wait again, cancel the task or detach it), or the task failed.
///
/// `Debug` does not require `T: Debug`.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pool::JoinCtxError, pool::Pool};
///
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let (release, gate) = crossbeam_channel::bounded::<()>(0);
/// let handle = pool.submit(move |_| gate.recv().is_err()).unwrap();
/// let request = Context::new();
/// request.cancel();
/// let handle = match handle.join_ctx(&request) {
///     Err(JoinCtxError::Cancelled(h)) => h,
///     other => panic!("unexpected {other:?}"),
/// };
/// drop(release);
/// assert!(handle.join().unwrap());
/// # pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[non_exhaustive]
pub enum JoinCtxError<T> {
    /// The caller's context was cancelled before the task ended; here is its handle back.
    Cancelled(TaskHandle<T>),
    /// The task ended without a value.
    Task(JoinError),
}

impl<T> JoinCtxError<T> {
    /// Whether the caller's context was cancelled first.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinCtxError::Cancelled(_))
    }
}

impl<T> fmt::Debug for JoinCtxError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinCtxError::Cancelled(_) => f.write_str("Cancelled(..)"),
            JoinCtxError::Task(e) => f.debug_tuple("Task").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for JoinCtxError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinCtxError::Cancelled(_) => {
                f.write_str("the caller's context was cancelled while waiting for the task")
            }
            JoinCtxError::Task(e) => e.fmt(f),
        }
    }
}

impl<T> std::error::Error for JoinCtxError<T> {}

impl<T> TaskHandle<T> {
    /// Waits for the task like [`join`](TaskHandle::join), until `ctx` is cancelled (or its
    /// deadline passes): then the handle comes back and the task goes on. On one of a pool's
    /// workers it runs that pool's queued tasks while it waits, as `join` does (a helped task
    /// runs to its end before the cancel is noticed).
    ///
    /// # Errors
    ///
    /// [`JoinCtxError::Cancelled`] with this handle if `ctx` was cancelled first (also when it
    /// was cancelled before the call and the task had not ended);
    /// [`JoinCtxError::Task`] as for `join`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, pool::Pool};
    ///
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let (release, gate) = crossbeam_channel::bounded::<()>(0);
    /// let slow = pool.submit(move |_| { let _ = gate.recv(); "done" }).unwrap();
    /// // The request gives up after 10 ms; the task keeps running.
    /// let request = Context::new().with_timeout(Duration::from_millis(10));
    /// let slow = slow.join_ctx(&request).unwrap_err();
    /// assert!(slow.is_cancelled());
    /// drop(release);
    /// let homebound::pool::JoinCtxError::Cancelled(slow) = slow else { unreachable!() };
    /// assert_eq!(slow.join_ctx(&Context::new()).unwrap(), "done");
    /// # pool.shutdown();
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn join_ctx(self, ctx: &Context) -> Result<T, JoinCtxError<T>> {
        match wait_helping(self.view(), None, Some(ctx)) {
            Some(result) => result.map_err(JoinCtxError::Task),
            None => Err(JoinCtxError::Cancelled(self)),
        }
    }
}

/// Waits for `slot` to end, `deadline` to pass or `stop` to be cancelled (then `None`, unless
/// the task has ended meanwhile).
#[cfg(not(loom))]
pub(crate) fn wait_or_stop<T>(
    slot: &dyn crate::exec::slot::SlotView<super::task::PoolTask, T>,
    deadline: Option<std::time::Instant>,
    stop: Option<&Context>,
) -> Option<Result<T, JoinError>> {
    let Some(stop) = stop else {
        return slot.wait(deadline);
    };
    if !stop.is_cancelled()
        && let Some(ended) = slot.waker()
    {
        let mut sel = crossbeam_channel::Select::new();
        sel.recv(&ended);
        sel.recv(stop.done());
        // Both are ready once disconnected, so nothing needs to be received.
        let _ = match deadline {
            Some(at) => sel.ready_deadline(at).ok(),
            None => Some(sel.ready()),
        };
    }
    if slot.is_finished() {
        slot.wait(None)
    } else {
        None
    }
}

/// A [`TaskHandle`] as a `Future`: ready with what [`join`](TaskHandle::join) returns. Made by
/// `.await` on the handle (`TaskHandle` implements `IntoFuture`) or by
/// [`TaskHandle::into_future`].
///
/// It needs no runtime: the worker that ends the task calls the waker of the last poll (after
/// it has released the task's lock; a waker only schedules its task, as the `Waker` contract
/// asks). Polling never blocks and never runs other tasks. Dropping the future detaches the
/// task, like dropping the handle.
///
/// # Examples
///
/// ```
/// use std::future::{Future, IntoFuture};
/// use std::pin::pin;
/// use std::task::{Context as TaskContext, Poll, Waker};
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let (release, gate) = crossbeam_channel::bounded::<()>(0);
/// let handle = pool.submit(move |_| { let _ = gate.recv(); 42 }).unwrap();
/// let mut fut = pin!(handle.into_future());
/// let mut cx = TaskContext::from_waker(Waker::noop());
/// assert!(fut.as_mut().poll(&mut cx).is_pending());
/// drop(release);
/// pool.wait_idle().unwrap();
/// assert!(matches!(fut.poll(&mut cx), Poll::Ready(Ok(42))));
/// # pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "futures do nothing unless polled; dropping it detaches the task"]
pub struct Join<T> {
    handle: Option<TaskHandle<T>>,
}

impl<T> Future for Join<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let handle = this
            .handle
            .take()
            .expect("a Join future polled after it completed");
        // An ended task whose runner has let go: its result, without a lock.
        let handle = match handle.join_unshared() {
            Ok(ended) => return Poll::Ready(ended.map_err(|e| *e)),
            Err(handle) => handle,
        };
        // Back in the future before the waker is registered (a waker's clone may panic).
        if !this.handle.insert(handle).view().wake_on_end(cx.waker()) {
            return Poll::Pending;
        }
        let handle = this.handle.take().expect("put back above");
        Poll::Ready(
            handle
                .view()
                .wait(None)
                .expect("an ended task's result is there"),
        )
    }
}

// The handle is only moved, never pinned.
impl<T> Unpin for Join<T> {}

impl<T> fmt::Debug for Join<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("handle", &self.handle)
            .finish()
    }
}

impl<T> IntoFuture for TaskHandle<T> {
    type Output = Result<T, JoinError>;
    type IntoFuture = Join<T>;

    /// The handle as a [`Join`] future (what `.await` on the handle does).
    fn into_future(self) -> Join<T> {
        Join { handle: Some(self) }
    }
}
