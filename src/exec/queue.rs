//! The executor's bounded queue and its one hand-off algorithm.
//!
//! # The hand-off rule
//!
//! A task offered without waiting is accepted whenever
//! 1. the queue has room, or
//! 2. a worker is idle (parked, or about to park: see [`Crew`]), or
//! 3. one more worker may be started below the maximum;
//!
//! and refused as `Full` only when none of these holds: every permitted worker is busy and the
//! queue (if any) is full. Nothing here depends on timing: an idle worker is one that *counted
//! itself* idle (a compare-and-swap on the crew's word), not one that happens to be blocked in a
//! channel operation at that instant.
//!
//! * **Bounded queue** (capacity ≥ 1): `try_send` first. If the queue is full while a worker
//!   counts itself idle or is counted on for a queued task, that worker is about to take a task
//!   (a worker parks only after finding the queue empty): yield to it and retry. Otherwise
//!   reserve a new worker's slot, and start it with the task.
//! * **Rendezvous** (capacity 0, a `SynchronousQueue`): the task needs a worker of its own.
//!   Claim an idle worker (its task goes on an internal list that only claimed tasks enter, so
//!   that list never holds more tasks than there are parked workers), or reserve a new worker.
//! * **Unbounded**: always queued.
//! * **Growth** (an executor that may start workers on demand): with no worker idle, one more
//!   worker is started (up to the maximum) *with the task*, rather than queueing it and starting
//!   a worker to fetch it: a worker on its way to the queue would be neither idle nor busy, and
//!   a hand-off in that moment would wrongly find the executor full. A task queued while a
//!   worker is idle claims that worker, so the next task does not count on it too.
//!
//! A submitter that may wait spins briefly, then registers with the [`Room`] and waits for a
//! room token, the executor closing, its context, or its deadline. Called from one of the
//! executor's own workers, it never waits (all workers might be waiting on each other): the
//! layer applies its self-submit rule instead, after growth was tried.
//!
//! # Released slots
//!
//! A queued task whose caller cancelled it gives its slot back at once (the layer calls
//! [`Releaser::release`]; the task itself stays in the channel, which cannot remove from the
//! middle, as a *tombstone*). The slot becomes a *credit*: a hand-off that finds the queue
//! full takes a credit and puts its task on the *spare* list instead. A worker that takes a
//! tombstone later consumes one unit ([`Queue::reclaim`]): a spare task, which it runs in the
//! tombstone's place, or else a credit. Every tombstone is consumed once, so the spare list
//! empties as the tombstones are reached (a spare task is only added while a credit exists,
//! that is while some tombstone is still ahead of a worker), and it costs nothing until a task
//! is released: only a hand-off that found the queue full reads the credits.
//!
//! # Closing
//!
//! `closing` (the layer stops accepting) wakes blocked submitters; `closed` (no task will be
//! queued any more) lets parked workers leave once the queue is drained. The layer guarantees
//! that nothing is queued after `close`.

use std::io;
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chan::{self, Receiver, Sender, TrySendError};
use super::crew::{Claim, Crew};
use super::room::{Room, Waiter};
use super::worker::is_worker_of;
use crate::context::Context;
use crate::shim::{AtomicBool, AtomicUsize, Ordering, fence};

#[cfg(not(loom))]
use crossbeam_utils::Backoff;

/// In models the spin phases are left out (loom explores each step of a spin as a branch), and
/// a wait for another thread's progress yields to loom's scheduler.
#[cfg(loom)]
struct Backoff;

#[cfg(loom)]
impl Backoff {
    fn new() -> Self {
        Backoff
    }
    fn is_completed(&self) -> bool {
        true
    }
    fn snooze(&self) {
        loom::thread::yield_now();
    }
}

/// How many growing spins ([`Backoff::spin`]: 1, 2, 4, … pauses) a worker whose queue ran empty
/// looks again before counting itself idle (see [`Queue::linger`]): 31 pauses, from a fraction
/// of a microsecond to about one and a half, depending on the processor's `pause`.
#[cfg(not(loom))]
const LINGER_STEPS: u32 = 5;

