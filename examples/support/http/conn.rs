//! One connection's life on a pool worker: read a request, answer it, repeat while kept alive;
//! once the stop has begun, refuse what arrives and close.

use std::io::BufReader;
use std::net::{Shutdown, TcpStream};

use homebound::Context;

use super::Handler;
use super::stats::Stats;
use super::wire::{self, ReadError, Response};

/// Serves `stream` until the client closes it, asks to close, or the stop (`stop`) begins.
/// Handlers get `task`, the pool task's context: it is cancelled only at the hard stop, when
/// the grace period runs out, so requests in flight finish during the grace.
pub fn serve(stream: TcpStream, stop: &Context, task: &Context, handler: &Handler, stats: &Stats) {
    let _ = stream.set_nodelay(true);
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    // A connection idle between requests sits in a blocking read: on stop, shutting down the
    // read side wakes it. Bytes already received are still read first, so a request that made
    // it in is answered (with a 503), and an idle connection ends with a clean EOF.
    let Ok(waker) = stream.try_clone() else {
        return;
    };
    let _wake_on_stop = stop.after_cancel(move || {
        let _ = waker.shutdown(Shutdown::Read);
    });
    let mut reader = BufReader::new(reading);
    let mut out = stream;
    loop {
        let request = match wire::read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) | Err(ReadError::Io(_)) => return,
            Err(ReadError::Bad(why)) => {
                Stats::bump(&stats.bad);
                let _ = wire::write_response(&mut out, &Response::text(400, why), true);
                return;
            }
        };
        Stats::bump(&stats.requests);
        let response = if stop.is_cancelled() {
            Stats::bump(&stats.refused);
            Response::text(503, "shutting down: not started, safe to retry elsewhere\n")
        } else {
            Stats::bump(&stats.in_flight);
            let response = handler(&request, task);
            stats
                .in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            response
        };
        // Checked after the handler: a stop that began meanwhile closes the connection.
        let close = !request.keep_alive || stop.is_cancelled();
        match wire::write_response(&mut out, &response, close) {
            Ok(()) => stats.answered_now(),
            Err(_) => {
                Stats::bump(&stats.write_failed);
                return;
            }
        }
        if close {
            return;
        }
    }
}
