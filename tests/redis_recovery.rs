//! `homebound::redis` against a real `redis-server`: a consumer killed with SIGKILL (a child
//! process), poison entries and the dead-letter stream, a server restart, a server that stays
//! down. See `redis_streams.rs` for how the server is found or started.
#![cfg(feature = "redis")]

mod redis_support;

mod recovery {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use crossbeam_channel::{Receiver, bounded, unbounded};
    use homebound::redis::{Consumer, Delivery, Entry, Error, Writer};
    use homebound::{Context, threads};
    use parking_lot::Mutex;

    use super::redis_support::*;

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
            .args(["--ignored", "--exact", "recovery::kill_test_child_entry"])
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
}
