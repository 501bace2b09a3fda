//! distributed_log: the log pipeline of `log_pipeline`, shared by two worker processes through a
//! Redis Streams consumer group; one worker is killed mid-run and the other takes its work over.
//!
//! ```text
//! cargo run --release --features redis --example distributed_log
//! HOMEBOUND_REDIS_URL=redis://127.0.0.1:6379/ cargo run --release --features redis --example distributed_log
//! ```
//!
//! 1. A producer appends synthetic log lines to a stream (200k; 20k with `HOMEBOUND_QUICK=1`).
//! 2. Two workers (this program re-run with `worker <name> ..`) each run the same pipeline as a
//!    member of one consumer group: parse → keep ERROR and WARN → enrich → batch → append to an
//!    output stream (malformed lines are skipped, and count as handled).
//! 3. Once worker-a has handled a fifth of the lines it is killed with SIGKILL. The entries it
//!    held stay pending; worker-b claims them once they have been idle for the claim time.
//! 4. When the group is drained, worker-b gets SIGTERM: under `Shutdown` it stops reading,
//!    finishes and acknowledges what it took, and exits 0.
//! 5. The check: every kept line is in the output at least once, exactly as enriched, and no
//!    entry is left pending; duplicates (lines worker-a wrote but never acknowledged) are counted.
//!
//! Without `HOMEBOUND_REDIS_URL` it starts its own `redis-server` on a free loopback port with
//! its data in a temporary directory (and stops it at the end).

#[path = "support/logfmt.rs"]
#[allow(dead_code)]
mod logfmt;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, unbounded};
use homebound::pipeline::ErrorPolicy;
use homebound::redis::{Consumer, Delivery, Entry, Writer};
use homebound::{Context, shutdown::Shutdown, threads};

type Result<T> = std::result::Result<T, Box<dyn StdError + Send + Sync>>;

const GROUP: &str = "log-workers";

fn quick() -> bool {
    std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1")
}

