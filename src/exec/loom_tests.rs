//! Loom models of the executor core: the hand-off (free worker vs start a worker vs full) and
//! the room tokens that wake blocked submitters (reliability P1, P3). They drive the real
//! [`Queue`], [`Crew`](super::crew::Crew) and [`Room`](super::room::Room); under `--cfg loom`
//! the channels are the shim-based models of [`chan`](super::chan).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib loom_exec`.

use std::io;
use std::sync::Arc;

use loom::thread;

use super::crew::Count;
use super::queue::{Capacity, Parked, Queue, Refusal, Wait};
use crate::shim::Mutex;

/// A queue whose workers are not threads: a worker the hand-off asks to start is recorded with
/// its first task.
struct Model {
    queue: Queue<u32>,
    started: Mutex<Vec<u32>>,
}

impl Model {
    fn new(capacity: usize, min: usize, max: usize) -> Arc<Model> {
        Arc::new(Model {
            queue: Queue::new(1, Capacity::Bounded(capacity), min, max),
            started: Mutex::new(Vec::new()),
        })
    }

    fn offer(&self, job: u32, wait: Wait<'_>) -> Result<(), Refusal> {
        let mut start = |first: u32| -> Result<(), (io::Error, u32)> {
            self.started.lock().push(first);
            Ok(())
        };
        self.queue
            .offer(job, wait, &mut start)
            .map_err(|(_, why)| why)
    }

    fn try_offer(&self, job: u32) -> Result<(), Refusal> {
        self.offer(job, Wait::No)
    }

    /// A worker already counted idle (as `build` starts them) waits for one task.
    fn parked_worker(&self) -> u32 {
        match self.queue.parked(None) {
            Parked::Job(job) => job,
            Parked::Closed | Parked::Retired | Parked::Nudged => panic!("the model never closes"),
        }
    }
}

const UNTIL_ROOM: Wait<'static> = Wait::Until {
    deadline: None,
    ctx: None,
};

/// Rendezvous, one parked worker and room for one more: two concurrent non-blocking hand-offs
/// both succeed, one to the idle worker and one to a new worker, whatever the interleaving, and
/// a third finds the executor full.
#[test]
fn loom_exec_free_worker_then_start_then_full() {
    loom::model(|| {
        let m = Model::new(0, 1, 2);
        assert!(m.queue.crew.start_parked());
        let w = m.clone();
        let worker = thread::spawn(move || w.parked_worker());
        let s = m.clone();
        let submitter = thread::spawn(move || s.try_offer(1).is_ok());
        let mine = m.try_offer(2).is_ok();
        let theirs = submitter.join().unwrap();
        assert!(
            mine && theirs,
            "an idle worker or a free slot refused a task"
        );
        assert!(matches!(m.try_offer(3), Err(Refusal::Full)));
        let ran = worker.join().unwrap();
        let started = m.started.lock().clone();
        assert_eq!(started.len(), 1);
        let mut both = [ran, started[0]];
        both.sort_unstable();
        assert_eq!(both, [1, 2], "each task exactly once");
        // The parked worker took its task; the started one runs busy.
        assert_eq!(
            m.queue.crew.count(),
            Count {
                live: 2,
                idle: 0,
                claims: 0
            }
        );
    });
}

/// A busy worker's hot-path take may take a task that was handed to a parked worker: the parked
/// worker is then free again, and the next hand-off reaches it. Nothing is stranded.
#[test]
fn loom_exec_a_claimed_task_taken_by_a_busy_worker_frees_the_parked_one() {
    loom::model(|| {
        let m = Model::new(0, 2, 2);
        assert!(m.queue.crew.start_parked()); // the parked worker
        assert!(m.queue.crew.reserve()); // the busy one
        let w = m.clone();
        let parked = thread::spawn(move || w.parked_worker());
        let b = m.clone();
        let busy = thread::spawn(move || b.queue.take());
        assert!(m.try_offer(1).is_ok());
        let by_busy = busy.join().unwrap();
        if by_busy.is_some() {
            // The parked worker is idle again, not lost: a second task reaches it.
            assert!(m.try_offer(2).is_ok());
        }
        let by_parked = parked.join().unwrap();
        let expected = if by_busy.is_some() { 2 } else { 1 };
        assert_eq!(by_parked, expected);
        assert!(m.started.lock().is_empty());
    });
}

/// P3: a submitter blocked on a full queue is woken when a worker makes room (a room token),
/// and its task is queued: no lost wake-up between registering and the worker's take.
#[test]
fn loom_exec_a_blocked_submitter_is_woken_by_the_room_token() {
    loom::model(|| {
        let m = Model::new(1, 1, 1);
        assert!(m.queue.crew.reserve()); // the one worker, busy
        assert!(m.try_offer(1).is_ok()); // the queue is full
        let w = m.clone();
        let worker = thread::spawn(move || w.queue.take());
        assert!(m.offer(2, UNTIL_ROOM).is_ok());
        assert_eq!(worker.join().unwrap(), Some(1));
        assert_eq!(m.queue.take(), Some(2));
    });
}

