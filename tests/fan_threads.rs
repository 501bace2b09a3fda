//! `merge` over thousands of inputs uses exactly one thread; `first_k_limited` over a thousand
//! tasks at most `limit`. Its own test binary, so no other test's threads of the same kind are
//! alive while it counts them.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, unbounded};
use homebound::{Context, fan, threads};

fn merge_threads() -> usize {
    threads::live()
        .iter()
        .filter(|t| t.owner() == "merge")
        .count()
}

#[test]
fn merge_of_five_thousand_inputs_uses_one_thread_and_loses_nothing() {
    const INPUTS: usize = 5000;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..INPUTS).map(|_| unbounded()).unzip();
    let merged = fan::merge(receivers).unwrap();
    for (i, tx) in senders.iter().enumerate() {
        tx.send(i).unwrap();
        tx.send(i + INPUTS).unwrap();
    }
    let mut seen = vec![0u8; 2 * INPUTS];
    for _ in 0..2 * INPUTS {
        let n = merged.recv_timeout(Duration::from_secs(10)).unwrap();
        seen[n] += 1;
    }
    assert!(seen.iter().all(|&c| c == 1), "lost or duplicated messages");
    // Every input is still connected, so the merge is still running: on one thread.
    assert_eq!(merge_threads(), 1);
    // Disconnect all but one: the output stays open until the last one goes.
    let last = senders.into_iter().fold(None, |_, tx| Some(tx));
    assert_eq!(
        merged.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    drop(last);
    assert_eq!(
        merged.recv_timeout(Duration::from_secs(10)),
        Err(RecvTimeoutError::Disconnected)
    );
    drop(merged);
    assert_eq!(merge_threads(), 0);
    threads::assert_none_alive(Duration::from_secs(10));
}

#[test]
fn first_k_limited_over_a_thousand_tasks_uses_at_most_limit_threads() {
    const LIMIT: usize = 4;
    let most = AtomicUsize::new(0);
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let most = &most;
            move |_: &Context| {
                let first_k_threads = threads::live()
                    .iter()
                    .filter(|t| t.owner() == "first-k")
                    .count();
                most.fetch_max(first_k_threads, SeqCst);
                Err::<(), _>(format!("task {i} failed"))
            }
        })
        .collect();
    let got = fan::first_k_limited(&Context::new(), tasks, 1, LIMIT);
    assert_eq!(got.failures.len(), 1000);
    let most = most.load(SeqCst);
    assert!(
        (1..=LIMIT).contains(&most),
        "{most} threads for a limit of {LIMIT}"
    );
    threads::assert_none_alive(Duration::from_secs(10));
}
