//! Fan-in: many receivers into one, forwarded by a single thread selecting over all of them.

use std::fmt;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender, TryRecvError, bounded};

use super::FanError;
use crate::context::Context;
use crate::threads::{self, JoinHandle};

/// Capacity of the merged output channel: the merge thread runs at most this far ahead of the
/// reader (backpressure), and this is how many messages [`Merged::stop`] may find buffered.
pub(crate) const MERGE_CAPACITY: usize = 1024;

/// After a `select` picks a ready input, up to this many of its messages are forwarded with
/// `try_recv` before selecting again. A `select` over `n` inputs costs O(n) (it shuffles and
/// tries every one), so the burst amortises it; every pick is still uniformly random among the
/// ready inputs, which keeps the shares fair over any stretch of a few hundred messages.
const BURST: usize = 32;

/// Merges `receivers` into one output, forwarded by one registered thread running a crossbeam
/// `Select` over every input.
///
/// * **Ends** when every input has disconnected (the output then disconnects after its last
///   message) or when the [`Merged`] is dropped or [stopped](Merged::stop). Zero inputs give an
///   output that is disconnected at once, and no thread.
/// * **One thread** whatever the number of inputs; thousands are fine. Each `select` costs
///   O(inputs), amortised by forwarding up to 32 messages of the chosen input at a time.
/// * **Fair:** when several inputs are ready, the next one is chosen uniformly at random among
///   them (crossbeam's `Select`), so no busy input starves. Messages of one input keep their
///   order; there is no order between inputs.
/// * **Backpressure:** the output is bounded (1024 messages); a slow reader slows the thread,
///   and the thread only takes from an input what it can forward.
///
/// # Errors
///
/// [`FanError::Spawn`] if the thread could not be started (the receivers are dropped).
///
/// # Examples
///
/// ```
/// use crossbeam_channel::unbounded;
///
/// let (a_tx, a) = unbounded();
/// let (b_tx, b) = unbounded();
/// a_tx.send("a1").unwrap();
/// b_tx.send("b1").unwrap();
/// drop((a_tx, b_tx));
/// let merged = homebound::fan::merge(vec![a, b]).unwrap();
/// let mut all: Vec<&str> = merged.collect(); // ends when both inputs have disconnected
/// all.sort();
/// assert_eq!(all, ["a1", "b1"]);
/// homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn merge<T, I>(receivers: I) -> Result<Merged<T>, FanError>
where
    T: Send + 'static,
    I: IntoIterator<Item = Receiver<T>>,
{
    start(Context::new(), receivers.into_iter().collect())
}

/// Like [`merge`], but also stops when `ctx` is cancelled: the output then disconnects, and
/// whatever was not forwarded stays in the inputs ([`Merged::stop`] hands them back).
///
/// # Errors
///
/// [`FanError::Spawn`] if the thread could not be started.
///
/// # Examples
///
/// ```
/// use homebound::Context;
///
/// let ctx = Context::new();
/// let (_tx, rx) = crossbeam_channel::unbounded::<u32>(); // never disconnects
/// let merged = homebound::fan::merge_ctx(&ctx, vec![rx]).unwrap();
/// ctx.cancel();
/// assert!(merged.recv().is_err()); // the output disconnected on cancel
/// ```
pub fn merge_ctx<T, I>(ctx: &Context, receivers: I) -> Result<Merged<T>, FanError>
where
    T: Send + 'static,
    I: IntoIterator<Item = Receiver<T>>,
{
    start(ctx.child(), receivers.into_iter().collect())
}

fn start<T: Send + 'static>(
    stop: Context,
    inputs: Vec<Receiver<T>>,
) -> Result<Merged<T>, FanError> {
    let (tx, rx) = bounded(MERGE_CAPACITY);
    let handle = if inputs.is_empty() {
        None // `tx` drops here: the output is disconnected at once.
    } else {
        let thread_stop = stop.clone();
        let spawned = threads::spawn("merge", move || forward(inputs, tx, thread_stop));
        Some(spawned.map_err(FanError::Spawn)?)
    };
    Ok(Merged { rx, stop, handle })
}

