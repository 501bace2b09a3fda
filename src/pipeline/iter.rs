//! The consumer end: [`Iter`], on which `for_each` and `collect` are built.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::error::{Error, ErrorKind, ErrorStore, Failure, Outcome};
use super::link::{Next, Recycler, Shared};
use super::ordered::Inbox;
use super::report::Report;
use super::runtime::Runtime;
use super::ticket::Tickets;
use crate::context::Cancelled;
use crate::panic::drop_quietly;

/// The output of a running pipeline, as an iterator (from
/// [`Pipeline::into_iter`](crate::pipeline::Pipeline)).
///
/// It yields items until the pipeline ends, fails or is cancelled; then call
/// [`finish`](Iter::finish) to learn which, with the report. Dropping it early (or
/// calling `finish` before the end) cancels the pipeline and joins every stage: no thread stays
/// parked in `send`, and whatever was in flight is counted as dropped.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::Pipeline};
///
/// let ctx = Context::new();
/// let mut squares = Pipeline::from_iter(&ctx, 1..=1_000_000u64)
///     .map(2, |x| x * x)
///     .ordered()
///     .into_iter();
/// let first: Vec<u64> = squares.by_ref().take(3).collect();
/// assert_eq!(first, [1, 4, 9]);
/// drop(squares); // stops and joins every stage
/// homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "a pipeline does nothing until its output is consumed"]
pub struct Iter<T, E> {
    state: State<T>,
    store: Arc<ErrorStore<E>>,
    /// The rest of the chunk being handed out.
    current: std::vec::IntoIter<T>,
    /// The length of that chunk, and when it arrived (the consumer's time per item sizes the
    /// chunks sent to it).
    handed: usize,
    arrived: Option<Instant>,
    /// The tickets of the chunk being handed out: dropped once the consumer is done with it.
    tickets: Tickets,
    /// The input ended (or the run stopped): no more chunks will come.
    ended: bool,
}

enum State<T> {
    Running {
        rt: Box<Runtime>,
        inbox: Inbox<T>,
        shared: Arc<Shared>,
        recycler: Recycler<T>,
    },
    /// Bad configuration: nothing was started.
    Invalid(String),
    Finished,
}

impl<T: Send + 'static, E> Iter<T, E> {
    pub(crate) fn running(
        rt: Runtime,
        inbox: Inbox<T>,
        link: (Arc<Shared>, Recycler<T>),
        store: Arc<ErrorStore<E>>,
    ) -> Self {
        let (shared, recycler) = link;
        Iter {
            state: State::Running {
                rt: Box::new(rt),
                inbox,
                shared,
                recycler,
            },
            store,
            current: Vec::new().into_iter(),
            handed: 0,
            arrived: None,
            tickets: Tickets::new(),
            ended: false,
        }
    }

    pub(crate) fn invalid(message: String, store: Arc<ErrorStore<E>>) -> Self {
        Iter {
            state: State::Invalid(message),
            store,
            current: Vec::new().into_iter(),
            handed: 0,
            arrived: None,
            tickets: Tickets::new(),
            ended: true,
        }
    }

    /// Ends the run and reports how it went. If the iterator was not exhausted, the pipeline is
    /// cancelled first (the consumer stopped early: not an error) and every stage joined.
    ///
    /// # Errors
    ///
    /// The first failure of the run ([`ErrorKind::Failed`] from a fail-fast
    /// `try_map`, [`ErrorKind::Panicked`], [`ErrorKind::Spawn`]),
    /// [`ErrorKind::Cancelled`] if the context given to the source was cancelled
    /// before the end, or [`ErrorKind::Config`] for bad configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let mut iter = Pipeline::from_iter(&Context::new(), 0..u64::MAX)
    ///     .map(2, |x| x * 2)
    ///     .ordered()
    ///     .into_iter();
    /// let first: Vec<u64> = iter.by_ref().take(3).collect();
    /// assert_eq!(first, [0, 2, 4]);
    /// let outcome = iter.finish().unwrap(); // stopping early is not an error
    /// assert!(outcome.report().cancelled().is_some()); // the rest was cancelled and joined
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn finish(mut self) -> Result<Outcome<E>, Error<E>> {
        let state = std::mem::replace(&mut self.state, State::Finished);
        let (mut rt, inbox) = match state {
            State::Running { rt, inbox, .. } => (rt, inbox),
            State::Invalid(message) => return Err(invalid(message)),
            State::Finished => return Err(invalid("pipeline already finished".to_string())),
        };
        let stopped_early = !self.ended;
        if stopped_early {
            rt.ctx.cancel_with("pipeline consumer stopped early");
        }
        let sink = Arc::clone(rt.sink());
        let left = self.current.len();
        sink.add_out(self.handed - left);
        sink.add_dropped(left);
        self.handed = 0;
        drop_quietly(std::mem::replace(&mut self.current, Vec::new().into_iter()));
        // After a cancel (an early stop included) these acknowledge nothing.
        self.tickets.clear();
        drop(inbox);
        sink.add_alive(rt.elapsed_since_start());
        let complete = rt.source.complete.load(Ordering::Acquire);
        let (report, failure) = rt.finish();
        let kind = match failure {
            Some(Failure::Error) => match self.store.first.lock().take() {
                Some(error) => ErrorKind::Failed(error),
                None => cancelled(&report),
            },
            Some(Failure::Panicked { stage, panic }) => ErrorKind::Panicked { stage, panic },
            Some(Failure::Spawn { stage, error }) => ErrorKind::Spawn { stage, error },
            None if stopped_early => return Ok(self.outcome(report)),
            // Cancelled, but only after everything was read and delivered: a complete run.
            None if report.cancelled.is_none() || (complete && report.dropped() == 0) => {
                return Ok(self.outcome(report));
            }
            None => cancelled(&report),
        };
        Err(Error::new(kind, report))
    }

    fn outcome(&self, report: Report) -> Outcome<E> {
        Outcome {
            report,
            errors: std::mem::take(&mut *self.store.collected.lock()),
        }
    }
}

