//! A real-time processor with a latency budget (the Go handbook's "实时数据处理系统": consume →
//! parse JSON → compute → batch-write to a database, "QPS 10000, latency < 100 ms").
//!
//! A producer thread enqueues JSON messages at a steady 10,000/s into a bounded channel (the
//! queue); a homebound `Pipeline` reads it (`from_receiver`), parses each message with
//! `serde_json`, computes a score, and groups the results into batches, which a `Pool` worker
//! writes to SQLite, one transaction per batch (a periodic job checkpoints the log off the
//! write path). Every message's end-to-end latency, from
//! enqueue to committed, is recorded.
//!
//! The stop is graceful and goes through `Shutdown`: on SIGINT/SIGTERM (the example sends
//! itself SIGTERM after its run time) the producer stops, the pipeline drains the queue and
//! flushes its open batch, the writer pool commits what it holds, and the example checks
//! that every message produced is in the database exactly once. It then prints the throughput,
//! p50/p99 and the latency histogram, and checks the budget: 10,000 msg/s sustained, p99 under
//! 100 ms. On a busy CI machine (`CI` set) a missed latency budget is reported, not failed.
//!
//! ```sh
//! cargo run --release --all-features --example realtime                 # 10 s at 10,000 msg/s
//! cargo run --release --all-features --example realtime -- 20000 5      # rate, seconds
//! HOMEBOUND_QUICK=1 cargo run --release --all-features --example realtime   # 3 s
//! ```

#[path = "support/latency.rs"]
mod latency;
#[path = "support/store.rs"]
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use homebound::periodic::every;
use homebound::pipeline::{ErrorPolicy, Pipeline};
use homebound::pool::Pool;
use homebound::shutdown::Shutdown;
use homebound::{Context, threads};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use self::latency::Latencies;
use self::store::{Row, TempDb};

/// The budget the seed sets: p99 end-to-end latency under this.
const P99_BUDGET: Duration = Duration::from_millis(100);
/// A batch is written when it has this many messages, or this long after its first one.
const BATCH_MAX: usize = 1000;
const BATCH_WAIT: Duration = Duration::from_millis(10);

/// How far the producer got: messages enqueued, and when it last enqueued (µs after the start).
#[derive(Debug, Default)]
struct Produced {
    count: AtomicU64,
    began_us: AtomicU64,
    until_us: AtomicU64,
}

impl Produced {
    /// From the first enqueue to the last.
    fn took(&self) -> Duration {
        let (began, until) = (self.began_us.load(Relaxed), self.until_us.load(Relaxed));
        Duration::from_micros(until.saturating_sub(began))
    }
}

