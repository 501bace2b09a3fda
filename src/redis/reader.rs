//! A run's reader thread: takes entries from Redis (new ones, and idle ones left by other
//! consumers), dead-letters those delivered too often, hands the rest to the run one by one,
//! and acknowledges handled entries before every read.
//!
//! It stops when the run is cancelled, its intake is stopped, the pipeline's source is gone,
//! or the consumer is finished. Entries it read but could not hand over stay pending in Redis
//! (released from the ledger): whoever claims them next processes them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ::redis::{Connection, RedisResult};
use crossbeam_channel::{SendError, Sender, select};
use parking_lot::Mutex;

use super::commands;
use super::config::Config;
use super::delivery::{Ack, Delivery};
use super::entry::Entry;
use super::error::Error;
use super::ledger::Ledger;
use super::link::{Link, transient};
use crate::context::Context;

/// Most IDs in one `XACK`.
const ACK_CHUNK: usize = 1000;
/// First and longest pause between reconnection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(20), Duration::from_secs(1));

/// The reader's end of the rendezvous with the pipeline's source: one batch per hand-over.
pub(super) type Handover = Sender<Vec<Delivery<Entry>>>;

/// Channels of failed runs, kept open (see `Reader::fail`).
pub(super) type KeptOpen = Arc<Mutex<Vec<Handover>>>;

/// Why the reader stops.
enum Halt {
    /// The run, its intake or the consumer ended: a normal stop.
    Ended,
    /// Redis failed for good: the run is cancelled with this error.
    Failed(Error),
}

/// One run's reader (see the module docs).
pub(super) struct Reader {
    pub(super) config: Arc<Config>,
    pub(super) link: Link,
    pub(super) ledger: Arc<Ledger>,
    pub(super) run: Context,
    pub(super) stop: Option<Context>,
    /// The consumer's life: cancelled by `finish` or drop.
    pub(super) life: Context,
    /// Rendezvous with the pipeline's source thread.
    pub(super) tx: Handover,
    /// Where a failing reader leaves a clone of `tx` (until the consumer closes), so that the
    /// source sees its run cancelled rather than its input ending, and the run fails.
    pub(super) keep_open: KeptOpen,
}

/// Where the idle-entry scan stands.
struct Claims {
    /// `XAUTOCLAIM` cursor; `0-0` starts a new scan.
    cursor: String,
    /// When the next scan is due.
    due: Instant,
}

impl Reader {
    /// The thread's body.
    pub(super) fn serve(mut self) {
        let mut claims = Claims {
            cursor: "0-0".to_string(),
            due: Instant::now(),
        };
        match self.serve_loop(&mut claims) {
            Err(Halt::Failed(error)) => self.fail(error),
            _ if self.life.is_cancelled() => self.fail(Error::Finished),
            _ => {}
        }
        // What the run handled so far (the consumer's flush acknowledges the rest).
        let _ = self.flush_acks(false);
    }

    /// Cancels the run with `error` as its cause. The channel stays open: a source that saw
    /// its input end would report a complete run.
    fn fail(&self, error: Error) {
        self.keep_open.lock().push(self.tx.clone());
        self.run.cancel_with(error);
    }

    fn serve_loop(&mut self, claims: &mut Claims) -> Result<(), Halt> {
        loop {
            self.check()?;
            self.flush_acks(true)?;
            let mut batch = Vec::new();
            if Instant::now() >= claims.due {
                batch = self.reclaim(claims)?;
            }
            if batch.is_empty() {
                batch = self.read_new()?;
            }
            self.hand_over(batch)?;
        }
    }

    /// `Err(Ended)` once the run, its intake or the consumer has ended.
    fn check(&self) -> Result<(), Halt> {
        let stopped = self.stop.as_ref().is_some_and(Context::is_cancelled);
        if stopped || self.run.is_cancelled() || self.life.is_cancelled() {
            return Err(Halt::Ended);
        }
        Ok(())
    }

