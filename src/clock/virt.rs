//! The virtual clock behind `homebound::testing::virtual_time` (feature `testing`).
//!
//! A [`Scope`] owns a virtual `now`, the threads that belong to it (members: the thread that
//! opened it and every thread homebound spawned from a member) and the context deadlines armed
//! by members. Each member is either running or waiting in a homebound wait ([`wait`]).
//!
//! **When the clock moves.** The scope's clock thread moves `now` to the earliest deadline (of a
//! waiting member, or of a context) once every member is waiting *and has confirmed it*: a
//! waiting member looks at its real condition in short real slices, and a slice that began
//! after the last change in the scope (an epoch: any member starting a wait, or joining or
//! leaving the scope) and found nothing confirms it. So a message sent or a condition notified
//! by a member just before it waited is seen before time moves, without instrumenting the
//! sending side. A thread outside the scope (one not spawned through homebound, or the callback
//! runner running an `after_cancel` callback) is invisible to this rule: its effects on members
//! are seen, but time may move before they happen.
//!
//! **Deadlock.** Every member waiting without a deadline, no context deadline armed, and nothing
//! changing for [`DEADLOCK_GRACE`] of real time (threads outside the scope may still wake one):
//! the scope records a report naming each member and where it waits, and every member's wait
//! panics with it instead of hanging.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::context::Cause;
use crate::context::timer::{self, Entry, RealKey};

/// Threads attached to some virtual-time scope, process-wide. While it is zero (always, outside
/// tests that use virtual time) every clock read is `Instant::now()` after one relaxed load.
/// Only a thread's own attachment matters to it, and a thread sees its own increment.
static ATTACHED: AtomicUsize = AtomicUsize::new(0);

/// How long a waiting member sleeps between looks at the virtual clock.
const SLICE: Duration = Duration::from_micros(500);

/// How long every member must stay waiting without a deadline, nothing changing, before the
/// scope calls it a deadlock (real time: a thread outside the scope may still wake one).
pub(crate) const DEADLOCK_GRACE: Duration = Duration::from_millis(500);

thread_local! {
    static CURRENT: RefCell<Option<(Arc<Scope>, u64)>> = const { RefCell::new(None) };
}

/// This thread's virtual `now`, or `None` on the real clock.
#[inline]
pub(crate) fn now() -> Option<Instant> {
    if ATTACHED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    current_scope().map(|scope| scope.now())
}

/// Whether this thread belongs to a virtual-time scope.
#[inline]
pub(crate) fn attached() -> bool {
    ATTACHED.load(Ordering::Relaxed) != 0 && current().is_some()
}

/// The scope this thread belongs to.
pub(crate) fn current_scope() -> Option<Arc<Scope>> {
    current().map(|(scope, _)| scope)
}

fn current() -> Option<(Arc<Scope>, u64)> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// A homebound wait on this thread's virtual clock (see [`crate::clock::wait`]).
pub(crate) fn wait<R>(
    at: &'static Location<'static>,
    deadline: Option<Instant>,
    attempt: impl FnMut(Option<Instant>) -> Option<R>,
) -> Option<R> {
    match current() {
        Some((scope, id)) => scope.wait(id, at, deadline, attempt),
        None => {
            let mut attempt = attempt;
            attempt(deadline)
        }
    }
}

/// One virtual-time scope.
pub(crate) struct Scope {
    state: Mutex<State>,
    /// Wakes the clock thread: a member confirmed its wait, left, or the scope closed.
    changed: Condvar,
}

struct State {
    now: Instant,
    start: Instant,
    /// Bumped by every change a waiting member must look past before time may move.
    epoch: u64,
    next_id: u64,
    members: BTreeMap<u64, Member>,
    /// Context deadlines armed by members, in firing order.
    timers: BTreeMap<(Instant, u64), Entry>,
    /// Deadlines handed to the real timer once the scope closed, by id.
    moved: HashMap<u64, RealKey>,
    closed: Option<Closed>,
    deadlock: Option<Arc<str>>,
    /// The clock thread is cancelling contexts due at `now`: waits due at the same instant end
    /// only after it (deadlines fire before timed waits that end at the same instant).
    firing: bool,
}

struct Member {
    name: String,
    waiting: Option<Waiting>,
}

