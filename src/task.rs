//! What every task has, whichever piece runs it: who it is ([`TaskInfo`]) and how its handle
//! ends without a value ([`JoinError`]).
//!
//! [`pool::TaskHandle::join`](crate::pool::TaskHandle::join) and
//! [`group::TaskHandle::join`](crate::group::TaskHandle::join) both return
//! `Result<T, JoinError>`; a panic in user code is always a [`Panicked`](crate::Panicked) value
//! with its message, never a lost thread.

mod info;
mod join_error;

pub use self::info::TaskInfo;
pub use self::join_error::JoinError;
pub use crate::panic::{PayloadRef, panic_message};
