//! The server's counters: what it accepted, answered and refused, and when it last answered.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Counters shared by the acceptor and every connection; each is bumped once per event.
#[derive(Debug)]
pub struct Stats {
    /// Connections accepted from the listener.
    pub connections: AtomicU64,
    /// Requests read in full: from here on the server owes each one an answer.
    pub requests: AtomicU64,
    /// Responses written, whatever their status.
    pub answered: AtomicU64,
    /// Of those, 503s for requests read after the stop began (cleanly refused).
    pub refused: AtomicU64,
    /// Malformed requests (answered 400, not counted in `requests`).
    pub bad: AtomicU64,
    /// Answers that could not be written because the client had gone.
    pub write_failed: AtomicU64,
    /// Requests whose handler is running right now.
    pub in_flight: AtomicU64,
    /// When the last answer was written, in µs after `since`.
    last_answer_us: AtomicU64,
    since: Instant,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            write_failed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            last_answer_us: AtomicU64::new(0),
            since: Instant::now(),
        }
    }
}

impl Stats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn answered_now(&self) {
        Stats::bump(&self.answered);
        let us = u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_answer_us.fetch_max(us, Relaxed);
    }

    /// When the last answer was written.
    pub fn last_answer(&self) -> Option<Instant> {
        match self.last_answer_us.load(Relaxed) {
            0 => None,
            us => Some(self.since + Duration::from_micros(us)),
        }
    }

    /// Every request read was answered, and every answer reached the socket.
    pub fn all_answered(&self) -> bool {
        Stats::get(&self.requests) == Stats::get(&self.answered)
            && Stats::get(&self.write_failed) == 0
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let answered = Stats::get(&self.answered);
        let refused = Stats::get(&self.refused);
        write!(
            f,
            "{} connections, {} requests accepted, {answered} answered ({} by handlers, {refused} \
             refused with 503 during the stop), {} bad, {} answers undeliverable",
            Stats::get(&self.connections),
            Stats::get(&self.requests),
            answered - refused,
            Stats::get(&self.bad),
            Stats::get(&self.write_failed),
        )
    }
}
