//! The progress bar of the `progress` feature: a small thread that samples how many items the
//! consumer has received (what made it through the last stage) ten times a second and draws it
//! with indicatif on stderr.

use std::sync::Arc;

use crossbeam_channel::{Sender, bounded};

use super::report::StageStats;
use crate::threads::{self, JoinHandle};

/// A running progress bar; [`finish`](Progress::finish) stops and joins it.
pub(crate) struct Progress {
    /// Dropping it wakes the drawing thread, which then draws the final state and exits.
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl Progress {
    /// Starts drawing the consumer's (`sink`'s) count; `None` if the thread could not start (the
    /// run goes on without a bar).
    pub(crate) fn start(sink: Arc<StageStats>, total: Option<u64>) -> Option<Progress> {
        let (stop, stopped) = bounded::<()>(0);
        let handle = threads::spawn("progress", move || {
            crate::progress::draw(total, &stopped, || sink.items_out());
        })
        .ok()?;
        Some(Progress { stop, handle })
    }

    /// Draws the final state and joins the thread.
    pub(crate) fn finish(self) {
        drop(self.stop);
        let _ = self.handle.join();
    }
}
