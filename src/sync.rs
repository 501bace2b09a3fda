//! [`WaitGroup`]: know when a set of work has ended.
//!
//! A counting latch whose [`Guard`]s count down on drop, panics included, with timed
//! ([`WaitGroup::wait_timeout`]) and cancel-aware ([`WaitGroup::wait_ctx`]) waits. It is the
//! latch every homebound piece uses to coordinate exit; use it directly when you start threads of
//! your own and must know when they have all finished (problem 5 in the crate docs).
//!
//! ```
//! use std::time::Duration;
//! use homebound::sync::WaitGroup;
//!
//! let wg = WaitGroup::new();
//! let handles: Vec<_> = (0..3)
//!     .map(|_| {
//!         let guard = wg.enter();
//!         std::thread::spawn(move || drop(guard))
//!     })
//!     .collect();
//! assert!(wg.wait_timeout(Duration::from_secs(5)));
//! for h in handles {
//!     h.join().unwrap();
//! }
//! ```

mod wait_group;

#[cfg(all(test, loom))]
mod loom_tests;

pub use self::wait_group::{Guard, WaitGroup};
