//! The dump on demand (Unix): SIGUSR1 prints [`dump`](super::dump) to stderr, as `kill -USR1
//! <pid>` asks a JVM or a Go program (`SIGQUIT`) for its threads, without stopping anything.
//!
//! The OS handler signal-hook installs only writes to a self-pipe; the dump is taken and
//! written on a registered thread. signal-hook never uninstalls its OS handler, so the first
//! listener also registers, once, a hook that runs SIGUSR1's default action (terminate) while
//! no listener is open: after the guard drops, the signal does what it did before.

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::Mutex;
use signal_hook::consts::SIGUSR1;
use signal_hook::iterator::{Handle, Signals};

use super::JoinHandle;

/// Open listeners, and the flag that restores the default action when there are none (`None`
/// until the first listener registers it).
static LISTENERS: Mutex<(usize, Option<Arc<AtomicBool>>)> = Mutex::new((0, None));

/// The SIGUSR1 dump handler; dropping it (or [`uninstall`](DumpOnSignal::uninstall)) stops
/// printing and joins its thread. Made by [`dump_on_sigusr1`].
///
/// # Examples
///
/// ```
/// let guard = homebound::threads::dump_on_sigusr1().unwrap();
/// // `kill -USR1 <pid>` now prints the dump to stderr.
/// guard.uninstall();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "the handler is uninstalled when the guard is dropped"]
#[derive(Debug)]
pub struct DumpOnSignal {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

/// Prints [`dump`](super::dump) to stderr each time the process receives SIGUSR1, until the
/// returned guard is dropped. Opt-in; the dump is taken on a registered thread (`homebound-
/// dump-signal-<n>`), never inside the signal handler.
///
/// # Errors
///
/// The OS error if the handler or its thread could not be set up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let guard = homebound::threads::dump_on_sigusr1().unwrap();
/// // ... run the service; `kill -USR1 <pid>` prints every thread and what it does ...
/// drop(guard); // uninstalled; its thread joined
/// homebound::threads::assert_none_alive(Duration::from_secs(5));
/// ```
pub fn dump_on_sigusr1() -> io::Result<DumpOnSignal> {
    listening(true)?;
    let started = Signals::new([SIGUSR1]).and_then(|mut signals| {
        let handle = signals.handle();
        let thread = super::spawn("dump-signal", move || {
            for _ in signals.forever() {
                let _ = super::dump_to(io::stderr().lock());
            }
        });
        thread.map(|thread| (handle, thread))
    });
    match started {
        Ok((handle, thread)) => Ok(DumpOnSignal {
            handle,
            thread: Some(thread),
        }),
        Err(e) => {
            let _ = listening(false);
            Err(e)
        }
    }
}

impl DumpOnSignal {
    /// Uninstalls the handler and joins its thread (what dropping the guard does).
    ///
    /// # Examples
    ///
    /// ```
    /// let guard = homebound::threads::dump_on_sigusr1().unwrap();
    /// guard.uninstall();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn uninstall(self) {
        drop(self);
    }
}

impl Drop for DumpOnSignal {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = listening(false);
    }
}

/// Counts a listener in or out; the default action runs while none is open.
fn listening(open: bool) -> io::Result<()> {
    let mut listeners = LISTENERS.lock();
    if listeners.1.is_none() {
        let restore = Arc::new(AtomicBool::new(true));
        signal_hook::flag::register_conditional_default(SIGUSR1, Arc::clone(&restore))?;
        listeners.1 = Some(restore);
    }
    if open {
        listeners.0 += 1;
    } else {
        listeners.0 = listeners.0.saturating_sub(1);
    }
    if let Some(restore) = &listeners.1 {
        restore.store(listeners.0 == 0, std::sync::atomic::Ordering::SeqCst);
    }
    Ok(())
}
