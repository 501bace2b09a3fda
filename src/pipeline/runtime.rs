//! One run of a pipeline: its threads, counters and first failure, and the teardown that joins
//! every thread and counts what was left in the links.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::error::{ErrorPolicy, Failure, FailureSlot};
use super::link::{Capacity, Chunk, DEFAULT_BUFFER};
use super::pulse;
use super::report::{Report, StageStats};
use crate::context::{Context, WakeGuard};
use crate::panic::{Panicked, drop_quietly};
use crate::threads::{self, JoinHandle};

/// One stage as the builder recorded it.
#[derive(Clone, Debug)]
pub(crate) struct StageMeta {
    pub(crate) kind: &'static str,
    pub(crate) name: Option<String>,
    pub(crate) workers: usize,
    pub(crate) policy: ErrorPolicy,
    /// Items that may wait between this stage and the next (`buffer`); setting it keeps the
    /// next stage out of this one's fused chain.
    pub(crate) buffer: Option<usize>,
    /// `unfused()`: this stage runs on threads of its own, never fused with the one before.
    pub(crate) unfused: bool,
    /// Source items one element of this stage's output stands for (a batch of `n` weighs `n`).
    pub(crate) weight: usize,
}

impl StageMeta {
    pub(crate) fn new(kind: &'static str, workers: usize, weight: usize) -> Self {
        StageMeta {
            kind,
            name: None,
            workers,
            policy: ErrorPolicy::FailFast,
            buffer: None,
            unfused: false,
            weight,
        }
    }
}

/// Everything the builder methods record; read when the run starts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// Index 0 is the source.
    pub(crate) stages: Vec<StageMeta>,
    pub(crate) ordered: bool,
    /// The first configuration error; the run returns it without starting anything.
    pub(crate) error: Option<String>,
    /// Graceful stop: the source stops taking input when this is cancelled.
    pub(crate) stop: Option<Context>,
    /// Items the consumer will receive, as the caller of `progress` says.
    #[cfg_attr(not(feature = "progress"), allow(dead_code))]
    pub(crate) total: Option<u64>,
    /// Items the source will produce, if it knows.
    #[cfg_attr(not(feature = "progress"), allow(dead_code))]
    pub(crate) source_len: Option<u64>,
    #[cfg_attr(not(feature = "progress"), allow(dead_code))]
    pub(crate) progress: bool,
}

impl Plan {
    /// The name a stage runs under.
    pub(crate) fn name(&self, index: usize) -> String {
        let meta = &self.stages[index];
        match &meta.name {
            Some(name) => name.clone(),
            None if index == 0 => "source".to_string(),
            None => format!("{}-{index}", meta.kind),
        }
    }

    /// Records the first configuration error.
    pub(crate) fn invalid(&mut self, message: String) {
        self.error.get_or_insert(message);
    }

    /// The capacity of the link after stage `index`.
    pub(crate) fn capacity_after(&self, index: usize) -> Capacity {
        let meta = &self.stages[index];
        Capacity::new(meta.buffer.unwrap_or(DEFAULT_BUFFER), meta.weight)
    }

    /// Whether stage `index` may run in the same chain as the stage before it.
    pub(crate) fn may_fuse(&self, index: usize) -> bool {
        index > 0 && !self.stages[index].unfused && self.stages[index - 1].buffer.is_none()
    }
}

/// Facts the source reports to the consumer.
#[derive(Debug, Default)]
pub(crate) struct SourceFlags {
    /// The source reached its end (or its intake was stopped) and sent everything it read.
    pub(crate) complete: AtomicBool,
    /// The source stopped because the intake context was cancelled.
    pub(crate) intake_stopped: AtomicBool,
}

/// A running pipeline.
pub(crate) struct Runtime {
    pub(crate) ctx: Context,
    pub(crate) plan: Plan,
    /// One per stage, then one for the consumer.
    pub(crate) stats: Vec<Arc<StageStats>>,
    pub(crate) failure: Arc<FailureSlot>,
    pub(crate) source: Arc<SourceFlags>,
    handles: Vec<(usize, JoinHandle<()>)>,
    /// Counters of what is left in each link, by the index of the stage it feeds.
    drains: Vec<(usize, Box<dyn FnOnce() -> usize + Send>)>,
    started: Instant,
    /// Cancelling the run (or stopping its intake) moves the pulse, so every stage looks up.
    _on_cancel: Vec<WakeGuard>,
    _pulse: pulse::Running,
    #[cfg(feature = "progress")]
    progress: Option<super::progress::Progress>,
    finished: bool,
}

