//! [`Stats`]: what a consumer has done so far.

use std::fmt;

/// Counters of a [`Consumer`](super::Consumer), from [`stats`](super::Consumer::stats) and
/// [`finish`](super::Consumer::finish).
///
/// Every entry this process took is, at any moment, in exactly one place: in flight, awaiting
/// its acknowledgement, acknowledged, abandoned (left pending by a cancelled or failed run),
/// unstarted (read but never handed to a run), or dead-lettered.
///
/// # Examples
///
/// ```
/// use homebound::redis::Stats;
///
/// let stats = Stats::default();
/// assert_eq!(stats.read + stats.reclaimed, 0);
/// println!("{stats}");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// New entries read with `XREADGROUP`.
    pub read: u64,
    /// Idle pending entries claimed with `XAUTOCLAIM` and processed.
    pub reclaimed: u64,
    /// Entries acknowledged with `XACK`.
    pub acked: u64,
    /// Entries handled whose `XACK` has not been sent yet.
    pub awaiting_ack: u64,
    /// Entries read or claimed, not yet handled nor given up.
    pub in_flight: u64,
    /// Entries a cancelled or failed run had taken (or that were abandoned on purpose): still
    /// pending in Redis, to be delivered again.
    pub abandoned: u64,
    /// Entries read but never handed to a run because it stopped first: still pending.
    pub unstarted: u64,
    /// Entries moved to the dead-letter stream after too many deliveries.
    pub dead_lettered: u64,
    /// Connections re-established after a failure.
    pub reconnects: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read {}, reclaimed {}, acked {}, awaiting ack {}, in flight {}, abandoned {}, \
             unstarted {}, dead-lettered {}, reconnects {}",
            self.read,
            self.reclaimed,
            self.acked,
            self.awaiting_ack,
            self.in_flight,
            self.abandoned,
            self.unstarted,
            self.dead_lettered,
            self.reconnects
        )
    }
}
