//! Cancel-aware networking for std sockets (feature `net`, Unix).
//!
//! A thread blocked in [`TcpListener::accept`](std::net::TcpListener::accept) cannot be told to
//! stop: closing the listener from another thread does not wake it, and the usual trick of
//! connecting to yourself blocks the canceller when the listen backlog is full. [`accept`] waits
//! on the listener and on a wake-up together (with [mio]), and the context's cancel fires the
//! wake-up: no polling loop, no self-connect, nothing on the network.
//!
//! ```
//! use std::net::TcpListener;
//! use std::time::Duration;
//! use homebound::{Context, net, threads};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let ctx = Context::new();
//! let server = {
//!     let ctx = ctx.clone();
//!     threads::spawn("acceptor", move || {
//!         let mut served = 0;
//!         loop {
//!             match net::accept(&ctx, &listener) {
//!                 Ok((_stream, _peer)) => served += 1, // hand the stream to a pool
//!                 Err(e) if e.is_cancelled() => return Ok(served),
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!     })?
//! };
//! ctx.cancel(); // returns at once; the acceptor wakes and stops
//! assert_eq!(server.join().unwrap()?, 0);
//! threads::assert_none_alive(Duration::from_secs(5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [mio]: https://docs.rs/mio

mod accept;
mod error;

pub use self::accept::accept;
pub use self::error::AcceptError;
