//! Tests for `Pipeline`: results, conservation, error policies, panics, cancellation and bad
//! input (ordering, batching and the proptest are in `pipeline_order.rs`). Every test ends
//! with the leak check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use homebound::{Cause, Context, pipeline, pipeline::ErrorPolicy, pipeline::Pipeline, threads};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// Checks the report's books: every item the source read was consumed, filtered, failed or
/// dropped (for pipelines whose stages make at most one output per input).
fn assert_books_balance(report: &pipeline::Report, consumed: u64) {
    let stages = report.stages();
    let read = stages[0].items_in;
    let accounted: u64 = stages
        .iter()
        .map(|s| s.filtered + s.errors + s.dropped)
        .sum();
    assert_eq!(
        read,
        consumed + accounted,
        "books do not balance:\n{report}"
    );
}

#[test]
fn smoke() {
    let ctx = Context::new();
    let (out, outcome) = Pipeline::from_iter(&ctx, 0..10_000u64)
        .map(2, |x| x * 3)
        .filter(2, |x| x % 2 == 0)
        .map(1, |x| x + 1)
        .collect()
        .unwrap();
    let expected: u64 = (0..10_000u64)
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .map(|x| x + 1)
        .sum();
    assert_eq!(out.iter().sum::<u64>(), expected);
    assert_eq!(out.len(), 5_000);
    let report = outcome.report();
    assert_eq!(report.items_read(), 10_000);
    assert_eq!(report.items_delivered(), 5_000);
    assert_eq!(report.dropped(), 0);
    assert!(report.cancelled().is_none());
    assert_eq!(report.stages().len(), 5);
    assert_books_balance(report, 5_000);
    no_leaks();
}

#[test]
fn stage_names_and_threads() {
    let ctx = Context::new();
    let (names, outcome) = Pipeline::from_iter(&ctx, 0..4)
        .named("numbers")
        .map(2, |_| thread::current().name().unwrap().to_string())
        .named("where")
        .collect()
        .unwrap();
    assert!(
        names.iter().all(|n| n.starts_with("homebound-where-")),
        "{names:?}"
    );
    let stages: Vec<_> = outcome
        .report()
        .stages()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(stages, ["numbers", "where", "sink"]);
    no_leaks();
}

#[test]
fn from_receiver_ends_when_senders_drop() {
    let ctx = Context::new();
    let (tx, rx) = bounded(4);
    let feeder = threads::spawn("feeder", move || {
        for i in 0..1_000u32 {
            tx.send(i).unwrap();
        }
    })
    .unwrap();
    let (out, _) = Pipeline::from_receiver(&ctx, rx)
        .map(2, |x| x + 1)
        .ordered()
        .collect()
        .unwrap();
    assert_eq!(out, (1..=1_000).collect::<Vec<_>>());
    feeder.join().unwrap();
    no_leaks();
}

#[test]
fn empty_source() {
    let ctx = Context::new();
    let (out, outcome) = Pipeline::from_iter(&ctx, Vec::<u8>::new())
        .map(2, |x| x)
        .batch(10, ms(10))
        .collect()
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(outcome.report().items_read(), 0);
    assert!(outcome.report().cancelled().is_none());
    no_leaks();
}

