//! Fan-out: `n` workers share one input receiver, so each item goes to exactly one of them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError, bounded};
use parking_lot::Mutex;

use super::error::BuildError;
use crate::context::Context;
use crate::panic::Panicked;
use crate::threads::{self, JoinHandle};

/// Output slots per worker: workers run at most this far ahead of the reader.
const SLOTS_PER_WORKER: usize = 32;

/// The first panic of any worker; later ones are dropped.
type FirstPanic = Arc<Mutex<Option<Panicked>>>;

/// Starts `workers` registered threads that take items from `input` (each item goes to exactly
/// one worker: they share the receiver), call `f(&ctx, item)` and send the results to one output.
///
/// * **Ends** when `input` has disconnected and been drained and every worker has finished its
///   last item: the output then disconnects. Also when `ctx` is cancelled, when the [`FanOut`] is
///   dropped or [stopped](FanOut::stop), or when `f` panics (see below).
/// * **Order:** results come in completion order, not input order.
/// * **Backpressure:** the output is bounded (32 slots per worker); workers wait for the reader.
/// * **Panics:** a panic in `f` is caught, cancels the fan-out (the other workers stop after their
///   current item; unread items stay in `input`), and is reported by [`FanOut::stop`]. The item
///   being processed is lost with the panic.
/// * **Cancellation** leaves the items not yet taken in `input`; a result whose send was
///   interrupted by the cancel is dropped.
///
/// `f` gets the fan-out's context: check it, or sleep and receive through it, in long items.
///
/// # Errors
///
/// [`BuildError::ZeroWorkers`] when `workers == 0`; [`BuildError::Spawn`] if a thread could not be
/// started (the workers already started are stopped and joined first).
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan};
///
/// let (tx, rx) = crossbeam_channel::unbounded();
/// for word in ["fan", "out", "works"] { tx.send(word).unwrap(); }
/// drop(tx);
/// let lengths = fan::fan_out(&Context::new(), rx, 3, |_ctx, w: &str| w.len()).unwrap();
/// let mut all: Vec<usize> = lengths.collect();
/// all.sort();
/// assert_eq!(all, [3, 3, 5]);
/// homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn fan_out<T, U, F>(
    ctx: &Context,
    input: Receiver<T>,
    workers: usize,
    f: F,
) -> Result<FanOut<U>, BuildError>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(&Context, T) -> U + Send + Sync + 'static,
{
    if workers == 0 {
        return Err(BuildError::ZeroWorkers);
    }
    let (tx, rx) = bounded(workers.saturating_mul(SLOTS_PER_WORKER));
    let mut fan = FanOut {
        rx,
        stop: ctx.child(),
        handles: Vec::with_capacity(workers),
        panic: FirstPanic::default(),
    };
    let f = Arc::new(f);
    for _ in 0..workers {
        let (input, out, stop) = (input.clone(), tx.clone(), fan.stop.clone());
        let (f, panic) = (Arc::clone(&f), Arc::clone(&fan.panic));
        let spawned = threads::spawn("fan-out", move || {
            while let Ok(item) = stop.recv(&input) {
                match Panicked::catch(|| f(&stop, item)) {
                    Ok(result) => {
                        if stop.send(&out, result).is_err() {
                            break;
                        }
                    }
                    Err(p) => {
                        record(&panic, p);
                        stop.cancel();
                        break;
                    }
                }
            }
        });
        // On error, dropping `fan` cancels and joins the workers already running.
        fan.handles.push(spawned.map_err(BuildError::Spawn)?);
    }
    Ok(fan)
}

/// Keeps the first panic; a later one is dropped after the lock is released.
fn record(slot: &FirstPanic, p: Panicked) {
    let rejected = {
        let mut first = slot.lock();
        if first.is_none() {
            *first = Some(p);
            None
        } else {
            Some(p)
        }
    };
    drop(rejected);
}

/// The output of [`fan_out`]: a receiver of the workers' results that owns the workers.
///
/// Read it with [`recv`](FanOut::recv), as an [`Iterator`] (it ends when the input is exhausted
/// and every worker is done), or put [`receiver`](FanOut::receiver) in a `select!`. Call
/// [`stop`](FanOut::stop) to learn whether a worker panicked; dropping it cancels the workers
/// and joins them, so no thread outlives it.
///
/// # Examples
///
/// ```
/// use homebound::{Context, fan};
///
/// let (tx, rx) = crossbeam_channel::unbounded();
/// tx.send(2).unwrap();
/// tx.send(0).unwrap();
/// drop(tx);
/// let out = fan::fan_out(&Context::new(), rx, 1, |_, n: u32| 10 / n).unwrap();
/// let results: Vec<u32> = out.receiver().iter().collect(); // ends: the panic cancels
/// assert_eq!(results, [5]);
/// let panic = out.stop().unwrap_err();
/// assert!(panic.message().contains("divide by zero"));
/// ```
#[must_use = "dropping a FanOut stops its workers at once"]
pub struct FanOut<U> {
    rx: Receiver<U>,
    /// Private child of the caller's context; cancelled to stop every worker.
    stop: Context,
    /// Every worker, joined by `stop` or `Drop`.
    handles: Vec<JoinHandle<()>>,
    panic: FirstPanic,
}