fn invalid<E>(message: String) -> Error<E> {
    let report = Report {
        stages: Vec::new(),
        elapsed: std::time::Duration::ZERO,
        cancelled: None,
        intake_stopped: false,
    };
    Error::new(ErrorKind::Config(message), report)
}

fn cancelled<E>(report: &Report) -> ErrorKind<E> {
    let cause = report.cancelled.clone().unwrap_or(crate::Cause::Cancelled);
    ErrorKind::Cancelled(Cancelled::new(cause))
}

impl<T: Send + 'static, E> Iterator for Iter<T, E> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            self.current = self.next_chunk()?;
        }
    }
}

impl<T: Send + 'static, E> Iter<T, E> {
    /// The rest of the current chunk, or else the next chunk; `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> Option<std::vec::IntoIter<T>> {
        if self.current.len() > 0 {
            return Some(std::mem::replace(&mut self.current, Vec::new().into_iter()));
        }
        self.fetch().map(Vec::into_iter)
    }

    /// The next chunk as a vector: `for_each` and `collect` drain it and give it back with
    /// [`give_back`](Iter::give_back), so its allocation returns to the sender.
    pub(crate) fn next_vec(&mut self) -> Option<Vec<T>> {
        if self.current.len() > 0 {
            return Some(std::mem::replace(&mut self.current, Vec::new().into_iter()).collect());
        }
        self.fetch()
    }

    /// Returns an emptied chunk vector to the sender.
    pub(crate) fn give_back(&mut self, spare: Vec<T>) {
        if let State::Running { recycler, .. } = &self.state {
            recycler.give(spare);
        }
    }

    fn fetch(&mut self) -> Option<Vec<T>> {
        if self.ended {
            return None;
        }
        let State::Running {
            rt, inbox, shared, ..
        } = &mut self.state
        else {
            return None;
        };
        let sink = rt.sink();
        // The previous chunk was handed out whole: the consumer finished with it.
        // The consumer is done with the previous chunk's items: their tickets go.
        self.tickets.clear();
        if self.handed > 0 {
            let n = std::mem::take(&mut self.handed);
            sink.add_out(n);
            if let Some(arrived) = self.arrived.take() {
                shared.record(n, arrived.elapsed());
            }
        }
        match inbox.next(&rt.ctx, sink, None, true) {
            Next::Chunk(chunk) => {
                self.handed = chunk.items.len();
                self.arrived = Some(Instant::now());
                self.tickets = chunk.tickets;
                sink.add_in(self.handed);
                Some(chunk.items)
            }
            Next::End | Next::Stopped | Next::Timeout | Next::Empty => {
                self.ended = true;
                None
            }
        }
    }
}

impl<T, E> fmt::Debug for Iter<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