/// The merge thread: select over every open input, forward, drop inputs as they disconnect.
fn forward<T>(inputs: Vec<Receiver<T>>, out: Sender<T>, stop: Context) -> Unmerged<T> {
    let mut open = vec![true; inputs.len()];
    let mut remaining = inputs.len();
    let mut pending = None;
    let mut sel = Select::new();
    for rx in &inputs {
        sel.recv(rx);
    }
    let stop_op = sel.recv(stop.done());
    'select: while remaining > 0 {
        let op = sel.select();
        let i = op.index();
        if i == stop_op {
            let _ = op.recv(stop.done());
            break;
        }
        let Ok(first) = op.recv(&inputs[i]) else {
            // Disconnected and empty: stop selecting on it (indices of the others stay valid).
            sel.remove(i);
            open[i] = false;
            remaining -= 1;
            continue;
        };
        let mut next = Some(first);
        let mut sent = 0;
        while let Some(msg) = next.take() {
            if let Err(e) = stop.send(&out, msg) {
                pending = Some(e.into_inner());
                break 'select;
            }
            sent += 1;
            if sent < BURST {
                next = inputs[i].try_recv().ok();
            }
        }
    }
    drop(sel);
    let inputs = inputs
        .into_iter()
        .zip(open)
        .filter_map(|(rx, open)| open.then_some(rx))
        .collect();
    Unmerged {
        items: pending.into_iter().collect(),
        inputs,
    }
}

/// The output of [`merge`]: a receiver of every input's messages that owns the merge thread.
///
/// Read it with [`recv`](Merged::recv) and friends, as an [`Iterator`] (it ends when every input
/// has disconnected), or put [`receiver`](Merged::receiver) in a `select!`.
///
/// Dropping it stops the merge thread and joins it, so no thread outlives it; messages not yet
/// read are dropped with the inputs. [`stop`](Merged::stop) does the same but hands them back.
///
/// # Examples
///
/// ```
/// let (tx, rx) = crossbeam_channel::unbounded();
/// tx.send(1).unwrap();
/// let mut merged = homebound::fan::merge(vec![rx]).unwrap();
/// assert_eq!(merged.next(), Some(1));
/// drop(merged); // the input is still connected: dropping stops and joins the thread
/// homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "dropping a Merged stops merging at once"]
pub struct Merged<T> {
    rx: Receiver<T>,
    /// Private child context the merge thread selects on; cancelled to stop it.
    stop: Context,
    /// `None` with zero inputs and once joined; otherwise the thread, which returns what it
    /// did not forward.
    handle: Option<JoinHandle<Unmerged<T>>>,
}

impl<T> Merged<T> {
    /// Blocks for the next message; `Err` once every input has disconnected and everything was
    /// read (or the merge was cancelled).
    ///
    /// # Errors
    ///
    /// `RecvError` when the output is empty and disconnected.
    pub fn recv(&self) -> Result<T, crossbeam_channel::RecvError> {
        self.rx.recv()
    }

    /// The next message if one is ready.
    ///
    /// # Errors
    ///
    /// `Empty` or `Disconnected`, as for a crossbeam receiver.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// Waits up to `timeout` for the next message.
    ///
    /// # Errors
    ///
    /// `Timeout` or `Disconnected`, as for a crossbeam receiver.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The output receiver, for `select!`. A clone keeps receiving only while this `Merged`
    /// lives: dropping it stops the thread.
    pub fn receiver(&self) -> &Receiver<T> {
        &self.rx
    }

    /// Stops the merge thread, joins it, and hands back everything not yet read: the messages
    /// already taken from the inputs, then the inputs still connected (with whatever they hold).
    /// Messages of one input keep their order across `items` and that input.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of the merge thread (only possible if a message's `Drop` panicked).
    pub fn stop(mut self) -> Unmerged<T> {
        self.stop.cancel();
        let mut items: Vec<T> = self.rx.try_iter().collect();
        let Some(handle) = self.handle.take() else {
            return Unmerged {
                items,
                inputs: Vec::new(),
            };
        };
        let rest = handle
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
        // The thread may have forwarded more while we drained; those come before its pending one.
        items.extend(self.rx.try_iter());
        items.extend(rest.items);
        Unmerged {
            items,
            inputs: rest.inputs,
        }
    }
}

impl<T> Iterator for Merged<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Drop for Merged<T> {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl<T> fmt::Debug for Merged<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merged")
            .field("buffered", &self.rx.len())
            .field(
                "running",
                &self.handle.as_ref().is_some_and(|h| !h.is_finished()),
            )
            .finish()
    }
}

/// What a stopped [`Merged`] had not delivered: nothing is lost.
///
/// # Examples
///
/// ```
/// let (tx, rx) = crossbeam_channel::unbounded();
/// for n in 0..3 { tx.send(n).unwrap(); }
/// let merged = homebound::fan::merge(vec![rx]).unwrap();
/// let left = merged.stop();
/// let unread = left.items.len() + left.inputs.iter().map(|rx| rx.len()).sum::<usize>();
/// assert_eq!(unread, 3);
/// ```
#[non_exhaustive]
pub struct Unmerged<T> {
    /// Messages already taken from the inputs but not read, in output order.
    pub items: Vec<T>,
    /// The inputs that had not disconnected, with whatever they still hold.
    pub inputs: Vec<Receiver<T>>,
}

impl<T> fmt::Debug for Unmerged<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unmerged")
            .field("items", &self.items.len())
            .field("inputs", &self.inputs.len())
            .finish()
    }
}