struct Waiting {
    at: &'static Location<'static>,
    deadline: Option<Instant>,
    /// The epoch a fruitless real slice confirmed, begun after that epoch started.
    confirmed: Option<u64>,
    /// A plain sleep: nothing but the clock can end it, so it never needs confirming.
    sleep: bool,
}

/// The real and virtual instants at which the scope closed: from then on its clock runs at the
/// real clock's pace, so threads that outlive it (a leak) still end their waits.
#[derive(Clone, Copy)]
struct Closed {
    real: Instant,
    virt: Instant,
}

impl Closed {
    fn to_real(self, at: Instant) -> Instant {
        match at.checked_duration_since(self.virt) {
            Some(later) => self.real.checked_add(later).unwrap_or(at),
            None => self.real.checked_sub(self.virt - at).unwrap_or(self.real),
        }
    }
}

impl State {
    fn waiting(&mut self, id: u64) -> Option<&mut Waiting> {
        self.members.get_mut(&id)?.waiting.as_mut()
    }

    fn set_waiting(&mut self, id: u64, waiting: Option<Waiting>) {
        if let Some(member) = self.members.get_mut(&id) {
            member.waiting = waiting;
        }
    }

    /// Every member waits, has confirmed the current epoch, and is not due to wake (a member
    /// whose deadline the clock reached is about to run).
    fn settled(&self) -> bool {
        !self.members.is_empty()
            && self.members.values().all(|m| {
                m.waiting.as_ref().is_some_and(|w| {
                    (w.sleep || w.confirmed == Some(self.epoch))
                        && w.deadline.is_none_or(|at| at > self.now)
                })
            })
    }

    /// The earliest deadline of a waiting member or an armed context.
    fn next_due(&self) -> Option<Instant> {
        let waits = self
            .members
            .values()
            .filter_map(|m| m.waiting.as_ref()?.deadline);
        let timer = self.timers.first_key_value().map(|((at, _), _)| *at);
        waits.chain(timer).min()
    }

    fn deadlock_report(&self) -> String {
        let mut report = format!(
            "homebound::testing::virtual_time: deadlock at {:?} of virtual time: every thread \
             of the scope is blocked in a homebound wait without a deadline, and no deadline \
             is armed:",
            self.now.duration_since(self.start)
        );
        self.list_members(&mut report);
        report
    }

    /// One line per member: where it waits and until when, or that it runs.
    fn list_members(&self, out: &mut String) {
        for member in self.members.values() {
            let _ = match &member.waiting {
                Some(w) => match w.deadline {
                    Some(at) => write!(
                        out,
                        "\n  thread '{}' blocked at {} until {:?}",
                        member.name,
                        w.at,
                        at.saturating_duration_since(self.start)
                    ),
                    None => write!(out, "\n  thread '{}' blocked at {}", member.name, w.at),
                },
                None => write!(
                    out,
                    "\n  thread '{}' running (or blocked outside homebound)",
                    member.name
                ),
            };
        }
    }
}

impl Scope {
    /// Opens a scope whose clock starts at the real `now`.
    pub(crate) fn new() -> Arc<Scope> {
        let now = Instant::now();
        Arc::new(Scope {
            state: Mutex::new(State {
                now,
                start: now,
                epoch: 0,
                next_id: 0,
                members: BTreeMap::new(),
                timers: BTreeMap::new(),
                moved: HashMap::new(),
                closed: None,
                deadlock: None,
                firing: false,
            }),
            changed: Condvar::new(),
        })
    }

    /// The scope's `now`.
    pub(crate) fn now(&self) -> Instant {
        let state = self.state.lock();
        match state.closed {
            Some(closed) => closed.virt + closed.real.elapsed(),
            None => state.now,
        }
    }

    /// The scope's threads, one line each: where each waits, or that it runs.
    pub(crate) fn dump(&self) -> String {
        let state = self.state.lock();
        let mut out = format!(
            "virtual time {:?}:",
            state.now.saturating_duration_since(state.start)
        );
        state.list_members(&mut out);
        out
    }

    /// Where the scope's clock started.
    pub(crate) fn start(&self) -> Instant {
        self.state.lock().start
    }

