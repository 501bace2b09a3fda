//! [`Panicked`]: a panic caught in user code, kept as a value.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

/// Turns a panic payload into a message: the `&str` or `String` it carries, otherwise
/// `"non-string panic payload"`.
///
/// # Examples
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
/// assert_eq!(homebound::task::panic_message(&*payload), "boom 7");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// A panic caught in user code: its message, the thread it happened on, and the original
/// payload so it can be re-raised with [`Panicked::resume`].
///
/// # Examples
///
/// ```
/// use homebound::Panicked;
///
/// let caught = std::thread::Builder::new()
///     .name("worker-1".into())
///     .spawn(|| Panicked::catch(|| -> u32 { panic!("disk full") }))
///     .unwrap()
///     .join()
///     .unwrap();
/// let p = caught.unwrap_err();
/// assert_eq!(p.message(), "disk full");
/// assert_eq!(p.thread(), Some("worker-1"));
/// ```
pub struct Panicked {
    message: String,
    thread: Option<String>,
    /// Kept behind a lock so `Panicked` is `Sync` (payloads are only `Send`).
    payload: parking_lot::Mutex<Option<Box<dyn Any + Send>>>,
}

impl Panicked {
    /// Builds a report from a payload caught on the current thread.
    pub fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        Panicked {
            message: panic_message(&*payload),
            thread: std::thread::current().name().map(str::to_owned),
            payload: parking_lot::Mutex::new(Some(payload)),
        }
    }

    /// Runs `f`, catching a panic as a `Panicked` report.
    pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
        panic::catch_unwind(AssertUnwindSafe(f)).map_err(Panicked::from_payload)
    }

    /// The same report without the payload: for a second reader (a task's handle) while the
    /// payload goes to the one place that may re-raise it (its group's result).
    pub(crate) fn without_payload(&self) -> Panicked {
        Panicked {
            message: self.message.clone(),
            thread: self.thread.clone(),
            payload: parking_lot::Mutex::new(None),
        }
    }

    /// The panic message (see [`panic_message`]).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The name of the thread that panicked, if it had one.
    pub fn thread(&self) -> Option<&str> {
        self.thread.as_deref()
    }

    /// Re-raises the original panic on the calling thread, like `std::panic::resume_unwind`.
    pub fn resume(mut self) -> ! {
        let payload = self.payload.get_mut().take();
        let message = std::mem::take(&mut self.message);
        panic::resume_unwind(payload.unwrap_or_else(|| Box::new(message)))
    }
}

/// A payload's own `Drop` may panic too; dropping a report never lets that escape.
impl Drop for Panicked {
    fn drop(&mut self) {
        if let Some(payload) = self.payload.get_mut().take() {
            drop_quietly(payload);
        }
    }
}

/// How many times a payload's drop may panic again before it is leaked instead.
const PAYLOAD_DROP_ATTEMPTS: usize = 8;

/// Drops a user value where a panic in its `Drop` cannot escape, and returns that panic as a
/// report. The one way homebound drops user values (closures, results, errors) that it does not
/// hand back.
pub(crate) fn drop_caught<T>(value: T) -> Result<(), Panicked> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).map_err(Panicked::from_payload)
}

/// Drops a user value and discards any panic from its `Drop`, including a payload whose own
/// drop panics again (after a few attempts such a payload is leaked: leaking is safe, unwinding
/// out of homebound's own threads is not).
pub(crate) fn drop_quietly<T>(value: T) {
    let mut pending = match panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        Ok(()) => return,
        Err(payload) => payload,
    };
    for _ in 0..PAYLOAD_DROP_ATTEMPTS {
        let payload = pending;
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(again) => pending = again,
        }
    }
    std::mem::forget(pending);
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("message", &self.message)
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.thread {
            Some(t) => write!(f, "panicked on thread '{t}': {}", self.message),
            None => write!(f, "panicked: {}", self.message),
        }
    }
}

impl std::error::Error for Panicked {}
