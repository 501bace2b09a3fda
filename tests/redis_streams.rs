//! `homebound::redis` against a real `redis-server` (no mocks).
//!
//! The server: `HOMEBOUND_REDIS_URL` when set (`.ci/run` starts one and sets it); otherwise each
//! test starts its own `redis-server` on a free loopback port with its data in a temporary
//! directory, and kills it at the end. The restart tests always start their own. With the
//! feature on and no server reachable (or no `redis-server` installed), the tests fail; with
//! the feature off, one test says they were skipped.
//!
//! Every test uses its own stream keys and ends with the leak check.

#[cfg(not(feature = "redis"))]
#[test]
fn redis_streams_tests_need_the_redis_feature() {
    eprintln!(
        "SKIPPED: the Redis Streams tests need `--features redis` and a redis-server \
         (HOMEBOUND_REDIS_URL, or redis-server on PATH)"
    );
}

#[cfg(feature = "redis")]
mod streams {
    use std::collections::{HashMap, HashSet};
    use std::io::{BufRead, BufReader};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use ::redis::{Connection, Value};
    use crossbeam_channel::{Receiver, bounded, unbounded};
    use homebound::redis::{Consumer, Delivery, Entry, Error, Writer};
    use homebound::{Context, threads};
    use parking_lot::Mutex;

    /// The "promptly" bound.
    const BOUND: Duration = Duration::from_secs(10);
    /// Longest a whole scenario may take before a watcher gives up and stops it.
    const SCENARIO: Duration = Duration::from_secs(120);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    // -----------------------------------------------------------------------------------------
    // The server

    /// The server a test talks to: CI's (left alone), or one this test started (killed on drop).
    struct Server {
        url: String,
        port: u16,
        /// `Some` for a server this test started.
        own: Option<OwnServer>,
    }

    struct OwnServer {
        dir: PathBuf,
        persistent: bool,
        child: Option<Child>,
    }

