//! The executor core under [`Group`](crate::group::Group) and [`Pool`](crate::pool::Pool)
//! (private).
//!
//! Both layers run tasks on workers fed by one queue; everything they have in common lives here,
//! once:
//!
//! * [`slot`]: a task's result slot and the state machine its handle and its runner share;
//! * [`job`]: the one type-erased job a queue carries, and the [`Host`](job::Host) a layer
//!   passes to the jobs it runs (jobs hold no reference to their executor);
//! * [`queue`]: the bounded queue and its one hand-off algorithm — free worker, start a worker,
//!   or full — with blocked submitters woken by the [`room`] tokens;
//! * [`crew`]: the one atomic word that counts live, idle and claimed workers, on which every
//!   hand-off decision is a single compare-and-swap;
//! * [`stretch`]: a worker's task starts for its thread state, one clock read per stretch of
//!   short tasks;
//! * [`worker`]: the worker loop (reusable task context, panic containment, end counting) and
//!   self-submit detection.
//!
//! Everything is generic over the lifetime of what tasks may borrow, so a group's scoped
//! workers and a pool's `'static` ones share it without `unsafe`.
//!
//! The layers keep what differs: a group its scope, policies and in-flight count; a pool its
//! dynamic workers' threads and hooks, metrics and Java's shutdown contract.
//!
//! Under `--cfg loom` the channels are models built on the crate's shim (see [`chan`]), so the
//! models below check the hand-off and the room tokens themselves, not a copy.

pub(crate) mod chan;
pub(crate) mod crew;
pub(crate) mod job;
pub(crate) mod queue;
pub(crate) mod room;
pub(crate) mod slot;
pub(crate) mod stretch;
pub(crate) mod worker;

#[cfg(all(test, loom))]
mod loom_tests;
