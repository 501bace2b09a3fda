//! The names nearly every program uses, for a glob import.
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