/// A queue's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capacity {
    /// At most this many tasks wait; 0 is a rendezvous.
    Bounded(usize),
    Unbounded,
}

/// How long a hand-off may wait for room.
#[derive(Clone, Copy)]
pub(crate) enum Wait<'a> {
    No,
    Until {
        deadline: Option<Instant>,
        ctx: Option<&'a Context>,
    },
}

/// Why a hand-off did not take the task.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Every permitted worker is busy and the queue is full (and waiting was not allowed).
    Full,
    /// The caller is one of the executor's own workers, which never wait for room.
    OwnWorker,
    /// The executor stopped accepting while the caller waited.
    Closed,
    Timeout,
    /// The caller's context was cancelled while it waited.
    Cancelled,
    /// No worker exists and none could be started.
    NoWorker(io::Error),
}

/// Starts a worker with its first task; on failure the task comes back.
pub(crate) type Start<'s, J> = dyn FnMut(J) -> Result<(), (io::Error, J)> + 's;

/// The outcome of one non-blocking attempt.
enum Handoff<J> {
    /// Queued, or handed to an idle worker.
    Placed,
    /// A worker slot is reserved for this task: start a worker with it.
    Start(J),
    Full(J),
}

/// What a parked worker got.
pub(crate) enum Parked<J> {
    Job(J),
    /// The executor closed and the queue is drained: leave.
    Closed,
    /// The keep-alive passed with nothing to do: leave (the crew already let this worker go).
    Retired,
    /// The executor was resized: park again with the keep-alive that applies now.
    #[cfg_attr(loom, allow(dead_code))]
    Nudged,
}

pub(crate) struct Queue<J> {
    /// The executor's id, for self-submit detection.
    id: u64,
    tx: Sender<J>,
    rx: Receiver<J>,
    rendezvous: bool,
    bounded: bool,
    /// Blocked submitters are woken once the queue holds at most this many tasks.
    low_water: usize,
    /// Whether workers are started on demand (then a hand-off claims or grows). Set once it
    /// may (at construction, or by a resize to `min < max`); never cleared.
    grows: AtomicBool,
    /// Wakes parked workers after a resize (one message per worker that was idle).
    nudge_tx: Sender<()>,
    #[cfg_attr(loom, allow(dead_code))]
    nudge_rx: Receiver<()>,
    pub(crate) crew: Crew,
    room: Room,
    /// Cancelled when the executor stops accepting: blocked submitters give up.
    closing: Context,
    /// Cancelled once nothing will be queued any more: parked workers drain and leave.
    closed: Context,
    /// Released slots not yet lent or reclaimed (see "Released slots" above).
    credits: Arc<AtomicUsize>,
    /// Tasks queued in a released slot; each runs in place of a tombstone.
    spare_tx: Sender<J>,
    spare_rx: Receiver<J>,
    /// Set once [`drain`](Queue::drain) took the spare list: nothing is left to reclaim.
    drained: AtomicBool,
}

/// Gives a released task's queue slot back (see "Released slots" above). Owns nothing of the
/// executor's but a counter and the room-token sender, so it may be kept by a context callback.
#[derive(Clone)]
pub(crate) struct Releaser {
    credits: Arc<AtomicUsize>,
    token: Sender<()>,
}

impl Releaser {
    /// Called exactly once per queued task that will not run, while it is still in the queue
    /// (or in a worker's hand before it looked): its slot is free for the next hand-off, and a
    /// blocked submitter is woken to take it. Cheap and non-blocking: it may run inside
    /// `Context::cancel`, on any thread.
    pub(crate) fn release(&self) {
        self.credits.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // Unconditional: a stale token only makes a waiter retry once (see `Room`).
        let _ = self.token.try_send(());
    }
}

