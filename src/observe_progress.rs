//! Progress bars for long batches that are not pipelines (feature `progress`): a `par_map`, a
//! group's tasks, a pool batch. Opt-in per call: start a [`Progress`], count finished items with
//! its [`Counter`] (a relaxed add; [`Counter::on_end`] counts an item when its guard drops, also
//! during a panic), or join a set of pool handles with [`Progress::join_all`]; then
//! [`finish`](Progress::finish).
//!
//! The bar is drawn by indicatif on stderr from a registered thread (`homebound-progress-<n>`)
//! ten times a second, never by the workers; when stderr is not a terminal, indicatif draws
//! nothing.
//!
//! ```
//! use homebound::{Context, fan::par_map, progress::Progress};
//!
//! let items: Vec<u64> = (0..1_000).collect();
//! let bar = Progress::start(Some(items.len() as u64));
//! let counter = bar.counter();
//! let squares = par_map(&Context::new(), items, |_ctx, x| {
//!     let _counted = counter.on_end();
//!     Ok::<_, ()>(x * x)
//! })
//! .unwrap();
//! assert_eq!(bar.finish(), 1_000);
//! assert_eq!(squares[3], 9);
//! # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::pool::TaskHandle;
use crate::task::JoinError;
use crate::threads::{self, JoinHandle};

/// A progress bar counting finished items (with rate and ETA when the total is known).
///
/// # Examples
///
/// ```
/// use homebound::{Context, scope, progress::Progress};
///
/// let bar = Progress::start(Some(3));
/// scope(&Context::new(), |g| {
///     for name in ["a", "b", "c"] {
///         let counter = bar.counter();
///         g.spawn_named(name, move |_| {
///             let _counted = counter.on_end();
///             Ok::<_, ()>(())
///         });
///     }
/// })
/// .unwrap();
/// assert_eq!(bar.finish(), 3);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "a progress bar draws until finish() (or drop)"]
#[derive(Debug)]
pub struct Progress {
    count: Arc<AtomicU64>,
    /// Dropping it wakes the drawing thread, which draws the final state and exits.
    stop: Option<Sender<()>>,
    drawer: Option<JoinHandle<()>>,
}

/// Counts finished items for a [`Progress`]; cheap to clone into tasks.
///
/// # Examples
///
/// ```
/// let bar = homebound::progress::Progress::start(None);
/// let counter = bar.counter();
/// counter.add(5);
/// assert_eq!(bar.finish(), 5);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct Counter(Arc<AtomicU64>);

/// Counts one item when dropped; made by [`Counter::on_end`].
#[must_use = "the item is counted when the guard drops"]
#[derive(Debug)]
pub struct Counted(Arc<AtomicU64>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Counter {
    /// Counts `n` finished items.
    ///
    /// # Examples
    ///
    /// ```
    /// let bar = homebound::progress::Progress::start(Some(10));
    /// bar.counter().add(10);
    /// assert_eq!(bar.finish(), 10);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// A guard that counts one item when it drops: at the item's end, however it ends.
    ///
    /// # Examples
    ///
    /// ```
    /// let bar = homebound::progress::Progress::start(None);
    /// let counter = bar.counter();
    /// let _ = std::panic::catch_unwind(|| {
    ///     let _counted = counter.on_end();
    ///     panic!("a failed item still counts as finished");
    /// });
    /// assert_eq!(bar.finish(), 1);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn on_end(&self) -> Counted {
        Counted(Arc::clone(&self.0))
    }
}

impl Progress {
    /// Starts a bar for `total` items (`None`: a counter with a rate and the elapsed time). If
    /// its drawing thread cannot start, items are still counted and nothing is drawn.
    ///
    /// # Examples
    ///
    /// ```
    /// let bar = homebound::progress::Progress::start(Some(100));
    /// assert_eq!(bar.finish(), 0);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn start(total: Option<u64>) -> Progress {
        let count = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = bounded::<()>(0);
        let seen = Arc::clone(&count);
        let drawer = threads::spawn("progress", move || {
            draw(total, &stopped, || seen.load(Ordering::Relaxed));
        })
        .ok();
        Progress {
            count,
            stop: Some(stop),
            drawer,
        }
    }

    /// A counter for the items of this bar.
    ///
    /// # Examples
    ///
    /// See [`Progress`].
    pub fn counter(&self) -> Counter {
        Counter(Arc::clone(&self.count))
    }

    /// Joins every handle of a pool batch in order, counting each as it is joined, and returns
    /// their results in the same order.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{pool::Pool, progress::Progress};
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let handles: Vec<_> = (0..8u64).map(|i| pool.submit(move |_| i + 1).unwrap()).collect();
    /// let bar = Progress::start(Some(handles.len() as u64));
    /// let results = bar.join_all(handles);
    /// assert_eq!(results.iter().map(|r| *r.as_ref().unwrap()).sum::<u64>(), 36);
    /// assert_eq!(bar.finish(), 8);
    /// pool.shutdown();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn join_all<T>(&self, handles: Vec<TaskHandle<T>>) -> Vec<Result<T, JoinError>> {
        handles
            .into_iter()
            .map(|h| {
                let result = h.join();
                self.count.fetch_add(1, Ordering::Relaxed);
                result
            })
            .collect()
    }

    /// Draws the final count, stops and joins the drawing thread, and returns the count.
    ///
    /// # Examples
    ///
    /// See [`Progress`].
    pub fn finish(mut self) -> u64 {
        self.stop_drawing();
        self.count.load(Ordering::Relaxed)
    }

    fn stop_drawing(&mut self) {
        drop(self.stop.take());
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_drawing();
    }
}

