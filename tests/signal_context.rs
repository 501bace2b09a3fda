//! `shutdown::signal_context`: a context cancelled by SIGINT or SIGTERM (Go's
//! `signal.NotifyContext`). Real signals go to a child process: this test binary re-run in a
//! "child mode". In-process tests send no signal.
#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use homebound::shutdown::{self, SecondSignal};
use homebound::{Cause, Context, threads};

const LEAK_TIMEOUT: Duration = Duration::from_secs(10);

mod common;
use common::child::{CHILD_TIMEOUT, ChildRun, default_action};

// ---------------------------------------------------------------------------------------------
// In process: no signals.

#[test]
fn it_is_a_child_of_its_parent_and_no_signal_means_no_exit_code() {
    let parent = Context::new();
    let signals = shutdown::signal_context(&parent).unwrap();
    assert!(!signals.context().is_cancelled());
    parent.cancel();
    assert_eq!(signals.context().cause(), Some(Cause::Cancelled));
    assert_eq!(signals.signal(), None);
    assert_eq!(signals.exit_code(), None);
    drop(signals);
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn dropping_the_guard_cancels_its_context_and_joins_its_thread() {
    for second in [
        SecondSignal::Exit,
        SecondSignal::Ignore,
        SecondSignal::Cancel(Context::new()),
    ] {
        let parent = Context::new();
        let signals = shutdown::signal_context_with(&parent, second).unwrap();
        let alive = threads::wait_none_alive(Duration::ZERO).unwrap_err();
        assert!(
            alive
                .threads()
                .iter()
                .any(|t| t.name().contains("signal-context")),
            "{alive}"
        );
        let ctx = signals.context().clone();
        signals.stop();
        assert!(ctx.is_cancelled());
        assert!(!parent.is_cancelled());
        threads::assert_none_alive(LEAK_TIMEOUT);
    }
}

#[test]
fn the_exit_code_helper_reads_a_signal_cause_through_descendants() {
    let ctx = Context::new();
    let grandchild = ctx.child().child();
    ctx.cancel_with(shutdown::Cause::Signal(libc::SIGTERM));
    assert_eq!(shutdown::signal_exit_code(&grandchild), Some(143));
    let other = Context::new();
    other.cancel_with(shutdown::Cause::Triggered);
    assert_eq!(shutdown::signal_exit_code(&other), None);
    assert_eq!(shutdown::Cause::Signal(libc::SIGINT).exit_code(), Some(130));
    threads::assert_none_alive(LEAK_TIMEOUT);
}

// ---------------------------------------------------------------------------------------------
// Real signals, in a child process: this test binary re-run with HOMEBOUND_SIGNAL_CHILD set.

const CHILD_ENV: &str = "HOMEBOUND_SIGNAL_CHILD";

fn say(line: &str) {
    println!("CHILD {line}");
}

/// Blocks the calling thread for the rest of the child's life (a stuck shutdown).
fn stuck() -> ! {
    let (_keep, never) = bounded::<()>(0);
    let _ = never.recv_timeout(CHILD_TIMEOUT);
    say("STILL ALIVE");
    std::process::exit(99);
}

/// The child side. Ignored in normal runs; the parent runs it with `--ignored --exact`.
#[test]
#[ignore = "entry point for the signal tests' child process"]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    // The modes check what a signal does with and without homebound's handlers: from the
    // defaults, whatever the shell that started the tests ignored.
    default_action(libc::SIGINT);
    default_action(libc::SIGTERM);
    let root = Context::new();
    match mode.as_str() {
        "before" => {
            // Nothing is installed yet: the signal has its default action.
            signal_hook::low_level::raise(libc::SIGINT).unwrap();
            say("SURVIVED");
        }
        "at-creation" => {
            let signals = shutdown::signal_context(&root).unwrap();
            // Raised before anyone waits on the context: it must not be lost.
            signal_hook::low_level::raise(libc::SIGINT).unwrap();
            let cause = signals.context().wait();
            say(&format!("CANCELLED {cause}"));
            let code = signals.exit_code().unwrap_or(0);
            drop(signals);
            std::process::exit(code);
        }
        "burst-exit" => {
            let signals = shutdown::signal_context(&root).unwrap();
            say("READY");
            signals.context().wait();
            say("CANCELLED");
            stuck();
        }
        "burst-ignore" => {
            let signals = shutdown::signal_context_with(&root, SecondSignal::Ignore).unwrap();
            say("READY");
            let cause = signals.context().wait();
            say(&format!("CANCELLED {cause}"));
            // The parent writes a line once its whole burst is sent.
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            // Exits with the guard alive: a signal of the burst still on its way is swallowed
            // too (dropping the guard first would give it its default action again).
            let code = signals.exit_code().unwrap_or(0);
            say(&format!("EXIT {code}"));
            std::process::exit(code);
        }
        "escalate" => {
            let hard = Context::new();
            let soft =
                shutdown::signal_context_with(&root, SecondSignal::Cancel(hard.clone())).unwrap();
            say("READY");
            say(&format!("SOFT {}", soft.context().wait()));
            say(&format!("HARD {}", hard.wait()));
            stuck();
        }
        "restore" => {
            let signals = shutdown::signal_context(&root).unwrap();
            drop(signals);
            say("DROPPED");
            stuck();
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn a_signal_before_the_context_exists_has_its_default_action() {
    let (status, output) = ChildRun::start(CHILD_ENV, "before").finish();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{output}");
    assert!(!output.contains("SURVIVED"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn a_signal_as_the_context_is_created_is_not_lost_and_gives_exit_code_130() {
    let (status, output) = ChildRun::start(CHILD_ENV, "at-creation").finish();
    assert_eq!(status.code(), Some(130), "{output}");
    assert!(
        output.contains("CHILD CANCELLED received SIGINT"),
        "{output}"
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn two_signals_in_a_burst_cancel_then_force_the_exit() {
    let mut child = ChildRun::start(CHILD_ENV, "burst-exit");
    child.expect_line("CHILD READY");
    // Two different signals, so the kernel cannot merge them into one delivery.
    child.signal(libc::SIGINT);
    child.signal(libc::SIGTERM);
    let sent = Instant::now();
    let (status, output) = child.finish();
    // The child is stuck after the first: only the second signal ends it this soon, with
    // 128 + that signal.
    assert!(sent.elapsed() < CHILD_TIMEOUT / 2, "{output}");
    assert!(
        [Some(128 + libc::SIGINT), Some(128 + libc::SIGTERM)].contains(&status.code()),
        "{status:?}\n{output}"
    );
    assert!(!output.contains("STILL ALIVE"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn with_second_signal_ignored_a_burst_cancels_once_and_the_program_exits_on_its_own() {
    let mut child = ChildRun::start(CHILD_ENV, "burst-ignore");
    child.expect_line("CHILD READY");
    child.signal(libc::SIGINT);
    for i in 0..50 {
        child.signal(if i % 2 == 0 {
            libc::SIGTERM
        } else {
            libc::SIGINT
        });
    }
    child.expect_line("CHILD CANCELLED");
    child.write_line();
    let (status, output) = child.finish();
    assert_eq!(output.matches("CHILD CANCELLED").count(), 1, "{output}");
    // Signals still pending together reach the handler thread as a set, not in the order they
    // were sent: the first one seen may be the SIGTERM sent right after the SIGINT. Whichever it
    // is, the context's cause names it and the exit code follows it.
    let first = if output.contains("CHILD CANCELLED received SIGINT") {
        libc::SIGINT
    } else {
        assert!(
            output.contains("CHILD CANCELLED received SIGTERM"),
            "{output}"
        );
        libc::SIGTERM
    };
    assert_eq!(status.code(), Some(128 + first), "{status:?}\n{output}");
    assert!(
        output.contains(&format!("CHILD EXIT {}", 128 + first)),
        "{output}"
    );
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn second_signal_cancel_escalates_soft_then_hard_then_exit() {
    let mut child = ChildRun::start(CHILD_ENV, "escalate");
    child.expect_line("CHILD READY");
    child.signal(libc::SIGINT);
    child.expect_line("CHILD SOFT received SIGINT");
    child.signal(libc::SIGTERM);
    child.expect_line("CHILD HARD received SIGTERM");
    child.signal(libc::SIGINT);
    let (status, output) = child.finish();
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGINT),
        "{status:?}\n{output}"
    );
    assert!(!output.contains("STILL ALIVE"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}

#[test]
fn dropping_the_guard_restores_the_default_action() {
    let mut child = ChildRun::start(CHILD_ENV, "restore");
    child.expect_line("CHILD DROPPED");
    child.signal(libc::SIGINT);
    let (status, output) = child.finish();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}\n{output}");
    assert!(!output.contains("STILL ALIVE"), "{output}");
    threads::assert_none_alive(LEAK_TIMEOUT);
}