impl<J> Queue<J> {
    /// A queue for an executor with `min..=max` workers; workers are started on demand when
    /// `min < max` or when none exists.
    pub(crate) fn new(id: u64, capacity: Capacity, min: usize, max: usize) -> Self {
        let (tx, rx) = match capacity {
            // The rendezvous list holds only claimed tasks (at most one per parked worker).
            Capacity::Bounded(0) | Capacity::Unbounded => chan::unbounded(),
            Capacity::Bounded(c) => chan::bounded(c),
        };
        let bounded = matches!(capacity, Capacity::Bounded(c) if c > 0);
        let (nudge_tx, nudge_rx) = chan::unbounded();
        let (spare_tx, spare_rx) = chan::unbounded();
        Queue {
            id,
            tx,
            rx,
            rendezvous: capacity == Capacity::Bounded(0),
            bounded,
            low_water: match capacity {
                Capacity::Bounded(c) => c / 2,
                Capacity::Unbounded => usize::MAX,
            },
            grows: AtomicBool::new(min < max),
            nudge_tx,
            nudge_rx,
            crew: Crew::new(min, max),
            room: Room::new(),
            closing: Context::new(),
            closed: Context::new(),
            credits: Arc::new(AtomicUsize::new(0)),
            spare_tx,
            spare_rx,
            drained: AtomicBool::new(false),
        }
    }

    /// What a queued task gives its slot back with (see "Released slots" above).
    pub(crate) fn releaser(&self) -> Releaser {
        Releaser {
            credits: Arc::clone(&self.credits),
            token: self.room.token_sender(),
        }
    }

