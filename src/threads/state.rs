//! What each registered thread is doing now: two words per thread, written only by that thread.
//!
//! One word says which task the thread runs (if any), the other which wait it is in (idle,
//! `submit`, `ctx.recv`, ...), so a task blocked in a wait shows both. A state change is a
//! thread-local look-up and one relaxed store of a `u64` into the thread's own [`Slot`]: the
//! kind in the low byte, the microseconds since the registry's epoch at which it began in the
//! rest (2^56 µs is over 2,000 years). No lock, no allocation, no read-modify-write. Readers (the
//! dump, the watchdog) load the words relaxed: a diagnostic view needs no ordering with the
//! thread's other memory.
//!
//! A task's name is the one thing that does not fit the word. It is kept beside it, behind a
//! lock that only the thread itself and a dump ever take, and only when a named task's name
//! differs from the previous one: the thread remembers the name it stored, so a repeated name
//! costs a compare and no lock.
//!
//! Threads that homebound did not register have no slot; their state changes do nothing.
//!
//! Built with `RUSTFLAGS="--cfg homebound_no_thread_state"`, no state is kept at all: only to
//! measure what keeping it costs (`benches/observe_task_cost.rs`), never for use.
//!
//! Every blocking wait homebound offers marks itself with [`enter`], which returns a guard
//! that puts the previous state back: waits and tasks nest (a pool worker joining a task runs
//! other tasks meanwhile) and each level restores the one it interrupted.

use std::cell::{Cell, OnceCell};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::context::Context;

/// The instant state stamps count from; set before the first thread registers.
static EPOCH: OnceLock<Instant> = OnceLock::new();

pub(super) fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

thread_local! {
    /// The calling thread's slot, if it is a registered thread.
    static SLOT: OnceCell<Arc<Slot>> = const { OnceCell::new() };
    /// The name in this thread's slot (only this thread writes it): a repeated name is
    /// recognised without taking the slot's lock.
    static NAME: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

/// The kinds of state, as stored in a word's low byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Running its own code: nothing homebound knows more about.
    Working = 0,
    /// A worker parked, waiting for a task.
    Idle = 1,
    /// Running a task without a name.
    Task = 2,
    /// Running a task whose name is in the slot.
    NamedTask = 3,
    /// In `submit`, waiting for room in a full queue.
    Submitting = 4,
    /// In `Context::recv`, waiting for a value.
    Receiving = 5,
    /// In `Context::send`, waiting for room.
    Sending = 6,
    /// In `Context::sleep`.
    Sleeping = 7,
    /// In `WaitGroup::wait`.
    WaitGroup = 8,
    /// Running an `after_cancel` callback.
    Callback = 9,
    /// A pipeline stage blocked sending to the next stage, whose link is full.
    Downstream = 10,
    /// An ordered pipeline stage holding output that must wait for an earlier item.
    Ordered = 11,
}

impl Kind {
    fn from_u8(b: u8) -> Kind {
        match b {
            1 => Kind::Idle,
            2 => Kind::Task,
            3 => Kind::NamedTask,
            4 => Kind::Submitting,
            5 => Kind::Receiving,
            6 => Kind::Sending,
            7 => Kind::Sleeping,
            8 => Kind::WaitGroup,
            9 => Kind::Callback,
            10 => Kind::Downstream,
            11 => Kind::Ordered,
            _ => Kind::Working,
        }
    }
}

/// A task's name and start, as a slot holds them.
pub(super) type TaskRun = (Option<Arc<str>>, Instant);

/// One registered thread's state, shared by the thread (the only writer) and the registry.
pub(crate) struct Slot {
    /// The task it runs (`Working`: none).
    task: AtomicU64,
    /// The wait it is in (`Working`: none).
    wait: AtomicU64,
    /// The name of the named task last started on this thread.
    name: Mutex<Option<Arc<str>>>,
    /// The context whose cancellation stops this thread, for the dump.
    pub(super) context: OnceLock<Context>,
}

impl Slot {
    pub(super) fn new(context: Option<Context>) -> Slot {
        Slot {
            task: AtomicU64::new(pack(Kind::Working, Instant::now())),
            wait: AtomicU64::new(pack(Kind::Working, Instant::now())),
            name: Mutex::new(None),
            context: context.map(OnceLock::from).unwrap_or_default(),
        }
    }

