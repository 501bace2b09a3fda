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
//! * **The first cause wins**: [`Cause::Cancelled`], [`Cause::DeadlineExceeded`], or your own
//!   error or message through [`cancel_with`](Context::cancel_with) ([`Cause::Reason`]).
//! * **Deadlines fire without polling.** A thread blocked in `select!` on
//!   [`done`](Context::done) wakes when the deadline passes; a child's effective deadline is the
//!   earlier of its own and its parent's.
//! * **Cancelled means it did not happen.** [`send`](Context::send) hands the value back in its
//!   [`SendError`]; [`recv`](Context::recv) leaves a message that lost the race in the channel;
//!   [`sleep`](Context::sleep) returns [`Cancelled`] early.
//! * **Callbacks run once.** An [`on_cancel`](Context::on_cancel) callback runs exactly once,
//!   after every lock is released, so it may use any context; it is the way to unblock foreign
//!   blocking I/O (close a socket), since a thread cannot be interrupted.
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
//! * **No user code under a lock.** Callbacks run and `done()` senders drop only after the
//!   cancelling thread released every lock, so a callback can cancel other contexts without
//!   deadlock. The tree's invariants are numbered in its source and checked by loom models.

mod cause;
mod error;
mod guard;
mod timer;
mod tree;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use std::error::Error;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, RecvTimeoutError as ChanTimeout, Select, Sender, TryRecvError, TrySendError,
};

pub use self::cause::{Cause, Reason};
pub use self::error::{Cancelled, RecvError, RecvTimeoutError, SendError};
pub use self::guard::{DropGuard, OnCancel};
use self::tree::Node;

