//! Past one machine: many processes share one pipeline's work through Redis Streams consumer
//! groups (`redis` feature).
//!
//! homebound is in-process by design. When a stream of work outgrows one machine, run the same
//! [`Pipeline`](crate::pipeline::Pipeline) in N processes on N machines, each a
//! [`Consumer`] of one Redis consumer group: Redis hands every entry to exactly one of them
//! (`XREADGROUP`), and the entries a crashed process had taken are claimed by the others once
//! idle (`XAUTOCLAIM`). Your stages do not change; they see [`Delivery<Entry>`] values and keep
//! the entry's token with the value ([`Delivery::map`], [`Delivery::try_map`]). A
//! [`Writer`] appends a pipeline's output to another stream: the next stage of a
//! multi-process graph.
//!
//! # The guarantee: at-least-once, acknowledged only when done
//!
//! An entry is acknowledged (`XACK`, in batches) only after the last stage has handled it: it
//! was written by your sink (a [`Writer`] acknowledges a batch after Redis stored it), dropped
//! by a `filter`, or failed under the `Skip` or `Collect` policy and was recorded. Nothing is
//! acknowledged before that. What a run had taken when it was cancelled, failed or panicked is
//! not acknowledged: it stays pending and is delivered again.
//!
//! The limits, which are those of any at-least-once queue:
//!
//! * **Duplicates after a crash.** A process that dies after its sink wrote an entry but
//!   before the `XACK` went out (acknowledgements are sent in batches, at most one block time
//!   apart) leaves the entry pending; another consumer processes it again. The same holds for
//!   a run that fails after handling entries whose acknowledgements had not gone out, and for
//!   an entry that stays in a pipeline longer than the [claim time](Builder::claim_idle) (it
//!   is taken over while still being processed). Make the sink idempotent, or count
//!   duplicates, as `examples/distributed_log.rs` does.
//! * **Crashes count as deliveries.** Every entry a crashed or failed run held gets one more
//!   delivery; after [`max_deliveries`](Builder::max_deliveries) it goes to the dead-letter
//!   stream, even if another entry caused the failure. Keep the bound generous, or use
//!   [`Delivery::abandon`] to retry only the entry that failed.
//! * **Dropping a delivery in your own code counts as handling it**: return the delivery
//!   inside the error (as [`Delivery::try_map`] does) so that a fail-fast error leaves it
//!   pending, and call [`Delivery::abandon`] to give an entry up on purpose.
//! * **Entries your code still holds after [`Consumer::finish`]** (say, in a collected `Vec`)
//!   are not acknowledged; they come back once idle.
//!
//! # Graceful shutdown
//!
//! Run the pipeline under a context of its own and pass the shutdown context to
//! [`stop_intake_on`](crate::pipeline::Pipeline::stop_intake_on): on shutdown the reader stops
//! reading, everything the run took flows to the end and is acknowledged, and what was read
//! but not started stays pending for the others. Then call [`Consumer::finish`].
//!
//! ```no_run
//! use std::time::Duration;
//! use homebound::{Context, pipeline::ErrorPolicy, redis::{Consumer, Writer}, shutdown::Shutdown};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "redis://127.0.0.1:6379/";
//! let mut shutdown = Shutdown::new().grace(Duration::from_secs(10));
//! shutdown.on_signals()?.service("worker", move |stop| {
//!     let consumer = Consumer::builder(url, "logs", "parsers", "worker-1").build()?;
//!     let kept = Writer::open(url, "logs:kept")?;
//!     let run = Context::new();
//!     let outcome = consumer
//!         .pipeline(&run)
//!         .try_map(2, |d| d.try_map(|e| e.get_str("line").map(str::to_owned).ok_or("no line")))
//!         .on_error(ErrorPolicy::Skip)
//!         .filter(2, |line| line.contains("ERROR"))
//!         .map(1, |line| line.map(|l| ("line", l)))
//!         .batch(100, Duration::from_millis(50))
//!         .stop_intake_on(&stop)
//!         .for_each(|batch| {
//!             if let Err(e) = kept.write(batch) {
//!                 eprintln!("{e}"); // the batch's entries stay pending
//!             }
//!         });
//!     let stats = consumer.finish()?;
//!     println!("{stats}");
//!     outcome.map(drop).map_err(|e| Box::<dyn std::error::Error + Send + Sync>::from(e.to_string()))
//! })?;
//! std::process::exit(shutdown.wait().exit_code());
//! # }
//! ```
//!
//! # When to use something else
//!
//! This is work sharing, not a distributed dataflow engine: each entry is processed by one
//! process, in any order, with no shuffles, joins or windows across processes. For those, see
//! the README's "Past one machine" section.
//!
//! Files: `consumer.rs` (the group member), `reader.rs` (the per-run reader thread),
//! `delivery.rs` (the token), `ledger.rs` (what is held and handled), `writer.rs` (the
//! sink), `commands.rs` (the Redis commands), `link.rs` (reconnection), `config.rs`.

mod commands;
mod config;
mod consumer;
mod delivery;
mod entry;
mod error;
mod ledger;
mod link;
mod reader;
mod stats;
mod writer;

pub use self::config::{
    Builder, DEFAULT_BATCH, DEFAULT_BLOCK, DEFAULT_CLAIM_IDLE, DEFAULT_MAX_DELIVERIES,
    DEFAULT_RECONNECT_FOR,
};
pub use self::consumer::Consumer;
pub use self::delivery::{Ack, Delivery, Failed};
pub use self::entry::Entry;
pub use self::error::Error;
pub use self::stats::Stats;
pub use self::writer::{WriteError, Writer};
/// The trait of the redis client crate for values a [`Writer`] can append (field-value pairs:
/// `("line", s)`, `Vec<(K, V)>`, a `BTreeMap`, an [`Entry`]).
pub use ::redis::ToRedisArgs;
