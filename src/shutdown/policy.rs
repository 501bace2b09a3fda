//! What a service's end does to the others: per service ([`ErrorPolicy`]) and for the whole
//! shutdown ([`StopOn`]); what a second signal does to a signal context ([`SecondSignal`]).

use crate::context::Context;

/// What a failing service does to the others; see
/// [`Shutdown::service_with`](super::Shutdown::service_with).
///
/// # Examples
///
/// ```
/// use homebound::shutdown::ErrorPolicy;
///
/// assert_eq!(ErrorPolicy::default(), ErrorPolicy::FailFast);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// An error or panic begins the shutdown of everything, with
    /// [`Cause::ServiceFailed`](super::Cause::ServiceFailed). The default: a
    /// half-dead process is worse than a restarted one.
    #[default]
    FailFast,
    /// The failure is recorded in the report and the other services keep running. Under
    /// [`StopOn::AnyEnd`] such a service's end, clean or not, does not stop the others either:
    /// it is a sidecar.
    Continue,
}

/// Which ends of a service begin the shutdown of all; see
/// [`Shutdown::stop_on`](super::Shutdown::stop_on).
///
/// # Examples
///
/// A batch job with a metrics sidecar: when the job returns, the sidecar is stopped.
///
/// ```
/// use std::time::Duration;
/// use homebound::shutdown::{self, ErrorPolicy, Shutdown, StopOn};
///
/// let mut shutdown = Shutdown::new().stop_on(StopOn::AnyEnd);
/// shutdown.service("job", |_ctx| Ok::<(), String>(()))?;
/// shutdown.service_with("metrics", ErrorPolicy::Continue, |ctx| {
///     ctx.wait(); // serves until the job is done
///     Ok::<(), String>(())
/// })?;
/// let report = shutdown.wait();
/// assert_eq!(report.cause(), &shutdown::Cause::ServiceReturned("job".into()));
/// assert_eq!(report.exit_code(), 0);
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// # Ok::<(), homebound::shutdown::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopOn {
    /// Only a failure (error or panic) of an [`ErrorPolicy::FailFast`] service stops all; services
    /// that return `Ok` leave the others running, and the shutdown begins on its own once every
    /// service has ended. The default, for long-lived servers.
    #[default]
    Failure,
    /// Any end of an [`ErrorPolicy::FailFast`] service, `Ok` or not, stops all (oklog/run's
    /// rule, a pod's main container): for programs whose services only make sense together,
    /// or a batch job with helpers around it.
    AnyEnd,
}

/// What a signal does after the first one (which cancels the [`SignalContext`](super::SignalContext)).
///
/// # Examples
///
/// ```
/// use homebound::shutdown::SecondSignal;
///
/// assert!(matches!(SecondSignal::default(), SecondSignal::Exit));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum SecondSignal {
    /// The second SIGINT or SIGTERM ends the process at once with exit code `128 + signo` (130
    /// for SIGINT, 143 for SIGTERM), from inside the signal handler: no destructor runs and
    /// buffered output is not flushed, so a stuck shutdown cannot delay it. The default, as
    /// users expect of a second Ctrl-C.
    #[default]
    Exit,
    /// Later signals are swallowed while the guard lives (Go's `NotifyContext`): the program
    /// decides when to stop. Dropping the guard gives the signals their default action again.
    Ignore,
    /// The second signal cancels this context too (with the same [`Signal`](super::Cause::Signal)
    /// cause): a harder stop, such as "abandon the work in flight" after a first "stop taking
    /// new work". A third signal then ends the process as [`Exit`](SecondSignal::Exit) does.
    Cancel(Context),
}
