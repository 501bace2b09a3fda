//! The one place homebound's own locks and atomics come from.
//!
//! Normally these are parking_lot's non-poisoning locks (a panicking user closure can never poison
//! homebound's state) and std's atomics. Under `--cfg loom` they are loom's, so the latch and the
//! cancellation tree can be model-checked. The API is parking_lot-shaped (`lock()` returns the
//! guard) with a by-value `Condvar::wait` so both backends fit behind it.
//!
//! crossbeam-channel and the thread registry are outside the shim: loom cannot see them, so the
//! models exercise only the state machines built on these primitives.

#[cfg(not(loom))]
mod imp {
    pub(crate) use parking_lot::MutexGuard;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

    /// A non-poisoning mutex.
    #[derive(Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

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
        /// Waits until notified or `deadline` (on homebound's clock) passes; `None` waits
        /// without a limit. May return early: callers re-check their predicate.
        #[track_caller]
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Option<std::time::Instant>,
        ) -> MutexGuard<'a, T> {
            crate::clock::wait(deadline, |limit| match limit {
                Some(at) => (!self.0.wait_until(&mut guard, at).timed_out()).then_some(()),
                None => {
                    self.0.wait(&mut guard);
                    Some(())
                }
            });
            guard
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

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
        /// loom has no clock: a timed wait is modelled as a wait that may time out at any moment,
        /// which is what callers must already tolerate (they re-check their predicate).
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            deadline: Option<std::time::Instant>,
        ) -> MutexGuard<'a, T> {
            match deadline {
                Some(_) => {
                    self.0
                        .wait_timeout(guard, std::time::Duration::from_secs(0))
                        .unwrap()
                        .0
                }
                None => self.0.wait(guard).unwrap(),
            }
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

pub(crate) use imp::*;
