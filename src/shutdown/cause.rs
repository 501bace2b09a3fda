//! [`Cause`]: why a shutdown began.

use std::fmt;

/// Why a [`Shutdown`](super::Shutdown) began. It is also the reason the root context is
/// cancelled with, so a service can find it in [`Cause::Reason`](crate::Cause::Reason):
///
/// ```
/// use homebound::{Cause, Context, shutdown};
///
/// let ctx = Context::new();
/// ctx.cancel_with(shutdown::Cause::Signal(15));
/// let Some(Cause::Reason(reason)) = ctx.cause() else { unreachable!() };
/// assert_eq!(reason.downcast_ref::<shutdown::Cause>(), Some(&shutdown::Cause::Signal(15)));
/// assert_eq!(reason.to_string(), "received SIGTERM");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Cause {
    /// SIGINT or SIGTERM arrived; the signal number.
    Signal(i32),
    /// [`Trigger::fire`](super::Trigger::fire) was called.
    Triggered,
    /// The named service returned an error or panicked (and stops all, the default).
    ServiceFailed(String),
    /// The named service returned `Ok` and, under [`StopOn::AnyEnd`](super::StopOn::AnyEnd),
    /// its end stops all.
    ServiceReturned(String),
    /// Every service ended on its own, or there were none and nothing could ever start a
    /// shutdown (no signals, no live trigger).
    ServicesEnded,
    /// The context of a [`Shutdown::with_parent`](super::Shutdown::with_parent) was cancelled
    /// from outside: by its parent, or directly. The services see that cancellation's own
    /// cause.
    ContextCancelled,
}

impl Cause {
    /// The conventional process exit code for a shutdown begun by this signal, as shells report
    /// it: `128 + signo` (130 for SIGINT, 143 for SIGTERM). `None` for every other cause.
    ///
    /// ```
    /// use homebound::shutdown::Cause;
    ///
    /// assert_eq!(Cause::Signal(2).exit_code(), Some(130));
    /// assert_eq!(Cause::Triggered.exit_code(), None);
    /// ```
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Cause::Signal(signo) => Some(128 + signo),
            _ => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Signal(signo) => write!(f, "received {}", signal_name(*signo)),
            Cause::Triggered => f.write_str("shutdown triggered"),
            Cause::ServiceFailed(name) => write!(f, "service '{name}' failed"),
            Cause::ServiceReturned(name) => write!(f, "service '{name}' returned"),
            Cause::ServicesEnded => f.write_str("every service ended"),
            Cause::ContextCancelled => f.write_str("the shutdown's context was cancelled"),
        }
    }
}

impl std::error::Error for Cause {}

/// A signal's name, such as `"SIGTERM"`, or `"signal <n>"` for one signal-hook does not know.
pub(crate) fn signal_name(signo: i32) -> String {
    #[cfg(unix)]
    if let Some(name) = signal_hook::low_level::signal_name(signo) {
        return name.to_owned();
    }
    format!("signal {signo}")
}
