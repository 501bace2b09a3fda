//! With the `serde` feature: serialising the report fields that have no serde form of their own
//! (a context's [`Cause`](crate::Cause), which may carry the caller's error value) as their
//! `Display` text.

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
