//! [`Histogram`]: durations counted in power-of-two buckets, so `p50` / `p99` can be read
//! without an external crate. Bucket 0 holds zero; bucket `i ≥ 1` holds `[2^(i-1), 2^i)`
//! nanoseconds; the last bucket also holds everything longer (about 4.6 minutes and up).
//! A percentile is answered with its bucket's upper bound: at most twice the true value.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many buckets a histogram has.
pub const HISTOGRAM_BUCKETS: usize = 40;

fn bucket(ns: u64) -> usize {
    ((u64::BITS - ns.leading_zeros()) as usize).min(HISTOGRAM_BUCKETS - 1)
}

/// A snapshot of a power-of-two histogram of durations; see
/// [`Metrics::queue_wait_histogram`](super::Metrics::queue_wait_histogram).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::pool::Pool;
///
/// let pool = Pool::builder().workers(1).histograms(true).build().unwrap();
/// pool.submit(|_| ()).unwrap().join().unwrap();
/// pool.wait_idle().unwrap();
/// let waits = pool.metrics().queue_wait_histogram.unwrap();
/// assert_eq!(waits.count(), 1);
/// assert!(waits.percentile(0.5).unwrap() < Duration::from_secs(60));
/// # pool.shutdown();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: [u64; HISTOGRAM_BUCKETS],
}

impl Histogram {
    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound of the bucket holding the `q` quantile (`0.0 ..= 1.0`, clamped);
    /// `None` when nothing was recorded.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        // The rank of the quantile, 1-based, at least the first value.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::upper(i));
            }
        }
        Some(Self::upper(HISTOGRAM_BUCKETS - 1))
    }

    /// The median, as [`percentile`](Histogram::percentile)`(0.5)`.
    pub fn p50(&self) -> Option<Duration> {
        self.percentile(0.5)
    }

    /// As [`percentile`](Histogram::percentile)`(0.99)`.
    pub fn p99(&self) -> Option<Duration> {
        self.percentile(0.99)
    }

    /// Each non-empty bucket: its bounds `[low, high)` and how many durations fell in it.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, Duration, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, &n)| (Self::lower(i), Self::upper(i), n))
    }

    fn lower(i: usize) -> Duration {
        match i {
            0 => Duration::ZERO,
            i => Duration::from_nanos(1u64 << (i - 1)),
        }
    }

    fn upper(i: usize) -> Duration {
        Duration::from_nanos(1u64 << i)
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .field("p50", &self.p50())
            .field("p99", &self.p99())
            .finish()
    }
}

/// The pool's live histograms (shared by its workers).
pub(crate) struct Recorder {
    wait: [AtomicU64; HISTOGRAM_BUCKETS],
    run: [AtomicU64; HISTOGRAM_BUCKETS],
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            wait: std::array::from_fn(|_| AtomicU64::new(0)),
            run: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Recorder {
    /// One task: its queue wait, and its run time if it ran.
    pub(crate) fn record(&self, wait_ns: u64, run_ns: Option<u64>) {
        self.wait[bucket(wait_ns)].fetch_add(1, Ordering::Relaxed);
        if let Some(ns) = run_ns {
            self.run[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> (Histogram, Histogram) {
        let read = |a: &[AtomicU64; HISTOGRAM_BUCKETS]| Histogram {
            counts: std::array::from_fn(|i| a[i].load(Ordering::Relaxed)),
        };
        (read(&self.wait), read(&self.run))
    }
}

/// As the list of bucket counts (serde derives arrays only up to 32 items).
#[cfg(feature = "serde")]
impl serde::Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.counts.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_and_percentiles_their_upper_bounds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 1);
        assert_eq!(bucket(3), 2);
        assert_eq!(bucket(1024), 11);
        assert_eq!(bucket(u64::MAX), HISTOGRAM_BUCKETS - 1);
        let r = Recorder::default();
        for ns in [100, 100, 100, 5_000, 1_000_000] {
            r.record(ns, Some(ns));
        }
        let (wait, run) = r.snapshot();
        assert_eq!(wait, run);
        assert_eq!(wait.count(), 5);
        assert_eq!(wait.p50(), Some(Duration::from_nanos(128)));
        assert_eq!(wait.p99(), Some(Duration::from_nanos(1 << 20)));
        assert_eq!(wait.percentile(0.0), Some(Duration::from_nanos(128)));
        assert_eq!(wait.buckets().count(), 3);
        let empty = Recorder::default().snapshot().0;
        assert_eq!(empty.p50(), None);
    }
}
