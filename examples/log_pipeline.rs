//! log_pipeline: read → parse → keep ERROR and WARN → enrich → batch(1000, 200 ms) → append
//! to an output file, on a homebound `Pipeline`.
//!
//! The file is read with `Pipeline::from_lines`: both parse workers read byte ranges of it
//! at once, and the parser borrows each line, copying only the 15% it keeps. Parse, keep and
//! enrich run fused in one loop per worker.
//!
//! ```text
//! cargo run --release --example log_pipeline                  # generates a 2M-line log first
//! cargo run --release --example log_pipeline -- app.log       # processes your file
//! cargo run --release --example log_pipeline -- app.log out   # and keeps the output in `out`
//! ```
//!
//! Ctrl-C stops reading, lets every line already read flow through (open batches are flushed)
//! and exits 0 with the report; a second Ctrl-C aborts (exit 130), a third exits at once. At
//! the end it prints lines read, parsed, kept and written, the throughput, and the pipeline's
//! report: one row per stage, each column explained, each stage's utilisation (busy time per
//! worker ÷ wall time) and the bottleneck named from it. It checks that every kept line was
//! written (exit code 1 if not).
//!
//! `HOMEBOUND_QUICK=1` uses 200k generated lines. With `--features progress` it draws a
//! progress bar.

#[path = "support/logfmt.rs"]
#[allow(dead_code)] // the bench uses the rest
mod logfmt;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use homebound::shutdown::{self, SecondSignal};
use homebound::{
    Context, pipeline, pipeline::ErrorPolicy, pipeline::Pipeline, pipeline::StageError, threads,
};

use logfmt::{Generator, ParseError, Record};

/// A scanned line: the record, only if it is one we keep (the others are never copied).
struct Scanned(Option<Record>);

/// Why a line could not be turned into a record.
#[derive(Debug)]
enum LineError {
    Read(io::Error),
    Parse(ParseError),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Read(e) => write!(f, "read error: {e}"),
            LineError::Parse(e) => write!(f, "malformed line: {e}"),
        }
    }
}

fn temp_path(what: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "homebound-log-pipeline-{}-{nanos}.{what}",
        std::process::id()
    ))
}

