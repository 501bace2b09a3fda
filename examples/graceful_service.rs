//! A service that shuts down gracefully on Ctrl-C or SIGTERM: an acceptor takes in requests, a
//! `Pool` of workers handles them, a periodic cleaner trims a cache. On the signal the acceptor stops
//! taking work, the pool finishes everything already queued, the report is printed and the
//! process exits with `report.exit_code()`.
//!
//! Run it with `cargo run --release --example graceful_service` and press Ctrl-C (or wait 10 s:
//! it then sends itself SIGTERM). With `HOMEBOUND_QUICK=1` it sends itself SIGTERM after about a
//! second, so CI exercises the real signal path.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use homebound::{Context, periodic::every, pool::Pool, shutdown::Shutdown, threads};
use parking_lot::Mutex;

/// Handles one request: simulated work, then a cache entry.
fn handle(id: u64, cost: Duration, done: &AtomicU64, cache: &Mutex<HashMap<u64, Instant>>) {
    std::thread::sleep(cost);
    cache.lock().insert(id, Instant::now());
    done.fetch_add(1, Ordering::Relaxed);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let accepted = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let cache = Arc::new(Mutex::new(HashMap::new()));

    let mut shutdown = Shutdown::new().grace(Duration::from_secs(5));
    shutdown.on_signals()?;
    // Three workers behind a bounded queue: a slow pool pushes back on the acceptor.
    let pool = Arc::new(
        Pool::builder()
            .name("requests")
            .workers(3)
            .queue_capacity(64)
            .build()?,
    );

    // The acceptor: takes requests in until the shutdown cancels it. A real server would
    // accept connections here; `submit_ctx` stops waiting for queue space on cancel and hands
    // the request back, so a request is either accepted (and will run) or never taken.
    let (submit_to, counter) = (Arc::clone(&pool), Arc::clone(&accepted));
    let (done_by, cache_of) = (Arc::clone(&done), Arc::clone(&cache));
    shutdown.service("acceptor", move |ctx| {
        for id in 0.. {
            let cost = Duration::from_millis(2 + id % 5);
            let (done, cache) = (Arc::clone(&done_by), Arc::clone(&cache_of));
            let request = move |_: &Context| handle(id, cost, &done, &cache);
            if submit_to.submit_ctx(&ctx, request).is_err() {
                break; // cancelled: stop taking work
            }
            counter.fetch_add(1, Ordering::Relaxed);
            if ctx.sleep(Duration::from_millis(1)).is_err() {
                break;
            }
        }
        Ok::<(), String>(())
    })?;

    // A periodic cleaner: evict cache entries older than 200 ms, every 100 ms.
    let evictions = Arc::clone(&cache);
    shutdown.service("cache-cleaner", move |ctx| {
        let report = every(&ctx, Duration::from_millis(100), |_| {
            let mut cache = evictions.lock();
            cache.retain(|_, at| at.elapsed() < Duration::from_millis(200));
            Ok::<(), String>(())
        })?;
        println!("cache-cleaner: {report}");
        report.into_result().map(drop)
    })?;

    // Drains run in reverse order of registration, once the services have stopped: the pool
    // closes, runs everything it accepted, and joins its workers within the grace time left.
    shutdown.drain("requests pool", Arc::clone(&pool));

    // Stop by itself: a real SIGTERM, so the signal path runs even in CI.
    let after = if quick {
        Duration::from_millis(1200)
    } else {
        Duration::from_secs(10)
    };
    let alarm = self_sigterm(shutdown.context().clone(), after);
    println!(
        "serving (pid {}); press Ctrl-C or send SIGTERM to stop (SIGTERM to self in {after:?})",
        std::process::id()
    );

    let report = shutdown.wait();
    alarm.join().expect("alarm thread");
    println!("{report}");
    println!("pool: {:?}", pool.metrics());
    drop(pool);
    let (accepted, done) = (
        accepted.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed),
    );
    println!(
        "accepted {accepted} requests, handled {done}: nothing lost = {}",
        accepted == done
    );
    threads::assert_none_alive(Duration::from_secs(5));
    std::process::exit(report.exit_code());
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
