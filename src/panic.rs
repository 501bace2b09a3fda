//! [`Panicked`]: a panic caught in user code, kept as a value with everything known about it;
//! and the one helper through which homebound drops user values that may panic.
//!
//! # Where a panic's details come from
//!
//! The payload is what `catch_unwind` hands over. The panic's location and backtrace are only
//! known inside the panic hook, so homebound installs one hook, once, the first time it may
//! catch a panic. It records them for the panicking thread and then calls the hook that was
//! installed before it (so the default message, or your own hook, still runs). A hook you set
//! later replaces it: the panics caught after that have no location or backtrace.
//! [`std::backtrace::Backtrace::capture`] is used, so backtraces follow `RUST_BACKTRACE` /
//! `RUST_LIB_BACKTRACE` and cost next to nothing when they are off.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe, Location, PanicHookInfo};
use std::sync::{Arc, Once};

use parking_lot::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};

/// Turns a panic payload into a message: the `&str` or `String` it carries, the `Display` of a
/// `Box<dyn Error + Send + Sync>` or `Arc<dyn Error + Send + Sync>`, otherwise
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
    } else if let Some(e) = payload.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        e.to_string()
    } else if let Some(e) = payload.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
        e.to_string()
    } else {
        NON_STRING.to_string()
    }
}

const NON_STRING: &str = "non-string panic payload";

/// A panic caught in user code, with everything known about it: the message, the original
/// payload (to inspect, take back or re-raise), the thread, where it panicked, where the thread
/// or task that panicked was spawned, and a backtrace captured at the panic site.
///
/// `Panicked` is `Send + Sync` (so it fits in `Box<dyn Error + Send + Sync>` and can be a
/// context's cancel cause) although payloads are only `Send`: a payload of a type homebound
/// does not know is kept behind a lock, which is why [`payload`](Panicked::payload) and
/// [`downcast_ref`](Panicked::downcast_ref) return a [`PayloadRef`] guard rather than a plain
/// reference.
///
/// # Examples
///
/// ```
/// use homebound::Panicked;
///
/// let caught = std::thread::Builder::new()
///     .name("worker-1".into())
///     .spawn(|| Panicked::catch(|| -> u32 { std::panic::panic_any(404_u16) }))
///     .unwrap()
///     .join()
///     .unwrap();
/// let p = caught.unwrap_err();
/// assert_eq!(p.thread(), Some("worker-1"));
/// assert_eq!(p.downcast_ref::<u16>().as_deref(), Some(&404));
/// assert!(p.location().unwrap().contains(file!()));
/// let payload = p.into_payload(); // the original value, e.g. for resume_unwind
/// assert_eq!(payload.downcast_ref::<u16>(), Some(&404));
/// ```
pub struct Panicked {
    message: String,
    payload: Payload,
    /// Boxed: errors carrying a `Panicked` stay small on their happy path.
    details: Box<Details>,
}

/// Where and when: read only when someone looks at a panic.
#[derive(Clone)]
struct Details {
    thread: Option<String>,
    /// `file:line:column` of the `panic!`, from the hook.
    location: Option<String>,
    spawned_at: Option<&'static Location<'static>>,
    /// Shared by the copies a report hands to second readers.
    backtrace: Option<Arc<Backtrace>>,
}

/// The payload, kept in a form that is `Sync`: the common string and error payloads as
/// themselves, anything else behind a lock.
enum Payload {
    Str(&'static str),
    String(String),
    Error(Box<dyn Error + Send + Sync>),
    SharedError(Arc<dyn Error + Send + Sync>),
    Other(ReentrantMutex<Box<dyn Any + Send>>),
}

impl Payload {
    fn from_box(payload: Box<dyn Any + Send>) -> Payload {
        let payload = match payload.downcast::<&'static str>() {
            Ok(s) => return Payload::Str(*s),
            Err(other) => other,
        };
        let payload = match payload.downcast::<String>() {
            Ok(s) => return Payload::String(*s),
            Err(other) => other,
        };
        let payload = match payload.downcast::<Box<dyn Error + Send + Sync>>() {
            Ok(e) => return Payload::Error(*e),
            Err(other) => other,
        };
        match payload.downcast::<Arc<dyn Error + Send + Sync>>() {
            Ok(e) => Payload::SharedError(*e),
            Err(other) => Payload::Other(ReentrantMutex::new(other)),
        }
    }

