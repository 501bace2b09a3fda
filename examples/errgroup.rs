//! errgroup for OS threads: load several sources in parallel, at most three at a time. One
//! source fails; the group cancels the others at once (running ones stop at their next
//! checkpoint, queued ones never start), reports which one failed, and leaves no thread behind.
//!
//! Run: `cargo run --example errgroup` (set `HOMEBOUND_QUICK=1` for a faster run).

use std::fmt;
use std::time::{Duration, Instant};

use homebound::{Cancelled, Context, group, group::Group, task::JoinError, threads};

/// Why loading a source failed.
#[derive(Debug)]
enum LoadError {
    Corrupt { source: &'static str, offset: u64 },
    Stopped(Cancelled),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Corrupt { source, offset } => {
                write!(f, "{source}: corrupt record at byte {offset}")
            }
            LoadError::Stopped(c) => write!(f, "stopped: {c}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<Cancelled> for LoadError {
    fn from(c: Cancelled) -> Self {
        LoadError::Stopped(c)
    }
}

/// Simulates reading `chunks` chunks, checking for cancellation between chunks.
fn load(
    ctx: &Context,
    source: &'static str,
    chunks: u64,
    chunk_time: Duration,
) -> Result<u64, LoadError> {
    let mut bytes = 0;
    for chunk in 0..chunks {
        ctx.sleep(chunk_time)?; // returns early, with the cause, once the group is cancelled
        bytes += 4096;
        if source == "inventory" && chunk == 6 {
            return Err(LoadError::Corrupt {
                source,
                offset: bytes,
            });
        }
    }
    Ok(bytes)
}

fn main() {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let chunk_time = Duration::from_millis(if quick { 20 } else { 150 });
    let sources: [(&str, u64); 8] = [
        ("customers", 4),
        ("orders", 12),
        ("inventory", 10),
        ("prices", 2),
        ("suppliers", 8),
        ("returns", 6),
        ("reviews", 9),
        ("shipments", 5),
    ];

    let ctx = Context::new();
    let group = Group::builder()
        .limit(3)
        .name("loader")
        .build()
        .expect("a valid group");
    let started = Instant::now();
    println!(
        "loading {} sources, at most 3 at a time ({chunk_time:?} per chunk)",
        sources.len()
    );

    let mut handles = Vec::new();
    let result = group.run(&ctx, |g| {
        for &(source, chunks) in &sources {
            handles.push(g.spawn_named(source, move |ctx| load(ctx, source, chunks, chunk_time)));
        }
    });

    println!("\ngroup finished after {:?}", started.elapsed());
    match &result {
        Ok(()) => println!("every source loaded"),
        Err(group::Error::Failed { task, error }) => {
            println!("FAILED: {task} -> {error}");
        }
        Err(other) => println!("FAILED: {other}"),
    }

    let failed = result.as_ref().err().map(|e| e.task().index());
    println!("\nhow each source ended:");
    for handle in handles {
        let name = handle.task().label();
        let index = handle.task().index();
        let end = match handle.join() {
            Ok(bytes) => format!("loaded {bytes} bytes"),
            Err(JoinError::Failed) if Some(index) == failed => "FAILED (the error above)".into(),
            Err(JoinError::Failed) => "cancelled while loading".to_string(),
            Err(JoinError::NotStarted(cause)) => format!("never started ({cause})"),
            Err(other) => other.to_string(),
        };
        println!("  {name:<10} {end}");
    }

    assert!(
        !ctx.is_cancelled(),
        "the group never cancels the caller's context"
    );
    threads::assert_none_alive(Duration::from_secs(10));
    println!(
        "\nleak check: no homebound thread alive ({} listed)",
        threads::live().len()
    );
    assert!(matches!(result, Err(group::Error::Failed { .. })));
}
