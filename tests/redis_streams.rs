//! `homebound::redis` against a real `redis-server` (no mocks): what is acknowledged when.
//!
//! The server: `HOMEBOUND_REDIS_URL` when set (`.ci/run` starts one and sets it); otherwise each
//! test starts its own `redis-server` on a free loopback port with its data in a temporary
//! directory, and kills it at the end. With the feature on and no server reachable (or no
//! `redis-server` installed), the tests fail; with the feature off, one test says they were
//! skipped. Crashes, reclaiming and restarts are in `redis_recovery.rs`.
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
mod redis_support;

#[cfg(feature = "redis")]
mod streams {
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use crossbeam_channel::bounded;
    use homebound::redis::{Consumer, Delivery, Entry, Error, Writer};
    use homebound::{Context, threads};
    use parking_lot::Mutex;

    use super::redis_support::*;

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
