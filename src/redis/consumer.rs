//! [`Consumer`]: one member of a consumer group, and the pipelines it feeds.

use std::fmt;
use std::sync::Arc;

use ::redis::Client;
use crossbeam_channel::{Receiver, bounded};
use parking_lot::Mutex;

use super::commands;
use super::config::{Builder, Config};
use super::delivery::Delivery;
use super::entry::Entry;
use super::error::Error;
use super::ledger::Ledger;
use super::link::Link;
use super::reader::{KeptOpen, Reader};
use super::stats::Stats;
use crate::context::Context;
use crate::pipeline::Pipeline;
use crate::threads::{self, JoinHandle};

/// One member of a Redis Streams consumer group: the source of pipelines that share a stream's
/// work with every other member, in this process or another machine.
///
/// * [`pipeline`](Consumer::pipeline) starts a run: a reader thread takes new entries
///   (`XREADGROUP`) and idle ones other members left behind (`XAUTOCLAIM`), and hands each to
///   the pipeline as a [`Delivery<Entry>`].
/// * An entry is acknowledged (`XACK`, in batches) once the pipeline is done with it in a
///   healthy run: see [`Delivery`] and the module docs for the guarantee and its limits.
/// * [`finish`](Consumer::finish) after the run acknowledges the last handled entries and
///   joins the reader threads. Dropping the consumer does the same, ignoring errors.
///
/// Runs of one consumer may follow each other (a run that failed can be started again); the
/// entries a failed run had taken stay pending and come back once idle for the claim time.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use homebound::{Context, redis::Consumer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let consumer = Consumer::builder("redis://127.0.0.1:6379/", "logs", "parsers", "worker-1")
///     .claim_idle(Duration::from_secs(60))
///     .build()?;
/// let (run, stop) = (Context::new(), Context::new()); // cancel `stop` to shut down gracefully
/// consumer
///     .pipeline(&run)
///     .map(2, |d| d.map(|entry| entry.get_str("line").unwrap_or("").len()))
///     .filter(1, |len| **len > 0)
///     .stop_intake_on(&stop)
///     .for_each(|len| println!("{} bytes", *len))?;
/// let stats = consumer.finish()?;
/// println!("{stats}");
/// # Ok(()) }
/// ```
#[must_use = "a consumer does nothing until its pipeline runs"]
pub struct Consumer {
    shared: Arc<Shared>,
}

/// What a consumer's pipelines and reader threads share.
pub(super) struct Shared {
    config: Arc<Config>,
    client: Client,
    ledger: Arc<Ledger>,
    /// Reader threads, one per run; the lock also orders a new run against `finish`.
    readers: Mutex<Vec<JoinHandle<()>>>,
    /// Cancelled by `finish` or drop: every reader stops.
    life: Context,
    /// The connection `flush` acknowledges on.
    acks: Mutex<Link>,
    /// Channels of failed runs, kept open until `close` (see `Reader::fail`).
    keep_open: KeptOpen,
}

