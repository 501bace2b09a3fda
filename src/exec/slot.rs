//! A task's result slot and the state machine its handle and its runner share.
//!
//! # Invariants
//!
//! 1. `stage` only moves forward: `Queued → Running → Finished`, or `Queued → Skipped` (ended
//!    without running: cancelled through the handle, reported as not run, or abandoned).
//!    Whoever moves it out of `Queued` takes the closure (when the slot holds it), so a closure
//!    runs at most once and a skipped task never starts.
//! 2. `result` is `Some` from the moment `stage` becomes terminal until the handle takes it.
//! 3. No user code runs and no user value is dropped while `inner` is locked: closures, results
//!    and contexts are moved out first and dropped after unlocking.

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use super::chan::{self, Receiver, Sender};
use super::job::{Host, NotRun, Output, Settled, SharedRun, abandoned};
use crate::context::Context;
use crate::panic::{Panicked, drop_caught, drop_quietly};
use crate::shim::{Condvar, Mutex};
use crate::task::JoinError;

pub(crate) struct Slot<I, V, F = ()> {
    info: I,
    inner: Mutex<Inner<V, F>>,
    ended: Condvar,
}

struct Inner<V, F> {
    stage: Stage<F>,
    /// The error is boxed: a `Panicked` is large and rare, and a small task allocation stays
    /// in the allocator's fast size classes when it is freed on another thread.
    result: Option<Result<V, Box<JoinError>>>,
    /// A helping joiner waits on this as well as on its queue, or an awaiting one gets its
    /// `Waker` called; taken when the task ends. Boxed: rare, and the slot stays small (see
    /// `result`; with the `tracing` feature a task's info is a word longer).
    waker: Option<Box<Joiner>>,
}

enum Stage<F> {
    /// Accepted and not started; holds the closure when it lives here.
    Queued(F),
    /// Running; with the task's context when its handle may cancel it.
    Running(Option<Context>),
    /// Ran (to a value, an error or a panic); `true` if it was the first success of its group
    /// (a race's winner). Kept in the stage rather than beside it: a submitted task's slot must
    /// stay within the allocator's fast size classes (see `result`).
    Finished(bool),
    /// Ended without running.
    Skipped,
}

impl<F> Stage<F> {
    fn is_terminal(&self) -> bool {
        matches!(self, Stage::Finished(_) | Stage::Skipped)
    }
}

/// Who waits for the task to end, besides threads on the condition variable.
enum Joiner {
    /// Dropped when the task ends, which disconnects the joiner's receiver.
    Chan(#[allow(dead_code)] Sender<()>),
    /// Woken when the task ends.
    Task(Waker),
}

/// Wakes an awaiting joiner, or disconnects a helping one's channel: after the slot's lock is
/// released. Out of line: most joiners find the task ended, or wait on the condition variable.
#[inline(never)]
fn wake(joiner: Joiner) {
    if let Joiner::Task(waker) = joiner {
        // An executor's waker only schedules its task; should one panic anyway, the task's
        // end is recorded already and the runner must carry on.
        if let Err(panic) = Panicked::catch(move || waker.wake()) {
            drop_quietly(panic);
        }
    }
}

impl<I, V, F> Slot<I, V, F> {
    /// A slot for a queued task (holding its closure, or `()`).
    pub(crate) fn new(info: I, closure: F) -> Self {
        Slot {
            info,
            inner: Mutex::new(Inner {
                stage: Stage::Queued(closure),
                result: None,
                waker: None,
            }),
            ended: Condvar::default(),
        }
    }

    /// A slot for a task that ended before it was queued.
    pub(crate) fn skipped(info: I, error: JoinError) -> Self {
        Slot {
            info,
            inner: Mutex::new(Inner {
                stage: Stage::Skipped,
                result: Some(Err(Box::new(error))),
                waker: None,
            }),
            ended: Condvar::default(),
        }
    }

    pub(crate) fn info(&self) -> &I {
        &self.info
    }

    /// Moves `Queued → Running`, taking the closure; `None` if it is not queued any more.
    #[inline]
    fn start(&self, ctx: Option<&Context>) -> Option<F> {
        let mut inner = self.inner.lock();
        if !matches!(inner.stage, Stage::Queued(_)) {
            return None;
        }
        match std::mem::replace(&mut inner.stage, Stage::Running(ctx.cloned())) {
            Stage::Queued(f) => Some(f),
            _ => unreachable!("checked above"),
        }
    }

