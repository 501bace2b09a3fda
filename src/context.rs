//! Cancellation: [`Context`], a tree of cancellable nodes with deadlines, causes, callbacks and a
//! `done()` receiver that wakes any `crossbeam_channel::select!`.
//!
//! A context is Go's `context.Context` for OS threads. Create a root with [`Context::new`], hand
//! children ([`child`](Context::child), [`with_timeout`](Context::with_timeout),
//! [`with_deadline`](Context::with_deadline)) to the work you start, and cancel a node to stop
//! everything below it. Every homebound piece takes one: a pool's tasks, a group's tasks, a
//! pipeline's stages, a periodic job and a shutdown's services all stop through their context.
//!
//! **Use it** whenever work must be stoppable: by a caller, a deadline, a failing sibling or a
//! signal. **You do not need it** for a single stop flag between two threads you own with no
//! deadline and no tree (an `AtomicBool`, or dropping a crossbeam `Sender`, is enough), and in
//! async code, where tokio-util's `CancellationToken` fits the runtime.
//!
//! # Guarantees
//!
//! * **Down, never up.** Cancelling a node cancels every descendant before
//!   [`cancel`](Context::cancel) returns, and never its parent or siblings. A child created from
//!   a cancelled node, even in a race, is born cancelled.
//! * **The first cause wins**: [`Cause::Cancelled`], [`Cause::DeadlineExceeded`], your own
//!   error or message through [`cancel_with`](Context::cancel_with) ([`Cause::Reason`]), or
//!   your reason for a deadline through [`with_timeout_cause`](Context::with_timeout_cause)
//!   ([`Cause::DeadlineExceededWith`]). [`cancel_with_cause`](Context::cancel_with_cause)
//!   forwards one context's cause to another unchanged.
//! * **Deadlines fire without polling.** A thread blocked in `select!` on
//!   [`done`](Context::done) wakes when the deadline passes; a child's effective deadline is the
//!   earlier of its own and its parent's.
//! * **Cancelled means it did not happen.** [`send`](Context::send) hands the value back in its
//!   [`SendError`]; [`recv`](Context::recv) leaves a message that lost the race in the channel;
//!   [`sleep`](Context::sleep) returns [`Cancelled`] early.
//! * **Callbacks run once, never inside `cancel()`.** An
//!   [`after_cancel`](Context::after_cancel) callback (Go's `AfterFunc`) runs exactly once after
//!   the cancel, on homebound's callback runner, never on the cancelling thread or the timer
//!   thread, so it may use any context and may even block; its handle's
//!   [`stop`](AfterCancel::stop) says whether it stopped it in time. It is the way to unblock
//!   foreign blocking I/O (close a socket), since a thread cannot be interrupted.
//! * **Async code can wait for it**: [`cancelled`](Context::cancelled) is a `Future`, ready on
//!   cancel, that needs no runtime.
//! * [`is_cancelled`](Context::is_cancelled) is one atomic load: cheap enough for every item of
//!   a hot loop.
//!
//! # Examples
//!
//! A deadline and a reason, seen through the tree:
//!
//! ```
//! use std::time::Duration;
//! use homebound::{Cause, Context, context::SendError};
//!
//! let root = Context::new();
//! let request = root.with_timeout(Duration::from_secs(30));
//! let step = request.child();
//! request.cancel_with("client went away");
//! assert!(step.is_cancelled() && !root.is_cancelled()); // down, never up
//! assert_eq!(step.cause().unwrap().to_string(), "client went away");
//! assert!(matches!(request.cause(), Some(Cause::Reason(_))));
//!
//! // A cancelled send hands the value back.
//! let (tx, _rx) = crossbeam_channel::bounded::<String>(0);
//! match step.send(&tx, "report".to_string()) {
//!     Err(SendError::Cancelled(value)) => assert_eq!(value, "report"),
//!     other => panic!("unexpected: {other:?}"),
//! }
//! ```
//!
//! # Design
//!
//! * **Parents hold children weakly, children hold parents strongly**, and a cancelled or dropped
//!   child unlinks itself (an O(1) slab remove), so a long-lived root stays small however many
//!   requests come and go. Children are created under the parent's lock, which is what makes the
//!   "born cancelled" race impossible; no path holds two node locks at once.
//! * **`done()` is a crossbeam channel** created on first use, whose sender is dropped on cancel.
//!   Waking a selector is therefore the same disconnect as the hand-written "drop the Sender"
//!   idiom, and it composes with every other channel in a `select!`.
//! * **`is_cancelled` reads a flag kept beside the node's lock**, set after the cause; a reader
//!   that sees the flag finds the cause. Checks never take the lock.
//! * **One timer thread for every deadline**: an ordered map of deadlines, a condition variable
//!   while idle, woken only by a new earliest deadline. It is a registered daemon thread, so the
//!   leak check ignores it.
//! * **No user code under a lock, none in `cancel()`.** `done()` senders drop, and callbacks are
//!   handed to the runner, only after the cancelling thread released every lock; a callback that
//!   owns a child of its own context can be stopped without deadlock. The runner is a few
//!   registered daemon threads: one runs quick callbacks in order, and a monitor starts another
//!   when callbacks wait behind one that blocks. Only homebound's own non-blocking wake-ups (a
//!   condvar or poller notify, a future's waker) run inline, which is what lets `cancel()` promise
//!   that every blocked homebound call is woken when it returns. The tree's invariants are
//!   numbered in its source and checked by loom models.

