//! A bounded HTTP load on loopback: `conns` clients, each sending up to `reqs` requests one
//! after another on its own keep-alive connection (a `ureq` agent), on homebound threads. A
//! client stops at its first refusal (503) or connection error: the server is going away.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use homebound::{Context, scope, threads};
use parking_lot::Mutex;

/// How long a client waits for one answer before it gives up (a bound, never reached when
/// the server behaves).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the clients saw.
#[derive(Debug, Default)]
pub struct LoadCounts {
    /// Requests sent (or attempted).
    pub sent: AtomicU64,
    /// Answered 200.
    pub ok: AtomicU64,
    /// Answered 503: refused cleanly because the server was stopping.
    pub refused: AtomicU64,
    /// Answered with another status.
    pub other: AtomicU64,
    /// No answer: the connection was closed or refused before the server read the request.
    pub unanswered: AtomicU64,
    /// The first connection error, as an example of what "unanswered" looked like.
    pub first_error: Mutex<Option<String>>,
    /// When `on_threshold` fired.
    pub threshold_at: OnceLock<Instant>,
}

impl LoadCounts {
    /// Answers received, whatever their status.
    pub fn answered(&self) -> u64 {
        self.ok.load(Relaxed) + self.refused.load(Relaxed) + self.other.load(Relaxed)
    }
}

/// Runs the load on its own thread and returns it; `on_threshold` runs once, on the client
/// thread that received the `threshold`-th 200.
pub fn start(
    addr: SocketAddr,
    conns: usize,
    reqs: usize,
    threshold: u64,
    on_threshold: impl Fn() + Send + Sync + 'static,
) -> std::io::Result<threads::JoinHandle<LoadCounts>> {
    threads::spawn("load", move || {
        let counts = LoadCounts::default();
        let url = format!("http://{addr}/");
        let _ = scope(&Context::new(), |g| {
            for _ in 0..conns {
                let (counts, url, on_threshold) = (&counts, &url, &on_threshold);
                g.execute(move |_ctx| {
                    client(url, reqs, counts, threshold, on_threshold);
                    Ok::<(), ()>(())
                });
            }
        });
        counts
    })
}

/// One client: up to `reqs` requests on one keep-alive connection.
fn client(url: &str, reqs: usize, counts: &LoadCounts, threshold: u64, on_threshold: &dyn Fn()) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections_per_host(1)
        .timeout_global(Some(CLIENT_TIMEOUT))
        .build()
        .into();
    for _ in 0..reqs {
        counts.sent.fetch_add(1, Relaxed);
        match agent.get(url).call() {
            Ok(mut response) => {
                let _ = response.body_mut().read_to_string();
                match response.status().as_u16() {
                    200 => {
                        if counts.ok.fetch_add(1, Relaxed) + 1 == threshold {
                            let _ = counts.threshold_at.set(Instant::now());
                            on_threshold();
                        }
                    }
                    503 => {
                        counts.refused.fetch_add(1, Relaxed);
                        return;
                    }
                    _ => {
                        counts.other.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
            Err(e) => {
                counts.unanswered.fetch_add(1, Relaxed);
                counts
                    .first_error
                    .lock()
                    .get_or_insert_with(|| e.to_string());
                return;
            }
        }
    }
}
