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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::Context;
    use crate::pipeline::Pipeline;
    use crate::progress::capture::Capture;

    /// The bar counts what the consumer received (after the filter), not what the source
    /// read, and ends its line when the run ends.
    #[test]
    fn the_bar_counts_items_finished_by_the_last_stage_and_ends_its_line() {
        let (screen, _serial) = Capture::install();
        let outcome = Pipeline::from_iter(&Context::new(), 0..1_000u64)
            .filter(2, |x| x % 4 == 0)
            .map(1, |x| x + 1)
            .progress(Some(1_000))
            .for_each(|_| {})
            .unwrap();
        assert_eq!(outcome.report().items_read(), 1_000);
        assert_eq!(outcome.report().items_delivered(), 250);
        let (line, ended) = screen.last();
        assert!(line.contains("250/1,000 items"), "{line:?}");
        assert!(ended, "the bar's line was not ended: {line:?}");
        crate::threads::assert_none_alive(Duration::from_secs(10));
    }
}