    /// What the thread is doing now (the wait it is in, else its task), since when, and the
    /// task it runs, with its start.
    pub(super) fn read(&self) -> (State, Instant, Option<TaskRun>) {
        let since = |word: u64| epoch() + Duration::from_micros(word >> 8);
        let task_word = self.task.load(Ordering::Relaxed);
        let task = match Kind::from_u8(task_word as u8) {
            Kind::Task => Some((None, since(task_word))),
            Kind::NamedTask => Some((self.name.lock().clone(), since(task_word))),
            _ => None,
        };
        let wait = self.wait.load(Ordering::Relaxed);
        let state = match Kind::from_u8(wait as u8) {
            Kind::Working | Kind::Task | Kind::NamedTask => {
                return match &task {
                    Some((name, at)) => (State::Running { task: name.clone() }, *at, task),
                    None => (State::Working, since(task_word.max(wait)), None),
                };
            }
            Kind::Idle => State::Idle,
            Kind::Submitting => State::Submitting,
            Kind::Receiving => State::Receiving,
            Kind::Sending => State::Sending,
            Kind::Sleeping => State::Sleeping,
            Kind::WaitGroup => State::WaitingGroup,
            Kind::Callback => State::InCallback,
            Kind::Downstream => State::BlockedDownstream,
            Kind::Ordered => State::WaitingForOrder,
        };
        (state, since(wait), task)
    }

    /// The task word: the watchdog tells one task run from the next by it.
    pub(super) fn task_word(&self) -> u64 {
        self.task.load(Ordering::Relaxed)
    }
}

/// Whether `word` is a task run.
pub(super) fn is_task(word: u64) -> bool {
    matches!(Kind::from_u8(word as u8), Kind::Task | Kind::NamedTask)
}

fn pack(kind: Kind, since: Instant) -> u64 {
    (micros_since_epoch(since) << 8) | kind as u64
}

fn micros_since_epoch(since: Instant) -> u64 {
    since.saturating_duration_since(epoch()).as_micros() as u64
}

/// Installs the calling (just started) thread's slot.
pub(super) fn install(slot: Arc<Slot>) {
    let _ = SLOT.try_with(|s| s.set(slot));
}

/// Which of a slot's words a change is to.
fn word_of(slot: &Slot, task: bool) -> &AtomicU64 {
    if task { &slot.task } else { &slot.wait }
}

/// Stores a word in the calling thread's slot; returns the word it replaces (`None`: not a
/// registered thread).
#[inline]
fn swap_in(task: bool, word: impl FnOnce(&Slot) -> u64) -> Option<u64> {
    SLOT.try_with(|s| {
        let slot = s.get()?;
        let at = word_of(slot, task);
        let before = at.load(Ordering::Relaxed);
        at.store(word(slot), Ordering::Relaxed);
        Some(before)
    })
    .ok()
    .flatten()
}

/// Puts the state it interrupted back when dropped.
#[must_use = "the state lasts as long as the guard"]
pub(crate) struct Guard {
    before: Option<u64>,
    task: bool,
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if let Some(before) = self.before {
            let _ = SLOT.try_with(|s| {
                if let Some(slot) = s.get() {
                    word_of(slot, self.task).store(before, Ordering::Relaxed);
                }
            });
        }
    }
}

/// Marks the calling thread as being in a wait (or a callback) of `kind` from now until the
/// guard drops. Read the clock: for waits that are about to block anyway.
///
/// A pipeline stage blocked sending downstream waits in `ctx.send`: that inner wait keeps the
/// stage's more telling state (and its start) instead of replacing it.
#[inline]
pub(crate) fn enter(kind: Kind) -> Guard {
    if cfg!(homebound_no_thread_state) {
        return Guard {
            before: None,
            task: false,
        };
    }
    let before = SLOT
        .try_with(|s| {
            let slot = s.get()?;
            let before = slot.wait.load(Ordering::Relaxed);
            if kind == Kind::Sending && Kind::from_u8(before as u8) == Kind::Downstream {
                return None;
            }
            slot.wait
                .store(pack(kind, Instant::now()), Ordering::Relaxed);
            Some(before)
        })
        .ok()
        .flatten();
    Guard {
        before,
        task: false,
    }
}

