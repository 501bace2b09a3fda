//! [`Cancellation`]: a `Future` that completes when a context is cancelled, for code that must
//! stop async work from a synchronous program. It needs no runtime: any executor polls it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use super::guard::WakeGuard;
use super::{Cause, Context};
use crate::shim::Mutex;

/// The future returned by [`Context::cancelled`]: ready with the [`Cause`] once the context is
/// cancelled (its deadline included).
///
/// The cancel wakes the task through its `Waker`, called inline by `cancel()` (a waker only
/// schedules the task, as the `Waker` contract asks). Dropping the future unregisters it.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context as TaskContext, Poll, Waker};
/// use homebound::{Cause, Context};
///
/// let ctx = Context::new();
/// let mut fut = pin!(ctx.cancelled());
/// let mut cx = TaskContext::from_waker(Waker::noop());
/// assert!(fut.as_mut().poll(&mut cx).is_pending());
/// ctx.cancel();
/// assert_eq!(fut.poll(&mut cx), Poll::Ready(Cause::Cancelled));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Cancellation {
    ctx: Context,
    /// The waker to call, and the registration that calls it; made on the first pending poll.
    registered: Option<(Arc<Mutex<Option<Waker>>>, WakeGuard)>,
}

impl Cancellation {
    pub(crate) fn new(ctx: Context) -> Self {
        Cancellation {
            ctx,
            registered: None,
        }
    }
}

impl Future for Cancellation {
    type Output = Cause;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Cause> {
        let this = self.get_mut();
        if let Some(cause) = this.ctx.cause() {
            return Poll::Ready(cause);
        }
        match &this.registered {
            Some((slot, _)) => {
                let mut current = slot.lock();
                if !current.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    let old = current.replace(cx.waker().clone());
                    drop(current);
                    drop(old);
                }
            }
            None => {
                let slot = Arc::new(Mutex::new(Some(cx.waker().clone())));
                let wake = slot.clone();
                let guard = this.ctx.wake_on_cancel(move || {
                    let waker = wake.lock().take();
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                });
                this.registered = Some((slot, guard));
            }
        }
        // A cancel between the first check and the registration has woken (or will wake) the
        // waker just stored; answering now saves the executor a round trip.
        match this.ctx.cause() {
            Some(cause) => Poll::Ready(cause),
            None => Poll::Pending,
        }
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}
