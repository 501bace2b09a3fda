//! Why a context was cancelled.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why a [`Context`](crate::Context) was cancelled. The first cause set on a context wins and
/// never changes; descendants cancelled through it carry the same cause.
///
/// A cause is cheap to clone and can be handed on unchanged with
/// [`Context::cancel_with_cause`](crate::Context::cancel_with_cause), so one context's cause
/// can become another's (equality is identity for reasons, so the forwarded cause compares
/// equal to the original).
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
///
/// let why = Context::new().with_timeout_cause(Duration::ZERO, "backend too slow");
/// let cause = why.cause().unwrap();
/// assert!(cause.is_deadline_exceeded());
/// assert_eq!(cause.to_string(), "deadline exceeded: backend too slow");
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
    /// The deadline of a context made with
    /// [`with_deadline_cause`](crate::Context::with_deadline_cause) or
    /// [`with_timeout_cause`](crate::Context::with_timeout_cause) (or of its parent) passed;
    /// carries the reason given there. [`is_deadline_exceeded`](Cause::is_deadline_exceeded)
    /// is true.
    DeadlineExceededWith(Reason),
}

impl Cause {
    /// A cause from an error you share elsewhere (for example the error a failed task also
    /// returns to its caller): `downcast_ref` on its [`Reason`] finds your type.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use homebound::{Cause, Context};
    ///
    /// let err: Arc<std::io::Error> = Arc::new(std::io::Error::other("disk gone"));
    /// let ctx = Context::new();
    /// ctx.cancel_with_cause(Cause::from_arc(err.clone()));
    /// let cause = ctx.cause().unwrap();
    /// assert!(cause.reason().unwrap().downcast_ref::<std::io::Error>().is_some());
    /// ```
    pub fn from_arc(error: Arc<dyn Error + Send + Sync + 'static>) -> Cause {
        Cause::Reason(Reason::from_arc(error))
    }

    /// Whether a deadline caused it ([`Cause::DeadlineExceeded`] or
    /// [`Cause::DeadlineExceededWith`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use homebound::{Cause, Context};
    ///
    /// assert!(Cause::DeadlineExceeded.is_deadline_exceeded());
    /// assert!(!Cause::Cancelled.is_deadline_exceeded());
    /// let late = Context::new().with_deadline_cause(Instant::now(), "slow backend");
    /// assert!(late.cause().unwrap().is_deadline_exceeded());
    /// ```
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(
            self,
            Cause::DeadlineExceeded | Cause::DeadlineExceededWith(_)
        )
    }

    /// The caller's own reason, if the cause carries one.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cause, Context};
    ///
    /// let ctx = Context::new();
    /// ctx.cancel_with("shutting down");
    /// assert_eq!(ctx.cause().unwrap().reason().unwrap().to_string(), "shutting down");
    /// assert!(Cause::Cancelled.reason().is_none());
    /// ```
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Cause::Reason(r) | Cause::DeadlineExceededWith(r) => Some(r),
            Cause::Cancelled | Cause::DeadlineExceeded => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Cancelled => f.write_str("context cancelled"),
            Cause::DeadlineExceeded => f.write_str("deadline exceeded"),
            Cause::Reason(reason) => reason.fmt(f),
            Cause::DeadlineExceededWith(reason) => write!(f, "deadline exceeded: {reason}"),
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
    /// A reason from an error value, a `String` or a `&str`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Cause, Context, context::Reason};
    ///
    /// let ctx = Context::new();
    /// ctx.cancel_with_cause(Cause::Reason(Reason::new("maintenance")));
    /// assert_eq!(ctx.cause().unwrap().to_string(), "maintenance");
    /// ```
    pub fn new<E>(reason: E) -> Self
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        Reason(Arc::from(reason.into()))
    }

    /// A reason sharing an error you also keep elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use homebound::context::Reason;
    ///
    /// let err: Arc<dyn std::error::Error + Send + Sync> = Arc::new(std::io::Error::other("gone"));
    /// let reason = Reason::from_arc(err.clone());
    /// assert!(Arc::ptr_eq(&reason.to_arc(), &err)); // shared, not copied
    /// ```
    pub fn from_arc(error: Arc<dyn Error + Send + Sync + 'static>) -> Self {
        Reason(error)
    }

    /// The shared error itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::context::Reason;
    ///
    /// let reason = Reason::new("quota exceeded");
    /// let shared = reason.to_arc(); // outlives the reason, e.g. to return it to a caller
    /// drop(reason);
    /// assert_eq!(shared.to_string(), "quota exceeded");
    /// ```
    pub fn to_arc(&self) -> Arc<dyn Error + Send + Sync + 'static> {
        self.0.clone()
    }

    /// The reason as an error value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::error::Error;
    /// use homebound::context::Reason;
    ///
    /// let reason = Reason::new(std::io::Error::other("disk gone"));
    /// let err: &dyn Error = reason.as_error();
    /// assert_eq!(err.to_string(), "disk gone");
    /// ```
    pub fn as_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The reason as the caller's concrete error type, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::context::Reason;
    ///
    /// let reason = Reason::new(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
    /// let io = reason.downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    /// assert!(reason.downcast_ref::<std::fmt::Error>().is_none());
    /// ```
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