/// Writes `lines` synthetic log lines to a new temporary file.
fn generate(lines: usize) -> io::Result<PathBuf> {
    let path = temp_path("log");
    let write = || -> io::Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        for line in Generator::new(2026).take(lines) {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    match write() {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Files removed on drop.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

fn count_lines(path: &Path) -> io::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut count = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(count);
        }
        count += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = buf.len();
        reader.consume(n);
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("log_pipeline: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let mut args = std::env::args_os().skip(1);
    let (input, generated) = match args.next() {
        Some(path) => (PathBuf::from(path), None),
        None => {
            let lines = if quick { 200_000 } else { 2_000_000 };
            let t = Instant::now();
            let path = generate(lines)?;
            eprintln!(
                "generated {lines} log lines in {:.2}s: {}",
                t.elapsed().as_secs_f64(),
                path.display()
            );
            (path, Some(lines as u64))
        }
    };
    let (output, keep_output) = match args.next() {
        Some(path) => (PathBuf::from(path), true),
        None => (temp_path("out"), false),
    };
    // Our temporary files go away however this function ends.
    let mut temp = TempFiles(Vec::new());
    if generated.is_some() {
        temp.0.push(input.clone());
    }
    if !keep_output {
        temp.0.push(output.clone());
    }

    // Ctrl-C (or SIGTERM) once: stop reading and drain; twice: abort (cancel `ctx`); a third
    // time exits at once. (Unix; elsewhere Ctrl-C keeps its default action.)
    let ctx = Context::new();
    let signals =
        shutdown::signal_context_with(&Context::new(), SecondSignal::Cancel(ctx.clone()))?;
    let stop = signals.context().clone();

    // We append: remember what the output held before.
    let lines_before = count_lines(&output).unwrap_or(0);
    let mut writer = BufWriter::with_capacity(
        1 << 20,
        OpenOptions::new().create(true).append(true).open(&output)?,
    );
    let mut written = 0u64;
    let mut write_error: Option<io::Error> = None;
    let mut last_note = Instant::now();

    let pipeline = Pipeline::from_lines(&ctx, &input)
        .named("read")
        .try_map(2, |line| {
            // Borrowed: the line is copied only if it is kept.
            let line = line.map_err(LineError::Read)?;
            let fields = logfmt::scan(line).map_err(LineError::Parse)?;
            Ok(Scanned(
                fields.is_interesting().then(|| Record::new(line, fields)),
            ))
        })
        .named("parse")
        .on_error(ErrorPolicy::Collect)
        .filter_map(2, |scanned: Scanned| scanned.0)
        .named("keep")
        .map(2, |record| logfmt::enrich(&record))
        .named("enrich")
        .batch(1000, Duration::from_millis(200))
        .named("batch")
        .stop_intake_on(&stop);
    #[cfg(feature = "progress")]
    let pipeline = pipeline.progress(generated);
    let result = pipeline.for_each(|batch| {
        if write_error.is_some() {
            return;
        }
        for line in &batch {
            if let Err(e) = writer.write_all(line.as_bytes()) {
                write_error = Some(e);
                return;
            }
        }
        written += batch.len() as u64;
        if !cfg!(feature = "progress") && last_note.elapsed() >= Duration::from_secs(1) {
            last_note = Instant::now();
            eprintln!("... {written} lines written");
        }
    });
    let flushed = writer.flush();

    signals.stop();

    let (report, errors, cancelled) = match result {
        Ok(outcome) => {
            let (report, errors) = outcome.into_parts();
            (report, errors, None)
        }
        Err(e) if e.is_cancelled() => (e.report().clone(), Vec::new(), Some(e.to_string())),
        Err(e) => {
            eprintln!("pipeline failed: {e}\n{}", e.report());
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(e) = write_error.or(flushed.err()) {
        return Err(format!("writing {}: {e}", output.display()).into());
    }
    let in_file = count_lines(&output)? - lines_before;
    let ok = summarize(&report, &errors, written, in_file, &output, keep_output);

    threads::assert_none_alive(Duration::from_secs(10));
    if let Some(why) = cancelled {
        println!("aborted: {why}");
        return Ok(ExitCode::from(130));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints the summary; returns whether every kept line was written.
fn summarize(
    report: &pipeline::Report,
    errors: &[StageError<LineError>],
    written: u64,
    in_file: u64,
    output: &Path,
    keep_output: bool,
) -> bool {
    let stage = |name| report.stage(name).map_or(0, |s| s.items_out);
    let (read, parsed, kept) = (stage("read"), stage("parse"), stage("keep"));
    let secs = report.elapsed().as_secs_f64();
    println!();
    println!("lines read     {read:>12}");
    println!("lines parsed   {parsed:>12}   ({} malformed)", errors.len());
    if let Some(first) = errors.first() {
        println!("               first: {}", first.error);
    }
    println!("lines kept     {kept:>12}   (ERROR and WARN)");
    println!("lines written  {written:>12}   ({in_file} in the output file)");
    println!(
        "throughput     {:>12.0} lines/s   ({read} lines in {secs:.3}s)",
        report.throughput()
    );
    if report.intake_stopped() {
        println!("interrupted    stopped reading early; every line read was processed");
    }
    println!();
    // The table, one line per column explaining it, and the bottleneck with its reasons.
    println!("{report:#}");
    if keep_output {
        println!("output: {}", output.display());
    }
    let ok = written == kept && in_file == written && report.dropped() == 0;
    if ok {
        println!("check: written == kept ({written}) ✓");
    } else {
        eprintln!(
            "check FAILED: kept {kept}, written {written}, in file {in_file}, dropped {}",
            report.dropped()
        );
    }
    ok
}