fn config_error<T: Send + 'static, S: homebound::pipeline::marker::ErrorMode>(
    p: Pipeline<T, S>,
) -> String {
    match p.collect().map(|_| ()).unwrap_err().into_kind() {
        pipeline::ErrorKind::Config(message) => message,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn zero_workers_is_a_config_error() {
    let ctx = Context::new();
    let msg = config_error(
        Pipeline::from_iter(&ctx, 0..10)
            .map(0, |x| x)
            .named("parse"),
    );
    assert_eq!(msg, "stage 'map-1': workers must be at least 1");
    let msg = config_error(Pipeline::from_iter(&ctx, 0..10).filter(0, |_| true));
    assert!(msg.contains("workers must be at least 1"), "{msg}");
    no_leaks();
}

#[test]
fn zero_batch_size_is_a_config_error() {
    let ctx = Context::new();
    let msg = config_error(Pipeline::from_iter(&ctx, 0..10).batch(0, ms(5)));
    assert_eq!(msg, "stage 'batch-1': batch size must be at least 1");
    no_leaks();
}

#[test]
fn zero_max_wait_is_a_config_error() {
    let ctx = Context::new();
    let err = Pipeline::from_iter(&ctx, 0..10)
        .batch(5, Duration::ZERO)
        .for_each(|_| {})
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pipeline: stage 'batch-1': max_wait must be greater than zero"
    );
    no_leaks();
}

#[test]
fn misplaced_on_error_and_empty_name_are_config_errors() {
    let ctx = Context::new();
    let msg = config_error(
        Pipeline::from_iter(&ctx, 0..10)
            .map(1, |x| x)
            .on_error(ErrorPolicy::Skip),
    );
    assert!(msg.contains("on_error must follow a try_map"), "{msg}");
    let msg = config_error(Pipeline::from_iter(&ctx, 0..10).map(1, |x| x).named(""));
    assert!(msg.contains("name must not be empty"), "{msg}");
    no_leaks();
}

#[test]
fn source_iterator_panics() {
    let ctx = Context::new();
    let items = (0..10_000u32).map(|i| {
        if i == 700 {
            panic!("bad input row {i}")
        } else {
            i
        }
    });
    let err = Pipeline::from_iter(&ctx, items)
        .map(2, |x| x + 1)
        .collect()
        .unwrap_err();
    match err.kind() {
        pipeline::ErrorKind::Panicked { stage, panic } => {
            assert_eq!(stage, "source");
            assert_eq!(panic.message(), "bad input row 700");
            assert!(panic.thread().unwrap().starts_with("homebound-source-"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.report().cancelled().is_some());
    no_leaks();
}

#[test]
fn stage_panic_is_named_and_cancels_the_rest() {
    let ctx = Context::new();
    let err = Pipeline::from_iter(&ctx, 0..100_000u64)
        .map(2, |x| x)
        .map(2, |x| {
            assert!(x != 5_000, "cannot handle {x}");
            x
        })
        .named("fragile")
        .filter(1, |_| true)
        .for_each(|_| {})
        .unwrap_err();
    assert_eq!(err.stage(), Some("fragile"));
    assert!(err.to_string().contains("cannot handle 5000"), "{err}");
    no_leaks();
}

#[test]
fn stage_panic_releases_producers_blocked_on_full_channels() {
    let ctx = Context::new();
    // The last stage panics only after the source has run far ahead (the links behind it
    // are full, or about to be).
    let (ahead_tx, ahead_rx) = bounded::<()>(1);
    let items = (0..u64::MAX).inspect(move |&i| {
        if i == 1_500 {
            let _ = ahead_tx.try_send(());
        }
    });
    let err = Pipeline::from_iter(&ctx, items)
        .map(2, |x| x)
        .map(1, move |x| {
            let _ = ahead_rx.recv_timeout(Duration::from_secs(5));
            panic!("late failure at {x}");
        })
        .for_each(|_| {})
        .unwrap_err();
    assert!(
        matches!(err.kind(), pipeline::ErrorKind::Panicked { .. }),
        "{err:?}"
    );
    assert_eq!(err.stage(), Some("map-2"));
    no_leaks();
}

#[test]
fn consumer_stops_after_one_item() {
    let ctx = Context::new();
    let mut iter = Pipeline::from_iter(&ctx, 0..u64::MAX)
        .map(2, |x| x * 2)
        .filter(2, |_| true)
        .into_iter();
    assert!(iter.next().is_some());
    drop(iter);
    no_leaks();
}

#[test]
fn consumer_stops_early_and_finish_reports_it() {
    let ctx = Context::new();
    let mut iter = Pipeline::from_iter(&ctx, 0..u64::MAX)
        .map(2, |x| x)
        .into_iter();
    let taken: Vec<_> = iter.by_ref().take(10).collect();
    assert_eq!(taken.len(), 10);
    let outcome = iter.finish().unwrap();
    let report = outcome.report();
    assert!(report.cancelled().is_some());
    assert_books_balance(report, 10);
    no_leaks();
}

/// `items_read` is everything the source took from its input, so the report's totals add up
/// after an early stop too: read = delivered + filtered + errors + dropped (for stages that
/// make at most one output per input). Items the source read but had not sent yet count as
/// its own dropped ones, and as read.
#[test]
fn items_read_equals_delivered_plus_filtered_errors_and_dropped_after_an_early_stop() {
    for (ordered, take) in [(false, 1), (true, 1), (false, 3_000), (true, 3_000)] {
        let mut p = Pipeline::from_iter(&Context::new(), 0..u64::MAX)
            .filter(2, |x| x % 5 != 0)
            .map(1, |x| x + 1);
        if ordered {
            p = p.ordered();
        }
        let mut iter = p.into_iter();
        let consumed = iter.by_ref().take(take).count() as u64;
        let report = iter.finish().unwrap().into_report();
        let stages = report.stages();
        let (filtered, errors): (u64, u64) = (
            stages.iter().map(|s| s.filtered).sum(),
            stages.iter().map(|s| s.errors).sum(),
        );
        assert_eq!(report.items_read(), stages[0].items_in, "{report}");
        assert_eq!(
            report.items_read(),
            report.items_delivered() + filtered + errors + report.dropped(),
            "ordered {ordered}, took {take}:\n{report}"
        );
        assert_eq!(report.items_delivered(), consumed);
    }
    no_leaks();
}

/// An item that counts its drops.
struct Tracked {
    value: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn conservation_with_drop_counters_on_early_stop() {
    for ordered in [false, true] {
        let ctx = Context::new();
        let created = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let items = {
            let (created, drops) = (created.clone(), drops.clone());
            (0..1_000_000u64).map(move |value| {
                created.fetch_add(1, Ordering::SeqCst);
                Tracked {
                    value,
                    drops: drops.clone(),
                }
            })
        };
        let mut p = Pipeline::from_iter(&ctx, items)
            .map(2, |t| t)
            .filter(2, |t| t.value % 3 != 0)
            .map(1, |t| t);
        if ordered {
            p = p.ordered();
        }
        let mut iter = p.into_iter();
        let consumed: Vec<Tracked> = iter.by_ref().take(5_000).collect();
        let outcome = iter.finish().unwrap();
        let report = outcome.report();
        assert_books_balance(report, consumed.len() as u64);
        assert_eq!(
            report.stages()[0].items_in,
            created.load(Ordering::SeqCst) as u64
        );
        drop(consumed);
        assert_eq!(drops.load(Ordering::SeqCst), created.load(Ordering::SeqCst));
        no_leaks();
    }
}

#[test]
fn conservation_when_the_context_is_cancelled() {
    let ctx = Context::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let items = {
        let drops = drops.clone();
        (0..u64::MAX).map(move |value| Tracked {
            value,
            drops: drops.clone(),
        })
    };
    let mut seen = 0u64;
    let err = Pipeline::from_iter(&ctx, items)
        .map(2, |t| t)
        .filter(1, |t| t.value % 2 == 0)
        .for_each(|t| {
            seen += 1;
            if seen == 2_000 {
                ctx.cancel();
            }
            drop(t);
        })
        .unwrap_err();
    assert!(err.is_cancelled());
    assert!(
        matches!(err.kind(), pipeline::ErrorKind::Cancelled(c) if *c.cause() == Cause::Cancelled)
    );
    let report = err.report();
    assert!(report.dropped() > 0 || report.stages().iter().any(|s| s.filtered > 0));
    assert_books_balance(report, seen);
    assert_eq!(
        drops.load(Ordering::SeqCst) as u64,
        report.stages()[0].items_in
    );
    no_leaks();
}

#[test]
fn cancelling_while_every_channel_is_full() {
    let ctx = Context::new();
    let (ahead_tx, ahead_rx) = bounded::<()>(1);
    let items = (0..u64::MAX).inspect(move |&i| {
        if i == 1_500 {
            let _ = ahead_tx.try_send(());
        }
    });
    let mut iter = Pipeline::from_iter(&ctx, items)
        .map(2, |x| x)
        .map(2, |x| x)
        .into_iter();
    assert!(iter.next().is_some());
    // The consumer reads nothing more: the source runs ahead until the links are full.
    let _ = ahead_rx.recv_timeout(Duration::from_secs(5));
    let canceller = {
        let ctx = ctx.clone();
        threads::spawn("canceller", move || ctx.cancel()).unwrap()
    };
    canceller.join().unwrap();
    let rest = iter.by_ref().count() as u64;
    let err = iter.finish().unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_books_balance(err.report(), 1 + rest);
    no_leaks();
}

#[test]
fn parent_deadline_stops_a_slow_pipeline() {
    let ctx = Context::new().with_timeout(ms(50));
    let err = Pipeline::from_iter(&ctx, 0..u64::MAX)
        .map(2, |x| {
            thread::sleep(Duration::from_micros(200));
            x
        })
        .for_each(|_| {})
        .unwrap_err();
    assert!(matches!(err.kind(), pipeline::ErrorKind::Cancelled(c) if c.is_deadline_exceeded()));
    no_leaks();
}

#[test]
fn stop_intake_wakes_a_source_waiting_on_an_empty_receiver() {
    let ctx = Context::new();
    let stop = Context::new();
    let (tx, rx) = unbounded::<u32>();
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    let mut iter = Pipeline::from_receiver(&ctx, rx)
        .map(2, |x| x)
        .stop_intake_on(&stop)
        .into_iter();
    let mut got: Vec<u32> = iter.by_ref().take(10).collect();
    // The source now waits on an empty channel whose sender is still alive.
    stop.cancel();
    got.extend(iter.by_ref());
    let outcome = iter.finish().unwrap();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert!(outcome.report().intake_stopped());
    drop(tx);
    no_leaks();
}

#[test]
fn fail_fast_returns_the_first_error_with_the_stage_name() {
    let ctx = Context::new();
    let err = Pipeline::from_iter(&ctx, 0..100_000u32)
        .try_map(2, |x| {
            if x == 777 {
                Err(format!("bad {x}"))
            } else {
                Ok(x)
            }
        })
        .named("check")
        .map(1, |x| x)
        .for_each(|_| {})
        .unwrap_err();
    assert_eq!(err.stage(), Some("check"));
    assert_eq!(err.to_string(), "stage 'check' failed: bad 777");
    assert_eq!(err.report().stage("check").unwrap().errors, 1);
    assert_eq!(err.into_error().as_deref(), Some("bad 777"));
    no_leaks();
}

#[test]
fn skip_counts_errors_and_goes_on() {
    let ctx = Context::new();
    let (out, outcome) = Pipeline::from_iter(&ctx, 0..10_000u32)
        .try_map(3, |x| if x % 10 == 0 { Err(x) } else { Ok(x) })
        .on_error(ErrorPolicy::Skip)
        .collect()
        .unwrap();
    assert_eq!(out.len(), 9_000);
    assert!(outcome.errors().is_empty());
    assert_eq!(outcome.report().stage("try_map-1").unwrap().errors, 1_000);
    assert_books_balance(outcome.report(), 9_000);
    no_leaks();
}

#[test]
fn collect_returns_errors_beside_the_output() {
    let ctx = Context::new();
    let (out, outcome) = Pipeline::from_iter(&ctx, 0..1_000u32)
        .try_map(2, |x| if x % 100 == 0 { Err(x) } else { Ok(x) })
        .named("first")
        .on_error(ErrorPolicy::Collect)
        .try_map(2, |x| {
            if x % 100 == 1 {
                Err(x + 100_000)
            } else {
                Ok(x)
            }
        })
        .named("second")
        .on_error(ErrorPolicy::Collect)
        .collect()
        .unwrap();
    assert_eq!(out.len(), 980);
    let mut first: Vec<u32> = outcome
        .errors()
        .iter()
        .filter(|e| e.stage == "first")
        .map(|e| e.error)
        .collect();
    first.sort_unstable();
    assert_eq!(first, (0..10).map(|i| i * 100).collect::<Vec<_>>());
    assert_eq!(
        outcome
            .errors()
            .iter()
            .filter(|e| e.stage == "second")
            .count(),
        10
    );
    no_leaks();
}

#[test]
fn bottleneck_names_the_slow_stage() {
    let ctx = Context::new();
    // More items than the links before the slow stage hold: the source must block.
    let (_, outcome) = Pipeline::from_iter(&ctx, 0..20_000u64)
        .map(1, |x| x + 1)
        .map(1, |x| {
            if x % 100 == 0 {
                thread::sleep(ms(1));
            }
            x
        })
        .named("slow")
        .collect()
        .unwrap();
    let report = outcome.report();
    assert_eq!(report.bottleneck().unwrap().name, "slow", "{report}");
    assert!(
        report.stage("source").unwrap().blocked_send > Duration::ZERO,
        "{report}"
    );
    assert!(
        report.stage("sink").unwrap().blocked_recv > Duration::ZERO,
        "{report}"
    );
    no_leaks();
}

/// A fused stage's time is all of its calls, not an estimate from some of them: here every
/// cost of `rare` sits in 20 of its calls, which a sample of one call in sixteen missed often
/// enough to name the trivial stage the bottleneck.
#[test]
fn a_fused_stage_whose_cost_sits_in_rare_items_is_charged_all_of_it() {
    let (_, outcome) = Pipeline::from_iter(&Context::new(), 0..20_000u64)
        .map(1, |x| x + 1)
        .named("trivial")
        .map(1, |x| {
            if x % 1_000 == 0 {
                thread::sleep(ms(2));
            }
            x
        })
        .named("rare")
        .collect()
        .unwrap();
    let report = outcome.report();
    let rare = report.stage("rare").unwrap();
    assert_eq!(rare.fused_into.as_deref(), Some("trivial"), "{report}");
    assert!(rare.busy >= ms(40), "20 sleeps of 2 ms: {report}");
    assert!(
        report.stage("trivial").unwrap().busy < rare.busy,
        "{report}"
    );
    assert_eq!(report.bottleneck().unwrap().name, "rare", "{report}");
    no_leaks();
}

/// The alternate form of the report is what the demo prints: every column explained in one
/// line, the utilisation column, and the bottleneck named with the reasoning behind it.
#[test]
fn the_readable_report_explains_each_column_and_names_the_bottleneck() {
    let (_, outcome) = Pipeline::from_iter(&Context::new(), 0..2_000u64)
        .map(1, |x| {
            if x % 20 == 0 {
                thread::sleep(ms(1));
            }
            x
        })
        .named("slow")
        .filter(2, |x| x % 3 != 0)
        .named("keep")
        .collect()
        .unwrap();
    let report = outcome.report();
    let text = format!("{report:#}");
    let lines: Vec<&str> = text.lines().collect();
    let header = lines[0];
    for column in [
        "w", "in", "out", "filtered", "errors", "dropped", "busy/w", "util",
    ] {
        assert!(header.split_whitespace().any(|c| c == column), "{text}");
    }
    for column in [
        "w ",
        "in, out ",
        "filtered ",
        "errors ",
        "dropped ",
        "busy/w ",
        "util ",
        "send/w ",
        "recv/w ",
        "fused ",
    ] {
        let explained = lines.iter().filter(|l| l.starts_with(column)).count();
        assert_eq!(explained, 1, "column {column:?} explained once:\n{text}");
    }
    let slow = lines.iter().find(|l| l.starts_with("slow ")).unwrap();
    assert!(slow.contains('%'), "utilisation shown: {slow}");
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("bottleneck: slow - slow's workers were busy")
            || last.starts_with("no bottleneck: the busiest, slow's workers"),
        "{text}"
    );
    assert!(last.contains("% of the run"), "{text}");
    no_leaks();
}

#[test]
fn for_each_panic_joins_every_stage_before_unwinding() {
    let ctx = Context::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Pipeline::from_iter(&ctx, 0..u64::MAX)
            .map(2, |x| x)
            .for_each(|x| assert!(x < 100, "consumer gave up"))
    }));
    assert!(caught.is_err());
    no_leaks();
}

#[cfg(feature = "progress")]
#[test]
fn progress_bar_thread_is_joined() {
    let ctx = Context::new();
    let (out, _) = Pipeline::from_iter(&ctx, 0..50_000u64)
        .map(2, |x| x + 1)
        .progress(None)
        .collect()
        .unwrap();
    assert_eq!(out.len(), 50_000);
    no_leaks();
}

#[test]
fn derives_send_sync() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Pipeline<String>>();
    send::<Pipeline<String, homebound::pipeline::marker::Fallible<std::io::Error>>>();
    send::<homebound::pipeline::Iter<String, std::io::Error>>();
    send_sync::<pipeline::Report>();
    send_sync::<homebound::pipeline::Error<std::io::Error>>();
    send_sync::<homebound::pipeline::Outcome<std::io::Error>>();
    no_leaks();
}

