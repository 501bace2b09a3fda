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
    //! The decisions the protocol depends on (is it full? is it empty?) are made on two
    //! counters with crossbeam's orderings, never under a lock, so the model adds no ordering
    //! crossbeam does not have: a send claims a position with a `SeqCst` compare-and-swap on
    //! `pushed`, and finds the queue full after a `SeqCst` fence and a load of `popped`; a
    //! receive claims with a `SeqCst` compare-and-swap on `popped`. The items themselves pass
    //! through a mutex-guarded list (crossbeam: a slot's stamp), and a blocked receiver sleeps on
    //! a separate bell.

    use std::collections::VecDeque;
    use std::sync::Arc;

    use crate::shim::{AtomicUsize, Condvar, Mutex, Ordering, fence};

    pub(crate) enum TrySendError<T> {
        Full(T),
        #[allow(dead_code)]
        Disconnected(T),
    }

    #[derive(Debug)]
    pub(crate) enum TryRecvError {
        Empty,
    }

    struct Chan<T> {
        pushed: AtomicUsize,
        popped: AtomicUsize,
        items: Mutex<VecDeque<T>>,
        bell: Mutex<()>,
        rung: Condvar,
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
            pushed: AtomicUsize::new(0),
            popped: AtomicUsize::new(0),
            items: Mutex::new(VecDeque::new()),
            bell: Mutex::new(()),
            rung: Condvar::default(),
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
            let c = &self.0;
            let mut tail = c.pushed.load(Ordering::SeqCst);
            loop {
                if let Some(cap) = c.cap {
                    fence(Ordering::SeqCst);
                    let head = c.popped.load(Ordering::Relaxed);
                    if tail.wrapping_sub(head) >= cap {
                        return Err(TrySendError::Full(item));
                    }
                }
                match c
                    .pushed
                    .compare_exchange(tail, tail + 1, Ordering::SeqCst, Ordering::SeqCst)
                {
                    Ok(_) => break,
                    Err(now) => tail = now,
                }
            }
            c.items.lock().push_back(item);
            let _bell = c.bell.lock();
            c.rung.notify_all();
            Ok(())
        }
    }

    impl<T> Receiver<T> {
        pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
            let c = &self.0;
            let mut head = c.popped.load(Ordering::SeqCst);
            loop {
                if c.pushed.load(Ordering::SeqCst) == head {
                    return Err(TryRecvError::Empty);
                }
                match c
                    .popped
                    .compare_exchange(head, head + 1, Ordering::SeqCst, Ordering::SeqCst)
                {
                    Ok(_) => break,
                    Err(now) => head = now,
                }
            }
            // The sender that claimed a position is writing its item (crossbeam spins on the
            // slot's stamp the same way).
            loop {
                if let Some(item) = c.items.lock().pop_front() {
                    return Ok(item);
                }
                loom::thread::yield_now();
            }
        }

        /// Blocks until an item arrives (the model has no disconnection).
        pub(crate) fn recv(&self) -> Result<T, TryRecvError> {
            let c = &self.0;
            loop {
                let bell = c.bell.lock();
                if let Ok(item) = self.try_recv() {
                    return Ok(item);
                }
                drop(c.rung.wait_while(bell, None, |_| self.len() == 0));
            }
        }

        pub(crate) fn len(&self) -> usize {
            let c = &self.0;
            let tail = c.pushed.load(Ordering::SeqCst);
            let head = c.popped.load(Ordering::SeqCst);
            tail.wrapping_sub(head)
        }
    }
}