mod after;
mod cause;
mod error;
mod future;
mod guard;
mod runner;
pub(crate) mod timer;
mod tree;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use std::error::Error;
use std::fmt;
use std::panic::{Location, RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, RecvTimeoutError as ChanTimeout, Select, Sender, TryRecvError, TrySendError,
};

pub use self::after::AfterCancel;
use self::after::Shared;
pub use self::cause::{Cause, Reason};
pub use self::error::{Cancelled, RecvError, RecvTimeoutError, SendError};
pub use self::future::Cancellation;
pub use self::guard::DropGuard;
pub(crate) use self::guard::WakeGuard;
use self::tree::{Callback, Node};

/// A cheap, cloneable handle to a node in a cancellation tree: Go's `context.Context` for OS
/// threads.
///
/// * **Tree.** [`child`](Context::child) makes a node below this one. Cancelling a node cancels
///   every descendant before [`cancel`](Context::cancel) returns, and never its parent or
///   siblings. A child of a cancelled node is born cancelled, even when the two race. Cancelled
///   and dropped children are unlinked from their parent, so a long-lived root stays small.
/// * **Causes.** The first cause wins and never changes: [`Cause::Cancelled`],
///   [`Cause::DeadlineExceeded`], [`Cause::Reason`] with your error or message, or
///   [`Cause::DeadlineExceededWith`] your reason for a deadline. A cause can be forwarded
///   unchanged to another context with [`cancel_with_cause`](Context::cancel_with_cause).
/// * **Deadlines.** [`with_timeout`](Context::with_timeout) and
///   [`with_deadline`](Context::with_deadline) (or their `_cause` forms) make a child whose
///   effective deadline is the earlier of its own and its parent's. One shared timer thread
///   fires them, so a thread blocked in `select!` on [`done`](Context::done) wakes when the
///   deadline passes, with no polling. A deadline that is not in the future is done at once; one
///   that overflows `Instant` (such as `Duration::MAX`) means "never".
/// * **Callbacks.** [`after_cancel`](Context::after_cancel) runs a function once after the
///   cancel, on homebound's callback runner: never inside `cancel()`, never on the timer thread
///   (Go's `context.AfterFunc`).
/// * **Async.** [`cancelled`](Context::cancelled) is a `Future` ready on cancel, for any
///   executor.
/// * **Selectable.** [`done`](Context::done) is a crossbeam `Receiver` that disconnects on
///   cancel, so it fires inside `crossbeam_channel::select!` next to your own channels.
/// * **Cheap checks.** [`is_cancelled`](Context::is_cancelled) is one atomic load: call it per
///   item in hot loops.
/// * **Cancel-aware blocking.** [`sleep`](Context::sleep), [`recv`](Context::recv),
///   [`recv_timeout`](Context::recv_timeout) and [`send`](Context::send) return early on cancel,
///   and `send` hands the value back: cancelled means it did not happen.
///
/// Clones are the same node; equality is identity.
///
/// # Examples
///
/// Stop a worker blocked on its input as soon as the deadline passes:
///
/// ```
/// use std::time::Duration;
/// use crossbeam_channel::{select, unbounded};
/// use homebound::{Cause, Context, threads};
///
/// let ctx = Context::new().with_timeout(Duration::from_millis(20));
/// let (_jobs_tx, jobs) = unbounded::<u32>();
/// let worker = {
///     let ctx = ctx.clone();
///     threads::spawn("worker", move || loop {
///         select! {
///             recv(jobs) -> job => { let _ = job; }
///             recv(ctx.done()) -> _ => return ctx.cause(),
///         }
///     })
///     .unwrap()
/// };
/// assert_eq!(worker.join().unwrap(), Some(Cause::DeadlineExceeded));
/// threads::assert_none_alive(Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct Context {
    node: Arc<Node>,
}

