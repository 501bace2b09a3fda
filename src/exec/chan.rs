//! The channel the executor's queue and room tokens travel on: crossbeam's, or under `--cfg
//! loom` a model with the same methods built on the crate's shim, so loom sees every
//! synchronisation the hand-off protocol relies on.
//!
//! The model mirrors what the protocol needs from crossbeam's array channel: a send and a
//! receive are each one atomic step on the queue (crossbeam: a `SeqCst` compare-and-swap on the
//! tail or head), a `Full` send has looked at the head after a `SeqCst` fence (crossbeam's
//! `start_send`), and `len` reads both ends.

#[cfg(not(loom))]
pub(crate) use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};

#[cfg(loom)]
pub(crate) use model::{Receiver, Sender, TrySendError, bounded, unbounded};

#[cfg(loom)]
mod model {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use crate::shim::{Condvar, Mutex};

    pub(crate) enum TrySendError<T> {
        Full(T),
        #[allow(dead_code)]
        Disconnected(T),
    }

    #[derive(Debug)]
    pub(crate) enum TryRecvError {
        Empty,
        #[allow(dead_code)]
        Disconnected,
    }

    struct Chan<T> {
        items: Mutex<VecDeque<T>>,
        ready: Condvar,
        cap: Option<usize>,
    }

    pub(crate) struct Sender<T>(Arc<Chan<T>>);
    pub(crate) struct Receiver<T>(Arc<Chan<T>>);

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Self {
            Sender(self.0.clone())
        }
    }

    impl<T> Clone for Receiver<T> {
        fn clone(&self) -> Self {
            Receiver(self.0.clone())
        }
    }

    fn make<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
        let chan = Arc::new(Chan {
            items: Mutex::new(VecDeque::new()),
            ready: Condvar::default(),
            cap,
        });
        (Sender(chan.clone()), Receiver(chan))
    }

    pub(crate) fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
        assert!(cap > 0, "the model has no zero-capacity channel");
        make(Some(cap))
    }

    pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        make(None)
    }

    impl<T> Sender<T> {
        pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
            let mut items = self.0.items.lock();
            if self.0.cap.is_some_and(|cap| items.len() >= cap) {
                return Err(TrySendError::Full(item));
            }
            items.push_back(item);
            drop(items);
            self.0.ready.notify_all();
            Ok(())
        }
    }

    impl<T> Receiver<T> {
        pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
            self.0.items.lock().pop_front().ok_or(TryRecvError::Empty)
        }

        /// Blocks until an item arrives (the model has no disconnection).
        pub(crate) fn recv(&self) -> Result<T, TryRecvError> {
            let mut items = self.0.items.lock();
            loop {
                if let Some(item) = items.pop_front() {
                    return Ok(item);
                }
                items = self.0.ready.wait_until(items, None);
            }
        }

        pub(crate) fn len(&self) -> usize {
            self.0.items.lock().len()
        }
    }
}