    /// Records how the task ended and wakes its joiners.
    #[inline]
    pub(crate) fn end(&self, settled: Settled<V>) {
        let Settled { result, won } = settled;
        self.finish(Stage::Finished(won), result);
    }

    /// Moves a started task (`Running`) to its terminal `stage` with `result`. Always inlined:
    /// a worker ends every task it runs, and the call alone cost a sixth of its end.
    #[inline(always)]
    fn finish(&self, stage: Stage<F>, result: Result<V, JoinError>) {
        // Boxed before the lock: only an error allocates.
        let result = result.map_err(Box::new);
        let mut inner = self.inner.lock();
        let before = std::mem::replace(&mut inner.stage, stage);
        inner.result = Some(result);
        let joiner = inner.waker.take();
        drop(inner);
        self.ended.notify_all();
        // The running task's context clone (`Running`; the closure was taken when it
        // started): its runner still holds the context, so this only counts down.
        drop(before);
        if let Some(joiner) = joiner {
            wake(*joiner);
        }
    }

    /// Moves `Queued → Running` without a context, taking the closure (for a task that will
    /// not run: the caller then ends it as skipped).
    fn take_queued(&self) -> Option<F> {
        self.start(None)
    }

    fn skip(&self, error: JoinError) {
        self.finish(Stage::Skipped, Err(error));
    }

    /// Takes the closure back from a task the executor refused (nobody else has seen it).
    pub(crate) fn take_back(&self) -> Option<F> {
        let mut inner = self.inner.lock();
        match std::mem::replace(&mut inner.stage, Stage::Skipped) {
            Stage::Queued(f) => Some(f),
            other => {
                inner.stage = other;
                None
            }
        }
    }

    /// Waits until the task has ended (or `deadline` passes: `None`) and takes its result.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<Result<V, JoinError>> {
        let inner = self.inner.lock();
        let mut inner = self
            .ended
            .wait_while(inner, deadline, |inner| !inner.stage.is_terminal());
        if !inner.stage.is_terminal() {
            return None;
        }
        // Only a consuming `join` takes, so the result is still there.
        inner.result.take().map(|r| r.map_err(|e| *e))
    }