impl<U> FanOut<U> {
    /// Blocks for the next result; `Err` once every worker is done and everything was read.
    ///
    /// # Errors
    ///
    /// `RecvError` when the output is empty and disconnected.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// tx.send(21).unwrap();
    /// drop(tx);
    /// let out = fan::fan_out(&Context::new(), rx, 2, |_, n: u32| n * 2).unwrap();
    /// assert_eq!(out.recv(), Ok(42));
    /// assert!(out.recv().is_err()); // input drained, every worker done
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn recv(&self) -> Result<U, crossbeam_channel::RecvError> {
        crate::clock::recv(&self.rx)
    }

    /// The next result if one is ready.
    ///
    /// # Errors
    ///
    /// `Empty` or `Disconnected`, as for a crossbeam receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::TryRecvError;
    /// use homebound::{Context, fan};
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    /// let out = fan::fan_out(&Context::new(), rx, 1, |_, n| n + 1).unwrap();
    /// assert_eq!(out.try_recv(), Err(TryRecvError::Empty)); // nothing sent yet
    /// drop(tx);
    /// assert!(out.stop().is_ok());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_recv(&self) -> Result<U, TryRecvError> {
        self.rx.try_recv()
    }

    /// Waits up to `timeout` for the next result.
    ///
    /// # Errors
    ///
    /// `Timeout` or `Disconnected`, as for a crossbeam receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use crossbeam_channel::RecvTimeoutError;
    /// use homebound::{Context, fan};
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    /// let out = fan::fan_out(&Context::new(), rx, 1, |_, n| n + 1).unwrap();
    /// assert_eq!(out.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    /// tx.send(1).unwrap();
    /// assert_eq!(out.recv_timeout(Duration::from_secs(5)), Ok(2));
    /// # drop(out);
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<U, RecvTimeoutError> {
        crate::clock::recv_timeout(&self.rx, timeout)
    }

    /// The output receiver, for `select!` or to feed [`merge`](super::merge). A clone keeps
    /// receiving only while this `FanOut` lives.
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::select;
    /// use homebound::{Context, fan};
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// tx.send("ping").unwrap();
    /// let out = fan::fan_out(&Context::new(), rx, 1, |_, s: &str| s.len()).unwrap();
    /// let got = select! {
    ///     recv(out.receiver()) -> n => n.unwrap(),
    /// };
    /// assert_eq!(got, 4);
    /// # drop((tx, out));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn receiver(&self) -> &Receiver<U> {
        &self.rx
    }

    /// The number of workers.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let (_tx, rx) = crossbeam_channel::unbounded::<u8>();
    /// let out = fan::fan_out(&Context::new(), rx, 4, |_, b| b).unwrap();
    /// assert_eq!(out.workers(), 4);
    /// # drop(out);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn workers(&self) -> usize {
        self.handles.len()
    }

    /// Cancels the workers (each finishes the item it is on), joins them all, and reports the
    /// first panic of `f`, if any. Results not yet read are dropped.
    ///
    /// # Errors
    ///
    /// The first [`Panicked`] of any worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, fan};
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    /// let out = fan::fan_out(&Context::new(), rx.clone(), 2, |_, n| n).unwrap();
    /// assert!(out.stop().is_ok()); // the input is still open: stop cancels and joins
    /// tx.send(1).unwrap(); // the workers are gone: nothing takes it
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn stop(mut self) -> Result<(), Panicked> {
        self.shutdown();
        match self.panic.lock().take() {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) {
        self.stop.cancel();
        for handle in self.handles.drain(..) {
            // Worker bodies catch user panics, so a join error cannot carry one of `f`'s.
            let _ = handle.join();
        }
    }
}

impl<U> Iterator for FanOut<U> {
    type Item = U;

    fn next(&mut self) -> Option<U> {
        crate::clock::recv(&self.rx).ok()
    }
}

impl<U> Drop for FanOut<U> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl<U> fmt::Debug for FanOut<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("workers", &self.handles.len())
            .field("buffered", &self.rx.len())
            .field("cancelled", &self.stop.is_cancelled())
            .finish()
    }
}
