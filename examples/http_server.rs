//! An HTTP/1.1 server that shuts down gracefully (the Go handbook's "HTTP服务器优雅关闭"):
//! std sockets on 127.0.0.1, a cancel-aware accept (`homebound::net::accept`), slow handlers on a
//! homebound `Pool`, and SIGINT/SIGTERM through `Shutdown` with a grace period. On the signal
//! it stops accepting at once, lets the requests in flight finish within the grace, answers
//! requests that arrive later with a 503 and closes their connections, prints the report and
//! exits with its exit code.
//!
//! ```sh
//! cargo run --release --all-features --example http_server                 # serve; Ctrl-C to stop
//! cargo run --release --all-features --example http_server -- --load 64 50 # 64 clients x 50 requests
//! HOMEBOUND_QUICK=1 cargo run --release --all-features --example http_server
//! ```
//!
//! In load mode (and quick mode) built-in clients on loopback send their requests and, half way
//! through, the server sends itself a real SIGTERM. It then checks that every request it
//! accepted was answered, and that every answer reached its client, and says how long the stop
//! took. Requests that got no answer were never read by the server: their connection was
//! refused or closed, which is what "not accepted" looks like to an HTTP client.

#[path = "support/http/mod.rs"]
mod http;
#[path = "support/load.rs"]
mod load;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use homebound::pool::Pool;
use homebound::shutdown::{Report, Shutdown};
use homebound::{Context, threads};

use self::http::{Handler, Request, Response, Stats};
use self::load::LoadCounts;

/// How long requests in flight get to finish after the signal.
const GRACE: Duration = Duration::from_secs(5);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let load = load_mode(quick)?;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // Each keep-alive connection holds a worker while it lives, so the pool grows with them.
    let pool = Arc::new(
        Pool::builder()
            .name("http")
            .workers(8)
            .max_workers(256)
            .queue_capacity(512)
            .build()?,
    );
    let stats = Arc::new(Stats::default());

    let mut shutdown = Shutdown::new().grace(GRACE);
    shutdown.on_signals()?;
    let (serving, counters) = (Arc::clone(&pool), Arc::clone(&stats));
    shutdown.service("http", move |ctx| {
        http::serve(&ctx, listener, &serving, slow_handler(), counters)
    })?;
    // After the acceptor stopped: connections still on the pool finish within the grace left.
    shutdown.drain("http connections", Arc::clone(&pool));

    let in_flight_at_signal = Arc::new(AtomicU64::new(0));
    let clients = match load {
        Some((conns, reqs)) => {
            let half = (conns * reqs / 2) as u64;
            println!(
                "http://{addr}/ under load: {conns} connections x {reqs} requests; \
                 SIGTERM after {half} answers (grace {GRACE:?})"
            );
            // Half way: note the requests in flight, then a real SIGTERM.
            let (seen, stats) = (Arc::clone(&in_flight_at_signal), Arc::clone(&stats));
            let sigterm = move || {
                seen.store(Stats::get(&stats.in_flight), Relaxed);
                signal_hook::low_level::raise(signal_hook::consts::SIGTERM).expect("raise");
            };
            Some(load::start(addr, conns, reqs, half, sigterm)?)
        }
        None => {
            println!(
                "serving http://{addr}/ (pid {}); Ctrl-C or SIGTERM stops it",
                std::process::id()
            );
            println!("try: curl -i http://{addr}/");
            None
        }
    };

    let report = shutdown.wait();
    if report.forced().is_some() || report.stragglers().next().is_some() {
        // A second signal, or a part that overran the grace: exit now, as the report says.
        println!("{report}");
        std::process::exit(report.exit_code());
    }
    println!("{report}");
    println!("server: {stats}");
    let mut exit_code = report.exit_code();
    if let Some(clients) = clients {
        let counts = clients.join().expect("load thread");
        let in_flight = in_flight_at_signal.load(Relaxed);
        if !summarize(&counts, &stats, &report, in_flight) {
            exit_code = 1;
        }
    } else if !stats.all_answered() {
        println!("check FAILED: a request was accepted but not answered");
        exit_code = 1;
    }
    drop(pool);
    threads::assert_none_alive(Duration::from_secs(5));
    std::process::exit(exit_code);
}

/// `--load [CONNS] [REQS]`, or quick mode's small load; `None` to just serve.
fn load_mode(quick: bool) -> Result<Option<(usize, usize)>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if quick {
        return Ok(Some((16, 10)));
    }
    match args.first().map(String::as_str) {
        None => Ok(None),
        Some("--load") => {
            let number = |i: usize, default: usize| {
                args.get(i).map_or(Ok(default), |s| {
                    s.parse::<usize>().map_err(|e| format!("{s}: {e}"))
                })
            };
            Ok(Some((number(1, 64)?.max(1), number(2, 50)?.max(1))))
        }
        Some(other) => Err(format!(
            "unknown argument {other}; usage: http_server [--load [CONNS] [REQS]]"
        )),
    }
}

/// A slow handler: 10 to 50 ms of simulated work (a database call, say). Cut short only by the
/// hard stop at the end of the grace period, which it answers with a 503.
fn slow_handler() -> Handler {
    let served = AtomicU64::new(0);
    Arc::new(move |request: &Request, ctx: &Context| {
        let n = served.fetch_add(1, Relaxed);
        let work = Duration::from_millis(10 + (n * 7919) % 41);
        match ctx.sleep(work) {
            Ok(()) => Response::text(
                200,
                format!("{} {}: done after {work:?}\n", request.method, request.path),
            ),
            Err(_) => Response::text(503, "aborted: the grace period ran out\n"),
        }
    })
}

/// Prints what the clients and the server saw and the stop's timing; returns whether every
/// accepted request was answered and every answer arrived.
fn summarize(counts: &LoadCounts, stats: &Stats, report: &Report, in_flight: u64) -> bool {
    let answered = counts.answered();
    println!(
        "clients: sent {}, answered {answered} ({} ok, {} refused with 503, {} other), \
         {} not accepted (connection refused or closed before the server read the request{})",
        counts.sent.load(Relaxed),
        counts.ok.load(Relaxed),
        counts.refused.load(Relaxed),
        counts.other.load(Relaxed),
        counts.unanswered.load(Relaxed),
        counts
            .first_error
            .lock()
            .as_ref()
            .map(|e| format!("; e.g. \"{e}\""))
            .unwrap_or_default(),
    );
    match (counts.threshold_at.get(), stats.last_answer()) {
        (Some(signal), Some(last)) => println!(
            "stop: {in_flight} requests in flight at SIGTERM; the last answer went out {:.1?} \
             after it; the shutdown took {:.1?} (grace {GRACE:?})",
            last.saturating_duration_since(*signal),
            report.elapsed()
        ),
        _ => println!(
            "stop: the load ended before the signal; shutdown took {:.1?}",
            report.elapsed()
        ),
    }
    let (accepted, served) = (Stats::get(&stats.requests), Stats::get(&stats.answered));
    let ok = stats.all_answered() && answered == served && counts.ok.load(Relaxed) > 0;
    println!(
        "check {}: accepted {accepted} = answered {served} = received by clients {answered}",
        if ok { "ok" } else { "FAILED" }
    );
    ok
}