    /// Takes the result of an ended task whose slot nobody else holds any more (its runner
    /// has let go), without the lock: the caller is the last holder. Otherwise the slot comes
    /// back, for [`wait`](Slot::wait). The error stays boxed: the common `Ok` moves one word.
    #[inline]
    pub(crate) fn join_unshared(
        mut this: Arc<Self>,
    ) -> Result<Result<V, Box<JoinError>>, Arc<Self>> {
        let Some(slot) = Arc::get_mut(&mut this) else {
            return Err(this);
        };
        let state = slot.inner.get_mut();
        // Every runner ends the task before it lets go, so an unshared slot has ended (should
        // one not have, the caller waits as usual).
        match state.result.take() {
            Some(result) => Ok(result),
            None => Err(this),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.inner.lock().stage.is_terminal()
    }

    pub(crate) fn is_winner(&self) -> bool {
        let inner = self.inner.lock();
        matches!(inner.stage, Stage::Finished(true))
    }

    /// Whether it ended without running.
    pub(crate) fn is_skipped(&self) -> bool {
        matches!(self.inner.lock().stage, Stage::Skipped)
    }

    /// Cancels: a queued task will never start (its closure is dropped here); a running one
    /// has its context cancelled. Returns whether this call stopped the task from starting.
    pub(crate) fn cancel(&self) -> bool {
        let inner = self.inner.lock();
        match &inner.stage {
            Stage::Queued(_) => {
                drop(inner);
                match self.take_queued() {
                    Some(f) => {
                        self.skip(abandoned());
                        drop_quietly(f);
                        true
                    }
                    None => false,
                }
            }
            Stage::Running(ctx) => {
                let ctx = ctx.clone();
                drop(inner);
                if let Some(ctx) = ctx {
                    ctx.cancel();
                }
                false
            }
            Stage::Finished(_) | Stage::Skipped => false,
        }
    }

    /// For a joiner that waits on something else too: a receiver that becomes ready
    /// (disconnected) when the task ends; `None` if it has ended already.
    pub(crate) fn waker(&self) -> Option<Receiver<()>> {
        let mut inner = self.inner.lock();
        if inner.stage.is_terminal() {
            return None;
        }
        let (tx, rx) = chan::bounded(1);
        inner.waker = Some(Box::new(Joiner::Chan(tx)));
        Some(rx)
    }

    /// For a joiner that awaits: `waker` is woken when the task ends (replacing a waker given
    /// before). Returns whether the task has ended already (nothing is registered then).
    pub(crate) fn wake_on_end(&self, waker: &Waker) -> bool {
        let mut inner = self.inner.lock();
        if inner.stage.is_terminal() {
            return true;
        }
        if let Some(current) = &inner.waker
            && let Joiner::Task(current) = &**current
            && current.will_wake(waker)
        {
            return false;
        }
        let old = inner.waker.replace(Box::new(Joiner::Task(waker.clone())));
        drop(inner);
        // A replaced waker is not woken: its task polls again with the new one.
        drop(old);
        false
    }

    /// The closure of a queued task whose slot nobody else holds any more (its handle was
    /// dropped, and nobody waits on it): taken without the lock, which nobody else can take.
    /// The slot then counts as finished. `None` otherwise (the caller takes the locked path).
    #[inline]
    fn take_unshared(this: &mut Arc<Self>) -> Option<F> {
        let inner = Arc::get_mut(this)?.inner.get_mut();
        if !matches!(inner.stage, Stage::Queued(_)) || inner.waker.is_some() {
            return None;
        }
        match std::mem::replace(&mut inner.stage, Stage::Finished(false)) {
            Stage::Queued(f) => Some(f),
            _ => unreachable!("checked above"),
        }
    }

    /// Ends a task whose slot nobody else holds (see [`take_unshared`](Slot::take_unshared)):
    /// its result is dropped here, contained, and a panic from its `Drop` reported.
    fn drop_unread<X: Host<Info = I>>(&self, host: &X, result: Result<V, JoinError>) {
        let dropped = match result {
            Ok(value) if std::mem::needs_drop::<V>() => drop_caught(value),
            Ok(_) => Ok(()),
            Err(error) => drop_caught(error),
        };
        if let Err(panic) = dropped {
            host.drop_panicked(&self.info, panic);
        }
    }

    /// Ends a task run elsewhere (an owned job's closure) and gives up this reference: when
    /// nobody else holds the slot (its handle is gone) the result is dropped at once, without
    /// the lock; otherwise as [`end`](Slot::end) then [`release`](Slot::release).
    pub(crate) fn end_and_release<X: Host<Info = I>>(
        mut self: Arc<Self>,
        host: &X,
        settled: Settled<V>,
    ) {
        if Slot::take_unshared(&mut self).is_some() {
            self.drop_unread(host, settled.result);
            return;
        }
        self.end_shared(host, settled);
    }

    /// [`end`](Slot::end) then [`release`](Slot::release): out of line, so that the unshared
    /// path of [`end_and_release`](Slot::end_and_release) keeps a light frame.
    #[inline(never)]
    fn end_shared<X: Host<Info = I>>(self: Arc<Self>, host: &X, settled: Settled<V>) {
        self.end(settled);
        self.release(host);
    }

    /// Gives up one reference after the task ended: if it was the last (the handle is gone),
    /// the result nobody will read is dropped here, and a panic from its `Drop` is reported.
    #[inline]
    pub(crate) fn release<X: Host<Info = I>>(self: Arc<Self>, host: &X) {
        // `into_inner` rather than `drop`: exactly one of the runner and the handle sees the
        // last reference, so a result is never dropped here while a handle could still read it.
        if let Some(slot) = Arc::into_inner(self) {
            slot.drop_last(host);
        }
    }

    /// Drops a slot whose last reference was given up without reading its result.
    #[inline(never)]
    fn drop_last<X: Host<Info = I>>(self, host: &X) {
        let Slot {
            info, mut inner, ..
        } = self;
        let state = inner.get_mut();
        // The task has ended (its closure and waker are gone): only the result may hold a user
        // value, and a value with nothing to drop needs no guard.
        let dropped = if matches!(state.stage, Stage::Queued(_)) {
            drop_caught(inner)
        } else {
            match state.result.take() {
                Some(Ok(value)) if std::mem::needs_drop::<V>() => drop_caught(value),
                Some(Ok(_)) | None => Ok(()),
                Some(Err(error)) => drop_caught(error),
            }
        };
        if let Err(panic) = dropped {
            host.drop_panicked(&info, panic);
        }
    }
}

impl<I, V, F> Slot<I, V, F> {
    /// Runs a task whose handle is still held: the closure is taken and the result put under
    /// the lock. Out of line, so that the unshared path (a dropped handle) keeps a light frame.
    #[inline(never)]
    fn run_shared<X, R>(self: Arc<Self>, host: &X, ctx: &Context) -> bool
    where
        X: Host<Info = I>,
        F: FnOnce(&Context) -> R,
        R: Output<X, Value = V>,
    {
        let Some(f) = self.start(X::CANCELS.then_some(ctx)) else {
            return false;
        };
        let settled = R::settle(Panicked::catch(move || f(ctx)), host, &self.info);
        self.end(settled);
        self.release(host);
        true
    }
}

impl<X, F, R> SharedRun<X> for Slot<X::Info, R::Value, F>
where
    X: Host,
    F: FnOnce(&Context) -> R + Send,
    R: Output<X>,
    R::Value: Send,
{
    fn run(mut self: Arc<Self>, host: &X, ctx: &Context) -> bool {
        if let Some(f) = Slot::take_unshared(&mut self) {
            // Its handle is gone (a submit whose handle was not kept): nobody else can reach
            // the slot, so the task runs without its lock and its result, which nobody will
            // read, dies here.
            let settled = R::settle(Panicked::catch(move || f(ctx)), host, &self.info);
            self.drop_unread(host, settled.result);
            return true;
        }
        self.run_shared(host, ctx)
    }

    fn not_run(self: Arc<Self>, host: &X, why: NotRun) {
        if let Some(f) = self.take_queued() {
            self.skip(host.not_run(&self.info, why));
            if let Err(panic) = drop_caught(f) {
                host.drop_panicked(&self.info, panic);
            }
        }
        self.release(host);
    }

    fn abandon(self: Arc<Self>) {
        if let Some(f) = self.take_queued() {
            self.skip(abandoned());
            drop_quietly(f);
        }
        drop_quietly(self);
    }

    fn info(&self) -> &X::Info {
        &self.info
    }

    fn is_cancelled(&self) -> bool {
        self.is_skipped()
    }
}

/// A handle's view of its task's slot, whatever closure the slot held.
pub(crate) trait SlotView<I, V>: Send + Sync {
    /// Takes the result of an ended task whose slot nobody else holds any more, without the
    /// lock or a wait; otherwise the slot comes back (the task may still be queued or running,
    /// or its runner has not let go of it yet).
    #[allow(clippy::type_complexity)]
    fn join_unshared(self: Arc<Self>)
    -> Result<Result<V, Box<JoinError>>, Arc<dyn SlotView<I, V>>>;
    fn wait(&self, deadline: Option<Instant>) -> Option<Result<V, JoinError>>;
    fn is_finished(&self) -> bool;
    fn cancel(&self) -> bool;
    fn waker(&self) -> Option<Receiver<()>>;
    fn wake_on_end(&self, waker: &Waker) -> bool;
}

impl<I: Send + Sync + 'static, V: Send + 'static, F: Send + 'static> SlotView<I, V>
    for Slot<I, V, F>
{
    #[inline]
    fn join_unshared(
        self: Arc<Self>,
    ) -> Result<Result<V, Box<JoinError>>, Arc<dyn SlotView<I, V>>> {
        Slot::join_unshared(self).map_err(|this| this as Arc<dyn SlotView<I, V>>)
    }

    fn wait(&self, deadline: Option<Instant>) -> Option<Result<V, JoinError>> {
        Slot::wait(self, deadline)
    }

    fn is_finished(&self) -> bool {
        Slot::is_finished(self)
    }

    fn cancel(&self) -> bool {
        Slot::cancel(self)
    }

    fn waker(&self) -> Option<Receiver<()>> {
        Slot::waker(self)
    }

    fn wake_on_end(&self, waker: &Waker) -> bool {
        Slot::wake_on_end(self, waker)
    }
}

/// Loom models of the slot's two shortcuts racing its locked paths: a join that takes the
/// result without the lock when the runner has let go, and a run without the lock when the
/// handle has. Under `--cfg loom` the slot's lock and condition variable are loom's; the `Arc`
/// counts are std's, so the models check every interleaving of the locked steps around them.
///
/// Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib loom_slot`.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use loom::thread;