/// A cheap, cloneable handle to a node in a cancellation tree: Go's `context.Context` for OS
/// threads.
///
/// * **Tree.** [`child`](Context::child) makes a node below this one. Cancelling a node cancels
///   every descendant before [`cancel`](Context::cancel) returns, and never its parent or
///   siblings. A child of a cancelled node is born cancelled, even when the two race. Cancelled
///   and dropped children are unlinked from their parent, so a long-lived root stays small.
/// * **Causes.** The first cause wins and never changes: [`Cause::Cancelled`],
///   [`Cause::DeadlineExceeded`], or [`Cause::Reason`] with your error or message.
/// * **Deadlines.** [`with_timeout`](Context::with_timeout) and
///   [`with_deadline`](Context::with_deadline) make a child whose effective deadline is the
///   earlier of its own and its parent's. One shared timer thread fires them, so a thread
///   blocked in `select!` on [`done`](Context::done) wakes when the deadline passes, with no
///   polling. A deadline that is not in the future is done at once; one that overflows
///   `Instant` (such as `Duration::MAX`) means "never".
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
    pub fn new() -> Self {
        Context { node: Node::root() }
    }

    /// A child context: cancelled when this one is, and cancellable on its own.
    pub fn child(&self) -> Context {
        Context {
            node: self.node.child(None),
        }
    }

    /// A child that is also cancelled with [`Cause::DeadlineExceeded`] once `timeout` has
    /// passed. A zero timeout gives a child that is already done; a timeout too large for
    /// `Instant` (such as `Duration::MAX`) never fires.
    pub fn with_timeout(&self, timeout: Duration) -> Context {
        match Instant::now().checked_add(timeout) {
            Some(at) => self.with_deadline(at),
            None => self.child(),
        }
    }

    /// A child that is also cancelled with [`Cause::DeadlineExceeded`] at `deadline`. Its
    /// effective deadline is the earlier of `deadline` and this context's; a deadline that is
    /// not in the future gives a child that is already done.
    pub fn with_deadline(&self, deadline: Instant) -> Context {
        Context {
            node: self.node.child(Some(deadline)),
        }
    }

    /// Cancels this context and every descendant with [`Cause::Cancelled`]. Returns whether this
    /// call cancelled it (`false` if it was already cancelled, which leaves the cause as it was).
    ///
    /// When `cancel` returns, every descendant reports `is_cancelled()`, every `done()` receiver
    /// in the subtree is disconnected and every `on_cancel` callback has run. Threads racing with
    /// the call may briefly see some nodes cancelled and others not.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](Context::on_cancel) callback panics, the panic is resumed here after
    /// the whole subtree is cancelled and every other callback has run.
    pub fn cancel(&self) -> bool {
        self.node.cancel(Cause::Cancelled)
    }

    /// Cancels like [`cancel`](Context::cancel), recording your reason as
    /// [`Cause::Reason`]: an error value, a `String` or a `&str`.
    ///
    /// # Panics
    ///
    /// As for [`cancel`](Context::cancel).
    pub fn cancel_with<E>(&self, reason: E) -> bool
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        if self.is_cancelled() {
            return false;
        }
        self.node.cancel(Cause::Reason(Reason::new(reason.into())))
    }

    /// Whether this context is cancelled: a single atomic load.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Why this context was cancelled, or `None` while it is not.
    pub fn cause(&self) -> Option<Cause> {
        self.node.cause()
    }

    /// `Ok(())` while the context is live, `Err(Cancelled)` with the cause once it is cancelled:
    /// use it with `?` at the checkpoints of long work.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] once the context is cancelled.
    #[inline]
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(self.cancelled())
        } else {
            Ok(())
        }
    }

    /// A receiver that never yields a message and disconnects when the context is cancelled:
    /// `recv(ctx.done()) -> _` fires in `select!` on cancel or deadline. Created on first use.
    pub fn done(&self) -> &Receiver<()> {
        self.node.done()
    }

    /// The effective deadline: the earliest of this context's and its ancestors'.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline()
    }

    /// Time left until the effective deadline (zero once it has passed), or `None` without one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Blocks until the context is cancelled and returns the cause.
    pub fn wait(&self) -> Cause {
        let _ = self.done().recv();
        self.cancelled().cause().clone()
    }

    /// Blocks until the context is cancelled or `timeout` passes; returns whether it was
    /// cancelled.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        !matches!(self.done().recv_timeout(timeout), Err(ChanTimeout::Timeout))
    }

    /// Sleeps for `duration` unless the context is cancelled first.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the context was cancelled before or during the sleep.
    pub fn sleep(&self, duration: Duration) -> Result<(), Cancelled> {
        self.check()?;
        match self.done().recv_timeout(duration) {
            Err(ChanTimeout::Timeout) => Ok(()),
            _ => Err(self.cancelled()),
        }
    }

    /// Sleeps until `deadline` unless the context is cancelled first.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the context was cancelled before or during the sleep.
    pub fn sleep_until(&self, deadline: Instant) -> Result<(), Cancelled> {
        self.check()?;
        match self.done().recv_deadline(deadline) {
            Err(ChanTimeout::Timeout) => Ok(()),
            _ => Err(self.cancelled()),
        }
    }

    /// Receives from `rx` unless the context is cancelled first. A message that arrives is
    /// never dropped: if cancellation wins, it stays in the channel.
    ///
    /// # Errors
    ///
    /// [`RecvError::Cancelled`] on cancel, [`RecvError::Disconnected`] when `rx` is empty and
    /// disconnected.
    pub fn recv<T>(&self, rx: &Receiver<T>) -> Result<T, RecvError> {
        self.check().map_err(RecvError::Cancelled)?;
        match rx.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Disconnected) => return Err(RecvError::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        crossbeam_channel::select! {
            recv(rx) -> msg => msg.map_err(|_| RecvError::Disconnected),
            recv(self.done()) -> _ => Err(RecvError::Cancelled(self.cancelled())),
        }
    }

    /// Like [`recv`](Context::recv), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Cancelled`], [`RecvTimeoutError::Timeout`] or
    /// [`RecvTimeoutError::Disconnected`].
    pub fn recv_timeout<T>(
        &self,
        rx: &Receiver<T>,
        timeout: Duration,
    ) -> Result<T, RecvTimeoutError> {
        self.check().map_err(RecvTimeoutError::Cancelled)?;
        crossbeam_channel::select! {
            recv(rx) -> msg => msg.map_err(|_| RecvTimeoutError::Disconnected),
            recv(self.done()) -> _ => Err(RecvTimeoutError::Cancelled(self.cancelled())),
            default(timeout) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// Sends `value` on `tx`, blocking while the channel is full, unless the context is
    /// cancelled first.
    ///
    /// # Errors
    ///
    /// [`SendError::Cancelled`] or [`SendError::Disconnected`], each handing `value` back.
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
        let mut sel = Select::new();
        let send_op = sel.send(tx);
        let done_op = sel.recv(self.done());
        let op = sel.select();
        if op.index() == send_op {
            op.send(tx, value)
                .map_err(|e| SendError::Disconnected(e.into_inner()))
        } else {
            debug_assert_eq!(op.index(), done_op);
            let _ = op.recv(self.done());
            Err(SendError::Cancelled(value))
        }
    }

    /// Registers `callback` to run once, on the thread that cancels this context (or the timer
    /// thread, for a deadline). If the context is already cancelled, it runs now, on this
    /// thread. Dropping the returned guard unregisters it.
    ///
    /// Callbacks run after every lock is released, so they may use any context freely. This is
    /// the way to unblock foreign blocking calls on cancel (shut down a socket, close a file).
    ///
    /// A callback that owns a clone of this context keeps it alive until the callback runs or
    /// is unregistered.
    pub fn on_cancel<F>(&self, callback: F) -> OnCancel
    where
        F: FnOnce() + Send + 'static,
    {
        match self.node.add_callback(Box::new(callback)) {
            Ok(key) => OnCancel::registered(Arc::downgrade(&self.node), key),
            Err(callback) => {
                callback();
                OnCancel::already_ran()
            }
        }
    }

    /// Wraps this context in a guard that cancels it when dropped, also while unwinding.
    pub fn drop_guard(self) -> DropGuard {
        DropGuard::new(self)
    }

    /// Whether this handle is the only one to its node (no clone, no child, no `on_cancel`
    /// guard, no `done()` receiver was ever handed out) and the node was never cancelled: it
    /// can then serve an unrelated piece of work as if it were a fresh `child()` of its parent,
    /// saving the allocation. The pool reuses each worker's task context this way.
    pub(crate) fn is_reusable(&self) -> bool {
        // Weak references: the parent's child slot (a child has one), plus any `OnCancel` guard.
        Arc::strong_count(&self.node) == 1
            && Arc::weak_count(&self.node) <= usize::from(self.node.has_parent())
            && self.node.is_pristine()
    }

    /// The `Cancelled` error for a context known to be cancelled.
    fn cancelled(&self) -> Cancelled {
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
