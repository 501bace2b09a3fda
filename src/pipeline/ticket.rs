//! Tickets: how a source learns that items have been fully handled (for sources that must
//! acknowledge what they read, such as a Redis stream's consumer group).
//!
//! A source attaches a [`Ticket`] to the items it emits. The ticket travels with them, and with
//! everything made from them, through every stage: a worker keeps the tickets of its input
//! chunk until the chunk is done, attaches them to every output chunk that holds some of its
//! items, a reorderer keeps them with the parts it holds, `batch` with the open batch, the
//! consumer until it has finished with the chunk. When the last clone is dropped, every item
//! the ticket covers has been handled: received by the consumer and done with, rejected by a
//! filter, or failed and recorded by its error policy. The ticket's callback then runs, on the
//! thread that dropped it, and only if the run was not cancelled: after a cancel some of its
//! items may have been dropped unhandled, so they must not be acknowledged (they will be read
//! again: at-least-once).
//!
//! A pipeline without tickets pays nothing: every ticket list is an empty `Vec`.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::context::Context;

/// A share in the completion of some items; see the module documentation.
#[derive(Clone)]
pub(crate) struct Ticket(#[allow(dead_code)] Arc<Done>);

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ticket")
    }
}

struct Done {
    /// The run's context: cancelled means the items may not all have been handled.
    ctx: Context,
    on_handled: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Drop for Done {
    fn drop(&mut self) {
        let callback = self.on_handled.get_mut().take();
        if let Some(callback) = callback
            && !self.ctx.is_cancelled()
        {
            callback();
        }
    }
}

impl Ticket {
    /// A ticket for items of the run under `ctx`; `on_handled` runs once all of them have been
    /// handled (and not if the run is cancelled first). It runs on the thread that drops the
    /// last clone, possibly a worker's: keep it short (send the news to a thread of yours).
    #[allow(dead_code)] // the seam for sources that acknowledge (see the module docs)
    pub(crate) fn new(ctx: &Context, on_handled: impl FnOnce() + Send + 'static) -> Ticket {
        Ticket(Arc::new(Done {
            ctx: ctx.clone(),
            on_handled: Mutex::new(Some(Box::new(on_handled))),
        }))
    }
}

/// The tickets of a chunk (usually none).
pub(crate) type Tickets = Vec<Ticket>;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::pipeline::{ErrorPolicy, Pipeline};

    /// A source of `n` items with one ticket per `per` items; counts the tickets that fire.
    fn ticketed(ctx: &Context, n: u64, per: u64, fired: &Arc<AtomicUsize>) -> Pipeline<u64> {
        let fired = Arc::clone(fired);
        Pipeline::from_emitter(ctx, move |emit| {
            for i in 0..n {
                let ticket = (i % per == 0).then(|| {
                    let fired = Arc::clone(&fired);
                    Ticket::new(emit.ctx(), move || {
                        fired.fetch_add(1, Ordering::SeqCst);
                    })
                });
                if emit.emit(i, ticket).is_err() {
                    return;
                }
            }
        })
    }

    #[test]
    fn every_ticket_fires_once_its_items_are_handled() {
        for ordered in [false, true] {
            let fired = Arc::new(AtomicUsize::new(0));
            let ctx = Context::new();
            let mut p = ticketed(&ctx, 10_000, 10, &fired)
                .map(2, |x| x)
                .filter(2, |x| x % 3 != 0)
                .try_map(3, |x| if x % 7 == 0 { Err(x) } else { Ok(x) })
                .on_error(ErrorPolicy::Collect)
                .flat_map(1, |x| [x, x])
                .batch(100, Duration::from_secs(1));
            if ordered {
                p = p.ordered();
            }
            let mut delivered = 0;
            let outcome = p.for_each(|b| delivered += b.len()).unwrap();
            assert!(delivered > 0 && !outcome.errors().is_empty());
            assert_eq!(fired.load(Ordering::SeqCst), 1_000, "ordered={ordered}");
        }
        crate::threads::assert_none_alive(Duration::from_secs(10));
    }

    #[test]
    fn tickets_of_unhandled_items_do_not_fire_after_a_cancel() {
        let fired = Arc::new(AtomicUsize::new(0));
        let ctx = Context::new();
        let mut iter = ticketed(&ctx, 1_000_000, 100, &fired)
            .map(2, |x| x)
            .into_iter();
        let taken = iter.by_ref().take(50_000).count();
        let _ = iter.finish();
        let fired = fired.load(Ordering::SeqCst);
        // At most the tickets whose 100 items were all handled before the stop.
        assert!(
            fired <= taken / 100,
            "{fired} tickets fired for {taken} items"
        );
        crate::threads::assert_none_alive(Duration::from_secs(10));
    }
}