    use super::*;

    struct TestHost;

    impl Host for TestHost {
        type Info = ();
        const CANCELS: bool = true;
        fn not_run(&self, _: &(), _: NotRun) -> JoinError {
            abandoned()
        }
        fn drop_panicked(&self, _: &(), _: Panicked) {
            panic!("no value in these models panics in its drop");
        }
    }

    /// A value that counts its drops: a task's result, or what its closure captures.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    impl Output<TestHost> for Counted {
        type Value = Counted;

        fn settle(ran: Result<Counted, Panicked>, _: &TestHost, _: &()) -> Settled<Counted> {
            Settled {
                result: ran.map_err(JoinError::Panicked),
                won: false,
            }
        }
    }

    /// A submitted task's slot, its job, and the counters of its result's and its closure's
    /// drops.
    #[allow(clippy::type_complexity)]
    fn submitted() -> (
        Arc<dyn SlotView<(), Counted>>,
        Arc<dyn SharedRun<TestHost>>,
        Arc<AtomicUsize>,
        Arc<AtomicUsize>,
    ) {
        let results = Arc::new(AtomicUsize::new(0));
        let closures = Arc::new(AtomicUsize::new(0));
        let (result, capture) = (Arc::clone(&results), Counted(Arc::clone(&closures)));
        let slot = Arc::new(Slot::new((), move |_: &Context| {
            let _capture = capture;
            Counted(result)
        }));
        (slot.clone(), slot, results, closures)
    }

    fn join(slot: Arc<dyn SlotView<(), Counted>>) -> Result<Counted, JoinError> {
        match slot.join_unshared() {
            Ok(ended) => ended.map_err(|e| *e),
            Err(slot) => slot.wait(None).expect("an untimed wait ends"),
        }
    }

    /// A join racing the run gets the value exactly once, whichever of the two lets go of the
    /// slot last, and the pool side never drops it.
    #[test]
    fn loom_slot_a_join_racing_the_run_takes_the_result_once() {
        loom::model(|| {
            let (handle, job, results, closures) = submitted();
            let worker = thread::spawn(move || assert!(job.run(&TestHost, &Context::new())));
            let value = join(handle).ok().expect("the task returned");
            assert_eq!(results.load(SeqCst), 0);
            drop(value);
            worker.join().unwrap();
            assert_eq!((results.load(SeqCst), closures.load(SeqCst)), (1, 1));
        });
    }

    /// A handle dropped while the task is queued, running or ending: the result nobody reads
    /// is dropped exactly once, by whichever side lets go last.
    #[test]
    fn loom_slot_a_handle_dropped_during_the_run_drops_the_result_once() {
        loom::model(|| {
            let (handle, job, results, closures) = submitted();
            let worker = thread::spawn(move || assert!(job.run(&TestHost, &Context::new())));
            drop(handle);
            worker.join().unwrap();
            assert_eq!((results.load(SeqCst), closures.load(SeqCst)), (1, 1));
        });
    }

    /// A cancel racing the start: either the cancel wins (the closure is dropped unrun and the
    /// join says `NotStarted`) or the run does (the join gets the value); never both, never
    /// neither.
    #[test]
    fn loom_slot_a_cancel_racing_the_run_ends_the_task_one_way() {
        loom::model(|| {
            let (handle, job, results, closures) = submitted();
            let worker = thread::spawn(move || job.run(&TestHost, &Context::new()));
            let stopped = handle.cancel();
            let ran = worker.join().unwrap();
            assert_ne!(stopped, ran);
            match join(handle) {
                Ok(value) => {
                    assert!(ran);
                    drop(value);
                }
                Err(e) => assert!(!ran && matches!(e, JoinError::NotStarted(_))),
            }
            assert_eq!(results.load(SeqCst), usize::from(ran));
            assert_eq!(closures.load(SeqCst), 1);
        });
    }
}