    fn into_box(self) -> Box<dyn Any + Send> {
        match self {
            Payload::Str(s) => Box::new(s),
            Payload::String(s) => Box::new(s),
            Payload::Error(e) => Box::new(e),
            Payload::SharedError(e) => Box::new(e),
            Payload::Other(m) => m.into_inner(),
        }
    }

    fn get(&self) -> PayloadRef<'_, dyn Any + Send> {
        PayloadRef(match self {
            Payload::Str(s) => Held::Plain(s),
            Payload::String(s) => Held::Plain(s),
            Payload::Error(e) => Held::Plain(e),
            Payload::SharedError(e) => Held::Plain(e),
            Payload::Other(m) => Held::Locked(ReentrantMutexGuard::map(m.lock(), |b| &**b)),
        })
    }
}

/// A reference to a [`Panicked`]'s payload, or to the payload as a `T`. It derefs to the value.
///
/// For payload types other than `&str`, `String` and boxed or `Arc`'d errors, it holds a lock
/// (re-entrant on the same thread) for as long as it lives.
///
/// # Examples
///
/// ```
/// let p = homebound::Panicked::catch(|| std::panic::panic_any(7_u8)).unwrap_err();
/// let seven = p.downcast_ref::<u8>().unwrap();
/// assert_eq!(*seven, 7);
/// assert!(p.payload().is::<u8>());
/// ```
pub struct PayloadRef<'a, T: ?Sized>(Held<'a, T>);

enum Held<'a, T: ?Sized> {
    Plain(&'a T),
    Locked(MappedReentrantMutexGuard<'a, T>),
}

impl<T: ?Sized> Deref for PayloadRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            Held::Plain(r) => r,
            Held::Locked(g) => g,
        }
    }
}

impl<T: ?Sized> fmt::Debug for PayloadRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PayloadRef { .. }")
    }
}