/// P1/P3: two submitters block on a full queue of one; a worker takes two tasks. Both get in
/// (the first one through passes a token on), and every task is taken exactly once.
#[test]
fn loom_exec_two_blocked_submitters_both_get_in_and_nothing_is_lost() {
    loom::model(|| {
        let m = Model::new(1, 1, 1);
        assert!(m.queue.crew.reserve());
        assert!(m.try_offer(1).is_ok());
        let submitters: Vec<_> = [2, 3]
            .into_iter()
            .map(|job| {
                let s = m.clone();
                thread::spawn(move || s.offer(job, UNTIL_ROOM).is_ok())
            })
            .collect();
        let mut taken = Vec::new();
        while taken.len() < 3 {
            match m.queue.take() {
                Some(job) => taken.push(job),
                None => thread::yield_now(),
            }
        }
        for s in submitters {
            assert!(s.join().unwrap());
        }
        taken.sort_unstable();
        assert_eq!(taken, [1, 2, 3]);
    });
}

/// Rendezvous at the cap (tokio #8056): the only worker is busy, a submitter blocks, and the
/// worker goes idle. The worker's parking is the room: its token wakes the submitter, whose
/// task the worker then runs.
#[test]
fn loom_exec_a_submit_at_the_cap_meets_the_worker_going_idle() {
    loom::model(|| {
        let m = Model::new(0, 1, 1);
        assert!(m.queue.crew.reserve()); // the one worker, busy
        let w = m.clone();
        let worker = thread::spawn(move || match w.queue.park(None) {
            Parked::Job(job) => job,
            Parked::Closed | Parked::Retired | Parked::Nudged => panic!("the model never closes"),
        });
        assert!(m.offer(7, UNTIL_ROOM).is_ok());
        assert_eq!(worker.join().unwrap(), 7);
        assert!(m.started.lock().is_empty());
    });
}

/// A bounded queue of one, one parked worker and room for one more (the pool of
/// `a_fresh_pool_with_a_queue_grows_under_try_submit`): the first task is queued for the parked
/// worker, the second starts the second worker, and the third fits in the queue slot the parked
/// worker frees, whenever that worker runs: a claimed worker still holding the slot is about to
/// free it, so the hand-off waits for it rather than report Full.
#[test]
fn loom_exec_a_queued_task_for_a_claimed_worker_does_not_make_the_next_one_full() {
    // The race this guards against needs three preemptions (CI's default bound is two).
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let m = Model::new(1, 1, 2);
        assert!(m.queue.crew.start_parked());
        assert!(m.try_offer(1).is_ok()); // queued, the parked worker counted on
        let w = m.clone();
        let worker = thread::spawn(move || w.parked_worker());
        assert!(m.try_offer(2).is_ok()); // a new worker
        assert!(
            m.try_offer(3).is_ok(),
            "the queue slot of a claimed worker refused a task"
        );
        assert_eq!(worker.join().unwrap(), 1);
        assert_eq!(m.started.lock().clone(), [2]);
        assert!(matches!(m.try_offer(4), Err(Refusal::Full)));
    });
}

/// A released slot (issue 14 item 5): one queued task is cancelled (its state moves to
/// released, then its slot is given back) while a submitter finds the queue full and a worker
/// takes the cancelled task. Whatever the interleaving, the submitter's task is either refused
/// or ends up exactly once in the worker's hand (in the tombstone's place) or in the queue.
#[test]
fn loom_exec_released_slot_is_lent_or_reclaimed_once() {
    use crate::shim::{AtomicUsize, Ordering};
    const QUEUED: usize = 0;
    const RELEASED: usize = 2;
    loom::model(|| {
        let m = Model::new(1, 1, 1);
        m.try_offer(1).unwrap(); // the queue is full
        assert!(m.queue.crew.reserve()); // and its one worker busy
        let state = Arc::new(AtomicUsize::new(QUEUED));
        let releaser = m.queue.releaser();
        let st = state.clone();
        let canceller = thread::spawn(move || {
            if st
                .compare_exchange(QUEUED, RELEASED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                releaser.release();
            }
        });
        let s = m.clone();
        let submitter = thread::spawn(move || s.try_offer(2).is_ok());
        // The worker: takes task 1; if it was released, something takes its place.
        let taken = m.queue.take();
        let mut in_hand = Vec::new();
        if let Some(job) = taken {
            assert_eq!(job, 1);
            let released = state
                .compare_exchange(QUEUED, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err();
            if released {
                in_hand.extend(m.queue.reclaim());
            } else {
                in_hand.push(job);
            }
        }
        canceller.join().unwrap();
        let accepted = submitter.join().unwrap();
        let left = m.queue.drain();
        let started = m.started.lock().clone();
        let all = in_hand.iter().chain(&left).chain(&started);
        let twos = all.filter(|&&j| j == 2).count();
        assert_eq!(
            twos,
            usize::from(accepted),
            "{in_hand:?} {left:?} {started:?}"
        );
    });
}
