//! Why a context was cancelled.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why a [`Context`](crate::Context) was cancelled. The first cause set on a context wins and
/// never changes; descendants cancelled through it carry the same cause.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::{Cause, Context};
///
/// let root = Context::new();
/// let child = root.child();
/// root.cancel();
/// assert_eq!(child.cause(), Some(Cause::Cancelled));
///
/// let timed = Context::new().with_timeout(Duration::ZERO);
/// assert_eq!(timed.cause(), Some(Cause::DeadlineExceeded));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Cause {
    /// [`Context::cancel`](crate::Context::cancel) was called.
    Cancelled,
    /// The context's deadline (or a parent's) passed.
    DeadlineExceeded,
    /// [`Context::cancel_with`](crate::Context::cancel_with) was called with this reason.
    Reason(Reason),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Cancelled => f.write_str("context cancelled"),
            Cause::DeadlineExceeded => f.write_str("deadline exceeded"),
            Cause::Reason(reason) => reason.fmt(f),
        }
    }
}

/// The caller's own reason for a cancellation: an error value or a message, shared cheaply.
///
/// Two reasons are equal when they are the same value (the same `cancel_with` call).
///
/// # Examples
///
/// ```
/// use homebound::{Cause, Context};
///
/// #[derive(Debug)]
/// struct DiskFull;
/// impl std::fmt::Display for DiskFull {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("disk full") }
/// }
/// impl std::error::Error for DiskFull {}
///
/// let ctx = Context::new();
/// ctx.cancel_with(DiskFull);
/// let Some(Cause::Reason(reason)) = ctx.cause() else { unreachable!() };
/// assert!(reason.downcast_ref::<DiskFull>().is_some());
/// assert_eq!(reason.to_string(), "disk full");
/// ```
#[derive(Clone)]
pub struct Reason(Arc<dyn Error + Send + Sync + 'static>);

impl Reason {
    pub(crate) fn new(reason: Box<dyn Error + Send + Sync + 'static>) -> Self {
        Reason(Arc::from(reason))
    }

    /// The reason as an error value.
    pub fn as_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The reason as the caller's concrete error type, if it is one.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }
}

impl PartialEq for Reason {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Reason")
            .field(&format_args!("{}", self.0))
            .finish()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