impl Runtime {
    pub(crate) fn new(ctx: Context, plan: Plan) -> Self {
        let mut stats: Vec<_> = (0..plan.stages.len())
            .map(|i| Arc::new(StageStats::new(plan.name(i), plan.stages[i].workers)))
            .collect();
        stats.push(Arc::new(StageStats::new("sink".to_string(), 1)));
        let running = pulse::run();
        let mut on_cancel = vec![ctx.wake_on_cancel(pulse::bump)];
        if let Some(stop) = &plan.stop {
            on_cancel.push(stop.wake_on_cancel(pulse::bump));
        }
        Runtime {
            ctx,
            plan,
            stats,
            failure: Arc::default(),
            source: Arc::default(),
            handles: Vec::new(),
            drains: Vec::new(),
            started: Instant::now(),
            _on_cancel: on_cancel,
            _pulse: running,
            #[cfg(feature = "progress")]
            progress: None,
            finished: false,
        }
    }

    pub(crate) fn ordered(&self) -> bool {
        self.plan.ordered
    }

    pub(crate) fn workers(&self, index: usize) -> usize {
        self.plan.stages[index].workers
    }

    pub(crate) fn sink(&self) -> &Arc<StageStats> {
        &self.stats[self.stats.len() - 1]
    }

    /// Remembers `rx` so that whatever is left in it at the end counts as received and dropped
    /// by `stage`.
    pub(crate) fn add_drain<T: Send + 'static>(&mut self, stage: usize, rx: Receiver<Chunk<T>>) {
        let drain = move || {
            let chunks: Vec<Chunk<T>> = rx.try_iter().collect();
            let n = chunks.iter().map(|c| c.items.len()).sum();
            drop_quietly(chunks);
            n
        };
        self.drains.push((stage, Box::new(drain)));
    }

    /// Starts one worker of `stage`. A panic in `body` is caught, recorded as the run's failure
    /// (if first) and cancels the run; a thread that cannot start does the same.
    pub(crate) fn spawn(&mut self, stage: usize, body: impl FnOnce() + Send + 'static) {
        if self.ctx.is_cancelled() {
            return;
        }
        let stats = Arc::clone(&self.stats[stage]);
        let name = stats.name.clone();
        let (ctx, failure) = (self.ctx.clone(), Arc::clone(&self.failure));
        let span = crate::observe::Span::current();
        let spawned = threads::spawn(&name, move || {
            threads::owned_by(&ctx);
            let _span = span.entered();
            let born = Instant::now();
            if let Err(panic) = Panicked::catch(body) {
                let reason = format!("stage '{}' panicked", stats.name);
                failure.claim(Failure::Panicked {
                    stage: stats.name.clone(),
                    panic,
                });
                ctx.cancel_with(reason);
            }
            stats.add_alive(born.elapsed());
        });
        match spawned {
            Ok(handle) => self.handles.push((stage, handle)),
            Err(error) => {
                let reason = format!("stage '{name}' could not start");
                self.failure.claim(Failure::Spawn { stage: name, error });
                self.ctx.cancel_with(reason);
            }
        }
    }

    /// Starts the progress bar, if the plan asks for one.
    pub(crate) fn start_progress(&mut self) {
        #[cfg(feature = "progress")]
        if self.plan.progress {
            // Without a total given, the source's length is the consumer's if no stage changes
            // the count.
            let one_to_one = self.plan.stages[1..]
                .iter()
                .all(|m| matches!(m.kind, "map" | "inspect"));
            let total = self
                .plan
                .total
                .or(self.plan.source_len.filter(|_| one_to_one));
            self.progress = super::progress::Progress::start(Arc::clone(self.sink()), total);
        }
    }

    /// Joins every thread (they are all ending: the consumer saw the end, or the run was
    /// cancelled), counts what was left in the links, and reports.
    pub(crate) fn finish(&mut self) -> (Report, Option<Failure>) {
        self.join_all();
        for (stage, drain) in self.drains.drain(..) {
            let left = drain();
            self.stats[stage].add_in(left);
            self.stats[stage].add_dropped(left);
        }
        let mut stages: Vec<_> = self.stats.iter().map(|s| s.snapshot()).collect();
        // A fused stage's time was measured as part of its group's: the group's first stage
        // keeps the rest.
        for (i, stats) in self.stats.iter().enumerate() {
            if let Some(leader) = stats.leader() {
                let own = stages[i].busy;
                stages[leader].busy = stages[leader].busy.saturating_sub(own);
            }
        }
        let report = Report {
            stages,
            elapsed: self.started.elapsed(),
            cancelled: self.ctx.cause(),
            intake_stopped: self.source.intake_stopped.load(Ordering::Acquire),
        };
        report.stages.iter().for_each(crate::observe::stage_ended);
        (report, self.failure.take())
    }

    pub(crate) fn elapsed_since_start(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    fn join_all(&mut self) {
        for (stage, handle) in self.handles.drain(..) {
            // Worker bodies catch their panics; this only sees one raised while unwinding.
            if let Err(payload) = handle.join() {
                self.failure.claim(Failure::Panicked {
                    stage: self.stats[stage].name.clone(),
                    panic: Panicked::from_payload(payload),
                });
            }
        }
        #[cfg(feature = "progress")]
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
        self.finished = true;
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.finished {
            self.ctx.cancel_with("pipeline dropped before its end");
            self.join_all();
        }
    }
}
