//! `net::accept`: a connection or the context's cancel, whichever comes first; prompt on cancel
//! whatever the backlog; a connection arriving with the cancel is returned or left, never lost.
#![cfg(all(feature = "net", unix))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use homebound::net::{self, AcceptError};
use homebound::{Context, threads};

/// "Promptly": generous, so a loaded 2-core machine never flakes. Speed belongs in benches.
const PROMPT: Duration = Duration::from_secs(1);
/// How long a test waits for something that must happen before it calls it a hang.
const BOUND: Duration = Duration::from_secs(10);
const ROUNDS: usize = 200;

/// What `net::accept` returns.
type Accepted = Result<(TcpStream, SocketAddr), AcceptError>;

fn leak_check() {
    threads::assert_none_alive(BOUND);
}

fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A listener whose accept queue holds at most a couple of connections.
fn listener_with_backlog(backlog: i32) -> TcpListener {
    let listener = loopback();
    // Calling listen() again on a listening socket sets its backlog (std has no setter).
    let rc = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
    listener
}

/// Connects until the listener's accept queue is full (the next connect gets no answer) and
/// returns the connections that got in.
fn fill_backlog(addr: SocketAddr) -> Vec<TcpStream> {
    let mut queued = Vec::new();
    while let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        queued.push(stream);
        assert!(queued.len() < 64, "the backlog never filled");
    }
    queued
}

/// The context's cause when `accept` returned `Cancelled`.
fn expect_cancelled(result: Accepted) -> homebound::Cause {
    match result {
        Err(AcceptError::Cancelled(c)) => c.cause().clone(),
        Err(AcceptError::Io(e)) => panic!("expected Cancelled, got an I/O error: {e}"),
        Ok((_, peer)) => panic!("expected Cancelled, got a connection from {peer}"),
    }
}

/// Accepts with a fresh context bounded by `BOUND`: a connection that should be waiting.
fn accept_waiting(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let ctx = Context::new().with_timeout(BOUND);
    net::accept(&ctx, listener).expect("a connection was waiting in the backlog")
}

/// Waits until the thread `tid` sleeps in `epoll_wait`, so a test cancels an accept that is
/// really blocked rather than one still setting up. Linux only; elsewhere returns at once.
fn wait_until_blocked_in_epoll(tid: Option<u32>) {
    let Some(tid) = tid else { return };
    let wchan = format!("/proc/self/task/{tid}/wchan");
    let deadline = Instant::now() + BOUND;
    loop {
        match std::fs::read_to_string(&wchan) {
            Ok(name) if name.contains("epoll") || name.contains("ep_poll") => return,
            Ok(name) if name == "0" => return, // the kernel hides wait channels: cannot tell
            Ok(_) => {}
            Err(_) => return,
        }
        assert!(
            Instant::now() < deadline,
            "accept never blocked in epoll_wait"
        );
        std::thread::yield_now();
    }
}

/// This thread's kernel id (Linux), from `/proc/thread-self`.
fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// An accept running on its own thread, with its result on a channel so that a test fails
/// (rather than hangs) when the accept never returns.
struct Acceptor {
    tid: Option<u32>,
    done: crossbeam_channel::Receiver<(Accepted, Instant)>,
    thread: threads::JoinHandle<()>,
}

impl Acceptor {
    fn start(ctx: &Context, listener: &Arc<TcpListener>) -> Acceptor {
        Acceptor::start_with(ctx, listener, None)
    }

    /// Like `start`, the accept beginning when `start` (shared with the test) is passed.
    fn start_with(
        ctx: &Context,
        listener: &Arc<TcpListener>,
        start: Option<Arc<Barrier>>,
    ) -> Acceptor {
        let (ctx, listener) = (ctx.clone(), Arc::clone(listener));
        let (tid_tx, tid) = bounded(1);
        let (done_tx, done) = bounded(1);
        let thread = threads::spawn("acceptor", move || {
            tid_tx.send(current_tid()).unwrap();
            if let Some(start) = start {
                start.wait();
            }
            let result = net::accept(&ctx, &listener);
            done_tx.send((result, Instant::now())).unwrap();
        })
        .unwrap();
        Acceptor {
            tid: tid.recv().unwrap(),
            done,
            thread,
        }
    }

