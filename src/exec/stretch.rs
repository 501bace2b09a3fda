//! When a worker's tasks started, for its thread state, read from the clock once per stretch of
//! short tasks rather than once per task.
//!
//! A clock read and the packing of a state word cost about as much as a tiny task's whole
//! hand-off. A worker running tasks back to back reads the clock before every
//! [`READ_EVERY_SHORT`]th task while they are short (under [`LONG_TASK`] on average), and before
//! every task once they are longer; the tasks in between show the stretch's last read as their
//! start. A worker that parked begins a new stretch.

use std::time::{Duration, Instant};

use crate::threads;

/// Tasks shorter than this on average are timed in groups.
const LONG_TASK: Duration = Duration::from_micros(20);

/// How many short tasks share one clock read.
const READ_EVERY_SHORT: u32 = 16;

pub(crate) struct Stretch {
    /// The last clock read.
    since: Instant,
    /// Tasks started since `since`.
    unread: u32,
    read_every: u32,
    /// The thread-state word of an unnamed task that started at `since`.
    word: u64,
}

impl Stretch {
    pub(crate) fn new() -> Stretch {
        let since = Instant::now();
        Stretch {
            since,
            unread: 0,
            read_every: 1,
            word: threads::task_word(since),
        }
    }

    /// Counts the next task in; `parked`: the worker waited for it (a new stretch). Then
    /// [`word`](Stretch::word) and [`since`](Stretch::since) are what the task shows.
    #[inline]
    pub(crate) fn next(&mut self, parked: bool) {
        if parked || self.unread >= self.read_every {
            self.read(parked);
        }
        self.unread += 1;
    }

    /// The state word of an unnamed task that started at [`since`](Stretch::since).
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        self.word
    }

    /// When the current task started, as far as its thread state shows.
    pub(crate) fn since(&self) -> Instant {
        self.since
    }

    fn read(&mut self, parked: bool) {
        let now = Instant::now();
        // The time since the last read is the run time of the tasks since, unless the worker
        // parked in between: then the rate stays as it was.
        if !parked && self.unread > 0 {
            let per_task = now.saturating_duration_since(self.since) / self.unread;
            self.read_every = if per_task >= LONG_TASK {
                1
            } else {
                READ_EVERY_SHORT
            };
        }
        self.since = now;
        self.unread = 0;
        self.word = threads::task_word(now);
    }
}
