//! The seed's log format (seed 001, "日志处理Pipeline"), as the side-by-side harness writes it:
//! level first, `LEVEL TIMESTAMP MODULE MESSAGE (id=.., ..ms)`, about 5% ERROR and 0.1%
//! malformed lines. A copy of the harness's generator (`hbperf gen`), so that `perf_log` can
//! make its own input and check its result.

use std::fmt::Write as _;
use std::io::{self, Write};

#[path = "synthlog.rs"]
mod synthlog;
use synthlog::{Draw, Synth};

/// What a run over the log must compute: the check every contender prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub lines: u64,
    pub malformed: u64,
    pub kept: u64,
    pub msgsum: u64,
}

impl Counts {
    pub fn check(&self) -> String {
        format!(
            "lines={},malformed={},kept={},msgsum={}",
            self.lines, self.malformed, self.kept, self.msgsum
        )
    }
}

/// Writes `lines` lines to `out`; returns the counts a correct run computes.
pub fn generate(out: &mut impl Write, lines: u64) -> io::Result<Counts> {
    let mut synth = Synth::new(2026);
    let mut c = Counts::default();
    let mut line = String::with_capacity(128);
    for _ in 0..lines {
        let Draw { ts, fields } = synth.draw();
        line.clear();
        c.lines += 1;
        if let Some(f) = fields {
            let _ = write!(
                line,
                "{} {ts} {} {} (id={}, {}ms)",
                f.level, f.module, f.message, f.id, f.ms
            );
            if f.level == "ERROR" {
                c.kept += 1;
                // parts[2]: everything after the second space
                let first = line.find(' ').unwrap_or(0);
                let second = first + 1 + line[first + 1..].find(' ').unwrap_or(0);
                c.msgsum += (line.len() - second - 1) as u64;
            }
        } else {
            // One space only: the seed's SplitN gives 2 parts and skips the line.
            let _ = write!(line, "{ts} ???");
            c.malformed += 1;
        }
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(c)
}

/// The seed's `strings.SplitN(line, " ", 3)`: the level (`parts[0]`) and the message
/// (`parts[2]`), or `None` for a line with fewer than three parts. The same scan as the
/// harness's `parse_seed` (a byte loop: the spaces are a few bytes in).
pub fn split3(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    let first = b.iter().position(|&c| c == b' ')?;
    let second = first + 1 + b[first + 1..].iter().position(|&c| c == b' ')?;
    Some((&line[..first], &line[second + 1..]))
}
