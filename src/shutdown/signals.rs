//! The signal listener (Unix only): SIGINT and SIGTERM become calls on a registered thread.
//!
//! The OS handler that signal-hook installs only writes to a self-pipe (async-signal-safe); the
//! work happens on a normal registered thread that hands each signal number to a callback. No
//! homebound code ever runs inside a signal handler or on a worker thread interrupted by one.
//!
//! # After the last listener closes
//!
//! signal-hook never uninstalls its OS handler: once the last action for a signal is removed, the
//! process would silently *ignore* that signal. A program that hangs after its shutdown report
//! must still die on Ctrl-C, so the first listener in the process also registers, once, a
//! "run the default action" hook guarded by a process-wide flag. The flag is off while any
//! listener ([`Shutdown::on_signals`](super::Shutdown::on_signals) or a
//! [`signal_context`](super::signal_context)) is open and on otherwise, so SIGINT and SIGTERM
//! terminate the process again, as if no handler had ever been installed.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use super::service::join_quietly;
use crate::threads::{self, JoinHandle};

/// The signals a shutdown listens to.
pub(crate) const SHUTDOWN_SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// How many listeners are open in the process, and the flag that restores the default action
/// when there are none. The flag is `None` until the first listener registers it.
static LISTENERS: Mutex<(usize, Option<Arc<AtomicBool>>)> = Mutex::new((0, None));

/// An open listener: the signal-hook handle that ends its iterator, and the thread reading it.
pub(crate) struct Listener {
    handle: Handle,
    /// `None` once stopped; joined exactly once.
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts listening for SIGINT and SIGTERM on a registered thread named after `owner`;
    /// each signal received is handed to `on_signal` until it returns `false` or the listener
    /// is [stopped](Listener::stop). A signal that arrives between this call and the thread's
    /// first read is kept by signal-hook and delivered, not lost.
    pub(crate) fn start(
        owner: &str,
        mut on_signal: impl FnMut(i32) -> bool + Send + 'static,
    ) -> io::Result<Listener> {
        listening(true)?;
        let started = Signals::new(SHUTDOWN_SIGNALS).and_then(|mut signals| {
            let handle = signals.handle();
            let thread = threads::spawn(owner, move || {
                for signo in signals.forever() {
                    if !on_signal(signo) {
                        break;
                    }
                }
            });
            match thread {
                Ok(thread) => Ok((handle, thread)),
                Err(e) => {
                    handle.close();
                    Err(e)
                }
            }
        });
        match started {
            Ok((handle, thread)) => Ok(Listener {
                handle,
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = listening(false);
                Err(e)
            }
        }
    }

    /// Closes the signal iterator and joins the thread (the leak check's promise G4).
    pub(crate) fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.close();
            join_quietly(thread);
            let _ = listening(false);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("open", &self.thread.is_some())
            .finish()
    }
}

/// Counts a listener opening (`true`) or closing (`false`) and arms the default action exactly
/// when none is open.
fn listening(open: bool) -> io::Result<()> {
    let mut state = LISTENERS.lock();
    if state.1.is_none() {
        let restore = Arc::new(AtomicBool::new(false));
        for signo in SHUTDOWN_SIGNALS {
            signal_hook::flag::register_conditional_default(signo, Arc::clone(&restore))?;
        }
        state.1 = Some(restore);
    }
    if open {
        state.0 += 1;
    } else {
        state.0 = state.0.saturating_sub(1);
    }
    if let Some(restore) = &state.1 {
        restore.store(state.0 == 0, Ordering::SeqCst);
    }
    Ok(())
}