/// Marks the calling thread as running a task (named `name`) that started at `since`, until the
/// guard drops. The caller passes a time it has already read, so this reads no clock.
#[inline]
pub(crate) fn running(name: Option<&str>, since: Instant) -> Guard {
    running_since(name, micros_since_epoch(since))
}

/// Like [`running`], for a start `micros` after the registry's epoch.
#[inline]
fn running_since(name: Option<&str>, micros: u64) -> Guard {
    if cfg!(homebound_no_thread_state) {
        return Guard {
            before: None,
            task: true,
        };
    }
    Guard {
        task: true,
        before: swap_in(true, |slot| match name {
            None => (micros << 8) | Kind::Task as u64,
            Some(name) => {
                let _ = NAME.try_with(|held| {
                    let mut held = held.borrow_mut();
                    if held.as_deref() != Some(name) {
                        let name: Arc<str> = Arc::from(name);
                        *slot.name.lock() = Some(Arc::clone(&name));
                        *held = Some(name);
                    }
                });
                (micros << 8) | Kind::NamedTask as u64
            }
        }),
    }
}

/// The word [`running`] stores for an unnamed task that started at `since`: a pool worker
/// packs it once per stretch of short tasks that share a start, and enters it with
/// [`running_word`] (no clock arithmetic per task).
pub(crate) fn task_word(since: Instant) -> u64 {
    pack(Kind::Task, since)
}

/// Like [`running`], for an unnamed task whose word [`task_word`] packed.
#[inline]
pub(crate) fn running_word(word: u64) -> Guard {
    if cfg!(homebound_no_thread_state) {
        return Guard {
            before: None,
            task: true,
        };
    }
    Guard {
        task: true,
        before: swap_in(true, |_| word),
    }
}

thread_local! {
    /// A pool worker's pool clock: the pool's epoch and how far (µs, signed) it lies from the
    /// registry's, so a task start on the pool's clock converts with an add and a divide, not
    /// `Instant` arithmetic (about 90 instructions per task, measured with callgrind).
    static POOL_CLOCK: Cell<Option<(Instant, i64)>> = const { Cell::new(None) };
}

/// Like [`running`], for a task that started `nanos` after `epoch` (a pool's clock).
#[inline]
pub(crate) fn running_at(name: Option<&str>, epoch: Instant, nanos: u64) -> Guard {
    let offset = POOL_CLOCK
        .try_with(|clock| match clock.get() {
            Some((at, offset)) if at == epoch => offset,
            _ => {
                let offset = signed_micros(epoch);
                clock.set(Some((epoch, offset)));
                offset
            }
        })
        .unwrap_or_else(|_| signed_micros(epoch));
    let micros = offset.saturating_add((nanos / 1_000) as i64).max(0) as u64;
    running_since(name, micros)
}

/// Microseconds from the registry's epoch to `at` (negative if `at` is earlier).
fn signed_micros(at: Instant) -> i64 {
    let base = epoch();
    match at.checked_duration_since(base) {
        Some(after) => after.as_micros() as i64,
        None => -(base.duration_since(at).as_micros() as i64),
    }
}

/// Records `ctx` as the context that owns the calling thread, unless one is recorded already.
pub(crate) fn owned_by(ctx: &Context) {
    let _ = SLOT.try_with(|s| {
        if let Some(slot) = s.get() {
            let _ = slot.context.set(ctx.clone());
        }
    });
}

/// Like [`running`], reading the clock for the start.
#[inline]
pub(crate) fn running_now(name: Option<&str>) -> Guard {
    running(name, Instant::now())
}

