//! A group on a pool under each of the scoped group's policies (issue 14 item 7): which
//! failure cancels the siblings, that every failure is reported where the policy keeps them,
//! that `wait` returns only after every task ended, and that the pool counts the group's
//! tasks. Latches, never sleeps; conservation after every scenario; the leak check at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::bounded;
use homebound::Context;
use homebound::group::{self, ErrorAsCause, FailFastCollect, RunAll, TaskFailed};
use homebound::pool::{Metrics, Pool};

mod common;
use common::{BOUND, conserved, leak_check};

/// Counts tasks that ended (their closure's captures dropped) and tasks that ran.
#[derive(Clone, Default)]
struct Ends {
    ran: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Ends {
    /// Wraps a task: counts it as run when it starts, as ended when its closure is gone.
    fn wrap<T, E>(
        &self,
        f: impl FnOnce(&Context) -> Result<T, E> + Send + 'static,
    ) -> impl FnOnce(&Context) -> Result<T, E> + Send + 'static {
        let ran = Arc::clone(&self.ran);
        let end = OnDrop(Arc::clone(&self.dropped));
        move |ctx| {
            let _end = end;
            ran.fetch_add(1, Ordering::SeqCst);
            f(ctx)
        }
    }

    fn ran(&self) -> usize {
        self.ran.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

fn wait_for(pool: &Pool, what: &str, ok: impl Fn(&Metrics) -> bool) {
    let deadline = Instant::now() + BOUND;
    while !ok(&pool.metrics()) {
        assert!(Instant::now() < deadline, "never saw {what}");
        std::thread::yield_now();
    }
}

#[test]
fn fail_fast_collect_cancels_the_siblings_and_reports_every_failure() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let ends = Ends::default();
    let mut g = pool.group().policy(FailFastCollect).start(&Context::new());
    let (started_tx, started) = bounded(1);
    g.spawn(ends.wrap(move |ctx| {
        started_tx.send(()).unwrap();
        Err::<(), _>(format!("gave up: {}", ctx.wait()))
    }))
    .unwrap();
    started.recv().unwrap();
    g.spawn(ends.wrap(|_| Err("disk full".to_string())))
        .unwrap();
    let failures = g.wait().unwrap_err();
    // `wait` returned after every task ended.
    assert_eq!((ends.ran(), ends.dropped()), (2, 2));
    assert_eq!(failures.len(), 2);
    let root = failures.cancelled_by().unwrap();
    assert_eq!(root.task().index(), 1);
    let errors: Vec<_> = failures
        .into_vec()
        .into_iter()
        .filter_map(group::Error::into_error)
        .collect();
    assert!(errors[0].starts_with("gave up: task #1"), "{errors:?}");
    assert_eq!(errors[1], "disk full");
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.accepted, m.completed), (2, 2));
    leak_check();
}

#[test]
fn fail_fast_stops_queued_siblings_which_never_start_and_free_their_slots() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let ends = Ends::default();
    let mut g = pool.group().start(&Context::new());
    let (release, gate) = bounded::<()>(0);
    g.spawn(ends.wrap(move |_| {
        let _ = gate.recv();
        Err::<u32, _>("first")
    }))
    .unwrap();
    g.spawn(ends.wrap(|_| Ok(1))).unwrap();
    g.spawn(ends.wrap(|_| Ok(2))).unwrap();
    assert!(pool.try_submit(|_| ()).unwrap_err().is_full());
    drop(release);
    let err = g.wait().unwrap_err();
    assert_eq!(err.into_error(), Some("first"));
    assert_eq!(ends.ran(), 1, "the queued siblings never started");
    let m = pool.shutdown().metrics().clone();
    assert_eq!(ends.dropped(), 3);
    assert!(m.is_conserved(), "{m}");
    assert_eq!((m.completed, m.cancelled_before_start), (1, 2));
    leak_check();
}