/// Many short runs that stop at a pseudo-random point, in every mode: the books must balance
/// and every thread must be gone each time.
#[test]
fn stress_stop_at_random_points() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let ordered = round % 2 == 0;
        let (w1, w2) = (1 + (next() % 3) as usize, 1 + (next() % 3) as usize);
        let stop_after = next() % 20_000;
        let by_cancel = next() % 2 == 0;
        let ctx = Context::new();
        let mut p = Pipeline::from_iter(&ctx, 0..u64::MAX)
            .map(w1, |x| x)
            .filter(w2, |x| x % 5 != 0)
            .try_map(w1, |x| if x % 7 == 0 { Err(x) } else { Ok(x) })
            .on_error(ErrorPolicy::Skip);
        if ordered {
            p = p.ordered();
        }
        let mut iter = p.into_iter();
        let mut consumed = 0u64;
        for _ in iter.by_ref() {
            consumed += 1;
            if consumed > stop_after {
                if by_cancel {
                    ctx.cancel();
                } else {
                    break;
                }
            }
        }
        let report = match iter.finish() {
            Ok(outcome) => outcome.into_report(),
            Err(err) => {
                assert!(err.is_cancelled(), "round {round}: {err:?}");
                err.report().clone()
            }
        };
        assert_books_balance(&report, consumed);
        assert!(consumed > stop_after.min(1), "round {round}");
        no_leaks();
    }
}
