//! With the `tracing` feature: the span current at submit / spawn / pipeline start is the current
//! span around the work on the worker thread, and every lifecycle event is emitted exactly once.
//! A small recording subscriber (no tracing-subscriber needed) is installed process-wide, since
//! the work runs on homebound's threads; each test filters the records by its own names.
#![cfg(feature = "tracing")]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use homebound::pipeline::Pipeline;
use homebound::pool::Pool;
use homebound::shutdown::Shutdown;
use homebound::{Context, scope, threads};
use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

const BOUND: Duration = Duration::from_secs(10);

/// One event as the recorder saw it.
#[derive(Clone, Debug)]
struct Seen {
    message: String,
    fields: BTreeMap<String, String>,
    /// The innermost entered span on the emitting thread.
    span: Option<String>,
    thread: String,
}

#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, &'static Metadata<'static>>>,
    seen: Mutex<Vec<Seen>>,
}

thread_local! {
    static STACK: RefCell<Vec<Id>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.spans.lock().insert(id, attrs.metadata());
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let span = STACK.with(|s| s.borrow().last().cloned()).and_then(|id| {
            self.spans
                .lock()
                .get(&id.into_u64())
                .map(|m| m.name().to_string())
        });
        self.seen.lock().push(Seen {
            message: fields.remove("message").unwrap_or_default(),
            fields,
            span,
            thread: std::thread::current().name().unwrap_or("").to_string(),
        });
    }
    fn enter(&self, id: &Id) {
        STACK.with(|s| s.borrow_mut().push(id.clone()));
    }
    fn exit(&self, _: &Id) {
        STACK.with(|s| s.borrow_mut().pop());
    }
    fn current_span(&self) -> Current {
        match STACK.with(|s| s.borrow().last().cloned()) {
            Some(id) => match self.spans.lock().get(&id.into_u64()) {
                Some(meta) => Current::new(id, meta),
                None => Current::none(),
            },
            None => Current::none(),
        }
    }
}

fn recorder() -> &'static Arc<Recorder> {
    static RECORDER: OnceLock<Arc<Recorder>> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = Arc::new(Recorder::default());
        tracing::subscriber::set_global_default(Arc::clone(&recorder)).unwrap();
        recorder
    })
}

fn seen(pred: impl Fn(&Seen) -> bool) -> Vec<Seen> {
    recorder()
        .seen
        .lock()
        .iter()
        .filter(|s| pred(s))
        .cloned()
        .collect()
}

fn field(s: &Seen, name: &str) -> String {
    s.fields.get(name).cloned().unwrap_or_default()
}

#[test]
fn a_pool_task_runs_in_the_submitters_span_and_its_events_come_once() {
    recorder();
    let pool = Pool::builder()
        .name("trace-pool")
        .workers(2)
        .build()
        .unwrap();
    let handles: Vec<_> = {
        let span = tracing::info_span!("pool-request");
        let _entered = span.enter();
        (0..3)
            .map(|i| {
                pool.submit_named(&format!("traced-{i}"), move |_| {
                    tracing::info!(marker = "in-pool-task", i);
                })
                .unwrap()
            })
            .collect()
    };
    let panicky = pool
        .submit_named("traced-panic", |_| panic!("deliberate"))
        .unwrap();
    for h in handles {
        h.join().unwrap();
    }
    assert!(panicky.join().is_err());
    pool.resize(1, 3).unwrap();
    pool.shutdown();
    drop(pool); // a second shutdown, by the drop: no second event

    let inside = seen(|s| field(s, "marker") == "in-pool-task");
    assert_eq!(inside.len(), 3);
    for s in &inside {
        assert_eq!(s.span.as_deref(), Some("pool-request"), "{s:?}");
        assert!(s.thread.starts_with("homebound-trace-pool-"), "{s:?}");
    }
    for i in 0..3 {
        let task = format!("traced-{i}");
        let mine = |message: &'static str| {
            let task = task.clone();
            seen(move |s| s.message == message && field(s, "task") == task)
        };
        assert_eq!(mine("task started").len(), 1);
        let ended = mine("task ended");
        assert_eq!(ended.len(), 1);
        assert_eq!(field(&ended[0], "pool"), "trace-pool");
        assert!(ended[0].fields.contains_key("run_us"));
    }
    let panics = seen(|s| s.message == "task panicked" && field(s, "panic") == "deliberate");
    assert_eq!(panics.len(), 1);
    let shut = seen(|s| s.message == "pool shut down" && field(s, "pool") == "trace-pool");
    assert_eq!(shut.len(), 1);
    assert_eq!(field(&shut[0], "joined"), "2");
    let resized = seen(|s| s.message == "pool resized" && field(s, "pool") == "trace-pool");
    assert_eq!(resized.len(), 1);
    assert_eq!(field(&resized[0], "max_workers"), "3");
    threads::assert_none_alive(BOUND);
}