    /// The accept's result and when it returned; panics if it does not return within `BOUND`.
    fn result(self) -> (Accepted, Instant) {
        let got = self
            .done
            .recv_timeout(BOUND)
            .expect("accept never returned");
        self.thread.join().unwrap();
        got
    }
}

fn is_nonblocking(stream: &TcpStream) -> bool {
    let flags = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn smoke() {
    let listener = loopback();
    let addr = listener.local_addr().unwrap();
    let client = threads::spawn("client", move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"ping").unwrap();
        stream.local_addr().unwrap()
    })
    .unwrap();
    let (mut stream, peer) = accept_waiting(&listener);
    let mut got = String::new();
    stream.read_to_string(&mut got).unwrap();
    assert_eq!(got, "ping");
    assert_eq!(peer, client.join().unwrap());
    leak_check();
}

#[test]
fn accepted_stream_is_in_blocking_mode() {
    let listener = Arc::new(loopback());
    let addr = listener.local_addr().unwrap();
    // A connection already waiting (the fast path).
    let _first = TcpStream::connect(addr).unwrap();
    let (stream, _) = accept_waiting(&listener);
    assert!(!is_nonblocking(&stream));
    // A connection that arrives while accept waits.
    let acceptor = Acceptor::start(&Context::new(), &listener);
    wait_until_blocked_in_epoll(acceptor.tid);
    let _second = TcpStream::connect(addr).unwrap();
    let (stream, _) = acceptor.result().0.unwrap();
    assert!(!is_nonblocking(&stream));
    leak_check();
}

#[test]
fn accept_on_a_cancelled_context_returns_cancelled_at_once_and_leaves_the_connection() {
    let listener = loopback();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let ctx = Context::new();
    ctx.cancel_with("stopping");
    let started = Instant::now();
    let cause = expect_cancelled(net::accept(&ctx, &listener));
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert_eq!(cause.to_string(), "stopping");
    // The waiting connection was not taken: the next accept gets it.
    let (_, peer) = accept_waiting(&listener);
    assert_eq!(peer, client.local_addr().unwrap());
    leak_check();
}

#[test]
fn cancel_wakes_a_blocked_accept_promptly_200_times() {
    let listener = Arc::new(loopback());
    for round in 0..ROUNDS {
        let ctx = Context::new();
        let acceptor = Acceptor::start(&ctx, &listener);
        wait_until_blocked_in_epoll(acceptor.tid);
        let cancelled_at = Instant::now();
        ctx.cancel();
        let cancel_took = cancelled_at.elapsed();
        let (result, returned_at) = acceptor.result();
        expect_cancelled(result);
        let woke_after = returned_at.duration_since(cancelled_at);
        assert!(
            cancel_took < PROMPT,
            "round {round}: cancel took {cancel_took:?}"
        );
        assert!(
            woke_after < PROMPT,
            "round {round}: accept woke after {woke_after:?}"
        );
    }
    leak_check();
}

