//! The examples' HTTP/1.1 server: std sockets, `homebound::net::accept` (so the stop wakes the
//! acceptor at once), every connection served on a homebound `Pool`, keep-alive, and a
//! graceful stop: no new connections, requests in flight finish, later ones get a 503.
//!
//! Shared by `http_server` and `crawler`; not every item is used by both.
#![allow(dead_code)]

mod conn;
mod stats;
mod wire;

use std::net::TcpListener;
use std::sync::Arc;

use homebound::Context;
use homebound::net::{self, AcceptError};
use homebound::pool::Pool;

pub use self::stats::Stats;
pub use self::wire::{Request, Response};

/// What answers a request. The context is the pool task's: cancelled at the hard stop.
pub type Handler = Arc<dyn Fn(&Request, &Context) -> Response + Send + Sync>;

/// Accepts connections until `stop` is cancelled, serving each on `pool`, then drops the
/// listener (connections still in its backlog are reset: refused, never half-served).
///
/// # Errors
///
/// The listener's error, if accepting failed for another reason than the stop.
pub fn serve(
    stop: &Context,
    listener: TcpListener,
    pool: &Pool,
    handler: Handler,
    stats: Arc<Stats>,
) -> Result<(), AcceptError> {
    loop {
        let stream = match net::accept(stop, &listener) {
            Ok((stream, _peer)) => stream,
            Err(AcceptError::Cancelled(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        Stats::bump(&stats.connections);
        let (stop_of, handler, stats) = (stop.clone(), Arc::clone(&handler), Arc::clone(&stats));
        let connection =
            move |task: &Context| conn::serve(stream, &stop_of, task, &handler, &stats);
        // Waits for queue space (backpressure), unless the stop begins: then the connection
        // is served right here, which answers what it sent with a 503 and closes it.
        match pool.submit_ctx(stop, connection) {
            Ok(handle) => drop(handle), // detached: the pool's drain waits for it
            Err(refused) => (refused.into_inner())(stop),
        }
    }
}