    impl Server {
        /// CI's server if `HOMEBOUND_REDIS_URL` is set, else a fresh one.
        fn any() -> Server {
            match std::env::var("HOMEBOUND_REDIS_URL") {
                Ok(url) if !url.is_empty() => {
                    let mut conn = connect(&url).unwrap_or_else(|e| {
                        panic!("HOMEBOUND_REDIS_URL={url} is not reachable: {e}")
                    });
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
        fn own(persistent: bool) -> Server {
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

        fn start(&mut self) {
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
        fn kill(&mut self) {
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

    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn unique() -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{}-{nanos}", std::process::id())
    }

    /// A stream key no other test uses.
    fn key(name: &str) -> String {
        format!("hb-test:{name}:{}", unique())
    }

    fn connect(url: &str) -> ::redis::RedisResult<Connection> {
        ::redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))
    }

    // -----------------------------------------------------------------------------------------
    // Looking at the stream from outside

    /// Appends `n` entries `{n: i}`; returns their IDs in order.
    fn produce(url: &str, stream: &str, n: usize) -> Vec<String> {
        let writer = Writer::open(url, stream).unwrap();
        let mut ids = Vec::with_capacity(n);
        let items: Vec<(&str, usize)> = (0..n).map(|i| ("n", i)).collect();
        for chunk in items.chunks(1000) {
            ids.extend(writer.append(chunk).unwrap());
        }
        ids
    }

    fn number(entry: &Entry) -> usize {
        entry.get_str("n").unwrap().parse().unwrap()
    }

    /// IDs pending in the group (delivered, not acknowledged), by consumer.
    fn pending(url: &str, stream: &str, group: &str) -> HashMap<String, String> {
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
    fn entries(url: &str, stream: &str) -> Vec<(String, HashMap<String, String>)> {
        let mut conn = connect(url).unwrap();
        ::redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query(&mut conn)
            .unwrap()
    }

    /// Whether every entry up to `last` was delivered to the group and none is pending.
    fn drained(url: &str, stream: &str, group: &str, last: &str) -> ::redis::RedisResult<bool> {
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

    fn text(v: &Value) -> Option<String> {
        match v {
            Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
            Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// A watcher that cancels `stop` once the group is drained (or the scenario's time is up;
    /// then the test's own assertions fail). Redis is outside the process: polling it is the
    /// only way to learn this.
    fn stop_when_drained(
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

    // -----------------------------------------------------------------------------------------
    // Tests

    #[test]
    fn smoke_one_consumer_processes_and_acknowledges_every_entry() {
        let server = Server::any();
        let stream = key("smoke");
        produce(&server.url, &stream, 1000);
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .batch(64)
            .block(ms(20))
            .build()
            .unwrap();
        let (run, stop) = (Context::new(), Context::new());
        let mut seen = HashSet::new();
        let outcome = consumer
            .pipeline(&run)
            .map(2, |d| d.map(|e| number(&e)))
            .stop_intake_on(&stop)
            .for_each(|n| {
                seen.insert(*n);
                if seen.len() == 1000 {
                    stop.cancel();
                }
            })
            .unwrap();
        let stats = consumer.finish().unwrap();
        assert_eq!(seen.len(), 1000);
        assert_eq!(stats.read, 1000);
        assert_eq!(stats.acked, 1000, "{stats}");
        assert_eq!(
            (stats.in_flight, stats.awaiting_ack, stats.abandoned),
            (0, 0, 0)
        );
        assert!(pending(&server.url, &stream, "g").is_empty());
        assert_eq!(
            outcome.report().stage("redis-entries").unwrap().items_out,
            1000
        );
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn exactly_once_without_crashes_100k_entries_3_consumers() {
        const N: usize = 100_000;
        let server = Server::any();
        let stream = key("exactly-once");
        produce(&server.url, &stream, N);
        let stop = Context::new();
        let total = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..3)
            .map(|i| {
                let (url, stream, stop, total) = (
                    server.url.clone(),
                    stream.clone(),
                    stop.clone(),
                    total.clone(),
                );
                threads::spawn("consumer", move || {
                    let consumer = Consumer::builder(&url, &stream, "g", &format!("c{i}"))
                        .batch(200)
                        .block(ms(20))
                        .build()
                        .unwrap();
                    let run = Context::new();
                    let mut mine = Vec::new();
                    consumer
                        .pipeline(&run)
                        .map(1, |d| d.map(|e| number(&e)))
                        .stop_intake_on(&stop)
                        .for_each(|n| {
                            mine.push(*n);
                            if total.fetch_add(1, Ordering::Relaxed) + 1 == N as u64 {
                                stop.cancel();
                            }
                        })
                        .unwrap();
                    (mine, consumer.finish().unwrap())
                })
                .unwrap()
            })
            .collect();
        let mut seen = vec![0u32; N];
        let mut acked = 0;
        for (i, worker) in workers.into_iter().enumerate() {
            let (mine, stats) = worker.join().unwrap();
            eprintln!("c{i}: {} entries; {stats}", mine.len());
            for n in mine {
                seen[n] += 1;
            }
            acked += stats.acked;
            assert_eq!(stats.reclaimed + stats.abandoned + stats.dead_lettered, 0);
        }
        eprintln!("{N} entries by 3 consumers in {:?}", started.elapsed());
        let wrong: Vec<_> = (0..N).filter(|&n| seen[n] != 1).collect();
        assert!(
            wrong.is_empty(),
            "not exactly once: {:?}",
            &wrong[..wrong.len().min(10)]
        );
        assert_eq!(acked, N as u64);
        assert!(pending(&server.url, &stream, "g").is_empty());
        threads::assert_none_alive(BOUND);
    }

    /// Not a check: prints how many entries per second one consumer takes through a trivial
    /// pipeline (read, map, for_each, acknowledge) on this machine.
    /// `cargo test --release --features redis --test redis_streams -- --ignored --nocapture throughput`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn throughput_of_one_consumer() {
        const N: usize = 200_000;
        let server = Server::any();
        let stream = key("throughput");
        let ids = produce(&server.url, &stream, N);
        for batch in [100, 500, 1000] {
            let group = format!("g{batch}");
            let consumer = Consumer::builder(&server.url, &stream, &group, "c1")
                .batch(batch)
                .block(ms(20))
                .build()
                .unwrap();
            let (run, stop) = (Context::new(), Context::new());
            let started = Instant::now();
            let mut n = 0;
            consumer
                .pipeline(&run)
                .map(1, |d| d.map(|e| e.fields().len()))
                .stop_intake_on(&stop)
                .for_each(|_| {
                    n += 1;
                    if n == N {
                        stop.cancel();
                    }
                })
                .unwrap();
            let stats = consumer.finish().unwrap();
            let took = started.elapsed();
            assert!(pending(&server.url, &stream, &group).is_empty());
            eprintln!(
                "one consumer, batch {batch}: {N} entries in {took:.2?} = {:.0} entries/s ({stats})",
                N as f64 / took.as_secs_f64()
            );
        }
        drop(ids);
        threads::assert_none_alive(BOUND);
    }

    // --- at-least-once with a consumer killed mid-run (a child process) ----------------------

    const CHILD_ENV: &str = "HOMEBOUND_REDIS_KILL_CHILD";
    /// The child writes this many entries, then hangs in a stage until it is killed.
    const CHILD_WRITES: u64 = 200;

    /// The child side of the kill test: a consumer named "victim" that writes what it
    /// processed to the output stream, then hangs with entries in flight. Ignored in normal
    /// runs; the parent runs it with `--ignored --exact`.
    #[test]
    #[ignore = "entry point for the kill test's child process"]
    fn kill_test_child_entry() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let [url, stream, group, out]: [&str; 4] =
            spec.split('|').collect::<Vec<_>>().try_into().unwrap();
        let consumer = Consumer::builder(url, stream, group, "victim")
            .batch(20)
            .block(ms(20))
            .build()
            .unwrap();
        let writer = Writer::open(url, out).unwrap();
        let (_never_sent, hang) = bounded::<()>(0);
        let mut written = 0;
        let run = Context::new();
        let _ = consumer
            .pipeline(&run)
            .map(1, |d: Delivery<Entry>| {
                d.map(|e| ("src", e.id().to_string()))
            })
            .batch(10, ms(5))
            .for_each(|batch| {
                written += batch.len() as u64;
                writer.write(batch).unwrap();
                if written >= CHILD_WRITES {
                    // Entries keep flowing in behind this until the links are full.
                    println!("CHILD STUCK");
                    let _ = hang.recv();
                }
            });
        unreachable!("the child is killed while it hangs");
    }

    fn start_child(spec: &str) -> (Child, Receiver<String>) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "streams::kill_test_child_entry"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = unbounded();
        // Ends when the child's stdout closes (it is killed).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        (child, lines)
    }

    #[test]
    fn at_least_once_when_a_consumer_is_killed_mid_run() {
        const N: usize = 3000;
        let server = Server::any();
        let (stream, out) = (key("kill"), key("kill-out"));
        let ids = produce(&server.url, &stream, N);
        let spec = format!("{}|{stream}|g|{out}", server.url);
        let (mut child, lines) = start_child(&spec);
        let deadline = Instant::now() + SCENARIO;
        loop {
            match lines.recv_deadline(deadline) {
                Ok(line) if line.contains("CHILD STUCK") => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("the child never got stuck");
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let held = pending(&server.url, &stream, "g");
        let victims = held.values().filter(|owner| *owner == "victim").count();
        assert!(victims > 0, "the victim held no pending entries");
        let by_child = entries(&server.url, &out).len();
        assert!(
            by_child as u64 >= CHILD_WRITES,
            "the child wrote {by_child}"
        );

        let consumer = Consumer::builder(&server.url, &stream, "g", "survivor")
            .batch(100)
            .block(ms(20))
            .claim_idle(ms(300))
            .build()
            .unwrap();
        let writer = Writer::open(&server.url, &out).unwrap();
        let (run, stop) = (Context::new(), Context::new());
        let watcher = stop_when_drained(&server.url, &stream, "g", ids.last().unwrap(), &stop);
        consumer
            .pipeline(&run)
            .map(2, |d| d.map(|e| ("src", e.id().to_string())))
            .batch(50, ms(5))
            .stop_intake_on(&stop)
            .for_each(|batch| {
                writer.write(batch).unwrap();
            })
            .unwrap();
        assert!(watcher.join().unwrap(), "the group never drained");
        let stats = consumer.finish().unwrap();

        let mut written: HashMap<String, u32> = HashMap::new();
        for (_, fields) in entries(&server.url, &out) {
            *written.entry(fields["src"].clone()).or_default() += 1;
        }
        let missing: Vec<_> = ids.iter().filter(|id| !written.contains_key(*id)).collect();
        assert!(
            missing.is_empty(),
            "{} entries never processed",
            missing.len()
        );
        let duplicates: u32 = written.values().map(|n| n - 1).sum();
        eprintln!(
            "killed consumer held {victims} entries; the survivor reclaimed {}, \
             {duplicates} processed twice; survivor: {stats}",
            stats.reclaimed
        );
        assert!(stats.reclaimed >= victims as u64, "{stats}");
        assert!(pending(&server.url, &stream, "g").is_empty());
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn poison_entries_go_to_the_dead_letter_stream_after_max_deliveries() {
        const N: usize = 200;
        let server = Server::any();
        let stream = key("poison");
        let dead = format!("{stream}:dead");
        let ids = produce(&server.url, &stream, N);
        let poison = |n: usize| n % 50 == 7;
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .batch(50)
            .block(ms(10))
            .claim_idle(ms(30))
            .max_deliveries(3)
            .build()
            .unwrap();
        let attempts: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
        let tries = Arc::clone(&attempts);
        let (run, stop) = (Context::new(), Context::new());
        let watcher = stop_when_drained(&server.url, &stream, "g", ids.last().unwrap(), &stop);
        let mut seen = vec![0u32; N];
        consumer
            .pipeline(&run)
            .flat_map(1, move |d: Delivery<Entry>| {
                let n = number(&d);
                if poison(n) {
                    *tries.lock().entry(n).or_default() += 1;
                    assert_eq!(d.deliveries(), tries.lock()[&n]);
                    d.abandon(); // "retry later"
                    None
                } else {
                    Some(d.map(|_| n))
                }
            })
            .stop_intake_on(&stop)
            .for_each(|n| seen[*n] += 1)
            .unwrap();
        assert!(watcher.join().unwrap(), "the group never drained");
        let stats = consumer.finish().unwrap();

        let poisoned: Vec<usize> = (0..N).filter(|&n| poison(n)).collect();
        assert!((0..N).filter(|&n| !poison(n)).all(|n| seen[n] == 1));
        for n in &poisoned {
            assert_eq!(
                attempts.lock()[n],
                3,
                "entry {n} processed 3 times, no more"
            );
        }
        let mut letters: Vec<(String, HashMap<String, String>)> = entries(&server.url, &dead);
        letters.sort_by_key(|(_, f)| f["n"].parse::<usize>().unwrap());
        assert_eq!(letters.len(), poisoned.len());
        for ((_, fields), n) in letters.iter().zip(&poisoned) {
            assert_eq!(fields["n"], n.to_string());
            assert_eq!(fields["dlq-origin"], ids[*n]);
            assert_eq!(fields["dlq-stream"], stream);
            assert_eq!(fields["dlq-deliveries"], "4");
        }
        assert_eq!(stats.dead_lettered, poisoned.len() as u64, "{stats}");
        assert!(pending(&server.url, &stream, "g").is_empty());
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn a_fail_fast_error_leaves_its_entry_pending_until_a_later_run_handles_it() {
        const N: usize = 50;
        let server = Server::any();
        let stream = key("fail-fast");
        let ids = produce(&server.url, &stream, N);
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .batch(10)
            .block(ms(10))
            .claim_idle(ms(50))
            .build()
            .unwrap();
        let failed_once = Arc::new(AtomicU64::new(0));
        let attempt = |failed_once: Arc<AtomicU64>| {
            move |d: Delivery<Entry>| {
                d.try_map(|e| {
                    let n = number(&e);
                    if n == 25 && failed_once.fetch_add(1, Ordering::Relaxed) == 0 {
                        Err(format!("entry {n} failed"))
                    } else {
                        Ok(n)
                    }
                })
            }
        };
        // Run 1 fails on entry 25.
        let run = Context::new();
        let mut handled = HashSet::new();
        let err = consumer
            .pipeline(&run)
            .try_map(1, attempt(failed_once.clone()))
            .named("attempt")
            .for_each(|n| {
                handled.insert(*n);
            })
            .unwrap_err();
        assert_eq!(err.stage(), Some("attempt"));
        assert_eq!(
            err.to_string(),
            format!("stage 'attempt' failed: entry {}: entry 25 failed", ids[25])
        );
        drop(err);
        consumer.flush().unwrap();
        let still = pending(&server.url, &stream, "g");
        assert!(
            still.contains_key(&ids[25]),
            "the failed entry was acknowledged"
        );
        // One consumer: XREADGROUP delivered the first `read` entries, in order.
        let delivered = consumer.stats().read as usize;
        for (n, id) in ids.iter().enumerate().take(delivered) {
            if !still.contains_key(id) {
                assert!(
                    handled.contains(&n),
                    "entry {n} acknowledged but never handled"
                );
            }
        }
        // Run 2 (the same consumer) picks it up once idle and handles everything.
        let (run, stop) = (Context::new(), Context::new());
        let watcher = stop_when_drained(&server.url, &stream, "g", ids.last().unwrap(), &stop);
        let mut second = HashSet::new();
        consumer
            .pipeline(&run)
            .try_map(1, attempt(failed_once.clone()))
            .stop_intake_on(&stop)
            .for_each(|n| {
                second.insert(*n);
            })
            .unwrap();
        assert!(watcher.join().unwrap(), "the group never drained");
        assert!(second.contains(&25));
        assert_eq!(handled.union(&second).count(), N);
        let stats = consumer.finish().unwrap();
        assert!(stats.abandoned > 0 && stats.reclaimed > 0, "{stats}");
        assert!(pending(&server.url, &stream, "g").is_empty());
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn a_cancelled_run_acknowledges_only_what_its_sink_handled() {
        const N: usize = 500;
        let server = Server::any();
        let stream = key("cancel");
        let ids = produce(&server.url, &stream, N);
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .batch(50)
            .block(ms(10))
            .build()
            .unwrap();
        let run = Context::new();
        let (reached_tx, reached) = bounded::<()>(1);
        let (gate_tx, gate) = bounded::<()>(0);
        let count = AtomicU64::new(0);
        let canceller = {
            let run = run.clone();
            threads::spawn("canceller", move || {
                reached.recv().unwrap();
                run.cancel();
                drop(gate_tx); // lets the stalled stage go on, into a cancelled run
            })
            .unwrap()
        };
        let mut handled = HashSet::new();
        let err = consumer
            .pipeline(&run)
            .map(1, move |d: Delivery<Entry>| {
                if count.fetch_add(1, Ordering::Relaxed) == 100 {
                    let _ = reached_tx.send(());
                    let _ = gate.recv();
                }
                d.map(|e| number(&e))
            })
            .for_each(|n| {
                handled.insert(*n);
            })
            .unwrap_err();
        assert!(err.is_cancelled());
        canceller.join().unwrap();
        let stats = consumer.finish().unwrap();
        let still = pending(&server.url, &stream, "g");
        // One consumer: XREADGROUP delivered the first `read` entries, in order.
        let delivered = stats.read as usize;
        let acked: Vec<usize> = (0..delivered)
            .filter(|&n| !still.contains_key(&ids[n]))
            .collect();
        assert!(
            acked.iter().all(|n| handled.contains(n)),
            "acknowledged but not handled"
        );
        assert_eq!(stats.acked as usize, acked.len());
        assert!(stats.abandoned > 0, "{stats}");
        assert_eq!(
            stats.read,
            stats.acked + stats.abandoned + stats.unstarted,
            "{stats}"
        );
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn graceful_stop_finishes_what_the_run_took_and_leaves_the_rest_pending() {
        const N: usize = 2000;
        let server = Server::any();
        let stream = key("graceful");
        let ids = produce(&server.url, &stream, N);
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .batch(100)
            .block(ms(10))
            .build()
            .unwrap();
        let (run, stop) = (Context::new(), Context::new());
        let mut handled = HashSet::new();
        let outcome = consumer
            .pipeline(&run)
            .map(2, |d| d.map(|e| number(&e)))
            .batch(16, ms(5))
            .stop_intake_on(&stop)
            .for_each(|batch| {
                for n in batch {
                    handled.insert(*n);
                }
                if handled.len() >= 500 {
                    stop.cancel();
                }
            })
            .unwrap();
        assert!(outcome.report().intake_stopped());
        let stats = consumer.finish().unwrap();
        let still = pending(&server.url, &stream, "g");
        for (n, id) in ids.iter().enumerate() {
            if handled.contains(&n) {
                assert!(
                    !still.contains_key(id),
                    "entry {n} handled but not acknowledged"
                );
            }
        }
        assert_eq!(stats.acked as usize, handled.len());
        assert_eq!(stats.abandoned, 0, "{stats}");
        assert_eq!(still.len() as u64, stats.unstarted, "{stats}");
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn under_shutdown_a_consumer_finishes_what_it_took_and_exits_clean() {
        const N: usize = 5000;
        let server = Server::any();
        let stream = key("shutdown");
        let ids = produce(&server.url, &stream, N);
        let handled: Arc<Mutex<HashSet<usize>>> = Arc::default();
        let stats: Arc<Mutex<Option<homebound::redis::Stats>>> = Arc::default();
        let mut shutdown = homebound::shutdown::Shutdown::new().grace(BOUND);
        let trigger = shutdown.trigger();
        let (url, key_, seen, out) = (
            server.url.clone(),
            stream.clone(),
            Arc::clone(&handled),
            Arc::clone(&stats),
        );
        shutdown
            .service("consumer", move |stop| {
                let consumer = Consumer::builder(&url, &key_, "g", "c1")
                    .batch(100)
                    .block(ms(10))
                    .build()
                    .map_err(|e| e.to_string())?;
                let run = Context::new();
                let result = consumer
                    .pipeline(&run)
                    .map(2, |d| d.map(|e| number(&e)))
                    .batch(32, ms(5))
                    .stop_intake_on(&stop)
                    .for_each(|batch| {
                        let mut seen = seen.lock();
                        seen.extend(batch.iter().map(|n| **n));
                        if seen.len() >= N / 5 {
                            trigger.fire();
                        }
                    });
                *out.lock() = Some(consumer.finish().map_err(|e| e.to_string())?);
                result.map(drop).map_err(|e| e.to_string())
            })
            .unwrap();
        let report = shutdown.wait();
        assert_eq!(report.exit_code(), 0, "{report}");
        let stats = stats.lock().take().unwrap();
        let handled = handled.lock();
        let still = pending(&server.url, &stream, "g");
        for n in handled.iter() {
            assert!(
                !still.contains_key(&ids[*n]),
                "entry {n} handled, not acknowledged"
            );
        }
        assert!(
            handled.len() < N,
            "the stop came before the end of the stream"
        );
        assert_eq!(stats.acked as usize, handled.len(), "{stats}");
        assert_eq!(
            (stats.abandoned, still.len() as u64),
            (0, stats.unstarted),
            "{stats}"
        );
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn flat_map_parts_acknowledge_their_entry_once_all_are_handled() {
        const N: usize = 100;
        let server = Server::any();
        let stream = key("parts");
        let ids = produce(&server.url, &stream, N);
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .block(ms(10))
            .build()
            .unwrap();
        let (run, stop) = (Context::new(), Context::new());
        let watcher = stop_when_drained(&server.url, &stream, "g", ids.last().unwrap(), &stop);
        let mut parts = 0;
        consumer
            .pipeline(&run)
            .flat_map(2, |d: Delivery<Entry>| d.flat_map(|e| [number(&e); 3]))
            .filter(2, |n| **n % 2 == 0) // odd entries: every part filtered out
            .stop_intake_on(&stop)
            .for_each(|_| parts += 1)
            .unwrap();
        assert!(watcher.join().unwrap(), "the group never drained");
        assert_eq!(parts, 3 * N / 2);
        let stats = consumer.finish().unwrap();
        assert_eq!(stats.acked, N as u64);
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn a_failed_write_leaves_the_batch_pending() {
        const N: usize = 40;
        let server = Server::any();
        let (stream, out) = (key("bad-write"), key("bad-write-out"));
        produce(&server.url, &stream, N);
        // The output key holds a string: every XADD to it fails with WRONGTYPE.
        let _: () = ::redis::cmd("SET")
            .arg(&out)
            .arg("not a stream")
            .query(&mut connect(&server.url).unwrap())
            .unwrap();
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .block(ms(10))
            .build()
            .unwrap();
        let writer = Writer::open(&server.url, &out).unwrap();
        let (run, stop) = (Context::new(), Context::new());
        let mut failed = 0;
        consumer
            .pipeline(&run)
            .map(1, |d| d.map(|e| ("src", e.id().to_string())))
            .batch(N, ms(500))
            .stop_intake_on(&stop)
            .for_each(|batch| {
                let err = writer.write(batch).unwrap_err();
                assert!(err.to_string().contains("WRONGTYPE"), "{err}");
                failed += 1;
                stop.cancel();
            })
            .unwrap();
        assert_eq!(failed, 1);
        let stats = consumer.finish().unwrap();
        assert_eq!((stats.acked, stats.abandoned), (0, N as u64), "{stats}");
        assert_eq!(pending(&server.url, &stream, "g").len(), N);
        threads::assert_none_alive(BOUND);
    }

    // --- Redis restarts ----------------------------------------------------------------------

    #[test]
    fn a_redis_restart_mid_run_is_ridden_out_and_nothing_unprocessed_is_acknowledged() {
        const N: usize = 20_000;
        let mut server = Server::own(true);
        let url = server.url.clone();
        let (stream, out) = (key("restart"), key("restart-out"));
        let ids = produce(&url, &stream, N);
        let consumer = Consumer::builder(&url, &stream, "g", "c1")
            .batch(100)
            .block(ms(20))
            .claim_idle(ms(200))
            .reconnect_for(Duration::from_secs(30))
            .build()
            .unwrap();
        let writer = Writer::open(&url, &out).unwrap();
        let (run, stop) = (Context::new(), Context::new());
        let (halfway_tx, halfway) = bounded::<()>(1);
        let written = AtomicU64::new(0);
        let restarter = threads::spawn("restarter", move || {
            halfway.recv().unwrap();
            server.kill();
            std::thread::sleep(ms(300)); // the outage itself
            server.start();
            server
        })
        .unwrap();
        let (mut failed_writes, mut watcher) = (0, None);
        consumer
            .pipeline(&run)
            .map(2, |d| {
                std::thread::sleep(Duration::from_micros(20));
                d.map(|e| ("src", e.id().to_string()))
            })
            .batch(50, ms(5))
            .stop_intake_on(&stop)
            .for_each(|batch| {
                let n = batch.len() as u64;
                match writer.write(batch) {
                    Ok(_) => {
                        let before = written.fetch_add(n, Ordering::Relaxed);
                        if before < N as u64 / 4 && before + n >= N as u64 / 4 {
                            halfway_tx.send(()).unwrap();
                        }
                        if watcher.is_none() && restarter.is_finished() {
                            watcher = Some(stop_when_drained(
                                &url,
                                &stream,
                                "g",
                                ids.last().unwrap(),
                                &stop,
                            ));
                        }
                    }
                    Err(_) => failed_writes += 1, // dropped: the batch stays pending
                }
            })
            .unwrap();
        assert!(watcher.unwrap().join().unwrap(), "the group never drained");
        let server = restarter.join().unwrap();
        let stats = consumer.finish().unwrap();
        let mut seen: HashMap<String, u32> = HashMap::new();
        for (_, fields) in entries(&url, &out) {
            *seen.entry(fields["src"].clone()).or_default() += 1;
        }
        let missing = ids.iter().filter(|id| !seen.contains_key(*id)).count();
        let duplicates: u32 = seen.values().map(|n| n - 1).sum();
        eprintln!("restart: {failed_writes} failed writes, {duplicates} duplicates; {stats}");
        assert_eq!(missing, 0, "entries acknowledged but never written");
        assert!(stats.reconnects >= 1, "{stats}");
        assert!(pending(&url, &stream, "g").is_empty());
        drop(server);
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn a_redis_that_stays_down_fails_the_run_with_a_clear_error() {
        let mut server = Server::own(false);
        let stream = key("down");
        produce(&server.url, &stream, 100);
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .batch(10)
            .block(ms(10))
            .reconnect_for(ms(300))
            .build()
            .unwrap();
        let run = Context::new();
        let mut seen = 0;
        let started = Instant::now();
        let err = consumer
            .pipeline(&run)
            .for_each(|_| {
                seen += 1;
                if seen == 100 {
                    server.kill();
                }
            })
            .unwrap_err();
        let cause = Error::of_run(&err).expect("the consumer's error");
        assert!(matches!(cause, Error::Redis { .. }), "{cause}");
        assert!(err.to_string().contains("redis"), "{err}");
        assert!(started.elapsed() < BOUND);
        let stats = consumer.finish();
        assert!(stats.is_err() || stats.unwrap().awaiting_ack == 0);
        threads::assert_none_alive(BOUND);
    }

    // --- bad input ---------------------------------------------------------------------------

    #[test]
    fn bad_configuration_is_a_clear_error() {
        let url = "redis://127.0.0.1:1/"; // never contacted: the settings fail first
        let base = || Consumer::builder(url, "s", "g", "c");
        let config = |b: homebound::redis::Builder| match b.build() {
            Err(Error::Config(msg)) => msg,
            other => panic!("expected a configuration error, got {other:?}"),
        };
        assert_eq!(
            config(Consumer::builder(url, "s", "", "c")),
            "the group name must not be empty"
        );
        assert_eq!(config(base().batch(0)), "the batch size must be at least 1");
        assert_eq!(
            config(Consumer::builder(url, "", "g", "c")),
            "the stream key must not be empty"
        );
        assert_eq!(
            config(Consumer::builder(url, "s", "g", "")),
            "the consumer name must not be empty"
        );
        assert_eq!(
            config(base().block(Duration::ZERO)),
            "the block time must be at least 1 ms"
        );
        assert_eq!(
            config(base().claim_idle(Duration::ZERO)),
            "the claim idle time must be at least 1 ms"
        );
        assert_eq!(
            config(base().max_deliveries(0)),
            "max_deliveries must be at least 1"
        );
        assert_eq!(
            config(base().dead_letter("s")),
            "the dead-letter stream must not be the stream itself"
        );
        let bad_url = config(Consumer::builder("not a url", "s", "g", "c"));
        assert!(
            bad_url.starts_with("bad redis URL 'not a url'"),
            "{bad_url}"
        );
        // Good settings, no server: a clear Redis error, at once.
        let started = Instant::now();
        match base().build() {
            Err(Error::Redis { during, .. }) => assert_eq!(during, "XGROUP CREATE"),
            other => panic!("expected a redis error, got {other:?}"),
        }
        assert!(started.elapsed() < BOUND);
        assert!(matches!(Writer::open(url, ""), Err(Error::Config(_))));
        assert!(matches!(Writer::open(url, "out"), Err(Error::Redis { .. })));
        threads::assert_none_alive(BOUND);
    }

    #[test]
    fn a_run_started_after_finish_fails_clearly() {
        let server = Server::any();
        let stream = key("finished");
        let consumer = Consumer::builder(&server.url, &stream, "g", "c1")
            .build()
            .unwrap();
        let pipeline = consumer.pipeline(&Context::new());
        consumer.finish().unwrap();
        let err = pipeline.for_each(|_| {}).unwrap_err();
        assert!(
            matches!(Error::of_run(&err), Some(Error::Finished)),
            "{err}"
        );
        threads::assert_none_alive(BOUND);
    }
}
