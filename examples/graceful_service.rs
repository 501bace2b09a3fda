//! A service that shuts down gracefully on Ctrl-C or SIGTERM: an acceptor takes in requests, a
//! few workers handle them, a periodic cleaner trims a cache. On the signal the acceptor stops
//! taking work, the workers finish everything already queued, the report is printed and the
//! process exits with `report.exit_code()`.
//!
//! Run it with `cargo run --release --example graceful_service` and press Ctrl-C (or wait 10 s:
//! it then sends itself SIGTERM). With `HOMEBOUND_QUICK=1` it sends itself SIGTERM after about a
//! second, so CI exercises the real signal path.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use homebound::{Context, Shutdown, WaitGroup, every, threads};
use parking_lot::Mutex;

/// A request: an id and how much work it needs.
struct Request {
    id: u64,
    cost: Duration,
}

/// A few workers consuming a bounded queue. (Once `homebound::Pool` is in, it replaces this:
/// `pool.submit(..)` for `submit`, `Pool` as the drain.)
struct Workers {
    queue: Sender<Request>,
    idle: WaitGroup,
    handles: Vec<threads::JoinHandle<u64>>,
}

impl Workers {
    fn start(n: usize, done: Arc<AtomicU64>, cache: Arc<Mutex<HashMap<u64, Instant>>>) -> Workers {
        let (queue, jobs) = bounded::<Request>(64);
        let idle = WaitGroup::new();
        let handles = (0..n)
            .map(|_| {
                let (jobs, done, cache, guard) = (
                    jobs.clone(),
                    Arc::clone(&done),
                    Arc::clone(&cache),
                    idle.enter(),
                );
                threads::spawn("worker", move || work(jobs, done, cache, guard))
                    .expect("spawn worker")
            })
            .collect();
        Workers {
            queue,
            idle,
            handles,
        }
    }

    /// The drain: close the queue, let the workers finish what is in it, join them.
    fn finish(self, remaining: Duration) -> Result<(), String> {
        let Workers {
            queue,
            idle,
            handles,
        } = self;
        drop(queue);
        if !idle.wait_timeout(remaining) {
            return Err(format!("{} workers still busy", idle.count()));
        }
        let handled: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        println!("workers: drained, {handled} requests handled in total");
        Ok(())
    }
}

/// A worker: handle requests until the queue is closed *and* empty, so nothing accepted is lost.
fn work(
    jobs: Receiver<Request>,
    done: Arc<AtomicU64>,
    cache: Arc<Mutex<HashMap<u64, Instant>>>,
    _running: homebound::Guard,
) -> u64 {
    let mut handled = 0;
    for request in jobs {
        std::thread::sleep(request.cost); // simulated work
        cache.lock().insert(request.id, Instant::now());
        done.fetch_add(1, Ordering::Relaxed);
        handled += 1;
    }
    handled
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let accepted = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let cache = Arc::new(Mutex::new(HashMap::new()));

    let mut shutdown = Shutdown::new().grace(Duration::from_secs(5));
    shutdown.on_signals()?;
    let workers = Workers::start(3, Arc::clone(&done), Arc::clone(&cache));

    // The acceptor: takes requests in until the shutdown cancels it. A real server would
    // accept connections here; `ctx.send` stops waiting for queue space on cancel.
    let queue = workers.queue.clone();
    let counter = Arc::clone(&accepted);
    shutdown.service("acceptor", move |ctx| {
        for id in 0.. {
            let request = Request {
                id,
                cost: Duration::from_millis(2 + id % 5),
            };
            if ctx.send(&queue, request).is_err() {
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

    // Drains run in reverse order of registration, once the services have stopped.
    shutdown.drain("workers", move |remaining: Duration| {
        workers.finish(remaining)
    });

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