impl Panicked {
    /// Builds a report from a payload caught on the current thread. The location and backtrace
    /// recorded by homebound's panic hook for this thread's latest panic are attached when they
    /// belong to this payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("parse failed")).unwrap_err();
    /// let report = Panicked::from_payload(payload);
    /// assert_eq!(report.message(), "parse failed");
    /// ```
    pub fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        let message = panic_message(&*payload);
        let site = take_site(&message);
        Panicked {
            message,
            payload: Payload::from_box(payload),
            details: Box::new(Details {
                thread: std::thread::current().name().map(str::to_owned),
                location: site.as_ref().and_then(|s| s.location.clone()),
                spawned_at: SPAWNED_AT.try_with(Cell::get).ok().flatten(),
                backtrace: site.map(|s| s.backtrace),
            }),
        }
    }

    /// Runs `f`, catching a panic as a `Panicked` report. When `f` does not panic this costs
    /// what `catch_unwind` costs, plus one check that the panic hook is installed.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// assert_eq!(Panicked::catch(|| 2 + 2).unwrap(), 4);
    /// let report = Panicked::catch(|| -> u32 { panic!("row {} is bad", 7) }).unwrap_err();
    /// assert_eq!(report.message(), "row 7 is bad");
    /// ```
    #[inline]
    pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
        install_hook();
        panic::catch_unwind(AssertUnwindSafe(f)).map_err(Panicked::from_payload)
    }

    /// The same report whose payload is its message: for a second reader (a task's handle)
    /// while the payload goes to the one place that may take it (its group's result).
    pub(crate) fn without_payload(&self) -> Panicked {
        Panicked {
            message: self.message.clone(),
            payload: Payload::String(self.message.clone()),
            details: self.details.clone(),
        }
    }

    /// Records where the panicking work was spawned or submitted, for pieces whose tasks run on
    /// threads spawned elsewhere (a pool's or group's workers).
    pub(crate) fn with_spawn_location(mut self, location: &'static Location<'static>) -> Panicked {
        self.details.spawned_at = Some(location);
        self
    }

    /// The panic message (see [`panic_message`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// let from_str = Panicked::catch(|| panic!("plain")).unwrap_err();
    /// let from_any = Panicked::catch(|| std::panic::panic_any(42_i32)).unwrap_err();
    /// assert_eq!(from_str.message(), "plain");
    /// assert!(!from_any.message().is_empty()); // a description even for a non-string payload
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The name of the thread that panicked, if it had one.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// let worker = std::thread::Builder::new().name("parser".into());
    /// let report = worker
    ///     .spawn(|| Panicked::catch(|| panic!("bad input")).unwrap_err())
    ///     .unwrap()
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(report.thread(), Some("parser"));
    /// ```
    pub fn thread(&self) -> Option<&str> {
        self.details.thread.as_deref()
    }

    /// Where the panic happened (`file:line:column`), when homebound's panic hook saw it.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// let report = Panicked::catch(|| panic!("here")).unwrap_err();
    /// let at = report.location().unwrap(); // `file:line:column` of the `panic!`
    /// assert!(at.contains(".rs:"));
    /// ```
    pub fn location(&self) -> Option<&str> {
        self.details.location.as_deref()
    }

    /// Where the thread or task that panicked was spawned, when homebound started it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use homebound::{Panicked, threads};
    ///
    /// let worker = threads::spawn("worker", || Panicked::catch(|| panic!("oops")).unwrap_err());
    /// let report = worker.unwrap().join().unwrap();
    /// assert!(report.spawn_location().is_some()); // the `threads::spawn` line above
    /// threads::assert_none_alive(Duration::from_secs(5));
    /// ```
    pub fn spawn_location(&self) -> Option<&'static Location<'static>> {
        self.details.spawned_at
    }

    /// The backtrace captured at the panic site, when homebound's panic hook saw the panic. It
    /// is only resolved (`status() == Captured`) when `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE`
    /// asks for backtraces.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::backtrace::BacktraceStatus;
    /// use homebound::Panicked;
    ///
    /// let report = Panicked::catch(|| panic!("deep")).unwrap_err();
    /// let trace = report.backtrace().unwrap(); // resolved only with RUST_BACKTRACE set
    /// assert!(matches!(trace.status(), BacktraceStatus::Captured | BacktraceStatus::Disabled));
    /// ```
    pub fn backtrace(&self) -> Option<&Backtrace> {
        self.details.backtrace.as_deref()
    }

    /// The original payload, as given to `panic!` or `panic_any`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// let report = Panicked::catch(|| std::panic::panic_any(404_u16)).unwrap_err();
    /// assert_eq!(report.payload().downcast_ref::<u16>(), Some(&404));
    /// ```
    pub fn payload(&self) -> PayloadRef<'_, dyn Any + Send> {
        self.payload.get()
    }

    /// The payload as a `T`, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Corrupt { row: usize }
    ///
    /// let report = Panicked::catch(|| std::panic::panic_any(Corrupt { row: 3 })).unwrap_err();
    /// assert_eq!(*report.downcast_ref::<Corrupt>().unwrap(), Corrupt { row: 3 });
    /// assert!(report.downcast_ref::<u8>().is_none());
    /// ```
    pub fn downcast_ref<T: Any>(&self) -> Option<PayloadRef<'_, T>> {
        match &self.payload {
            Payload::Other(m) => ReentrantMutexGuard::try_map(m.lock(), |b| b.downcast_ref::<T>())
                .ok()
                .map(|g| PayloadRef(Held::Locked(g))),
            plain => match plain.get().0 {
                Held::Plain(any) => (any as &dyn Any)
                    .downcast_ref::<T>()
                    .map(|t| PayloadRef(Held::Plain(t))),
                Held::Locked(_) => None,
            },
        }
    }

    /// Takes the original payload back, e.g. for `std::panic::resume_unwind`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// let report = Panicked::catch(|| std::panic::panic_any(7_u64)).unwrap_err();
    /// let payload: Box<dyn std::any::Any + Send> = report.into_payload();
    /// assert_eq!(*payload.downcast::<u64>().unwrap(), 7);
    /// ```
    pub fn into_payload(mut self) -> Box<dyn Any + Send> {
        std::mem::replace(&mut self.payload, Payload::Str("")).into_box()
    }

    /// Re-raises the original panic on the calling thread, like `std::panic::resume_unwind`.
    /// The location and backtrace travel with it to whoever catches it next as a `Panicked`.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::Panicked;
    ///
    /// let first = Panicked::catch(|| panic!("original")).unwrap_err();
    /// let again = Panicked::catch(move || first.resume()).unwrap_err();
    /// assert_eq!(again.message(), "original"); // the same panic, caught a second time
    /// ```
    pub fn resume(mut self) -> ! {
        if let Some(backtrace) = self.details.backtrace.take() {
            let site = Site {
                message: Some(self.message.clone()),
                location: self.details.location.take(),
                backtrace,
            };
            let _ = LAST_SITE.try_with(|last| *last.borrow_mut() = Some(site));
        }
        panic::resume_unwind(std::mem::replace(&mut self.payload, Payload::Str("")).into_box())
    }
}

