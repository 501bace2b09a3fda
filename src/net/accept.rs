//! [`accept`]: a connection or the context's cancellation, whichever comes first.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::AcceptError;
use crate::Context;

/// The listener's readiness.
const LISTENER: Token = Token(0);
/// The wake-up fired by the context's cancel callback.
const CANCELLED: Token = Token(1);

/// Waits for a connection on `listener` or for `ctx` to be cancelled, whichever comes first,
/// and returns the connection in blocking mode with the peer's address.
///
/// The wait blocks in the OS on the listener and on a wake-up together; cancelling `ctx`
/// (by hand, by a deadline or by a parent) fires the wake-up. Cancel never touches the
/// network, so it returns at once even when the listen backlog is full.
///
/// * **Cancel first.** A context that is already cancelled returns
///   [`AcceptError::Cancelled`] at once, even if connections are waiting.
/// * **Nothing lost.** A connection is either returned or left in the listener's backlog for
///   the next accept: one that arrives together with the cancel is never taken and dropped.
/// * **Several acceptors** may share one listener from several threads; each connection goes
///   to one of them.
///
/// # Listener mode
///
/// The listener is switched to non-blocking mode and left so, since another thread may be
/// accepting from it too. Accept from it only through this function: a plain
/// `listener.accept()` would then return `WouldBlock` instead of waiting.
///
/// # Errors
///
/// [`AcceptError::Cancelled`] when `ctx` is cancelled first; [`AcceptError::Io`] when the
/// listener fails (for example too many open files) or the wait cannot be set up.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use homebound::{Context, net, threads};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = threads::spawn("client", move || TcpStream::connect(addr)?.write_all(b"hi"))?;
///
/// // Give up after five seconds: a deadline is a cancel too.
/// let ctx = Context::new().with_timeout(Duration::from_secs(5));
/// let (mut stream, _peer) = net::accept(&ctx, &listener)?;
/// let mut got = String::new();
/// stream.read_to_string(&mut got)?; // blocking mode: reads until the client closes
/// assert_eq!(got, "hi");
/// client.join().unwrap()?;
/// threads::assert_none_alive(Duration::from_secs(5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept(
    ctx: &Context,
    listener: &TcpListener,
) -> Result<(TcpStream, SocketAddr), AcceptError> {
    ctx.check()?;
    listener.set_nonblocking(true)?;
    // Fast path: a connection is already waiting, no need to set up a wait.
    if let Some(accepted) = try_accept(listener)? {
        return Ok(accepted);
    }
    wait_and_accept(ctx, listener)
}

/// The slow path: register the listener and a wake-up, then wait for either.
fn wait_and_accept(
    ctx: &Context,
    listener: &TcpListener,
) -> Result<(TcpStream, SocketAddr), AcceptError> {
    let mut poll = Poll::new()?;
    let fd = listener.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), CANCELLED)?);
    // An inline wake-up, run by `cancel()` itself (or the timer thread, for a deadline): `wake`
    // only writes to an eventfd, so it never blocks them, and the accept is already woken when
    // `cancel()` returns. This thread keeps its own `Arc` until it returns: if the callback's
    // were the last, the canceller would close the eventfd right after writing to it, and
    // closing an fd removes its pending event from the poll before the wait could see it.
    let wake = Arc::clone(&waker);
    let _wake_on_cancel = ctx.wake_on_cancel(move || {
        let _ = wake.wake();
    });
    let mut events = Events::with_capacity(2);
    loop {
        // Cancel wins over a waiting connection, which then stays in the backlog.
        ctx.check()?;
        // Registration is edge-triggered: try first, so a connection that arrived before
        // the registration is not missed, and wait only when there is none.
        if let Some(accepted) = try_accept(listener)? {
            return Ok(accepted);
        }
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// One non-blocking accept: `None` when no connection is waiting. The connection comes back in
/// blocking mode (on some platforms it inherits the listener's non-blocking mode).
fn try_accept(listener: &TcpListener) -> io::Result<Option<(TcpStream, SocketAddr)>> {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(false)?;
                return Ok(Some((stream, peer)));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            // A signal, or a client that gave up before we took its connection: try again.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}