/// How long a pending entry must be idle before the other worker takes it.
fn claim_idle() -> Duration {
    Duration::from_millis(if quick() { 300 } else { 2000 })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("worker") => worker(&args[1..]),
        _ => coordinator(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("distributed_log: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A worker process

/// `worker <name> <url> <stream> <out>`: one member of the group, until SIGTERM (or SIGKILL).
fn worker(args: &[String]) -> Result<ExitCode> {
    let [name, url, stream, out] = args else {
        return Err("usage: distributed_log worker <name> <url> <stream> <out>".into());
    };
    let consumer = Consumer::builder(url, stream, GROUP, name)
        .batch(200)
        .block(Duration::from_millis(50))
        .claim_idle(claim_idle())
        .build()?;
    let writer = Writer::open(url, out)?;
    let mut shutdown = Shutdown::new().grace(Duration::from_secs(10));
    shutdown.on_signals()?;
    let name = name.clone();
    shutdown.service("consume", move |stop| -> Result<()> {
        let handled = std::sync::Arc::new(AtomicU64::new(0));
        let counter = std::sync::Arc::clone(&handled);
        let started = Instant::now();
        let run = Context::new();
        let outcome = consumer
            .pipeline(&run)
            .inspect(move |_| {
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(1000) {
                    println!("PROGRESS {n}");
                }
            })
            .try_map(2, |d: Delivery<Entry>| {
                d.try_map(|e| logfmt::parse(e.get_str("line").unwrap_or("").to_string()))
            })
            .named("parse")
            .on_error(ErrorPolicy::Skip)
            .filter(1, |record| record.is_interesting())
            .map(1, |record| record.map(|r| logfmt::enrich(&r)))
            .batch(100, Duration::from_millis(20))
            .stop_intake_on(&stop)
            .for_each(|batch: Vec<Delivery<String>>| {
                let rows: Vec<_> = batch
                    .into_iter()
                    .map(|line| {
                        let src = line.id().to_string();
                        line.map(|text| vec![("src", src), ("line", text)])
                    })
                    .collect();
                if let Err(e) = writer.write(rows) {
                    // Its entries stay pending: this worker or the other one retries them.
                    eprintln!("{e}");
                }
            })?;
        let elapsed = started.elapsed();
        let stats = consumer.finish()?;
        let n = handled.load(Ordering::Relaxed);
        let skipped = outcome.report().stage("parse").map_or(0, |s| s.errors);
        println!(
            "STATS {name}: handled {n} lines ({skipped} malformed) in {:.2} s, {:.0} entries/s; {stats}",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        );
        Ok(())
    })?;
    let report = shutdown.wait();
    threads::assert_none_alive(Duration::from_secs(5));
    Ok(ExitCode::from(report.exit_code() as u8))
}

// ---------------------------------------------------------------------------------------------
// The coordinator: producer, two workers, the kill, the check

fn coordinator() -> Result<ExitCode> {
    let lines = if quick() { 20_000 } else { 200_000 };
    let _own_server;
    let url = match std::env::var("HOMEBOUND_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let server = OwnServer::start()?;
            let url = server.url.clone();
            _own_server = server;
            url
        }
    };
    let tag = unique();
    let (stream, out) = (
        format!("homebound:demo:logs:{tag}"),
        format!("homebound:demo:kept:{tag}"),
    );
    let mut conn = ::redis::Client::open(url.as_str())?.get_connection()?;

    // 1. The producer.
    let started = Instant::now();
    let writer = Writer::open(&url, &stream)?;
    let mut expected: HashMap<String, String> = HashMap::new();
    let mut generated = logfmt::Generator::new(2026).take(lines).peekable();
    let mut last_id = String::new();
    while generated.peek().is_some() {
        let chunk: Vec<String> = generated.by_ref().take(1000).collect();
        let rows: Vec<(&str, &str)> = chunk.iter().map(|l| ("line", l.as_str())).collect();
        let ids = writer.append(&rows)?;
        for (id, line) in ids.iter().zip(chunk) {
            if let Ok(record) = logfmt::parse(line)
                && record.is_interesting()
            {
                expected.insert(id.clone(), logfmt::enrich(&record));
            }
        }
        last_id = ids.last().cloned().unwrap_or(last_id);
    }
    println!(
        "produced {lines} lines to {stream} in {:.2} s ({} to keep)",
        started.elapsed().as_secs_f64(),
        expected.len()
    );

    // 2. Two workers.
    let started = Instant::now();
    let mut a = Worker::start("worker-a", &url, &stream, &out)?;
    let mut b = Worker::start("worker-b", &url, &stream, &out)?;

    // 3. Kill worker-a once it has handled a fifth of the lines.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = a.lines.recv_deadline(deadline)?;
        if let Some(n) = line.strip_prefix("PROGRESS ")
            && n.parse::<usize>()? >= lines / 5
        {
            break;
        }
    }
    a.child.kill()?; // SIGKILL: no goodbye
    a.child.wait()?;
    let held = pending_of(&mut conn, &stream, "worker-a")?;
    println!("killed worker-a (SIGKILL) with {held} entries pending in its name");

    // 4. Wait until the group is drained, then stop worker-b gracefully.
    while !drained(&mut conn, &stream, &last_id)? {
        if Instant::now() >= deadline {
            return Err("the group did not drain within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    b.terminate()?;
    let status = b.child.wait()?;
    for line in b.lines.iter() {
        if line.starts_with("STATS") {
            println!("{}", &line[6..]);
        }
    }
    if !status.success() {
        return Err(format!("worker-b exited with {status}").into());
    }

    // 5. The check.
    let rows: Vec<(String, HashMap<String, String>)> = ::redis::cmd("XRANGE")
        .arg(&out)
        .arg("-")
        .arg("+")
        .query(&mut conn)?;
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut wrong = 0;
    for (_, fields) in &rows {
        let src = fields.get("src").map_or("", String::as_str);
        match expected.get(src) {
            Some(line) if fields.get("line") == Some(line) => {
                *seen
                    .entry(expected.get_key_value(src).unwrap().0)
                    .or_default() += 1;
            }
            _ => wrong += 1,
        }
    }
    let missing = expected.len() - seen.len();
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    let left = pending_of(&mut conn, &stream, "")?;
    println!(
        "{lines} lines through 2 workers (one killed) in {:.2} s: {} kept lines written, \
         {missing} missing, {duplicates} written twice (handled by worker-a but not yet \
         acknowledged when it died), {wrong} wrong, {left} still pending",
        took.as_secs_f64(),
        rows.len()
    );
    let _: () = ::redis::cmd("DEL")
        .arg(&stream)
        .arg(&out)
        .arg(format!("{stream}:dead"))
        .query(&mut conn)?;
    if missing == 0 && wrong == 0 && left == 0 {
        println!("ok: every line was processed at least once");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAILED");
        Ok(ExitCode::FAILURE)
    }
}

/// A worker process and its stdout, line by line.
struct Worker {
    child: Child,
    lines: Receiver<String>,
}

impl Worker {
    fn start(name: &str, url: &str, stream: &str, out: &str) -> Result<Worker> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["worker", name, url, stream, out])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = unbounded();
        // Ends when the worker's stdout closes.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                let _ = tx.send(line);
            }
        });
        Ok(Worker { child, lines })
    }

    /// SIGTERM: the worker's `Shutdown` stops its intake and lets it finish.
    fn terminate(&self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: kill(2) with a valid pid and signal number has no memory-safety conditions.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }
}

/// Entries pending in the group: all of them, or those of one consumer.
fn pending_of(conn: &mut ::redis::Connection, stream: &str, consumer: &str) -> Result<usize> {
    let rows: Vec<(String, String, u64, u64)> = ::redis::cmd("XPENDING")
        .arg(stream)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query(conn)?;
    Ok(rows
        .iter()
        .filter(|row| consumer.is_empty() || row.1 == consumer)
        .count())
}

/// Every entry up to `last` delivered, none pending.
fn drained(conn: &mut ::redis::Connection, stream: &str, last: &str) -> Result<bool> {
    let groups: Vec<HashMap<String, ::redis::Value>> = ::redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query(conn)?;
    let text = |v: Option<&::redis::Value>| match v {
        Some(::redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(::redis::Value::Int(n)) => n.to_string(),
        _ => String::new(),
    };
    Ok(groups.iter().any(|g| {
        text(g.get("name")) == GROUP
            && text(g.get("pending")) == "0"
            && text(g.get("last-delivered-id")) == last
    }))
}

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// A `redis-server` of our own, on a free loopback port, with its data in a temporary
/// directory; stopped and removed on drop.
struct OwnServer {
    url: String,
    dir: PathBuf,
    child: Child,
}

impl OwnServer {
    fn start() -> Result<OwnServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("homebound-distributed-log-{}", unique()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("could not start redis-server ({e}); install it or set HOMEBOUND_REDIS_URL")
            })?;
        let server = OwnServer {
            url: format!("redis://127.0.0.1:{port}/"),
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = ::redis::Client::open(server.url.as_str())?;
        while client
            .get_connection_with_timeout(Duration::from_millis(200))
            .and_then(|mut c| ::redis::cmd("PING").query::<()>(&mut c))
            .is_err()
        {
            if Instant::now() >= deadline {
                return Err("redis-server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        println!("started redis-server at {}", server.url);
        Ok(server)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
