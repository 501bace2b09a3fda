//! [`signal_context`]: a context cancelled by SIGINT or SIGTERM (Go's `signal.NotifyContext`),
//! for batch tools that need no services, drains or grace period.

use std::fmt;

use super::cause::Cause as ShutdownCause;
use super::error::Error;
use super::policy::SecondSignal;
use crate::context::{Cause, Context};

/// A [`Context`] cancelled by the first SIGINT or SIGTERM, from [`signal_context`]. It is a
/// guard: dropping it (or [`stop`](SignalContext::stop)) cancels the context, stops listening and
/// gives the signals back their previous disposition.
///
/// # Examples
///
/// See [`signal_context`].
#[must_use = "dropping the guard stops listening and cancels its context at once"]
pub struct SignalContext {
    ctx: Context,
    #[cfg(unix)]
    installed: unix::Installed,
}

/// A child of `parent` that is cancelled when the process receives SIGINT (Ctrl-C) or SIGTERM,
/// with the cause [`shutdown::Cause::Signal(signo)`](ShutdownCause::Signal) (a
/// [`Cause::Reason`]); a second signal ends the process with `128 + signo`
/// ([`SecondSignal::Exit`]). For a batch tool, this is all a graceful Ctrl-C needs:
///
/// ```no_run
/// use homebound::{Context, shutdown};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let signals = shutdown::signal_context(&Context::new())?;
///     let ctx = signals.context();
///     let mut done = 0;
///     while done < 1_000_000 && !ctx.is_cancelled() {
///         done += 1; // one unit of work
///     }
///     println!("processed {done} items");
///     if let Some(code) = signals.exit_code() {
///         std::process::exit(code); // 130 after Ctrl-C, as shells expect
///     }
///     Ok(())
/// }
/// ```
///
/// * **Signals before and after.** Until this call SIGINT and SIGTERM have their previous
///   disposition (by default they terminate the process). A signal that arrives once this
///   call has begun is not lost: the context is cancelled as soon as its thread reads it.
///   Dropping the guard restores the default action (unless another [`signal_context`] or
///   [`Shutdown::on_signals`](super::Shutdown::on_signals) is still listening; each receives
///   every signal).
/// * **Threads.** The handler only writes to a pipe; a registered thread
///   (`homebound-signal-context-<n>`) cancels the context. Dropping the guard joins it, so the
///   leak check passes.
/// * **Elsewhere.** On targets without Unix signals this returns a plain child of `parent`
///   that no signal cancels (Ctrl-C keeps its default action there), so the same code builds
///   everywhere.
///
/// # Errors
///
/// [`Error::Signals`] if the handlers or the thread could not be set up.
pub fn signal_context(parent: &Context) -> Result<SignalContext, Error> {
    signal_context_with(parent, SecondSignal::Exit)
}

/// Like [`signal_context`], choosing what a second signal does.
///
/// # Errors
///
/// [`Error::Signals`] if the handlers or the thread could not be set up.
///
/// # Examples
///
/// Stop reading on the first Ctrl-C, abandon the work in flight on the second:
///
/// ```
/// use homebound::{Context, shutdown::{self, SecondSignal}};
///
/// let work = Context::new();
/// let intake = shutdown::signal_context_with(&Context::new(), SecondSignal::Cancel(work.clone()))?;
/// assert!(!intake.context().is_cancelled()); // no signal yet
/// drop(intake); // stops listening; cancels the intake context only
/// assert!(!work.is_cancelled());
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// # Ok::<(), homebound::shutdown::Error>(())
/// ```
pub fn signal_context_with(parent: &Context, second: SecondSignal) -> Result<SignalContext, Error> {
    let ctx = parent.child();
    #[cfg(unix)]
    {
        let installed = unix::Installed::start(&ctx, second).map_err(Error::Signals)?;
        Ok(SignalContext { ctx, installed })
    }
    #[cfg(not(unix))]
    {
        drop(second);
        Ok(SignalContext { ctx })
    }
}

/// The conventional exit code for a process whose work `ctx` was cancelled by a signal:
/// `128 + signo` (130 after Ctrl-C) when `ctx`'s cause is a
/// [`shutdown::Cause::Signal`](ShutdownCause::Signal), from a [`signal_context`] or a
/// [`Shutdown`](super::Shutdown) that began on a signal; `None` otherwise.
///
/// # Examples
///
/// ```
/// use homebound::{Context, shutdown};
///
/// let ctx = Context::new();
/// assert_eq!(shutdown::signal_exit_code(&ctx), None);
/// ctx.cancel_with(shutdown::Cause::Signal(2)); // what Ctrl-C does to a signal context
/// assert_eq!(shutdown::signal_exit_code(&ctx.child()), Some(130));
/// ```
pub fn signal_exit_code(ctx: &Context) -> Option<i32> {
    signal_of(ctx).map(|signo| 128 + signo)
}