/// A payload's own `Drop` may panic too; dropping a report never lets that escape.
impl Drop for Panicked {
    fn drop(&mut self) {
        drop_quietly(std::mem::replace(&mut self.payload, Payload::Str("")));
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("message", &self.message)
            .field("thread", &self.details.thread)
            .field("location", &self.details.location)
            .field(
                "spawned_at",
                &self.details.spawned_at.map(ToString::to_string),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.details.thread {
            Some(t) => write!(f, "panicked on thread '{t}': {}", self.message),
            None => write!(f, "panicked: {}", self.message),
        }
    }
}

/// `source()` is the payload when it is an error (`panic_any` with a
/// `Box<dyn Error + Send + Sync>` or `Arc<dyn Error + Send + Sync>`).
impl Error for Panicked {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.payload {
            Payload::Error(e) => Some(&**e),
            Payload::SharedError(e) => Some(&**e),
            _ => None,
        }
    }
}

// ----- the panic hook -----

/// What the hook saw of a thread's latest panic.
struct Site {
    /// `None` when the payload is not a string.
    message: Option<String>,
    location: Option<String>,
    backtrace: Arc<Backtrace>,
}

thread_local! {
    static LAST_SITE: RefCell<Option<Site>> = const { RefCell::new(None) };
    /// Set by the thread registry on homebound threads: where this thread was spawned.
    static SPAWNED_AT: Cell<Option<&'static Location<'static>>> = const { Cell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs homebound's panic hook once, chaining the hook that was installed before. Inlined
/// down to one load once installed: `Panicked::catch` calls it on its no-panic path.
#[inline]
pub(crate) fn install_hook() {
    if !HOOK.is_completed() {
        install_hook_now();
    }
}

#[cold]
#[inline(never)]
fn install_hook_now() {
    // `set_hook` panics on a panicking thread; the next call installs it instead.
    if std::thread::panicking() {
        return;
    }
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            record_site(info);
            previous(info);
        }));
    });
}

fn record_site(info: &PanicHookInfo<'_>) {
    let site = Site {
        message: payload_str(info.payload()).map(str::to_owned),
        location: info.location().map(ToString::to_string),
        backtrace: Arc::new(Backtrace::capture()),
    };
    let _ = LAST_SITE.try_with(|last| *last.borrow_mut() = Some(site));
}

/// The payload's text if it is a string (what `PanicHookInfo::payload_as_str` gives on newer
/// Rust).
fn payload_str(payload: &(dyn Any + Send)) -> Option<&str> {
    match payload.downcast_ref::<&'static str>() {
        Some(s) => Some(s),
        None => payload.downcast_ref::<String>().map(String::as_str),
    }
}

/// The hook's record of this thread's latest panic, if it is the one whose message is
/// `message` (a payload re-raised with `resume_unwind` does not pass the hook, so an older
/// record must not be mistaken for it).
fn take_site(message: &str) -> Option<Site> {
    let site = LAST_SITE.try_with(|last| last.borrow_mut().take()).ok()??;
    let matches = match &site.message {
        Some(m) => m == message,
        None => true,
    };
    matches.then_some(site)
}

/// Marks the current thread as spawned at `location` (the thread registry calls this).
pub(crate) fn set_spawn_location(location: &'static Location<'static>) {
    let _ = SPAWNED_AT.try_with(|s| s.set(Some(location)));
}

// ----- the one containment helper -----

/// How many times a payload's drop may panic again before it is leaked instead.
const PAYLOAD_DROP_ATTEMPTS: usize = 8;

/// Drops a user value where a panic in its `Drop` cannot escape, and returns that panic as a
/// report. The one way homebound drops user values (closures, results, errors) that it does not
/// hand back.
pub(crate) fn drop_caught<T>(value: T) -> Result<(), Panicked> {
    install_hook();
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