/// A message as it travels on the queue.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    id: u64,
    sensor: u32,
    value: f64,
    /// When it was enqueued, in µs after the run's start.
    enqueued_us: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let (rate, run_for) = parse_args(quick)?;
    let start = Instant::now();
    let db = TempDb::new("homebound-realtime");
    let conn = Arc::new(Mutex::new(store::open(&db.path)?));
    let latencies = Arc::new(Latencies::default());
    let produced = Arc::new(Produced::default());
    let write_errors = Arc::new(AtomicU64::new(0));
    // SQLite takes one writer at a time: one worker, with a queue of batches behind it.
    let writer = Arc::new(
        Pool::builder()
            .name("sqlite-writer")
            .workers(1)
            .queue_capacity(64)
            .build()?,
    );

    let (tx, rx) = crossbeam_channel::bounded::<String>(4 * rate as usize / 10 + 1024);
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(10));
    shutdown.on_signals()?;
    let counter = Arc::clone(&produced);
    shutdown.service("producer", move |ctx| {
        produce(&ctx, &tx, rate, start, &counter);
        Ok::<(), String>(())
    })?;
    let (pool, lat, errs, db_conn) = (
        Arc::clone(&writer),
        Arc::clone(&latencies),
        Arc::clone(&write_errors),
        Arc::clone(&conn),
    );
    let pipeline_report = Arc::new(Mutex::new(None));
    let report_slot = Arc::clone(&pipeline_report);
    shutdown.service("processor", move |_ctx| {
        // The pipeline ignores the stop signal: it ends when the producer has stopped and the
        // queue is drained, so no message already enqueued is dropped.
        let outcome = Pipeline::from_receiver(&Context::new(), rx)
            .named("queue")
            .try_map(1, |raw: String| serde_json::from_str::<Message>(&raw))
            .named("parse")
            .on_error(ErrorPolicy::Collect)
            .map(1, compute)
            .named("compute")
            .batch(BATCH_MAX, BATCH_WAIT)
            .named("batch")
            .for_each(|rows| {
                let (conn, lat, errs) = (Arc::clone(&db_conn), Arc::clone(&lat), Arc::clone(&errs));
                let write = move |_: &Context| commit(&conn, &rows, start, &lat, &errs);
                if let Err(refused) = pool.execute(write) {
                    // Closed: only after the drain began, which waits for this service first.
                    (refused.into_inner())(&Context::new());
                }
            })
            .map_err(|e| e.to_string())?;
        let parse_errors = outcome.errors().len();
        *report_slot.lock() = Some((outcome.into_report(), parse_errors));
        Ok::<(), String>(())
    })?;
    let checkpoints = store::open(&db.path)?;
    shutdown.service("checkpointer", move |ctx| {
        every(&ctx, Duration::from_millis(200), |_| {
            store::checkpoint(&checkpoints)
        })?
        .into_result()
        .map(drop)
    })?;
    shutdown.drain("sqlite writer", Arc::clone(&writer));
    let alarm = self_sigterm(shutdown.context().clone(), run_for);
    println!(
        "producing {rate} msg/s for {run_for:?} (then SIGTERM to self; Ctrl-C stops earlier) into {}",
        db.path.display()
    );

    let report = shutdown.wait();
    if report.forced().is_some() || report.stragglers().next().is_some() {
        // A second signal, or a part that overran the grace: exit now, as the report says.
        println!("{report}");
        std::process::exit(report.exit_code());
    }
    alarm.join().expect("alarm thread");
    let produce_time = produced.took();
    drop(writer);
    println!("{report}");
    if let Some((pipeline, parse_errors)) = pipeline_report.lock().take() {
        println!("{pipeline}");
        println!("parse errors: {parse_errors}");
    }
    let ok = check(
        &db,
        &produced,
        &write_errors,
        &latencies,
        rate,
        produce_time,
    )?;
    drop(conn);
    threads::assert_none_alive(Duration::from_secs(5));
    std::process::exit(if ok { report.exit_code() } else { 1 });
}

/// Enqueues `rate` messages per second, one tick per millisecond, until cancelled. A tick that
/// comes late sends its share at once, so the average rate holds.
fn produce(ctx: &Context, tx: &Sender<String>, rate: u64, start: Instant, produced: &Produced) {
    let begun = Instant::now();
    produced.began_us.store(micros_since(start), Relaxed);
    let mut id = 0u64;
    for tick in 1u64.. {
        let due = rate * tick / 1000;
        while id < due {
            let enqueued_us = micros_since(start);
            let message = Message {
                id,
                sensor: (id % 64) as u32,
                value: 20.0 + ((id * 7919) % 1000) as f64 / 100.0,
                enqueued_us,
            };
            let json = serde_json::to_string(&message).expect("serializable");
            if tx.send(json).is_err() {
                return;
            }
            id += 1;
            produced.count.store(id, Relaxed);
        }
        produced.until_us.store(micros_since(start), Relaxed);
        if ctx
            .sleep_until(begun + Duration::from_millis(tick))
            .is_err()
        {
            return; // stopped: dropping the sender lets the pipeline drain and end
        }
    }
}