#[test]
fn run_all_cancels_nothing_and_reports_every_failure_panics_included() {
    let pool = Pool::builder().workers(3).build().unwrap();
    let ends = Ends::default();
    let mut g = pool.group().policy(RunAll).start(&Context::new());
    let (release, gate) = bounded::<()>(0);
    g.spawn(ends.wrap(|_| -> Result<u32, &str> { panic!("task 0 broke") }))
        .unwrap();
    g.spawn(ends.wrap(|_| Err("task 1 failed"))).unwrap();
    g.spawn(ends.wrap(move |ctx| {
        let _ = gate.recv();
        // Both failures are recorded by now, and neither cancelled the group.
        Ok(u32::from(!ctx.is_cancelled()))
    }))
    .unwrap();
    // A panic and a failure have ended (the pool counts a task once the group recorded it).
    wait_for(&pool, "both failures", |m| {
        m.panicked == 1 && m.completed == 1
    });
    assert!(!g.context().is_cancelled());
    drop(release);
    let failures = g.wait().unwrap_err();
    assert_eq!(ends.ran(), 3);
    assert_eq!(failures.len(), 2);
    assert!(failures.cancelled_by().is_none());
    let all = failures.into_vec();
    assert!(all[0].is_panicked());
    assert_eq!(all[1].task().index(), 1);
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.accepted, m.completed, m.panicked), (3, 2, 1));
    leak_check();
}

#[test]
fn run_accepted_runs_queued_and_late_tasks_with_the_cancelled_context() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let ends = Ends::default();
    let mut g = pool
        .group()
        .limit(2)
        .run_accepted(true)
        .start(&Context::new());
    let (release, gate) = bounded::<()>(0);
    let saw_cancel = Arc::new(AtomicUsize::new(0));
    let saw = |saw_cancel: &Arc<AtomicUsize>| {
        let saw_cancel = Arc::clone(saw_cancel);
        move |ctx: &Context| {
            if ctx.is_cancelled() {
                saw_cancel.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        }
    };
    g.spawn(ends.wrap(move |_| {
        let _ = gate.recv();
        Err::<(), _>("lease service down")
    }))
    .unwrap();
    g.spawn(ends.wrap(saw(&saw_cancel))).unwrap(); // queued behind the failing task
    drop(release);
    g.context().wait();
    // Spawned after the failure: still accepted (and `spawn` waited for a place).
    g.spawn(ends.wrap(saw(&saw_cancel))).unwrap();
    let err = g.wait().unwrap_err();
    assert_eq!(err.into_error(), Some("lease service down"));
    assert_eq!(ends.ran(), 3, "every accepted task ran");
    assert_eq!(
        saw_cancel.load(Ordering::SeqCst),
        2,
        "with the cancelled context"
    );
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!((m.completed, m.cancelled_before_start), (3, 0));
    leak_check();
}

#[derive(Clone, Debug, PartialEq)]
struct Refused(u16);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused on port {}", self.0)
    }
}

impl std::error::Error for Refused {}

#[test]
fn the_cause_rule_names_the_failure_on_the_groups_context() {
    let pool = Pool::builder().workers(2).build().unwrap();
    // The default: a TaskFailed naming the task.
    let mut g = pool.group().start(&Context::new());
    let seen = g.context().clone();
    g.spawn(|_| Err::<(), _>(Refused(80))).unwrap();
    let cause = seen.wait();
    let failed = cause
        .reason()
        .unwrap()
        .downcast_ref::<TaskFailed>()
        .unwrap();
    assert_eq!(failed.task().index(), 0);
    assert!(g.wait().is_err());
    // ErrorAsCause: the error itself.
    let mut g = pool.group().cause(ErrorAsCause).start(&Context::new());
    let seen = g.context().clone();
    g.spawn(|_| Err::<(), _>(Refused(8080))).unwrap();
    let cause = seen.wait();
    assert_eq!(
        cause.reason().unwrap().downcast_ref::<Refused>(),
        Some(&Refused(8080))
    );
    let err = g.wait().unwrap_err();
    assert!(matches!(
        err,
        group::Error::Failed {
            error: Refused(8080),
            ..
        }
    ));
    pool.shutdown();
    let m = conserved(&pool);
    assert_eq!(m.accepted, 2);
    leak_check();
}
