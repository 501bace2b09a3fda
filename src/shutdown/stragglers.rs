//! [`Stragglers`]: the services and drains still running when a shutdown's grace period ended.

use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::event::{Event, Inbox};
use super::outcome::{ServiceOutcome, ServiceReport};
use super::service::{join_quietly, joined};
use crate::threads::JoinHandle;

/// A service still running when the report is made: its index, name and thread.
pub(crate) type Straggling = (usize, String, JoinHandle<(ServiceOutcome, Duration)>);

/// Which line of a report a late end belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The service with this index.
    Service(usize),
    /// The drain with this index.
    Drain(usize),
}

/// The services and drains of a [`Shutdown`](super::Shutdown) still running when its grace
/// period ended (or a second signal forced the exit). Their threads are alive.
///
/// [`join_timeout`](Stragglers::join_timeout) waits for them (never polling) and joins every
/// thread that ended. Dropping a `Stragglers` detaches them instead; they stay listed by
/// [`threads::live`](crate::threads::live), so the leak check names them until they end.
///
/// Usually reached through [`Report::join_stragglers`](super::Report::join_stragglers); take it
/// out with [`Report::take_stragglers`](super::Report::take_stragglers) to keep the report as
/// plain data.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use crossbeam_channel::bounded;
/// use homebound::shutdown::{ServiceOutcome, Shutdown};
///
/// let (release_tx, release) = bounded::<()>(0);
/// let mut shutdown = Shutdown::new().grace(Duration::from_millis(10));
/// shutdown.service("stubborn", move |_ctx| {
///     let _ = release.recv(); // ignores the cancel
///     Ok::<(), String>(())
/// })?;
/// shutdown.trigger().fire();
/// let mut report = shutdown.wait();
/// let mut stragglers = report.take_stragglers().expect("one straggler");
/// drop(release_tx);
/// let late = stragglers.join_timeout(Duration::from_secs(5));
/// assert!(stragglers.is_empty());
/// assert_eq!(late[0].name(), "stubborn");
/// assert!(matches!(late[0].outcome(), ServiceOutcome::Ok));
/// assert!(late[0].overran());
/// # homebound::threads::assert_none_alive(Duration::from_secs(5));
/// # Ok::<(), homebound::shutdown::Error>(())
/// ```
#[must_use = "the stragglers' threads are still running: join them or they stay detached"]
pub struct Stragglers {
    /// Services still running: report index, name, thread.
    services: Vec<Straggling>,
    /// The drain thread, while it runs a drain.
    drains: Option<JoinHandle<()>>,
    /// The drains' names, by index (for the late lines).
    drain_names: Vec<String>,
    /// Where the stragglers announce their ends.
    inbox: Inbox,
}

impl Stragglers {
    pub(crate) fn new(
        services: Vec<Straggling>,
        drains: Option<JoinHandle<()>>,
        drain_names: Vec<String>,
        mut inbox: Inbox,
    ) -> Self {
        inbox.unwatch();
        Stragglers {
            services,
            drains,
            drain_names,
            inbox,
        }
    }

    /// Whether every straggler has been joined.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let (hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    /// shutdown.service("stuck", move |_ctx| { let _ = release.recv(); Ok::<(), String>(()) })?;
    /// shutdown.trigger().fire();
    /// let mut stragglers = shutdown.wait().take_stragglers().unwrap();
    /// assert!(!stragglers.is_empty());
    /// drop(hold);
    /// stragglers.join_timeout(Duration::from_secs(5));
    /// assert!(stragglers.is_empty());
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.drains.is_none()
    }

    /// The names of the threads still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let (hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    /// shutdown.service("stuck", move |_ctx| { let _ = release.recv(); Ok::<(), String>(()) })?;
    /// shutdown.trigger().fire();
    /// let mut stragglers = shutdown.wait().take_stragglers().unwrap();
    /// assert_eq!(stragglers.threads().len(), 1); // e.g. to log what is still alive
    /// drop(hold);
    /// stragglers.join_timeout(Duration::from_secs(5));
    /// assert!(stragglers.threads().is_empty());
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn threads(&self) -> Vec<String> {
        let services = self.services.iter().map(|(_, _, h)| h.name().to_owned());
        services
            .chain(self.drains.iter().map(|h| h.name().to_owned()))
            .collect()
    }

    /// Waits up to `timeout` for the stragglers to end and joins those that did. Returns the
    /// lines of the services and drains that ended meanwhile, with their real outcome, marked
    /// [`overran`](ServiceReport::overran); the rest stay in `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::shutdown::Shutdown;
    ///
    /// let (hold, release) = crossbeam_channel::bounded::<()>(0);
    /// let mut shutdown = Shutdown::new().grace(Duration::ZERO);
    /// shutdown.service("stuck", move |_ctx| { let _ = release.recv(); Ok::<(), String>(()) })?;
    /// shutdown.trigger().fire();
    /// let mut stragglers = shutdown.wait().take_stragglers().unwrap();
    /// assert!(stragglers.join_timeout(Duration::from_millis(1)).is_empty()); // not yet
    /// drop(hold);
    /// let late = stragglers.join_timeout(Duration::from_secs(5));
    /// assert_eq!(late[0].name(), "stuck");
    /// # homebound::threads::assert_none_alive(Duration::from_secs(5));
    /// # Ok::<(), homebound::shutdown::Error>(())
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Vec<ServiceReport> {
        self.join_until(crate::clock::after(timeout))
            .into_iter()
            .map(|(_, line)| line)
            .collect()
    }

    /// [`join_timeout`](Stragglers::join_timeout) with each late line's place in the report.
    pub(crate) fn join_until(&mut self, deadline: Option<Instant>) -> Vec<(Line, ServiceReport)> {
        let mut late = Vec::new();
        while !self.is_empty() {
            match self.inbox.next(deadline) {
                Ok(Event::ServiceEnded(i)) => self.join_service(i, &mut late),
                Ok(Event::DrainEnded(i, outcome, ran)) => {
                    let name = self.drain_names.get(i).cloned().unwrap_or_default();
                    late.push((Line::Drain(i), line(name, outcome, ran)));
                }
                Ok(Event::DrainsDone) => {
                    if let Some(thread) = self.drains.take() {
                        join_quietly(thread);
                    }
                }
                Ok(Event::Signal(_) | Event::Trigger | Event::ContextCancelled) => {}
                Err(RecvTimeoutError::Timeout) => break,
                // Every sender is gone, so every straggler has returned: join them all.
                Err(RecvTimeoutError::Disconnected) => {
                    let all: Vec<usize> = self.services.iter().map(|(i, ..)| *i).collect();
                    for i in all {
                        self.join_service(i, &mut late);
                    }
                    if let Some(thread) = self.drains.take() {
                        join_quietly(thread);
                    }
                }
            }
        }
        late
    }

    /// Joins service `i` if it is a straggler (it announced its end).
    fn join_service(&mut self, i: usize, late: &mut Vec<(Line, ServiceReport)>) {
        if let Some(at) = self.services.iter().position(|(j, ..)| *j == i) {
            let (_, name, handle) = self.services.swap_remove(at);
            let (outcome, ran) = joined(handle);
            late.push((Line::Service(i), line(name, outcome, ran)));
        }
    }
}

/// The line of a straggler that ended after the grace period.
fn line(name: String, outcome: ServiceOutcome, ran: Duration) -> ServiceReport {
    ServiceReport {
        name,
        outcome,
        ran,
        overran: true,
    }
}

impl fmt::Debug for Stragglers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stragglers")
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}
