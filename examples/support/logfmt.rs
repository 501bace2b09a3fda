//! The log format of the `log_pipeline` example (shared with the pipeline bench): a synthetic
//! log generator, a scanner that finds a line's fields without copying it, and the enrich step.
//!
//! A line is `<timestamp> <LEVEL> <module> <message>`, for example
//! `2026-11-23T08:15:02.123456Z WARN  db::pool slow checkout (id=4411, 212ms)`.

use std::fmt;

#[path = "synthlog.rs"]
mod synthlog;
use synthlog::{Draw, Synth};

/// Log levels, least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERROR" => Level::Error,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Where a line's fields are, found without copying the line.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub level: Level,
    ts_end: usize,
    module: (usize, usize),
    message: usize,
}

impl Fields {
    /// The lines the pipeline keeps: errors and warnings.
    pub fn is_interesting(&self) -> bool {
        self.level >= Level::Warn
    }
}

/// A parsed line: the line itself plus the positions of its fields.
#[derive(Debug)]
pub struct Record {
    line: String,
    pub fields: Fields,
}

impl Record {
    /// A record of a line that was scanned in place: copies it.
    pub fn new(line: &str, fields: Fields) -> Record {
        Record {
            line: line.to_string(),
            fields,
        }
    }
    pub fn level(&self) -> Level {
        self.fields.level
    }
    pub fn timestamp(&self) -> &str {
        &self.line[..self.fields.ts_end]
    }
    pub fn module(&self) -> &str {
        &self.line[self.fields.module.0..self.fields.module.1]
    }
    pub fn message(&self) -> &str {
        &self.line[self.fields.message..]
    }
    /// The lines the pipeline keeps: errors and warnings.
    pub fn is_interesting(&self) -> bool {
        self.fields.is_interesting()
    }
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: String,
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.line.chars().take(40).collect();
        write!(f, "{}: {shown:?}", self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Finds the fields of one line, borrowing it (a bad line is copied into the error).
pub fn scan(line: &str) -> Result<Fields, ParseError> {
    let fail = |reason| {
        Err(ParseError {
            line: line.to_string(),
            reason,
        })
    };
    let bytes = line.as_bytes();
    let Some(ts_end) = bytes.iter().position(|&b| b == b' ') else {
        return fail("no fields");
    };
    if ts_end < 20 || bytes[10] != b'T' || !line[..ts_end].ends_with('Z') {
        return fail("bad timestamp");
    }
    let skip = |mut i: usize| {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        i
    };
    let word_end = |i: usize| {
        bytes[i..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(bytes.len(), |n| i + n)
    };
    let level_start = skip(ts_end);
    let level_end = word_end(level_start);
    let Some(level) = Level::parse(&line[level_start..level_end]) else {
        return fail("unknown level");
    };
    let module_start = skip(level_end);
    let module_end = word_end(module_start);
    if module_start == module_end || module_end == bytes.len() {
        return fail("no module or message");
    }
    Ok(Fields {
        level,
        ts_end,
        module: (module_start, module_end),
        message: skip(module_end),
    })
}

/// Parses one owned line.
pub fn parse(line: String) -> Result<Record, ParseError> {
    let fields = scan(&line)?;
    Ok(Record { line, fields })
}

/// The team that owns a module.
fn owner(module: &str) -> &'static str {
    let top = module.split("::").next().unwrap_or(module);
    match top {
        "db" => "storage",
        "http" | "auth" => "edge",
        "billing" => "payments",
        "cache" => "platform",
        _ => "core",
    }
}

/// The enriched output line (with its newline).
pub fn enrich(record: &Record) -> String {
    let mut out = String::with_capacity(record.line.len() + 24);
    out.push_str(record.timestamp());
    out.push(' ');
    out.push_str(record.level().as_str());
    out.push_str(" team=");
    out.push_str(owner(record.module()));
    out.push(' ');
    out.push_str(record.module());
    out.push_str(": ");
    out.push_str(record.message());
    out.push('\n');
    out
}

/// An endless, deterministic synthetic log: about 15% WARN/ERROR lines and 0.1% malformed.
pub struct Generator(Synth);

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator(Synth::new(seed))
    }
}

impl Iterator for Generator {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let Draw { ts, fields } = self.0.draw();
        let Some(f) = fields else {
            return Some(format!("{ts} ???"));
        };
        Some(format!(
            "{ts} {:<5} {} {} (id={}, {}ms)",
            f.level, f.module, f.message, f.id, f.ms
        ))
    }
}