#[test]
fn a_group_task_runs_in_the_spawners_span() {
    recorder();
    let span = tracing::info_span!("group-request");
    let _entered = span.enter();
    scope(&Context::new(), |g| {
        g.spawn_named("trace-group-task", |_| {
            tracing::info!(marker = "in-group-task");
            Ok::<_, ()>(())
        });
    })
    .unwrap();
    let inside = seen(|s| field(s, "marker") == "in-group-task");
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].span.as_deref(), Some("group-request"));
    assert!(inside[0].thread.starts_with("homebound-trace-group-task-"));
    let mine = |message: &'static str| {
        seen(move |s| s.message == message && field(s, "task") == "trace-group-task")
    };
    assert_eq!(mine("group task started").len(), 1);
    let ended = mine("group task ended");
    assert_eq!(ended.len(), 1);
    assert!(ended[0].fields.contains_key("run_us"));

    let err = scope(&Context::new(), |g| {
        g.spawn_named("trace-group-panic", |_| -> Result<(), ()> {
            panic!("group deliberate")
        });
    })
    .unwrap_err();
    assert!(err.is_panicked());
    let panics = seen(|s| s.message == "task panicked" && field(s, "panic") == "group deliberate");
    assert_eq!(panics.len(), 1);
    threads::assert_none_alive(BOUND);
}

#[test]
fn pipeline_stages_run_in_the_starters_span_and_each_stage_ends_once() {
    recorder();
    let ctx = Context::new();
    let span = tracing::info_span!("pipe-request");
    let (items, _) = {
        let _entered = span.enter();
        Pipeline::from_iter(&ctx, 0..10u32)
            .map(2, |x| {
                tracing::info!(marker = "in-stage");
                x * 2
            })
            .named("trace-double")
            .collect()
            .unwrap()
    };
    assert_eq!(items.len(), 10);
    let inside = seen(|s| field(s, "marker") == "in-stage");
    assert_eq!(inside.len(), 10);
    assert!(
        inside
            .iter()
            .all(|s| s.span.as_deref() == Some("pipe-request"))
    );
    assert!(inside.iter().all(|s| s.thread.starts_with("homebound-")));
    let ended = seen(|s| s.message == "stage ended" && field(s, "stage") == "trace-double");
    assert_eq!(ended.len(), 1);
    assert_eq!(field(&ended[0], "items_in"), "10");
    threads::assert_none_alive(BOUND);
}

#[test]
fn shutdown_phases_are_events() {
    recorder();
    let mut shutdown = Shutdown::new();
    shutdown
        .service("trace-once", |_ctx| Ok::<(), String>(()))
        .unwrap();
    let report = shutdown.wait();
    assert!(report.is_ok());
    // Other tests in this binary run no Shutdown: these are this one's.
    assert_eq!(seen(|s| s.message == "shutdown began").len(), 1);
    let ended = seen(|s| s.message == "shutdown ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(field(&ended[0], "forced"), "0");
    threads::assert_none_alive(BOUND);
}
