//! perf_log: the seed's log pipeline (seed 001: read lines → parse → keep ERROR → batches of
//! 100 → save) on a homebound `Pipeline`, the way a user writes it with the fast path, for the
//! side-by-side harness (`../shared/perf/run.sh` adds it as the contender `hb-perf_log`).
//!
//! ```text
//! perf_log path=FILE     # the harness: times the work on FILE, prints one RESULT line
//! perf_log               # makes its own 2M-line input first (200k with HOMEBOUND_QUICK=1)
//! ```
//!
//! It prints `RESULT secs=<s> check=lines=<n>,malformed=<n>,kept=<n>,msgsum=<n>` (the check
//! every contender must reproduce) and, on stderr, the pipeline's report.
//!
//! How it differs from a loop over `BufReader::lines()`: `Pipeline::from_lines` splits the file
//! into byte ranges that both workers read and parse at once, and the parse borrows each line,
//! so only the 5% of lines kept are copied (with the seed's `Timestamp: time.Now()` taken for
//! those entries only). Parse and keep are fused into one loop per worker; batch and save are
//! the seed's (100 entries, or 1 s).

#[path = "support/seedlog.rs"]
mod seedlog;

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use homebound::pipeline::{ErrorPolicy, Pipeline};
use homebound::{Context, threads};

use seedlog::Counts;

/// The seed's `LogEntry`, for the lines the pipeline keeps.
struct Entry {
    _timestamp: SystemTime,
    message: String,
}

/// A parsed line: its level, and the entry if it is one we keep.
struct Parsed {
    error: bool,
    entry: Option<Entry>,
}

/// Why a line was skipped.
enum Skipped {
    /// Fewer than three space-separated parts (the seed skips such lines).
    Malformed,
    Unreadable(io::Error),
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::Malformed => f.write_str("fewer than three fields"),
            Skipped::Unreadable(e) => write!(f, "read error: {e}"),
        }
    }
}

impl From<io::Error> for Skipped {
    fn from(e: io::Error) -> Self {
        Skipped::Unreadable(e)
    }
}

/// The seed's parseLog body, on a borrowed line: copies the message only for ERROR lines.
fn parse(line: &str) -> Result<Parsed, Skipped> {
    let (level, message) = seedlog::split3(line).ok_or(Skipped::Malformed)?;
    let error = level == "ERROR";
    let entry = error.then(|| Entry {
        _timestamp: SystemTime::now(),
        message: message.to_string(),
    });
    Ok(Parsed { error, entry })
}

/// saveBatch: counts the entries and sums their message lengths.
fn save(batch: &[Entry], c: &mut Counts) {
    for e in batch {
        c.kept += 1;
        c.msgsum += e.message.len() as u64;
    }
}

fn run(path: &PathBuf) -> Result<(Counts, Duration), Box<dyn std::error::Error>> {
    let ctx = Context::new();
    let started = Instant::now();
    let mut c = Counts::default();
    let outcome = Pipeline::from_lines(&ctx, path)
        .named("read")
        .try_map(2, |line| parse(line?))
        .named("parse")
        .on_error(ErrorPolicy::Collect)
        .filter_map(2, |parsed| parsed.error.then_some(parsed.entry).flatten())
        .named("keep")
        .batch(100, Duration::from_secs(1))
        .named("batch")
        .for_each(|batch| save(&batch, &mut c))
        .map_err(|e| format!("pipeline failed: {e}"))?;
    let took = started.elapsed();
    let (report, errors) = outcome.into_parts();
    c.lines = report.stage("read").map_or(0, |s| s.items_out);
    for e in &errors {
        match &e.error {
            Skipped::Malformed => c.malformed += 1,
            Skipped::Unreadable(_) => return Err(e.to_string().into()),
        }
    }
    eprintln!("{report:#}");
    Ok((c, took))
}

fn main() -> ExitCode {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let path = std::env::args()
        .skip(1)
        .find_map(|a| a.strip_prefix("path=").map(PathBuf::from));
    let (path, expected, generated) = match path {
        Some(path) => (path, None, false),
        None => {
            let lines = if quick { 200_000 } else { 2_000_000 };
            let path =
                std::env::temp_dir().join(format!("homebound-perf-log-{}.txt", std::process::id()));
            let made = File::create(&path)
                .and_then(|f| seedlog::generate(&mut BufWriter::with_capacity(1 << 20, f), lines));
            match made {
                Ok(expected) => (path, Some(expected), true),
                Err(e) => {
                    eprintln!("perf_log: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let result = run(&path);
    if generated {
        let _ = std::fs::remove_file(&path);
    }
    threads::assert_none_alive(Duration::from_secs(10));
    match result {
        Ok((counts, took)) => {
            println!(
                "RESULT secs={:.6} check={}",
                took.as_secs_f64(),
                counts.check()
            );
            if let Some(expected) = expected
                && expected != counts
            {
                eprintln!("perf_log: check FAILED, expected {}", expected.check());
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("perf_log: {e}");
            ExitCode::FAILURE
        }
    }
}