/// The signal that cancelled `ctx` (or an ancestor it inherited the cause from).
fn signal_of(ctx: &Context) -> Option<i32> {
    match ctx.cause()? {
        Cause::Reason(reason) => match reason.downcast_ref::<ShutdownCause>()? {
            ShutdownCause::Signal(signo) => Some(*signo),
            _ => None,
        },
        _ => None,
    }
}

impl SignalContext {
    /// The context: a child of the parent, cancelled by the first signal.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Context, shutdown};
    ///
    /// let parent = Context::new();
    /// let signals = shutdown::signal_context(&parent)?;
    /// let ctx = signals.context().clone();
    /// assert!(!ctx.is_cancelled());
    /// drop(signals); // stops listening and cancels the context
    /// assert!(ctx.is_cancelled() && !parent.is_cancelled());
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The signal that cancelled the context, if one did.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, shutdown};
    ///
    /// let signals = shutdown::signal_context(&Context::new())?;
    /// assert_eq!(signals.signal(), None); // no SIGINT or SIGTERM yet
    /// signals.stop();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn signal(&self) -> Option<i32> {
        signal_of(&self.ctx)
    }

    /// `128 + signo` if a signal cancelled the context (130 after Ctrl-C), else `None`: the
    /// exit code shells and CLIs use for "ended by this signal". See [`signal_exit_code`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, shutdown};
    ///
    /// let signals = shutdown::signal_context(&Context::new())?;
    /// assert_eq!(signals.exit_code(), None); // Some(130) after Ctrl-C
    /// signals.stop();
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn exit_code(&self) -> Option<i32> {
        signal_exit_code(&self.ctx)
    }

    /// Stops listening, restores the signals' disposition, joins the thread and cancels the
    /// context (if no signal did). The same as dropping the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, shutdown};
    ///
    /// let signals = shutdown::signal_context(&Context::new())?;
    /// let ctx = signals.context().clone();
    /// signals.stop(); // the same as dropping it
    /// assert!(ctx.is_cancelled());
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn stop(self) {}
}

impl Drop for SignalContext {
    fn drop(&mut self) {
        #[cfg(unix)]
        self.installed.stop();
        self.ctx.cancel();
    }
}

impl fmt::Debug for SignalContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalContext")
            .field("signal", &self.signal())
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
mod unix {
    //! The Unix side: the exit-on-second-signal actions and the listener thread.

    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use signal_hook::SigId;

    use super::super::cause::Cause as ShutdownCause;
    use super::super::policy::SecondSignal;
    use super::super::signals::{Listener, SHUTDOWN_SIGNALS};
    use crate::context::Context;

    /// What a [`SignalContext`](super::SignalContext) installed, undone by `stop`.
    pub(super) struct Installed {
        /// The handler actions that end the process once armed.
        exit_actions: Vec<SigId>,
        listener: Listener,
    }

    impl Installed {
        pub(super) fn start(ctx: &Context, second: SecondSignal) -> io::Result<Installed> {
            let armed = Arc::new(AtomicBool::new(false));
            let mut exit_actions = Vec::new();
            let mut install = || -> io::Result<()> {
                if matches!(second, SecondSignal::Ignore) {
                    return Ok(());
                }
                // The exit action goes first: the arming below must not make the very signal
                // that arms it exit too (signal-hook runs a signal's actions in order).
                for signo in SHUTDOWN_SIGNALS {
                    exit_actions.push(signal_hook::flag::register_conditional_shutdown(
                        signo,
                        128 + signo,
                        Arc::clone(&armed),
                    )?);
                }
                if matches!(second, SecondSignal::Exit) {
                    // Armed from inside the handler, so even a burst exits on its second signal.
                    for signo in SHUTDOWN_SIGNALS {
                        exit_actions.push(signal_hook::flag::register(signo, Arc::clone(&armed))?);
                    }
                }
                Ok(())
            };
            let listener = install().and_then(|()| {
                let (ctx, mut seen) = (ctx.clone(), 0u32);
                Listener::start("signal-context", move |signo| {
                    seen = seen.saturating_add(1);
                    let cause = ShutdownCause::Signal(signo);
                    match (seen, &second) {
                        (1, _) => {
                            ctx.cancel_with(cause);
                        }
                        (2, SecondSignal::Cancel(hard)) => {
                            // Armed first: whoever sees the hard cancel may count on the next
                            // signal ending the process.
                            armed.store(true, Ordering::SeqCst);
                            hard.cancel_with(cause);
                        }
                        _ => {}
                    }
                    true
                })
            });
            match listener {
                Ok(listener) => Ok(Installed {
                    exit_actions,
                    listener,
                }),
                Err(e) => {
                    for id in exit_actions {
                        signal_hook::low_level::unregister(id);
                    }
                    Err(e)
                }
            }
        }

        /// Removes the exit actions, then stops the listener (which restores the default
        /// action when it was the last one).
        pub(super) fn stop(&mut self) {
            for id in self.exit_actions.drain(..) {
                signal_hook::low_level::unregister(id);
            }
            self.listener.stop();
        }
    }
}
