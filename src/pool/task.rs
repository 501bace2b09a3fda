//! A pool task as the executor core carries it: who it is ([`PoolTask`]), the job type, and how
//! a pool task's end is recorded ([`Ending`], the pool's [`Host`]).
//!
//! A submitted task is one allocation: the closure lives in its result slot, which the queue
//! holds as a job and the handle as a [`SlotView`]. An executed task is one box with the closure
//! and its `PoolTask`.

use std::any::Any;
use std::sync::Arc;

use crate::context::{Cancelled, Cause, Context};
use crate::exec::job::{Host, Job, NotRun, Output, OwnedRun, Settled};
use crate::exec::slot::Slot;
use crate::panic::{Panicked, drop_caught, drop_quietly};
use crate::task::JoinError;
use crate::threads;

use super::builder::PanicHook;
use super::metrics::{add_own, bump};
use super::worker::{Shared, WorkerSlot};

/// Who a pool task is.
pub(crate) struct PoolTask {
    /// When it was submitted, in nanoseconds on the pool's clock (see `Shared::stamp`).
    pub(crate) enqueued: u64,
    /// The name and options, which most tasks leave empty, behind one pointer: a plain
    /// executed task's box then holds its closure and two words. Under glibc the size of that
    /// box is part of what a tiny task costs its submitter (see BENCHMARKS.md, `pool`).
    rare: Option<Box<Rare>>,
    pub(crate) span: crate::observe::Span,
}

/// What only some tasks have.
struct Rare {
    /// The name given with `submit_named`.
    name: Option<Box<str>>,
    /// The caller's context and deadline of a task submitted with `Pool::task`.
    opts: Option<super::task_builder::TaskOpts>,
}

impl PoolTask {
    /// A task without options (every `execute` and `submit`): inlined, so a plain task
    /// builds two words and never touches the rare box's code. Written out rather than as
    /// `with_opts(name, None, ..)`: that form cost 846 instructions per `execute` against
    /// 782 (callgrind, `benches/per_task.rs`).
    #[inline]
    pub(crate) fn new(name: Option<Box<str>>, enqueued: u64) -> Self {
        PoolTask {
            enqueued,
            rare: name.map(|name| {
                Box::new(Rare {
                    name: Some(name),
                    opts: None,
                })
            }),
            span: crate::observe::Span::current(),
        }
    }

    pub(crate) fn with_opts(
        name: Option<Box<str>>,
        opts: Option<super::task_builder::TaskOpts>,
        enqueued: u64,
    ) -> Self {
        PoolTask {
            enqueued,
            rare: (name.is_some() || opts.is_some()).then(|| Box::new(Rare { name, opts })),
            span: crate::observe::Span::current(),
        }
    }

    /// The name given with `submit_named`.
    pub(crate) fn name(&self) -> Option<&str> {
        self.rare.as_ref().and_then(|rare| rare.name.as_deref())
    }

    /// The options of a task submitted with `Pool::task`.
    pub(crate) fn opts(&self) -> Option<&super::task_builder::TaskOpts> {
        self.rare.as_ref().and_then(|rare| rare.opts.as_ref())
    }