/// The "business computation": a score from the reading's distance to its sensor's baseline.
fn compute(message: Message) -> Row {
    let baseline = 20.0 + f64::from(message.sensor % 8);
    let score = (message.value - baseline).abs() / 2.5;
    Row {
        msg_id: message.id,
        sensor: message.sensor,
        value: message.value,
        score,
        alert: score > 3.0,
        enqueued_us: message.enqueued_us,
    }
}

/// Writes one batch in one transaction and records each message's latency at the commit.
fn commit(
    conn: &Mutex<rusqlite::Connection>,
    rows: &[Row],
    start: Instant,
    latencies: &Latencies,
    errors: &AtomicU64,
) {
    if let Err(e) = store::write_batch(&mut conn.lock(), rows) {
        errors.fetch_add(1, Relaxed);
        eprintln!("batch of {} not written: {e}", rows.len());
        return;
    }
    let committed_us = micros_since(start);
    latencies.record(
        rows.iter()
            .map(|r| Duration::from_micros(committed_us.saturating_sub(r.enqueued_us))),
    );
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Prints the figures and checks: exactly once in the database, the rate, the latency budget.
fn check(
    db: &TempDb,
    produced: &Produced,
    write_errors: &AtomicU64,
    latencies: &Latencies,
    rate: u64,
    produce_time: Duration,
) -> Result<bool, Box<dyn std::error::Error>> {
    let produced = produced.count.load(Relaxed);
    let (rows, distinct, min_id, max_id) = store::census(&db.path)?;
    let summary = latencies.summary();
    let achieved = produced as f64 / produce_time.as_secs_f64().max(1e-9);
    println!(
        "throughput: {produced} messages in {produce_time:.2?} = {achieved:.0} msg/s (target {rate}); \
         {} batch write errors",
        write_errors.load(Relaxed)
    );
    println!(
        "latency enqueue -> committed: p50 {:.2?}, p99 {:.2?}, max {:.2?} over {} messages",
        summary.percentile(50.0),
        summary.percentile(99.0),
        summary.max(),
        summary.count()
    );
    print!("{summary}");
    let exactly_once =
        rows == produced && distinct == produced && min_id == 0 && max_id + 1 == produced as i64;
    println!(
        "check exactly once: produced {produced}, rows {rows}, distinct ids {distinct}, ids {min_id}..={max_id}: {}",
        if exactly_once { "ok" } else { "FAILED" }
    );
    let sustained = achieved >= 0.97 * rate as f64;
    println!(
        "check rate >= 97% of {rate} msg/s: {}",
        if sustained { "ok" } else { "FAILED" }
    );
    let p99 = summary.percentile(99.0);
    let in_budget = p99 < P99_BUDGET;
    let relaxed = !in_budget && std::env::var_os("CI").is_some();
    println!(
        "check p99 {p99:.2?} < {P99_BUDGET:?}: {}",
        match (in_budget, relaxed) {
            (true, _) => "ok",
            (false, true) =>
                "MISSED, relaxed: CI is set, so this is a shared, busy CI machine (only this check is relaxed)",
            (false, false) => "FAILED",
        }
    );
    Ok(exactly_once && sustained && (in_budget || relaxed))
}

/// `[RATE] [SECONDS]`; quick mode: 10,000 msg/s for 3 s.
fn parse_args(quick: bool) -> Result<(u64, Duration), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| {
        args.get(i).map_or(Ok(default), |s| {
            s.parse::<u64>()
                .map_err(|e| format!("{s}: {e}; usage: realtime [RATE] [SECONDS]"))
        })
    };
    let rate = number(0, 10_000)?.max(1);
    let secs = number(1, if quick { 3 } else { 10 })?;
    Ok((rate, Duration::from_secs(secs)))
}

/// Raises SIGTERM at this process after `after`, unless the shutdown began first.
fn self_sigterm(ctx: Context, after: Duration) -> threads::JoinHandle<()> {
    threads::spawn("self-sigterm", move || {
        if ctx.sleep(after).is_ok() {
            signal_hook::low_level::raise(signal_hook::consts::SIGTERM).expect("raise SIGTERM");
        }
    })
    .expect("spawn alarm")
}
