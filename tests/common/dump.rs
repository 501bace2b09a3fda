//! Waiting for the thread dump to show a state.

use std::time::Instant;

use homebound::threads::{self, ThreadDump};

use super::BOUND;

/// Takes dumps until one shows a thread of `owner` for which `pred` holds; panics with the last
/// dump after [`BOUND`]. (A latch says the thread is about to enter its wait or its task; its
/// state is stored a few instructions later, so the dump is retried, with a deadline.)
pub fn wait_for(owner: &str, pred: impl Fn(&ThreadDump) -> bool) -> ThreadDump {
    let deadline = Instant::now() + BOUND;
    loop {
        let dump = threads::dump();
        if let Some(t) = dump
            .threads()
            .iter()
            .find(|t| t.owner() == owner && pred(t))
        {
            return t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no match for {owner} in:\n{dump}"
        );
        std::thread::yield_now();
    }
}
