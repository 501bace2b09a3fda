//! The seed's log format (seed 001, "日志处理Pipeline"), as the side-by-side harness writes it:
//! level first, `LEVEL TIMESTAMP MODULE MESSAGE (id=.., ..ms)`, about 5% ERROR and 0.1%
//! malformed lines. A copy of the harness's generator (`hbperf gen`), so that `perf_log` can
//! make its own input and check its result.

use std::fmt::Write as _;
use std::io::{self, Write};

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

const MODULES: [&str; 8] = [
    "db::pool",
    "db::query",
    "http::server",
    "http::client",
    "auth::session",
    "billing::invoice",
    "cache::lru",
    "worker::queue",
];

const MESSAGES: [&str; 8] = [
    "request completed",
    "slow checkout",
    "connection reset by peer",
    "retrying after timeout",
    "cache miss",
    "token refreshed",
    "invoice rendered",
    "queue depth high",
];

/// Writes `lines` lines to `out`; returns the counts a correct run computes.
pub fn generate(out: &mut impl Write, lines: u64) -> io::Result<Counts> {
    let mut state = 2026u64.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut c = Counts::default();
    let mut line = String::with_capacity(128);
    for n in 1..=lines {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let micros = n * 1_731;
        let secs = micros / 1_000_000;
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        line.clear();
        let ts = format!("2026-11-23T{h:02}:{m:02}:{s:02}.{:06}Z", micros % 1_000_000);
        c.lines += 1;
        if r.is_multiple_of(1000) {
            // One space only: the seed's SplitN gives 2 parts and skips the line.
            let _ = write!(line, "{ts} ???");
            c.malformed += 1;
        } else {
            let level = match (r >> 10) % 100 {
                0..=9 => "TRACE",
                10..=39 => "DEBUG",
                40..=84 => "INFO",
                85..=94 => "WARN",
                _ => "ERROR",
            };
            let module = MODULES[((r >> 20) % 8) as usize];
            let message = MESSAGES[((r >> 24) % 8) as usize];
            let _ = write!(
                line,
                "{level} {ts} {module} {message} (id={}, {}ms)",
                (r >> 32) % 100_000,
                (r >> 48) % 1_000
            );
            if level == "ERROR" {
                c.kept += 1;
                // parts[2]: everything after the second space
                let first = line.find(' ').unwrap_or(0);
                let second = first + 1 + line[first + 1..].find(' ').unwrap_or(0);
                c.msgsum += (line.len() - second - 1) as u64;
            }
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
