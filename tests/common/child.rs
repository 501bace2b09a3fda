//! This test binary re-run as a child process in a named "child mode", so a test can send it
//! real signals and read what it prints, line by line, against a deadline.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, unbounded};

/// Generous: a loaded 2-core machine never flakes, a hung child is still caught.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// The command that re-runs this test binary's ignored test `child_process_entry` with
/// `env_var` set to `mode`; that entry reads the variable and plays the mode.
pub fn command(env_var: &str, mode: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env_var, mode);
    command
}

/// A running child and the lines it prints.
pub struct ChildRun {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    output: Vec<String>,
}

impl ChildRun {
    /// Starts [`command`] with piped stdin and stdout.
    pub fn start(env_var: &str, mode: &str) -> ChildRun {
        let mut child = command(env_var, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = unbounded();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildRun {
            child,
            stdin,
            lines,
            reader: Some(reader),
            output: Vec::new(),
        }
    }

    /// Reads lines until one contains `needle` (killing the child after a generous timeout).
    pub fn expect_line(&mut self, needle: &str) {
        let deadline = Instant::now() + CHILD_TIMEOUT;
        loop {
            match self.lines.recv_deadline(deadline) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.output.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("child never printed {needle:?}; output: {:#?}", self.output);
                }
            }
        }
    }

    /// Sends the child the signal `signo`.
    pub fn signal(&self, signo: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a valid pid and signal number has no memory-safety conditions.
        let rc = unsafe { libc::kill(pid, signo) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Writes one line to the child's stdin (a "go" the child may wait for).
    pub fn write_line(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the child to exit and returns its status and its whole output.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + CHILD_TIMEOUT;
        while let Ok(line) = self.lines.recv_deadline(deadline) {
            self.output.push(line);
        }
        if Instant::now() >= deadline {
            let _ = self.child.kill();
        }
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status, self.output.join("\n"))
    }
}

/// Gives `signo` its default action in this process. A shell starts a background job with
/// SIGINT and SIGQUIT ignored, and children inherit that; a child that checks what a signal
/// does while homebound has no handler installed must start from the default, as a program
/// started in the foreground does (`cargo test &` failed the "before" mode: the child survived).
pub fn default_action(signo: libc::c_int) {
    // SAFETY: `signal` with `SIG_DFL` installs no handler and touches no memory of ours.
    let previous = unsafe { libc::signal(signo, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR, "signal({signo}, SIG_DFL) failed");
}
