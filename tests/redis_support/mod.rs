//! Shared by the Redis test files (`mod redis_support;` in each): the server a test talks to
//! and ways to look at a stream from outside. Not every file uses every helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::{Connection, Value};
use homebound::redis::{Entry, Writer};
use homebound::{Context, threads};

/// The "promptly" bound.
pub const BOUND: Duration = Duration::from_secs(10);
/// Longest a whole scenario may take before a watcher gives up and stops it.
pub const SCENARIO: Duration = Duration::from_secs(120);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// -----------------------------------------------------------------------------------------
// The server

/// The server a test talks to: CI's (left alone), or one this test started (killed on drop).
pub struct Server {
    pub url: String,
    port: u16,
    /// `Some` for a server this test started.
    own: Option<OwnServer>,
}

pub struct OwnServer {
    dir: PathBuf,
    persistent: bool,
    child: Option<Child>,
}

impl Server {
    /// CI's server if `HOMEBOUND_REDIS_URL` is set, else a fresh one.
    pub fn any() -> Server {
        match std::env::var("HOMEBOUND_REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                let mut conn = connect(&url)
                    .unwrap_or_else(|e| panic!("HOMEBOUND_REDIS_URL={url} is not reachable: {e}"));
                let _: () = ::redis::cmd("PING").query(&mut conn).unwrap();
                Server {
                    url,
                    port: 0,
                    own: None,
                }
            }
            _ => Server::own(false),
        }
    }

    /// A server of this test's own, on a free loopback port; `persistent` writes every
    /// change to its append-only file before replying, so a restart loses nothing.
    pub fn own(persistent: bool) -> Server {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("homebound-redis-test-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Server {
            url: format!("redis://127.0.0.1:{port}/"),
            port,
            own: Some(OwnServer {
                dir,
                persistent,
                child: None,
            }),
        };
        server.start();
        server
    }

    pub fn start(&mut self) {
        let own = self.own.as_mut().expect("a server of our own");
        let appendonly = if own.persistent { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", own.dir.to_str().unwrap(), "--save", ""])
            .args(["--appendonly", appendonly, "--appendfsync", "always"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start redis-server ({e}): install it (apt-get install \
                     redis-server) or set HOMEBOUND_REDIS_URL"
                )
            });
        own.child = Some(child);
        let deadline = Instant::now() + BOUND;
        loop {
            if let Ok(mut conn) = connect(&self.url)
                && ::redis::cmd("PING").query::<()>(&mut conn).is_ok()
            {
                return;
            }
            let exited = own.child.as_mut().unwrap().try_wait().unwrap();
            assert!(exited.is_none(), "redis-server exited at start: {exited:?}");
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(ms(10));
        }
    }

    /// SIGKILL: no goodbye, no final save.
    pub fn kill(&mut self) {
        let own = self.own.as_mut().expect("a server of our own");
        if let Some(mut child) = own.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.own.is_some() {
            self.kill();
            let _ = std::fs::remove_dir_all(&self.own.as_ref().unwrap().dir);
        }
    }
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// A stream key no other test uses.
pub fn key(name: &str) -> String {
    format!("hb-test:{name}:{}", unique())
}

pub fn connect(url: &str) -> ::redis::RedisResult<Connection> {
    ::redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))
}

// -----------------------------------------------------------------------------------------
// Looking at the stream from outside

/// Appends `n` entries `{n: i}`; returns their IDs in order.
pub fn produce(url: &str, stream: &str, n: usize) -> Vec<String> {
    let writer = Writer::open(url, stream).unwrap();
    let mut ids = Vec::with_capacity(n);
    let items: Vec<(&str, usize)> = (0..n).map(|i| ("n", i)).collect();
    for chunk in items.chunks(1000) {
        ids.extend(writer.append(chunk).unwrap());
    }
    ids
}

pub fn number(entry: &Entry) -> usize {
    entry.get_str("n").unwrap().parse().unwrap()
}

/// IDs pending in the group (delivered, not acknowledged), by consumer.
pub fn pending(url: &str, stream: &str, group: &str) -> HashMap<String, String> {
    let mut conn = connect(url).unwrap();
    let rows: Vec<(String, String, u64, u64)> = ::redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query(&mut conn)
        .unwrap();
    rows.into_iter()
        .map(|(id, owner, ..)| (id, owner))
        .collect()
}

/// Every entry of a stream: (ID, fields).
pub fn entries(url: &str, stream: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut conn = connect(url).unwrap();
    ::redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap()
}

/// Whether every entry up to `last` was delivered to the group and none is pending.
pub fn drained(url: &str, stream: &str, group: &str, last: &str) -> ::redis::RedisResult<bool> {
    let mut conn = connect(url)?;
    let groups: Value = ::redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query(&mut conn)?;
    let Value::Array(groups) = groups else {
        return Ok(false);
    };
    for g in groups {
        let fields: HashMap<String, Value> = match g {
            Value::Array(flat) => flat
                .chunks(2)
                .filter_map(|kv| Some((text(&kv[0])?, kv.get(1)?.clone())))
                .collect(),
            Value::Map(pairs) => pairs
                .into_iter()
                .filter_map(|(k, v)| Some((text(&k)?, v)))
                .collect(),
            _ => continue,
        };
        if fields.get("name").and_then(text).as_deref() != Some(group) {
            continue;
        }
        let pending = matches!(fields.get("pending"), Some(Value::Int(0)));
        let delivered = fields.get("last-delivered-id").and_then(text);
        return Ok(pending && delivered.as_deref() == Some(last));
    }
    Ok(false)
}

pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// A watcher that cancels `stop` once the group is drained (or the scenario's time is up;
/// then the test's own assertions fail). Redis is outside the process: polling it is the
/// only way to learn this.
pub fn stop_when_drained(
    url: &str,
    stream: &str,
    group: &str,
    last: &str,
    stop: &Context,
) -> threads::JoinHandle<bool> {
    let (url, stream, group, last, stop) = (
        url.to_string(),
        stream.to_string(),
        group.to_string(),
        last.to_string(),
        stop.clone(),
    );
    threads::spawn("drain-watch", move || {
        let deadline = Instant::now() + SCENARIO;
        let done = loop {
            if drained(&url, &stream, &group, &last).unwrap_or(false) {
                break true;
            }
            if Instant::now() >= deadline || stop.sleep(ms(20)).is_err() {
                break false;
            }
        };
        stop.cancel();
        done
    })
    .unwrap()
}
