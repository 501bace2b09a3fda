//! Fan-in: many receivers into one, forwarded by a single thread selecting over all of them.

use std::fmt;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender, TryRecvError, bounded};

use super::error::BuildError;
use crate::context::Context;
use crate::threads::{self, JoinHandle};

/// Capacity of the merged output channel: the merge thread runs at most this far ahead of the
/// reader (backpressure), and this is how many messages [`Merged::stop`] may find buffered.
pub(crate) const MERGE_CAPACITY: usize = 1024;

/// Messages taken from one input per sweep before moving on to the next input.
///
/// The thread alternates two phases. A *sweep* visits every open input once, round robin from a
/// rotating start, and forwards up to `QUOTA` messages from each with `try_recv`: when many
/// inputs are busy this costs O(1) per message and gives each ready input the same share. Only
/// when a sweep finds nothing does the thread park in a crossbeam `Select` over every input and
/// the stop signal (O(inputs) to register, woken by the first message or disconnect).
const QUOTA: usize = 16;

/// Merges `receivers` into one output, forwarded by one registered thread running a crossbeam
/// `Select` over every input.
///
/// * **Ends** when every input has disconnected (the output then disconnects after its last
///   message) or when the [`Merged`] is dropped or [stopped](Merged::stop). Zero inputs give an
///   output that is disconnected at once, and no thread.
/// * **One thread** whatever the number of inputs; thousands are fine. While messages flow it
///   sweeps the inputs round robin with `try_recv` (O(1) per message when many are busy); when
///   all are empty it parks in one crossbeam `Select` over every input and the stop signal
///   (O(inputs) per wake-up).
/// * **Fair:** every sweep takes up to 16 messages from each ready input, starting one input
///   later each time, so no busy input starves. Messages of one input keep their order; there
///   is no order between inputs.
/// * **Backpressure:** the output is bounded (1024 messages); a slow reader slows the thread,
///   and the thread only takes from an input what it can forward.
///
/// # Errors
///
/// [`BuildError::Spawn`] if the thread could not be started (the receivers are dropped).
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
pub fn merge<T, I>(receivers: I) -> Result<Merged<T>, BuildError>
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
/// [`BuildError::Spawn`] if the thread could not be started.
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
pub fn merge_ctx<T, I>(ctx: &Context, receivers: I) -> Result<Merged<T>, BuildError>
where
    T: Send + 'static,
    I: IntoIterator<Item = Receiver<T>>,
{
    start(ctx.child(), receivers.into_iter().collect())
}

fn start<T: Send + 'static>(
    stop: Context,
    inputs: Vec<Receiver<T>>,
) -> Result<Merged<T>, BuildError> {
    let (tx, rx) = bounded(MERGE_CAPACITY);
    let handle = if inputs.is_empty() {
        None // `tx` drops here: the output is disconnected at once.
    } else {
        let thread_stop = stop.clone();
        let spawned = threads::spawn("merge", move || forward(inputs, tx, thread_stop));
        Some(spawned.map_err(BuildError::Spawn)?)
    };
    Ok(Merged { rx, stop, handle })
}

/// The merge thread: sweep the open inputs, park in `select` when they are all empty, drop
/// inputs as they disconnect, stop on the stop signal or when the output is gone.
fn forward<T>(inputs: Vec<Receiver<T>>, out: Sender<T>, stop: Context) -> Unmerged<T> {
    let mut sel = Select::new();
    for rx in &inputs {
        sel.recv(rx);
    }
    let stop_op = sel.recv(stop.done());
    // Indices (into `inputs` and `sel`) of the inputs not yet disconnected.
    let mut open: Vec<usize> = (0..inputs.len()).collect();
    let mut gone = vec![false; inputs.len()];
    let mut any_gone = false;
    let mut pending = None;
    let mut turn = 0;
    'run: while !open.is_empty() {
        let mut moved = false;
        // Sweep, starting one input later each time so no position is favoured.
        turn = (turn + 1) % open.len();
        for k in 0..open.len() {
            let i = open[(turn + k) % open.len()];
            for _ in 0..QUOTA {
                match inputs[i].try_recv() {
                    Ok(msg) => {
                        moved = true;
                        if let Err(e) = stop.send(&out, msg) {
                            pending = Some(e.into_inner());
                            break 'run;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        sel.remove(i);
                        gone[i] = true;
                        any_gone = true;
                        break;
                    }
                }
            }
        }
        if any_gone {
            open.retain(|&i| !gone[i]);
            any_gone = false;
        }
        if moved || open.is_empty() {
            continue;
        }
        // Every input was empty: park until one has a message or disconnects, or until stop.
        let op = crate::clock::select(&mut sel, None).expect("no deadline");
        let i = op.index();
        if i == stop_op {
            let _ = op.recv(stop.done());
            break;
        }
        match op.recv(&inputs[i]) {
            Ok(msg) => {
                if let Err(e) = stop.send(&out, msg) {
                    pending = Some(e.into_inner());
                    break;
                }
            }
            Err(_) => {
                sel.remove(i);
                gone[i] = true;
                open.retain(|&j| j != i);
            }
        }
    }
    drop(sel);
    let inputs = inputs
        .into_iter()
        .zip(gone)
        .filter_map(|(rx, gone)| (!gone).then_some(rx))
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
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// tx.send("hello").unwrap();
    /// drop(tx);
    /// let merged = homebound::fan::merge(vec![rx]).unwrap();
    /// assert_eq!(merged.recv(), Ok("hello"));
    /// assert!(merged.recv().is_err()); // every input disconnected and drained
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn recv(&self) -> Result<T, crossbeam_channel::RecvError> {
        crate::clock::recv(&self.rx)
    }

    /// The next message if one is ready.
    ///
    /// # Errors
    ///
    /// `Empty` or `Disconnected`, as for a crossbeam receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::TryRecvError;
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded::<u32>();
    /// let merged = homebound::fan::merge(vec![rx]).unwrap();
    /// assert_eq!(merged.try_recv(), Err(TryRecvError::Empty));
    /// # drop((tx, merged));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// Waits up to `timeout` for the next message.
    ///
    /// # Errors
    ///
    /// `Timeout` or `Disconnected`, as for a crossbeam receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a_tx, a) = crossbeam_channel::unbounded();
    /// let (b_tx, b) = crossbeam_channel::unbounded();
    /// let merged = homebound::fan::merge(vec![a, b]).unwrap();
    /// b_tx.send(2).unwrap();
    /// assert_eq!(merged.recv_timeout(Duration::from_secs(5)), Ok(2));
    /// assert!(merged.recv_timeout(Duration::from_millis(1)).is_err()); // nothing more yet
    /// # drop((a_tx, b_tx, merged));
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        crate::clock::recv_timeout(&self.rx, timeout)
    }

    /// The output receiver, for `select!`. A clone keeps receiving only while this `Merged`
    /// lives: dropping it stops the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::select;
    ///
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// tx.send(7).unwrap();
    /// let merged = homebound::fan::merge(vec![rx]).unwrap();
    /// let got = select! {
    ///     recv(merged.receiver()) -> n => n.unwrap(),
    /// };
    /// assert_eq!(got, 7);
    /// # drop((tx, merged));
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// let merged = homebound::fan::merge(vec![rx]).unwrap();
    /// tx.send(1).unwrap();
    /// let rest = merged.stop(); // nothing is lost: unread messages come back
    /// let mut all = rest.items;
    /// for input in &rest.inputs { all.extend(input.try_iter()); }
    /// assert_eq!(all, [1]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
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
        crate::clock::recv(&self.rx).ok()
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
