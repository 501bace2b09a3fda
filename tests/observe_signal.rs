//! The dump on SIGUSR1, in a child process (this test binary re-run in a "child mode", as
//! tests/shutdown.rs does): the signal prints the dump to stderr without stopping anything, and
//! once the guard is dropped the signal does what it did before (terminates).
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use homebound::pool::Pool;
use homebound::threads;

mod common;
use common::child::command;

const CHILD_ENV: &str = "HOMEBOUND_OBSERVE_CHILD";
const BOUND: Duration = Duration::from_secs(20);

/// The child side. Ignored in normal runs; the parent runs it with `--ignored --exact`.
#[test]
#[ignore = "entry point for the signal test's child process"]
fn child_process_entry() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let guard = threads::dump_on_sigusr1().unwrap();
    let pool = Pool::builder().name("sig-pool").workers(1).build().unwrap();
    let (started_tx, started) = crossbeam_channel::bounded::<()>(1);
    let (release_tx, release) = crossbeam_channel::bounded::<()>(0);
    let task = pool
        .submit_named("sig-task", move |_| {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
    started.recv().unwrap();
    println!("CHILD READY");
    assert_eq!(lines.next().unwrap().unwrap(), "dumped");
    // The task kept running through the dump: release it now.
    drop(release_tx);
    task.join().unwrap();
    pool.shutdown();
    guard.uninstall();
    threads::assert_none_alive(BOUND);
    println!("CHILD UNINSTALLED");
    // The parent now sends SIGUSR1 again: the default action ends the process.
    let _ = lines.next();
    println!("CHILD STILL ALIVE");
}

/// Lines of a child's pipe, read on a registered thread.
fn lines_of(
    pipe: impl std::io::Read + Send + 'static,
) -> (Receiver<String>, threads::JoinHandle<()>) {
    let (tx, rx) = unbounded();
    let reader = threads::spawn("pipe-reader", move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    })
    .unwrap();
    (rx, reader)
}

fn expect(lines: &Receiver<String>, what: &str, seen: &mut Vec<String>) {
    loop {
        let line = lines
            .recv_timeout(BOUND)
            .unwrap_or_else(|_| panic!("no line containing {what:?}; saw:\n{}", seen.join("\n")));
        let found = line.contains(what);
        seen.push(line);
        if found {
            return;
        }
    }
}

#[test]
fn sigusr1_prints_the_dump_to_stderr_and_the_guard_uninstalls_it() {
    let mut child = command(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (out, out_reader) = lines_of(child.stdout.take().unwrap());
    let (err, err_reader) = lines_of(child.stderr.take().unwrap());
    let (mut seen_out, mut seen_err) = (Vec::new(), Vec::new());

    expect(&out, "CHILD READY", &mut seen_out);
    assert_eq!(kill(pid, libc::SIGUSR1), 0);
    expect(&err, "homebound threads:", &mut seen_err);
    expect(&err, "running task 'sig-task'", &mut seen_err);
    writeln!(stdin, "dumped").unwrap();

    expect(&out, "CHILD UNINSTALLED", &mut seen_out);
    assert_eq!(kill(pid, libc::SIGUSR1), 0);
    let status = child.wait().unwrap();
    drop(stdin);
    out_reader.join().unwrap();
    err_reader.join().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGUSR1),
        "after uninstall, SIGUSR1 terminates again: {status:?}"
    );
    assert!(!seen_out.iter().any(|l| l.contains("STILL ALIVE")));
    threads::assert_none_alive(BOUND);
}

fn kill(pid: libc::pid_t, signo: i32) -> i32 {
    // SAFETY: kill(2) with a valid pid and signal number has no memory-safety conditions.
    unsafe { libc::kill(pid, signo) }
}