    /// Neither a name nor options.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        self.rare.is_none()
    }

    /// Drops who the task was, with the fields most tasks leave empty (name, options) dropped
    /// out of line: a plain task's end then drops nothing.
    #[inline]
    pub(crate) fn drop_rare(self) {
        let PoolTask { rare, .. } = self;
        if let Some(rare) = rare {
            drop_rare_fields(rare);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_rare_fields(rare: Box<Rare>) {
    drop(rare);
}

/// What the pool's queue carries.
pub(crate) type PoolJob = Job<'static, Ending>;

/// The slot of a submitted task: closure, state and result in one allocation.
pub(crate) type TaskSlot<F, T> = Slot<PoolTask, T, F>;

/// An executed task: its closure and who it is, in one box. (The core's generic `Cell` with
/// no handle does the same through its result and outlet machinery; this is the pool's hot
/// path, so it records the end directly.)
pub(crate) struct Detached<F> {
    f: F,
    info: PoolTask,
}

impl<F> Detached<F> {
    pub(crate) fn new(f: F, info: PoolTask) -> Self {
        Detached { f, info }
    }

    /// The closure of a refused task.
    pub(crate) fn into_closure(self) -> F {
        self.f
    }
}

impl<F: FnOnce(&Context) + Send> OwnedRun<Ending> for Detached<F> {
    #[inline]
    fn run(self: Box<Self>, host: &Ending, ctx: &Context) {
        let Detached { f, info } = *self;
        match Panicked::catch(move || f(ctx)) {
            Ok(()) => host.ended(None),
            Err(panic) => {
                host.ended(Some(&panic));
                host.unread_panic(&info, panic);
            }
        }
        info.drop_rare();
    }

    fn not_run(self: Box<Self>, host: &Ending, why: NotRun) {
        let Detached { f, info } = *self;
        // Nobody reads the error: there is no handle.
        drop(host.not_run(&info, why));
        if let Err(panic) = drop_caught(f) {
            host.drop_panicked(&info, panic);
        }
    }

    fn abandon(self: Box<Self>) {
        let Detached { f, info } = *self;
        // Nobody to report to, and this may run while unwinding.
        drop_quietly(f);
        drop(info);
    }

    fn info(&self) -> &PoolTask {
        &self.info
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any>
    where
        Self: 'static,
    {
        self
    }
}

/// Where a pool task's end is recorded: a worker's own counters (and the pool's panic handler),
/// or, for a task `shutdown_now` handed back and the caller runs, only the panic handler.
pub(crate) struct Ending {
    worker: Option<(Arc<Shared>, Arc<WorkerSlot>)>,
    panic_handler: Option<PanicHook>,
}

impl Ending {
    pub(crate) fn worker(shared: Arc<Shared>, slot: Arc<WorkerSlot>) -> Self {
        let panic_handler = shared.cfg.panic_handler.clone();
        Ending {
            worker: Some((shared, slot)),
            panic_handler,
        }
    }

    pub(crate) fn caller(panic_handler: Option<PanicHook>) -> Self {
        Ending {
            worker: None,
            panic_handler,
        }
    }

    /// Counted before the handle sees the result, so a joiner's next `metrics()` already
    /// includes the task.
    #[inline]
    fn ended(&self, panicked: Option<&Panicked>) {
        crate::observe::task_panicked(panicked);
        if let Some((_, slot)) = &self.worker {
            // Only this worker's thread writes its counters.
            add_own(
                match panicked {
                    None => &slot.work.completed,
                    Some(_) => &slot.work.panicked,
                },
                1,
            );
        }
        if let (Some(panic), Some(handler)) = (panicked, &self.panic_handler)
            && Panicked::catch(|| handler(panic)).is_err()
        {
            self.hook_panicked();
        }
    }

    fn hook_panicked(&self) {
        if let Some((shared, _)) = &self.worker {
            bump(&shared.counters.workers.hook_panics);
        }
    }
}

impl Host for Ending {
    type Info = PoolTask;

    const CANCELS: bool = true;

    fn not_run(&self, _: &PoolTask, _: NotRun) -> JoinError {
        JoinError::NotStarted(Cancelled::new(Cause::Cancelled))
    }

    /// A detached result (or a closure that never ran) panicked as it was dropped: the task's
    /// own outcome is already recorded, so this counts with the pool's contained panics.
    fn drop_panicked(&self, _: &PoolTask, _: Panicked) {
        self.hook_panicked();
    }

    /// A task submitted with `execute` panicked and the pool has no panic handler: the panic
    /// goes to the thread registry's lost panics, which the leak check of the pool's creator
    /// reports (a worker's origin is its pool's creator).
    fn unread_panic(&self, _: &PoolTask, panic: Panicked) {
        if self.panic_handler.is_none() {
            threads::record_lost_panic(
                Some(threads::current_origin()),
                "a pool task without a handle (execute) and no panic handler",
                panic,
            );
        }
    }
}

impl<T> Output<Ending> for T {
    type Value = T;

    #[inline(always)]
    fn settle(ran: Result<T, Panicked>, host: &Ending, _: &PoolTask) -> Settled<T> {
        let result = match ran {
            Ok(value) => {
                host.ended(None);
                Ok(value)
            }
            Err(panic) => {
                host.ended(Some(&panic));
                Err(JoinError::Panicked(panic))
            }
        };
        Settled { result, won: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc's fast bins take chunks up to 128 bytes (a 120-byte request): a slot freed on
    /// another thread than the one that made it (a worker, a joiner) costs ~100 instructions
    /// and the arena lock more above that. A task capturing an `Arc` and a word stays below.
    #[test]
    fn a_small_submitted_task_stays_in_the_allocators_fast_sizes() {
        type Small = (Arc<u64>, u64);
        let arc_header = 2 * std::mem::size_of::<usize>();
        for size in [
            std::mem::size_of::<TaskSlot<Small, ()>>(),
            std::mem::size_of::<TaskSlot<Small, u64>>(),
        ] {
            assert!(arc_header + size <= 120, "slot of {size} bytes");
        }
    }

    /// Who a task is costs a plain task two words (the submit time, the pointer to the rare
    /// fields) besides its tracing span: the executed task's box is then its closure and those
    /// words, 32 bytes for a closure of an `Arc` and a word, a size class below the 64-byte
    /// chunk it took with the name and options inline (BENCHMARKS.md, `pool`).
    #[test]
    fn a_plain_task_carries_two_words_besides_its_span() {
        let span = std::mem::size_of::<crate::observe::Span>();
        assert_eq!(std::mem::size_of::<PoolTask>() - span, 16);
    }
}
