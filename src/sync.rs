//! Completion: [`WaitGroup`], a counting latch whose [`Guard`]s count down on drop.
//!
//! Work *enters* the group and gets a guard; the work is done when its guard drops, on return or
//! while a panic unwinds. Waiters block until the count is zero: [`wait`](WaitGroup::wait),
//! [`wait_timeout`](WaitGroup::wait_timeout), [`wait_deadline`](WaitGroup::wait_deadline), or
//! [`wait_ctx`](WaitGroup::wait_ctx), which gives up when a [`Context`](crate::Context) is
//! cancelled.
//!
//! **Use it** when you start threads of your own (or hand work to code that is not homebound's)
//! and must know when all of it has ended. **You do not need it** around homebound's own pieces:
//! [`scope`](crate::scope), [`Pool::shutdown`](crate::pool::Pool::shutdown), a pipeline's
//! terminal and the fan helpers already return only after their threads are joined. If you need
//! the threads' results too, join their handles; a wait group only counts.
//!
//! # Guarantees
//!
//! * **A panic cannot strand the waiters.** Dropping a guard is the only way to count down, and
//!   it happens during unwinding too.
//! * **The count never goes below zero.** There is no `done()` to call twice, so Go's "negative
//!   WaitGroup counter" cannot be written.
//! * **Reuse is defined.** A wait returns once the count has been zero at some moment since the
//!   wait began, even if new work entered right after.
//! * **Bounded waits say what happened**: `wait_timeout` returns whether the count reached zero,
//!   `wait_ctx` returns [`Cancelled`](crate::Cancelled) with the cause.
//!
//! # Wait groups vs the alternatives
//!
//! `std::sync::Barrier` needs the number of participants up front and makes them wait for each
//! other; a wait group lets participants come and go and blocks only the waiters. crossbeam's
//! `WaitGroup` has no timeout and no cancel-aware wait.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use homebound::{Context, sync::WaitGroup, threads};
//!
//! let wg = WaitGroup::new();
//! let handles: Vec<_> = (0..3)
//!     .map(|i| {
//!         let guard = wg.enter();
//!         threads::spawn("job", move || {
//!             let _done = guard; // counts down when the job ends, even by panicking
//!             if i == 1 {
//!                 panic!("job 1 failed");
//!             }
//!         })
//!         .unwrap()
//!     })
//!     .collect();
//! assert!(wg.wait_timeout(Duration::from_secs(5))); // the panic did not strand us
//! wg.wait_ctx(&Context::new()).unwrap();           // already zero: returns at once
//! let panicked = handles.into_iter().map(|h| h.join()).filter(Result::is_err).count();
//! assert_eq!(panicked, 1);
//! threads::assert_none_alive(Duration::from_secs(5));
//! ```
//!
//! # Design
//!
//! Guards instead of `add`/`done` calls make the count an ownership fact: each unit of work owns
//! exactly one decrement. Every transition to zero starts a new *generation*, and a waiter leaves
//! when the generation moves, which is what makes reuse race-free (Go panics in that race). The
//! lock and condition variable come from the crate's loom shim, and loom models check that no
//! wake-up is lost.

mod wait_group;

#[cfg(all(test, loom))]
mod loom_tests;

pub use self::wait_group::{Guard, WaitGroup};
