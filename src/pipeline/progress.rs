//! The progress bar of the `progress` feature: a small thread that samples how many items the
//! consumer has received (what made it through the last stage) ten times a second and draws it
//! with indicatif on stderr.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

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
            let bar = match total {
                Some(total) => {
                    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                        .with_style(style(
                            "{spinner} {bar:30} {human_pos}/{human_len} items  {rate}  ETA {eta}",
                        ))
                }
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                    .with_style(style("{spinner} {human_pos} items  {rate}  {elapsed}")),
            };
            // A timed wait on the stop channel: it returns at once when the run ends.
            while stopped
                .recv_timeout(Duration::from_millis(100))
                .is_err_and(|e| e.is_timeout())
            {
                bar.set_position(sink.items_out());
            }
            bar.set_position(sink.items_out());
            bar.finish();
            // indicatif leaves the cursor on the bar's line: end it, so that what is printed
            // next starts on a line of its own.
            if !bar.is_hidden() {
                eprintln!();
            }
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

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} items/s", state.per_sec());
            },
        )
}