impl Context {
    /// A new root context: cancellable, with no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let root = Context::new();
    /// assert!(!root.is_cancelled() && root.deadline().is_none());
    /// assert!(root.cancel());
    /// ```
    pub fn new() -> Self {
        Context { node: Node::root() }
    }

    /// A child context: cancelled when this one is, and cancellable on its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let parent = Context::new();
    /// let child = parent.child();
    /// child.cancel();
    /// assert!(!parent.is_cancelled()); // never up
    /// parent.cancel();
    /// assert!(parent.child().is_cancelled()); // born cancelled
    /// ```
    pub fn child(&self) -> Context {
        Context {
            node: self.node.child(None),
        }
    }

    /// A child that is also cancelled with [`Cause::DeadlineExceeded`] once `timeout` has
    /// passed. A zero timeout gives a child that is already done; a timeout too large for
    /// `Instant` (such as `Duration::MAX`) never fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new().with_timeout(Duration::from_millis(5));
    /// assert_eq!(ctx.wait(), Cause::DeadlineExceeded);
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Context {
        match crate::clock::after(timeout) {
            Some(at) => self.with_deadline(at),
            None => self.child(),
        }
    }

    /// A child that is also cancelled with [`Cause::DeadlineExceeded`] at `deadline`. Its
    /// effective deadline is the earlier of `deadline` and this context's; a deadline that is
    /// not in the future gives a child that is already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use homebound::Context;
    ///
    /// let at = Instant::now() + Duration::from_secs(60);
    /// let ctx = Context::new().with_deadline(at);
    /// assert_eq!(ctx.deadline(), Some(at));
    /// // A child's effective deadline is the earlier one.
    /// assert_eq!(ctx.with_deadline(at + Duration::from_secs(1)).deadline(), Some(at));
    /// ```
    pub fn with_deadline(&self, deadline: Instant) -> Context {
        Context {
            node: self.node.child(Some((deadline, Cause::DeadlineExceeded))),
        }
    }

