//! The pulse: a process-wide counter that a daemon thread advances every millisecond while any
//! pipeline runs, and that every cancellation of a run advances at once.
//!
//! Stage loops compare the pulse with the value they last saw between **blind blocks** of items
//! (see [`Pace`]): one relaxed load per block, where a clock read would cost tens of
//! nanoseconds. Inside a block there is no check at all, so the compiler can unroll and
//! vectorise a trivial stage's loop; a per-item check cost about as much as the work itself.
//! When the pulse has moved, the loop looks at what may have happened: a cancellation (stop
//! now), or time passing (send a partly filled chunk, so a slow stage's results reach the
//! consumer within about one item's time).
//!
//! A block is one item long after the pulse has moved and doubles while blocks end before it
//! moves, up to [`BLIND_MAX`] items. So a stage whose items take about a millisecond or more
//! looks up after every item, and a fast one every [`BLIND_MAX`] items (microseconds). The one
//! case a block can outlast the promise: when items turn from fast to slow at once, the block
//! under way finishes first, so up to [`BLIND_MAX`] slow items can pass before the stage looks
//! up; from then on it looks up after every item again.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::threads;

/// How often the pulse beats while a pipeline runs.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Beats a partly filled chunk may wait before it is sent.
pub(crate) const FLUSH_TICKS: u64 = 2;

static PULSE: AtomicU64 = AtomicU64::new(0);

/// Runs in progress, and whether the daemon thread exists.
static STATE: Mutex<State> = Mutex::new(State {
    runs: 0,
    started: false,
});
static WAKE: Condvar = Condvar::new();

struct State {
    runs: usize,
    started: bool,
}

/// The pulse now.
#[inline]
pub(crate) fn now() -> u64 {
    PULSE.load(Relaxed)
}

/// Moves the pulse at once (a run was cancelled): every stage loop looks up from its items.
pub(crate) fn bump() {
    PULSE.fetch_add(1, Relaxed);
}

/// Most items a loop processes between two looks at the pulse (see [`Pace`]).
pub(crate) const BLIND_MAX: usize = 16;

/// How many items a loop processes "blind" (in a tight loop with no check inside, which the
/// compiler can unroll and vectorise) before it looks at the pulse again: one item after the
/// pulse has moved, then twice as many after each block that ended before it moved, up to
/// [`BLIND_MAX`]. The pulse moves every millisecond, so the blocks shrink to one item as soon
/// as one takes about a millisecond: a loop whose items are slow looks up after every item,
/// and one whose items are fast looks up every [`BLIND_MAX`] items.
#[derive(Debug)]
pub(crate) struct Pace {
    block: usize,
}

impl Pace {
    pub(crate) fn new() -> Pace {
        Pace { block: 1 }
    }

    /// Items in the next block.
    #[inline]
    pub(crate) fn block(&self) -> usize {
        self.block
    }

    /// A block ended with the pulse where it was: the next may be longer.
    #[inline]
    pub(crate) fn quiet(&mut self) {
        self.block = (self.block * 2).min(BLIND_MAX);
    }

    /// The pulse moved: look up after every item again, until blocks prove quick.
    #[inline]
    pub(crate) fn moved(&mut self) {
        self.block = 1;
    }
}

/// The pulse as one worker last saw it.
#[derive(Debug)]
pub(crate) struct Beat {
    seen: u64,
}

impl Beat {
    pub(crate) fn new() -> Beat {
        Beat { seen: now() }
    }

    /// Whether the pulse moved since [`catch_up`](Beat::catch_up): the per-item check.
    #[inline]
    pub(crate) fn moved(&self) -> bool {
        now() != self.seen
    }

    /// The check, for a hot loop: the pulse's cell and the value seen (kept in registers, so
    /// the check is one load and one compare).
    #[inline]
    pub(crate) fn probe(&self) -> Probe {
        Probe {
            cell: &PULSE,
            seen: self.seen,
        }
    }

    /// Notes the pulse now; returns it.
    #[inline]
    pub(crate) fn catch_up(&mut self) -> u64 {
        self.seen = now();
        self.seen
    }
}

/// [`Beat::moved`], with the cell's address at hand.
#[derive(Clone, Copy)]
pub(crate) struct Probe {
    cell: &'static AtomicU64,
    seen: u64,
}

impl Probe {
    #[inline(always)]
    pub(crate) fn moved(self) -> bool {
        self.cell.load(Relaxed) != self.seen
    }
}

/// Keeps the pulse beating while alive (one per running pipeline).
#[derive(Debug)]
pub(crate) struct Running(());

/// Makes the pulse beat until the returned guard is dropped. If the daemon thread cannot be
/// started, stages still stop on cancel (which moves the pulse itself) and send partly filled
/// chunks whenever they wait for input; only the flush in the middle of a busy chunk is lost.
pub(crate) fn run() -> Running {
    let mut state = STATE.lock();
    state.runs += 1;
    if !state.started {
        let spawned = threads::Builder::new("pulse").daemon().spawn(beat);
        // The daemon is never joined: it parks while no pipeline runs.
        state.started = spawned.is_ok();
    }
    drop(state);
    WAKE.notify_one();
    Running(())
}

impl Drop for Running {
    fn drop(&mut self) {
        STATE.lock().runs -= 1;
    }
}

/// The daemon: beats every [`TICK`] while a run is in progress, parks otherwise. It runs no user
/// code.
fn beat() {
    loop {
        {
            let mut state = STATE.lock();
            while state.runs == 0 {
                WAKE.wait(&mut state);
            }
        }
        std::thread::sleep(TICK);
        PULSE.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_double_to_the_cap_and_shrink_to_one_when_the_pulse_moves() {
        let mut pace = Pace::new();
        let mut sizes = vec![pace.block()];
        for _ in 0..6 {
            pace.quiet();
            sizes.push(pace.block());
        }
        assert_eq!(sizes, [1, 2, 4, 8, 16, 16, 16]);
        assert_eq!(BLIND_MAX, 16);
        pace.moved();
        assert_eq!(pace.block(), 1);
    }
}