    /// The deadlock report, if the scope found one.
    pub(crate) fn deadlock(&self) -> Option<Arc<str>> {
        self.state.lock().deadlock.clone()
    }

    /// Whether the calling thread belongs to this scope.
    pub(crate) fn is_current(self: &Arc<Scope>) -> bool {
        current_scope().is_some_and(|s| Arc::ptr_eq(&s, self))
    }

    /// Registers a member that is about to start (or the calling thread, via `attach`).
    pub(crate) fn member(self: &Arc<Scope>) -> Membership {
        let mut state = self.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.epoch += 1;
        state.members.insert(
            id,
            Member {
                name: "<starting>".to_owned(),
                waiting: None,
            },
        );
        Membership(Some((self.clone(), id)))
    }

    fn leave(&self, id: u64) {
        let mut state = self.state.lock();
        state.members.remove(&id);
        state.epoch += 1;
        self.changed.notify_all();
    }

    /// Arms a context deadline on this scope's clock.
    pub(crate) fn insert_timer(self: &Arc<Scope>, at: Instant, entry: Entry) -> TimerKey {
        let mut state = self.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        match state.closed {
            Some(closed) => {
                let real = timer::insert_real(closed.to_real(at), entry);
                state.moved.insert(id, real);
            }
            None => {
                state.timers.insert((at, id), entry);
            }
        }
        TimerKey {
            scope: self.clone(),
            at,
            id,
        }
    }

    /// Ends the scope: its clock runs on at the real pace from here, its remaining context
    /// deadlines move to the real timer, and its clock thread stops.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        let closed = Closed {
            real: Instant::now(),
            virt: state.now,
        };
        state.closed = Some(closed);
        let timers = std::mem::take(&mut state.timers);
        for ((at, id), entry) in timers {
            let real = timer::insert_real(closed.to_real(at), entry);
            state.moved.insert(id, real);
        }
        state.epoch += 1;
        self.changed.notify_all();
    }

    /// The body of the scope's clock thread: moves time whenever every member is settled.
    pub(crate) fn drive(&self) {
        let mut state = self.state.lock();
        loop {
            if state.closed.is_some() {
                return;
            }
            if state.deadlock.is_none() && state.settled() {
                match state.next_due() {
                    Some(at) => {
                        state.now = state.now.max(at);
                        let now = state.now;
                        let mut due = Vec::new();
                        while let Some(entry) = state.timers.first_entry() {
                            if entry.key().0 > now {
                                break;
                            }
                            due.push(entry.remove());
                        }
                        if !due.is_empty() {
                            state.firing = true;
                            MutexGuard::unlocked(&mut state, || timer::fire(due));
                            state.firing = false;
                        }
                        state.epoch += 1;
                        self.changed.notify_all(); // sleepers
                        continue;
                    }
                    None => {
                        // Members keep confirming (and notifying) meanwhile: wait out the grace.
                        let epoch = state.epoch;
                        let until = Instant::now() + DEADLOCK_GRACE;
                        while state.epoch == epoch
                            && !self.changed.wait_until(&mut state, until).timed_out()
                        {
                        }
                        if state.closed.is_none()
                            && state.epoch == epoch
                            && state.settled()
                            && state.next_due().is_none()
                        {
                            state.deadlock = Some(state.deadlock_report().into());
                            state.epoch += 1;
                            self.changed.notify_all(); // sleepers
                        }
                        continue;
                    }
                }
            }
            self.changed.wait(&mut state);
        }
    }

    fn wait<R>(
        &self,
        id: u64,
        at: &'static Location<'static>,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(Option<Instant>) -> Option<R>,
    ) -> Option<R> {
        let mut state = self.state.lock();
        state.epoch += 1;
        state.set_waiting(
            id,
            Some(Waiting {
                at,
                deadline,
                confirmed: None,
                sleep: false,
            }),
        );
        loop {
            if let Some(report) = state.deadlock.clone() {
                state.set_waiting(id, None);
                let left = deadline.map(|at| at.saturating_duration_since(state.now));
                drop(state);
                if std::thread::panicking() {
                    // Unwinding from the deadlock already (a drop that waits): a second panic
                    // would abort, so wait what is left on the real clock instead.
                    return attempt(left.and_then(|left| Instant::now().checked_add(left)));
                }
                panic!("{report}");
            }
            if let Some(closed) = state.closed {
                state.set_waiting(id, None);
                drop(state);
                return attempt(deadline.map(|at| closed.to_real(at)));
            }
            if !state.firing && deadline.is_some_and(|at| state.now >= at) {
                state.set_waiting(id, None);
                return None;
            }
            let epoch = state.epoch;
            let got =
                MutexGuard::unlocked(&mut state, || attempt(Instant::now().checked_add(SLICE)));
            if got.is_some() {
                state.set_waiting(id, None);
                return got;
            }
            if let Some(waiting) = state.waiting(id) {
                waiting.confirmed = Some(epoch);
            }
            if epoch == state.epoch {
                self.changed.notify_all();
            }
        }
    }
}

