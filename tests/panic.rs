//! `Panicked` keeps everything about a panic (issue 15 item 3): the payload (to inspect, take
//! back or re-raise), `source()` for error payloads, the thread, where it panicked, where the
//! thread was spawned, and a backtrace captured at the panic site.

use std::error::Error;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use homebound::{Panicked, threads};

const BOUND: Duration = Duration::from_secs(10);

fn no_leaks() {
    threads::assert_none_alive(BOUND);
}

#[derive(Debug, PartialEq)]
struct Code(u32);

#[derive(Debug)]
struct DiskFull;

impl fmt::Display for DiskFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disk full")
    }
}

impl Error for DiskFull {}

#[test]
fn a_non_string_payload_is_kept_and_can_be_taken_back() {
    let p = Panicked::catch(|| panic::panic_any(Code(7))).unwrap_err();
    assert_eq!(p.message(), "non-string panic payload");
    assert_eq!(p.downcast_ref::<Code>().as_deref(), Some(&Code(7)));
    assert!(p.downcast_ref::<String>().is_none());
    assert!(p.payload().is::<Code>());
    // Two guards at once on the same thread are fine (the lock is re-entrant).
    let (a, b) = (p.payload(), p.downcast_ref::<Code>().unwrap());
    assert!(a.is::<Code>() && b.0 == 7);
    drop((a, b));
    let payload = p.into_payload();
    assert_eq!(payload.downcast_ref::<Code>(), Some(&Code(7)));
    no_leaks();
}

#[test]
fn string_payloads_keep_their_type() {
    let p = Panicked::catch(|| panic!("static")).unwrap_err();
    assert_eq!(p.downcast_ref::<&str>().as_deref(), Some(&"static"));
    let n = std::hint::black_box(1); // a literal argument would be folded into a `&str`
    let p = Panicked::catch(|| panic!("formatted {n}")).unwrap_err();
    assert_eq!(
        p.downcast_ref::<String>().as_deref().map(String::as_str),
        Some("formatted 1")
    );
    assert_eq!(
        p.into_payload().downcast_ref::<String>().unwrap(),
        "formatted 1"
    );
    no_leaks();
}

#[test]
fn resume_re_raises_the_original_payload_and_keeps_the_site() {
    let first = Panicked::catch(|| panic::panic_any(Code(3))).unwrap_err();
    let location = first.location().map(str::to_owned);
    let again = Panicked::catch(move || first.resume()).unwrap_err();
    assert_eq!(again.downcast_ref::<Code>().as_deref(), Some(&Code(3)));
    assert_eq!(again.location().map(str::to_owned), location);
    assert!(again.backtrace().is_some());
    no_leaks();
}

#[test]
fn an_error_payload_is_the_source() {
    let boxed: Box<dyn Error + Send + Sync> = Box::new(DiskFull);
    let p = Panicked::catch(move || panic::panic_any(boxed)).unwrap_err();
    assert_eq!(p.message(), "disk full");
    let source = p.source().expect("the payload is an error");
    assert!(source.downcast_ref::<DiskFull>().is_some());
    let shared: Arc<dyn Error + Send + Sync> = Arc::new(DiskFull);
    let p = Panicked::catch(move || panic::panic_any(shared)).unwrap_err();
    assert!(p.source().unwrap().is::<DiskFull>());
    // A string payload has no source.
    assert!(
        Panicked::catch(|| panic!("x"))
            .unwrap_err()
            .source()
            .is_none()
    );
    no_leaks();
}

#[test]
fn thread_location_and_spawn_location_are_kept() {
    let h = threads::spawn("keeps-all", || {
        Panicked::catch(|| panic!("here")).unwrap_err()
    })
    .unwrap();
    let p = h.join().unwrap();
    assert!(p.thread().unwrap().starts_with("homebound-keeps-all-"));
    let at = p.location().unwrap();
    assert!(at.starts_with(file!()), "{at}");
    let spawned = p.spawn_location().unwrap();
    assert_eq!(spawned.file(), file!());
    assert!(spawned.line() < line!());
    assert!(p.backtrace().is_some());
    // Debug shows it all, and no payload is needed for it.
    let debug = format!("{p:?}");
    assert!(
        debug.contains("keeps-all") && debug.contains(file!()),
        "{debug}"
    );
    no_leaks();
}

#[test]
fn panicked_is_send_sync_and_an_error_cause() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Panicked>();
    let p = Panicked::catch(|| panic::panic_any(Code(1))).unwrap_err();
    let as_error: Box<dyn Error + Send + Sync> = Box::new(p);
    let ctx = homebound::Context::new();
    ctx.cancel_with(as_error);
    let cause = ctx.cause().unwrap();
    let back = cause.reason().unwrap().downcast_ref::<Panicked>().unwrap();
    assert_eq!(back.downcast_ref::<Code>().as_deref(), Some(&Code(1)));
    no_leaks();
}

#[test]
fn a_payload_whose_drop_panics_is_dropped_quietly() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("payload drop");
        }
    }
    let p = Panicked::catch(|| panic::panic_any(Bomb)).unwrap_err();
    assert!(panic::catch_unwind(AssertUnwindSafe(move || drop(p))).is_ok());
    no_leaks();
}

/// The backtrace follows `RUST_BACKTRACE` / `RUST_LIB_BACKTRACE`: checked in a child process
/// (this one's environment is the test runner's).
#[test]
fn the_backtrace_is_captured_at_the_panic_site_when_asked_for() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "--ignored", "--nocapture", "backtrace_child"])
        .env("RUST_LIB_BACKTRACE", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    no_leaks();
}

#[inline(never)]
fn the_function_that_panics() {
    panic!("deep down");
}

#[test]
#[ignore = "run by the_backtrace_is_captured_at_the_panic_site_when_asked_for"]
fn backtrace_child() {
    let p = Panicked::catch(the_function_that_panics).unwrap_err();
    let backtrace = p.backtrace().unwrap();
    assert_eq!(
        backtrace.status(),
        std::backtrace::BacktraceStatus::Captured
    );
    let text = backtrace.to_string();
    assert!(text.contains("the_function_that_panics"), "{text}");
}