/// What a registered thread is doing, as [`dump`](super::dump) and the
/// [`Watchdog`](super::Watchdog) see it.
///
/// # Examples
///
/// ```
/// use homebound::threads::{self, State};
///
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let ctx = homebound::Context::new();
/// let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
/// let h = threads::spawn("reader", move || {
///     entered_tx.send(()).unwrap();
///     let _ = ctx.recv(&rx);
/// })
/// .unwrap();
/// entered.recv().unwrap();
/// // It is (or is about to be) waiting in `ctx.recv`.
/// let state = loop {
///     let dump = threads::dump();
///     let me = dump.threads().iter().find(|t| t.owner() == "reader").unwrap();
///     if *me.state() == State::Receiving { break me.state().clone(); }
/// };
/// assert_eq!(state.to_string(), "waiting in ctx.recv");
/// drop(tx);
/// h.join().unwrap();
/// # threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum State {
    /// Running its own code, outside any task or wait homebound knows of.
    Working,
    /// A worker with nothing to do, waiting for a task.
    Idle,
    /// Running a task; `task` is its name if it was given one.
    Running {
        /// The task's name.
        task: Option<Arc<str>>,
    },
    /// Blocked in a pool's or group's `submit`, waiting for room in a full queue.
    Submitting,
    /// Waiting in [`Context::recv`](crate::Context::recv) (or `recv_timeout`).
    Receiving,
    /// Waiting in [`Context::send`](crate::Context::send) for room in a channel.
    Sending,
    /// In [`Context::sleep`](crate::Context::sleep).
    Sleeping,
    /// In [`WaitGroup::wait`](crate::WaitGroup::wait) (or one of its timed forms).
    WaitingGroup,
    /// Running an [`after_cancel`](crate::Context::after_cancel) callback.
    InCallback,
    /// A pipeline stage blocked sending its output to the next stage (or the consumer), whose
    /// link is full: the stage downstream is the slow one (or stuck).
    BlockedDownstream,
    /// An ordered pipeline stage's worker holding output that may only pass after an earlier
    /// item's, which another worker of the stage is still on (its reorder window is full): that
    /// earlier item is the slow one (or stuck).
    WaitingForOrder,
}

impl State {
    /// Whether the thread is running a task.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads::State;
    ///
    /// assert!(State::Running { task: None }.is_running());
    /// assert!(!State::Idle.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        matches!(self, State::Running { .. })
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Working => f.write_str("working"),
            State::Idle => f.write_str("idle"),
            State::Running { task: None } => f.write_str("running a task"),
            State::Running { task: Some(name) } => write!(f, "running task '{name}'"),
            State::Submitting => f.write_str("blocked in submit (queue full)"),
            State::Receiving => f.write_str("waiting in ctx.recv"),
            State::Sending => f.write_str("waiting in ctx.send"),
            State::Sleeping => f.write_str("sleeping in ctx.sleep"),
            State::WaitingGroup => f.write_str("waiting in WaitGroup::wait"),
            State::InCallback => f.write_str("in a cancel callback"),
            State::BlockedDownstream => {
                f.write_str("blocked sending to the next stage (its link is full)")
            }
            State::WaitingForOrder => {
                f.write_str("waiting for an earlier item to pass (ordered output)")
            }
        }
    }
}

/// For the state-change bench: one task start and end on the calling thread, as a pool worker
/// makes them (a time it already read; a name or none).
#[doc(hidden)]
#[inline]
pub fn bench_task_state_change(name: Option<&str>, since: Instant) {
    drop(running(name, since));
}

/// For the state-change bench: one task start and end on a pool worker, whose start is
/// `nanos` on its pool's clock (`epoch`), as the pool passes it.
#[doc(hidden)]
#[inline]
pub fn bench_pool_task_state_change(name: Option<&str>, epoch: Instant, nanos: u64) {
    drop(running_at(name, epoch, nanos));
}

/// For the state-change bench: entering and leaving a wait (reads the clock).
#[doc(hidden)]
#[inline]
pub fn bench_wait_state_change() {
    drop(enter(Kind::Receiving));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_start_on_a_pool_clock_is_the_instant_it_stands_for() {
        let h = crate::threads::spawn("pool-clock", || {
            let slot = SLOT.with(|s| Arc::clone(s.get().expect("a registered thread")));
            let ours = epoch();
            // A pool's epoch before the registry's (the offset is negative) and after it.
            for pool_epoch in [ours - Duration::from_millis(5), Instant::now()] {
                let nanos = 7_654_321;
                let direct = {
                    let _task = running(None, pool_epoch + Duration::from_nanos(nanos));
                    slot.task_word()
                };
                let on_pool_clock = {
                    let _task = running_at(None, pool_epoch, nanos);
                    slot.task_word()
                };
                assert!(is_task(on_pool_clock));
                assert!((direct >> 8).abs_diff(on_pool_clock >> 8) <= 1);
            }
        })
        .unwrap();
        h.join().unwrap();
    }
}
