//! RAII guards tied to a context: cancel-on-drop, and homebound's own registered wake-ups.

use std::fmt;
use std::sync::Weak;

use super::Context;
use super::tree::{Callback, Node};

/// Unregisters one of homebound's own inline wake-ups (see `Context::wake_on_cancel`) when
/// dropped.
pub(crate) struct WakeGuard {
    /// `None` when the wake-up already ran at registration (the context was cancelled).
    registration: Option<(Weak<Node>, usize)>,
}

impl WakeGuard {
    pub(crate) fn registered(node: Weak<Node>, key: usize) -> Self {
        WakeGuard {
            registration: Some((node, key)),
        }
    }

    pub(crate) fn already_ran() -> Self {
        WakeGuard { registration: None }
    }
}

impl Drop for WakeGuard {
    fn drop(&mut self) {
        if let Some((node, key)) = self.registration.take()
            && let Some(node) = node.upgrade()
        {
            // Dropped here, after `remove_callback` released the node's lock.
            let removed: Option<Callback> = node.remove_callback(key);
            drop(removed);
        }
    }
}

impl fmt::Debug for WakeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WakeGuard { .. }")
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
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let guard = Context::new().drop_guard();
    /// let worker_ctx = guard.context().child();
    /// drop(guard);
    /// assert!(worker_ctx.is_cancelled());
    /// ```
    pub fn context(&self) -> &Context {
        self.ctx
            .as_ref()
            .expect("DropGuard holds its context until dropped or disarmed")
    }

    /// Returns the context without cancelling it.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Context;
    ///
    /// let guard = Context::new().drop_guard();
    /// let ctx = guard.disarm(); // keep it: the work succeeded
    /// assert!(!ctx.is_cancelled());
    /// ```
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