    /// A full queue's hand-off takes a released slot, if there is one.
    fn lend(&self, job: J) -> Result<(), J> {
        let mut n = self.credits.load(Ordering::Acquire);
        loop {
            if n == 0 {
                return Err(job);
            }
            match self
                .credits
                .compare_exchange_weak(n, n - 1, Ordering::SeqCst, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.spare_tx.try_send(job)
        {
            unreachable!("the spare list is unbounded and the queue holds its receiver")
        }
        Ok(())
    }

    /// Called once for each tombstone a worker (or the layer) takes: the task that was lent
    /// its slot, to run in its place, or `None` when the slot was not lent (its credit is
    /// taken back). A release counted just before its tombstone was taken is waited for.
    pub(crate) fn reclaim(&self) -> Option<J> {
        let backoff = Backoff::new();
        loop {
            // Spare tasks first: a spare list left with only credits ahead would strand them.
            if let Ok(job) = self.spare_rx.try_recv() {
                return Some(job);
            }
            let n = self.credits.load(Ordering::Acquire);
            if n > 0 {
                if self
                    .credits
                    .compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::Acquire)
                    .is_ok()
                {
                    return None;
                }
                continue;
            }
            if self.drained.load(Ordering::Acquire) {
                return None;
            }
            backoff.snooze();
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether a hand-off may depend on the idle count right now: on a rendezvous queue (a task
    /// claims an idle worker) or while the executor may still grow (a hand-off that finds no
    /// worker idle starts one). Then neither the plain send ([`try_queue`](Queue::try_queue))
    /// nor a worker's moment of grace ([`linger`](Queue::linger)) applies.
    #[inline]
    fn counts_idle(&self) -> bool {
        self.rendezvous || (self.grows() && !self.crew.at_max())
    }

    /// Starts workers on demand even with `min == max` (an executor whose first `min` workers
    /// start lazily, one per task that finds none idle).
    pub(crate) fn growing(self) -> Self {
        self.grows.store(true, Ordering::Relaxed);
        self
    }

    #[inline]
    fn grows(&self) -> bool {
        self.grows.load(Ordering::Relaxed)
    }

    /// New worker limits. Growing wakes blocked submitters (a hand-off may now start a
    /// worker); shrinking wakes idle workers, so those above the new maximum leave now and the
    /// others park again under the new keep-alive rule. A busy worker above the maximum
    /// finishes its task and leaves when it next finds nothing to do.
    pub(crate) fn resize(&self, min: usize, max: usize) {
        if min < max {
            self.grows.store(true, Ordering::SeqCst);
        }
        self.crew.set_limits(min, max);
        for _ in 0..self.crew.count().idle {
            let _ = self.nudge_tx.try_send(());
        }
        self.room.wake();
    }

    /// Tasks waiting in the queue (a rendezvous queue holds none: its tasks are handed over).
    pub(crate) fn len(&self) -> usize {
        if self.rendezvous { 0 } else { self.rx.len() }
    }

    /// Whether a waiting submitter has something to retry for.
    fn has_room(&self) -> bool {
        if self.rendezvous {
            let c = self.crew.count();
            c.idle > 0 || c.live < self.crew.max()
        } else {
            self.rx.len() <= self.low_water
                || (self.grows() && !self.crew.at_max())
                || self.credits.load(Ordering::Relaxed) > 0
        }
    }

    /// One non-blocking attempt (see the module docs).
    fn try_handoff(&self, mut job: J, start: bool) -> Handoff<J> {
        if self.rendezvous {
            return match self.crew.claim(start) {
                Claim::Idle => {
                    // The list is unbounded; a claimed task always fits.
                    if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                        self.tx.try_send(job)
                    {
                        unreachable!("the queue holds its own receiver")
                    }
                    Handoff::Placed
                }
                Claim::Start => Handoff::Start(job),
                Claim::Full => Handoff::Full(job),
            };
        }
        if start && self.grows() && !self.crew.at_max() {
            // The growth rule: with no worker idle, one more worker starts, with this task.
            let c = self.crew.count();
            if c.idle == 0 && c.live < self.crew.max() && self.crew.reserve() {
                return Handoff::Start(job);
            }
        }
        let backoff = Backoff::new();
        // Whether the crew, looked at before this send, had a worker about to take a task
        // (none looked at yet: assume so).
        let mut taking = true;
        loop {
            job = match self.tx.try_send(job) {
                Ok(()) => {
                    if self.grows() && !self.crew.at_max() {
                        // While the executor may still grow, count on an idle worker for it, so
                        // the next task does not count on the same one (it grows instead). At
                        // the maximum nothing depends on it: skip the contended update.
                        let c = self.crew.count();
                        if c.idle > 0 && c.live < self.crew.max() {
                            self.crew.claim(false);
                        }
                    }
                    return Handoff::Placed;
                }
                Err(TrySendError::Full(job)) => job,
                Err(TrySendError::Disconnected(_)) => {
                    unreachable!("the queue holds its own receiver")
                }
            };
            // A worker that counts itself idle (it found the queue empty a moment ago) or that
            // is counted on for a queued task takes a task as soon as it runs: yield to it, then
            // retry. Full only once a send failed *after* the crew was seen without such a
            // worker: a worker stops counting as idle or claimed only after its take, so a
            // quiet crew seen after the send that failed may hide the room that take made.
            let c = self.crew.count();
            let was_taking = mem::replace(&mut taking, c.idle > 0 || c.claims > 0);
            if !taking && !was_taking {
                break;
            }
            if taking {
                backoff.snooze();
            }
        }
        if start && self.crew.reserve() {
            Handoff::Start(job)
        } else {
            Handoff::Full(job)
        }
    }

    /// The common case of [`offer`](Queue::offer) on its own: a queue with room, on an executor
    /// that starts no more workers on demand (what `try_handoff` would do first, without its
    /// set-up). `Err` gives the job back for `offer`, which decides everything else.
    #[inline]
    pub(crate) fn try_queue(&self, job: J) -> Result<(), J> {
        if self.counts_idle() {
            return Err(job);
        }
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job)) => Err(job),
            Err(TrySendError::Disconnected(_)) => {
                unreachable!("the queue holds its own receiver")
            }
        }
    }

    /// Hands `job` over, waiting as `wait` allows; `start` starts a worker (the layer knows
    /// how). On refusal the job comes back with the reason.
    pub(crate) fn offer(
        &self,
        job: J,
        wait: Wait<'_>,
        start: &mut Start<'_, J>,
    ) -> Result<(), (J, Refusal)> {
        let mut job = match self.try_queue(job) {
            Ok(()) => return Ok(()),
            Err(job) => job,
        };
        let mut may_start = true;
        let mut waiter: Option<Waiter<'_>> = None;
        let backoff = Backoff::new();
        loop {
            match self.try_handoff(job, may_start) {
                Handoff::Placed => {
                    self.passed(waiter);
                    return Ok(());
                }
                Handoff::Start(first) => match start(first) {
                    Ok(()) => {
                        self.passed(waiter);
                        return Ok(());
                    }
                    Err((error, back)) => {
                        self.crew.start_failed(false);
                        if self.crew.count().live == 0 {
                            return Err((back, Refusal::NoWorker(error)));
                        }
                        // The workers we have will run it; do not try to start another.
                        may_start = false;
                        job = back;
                        continue;
                    }
                },
                // A slot a cancelled task released is as good as room.
                Handoff::Full(back) => match self.lend(back) {
                    Ok(()) => {
                        self.passed(waiter);
                        return Ok(());
                    }
                    Err(back) => job = back,
                },
            }
            let Wait::Until { deadline, ctx } = wait else {
                return Err((job, Refusal::Full));
            };
            if is_worker_of(self.id) {
                return Err((job, Refusal::OwnWorker));
            }
            if self.closing.is_cancelled() {
                return Err((job, Refusal::Closed));
            }
            if ctx.is_some_and(Context::is_cancelled) {
                return Err((job, Refusal::Cancelled));
            }
            // Workers on small tasks free room sooner than a park and wake-up would take.
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            if waiter.is_none() {
                // Registered: retry once more before sleeping (see `Room`).
                waiter = Some(self.room.enter());
                continue;
            }
            if let Err(why) = self.wait_for_token(deadline, ctx) {
                return Err((job, why));
            }
        }
    }

    /// A blocked submitter got through: pass a token on if others wait and room is left.
    fn passed(&self, waiter: Option<Waiter<'_>>) {
        if let Some(waiter) = waiter {
            waiter.done(|| self.has_room());
        }
    }

    #[cfg(not(loom))]
    fn wait_for_token(
        &self,
        deadline: Option<Instant>,
        ctx: Option<&Context>,
    ) -> Result<(), Refusal> {
        let _state = crate::threads::enter_state(crate::threads::Kind::Submitting);
        let mut sel = crossbeam_channel::Select::new();
        let token = sel.recv(self.room.tokens());
        let closing = sel.recv(self.closing.done());
        if let Some(ctx) = ctx {
            sel.recv(ctx.done());
        }
        let op = crate::clock::select(&mut sel, deadline).ok_or(Refusal::Timeout)?;
        match op.index() {
            i if i == token => {
                let _ = op.recv(self.room.tokens());
                Ok(())
            }
            i if i == closing => {
                let _ = op.recv(self.closing.done());
                Err(Refusal::Closed)
            }
            _ => {
                let ctx = ctx.expect("the third operation is the caller's context");
                let _ = op.recv(ctx.done());
                Err(Refusal::Cancelled)
            }
        }
    }

    /// The model has one way to wake a waiter: a token.
    #[cfg(loom)]
    fn wait_for_token(&self, _: Option<Instant>, _: Option<&Context>) -> Result<(), Refusal> {
        let _ = self.room.tokens().recv();
        Ok(())
    }

    /// Worker side, the hot path: a queued task without parking.
    #[inline]
    pub(crate) fn take(&self) -> Option<J> {
        let job = self.rx.try_recv().ok()?;
        self.crew.took();
        self.made_room();
        Some(job)
    }

    /// Worker side, when the queue ran empty after a stretch of tasks: looks again for a moment
    /// before counting itself idle. A worker faster than its submitters runs out of tasks every
    /// few of them, and counting itself idle and then busy again costs two read-modify-writes
    /// of the crew's word, which every worker writes, and a fence.
    ///
    /// Only where nothing waits on the idle count: not on a rendezvous queue (a hand-off claims
    /// an idle worker) nor while the executor may still grow (a hand-off that finds no worker
    /// idle starts one).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn linger(&self) -> Option<J> {
        if self.counts_idle() {
            return None;
        }
        let backoff = Backoff::new();
        for _ in 0..LINGER_STEPS {
            backoff.spin();
            if let Some(job) = self.take() {
                return Some(job);
            }
        }
        None
    }

