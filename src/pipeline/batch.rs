//! The `batch(size, max_wait)` stage: groups items into `Vec`s by size or by time.
//!
//! A batch is sent when it holds `size` items, when `max_wait` has passed since its first item
//! (the worker waits for input with that deadline, so a quiet input still flushes on time),
//! and with whatever remains when the input ends. If the run is cancelled, the open batch is
//! counted as dropped in the report: never lost without a trace.

use std::time::{Duration, Instant};

use super::chunk::{Next, Outbox};
use super::ordered::Inbox;
use super::runtime::{Link, Runtime};
use super::stage;

/// Starts the batching worker (always one: batching needs the items in one place).
pub(crate) fn spawn<T: Send + 'static>(
    rt: &mut Runtime,
    index: usize,
    input: Link<T>,
    size: usize,
    max_wait: Duration,
) -> Link<Vec<T>> {
    // Each batch is sent on its own: it is a chunk already.
    let (ends, link) = stage::ends(rt, index, input, 1);
    for (inbox, outbox) in ends {
        rt.spawn(index, move || work(inbox, outbox, size, max_wait));
    }
    link
}

fn work<T>(mut inbox: Inbox<T>, mut out: Outbox<Vec<T>>, size: usize, max_wait: Duration) {
    let (ctx, stats) = (out.ctx.clone(), std::sync::Arc::clone(&out.stats));
    let mut batch: Vec<T> = Vec::new();
    // When the open batch must go; `None` while it is empty (or `max_wait` overflows).
    let mut due: Option<Instant> = None;
    loop {
        let next = inbox.next(&ctx, &stats, due, &mut || out.flush());
        match next {
            Next::Chunk(chunk) => {
                stats.add_in(chunk.items.len());
                let mut rest = chunk.items.into_iter();
                while let Some(item) = rest.next() {
                    if batch.is_empty() {
                        due = Instant::now().checked_add(max_wait);
                        batch.reserve(size.min(4096));
                    }
                    batch.push(item);
                    if batch.len() >= size {
                        due = None;
                        if send(&mut out, &mut batch).is_err() {
                            stats.add_dropped(rest.len());
                            return;
                        }
                    }
                }
                // The input may never pause: honour the deadline between chunks too.
                if due.is_some_and(|at| Instant::now() >= at) {
                    due = None;
                    if send(&mut out, &mut batch).is_err() {
                        return;
                    }
                }
            }
            Next::Timeout => {
                due = None;
                if send(&mut out, &mut batch).is_err() {
                    return;
                }
            }
            Next::End => {
                if send(&mut out, &mut batch).is_ok() {
                    let _ = out.flush();
                }
                return;
            }
            Next::Stopped => {
                stats.add_dropped(batch.len());
                return;
            }
        }
    }
}

/// Sends the open batch (if any) downstream; on a stop, counts its items as dropped.
fn send<T>(out: &mut Outbox<Vec<T>>, batch: &mut Vec<T>) -> Result<(), super::chunk::Stopped> {
    if batch.is_empty() {
        return Ok(());
    }
    let full = std::mem::take(batch);
    let n = full.len();
    out.push(full).inspect_err(|_| {
        // The outbox counted one dropped batch; count its items instead.
        out.stats.add_dropped(n.saturating_sub(1));
    })
}