    /// Runs a command, reconnecting with backoff while Redis is unreachable, for at most the
    /// reconnect period (or until the run ends).
    fn call<T>(
        &mut self,
        during: &'static str,
        mut f: impl FnMut(&mut Connection, &Config) -> RedisResult<T>,
    ) -> Result<T, Halt> {
        let config = Arc::clone(&self.config);
        let mut failing_since: Option<Instant> = None;
        let mut pause = BACKOFF.0;
        loop {
            let error = match self.link.run(|c| f(c, &config)) {
                Ok(value) => {
                    if failing_since.is_some() {
                        self.ledger.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(value);
                }
                Err(e) => e,
            };
            if error.code() == Some("NOGROUP") {
                return Err(Halt::Failed(Error::GroupLost {
                    stream: config.stream.clone(),
                    group: config.group.clone(),
                }));
            }
            let since = *failing_since.get_or_insert_with(Instant::now);
            if !transient(&error) || since.elapsed() >= config.reconnect_for {
                return Err(Halt::Failed(Error::redis(during, error)));
            }
            self.pause(pause)?;
            pause = (pause * 2).min(BACKOFF.1);
        }
    }

    /// Waits `d`, or less if the run, its intake or the consumer ends.
    fn pause(&self, d: Duration) -> Result<(), Halt> {
        let never = crossbeam_channel::never();
        let stop = self.stop.as_ref().map_or(&never, Context::done);
        select! {
            recv(self.run.done()) -> _ => Err(Halt::Ended),
            recv(stop) -> _ => Err(Halt::Ended),
            recv(self.life.done()) -> _ => Err(Halt::Ended),
            default(d) => Ok(()),
        }
    }

    /// Acknowledges the handled entries; with `retry`, rides out a reconnection.
    fn flush_acks(&mut self, retry: bool) -> Result<(), Halt> {
        let ids = self.ledger.take_done();
        let mut chunks = ids.chunks(ACK_CHUNK);
        while let Some(chunk) = chunks.next() {
            let sent = if retry {
                self.call("XACK", |c, config| commands::ack(c, config, chunk))
            } else {
                let config = Arc::clone(&self.config);
                self.link
                    .run(|c| commands::ack(c, &config, chunk))
                    .map_err(|e| Halt::Failed(Error::redis("XACK", e)))
            };
            if let Err(halt) = sent {
                // Kept for the next try (or the consumer's flush).
                let rest = chunk.iter().chain(chunks.flatten()).cloned().collect();
                self.ledger.return_done(rest);
                return Err(halt);
            }
            self.ledger.mark_acked(chunk);
        }
        Ok(())
    }

    /// New entries, waiting up to the block time.
    fn read_new(&mut self) -> Result<Vec<Entry>, Halt> {
        let entries = self.call("XREADGROUP", commands::read_new)?;
        self.ledger.hold(entries.iter().map(Entry::id));
        self.ledger
            .read
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        Ok(entries)
    }

    /// Idle pending entries of any consumer of the group (this one's included, after a
    /// restart), taken over with `XAUTOCLAIM`. Entries this process still holds are left
    /// alone (the claim only refreshed their idle time, and counted no delivery); the others
    /// are fetched with `XCLAIM`, which counts their delivery, and those delivered more than
    /// the allowed times go to the dead-letter stream. Scans until it has entries to process
    /// or the scan went round, then schedules the next scan.
    fn reclaim(&mut self, claims: &mut Claims) -> Result<Vec<Entry>, Halt> {
        loop {
            let cursor = claims.cursor.clone();
            let claimed = self.call("XAUTOCLAIM", |c, config| {
                commands::autoclaim(c, config, &cursor)
            })?;
            claims.cursor = claimed.cursor;
            let fresh: Vec<String> = claimed
                .ids
                .into_iter()
                .filter(|id| !self.ledger.is_held(id))
                .collect();
            let batch = if fresh.is_empty() {
                Vec::new()
            } else {
                let entries =
                    self.call("XCLAIM", |c, config| commands::claim(c, config, &fresh))?;
                self.sort_claimed(entries)?
            };
            let went_round = claims.cursor == "0-0";
            if went_round {
                claims.due = Instant::now() + self.config.claim_every();
            }
            if !batch.is_empty() || went_round {
                return Ok(batch);
            }
            self.check()?;
        }
    }

    /// Splits claimed entries into those to process (with their delivery counts) and those
    /// delivered too often (moved to the dead-letter stream now).
    fn sort_claimed(&mut self, fresh: Vec<Entry>) -> Result<Vec<Entry>, Halt> {
        if fresh.is_empty() {
            return Ok(fresh);
        }
        let ids: Vec<&str> = fresh.iter().map(Entry::id).collect();
        let counts = self.call("XPENDING", |c, config| {
            commands::delivery_counts(c, config, &ids)
        })?;
        let mut batch = Vec::with_capacity(fresh.len());
        for (entry, count) in fresh.into_iter().zip(counts) {
            // `None`: acknowledged by its first owner in the meantime.
            let Some(count) = count else { continue };
            let entry = entry.with_deliveries(count);
            if count > self.config.max_deliveries {
                let moved = self.call("XADD (dead letter)", |c, config| {
                    commands::dead_letter(c, config, &entry)
                })?;
                if moved {
                    self.ledger.dead_lettered.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                batch.push(entry);
            }
        }
        self.ledger.hold(batch.iter().map(Entry::id));
        self.ledger
            .reclaimed
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(batch)
    }

    /// Hands the batch to the run in one rendezvous. The deliveries (and their tokens) are
    /// made only when the source takes them; if the run stops first, the batch is released,
    /// pending.
    fn hand_over(&mut self, entries: Vec<Entry>) -> Result<(), Halt> {
        if entries.is_empty() {
            return Ok(());
        }
        let never = crossbeam_channel::never();
        let stop = self.stop.as_ref().map_or(&never, Context::done);
        let (run, ledger) = (&self.run, &self.ledger);
        let deliver = |entries: Vec<Entry>| -> Vec<Delivery<Entry>> {
            let ack = |id: &str| Ack::new(id.to_string(), run.clone(), Arc::clone(ledger));
            entries
                .into_iter()
                .map(|entry| {
                    let ack = ack(entry.id());
                    Delivery::new(entry, ack)
                })
                .collect()
        };
        let mut offered = Some(entries);
        let taken = select! {
            send(self.tx, deliver(offered.take().expect("offered once"))) -> sent => {
                match sent {
                    Ok(()) => true,
                    Err(SendError(batch)) => {
                        // The source is gone: the run never took them.
                        for delivery in batch {
                            delivery.into_parts().1.unstarted();
                        }
                        false
                    }
                }
            }
            recv(self.run.done()) -> _ => false,
            recv(stop) -> _ => false,
            recv(self.life.done()) -> _ => false,
        };
        if taken {
            return Ok(());
        }
        for entry in offered.into_iter().flatten() {
            self.ledger.release(entry.id());
        }
        Err(Halt::Ended)
    }
}