    /// The models check the protocol without the moment of grace (each spin would be a branch).
    #[cfg(loom)]
    pub(crate) fn linger(&self) -> Option<J> {
        None
    }

    /// After a worker took a task: a bounded queue may now have room for a blocked submitter.
    /// (Only right after a receive from the bounded queue: see [`Room::took`].)
    #[inline]
    fn made_room(&self) {
        if self.bounded {
            self.room.took(|| self.rx.len() <= self.low_water);
        }
    }

    /// Worker side: nothing was queued. Counts the worker idle at once (it is about to park),
    /// tells waiting submitters, spins briefly, then blocks until a task arrives, the executor
    /// closes (after the queue is drained) or, with a keep-alive, the worker may retire.
    #[cfg(loom)] // the models drive a worker's park in one call
    pub(crate) fn park(&self, keep_alive: Option<Duration>) -> Parked<J> {
        self.crew.park();
        self.parked(keep_alive)
    }

    /// Like [`park`](Queue::park), for a worker already counted idle.
    #[cfg(loom)] // the models drive a worker's park in one call
    pub(crate) fn parked(&self, keep_alive: Option<Duration>) -> Parked<J> {
        match self.spin(true) {
            Some(job) => Parked::Job(job),
            None => self.block(keep_alive),
        }
    }

