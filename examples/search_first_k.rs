//! Fan a search query out to several simulated sources with different latencies, keep the first
//! three answers and cancel the rest (Go's "first response wins" pattern, generalised to k).
//!
//! Each source "works" by sleeping through its context (`ctx.sleep`), so the cancel that follows
//! the third answer interrupts the slow ones at once: they report how early they stopped, and
//! the whole query takes about as long as the third-fastest source, not the slowest.
//!
//! Run it with `cargo run --release --example search_first_k`
//! (`HOMEBOUND_QUICK=1` halves every latency).

use std::time::{Duration, Instant};

use homebound::{Cancelled, Context, fan, threads};

/// A simulated search backend.
struct Source {
    name: &'static str,
    latency_ms: u64,
    /// A source that is down answers with an error after its latency.
    down: bool,
}

static SOURCES: [Source; 7] = [
    Source {
        name: "memory-cache",
        latency_ms: 15,
        down: false,
    },
    Source {
        name: "flaky-mirror",
        latency_ms: 25,
        down: true,
    },
    Source {
        name: "replica-eu",
        latency_ms: 60,
        down: false,
    },
    Source {
        name: "replica-us",
        latency_ms: 140,
        down: false,
    },
    Source {
        name: "primary-db",
        latency_ms: 700,
        down: false,
    },
    Source {
        name: "archive",
        latency_ms: 3_000,
        down: false,
    },
    Source {
        name: "cold-storage",
        latency_ms: 9_000,
        down: false,
    },
];

#[derive(Debug)]
enum SearchError {
    Cancelled(Cancelled),
    Down(&'static str),
}

impl From<Cancelled> for SearchError {
    fn from(c: Cancelled) -> Self {
        SearchError::Cancelled(c)
    }
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchError::Cancelled(c) => c.fmt(f),
            SearchError::Down(name) => write!(f, "{name} is down"),
        }
    }
}

fn main() {
    let scale = if std::env::var_os("HOMEBOUND_QUICK").is_some() {
        0.5
    } else {
        1.0
    };
    let latency = |s: &Source| Duration::from_secs_f64(s.latency_ms as f64 * scale / 1000.0);
    let slowest = SOURCES.iter().map(latency).max().unwrap();

    println!(
        "query \"thread leaks\": {} sources, keeping the first 3\n",
        SOURCES.len()
    );
    let started = Instant::now();
    let tasks = SOURCES.iter().map(|source| {
        let delay = latency(source);
        move |ctx: &Context| -> Result<String, SearchError> {
            // The "work": interrupted as soon as first_k has its three answers.
            if let Err(cancelled) = ctx.sleep(delay) {
                let now = started.elapsed();
                println!(
                    "  {now:>6.0?}  {:<13} cancelled, {:.0?} before it would have answered",
                    source.name,
                    delay.saturating_sub(now)
                );
                return Err(cancelled.into());
            }
            if source.down {
                println!("  {:>6.0?}  {:<13} failed", started.elapsed(), source.name);
                return Err(SearchError::Down(source.name));
            }
            println!(
                "  {:>6.0?}  {:<13} answered",
                started.elapsed(),
                source.name
            );
            Ok(format!("results from {}", source.name))
        }
    });
    let got = fan::first_k(&Context::new(), tasks, 3);
    let took = started.elapsed();

    println!("\nkept, in arrival order:");
    for (i, answer) in &got.successes {
        println!("  #{i} {answer}");
    }
    for (i, failure) in &got.failures {
        println!("  #{i} failed before the cutoff: {failure}");
    }
    println!(
        "{} slow sources cancelled; the query took {took:.0?} (the slowest source needs {slowest:.0?})",
        got.discarded
    );
    assert!(got.found_k(), "three sources should have answered");
    assert!(took < slowest / 2, "slow sources were not stopped early");

    // The same sources under a 100 ms budget (50 ms quick): fewer than three can make it, and
    // first_k says so instead of waiting.
    let budget = Duration::from_secs_f64(0.1 * scale);
    let ctx = Context::new().with_timeout(budget);
    let tasks = SOURCES.iter().map(|source| {
        let delay = latency(source);
        move |ctx: &Context| -> Result<&'static str, SearchError> {
            ctx.sleep(delay)?;
            if source.down {
                Err(SearchError::Down(source.name))
            } else {
                Ok(source.name)
            }
        }
    });
    let started = Instant::now();
    let partial = fan::first_k(&ctx, tasks, 3);
    println!(
        "\nwith a {budget:.0?} budget: {} of 3 answers ({:?}) in {:.0?}; {} failures",
        partial.successes.len(),
        partial.values().collect::<Vec<_>>(),
        started.elapsed(),
        partial.failures.len()
    );

    // race = first_k with k = 1.
    let mirrors = SOURCES.iter().filter(|s| !s.down).map(|source| {
        let delay = latency(source);
        move |ctx: &Context| -> Result<&'static str, SearchError> {
            ctx.sleep(delay)?;
            Ok(source.name)
        }
    });
    let winner = fan::race(&Context::new(), mirrors).expect("a mirror answers");
    println!("race: {winner} answered first");

    threads::assert_none_alive(Duration::from_secs(10));
    println!("leak check: no homebound thread left running");
}
