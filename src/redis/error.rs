//! [`Error`]: what can go wrong between a consumer and Redis.

use std::fmt;
use std::io;

/// Why a [`Consumer`](super::Consumer) or [`Writer`](super::Writer) could not be built, or why a
/// run's source stopped.
///
/// # Examples
///
/// ```
/// use homebound::redis::{Consumer, Error};
///
/// let err = Consumer::builder("redis://127.0.0.1:1/", "jobs", "", "worker-1")
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, Error::Config(_)));
/// assert_eq!(err.to_string(), "bad redis configuration: the group name must not be empty");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Error {
    /// Bad configuration (an empty name, a zero batch, a bad URL, ..): nothing was started.
    Config(String),
    /// A Redis command failed: the server refused it, or stayed unreachable for the whole
    /// reconnect period.
    Redis {
        /// What the consumer was doing, e.g. `"XREADGROUP"`.
        during: &'static str,
        /// The client's error.
        error: ::redis::RedisError,
    },
    /// The consumer group vanished while the consumer was reading (the server restarted
    /// without persistence, or someone destroyed the group). The consumer does not recreate
    /// it: that would silently skip or repeat the whole stream.
    GroupLost {
        /// The stream key.
        stream: String,
        /// The group's name.
        group: String,
    },
    /// The reader thread could not be started.
    Spawn(io::ErrorKind),
    /// [`pipeline`](super::Consumer::pipeline) ran after its consumer was finished or dropped.
    Finished,
}

impl Error {
    pub(super) fn redis(during: &'static str, error: ::redis::RedisError) -> Self {
        Error::Redis { during, error }
    }

    /// The consumer's error that stopped a pipeline run, if that is why the run failed: a
    /// [`Consumer`](super::Consumer)'s reader cancels its run with the error as the cause.
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline, redis};
    ///
    /// let ctx = Context::new();
    /// ctx.cancel_with(redis::Error::Finished);
    /// let err = Pipeline::from_iter(&ctx, 0..10).collect().unwrap_err();
    /// assert!(matches!(redis::Error::of_run(&err), Some(redis::Error::Finished)));
    /// ```
    pub fn of_run<E>(error: &crate::pipeline::Error<E>) -> Option<&Error> {
        let cause = match error.kind() {
            crate::pipeline::ErrorKind::Cancelled(cancelled) => cancelled.cause(),
            _ => return None,
        };
        match cause {
            crate::Cause::Reason(reason) => reason.downcast_ref::<Error>(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(msg) => write!(f, "bad redis configuration: {msg}"),
            Error::Redis { during, error } => write!(f, "redis {during} failed: {error}"),
            Error::GroupLost { stream, group } => write!(
                f,
                "consumer group '{group}' of stream '{stream}' no longer exists \
                 (did the server restart without persistence?)"
            ),
            Error::Spawn(kind) => write!(f, "could not start the redis reader thread: {kind}"),
            Error::Finished => f.write_str("the redis consumer was already finished"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis::Error({self})")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis { error, .. } => Some(error),
            _ => None,
        }
    }
}