impl Consumer {
    /// Settings for a consumer named `consumer` in group `group` of the stream at `stream`, on
    /// the server at `url` (e.g. `redis://127.0.0.1:6379/`).
    ///
    /// ```
    /// let builder = homebound::redis::Consumer::builder("redis://127.0.0.1/", "s", "g", "c");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: &str, stream: &str, group: &str, consumer: &str) -> Builder {
        Builder::new(url, stream, group, consumer)
    }

    pub(super) fn start(config: Config) -> Result<Consumer, Error> {
        let client = Client::open(config.url.as_str())
            .map_err(|e| Error::Config(format!("bad redis URL '{}': {e}", config.url)))?;
        let mut link = Link::new(client.clone(), config.block);
        link.run(|c| commands::create_group(c, &config.stream, &config.group))
            .map_err(|e| Error::redis("XGROUP CREATE", e))?;
        Ok(Consumer {
            shared: Arc::new(Shared {
                config: Arc::new(config),
                client,
                ledger: Arc::default(),
                readers: Mutex::new(Vec::new()),
                life: Context::new(),
                acks: Mutex::new(link),
                keep_open: Arc::default(),
            }),
        })
    }

    /// A pipeline whose source is this consumer's share of the stream. It runs under a child
    /// of `ctx`; each run starts its own reader thread and connection. Its first two stages
    /// are `redis` (the reader's batches, one hand-over each) and `redis-entries` (one item
    /// per entry).
    ///
    /// * **Stops**: cancelling `ctx` stops the run abruptly (what it had taken stays
    ///   pending); [`stop_intake_on`](Pipeline::stop_intake_on) stops it gracefully: no more
    ///   reads, everything already taken flows to the end and is acknowledged, what was read
    ///   but not yet taken stays pending. A reader blocked in `XREADGROUP` notices either
    ///   within the [block time](Builder::block).
    /// * **Fails**: if Redis stays unreachable for the [reconnect period](Builder::reconnect_for)
    ///   or the group vanishes, the run is cancelled with the [`Error`] as its cause (see
    ///   [`Error::of_run`]).
    ///
    /// See the type's docs for an example.
    pub fn pipeline(&self, ctx: &Context) -> Pipeline<Delivery<Entry>> {
        let shared = Arc::clone(&self.shared);
        Pipeline::from_receiver_with(ctx, move |run, stop| shared.start_reader(run, stop))
            .named("redis")
            .flat_map(1, |batch: Vec<Delivery<Entry>>| batch)
            .named("redis-entries")
    }

    /// Acknowledges the entries handled so far (the readers also do this before every read).
    /// Returns how many it acknowledged.
    ///
    /// # Errors
    ///
    /// [`Error::Redis`] if the `XACK` failed; the entries are kept for the next try.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), homebound::redis::Error> {
    /// # let consumer = homebound::redis::Consumer::builder("redis://127.0.0.1/", "s", "g", "c").build()?;
    /// let acked = consumer.flush()?;
    /// # let _ = acked; Ok(()) }
    /// ```
    pub fn flush(&self) -> Result<u64, Error> {
        self.shared.flush()
    }

    /// What this consumer has done so far.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), homebound::redis::Error> {
    /// # let consumer = homebound::redis::Consumer::builder("redis://127.0.0.1/", "s", "g", "c").build()?;
    /// println!("{}", consumer.stats());
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared.ledger.stats()
    }

    /// Stops every reader still running (their runs then end as if cancelled) and joins them,
    /// acknowledges the last handled entries, and returns the final counts.
    ///
    /// Call it after the runs ended: entries still held by your code afterwards (in a
    /// collected `Vec`, say) are not acknowledged when dropped later, and come back to the
    /// group once idle.
    ///
    /// # Errors
    ///
    /// [`Error::Redis`] if the last `XACK` failed: those entries stay pending (and are
    /// processed again by whoever claims them).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), homebound::redis::Error> {
    /// # let consumer = homebound::redis::Consumer::builder("redis://127.0.0.1/", "s", "g", "c").build()?;
    /// let stats = consumer.finish()?;
    /// assert_eq!(stats.awaiting_ack, 0);
    /// # Ok(()) }
    /// ```
    pub fn finish(self) -> Result<Stats, Error> {
        self.shared.close();
        self.shared.flush()?;
        Ok(self.stats())
    }
}

impl Shared {
    /// The start of a run: a reader thread feeding a rendezvous channel, a batch at a time. A
    /// delivery exists only once the pipeline's source has taken it, so nothing waits in a
    /// buffer when the run stops.
    fn start_reader(
        &self,
        run: &Context,
        stop: Option<&Context>,
    ) -> Receiver<Vec<Delivery<Entry>>> {
        let (tx, rx) = bounded(0);
        let mut readers = self.readers.lock();
        if self.life.is_cancelled() {
            run.cancel_with(Error::Finished);
            return rx;
        }
        reap(&mut readers);
        let reader = Reader {
            config: Arc::clone(&self.config),
            link: Link::new(self.client.clone(), self.config.block),
            ledger: Arc::clone(&self.ledger),
            run: run.clone(),
            stop: stop.cloned(),
            life: self.life.clone(),
            tx,
            keep_open: Arc::clone(&self.keep_open),
        };
        match threads::spawn("redis-reader", move || reader.serve()) {
            Ok(handle) => readers.push(handle),
            Err(e) => {
                run.cancel_with(Error::Spawn(e.kind()));
            }
        }
        rx
    }

    /// Acknowledges what is handled, on the consumer's own connection (one try).
    fn flush(&self) -> Result<u64, Error> {
        let ids = self.ledger.take_done();
        if ids.is_empty() {
            return Ok(0);
        }
        let config = &self.config;
        let mut link = self.acks.lock();
        match link.run(|c| commands::ack(c, config, &ids)) {
            Ok(_) => {
                self.ledger.mark_acked(&ids);
                Ok(ids.len() as u64)
            }
            Err(e) => {
                self.ledger.return_done(ids);
                Err(Error::redis("XACK", e))
            }
        }
    }

    /// Stops and joins every reader (idempotent).
    fn close(&self) {
        let handles = {
            let mut readers = self.readers.lock();
            self.life.cancel();
            std::mem::take(&mut *readers)
        };
        for handle in handles {
            // A reader runs no user code; a panic here would be homebound's own bug.
            let _ = handle.join();
        }
        self.keep_open.lock().clear();
    }
}

/// Joins the readers of runs that have ended.
fn reap(readers: &mut Vec<JoinHandle<()>>) {
    let (ended, running): (Vec<_>, Vec<_>) = std::mem::take(readers)
        .into_iter()
        .partition(JoinHandle::is_finished);
    *readers = running;
    for handle in ended {
        let _ = handle.join();
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shared.close();
        let _ = self.shared.flush();
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.shared.config;
        f.debug_struct("Consumer")
            .field("stream", &c.stream)
            .field("group", &c.group)
            .field("consumer", &c.consumer)
            .field("stats", &self.stats())
            .finish()
    }
}