    /// Like [`with_timeout`](Context::with_timeout), but when this child's own deadline fires
    /// its cause is [`Cause::DeadlineExceededWith`] your `cause` (an error value, a `String` or a
    /// `&str`): code holding only the context can tell why. `is_deadline_exceeded()` is still
    /// true. If the parent's deadline comes first, the parent's cause is the one seen, as in Go.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new().with_timeout_cause(Duration::from_millis(5), "lookup too slow");
    /// let err = ctx.wait();
    /// assert!(err.is_deadline_exceeded());
    /// assert_eq!(err.reason().unwrap().to_string(), "lookup too slow");
    /// assert!(ctx.check().unwrap_err().is_deadline_exceeded());
    /// ```
    pub fn with_timeout_cause<E>(&self, timeout: Duration, cause: E) -> Context
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        match crate::clock::after(timeout) {
            Some(at) => self.with_deadline_cause(at, cause),
            None => {
                tree::release_user_value(cause, "a deadline's cause");
                self.child()
            }
        }
    }

    /// Like [`with_deadline`](Context::with_deadline), with your `cause` for the deadline (see
    /// [`with_timeout_cause`](Context::with_timeout_cause)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new().with_deadline_cause(Instant::now(), "already late");
    /// assert!(matches!(ctx.cause(), Some(Cause::DeadlineExceededWith(_))));
    /// ```
    pub fn with_deadline_cause<E>(&self, deadline: Instant, cause: E) -> Context
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        let cause = Cause::DeadlineExceededWith(Reason::new(cause));
        Context {
            node: self.node.child(Some((deadline, cause))),
        }
    }

    /// Cancels this context and every descendant with [`Cause::Cancelled`]. Returns whether this
    /// call cancelled it (`false` if it was already cancelled, which leaves the cause as it was).
    ///
    /// When `cancel` returns, every descendant reports `is_cancelled()`, every `done()` receiver
    /// in the subtree is disconnected, every thread blocked in a homebound call on one of them
    /// has been woken, and every [`after_cancel`](Context::after_cancel) callback is scheduled on
    /// the callback runner. `cancel` itself runs no user code and never panics. Threads racing
    /// with the call may briefly see some nodes cancelled and others not.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new();
    /// let below = ctx.child();
    /// assert!(ctx.cancel());
    /// assert!(!ctx.cancel()); // already cancelled
    /// assert_eq!(below.cause(), Some(Cause::Cancelled));
    /// ```
    pub fn cancel(&self) -> bool {
        self.node.cancel(Cause::Cancelled)
    }

    /// Cancels like [`cancel`](Context::cancel), recording your reason as
    /// [`Cause::Reason`]: an error value, a `String` or a `&str`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new();
    /// assert!(ctx.cancel_with("disk full"));
    /// assert!(!ctx.cancel_with("too late")); // the first cause wins
    /// assert!(matches!(ctx.cause(), Some(Cause::Reason(_))));
    /// assert_eq!(ctx.cause().unwrap().to_string(), "disk full");
    /// ```
    pub fn cancel_with<E>(&self, reason: E) -> bool
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        if self.is_cancelled() {
            tree::release_user_value(reason, "a cancel reason");
            return false;
        }
        self.node.cancel(Cause::Reason(Reason::new(reason)))
    }

    /// Cancels like [`cancel`](Context::cancel) with `cause` exactly as given: the way to forward
    /// one context's cause to another (a deadline stays a deadline, a reason stays the same
    /// reason, equal to the original), however many times it is forwarded.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let upstream = Context::new();
    /// let downstream = Context::new();
    /// upstream.cancel_with("upstream closed");
    /// downstream.cancel_with_cause(upstream.cause().unwrap());
    /// assert_eq!(downstream.cause(), upstream.cause());
    /// ```
    pub fn cancel_with_cause(&self, cause: Cause) -> bool {
        self.node.cancel(cause)
    }

    /// Whether this context is cancelled: a single atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// let done = (0..1_000).take_while(|_| !ctx.is_cancelled()).count();
    /// assert_eq!(done, 1_000);
    /// ctx.cancel();
    /// assert!(ctx.is_cancelled());
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Why this context was cancelled, or `None` while it is not.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new();
    /// assert_eq!(ctx.cause(), None);
    /// ctx.cancel();
    /// assert_eq!(ctx.cause(), Some(Cause::Cancelled));
    /// ```
    pub fn cause(&self) -> Option<Cause> {
        self.node.cause()
    }

    /// `Ok(())` while the context is live, `Err(Cancelled)` with the cause once it is cancelled:
    /// use it with `?` at the checkpoints of long work.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] once the context is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cancelled, Context};
    ///
    /// fn work(ctx: &Context, items: &[u32]) -> Result<u32, Cancelled> {
    ///     let mut sum = 0;
    ///     for item in items {
    ///         ctx.check()?;
    ///         sum += item;
    ///     }
    ///     Ok(sum)
    /// }
    /// let ctx = Context::new();
    /// assert_eq!(work(&ctx, &[1, 2, 3]).unwrap(), 6);
    /// ctx.cancel_with("stop");
    /// assert_eq!(work(&ctx, &[1, 2, 3]).unwrap_err().to_string(), "cancelled: stop");
    /// ```
    #[inline]
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(self.cancelled_error())
        } else {
            Ok(())
        }
    }

    /// A receiver that never yields a message and disconnects when the context is cancelled:
    /// `recv(ctx.done()) -> _` fires in `select!` on cancel or deadline. Created on first use.
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::{select, unbounded};
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// let (_tx, jobs) = unbounded::<u32>();
    /// ctx.cancel();
    /// let stopped = select! {
    ///     recv(jobs) -> _ => false,
    ///     recv(ctx.done()) -> _ => true,
    /// };
    /// assert!(stopped);
    /// ```
    pub fn done(&self) -> &Receiver<()> {
        self.node.done()
    }

    /// The effective deadline: the earliest of this context's and its ancestors'.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::Context;
    ///
    /// let root = Context::new();
    /// assert_eq!(root.deadline(), None);
    /// let soon = root.with_timeout(Duration::from_secs(1));
    /// let child = soon.with_timeout(Duration::from_secs(60));
    /// assert_eq!(child.deadline(), soon.deadline()); // the parent's comes first
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline()
    }

    /// Time left until the effective deadline (zero once it has passed), or `None` without one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::Context;
    ///
    /// assert_eq!(Context::new().remaining(), None);
    /// let ctx = Context::new().with_timeout(Duration::from_secs(60));
    /// assert!(ctx.remaining().unwrap() <= Duration::from_secs(60));
    /// ```
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline().map(crate::clock::until)
    }

    /// Blocks until the context is cancelled and returns the cause.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new();
    /// let c = ctx.clone();
    /// let waiter = threads::spawn("waiter", move || c.wait()).unwrap();
    /// ctx.cancel_with("bye");
    /// assert_eq!(waiter.join().unwrap().to_string(), "bye");
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn wait(&self) -> Cause {
        let _ = crate::clock::recv(self.done());
        self.cause().unwrap_or(Cause::Cancelled)
    }

    /// A `Future` that completes with the cause when this context is cancelled: the bridge
    /// that lets a synchronous program's context stop async work, on any executor (no runtime
    /// dependency). See [`Cancellation`].
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
    /// assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Cause::Cancelled));
    /// ```
    pub fn cancelled(&self) -> Cancellation {
        Cancellation::new(self.clone())
    }

    /// Blocks until the context is cancelled or `timeout` passes; returns whether it was
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// assert!(!ctx.wait_timeout(Duration::from_millis(1)));
    /// ctx.cancel();
    /// assert!(ctx.wait_timeout(Duration::from_secs(5)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let done = crate::clock::recv_timeout(self.done(), timeout);
        !matches!(done, Err(ChanTimeout::Timeout))
    }

    /// Sleeps for `duration` unless the context is cancelled first.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the context was cancelled before or during the sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// assert!(ctx.sleep(Duration::from_millis(1)).is_ok());
    /// ctx.cancel();
    /// assert!(ctx.sleep(Duration::from_secs(60)).is_err()); // returns at once
    /// ```
    pub fn sleep(&self, duration: Duration) -> Result<(), Cancelled> {
        self.check()?;
        let _state = crate::threads::enter_state(crate::threads::Kind::Sleeping);
        match crate::clock::recv_timeout(self.done(), duration) {
            Err(ChanTimeout::Timeout) => Ok(()),
            _ => Err(self.cancelled_error()),
        }
    }

    /// Sleeps until `deadline` unless the context is cancelled first.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the context was cancelled before or during the sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use homebound::Context;
    ///
    /// let ctx = Context::new().with_timeout(Duration::from_millis(5));
    /// let err = ctx.sleep_until(Instant::now() + Duration::from_secs(60)).unwrap_err();
    /// assert!(err.is_deadline_exceeded());
    /// ```
    pub fn sleep_until(&self, deadline: Instant) -> Result<(), Cancelled> {
        self.check()?;
        let _state = crate::threads::enter_state(crate::threads::Kind::Sleeping);
        match crate::clock::recv_deadline(self.done(), Some(deadline)) {
            Err(ChanTimeout::Timeout) => Ok(()),
            _ => Err(self.cancelled_error()),
        }
    }

    /// Receives from `rx` unless the context is cancelled first. A message that arrives is
    /// never dropped: if cancellation wins, it stays in the channel.
    ///
    /// # Errors
    ///
    /// [`RecvError::Cancelled`] on cancel, [`RecvError::Disconnected`] when `rx` is empty and
    /// disconnected.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, context::RecvError};
    ///
    /// let ctx = Context::new();
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// tx.send(7).unwrap();
    /// assert_eq!(ctx.recv(&rx).unwrap(), 7);
    /// ctx.cancel();
    /// assert!(matches!(ctx.recv(&rx), Err(RecvError::Cancelled(_))));
    /// ```
    pub fn recv<T>(&self, rx: &Receiver<T>) -> Result<T, RecvError> {
        self.check().map_err(RecvError::Cancelled)?;
        match rx.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Disconnected) => return Err(RecvError::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        let _state = crate::threads::enter_state(crate::threads::Kind::Receiving);
        let mut sel = Select::new();
        let msg_op = sel.recv(rx);
        sel.recv(self.done());
        match crate::clock::select(&mut sel, None) {
            Some(op) if op.index() == msg_op => op.recv(rx).map_err(|_| RecvError::Disconnected),
            Some(op) => {
                let _ = op.recv(self.done());
                Err(RecvError::Cancelled(self.cancelled_error()))
            }
            None => Err(RecvError::Cancelled(self.cancelled_error())),
        }
    }

    /// Like [`recv`](Context::recv), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Cancelled`], [`RecvTimeoutError::Timeout`] or
    /// [`RecvTimeoutError::Disconnected`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, context::RecvTimeoutError};
    ///
    /// let ctx = Context::new();
    /// let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    /// let waited = ctx.recv_timeout(&rx, Duration::from_millis(1));
    /// assert!(matches!(waited, Err(RecvTimeoutError::Timeout)));
    /// drop(tx);
    /// let closed = ctx.recv_timeout(&rx, Duration::from_secs(5));
    /// assert!(matches!(closed, Err(RecvTimeoutError::Disconnected)));
    /// ```
    pub fn recv_timeout<T>(
        &self,
        rx: &Receiver<T>,
        timeout: Duration,
    ) -> Result<T, RecvTimeoutError> {
        self.check().map_err(RecvTimeoutError::Cancelled)?;
        let _state = crate::threads::enter_state(crate::threads::Kind::Receiving);
        let mut sel = Select::new();
        let msg_op = sel.recv(rx);
        sel.recv(self.done());
        match crate::clock::select(&mut sel, crate::clock::after(timeout)) {
            Some(op) if op.index() == msg_op => {
                op.recv(rx).map_err(|_| RecvTimeoutError::Disconnected)
            }
            Some(op) => {
                let _ = op.recv(self.done());
                Err(RecvTimeoutError::Cancelled(self.cancelled_error()))
            }
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// Sends `value` on `tx`, blocking while the channel is full, unless the context is
    /// cancelled first.
    ///
    /// # Errors
    ///
    /// [`SendError::Cancelled`] or [`SendError::Disconnected`], each handing `value` back.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, context::SendError};
    ///
    /// let ctx = Context::new();
    /// let (tx, rx) = crossbeam_channel::bounded(1);
    /// ctx.send(&tx, 1).unwrap();
    /// drop(rx);
    /// match ctx.send(&tx, 2) {
    ///     Err(SendError::Disconnected(value)) => assert_eq!(value, 2), // handed back
    ///     other => panic!("unexpected: {other:?}"),
    /// }
    /// ```
    pub fn send<T>(&self, tx: &Sender<T>, value: T) -> Result<(), SendError<T>> {
        if self.is_cancelled() {
            return Err(SendError::Cancelled(value));
        }
        let value = match tx.try_send(value) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(v)) => return Err(SendError::Disconnected(v)),
            Err(TrySendError::Full(v)) => v,
        };
        // `Select` rather than `select!`: the value must stay ours until the send is chosen.
        let _state = crate::threads::enter_state(crate::threads::Kind::Sending);
        let mut sel = Select::new();
        let send_op = sel.send(tx);
        let done_op = sel.recv(self.done());
        let op = crate::clock::select(&mut sel, None).expect("no deadline");
        if op.index() == send_op {
            op.send(tx, value)
                .map_err(|e| SendError::Disconnected(e.into_inner()))
        } else {
            debug_assert_eq!(op.index(), done_op);
            let _ = op.recv(self.done());
            Err(SendError::Cancelled(value))
        }
    }

    /// Runs `f` once, after this context is cancelled (Go's `context.AfterFunc`): on
    /// homebound's callback runner, never inside `cancel()` and never on the deadline timer. If
    /// the context is already cancelled, `f` is scheduled the same way at once.
    ///
    /// The returned [`AfterCancel`] handle's [`stop`](AfterCancel::stop) unregisters `f` if it
    /// has not started and says whether it did; dropping the handle stops it too, and
    /// [`detach`](AfterCancel::detach) keeps `f` registered without a handle.
    ///
    /// This is the way to unblock foreign blocking calls on cancel (shut down a socket, close a
    /// file, notify a poller). The runner is a few registered daemon threads: quick callbacks run
    /// one after another on one thread; one that blocks delays the others by about 2 ms, after
    /// which another runner thread takes them (at most 32 run at once). A panic in `f` is caught,
    /// printed by the panic hook and recorded as a [`LostPanic`](crate::threads::LostPanic) that
    /// the leak check of the thread that called `after_cancel` reports; that leak check also
    /// waits for `f` to finish.
    ///
    /// A callback that owns a clone of this context keeps it alive until it runs or is stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, threads};
    ///
    /// let ctx = Context::new().with_timeout(Duration::from_millis(5));
    /// let (tx, rx) = crossbeam_channel::bounded(1);
    /// let c = ctx.clone();
    /// ctx.after_cancel(move || tx.send(c.cause()).unwrap()).detach();
    /// let cause = rx.recv().unwrap().unwrap(); // ran on the runner, after the deadline
    /// assert!(cause.is_deadline_exceeded());
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    #[track_caller]
    pub fn after_cancel<F>(&self, f: F) -> AfterCancel
    where
        F: FnOnce() + Send + 'static,
    {
        let shared = Arc::new(Shared::new(
            Box::new(f),
            crate::threads::current_origin(),
            Location::caller(),
        ));
        match self.node.add_callback(Callback::After(shared.clone())) {
            Ok(key) => AfterCancel::new(shared, Some((Arc::downgrade(&self.node), key))),
            Err(_already_cancelled) => {
                runner::schedule(vec![shared.clone()]);
                AfterCancel::new(shared, None)
            }
        }
    }

    /// Registers one of homebound's own wake-ups to run inline in `cancel()` (on the cancelling
    /// thread, or the timer thread for a deadline), or at once if the context is already
    /// cancelled; dropping the guard unregisters it.
    ///
    /// Only for cheap, non-blocking code that homebound owns: notifying a condition variable, a
    /// poller (`polling::Poller::notify`, `mio::Waker::wake`) or a future's `Waker`. It is what
    /// lets `cancel()` promise that blocked homebound calls are woken when it returns, without
    /// a trip through the callback runner. User callbacks use [`after_cancel`](Context::after_cancel).
    pub(crate) fn wake_on_cancel<F>(&self, wake: F) -> WakeGuard
    where
        F: FnOnce() + Send + 'static,
    {
        match self.node.add_callback(Callback::Wake(Box::new(wake))) {
            Ok(key) => WakeGuard::registered(Arc::downgrade(&self.node), key),
            Err(Callback::Wake(wake)) => {
                wake();
                WakeGuard::already_ran()
            }
            Err(Callback::After(_)) => unreachable!("add_callback hands back what it was given"),
        }
    }

    /// Wraps this context in a guard that cancels it when dropped, also while unwinding.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let ctx = Context::new();
    /// {
    ///     let _guard = ctx.clone().drop_guard();
    ///     assert!(!ctx.is_cancelled());
    /// } // dropped here, also on a panic
    /// assert!(ctx.is_cancelled());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard::new(self)
    }

    /// Whether this handle is the only one to its node (no clone, no child, no callback
    /// handle, no `done()` receiver was ever handed out) and the node was never cancelled: it
    /// can then serve an unrelated piece of work as if it were a fresh `child()` of its parent,
    /// saving the allocation. The pool reuses each worker's task context this way.
    #[inline]
    pub(crate) fn is_reusable(&self) -> bool {
        // Weak references: the parent's child slot (a child has one), plus any callback handle.
        Arc::strong_count(&self.node) == 1
            && Arc::weak_count(&self.node) <= usize::from(self.node.has_parent())
            && self.node.is_pristine()
    }

    /// The `Cancelled` error for a context known to be cancelled.
    fn cancelled_error(&self) -> Cancelled {
        Cancelled::new(self.cause().unwrap_or(Cause::Cancelled))
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }
}

impl Eq for Context {}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("cancelled", &self.is_cancelled())
            .field("deadline", &self.deadline())
            .finish()
    }
}

// A context holds no user data across an unwind: every state change is complete under its lock.
impl UnwindSafe for Context {}
impl RefUnwindSafe for Context {}