impl Scope {
    /// A plain sleep of member `id` until `deadline`: it waits on the scope itself, woken each
    /// time the clock moves.
    fn sleep(&self, id: u64, at: &'static Location<'static>, deadline: Instant) {
        let mut state = self.state.lock();
        state.epoch += 1;
        state.set_waiting(
            id,
            Some(Waiting {
                at,
                deadline: Some(deadline),
                confirmed: None,
                sleep: true,
            }),
        );
        self.changed.notify_all();
        loop {
            if let Some(report) = state.deadlock.clone() {
                state.set_waiting(id, None);
                drop(state);
                if std::thread::panicking() {
                    return; // unwinding from the deadlock: a second panic would abort
                }
                panic!("{report}");
            }
            if let Some(closed) = state.closed {
                state.set_waiting(id, None);
                drop(state);
                let real = closed.to_real(deadline);
                std::thread::sleep(real.saturating_duration_since(Instant::now()));
                return;
            }
            if !state.firing && state.now >= deadline {
                state.set_waiting(id, None);
                return;
            }
            self.changed.wait(&mut state);
        }
    }
}

/// A plain sleep on this thread's virtual clock; `false` if the thread is in no scope.
pub(crate) fn sleep(at: &'static Location<'static>, deadline: Instant) -> bool {
    match current() {
        Some((scope, id)) => {
            scope.sleep(id, at, deadline);
            true
        }
        None => false,
    }
}

/// A member registered but not yet attached to its thread; dropping it unattached (the thread
/// could not be spawned) removes it.
pub(crate) struct Membership(Option<(Arc<Scope>, u64)>);

impl Membership {
    /// A member for a thread about to be spawned from the calling thread, if that is a member.
    pub(crate) fn for_spawn() -> Option<Membership> {
        if ATTACHED.load(Ordering::Relaxed) == 0 {
            return None;
        }
        current_scope().map(|scope| scope.member())
    }

    /// Makes the calling thread this member until the returned guard drops.
    pub(crate) fn attach(mut self) -> Attached {
        let (scope, id) = self.0.take().expect("attached once");
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        if let Some(member) = scope.state.lock().members.get_mut(&id) {
            member.name = name;
        }
        ATTACHED.fetch_add(1, Ordering::Relaxed);
        let previous = CURRENT.with(|c| c.borrow_mut().replace((scope.clone(), id)));
        Attached {
            scope,
            id,
            previous,
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some((scope, id)) = self.0.take() {
            scope.leave(id);
        }
    }
}

/// The calling thread's membership; dropping it leaves the scope.
pub(crate) struct Attached {
    scope: Arc<Scope>,
    id: u64,
    previous: Option<(Arc<Scope>, u64)>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
        ATTACHED.fetch_sub(1, Ordering::Relaxed);
        self.scope.leave(self.id);
    }
}

/// Where a context deadline armed on a virtual clock sits.
#[derive(Debug)]
pub(crate) struct TimerKey {
    scope: Arc<Scope>,
    at: Instant,
    id: u64,
}

impl TimerKey {
    /// Disarms the deadline; its cause, unless it already fired.
    pub(crate) fn remove(self) -> Option<Cause> {
        let mut state = self.scope.state.lock();
        if let Some((_, cause)) = state.timers.remove(&(self.at, self.id)) {
            return Some(cause);
        }
        let real = state.moved.remove(&self.id);
        drop(state);
        real.and_then(timer::remove_real)
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scope { .. }")
    }
}
