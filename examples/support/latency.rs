//! End-to-end latencies: every message's, kept exactly (a few bytes each), with percentiles and
//! a histogram.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds of the histogram's buckets, in milliseconds (the last one is open).
const BUCKETS_MS: [u64; 9] = [1, 2, 5, 10, 20, 50, 100, 200, 500];
const BAR: usize = 40;

/// Every recorded latency, in microseconds.
#[derive(Debug, Default)]
pub struct Latencies {
    micros: Mutex<Vec<u32>>,
}

impl Latencies {
    pub fn record(&self, batch: impl IntoIterator<Item = Duration>) {
        let mut micros = self.micros.lock();
        micros.extend(
            batch
                .into_iter()
                .map(|d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX)),
        );
    }

    /// A sorted snapshot, for percentiles and the histogram.
    pub fn summary(&self) -> Summary {
        let mut sorted = self.micros.lock().clone();
        sorted.sort_unstable();
        Summary { sorted }
    }
}

#[derive(Debug)]
pub struct Summary {
    sorted: Vec<u32>,
}

impl Summary {
    pub fn count(&self) -> usize {
        self.sorted.len()
    }

    /// The `p`-th percentile (0 < p <= 100), or zero with no samples.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        Duration::from_micros(u64::from(self.sorted[rank.clamp(1, self.sorted.len()) - 1]))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(u64::from(self.sorted.last().copied().unwrap_or(0)))
    }
}

impl fmt::Display for Summary {
    /// One line per bucket: its range, a bar, its count and share.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.sorted.len().max(1);
        let mut counts = [0usize; BUCKETS_MS.len() + 1];
        for &us in &self.sorted {
            let bucket = BUCKETS_MS
                .iter()
                .position(|&ms| u64::from(us) <= ms * 1000)
                .unwrap_or(BUCKETS_MS.len());
            counts[bucket] += 1;
        }
        let widest = counts.iter().copied().max().unwrap_or(0).max(1);
        for (i, &count) in counts.iter().enumerate() {
            let label = match i {
                0 => format!("<= {} ms", BUCKETS_MS[0]),
                i if i < BUCKETS_MS.len() => format!("{}-{} ms", BUCKETS_MS[i - 1], BUCKETS_MS[i]),
                _ => format!("> {} ms", BUCKETS_MS[BUCKETS_MS.len() - 1]),
            };
            let bar = "#".repeat((count * BAR).div_ceil(widest));
            writeln!(
                f,
                "  {label:>10} |{bar:<BAR$}| {count:>7} ({:>5.1}%)",
                100.0 * count as f64 / total as f64
            )?;
        }
        Ok(())
    }
}
