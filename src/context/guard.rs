//! RAII guards tied to a context: a registered cancel callback, and cancel-on-drop.

use std::fmt;
use std::sync::Weak;

use super::Context;
use super::tree::Node;

/// A callback registered with [`Context::on_cancel`]. Dropping the guard unregisters the callback
/// if it has not run yet.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use homebound::Context;
///
/// let ctx = Context::new();
/// let calls = Arc::new(AtomicUsize::new(0));
/// let c = calls.clone();
/// let guard = ctx.on_cancel(move || { c.fetch_add(1, Ordering::SeqCst); });
/// ctx.cancel();
/// ctx.cancel();
/// assert_eq!(calls.load(Ordering::SeqCst), 1); // exactly once
/// assert!(!guard.disarm()); // it had already run
/// ```
#[must_use = "dropping the guard unregisters the callback at once"]
pub struct OnCancel {
    /// `None` when the callback ran at registration (the context was already cancelled).
    registration: Option<(Weak<Node>, usize)>,
}

impl OnCancel {
    pub(crate) fn registered(node: Weak<Node>, key: usize) -> Self {
        OnCancel {
            registration: Some((node, key)),
        }
    }

    pub(crate) fn already_ran() -> Self {
        OnCancel { registration: None }
    }

    /// Unregisters the callback; returns `true` if it was still registered, so it will never run,
    /// and `false` if it has run or is running.
    pub fn disarm(mut self) -> bool {
        self.unregister()
    }

    /// Keeps the callback registered for as long as the context lives, without a guard.
    pub fn forget(mut self) {
        self.registration = None;
    }

    fn unregister(&mut self) -> bool {
        match self.registration.take() {
            Some((node, key)) => node.upgrade().is_some_and(|node| node.remove_callback(key)),
            None => false,
        }
    }
}

impl Drop for OnCancel {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for OnCancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnCancel { .. }")
    }
}

/// Cancels its context when dropped, also while unwinding; made by [`Context::drop_guard`].
///
/// # Examples
///
/// ```
/// use homebound::Context;
///
/// let ctx = Context::new();
/// {
///     let _guard = ctx.clone().drop_guard();
/// }
/// assert!(ctx.is_cancelled());
///
/// let kept = Context::new().drop_guard().disarm();
/// assert!(!kept.is_cancelled());
/// ```
#[must_use = "dropping the guard cancels the context at once"]
pub struct DropGuard {
    ctx: Option<Context>,
}

impl DropGuard {
    pub(crate) fn new(ctx: Context) -> Self {
        DropGuard { ctx: Some(ctx) }
    }

    /// The guarded context.
    pub fn context(&self) -> &Context {
        self.ctx
            .as_ref()
            .expect("DropGuard holds its context until dropped or disarmed")
    }

    /// Returns the context without cancelling it.
    pub fn disarm(mut self) -> Context {
        self.ctx
            .take()
            .expect("DropGuard holds its context until dropped or disarmed")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            ctx.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard").field("ctx", &self.ctx).finish()
    }
}
