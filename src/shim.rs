//! The one place homebound's own locks and atomics come from.
//!
//! Normally these are parking_lot's non-poisoning locks (a panicking user closure can never poison
//! homebound's state) and std's atomics. Under `--cfg loom` they are loom's, so the latch and the
//! cancellation tree can be model-checked. The API is parking_lot-shaped (`lock()` returns the
//! guard) with a by-value `Condvar::wait` so both backends fit behind it.
//!
//! crossbeam-channel and the thread registry are outside the shim: loom cannot see them, so the
//! models exercise only the state machines built on these primitives. The registry takes its
//! lock and condition variable from [`real`] in every build, so its waits are on homebound's
//! clock (and visible to `virtual_time`) without being modelled.

/// parking_lot's lock and a condition variable that waits on homebound's clock: the shim's
/// types outside loom, and the thread registry's in every build.
pub(crate) mod real {
    pub(crate) use parking_lot::MutexGuard;

    /// A non-poisoning mutex.
    #[derive(Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    #[cfg_attr(loom, allow(dead_code))] // under loom only the thread registry uses these
    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut()
        }
    }

    /// A condition variable paired with [`Mutex`].
    #[derive(Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        /// Waits while `pending` holds of the guarded state, until `deadline` (on homebound's
        /// clock; `None`: without a limit). Callers check `pending` once more on return: it
        /// still holds only if the deadline passed.
        ///
        /// `pending` is asked before every real wait, not only after a wake-up: on a virtual
        /// clock the wait is a series of short real waits, and a notify that lands between two
        /// of them reaches nobody. The state it announced does not go away, so the next slice
        /// sees it.
        #[track_caller]
        pub(crate) fn wait_while<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Option<std::time::Instant>,
            mut pending: impl FnMut(&mut T) -> bool,
        ) -> MutexGuard<'a, T> {
            while pending(&mut guard) {
                let woke = crate::clock::wait(deadline, |limit| {
                    if !pending(&mut guard) {
                        return Some(());
                    }
                    match limit {
                        Some(at) => (!self.0.wait_until(&mut guard, at).timed_out()).then_some(()),
                        None => {
                            self.0.wait(&mut guard);
                            Some(())
                        }
                    }
                });
                if woke.is_none() {
                    break; // the deadline passed
                }
            }
            guard
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(not(loom))]
pub(crate) use real::*;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::MutexGuard;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

    #[derive(Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap()
        }
    }

    #[derive(Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        /// loom has no clock: a timed wait is modelled as one wait that may time out at any
        /// moment, which callers must already tolerate (they check `pending` on return).
        pub(crate) fn wait_while<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Option<std::time::Instant>,
            mut pending: impl FnMut(&mut T) -> bool,
        ) -> MutexGuard<'a, T> {
            while pending(&mut guard) {
                guard = match deadline {
                    Some(_) => {
                        return self
                            .0
                            .wait_timeout(guard, std::time::Duration::from_secs(0))
                            .unwrap()
                            .0;
                    }
                    None => self.0.wait(guard).unwrap(),
                };
            }
            guard
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(loom)]
pub(crate) use imp::*;

#[cfg(all(test, feature = "testing", not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::{Condvar, Mutex};

    /// On a virtual clock a wait is a series of short real waits, so a notify can land between
    /// two of them and reach nobody. The state it announced is there all the same: the next
    /// slice must look at it (this wait hung until the deadlock report before it did).
    #[test]
    fn a_virtual_wait_sees_a_condition_whose_wake_up_it_missed() {
        crate::testing::virtual_time(|_| {
            let shared = Arc::new((Mutex::new(false), Condvar::default()));
            let (holding, held) = crossbeam_channel::bounded(1);
            let setter = {
                let shared = shared.clone();
                crate::threads::spawn("setter", move || {
                    held.recv().unwrap();
                    // The waiter held the lock from its check until it began waiting, so this
                    // lock is taken while it waits. No notify: as if it came between slices.
                    *shared.0.lock() = true;
                })
                .unwrap()
            };
            let (set, cond) = &*shared;
            let guard = set.lock();
            holding.send(()).unwrap();
            let guard = cond.wait_while(guard, None, |set| !*set);
            assert!(*guard);
            drop(guard);
            setter.join().unwrap();
        });
        crate::threads::assert_none_alive(std::time::Duration::from_secs(5));
    }
}
