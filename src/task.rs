//! What every task has, whichever piece runs it: who it is ([`TaskInfo`]) and how its handle
//! ends without a value ([`JoinError`]).
//!
//! [`pool::TaskHandle::join`](crate::pool::TaskHandle::join) and
//! [`group::TaskHandle::join`](crate::group::TaskHandle::join) both return
//! `Result<T, JoinError>`, so a caller learns one type for "the task did not give me a value":
//!
//! | variant | meaning | from |
//! |---|---|---|
//! | [`JoinError::Panicked`] | the task panicked; the [`Panicked`](crate::Panicked) value has the message and thread | pool, group |
//! | [`JoinError::NotStarted`] | cancelled (through its handle, its group or a shutdown) before it ran; carries the cause | pool, group |
//! | [`JoinError::Failed`] | the task returned `Err`; the error itself is in the group's result | group |
//! | [`JoinError::Spawn`] | the OS refused the thread the task needed | group |
//!
//! # Guarantees
//!
//! * **Every task ends in exactly one way**, and its handle reports it: a value or one of the
//!   variants above. No path (a cancel, a shutdown, a dropped queue, a refused thread) leaves a
//!   handle waiting forever.
//! * **A panic is a value**, never a lost thread: [`panic_message`] turns any payload into its
//!   message (`"non-string panic payload"` for payloads that are neither `&str` nor `String`).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use homebound::{Context, group, pool::Pool, scope, task::JoinError, threads};
//!
//! // A pool task cancelled before a worker took it never starts.
//! let pool = Pool::new(1).unwrap();
//! let (release, gate) = crossbeam_channel::bounded::<()>(0);
//! let busy = pool.submit(move |_| gate.recv().is_ok()).unwrap();
//! let queued = pool.submit(|_| 42).unwrap();
//! assert!(queued.cancel());
//! assert!(matches!(queued.join(), Err(JoinError::NotStarted(_))));
//! release.send(()).unwrap();
//! assert!(busy.join().unwrap());
//! pool.shutdown();
//!
//! // A group task's error goes to the group's result; its handle says `Failed`.
//! let mut handle = None;
//! let result = scope(&Context::new(), |g| {
//!     handle = Some(g.spawn(|_| Err::<u32, _>("no route to host")));
//! });
//! assert!(matches!(result, Err(group::Error::Failed { .. })));
//! assert!(matches!(handle.unwrap().join(), Err(JoinError::Failed)));
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! # Design
//!
//! A group handle never carries the task's error `E`: the group reports errors according to its
//! policy, `E` need not be `Clone`, and one error cannot be in two places. A pool has no such
//! place to report, so its handle carries the panic itself. Both keep the end as a small enum
//! rather than a boxed error so a caller can `match` on it.

mod info;
mod join_error;

pub use self::info::TaskInfo;
pub use self::join_error::JoinError;
pub use crate::panic::{PayloadRef, panic_message};