/// Draws a bar on stderr for `total` items (`None`: a counter with a rate and the elapsed
/// time), at `position()` ten times a second until `stopped` disconnects, then draws the final
/// state. The one bar homebound draws: for these batches and for pipelines
/// (`pipeline::progress`).
pub(crate) fn draw(total: Option<u64>, stopped: &Receiver<()>, position: impl Fn() -> u64) {
    #[cfg(test)]
    if let Some(capture) = capture::claim() {
        let end = capture.clone();
        let target = ProgressDrawTarget::term_like(Box::new(capture));
        return draw_on(target, move || end.end_line(), total, stopped, position);
    }
    draw_on(
        ProgressDrawTarget::stderr(),
        || eprintln!(),
        total,
        stopped,
        position,
    );
}

/// [`draw`] on `target`; `end_line` ends the bar's line once it is drawn for the last time.
fn draw_on(
    target: ProgressDrawTarget,
    end_line: impl FnOnce(),
    total: Option<u64>,
    stopped: &Receiver<()>,
    position: impl Fn() -> u64,
) {
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), target).with_style(style(
            "{spinner} {bar:30} {human_pos}/{human_len} items  {rate}  ETA {eta}",
        )),
        None => ProgressBar::with_draw_target(None, target)
            .with_style(style("{spinner} {human_pos} items  {rate}  {elapsed}")),
    };
    // A timed wait on the stop channel: it returns at once when the batch ends.
    while stopped
        .recv_timeout(Duration::from_millis(100))
        .is_err_and(|e| e.is_timeout())
    {
        bar.set_position(position());
    }
    bar.set_position(position());
    // Not `finish`: it moves the bar to its total, and a run that filtered, failed or stopped
    // early did not get there. The bar ends where the count is.
    bar.abandon();
    // indicatif leaves the cursor on the bar's line: end it, so that what is printed next
    // starts on a line of its own.
    if !bar.is_hidden() {
        end_line();
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

/// A terminal for the tests: the next bar drawn anywhere in the process draws into it instead
/// of stderr (a pipeline's bar is drawn on a thread the test does not own).
#[cfg(test)]
pub(crate) mod capture {
    use std::io;
    use std::sync::Arc;

    use indicatif::TermLike;
    use parking_lot::Mutex;

    static NEXT: Mutex<Option<Capture>> = Mutex::new(None);
    /// Held by a test from `install` to its end, so two tests' bars never swap terminals.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// What the bar wrote: the text of each line as last drawn, and whether it was ended.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Capture {
        inner: Arc<Mutex<Screen>>,
    }

    #[derive(Debug, Default)]
    struct Screen {
        line: String,
        ended: bool,
    }

    impl Capture {
        /// Makes the next bar draw here; the guard keeps other tests from installing theirs.
        pub(crate) fn install() -> (Capture, parking_lot::MutexGuard<'static, ()>) {
            let serial = SERIAL.lock();
            let capture = Capture::default();
            *NEXT.lock() = Some(capture.clone());
            (capture, serial)
        }

        /// The bar's line as last drawn, and whether its line was ended after the last draw.
        pub(crate) fn last(&self) -> (String, bool) {
            let screen = self.inner.lock();
            (screen.line.clone(), screen.ended)
        }

        pub(super) fn end_line(&self) {
            self.inner.lock().ended = true;
        }
    }

    pub(super) fn claim() -> Option<Capture> {
        NEXT.lock().take()
    }

    impl TermLike for Capture {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            // indicatif pads a line with blanks after its text: keep the text.
            if !s.trim().is_empty() {
                let mut screen = self.inner.lock();
                screen.line = s.to_owned();
                screen.ended = false;
            }
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;
    use super::capture::Capture;

    /// A batch that stopped early ends its bar at the count it reached, not at the total.
    #[test]
    fn a_batch_bar_ends_at_the_count_reached_and_ends_its_line() {
        let (screen, _serial) = Capture::install();
        let bar = Progress::start(Some(10));
        bar.counter().add(4);
        assert_eq!(bar.finish(), 4);
        let (line, ended) = screen.last();
        assert!(line.contains("4/10 items"), "{line:?}");
        assert!(ended, "the bar's line was not ended: {line:?}");
    }
}
