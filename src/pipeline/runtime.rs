//! One run of a pipeline: its threads, counters and first failure, and the teardown that joins
//! every thread and counts what was left in the links.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::chunk::{Chunk, LINK_CAPACITY};
use super::error::{ErrorPolicy, Failure, FailureSlot};
use super::report::{Report, StageStats};
use crate::context::Context;
use crate::panic::Panicked;
use crate::threads::{self, JoinHandle};

/// The receiving end of a link, as the builder hands it to the next stage.
pub(crate) struct Link<T> {
    pub(crate) rx: Receiver<Chunk<T>>,
    /// Ordered pipelines: gives credits back to the start of the current segment.
    pub(crate) credits: Option<Sender<()>>,
}

/// One stage as the builder recorded it.
#[derive(Clone, Debug)]
pub(crate) struct StageMeta {
    pub(crate) kind: &'static str,
    pub(crate) name: Option<String>,
    pub(crate) workers: usize,
    pub(crate) policy: ErrorPolicy,
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
    /// Items the source will produce, if known (for the progress bar).
    pub(crate) total: Option<u64>,
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
        Runtime {
            ctx,
            plan,
            stats,
            failure: Arc::default(),
            source: Arc::default(),
            handles: Vec::new(),
            drains: Vec::new(),
            started: Instant::now(),
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

    /// Reorder window (in chunks) of the ordered segment that starts at stage `index`: room
    /// for every link and two chunks per worker up to the next sequence point, so the window
    /// only binds when one chunk is much slower than the others.
    pub(crate) fn window_after(&self, index: usize) -> usize {
        let stages = &self.plan.stages;
        let mut window = LINK_CAPACITY;
        for meta in stages.iter().skip(index + 1) {
            if meta.workers <= 1 {
                break;
            }
            window += LINK_CAPACITY + 2 * meta.workers;
        }
        window
    }

    /// Remembers `rx` so that whatever is left in it at the end counts as dropped by `stage`.
    pub(crate) fn add_drain<T: Send + 'static>(&mut self, stage: usize, rx: Receiver<Chunk<T>>) {
        let drain = move || rx.try_iter().map(|chunk| chunk.items.len()).sum();
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
        let spawned = threads::spawn(&name, move || {
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
            self.progress =
                super::progress::Progress::start(Arc::clone(&self.stats[0]), self.plan.total);
        }
    }

    /// Joins every thread (they are all ending: the consumer saw the end, or the run was
    /// cancelled), counts what was left in the links, and reports.
    pub(crate) fn finish(&mut self) -> (Report, Option<Failure>) {
        self.join_all();
        for (stage, drain) in self.drains.drain(..) {
            self.stats[stage].add_dropped(drain());
        }
        let report = Report {
            stages: self.stats.iter().map(|s| s.snapshot()).collect(),
            elapsed: self.started.elapsed(),
            cancelled: self.ctx.cause(),
            intake_stopped: self.source.intake_stopped.load(Ordering::Acquire),
        };
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
