//! The names nearly every program uses, for a glob import: `use homebound::prelude::*;`.
//!
//! | name | what it is |
//! |---|---|
//! | [`Context`], [`Cause`], [`Cancelled`] | cancellation: the tree, why it was cancelled, the error of a cancelled operation |
//! | [`WaitGroup`] | a latch that counts work down on drop |
//! | [`scope`], [`Group`] | task groups: errgroup for OS threads |
//! | [`Pool`] | a worker pool with a bounded queue |
//! | [`Pipeline`] | typed stages on worker threads |
//! | [`Shutdown`] | services, signals, grace period, report |
//! | [`every`] | a periodic job |
//! | [`Panicked`] | a caught panic, as a value |
//!
//! Everything else lives in its module ([`pool::Metrics`](crate::pool::Metrics),
//! [`group::CollectAll`](crate::group::CollectAll), ...), where the short names read well with
//! their module's name in front.
//!
//! ```
//! use homebound::prelude::*;
//!
//! let ctx = Context::new();
//! let sum = scope(&ctx, |g| {
//!     let a = g.spawn(|_| Ok::<_, Cancelled>(20));
//!     let b = g.spawn(|_| Ok::<_, Cancelled>(22));
//!     (a, b)
//! })
//! .map(|(a, b)| a.join().unwrap() + b.join().unwrap())
//! .unwrap();
//! assert_eq!(sum, 42);
//! ```

pub use crate::context::{Cancelled, Cause, Context};
pub use crate::group::{Group, scope};
pub use crate::panic::Panicked;
pub use crate::periodic::every;
pub use crate::pipeline::Pipeline;
pub use crate::pool::Pool;
pub use crate::shutdown::Shutdown;
pub use crate::sync::WaitGroup;
