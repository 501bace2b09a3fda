//! Fusion and the books: stages fused into one loop keep their own counts; in every mode
//! (unordered or ordered, fused or not, iterator or line sources, stopped by the consumer or by
//! a cancel) every item is accounted for (`in = out + filtered + errors + dropped`, what a stage
//! passes on is what the next receives) and every item is dropped exactly once; the `buffer`
//! knob bounds what waits; `unfused` opts out; the `_ctx` stage functions stop a long item.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use homebound::pipeline::marker::Fallible;
use homebound::pipeline::{ErrorPolicy, Pipeline, Report};
use homebound::{Context, threads};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
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

/// The books of a pipeline whose stages `from..` (up to the sink) each make at most one output
/// per input: each balances, and each receives what the one before it passed on.
#[track_caller]
fn assert_books(report: &Report, from: usize) {
    let stages = report.stages();
    for (i, s) in stages.iter().enumerate().skip(from) {
        assert_eq!(
            s.items_in,
            s.items_out + s.filtered + s.errors + s.dropped,
            "stage {} does not balance:\n{report}",
            s.name
        );
        if i > from {
            assert_eq!(
                s.items_in,
                stages[i - 1].items_out,
                "stage {} did not receive what {} passed on:\n{report}",
                s.name,
                stages[i - 1].name
            );
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    /// The consumer takes a few thousand items and finishes.
    Consumer,
    /// The run's context is cancelled after a few thousand items.
    Cancel,
}

/// map(2) → filter(2) → try_map(2, skip) → map(1): the first three fuse unless `fused` is
/// false.
fn stages(p: Pipeline<Tracked>, fused: bool) -> Pipeline<Tracked, Fallible<Tracked>> {
    let split = |p: Pipeline<Tracked>| if fused { p } else { p.unfused() };
    let p = split(p.map(2, |t: Tracked| t).named("double"));
    let p = split(p.filter(2, |t| t.value % 3 != 0).named("thirds"));
    let p = p
        .try_map(2, |t: Tracked| {
            if t.value.is_multiple_of(7) {
                Err(t)
            } else {
                Ok(t)
            }
        })
        .named("sevens")
        .on_error(ErrorPolicy::Skip);
    let p = if fused { p } else { p.unfused() };
    p.map(1, |t| t).named("last")
}

fn run(p: Pipeline<Tracked, Fallible<Tracked>>, ctx: &Context, stop: Stop) -> (Report, u64) {
    let mut iter = p.into_iter();
    let mut consumed = 0u64;
    for t in iter.by_ref() {
        consumed += 1;
        drop(t);
        if consumed == 3_000 {
            match stop {
                Stop::Consumer => break,
                Stop::Cancel => {
                    ctx.cancel();
                }
            }
        }
    }
    let report = match iter.finish() {
        Ok(outcome) => outcome.into_report(),
        Err(e) => {
            assert!(e.is_cancelled(), "{e:?}");
            e.report().clone()
        }
    };
    (report, consumed)
}

#[test]
fn conservation_in_every_mode() {
    for ordered in [false, true] {
        for fused in [true, false] {
            for stop in [Stop::Consumer, Stop::Cancel] {
                let drops = Arc::new(AtomicUsize::new(0));
                let ctx = Context::new();
                let items = {
                    let drops = Arc::clone(&drops);
                    (0..u64::MAX).map(move |value| Tracked {
                        value,
                        drops: Arc::clone(&drops),
                    })
                };
                let run_ctx = ctx.child();
                let mut p = stages(Pipeline::from_iter(&run_ctx, items), fused);
                if ordered {
                    p = p.ordered();
                }
                let (report, consumed) = run(p, &run_ctx, stop);
                let what = format!("ordered={ordered} fused={fused} stop={stop:?}");
                assert_books(&report, 1);
                let source = &report.stages()[0];
                assert_eq!(
                    source.items_in,
                    source.items_out + source.dropped,
                    "{what}\n{report}"
                );
                assert!(consumed >= 3_000, "{what}");
                assert_eq!(report.items_delivered(), consumed, "{what}\n{report}");
                // Every item made was dropped exactly once: by the consumer, a filter, an
                // error, or the stop.
                assert_eq!(
                    drops.load(Ordering::SeqCst) as u64,
                    source.items_in,
                    "{what}\n{report}"
                );
                let double = report.stage("double").unwrap();
                let sevens = report.stage("sevens").unwrap();
                if fused {
                    assert_eq!(double.fused_into, None, "{what}");
                    assert_eq!(
                        sevens.fused_into.as_deref(),
                        Some("double"),
                        "{what}\n{report}"
                    );
                } else {
                    assert_eq!(sevens.fused_into, None, "{what}\n{report}");
                }
                no_leaks();
            }
        }
    }
}

#[test]
fn conservation_with_the_line_sources() {
    let text: Vec<u8> = (0..200_000u64)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    for reader in [false, true] {
        for ordered in [false, true] {
            let drops = Arc::new(AtomicUsize::new(0));
            let made = Arc::new(AtomicUsize::new(0));
            let ctx = Context::new();
            let lines = if reader {
                Pipeline::from_reader(&ctx, std::io::Cursor::new(text.clone())).split_size(4_096)
            } else {
                Pipeline::from_read_at(&ctx, text.clone()).split_size(4_096)
            };
            let tracked = {
                let (drops, made) = (Arc::clone(&drops), Arc::clone(&made));
                move |line: std::io::Result<&str>| {
                    made.fetch_add(1, Ordering::SeqCst);
                    Tracked {
                        value: line.unwrap().parse().unwrap(),
                        drops: Arc::clone(&drops),
                    }
                }
            };
            let mut p = lines
                .named("read")
                .map(2, tracked)
                .named("parse")
                .filter(2, |t| t.value.is_multiple_of(2))
                .named("evens")
                .map(1, |t| t)
                .named("last");
            if ordered {
                p = p.ordered();
            }
            let mut iter = p.into_iter();
            let taken = iter.by_ref().take(5_000).count() as u64;
            let report = iter.finish().unwrap().into_report();
            let what = format!("reader={reader} ordered={ordered}");
            assert_books(&report, 1);
            assert_eq!(report.items_delivered(), taken, "{what}");
            // Lines are counted as read when the first stage parses them.
            assert_eq!(
                report.stage("read").unwrap().items_out,
                report.stage("parse").unwrap().items_in,
                "{what}\n{report}"
            );
            assert_eq!(
                drops.load(Ordering::SeqCst),
                made.load(Ordering::SeqCst),
                "{what}\n{report}"
            );
            if ordered {
                // In order: the consumer got the first 5000 even numbers.
                assert_eq!(
                    report.stage("evens").unwrap().fused_into.as_deref(),
                    Some("parse")
                );
            }
            no_leaks();
        }
    }
}

#[test]
fn fused_stages_count_on_their_own_and_panics_name_the_stage() {
    let ctx = Context::new();
    let (out, outcome) = Pipeline::from_iter(&ctx, 0..10_000u64)
        .map(2, |x| x + 1)
        .named("inc")
        .filter(2, |x| x % 2 == 0)
        .named("evens")
        .flat_map(2, |x| [x, x])
        .named("twice")
        .map(1, |x| x)
        .named("single")
        .collect()
        .unwrap();
    assert_eq!(out.len(), 10_000);
    let report = outcome.report();
    let get = |name| report.stage(name).unwrap();
    assert_eq!(
        (get("inc").items_in, get("inc").items_out),
        (10_000, 10_000)
    );
    assert_eq!(
        (get("evens").items_in, get("evens").filtered),
        (10_000, 5_000)
    );
    assert_eq!(
        (get("twice").items_in, get("twice").items_out),
        (5_000, 10_000)
    );
    assert_eq!(get("evens").fused_into.as_deref(), Some("inc"), "{report}");
    assert_eq!(get("twice").fused_into.as_deref(), Some("inc"), "{report}");
    assert_eq!(get("single").fused_into, None, "{report}");

    let err = Pipeline::from_iter(&ctx, 0..100_000u64)
        .map(2, |x| x)
        .named("first")
        .map(2, |x| {
            assert!(x != 5_000, "cannot handle {x}");
            x
        })
        .named("fragile")
        .for_each(|_| {})
        .unwrap_err();
    assert_eq!(err.stage(), Some("fragile"));
    no_leaks();
}

/// A step that keeps its thread busy for about `d` (busy, not asleep: the report's busy time is
/// the same either way, but a spin cannot oversleep on a loaded machine).
fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[test]
fn the_bottleneck_of_a_fused_group_is_explained_as_the_whole_group() {
    let ctx = Context::new();
    // The slow stage leads its group, with a light one fused after it...
    let (_, outcome) = Pipeline::from_iter(&ctx, 0..2_000u64)
        .map(1, |x| {
            spin(Duration::from_micros(50));
            x
        })
        .named("heavy")
        .map(1, |x| x + 1)
        .named("light")
        .collect()
        .unwrap();
    let report = outcome.report();
    assert_eq!(
        report.stage("light").unwrap().fused_into.as_deref(),
        Some("heavy")
    );
    assert_eq!(report.bottleneck().unwrap().name, "heavy", "{report}");
    let text = format!("{report:#}");
    // ... so the share is the group's, and the explanation says which stages it adds up
    // (whether or not the group was busy enough to be called the bottleneck).
    assert!(
        text.contains("the workers of heavy (running light fused with it)"),
        "{text}"
    );
    // The slow stage follows a light one: the group is named after its first stage.
    let (_, outcome) = Pipeline::from_iter(&ctx, 0..2_000u64)
        .map(1, |x| x + 1)
        .named("light")
        .map(1, |x| {
            spin(Duration::from_micros(50));
            x
        })
        .named("heavy")
        .collect()
        .unwrap();
    let report = outcome.report();
    assert_eq!(report.bottleneck().unwrap().name, "heavy", "{report}");
    let text = format!("{report:#}");
    assert!(
        text.contains("the workers of light (running heavy fused with it)"),
        "{text}"
    );
    for s in report.stages() {
        let util = report.utilisation(s);
        assert!((0.0..=1.05).contains(&util), "{}: {util}\n{report}", s.name);
    }
    no_leaks();
}

#[test]
fn unfused_stages_run_on_their_own_threads() {
    let ctx = Context::new();
    let (names, outcome) = Pipeline::from_iter(&ctx, 0..100u32)
        .map(1, |x| x)
        .named("a")
        .map(1, |_| thread::current().name().unwrap_or("").to_string())
        .named("b")
        .unfused()
        .collect()
        .unwrap();
    assert!(
        names.iter().all(|n| n.starts_with("homebound-b-")),
        "{names:?}"
    );
    assert_eq!(outcome.report().stage("b").unwrap().fused_into, None);
    no_leaks();
}

#[test]
fn buffer_bounds_what_waits_between_two_stages() {
    for buffer in [0usize, 1, 10, 100] {
        let ctx = Context::new();
        let read = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let items = {
            let read = Arc::clone(&read);
            (0..u64::MAX).inspect(move |_| {
                read.fetch_add(1, Ordering::SeqCst);
            })
        };
        let ahead = Arc::new(AtomicUsize::new(0));
        let mut out = Pipeline::from_iter(&ctx, items)
            .buffer(buffer)
            .map(1, {
                let (read, done, ahead) =
                    (Arc::clone(&read), Arc::clone(&done), Arc::clone(&ahead));
                move |x| {
                    thread::sleep(ms(1));
                    let d = done.fetch_add(1, Ordering::SeqCst) + 1;
                    // Read by the source but not yet done here: waiting in the link, in the
                    // source's open chunk, or in this worker's hands.
                    let waiting = read.load(Ordering::SeqCst).saturating_sub(d);
                    ahead.fetch_max(waiting, Ordering::SeqCst);
                    x
                }
            })
            .into_iter();
        let started = Instant::now();
        while started.elapsed() < ms(200) {
            out.next().unwrap();
        }
        drop(out);
        // The link holds `buffer` items; the source's open chunk and the worker's chunk one
        // item each at this speed (chunks hold about 250 µs of a 1 ms stage's work).
        let ahead = ahead.load(Ordering::SeqCst);
        assert!(ahead <= buffer + 3, "buffer({buffer}): {ahead} items ahead");
        no_leaks();
    }
}

#[test]
fn ctx_stage_functions_stop_a_long_item_early() {
    let ctx = Context::new().with_timeout(ms(100));
    let started = Instant::now();
    let err = Pipeline::from_iter(&ctx, 0..100u32)
        .map_ctx(2, |ctx, x| {
            let _ = ctx.sleep(Duration::from_secs(30));
            x
        })
        .try_map_ctx(2, |ctx, x| {
            ctx.check()?;
            Ok::<_, homebound::Cancelled>(x)
        })
        .for_each_ctx(|ctx, _| {
            let _ = ctx.sleep(Duration::from_secs(30));
        })
        .unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    no_leaks();
}