    /// The first half of [`park`](Queue::park): counts the worker idle (unless `counted`
    /// already), tells waiting submitters, and spins briefly for a task. `None`: nothing came;
    /// the worker is still counted idle and goes on to [`block`](Queue::block).
    pub(crate) fn spin(&self, counted: bool) -> Option<J> {
        if !counted {
            self.crew.park();
        }
        self.room.made(|| true);
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            if let Ok(job) = self.rx.try_recv() {
                self.crew.woke();
                self.made_room();
                return Some(job);
            }
            // Closed and drained: nothing more will come, so waiting longer only takes CPU
            // from the threads still working (the next run of a group, say).
            if self.closed.is_cancelled() {
                break;
            }
            backoff.snooze();
        }
        None
    }

    /// The second half of [`park`](Queue::park), after [`spin`](Queue::spin) found nothing:
    /// blocks until a task arrives, the executor closes (after the queue is drained) or, with
    /// a keep-alive, the worker may retire.
    #[cfg(not(loom))]
    pub(crate) fn block(&self, keep_alive: Option<Duration>) -> Parked<J> {
        if self.crew.retire_over_max() {
            // Above the maximum after a shrink: leave rather than wait.
            self.room.made(|| true);
            return Parked::Retired;
        }
        let _state = crate::threads::enter_state(crate::threads::Kind::Idle);
        loop {
            // Through homebound's clock, so a virtual-time test sees the exact keep-alive.
            let mut sel = crossbeam_channel::Select::new();
            let queued = sel.recv(&self.rx);
            let closed = sel.recv(self.closed.done());
            sel.recv(&self.nudge_rx);
            let got = match crate::clock::select(&mut sel, keep_alive.and_then(crate::clock::after))
            {
                Some(op) if op.index() == queued => Some(op.recv(&self.rx)),
                Some(op) if op.index() == closed => {
                    let _ = op.recv(self.closed.done());
                    None
                }
                Some(op) => {
                    let _ = op.recv(&self.nudge_rx);
                    return self.nudged();
                }
                None => {
                    if self.crew.retire() {
                        // A task queued as this worker retired (at the maximum, so it
                        // claimed nobody) would be stranded if this was the last worker:
                        // the submitter checks `live` after queueing, this worker checks
                        // the queue after leaving, and one of them sees the other.
                        if !self.rx.is_empty() && self.crew.reserve() {
                            if let Ok(job) = self.rx.try_recv() {
                                self.crew.took();
                                self.made_room();
                                return Parked::Job(job);
                            }
                            self.crew.park();
                            continue;
                        }
                        self.room.made(|| true); // a slot to start a worker is free
                        return Parked::Retired;
                    }
                    continue;
                }
            };
            return match got {
                Some(job) => self.woke(job.expect("the queue holds its own sender")),
                // Closed: nothing more will be queued; drain before leaving.
                None => match self.rx.try_recv() {
                    Ok(job) => self.woke(job),
                    Err(_) => {
                        self.crew.leave_parked();
                        Parked::Closed
                    }
                },
            };
        }
    }

    #[cfg(loom)]
    pub(crate) fn block(&self, _: Option<Duration>) -> Parked<J> {
        match self.rx.recv() {
            Ok(job) => self.woke(job),
            Err(_) => Parked::Closed,
        }
    }

    /// A parked worker woken by a resize: above the maximum it leaves, else it parks again.
    #[cfg(not(loom))]
    fn nudged(&self) -> Parked<J> {
        if self.crew.retire_over_max() {
            self.room.made(|| true);
            return Parked::Retired;
        }
        Parked::Nudged
    }

    fn woke(&self, job: J) -> Parked<J> {
        self.crew.woke();
        self.made_room();
        Parked::Job(job)
    }

    /// For a thread that waits for something else (a helping join): a queued task, or `None`
    /// once `done` or `stop` is ready (disconnected) or `deadline` passes. The caller is not
    /// counted idle.
    #[cfg(not(loom))]
    pub(crate) fn take_or_until(
        &self,
        done: &crossbeam_channel::Receiver<()>,
        stop: Option<&crossbeam_channel::Receiver<()>>,
        deadline: Option<Instant>,
    ) -> Option<J> {
        if let Some(job) = self.take() {
            return Some(job);
        }
        let mut sel = crossbeam_channel::Select::new();
        let queued = sel.recv(&self.rx);
        let finished = sel.recv(done);
        if let Some(stop) = stop {
            sel.recv(stop);
        }
        let op = crate::clock::select(&mut sel, deadline)?;
        match op.index() {
            i if i == queued => {
                let job = op.recv(&self.rx).ok()?;
                self.crew.took();
                self.made_room();
                Some(job)
            }
            i if i == finished => {
                let _ = op.recv(done);
                None
            }
            _ => {
                let _ = op.recv(stop.expect("the third operation is `stop`"));
                None
            }
        }
    }

    /// Takes every queued task (after the executor closed).
    pub(crate) fn drain(&self) -> Vec<J> {
        let mut all = Vec::new();
        while let Ok(job) = self.rx.try_recv() {
            self.crew.took();
            all.push(job);
        }
        // Lent tasks too (never claimed a worker); a tombstone taken after this reclaims nothing.
        self.drained.store(true, Ordering::Release);
        all.extend(std::iter::from_fn(|| self.spare_rx.try_recv().ok()));
        all
    }

    /// Stops accepting: blocked submitters give up with `Closed`.
    pub(crate) fn close_accepting(&self) {
        self.closing.cancel();
    }

    /// Nothing will be queued any more: parked workers drain the queue and leave.
    pub(crate) fn close(&self) {
        self.closing.cancel();
        self.closed.cancel();
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }

    /// What closes this queue, for an owner that cannot name the queue's type.
    pub(crate) fn closer(&self) -> Closer {
        Closer {
            closing: self.closing.clone(),
            closed: self.closed.clone(),
        }
    }
}

/// Closes a queue (see [`Queue::close`]).
pub(crate) struct Closer {
    closing: Context,
    closed: Context,
}

impl Closer {
    pub(crate) fn close(&self) {
        self.closing.cancel();
        self.closed.cancel();
    }
}