#[test]
fn cancel_returns_at_once_with_a_full_backlog_200_times() {
    // What a full backlog broke was the self-connect wake-up: the canceller's connect blocked.
    // Here the backlog stays full while acceptors race the cancel: cancel and accept both
    // return promptly, and every queued connection is returned or still queued at the end.
    let listener = Arc::new(listener_with_backlog(1));
    let addr = listener.local_addr().unwrap();
    let mut clients: Vec<SocketAddr> = fill_backlog(addr)
        .iter()
        .map(|s| s.local_addr().unwrap())
        .collect();
    let mut kept = Vec::new(); // client ends stay open until the end
    let mut accepted = Vec::new();
    for round in 0..ROUNDS {
        let ctx = Context::new();
        let start = Arc::new(Barrier::new(2));
        let acceptor = Acceptor::start_with(&ctx, &listener, Some(Arc::clone(&start)));
        start.wait();
        let cancelled_at = Instant::now();
        ctx.cancel();
        let cancel_took = cancelled_at.elapsed();
        let (result, returned_at) = acceptor.result();
        let took = returned_at.saturating_duration_since(cancelled_at);
        assert!(
            cancel_took < PROMPT,
            "round {round}: cancel took {cancel_took:?}"
        );
        assert!(took < PROMPT, "round {round}: accept took {took:?}");
        if let Ok((stream, peer)) = result {
            accepted.push(peer);
            kept.push(stream);
            // Refill the slot it freed, so the backlog is full again.
            let refill = TcpStream::connect_timeout(&addr, BOUND).unwrap();
            clients.push(refill.local_addr().unwrap());
            kept.push(refill);
        } else {
            expect_cancelled(result);
        }
    }
    // Nothing lost: what was not returned is still queued.
    while accepted.len() < clients.len() {
        accepted.push(accept_waiting(&listener).1);
    }
    accepted.sort();
    clients.sort();
    assert_eq!(accepted, clients);
    leak_check();
}

#[test]
fn connection_arriving_with_the_cancel_is_returned_or_left_never_lost() {
    let listener = Arc::new(loopback());
    let addr = listener.local_addr().unwrap();
    let (mut returned, mut left) = (0, 0);
    for round in 0..ROUNDS {
        let ctx = Context::new();
        let start = Arc::new(Barrier::new(2));
        let acceptor = Acceptor::start(&ctx, &listener);
        let client = {
            let start = Arc::clone(&start);
            threads::spawn("client", move || {
                start.wait();
                TcpStream::connect(addr).unwrap()
            })
            .unwrap()
        };
        start.wait();
        ctx.cancel();
        let client = client.join().unwrap();
        let expected = client.local_addr().unwrap();
        match acceptor.result().0 {
            Ok((_, peer)) => {
                assert_eq!(peer, expected, "round {round}");
                returned += 1;
            }
            Err(e) => {
                assert!(e.is_cancelled(), "round {round}: {e}");
                assert_eq!(accept_waiting(&listener).1, expected, "round {round}");
                left += 1;
            }
        }
    }
    println!("{returned} returned with the cancel, {left} left for the next accept");
    leak_check();
}

#[test]
fn deadline_stops_a_blocked_accept() {
    // The timer thread fires the cancel, so the wake-up runs there.
    let listener = Arc::new(loopback());
    let ctx = Context::new().with_timeout(Duration::from_millis(30));
    let (result, _) = Acceptor::start(&ctx, &listener).result();
    assert_eq!(expect_cancelled(result), homebound::Cause::DeadlineExceeded);
    leak_check();
}

#[test]
fn several_acceptors_share_a_listener_each_connection_once() {
    const CLIENTS: usize = 100;
    let listener = Arc::new(loopback());
    let addr = listener.local_addr().unwrap();
    let ctx = Context::new();
    let (accepted_tx, accepted_rx) = bounded(CLIENTS);
    let acceptors: Vec<_> = (0..4)
        .map(|_| {
            let (ctx, listener, accepted) =
                (ctx.clone(), Arc::clone(&listener), accepted_tx.clone());
            threads::spawn("acceptor", move || {
                loop {
                    match net::accept(&ctx, &listener) {
                        Ok((stream, peer)) => accepted.send((stream, peer)).unwrap(),
                        Err(e) if e.is_cancelled() => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
            .unwrap()
        })
        .collect();
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let mut accepted: Vec<SocketAddr> = (0..CLIENTS)
        .map(|_| {
            accepted_rx
                .recv_timeout(BOUND)
                .expect("a connection was never accepted")
                .1
        })
        .collect();
    ctx.cancel();
    for acceptor in acceptors {
        acceptor.join().unwrap();
    }
    assert!(
        accepted_rx.try_recv().is_err(),
        "a connection was accepted twice"
    );
    let mut expected: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    accepted.sort();
    expected.sort();
    assert_eq!(accepted, expected);
    leak_check();
}
