//! With the `serde` feature: serialising the report fields that have no serde form of their own
//! as text: a context's [`Cause`](crate::Cause) (it may carry the caller's error value) as its
//! `Display`, a [`Panicked`](crate::Panicked) as its message.

use std::fmt::Display;

use serde::Serializer;

/// An optional value as its `Display` text (or `null`).
pub(crate) fn opt_display<T: Display, S: Serializer>(
    value: &Option<T>,
    out: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => out.collect_str(v),
        None => out.serialize_none(),
    }
}

/// A panic as its message (its payload, thread and backtrace stay with the value).
pub(crate) fn panicked<S: Serializer>(panic: &crate::Panicked, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(panic.message())
}
