//! Seeing what your threads do: a small service with a pool, a group and a pipeline, where one
//! task gets stuck. It shows
//!
//! * `tracing` output: the request's span follows its work onto the pool, group and stage
//!   threads, and homebound's lifecycle events (task ended, stage ended, pool shut down);
//! * the watchdog's report of the stuck task (once), through a callback;
//! * the live dump, nested by owner (the pipeline inside the pool task that started it), with
//!   each thread's state, spawn location and its owner's cancel state (and on Unix, `kill -USR1 <pid>` prints it too while the example runs);
//! * the pool's metrics as JSON (`serde`).
//!
//! Then it releases the stuck task, shuts everything down, and checks that no thread is left.
//!
//! Run: `cargo run --release --features observe-example --example observe`
//! (`HOMEBOUND_QUICK=1` shortens the waits).

use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::pipeline::Pipeline;
use homebound::pool::Pool;
use homebound::threads::{self, Alert, Watchdog};
use homebound::{Context, scope};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let stuck_after = if quick {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(500)
    };
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_thread_names(true)
        .with_target(false)
        .without_time()
        .init();
    #[cfg(unix)]
    let _dump_on_signal = threads::dump_on_sigusr1()?;

    // The watchdog hands each alert to a callback (on homebound's callback runner).
    let (alerts_tx, alerts) = unbounded::<Alert>();
    let watchdog = Watchdog::new()
        .stuck_after(stuck_after)
        .start(move |alert| {
            eprintln!("WATCHDOG: {alert}");
            let _ = alerts_tx.send(alert);
        })?;

    let ctx = Context::new();
    let pool = Pool::builder().name("api").workers(3).build()?;
    let (release, stuck_until) = bounded::<()>(0);
    let (in_stage_tx, in_stage) = bounded::<()>(1);
    let (stage_go, stage_wait) = bounded::<()>(0);

    let request = tracing::info_span!("request", id = 42);
    let entered = request.enter();
    // Quick requests, and one that gets stuck waiting for a reply that does not come.
    let quick_ones: Vec<_> = (0..5)
        .map(|i| pool.submit_named("lookup", move |_| i * i))
        .collect::<Result<_, _>>()?;
    let export = pool.submit_named("export-report", move |ctx| {
        let _ = ctx.recv(&stuck_until);
    })?;
    // A group fetching three things at once.
    let sizes = scope(&ctx, |g| {
        ["users", "orders", "stock"].map(|what| {
            g.spawn_named(what, move |_| {
                tracing::info!(what, "fetched");
                Ok::<_, std::io::Error>(what.len())
            })
        })
    })?;
    // A pipeline started by a pool task (the dump shows it inside the pool), whose parse stage
    // waits (on its first item) until the dump has been taken.
    let pipeline = pool.submit_named("ingest", move |ctx| {
        Pipeline::from_iter(ctx, 0..1_000u32)
            .map(1, move |x| {
                if x == 0 {
                    let _ = in_stage_tx.send(());
                    let _ = stage_wait.recv();
                }
                x * 2
            })
            .named("parse")
            .filter(1, |x| x % 3 == 0)
            .named("keep")
            .collect()
            .map(|(kept, _)| kept.len())
    })?;
    drop(entered);
    in_stage.recv()?;

    for h in quick_ones {
        h.join()?;
    }
    let sizes: Vec<usize> = sizes
        .into_iter()
        .map(|h| h.join())
        .collect::<Result<_, _>>()?;
    println!("fetched sizes {sizes:?}");

    // The watchdog notices the stuck export (and the parse stage sitting on its first chunk).
    let alert = alerts.recv_timeout(Duration::from_secs(30))?;
    println!("first watchdog alert: {alert}");

    println!("\n--- threads::dump() ---\n{}", threads::dump());

    println!(
        "pool metrics as JSON: {}",
        serde_json::to_string(&pool.metrics())?
    );

    // Unstick everything and shut down in order.
    drop(release);
    export.join()?;
    drop(stage_go);
    let kept = pipeline.join()??;
    println!("pipeline kept {kept} items");
    let report = pool.shutdown();
    println!("pool: {report}");
    watchdog.stop();
    #[cfg(unix)]
    drop(_dump_on_signal);
    threads::assert_none_alive(Duration::from_secs(10));
    println!("no thread left");
    Ok(())
}
