//! What a service's end does to the others: per service ([`OnFailure`]) and for the whole
//! shutdown ([`StopOn`]).

/// What a failing service does to the others; see
/// [`Shutdown::service_with`](super::Shutdown::service_with).
///
/// # Examples
///
/// ```
/// use homebound::shutdown::OnFailure;
///
/// assert_eq!(OnFailure::default(), OnFailure::StopAll);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFailure {
    /// An error or panic begins the shutdown of everything, with
    /// [`Cause::ServiceFailed`](super::Cause::ServiceFailed). The default: a
    /// half-dead process is worse than a restarted one.
    #[default]
    StopAll,
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
/// use homebound::shutdown::{self, OnFailure, Shutdown, StopOn};
///
/// let mut shutdown = Shutdown::new().stop_on(StopOn::AnyEnd);
/// shutdown.service("job", |_ctx| Ok::<(), String>(()))?;
/// shutdown.service_with("metrics", OnFailure::Continue, |ctx| {
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
    /// Only a failure (error or panic) of an [`OnFailure::StopAll`] service stops all; services
    /// that return `Ok` leave the others running, and the shutdown begins on its own once every
    /// service has ended. The default, for long-lived servers.
    #[default]
    Failure,
    /// Any end of an [`OnFailure::StopAll`] service, `Ok` or not, stops all (oklog/run's
    /// rule, a pod's main container): for programs whose services only make sense together,
    /// or a batch job with helpers around it.
    AnyEnd,
}
