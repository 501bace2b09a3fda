//! Virtual time against a reference model (issue 18): random trees of context deadlines and
//! cancels end at exactly the instants, and with exactly the causes, the model predicts.
#![cfg(feature = "testing")]

use std::time::Duration;

use homebound::testing::virtual_time;
use homebound::{Cause, Context, threads};
use proptest::prelude::*;

/// One context: its parent (an index into the earlier ones, or the root), its own timeout and
/// the instant the test cancels it, if ever. Timeouts are even and cancels odd (in seconds),
/// so a deadline and a cancel never tie.
#[derive(Clone, Debug)]
struct Timer {
    parent: Option<usize>,
    timeout: u64,
    cancel_at: Option<u64>,
}

fn timers() -> impl Strategy<Value = Vec<Timer>> {
    prop::collection::vec(
        (any::<usize>(), 1u64..40, prop::option::of(0u64..40)),
        1..10,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (parent, timeout, cancel))| Timer {
                parent: (parent % (i + 1)).checked_sub(1),
                timeout: 2 * timeout,
                cancel_at: cancel.map(|c| 2 * c + 1),
            })
            .collect()
    })
}

/// When each context ends and whether by a deadline: the earliest of its own timeout, its
/// cancel and its parent's end.
fn model(timers: &[Timer]) -> Vec<(u64, bool)> {
    let mut ends: Vec<u64> = Vec::new();
    for t in timers {
        let mut end = t.timeout;
        if let Some(c) = t.cancel_at {
            end = end.min(c);
        }
        if let Some(p) = t.parent {
            end = end.min(ends[p]);
        }
        ends.push(end);
    }
    ends.into_iter().map(|end| (end, end % 2 == 0)).collect()
}

fn observe(timers: &[Timer]) -> Vec<(u64, bool)> {
    virtual_time(|clock| {
        let root = Context::new();
        let mut ctxs: Vec<Context> = Vec::new();
        for t in timers {
            let parent = t.parent.map_or(&root, |p| &ctxs[p]);
            let ctx = parent.with_timeout(Duration::from_secs(t.timeout));
            ctxs.push(ctx);
        }
        let mut instants: Vec<u64> = timers
            .iter()
            .flat_map(|t| [Some(t.timeout), t.cancel_at])
            .flatten()
            .collect();
        instants.sort_unstable();
        instants.dedup();
        let mut seen: Vec<Option<(u64, bool)>> = vec![None; timers.len()];
        for at in instants {
            let now = clock.elapsed();
            clock.advance(Duration::from_secs(at) - now);
            assert_eq!(clock.elapsed(), Duration::from_secs(at));
            for (t, ctx) in timers.iter().zip(&ctxs) {
                if t.cancel_at == Some(at) {
                    ctx.cancel();
                }
            }
            for (slot, ctx) in seen.iter_mut().zip(&ctxs) {
                if slot.is_none() && ctx.is_cancelled() {
                    let by_deadline = match ctx.cause() {
                        Some(Cause::DeadlineExceeded) => true,
                        Some(Cause::Cancelled) => false,
                        other => panic!("unexpected cause {other:?}"),
                    };
                    *slot = Some((at, by_deadline));
                }
            }
        }
        seen.into_iter()
            .map(|s| s.expect("every context ended"))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn deadlines_and_cancels_match_the_model(timers in timers()) {
        prop_assert_eq!(observe(&timers), model(&timers));
        threads::assert_none_alive(Duration::from_secs(10));
    }
}
