//! Memory returns to its baseline after 10^6 contexts are created and dropped (issue 12): live
//! allocations are counted by a counting global allocator (this test binary only, one test, so
//! nothing else allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use homebound::{Context, threads};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONTEXTS: usize = 1_000_000;

/// Creates and drops `n` contexts of every kind under one long-lived root: plain children, a
/// grandchild with a deadline, children whose `done()` was used, cancelled ones, and some with
/// an `after_cancel` callback that is stopped or run.
fn churn(root: &Context, n: usize) {
    let far = Duration::from_secs(3600);
    for i in 0..n {
        match i % 10 {
            0 => drop(root.child().with_timeout(far)),
            1 => {
                let ctx = root.child();
                let _ = ctx.done().try_recv();
            }
            2 => {
                let ctx = root.child();
                ctx.cancel_with("churn");
            }
            3 if i % 1000 == 3 => {
                let ctx = root.child();
                ctx.after_cancel(|| {}).detach();
                ctx.cancel();
            }
            4 => {
                let ctx = root.child();
                let cb = ctx.after_cancel(|| {});
                assert!(cb.stop());
            }
            _ => drop(root.child()),
        }
    }
    // Callbacks run on the runner: wait for them before counting.
    threads::assert_none_alive(Duration::from_secs(30));
}

#[test]
fn a_million_contexts_return_memory_to_the_baseline() {
    let root = Context::new();
    churn(&root, 10_000); // warm-up: the timer and runner threads, their queues, thread-locals
    let (live, bytes) = (
        LIVE.load(Ordering::SeqCst),
        LIVE_BYTES.load(Ordering::SeqCst),
    );
    churn(&root, CONTEXTS);
    let (live_after, bytes_after) = (
        LIVE.load(Ordering::SeqCst),
        LIVE_BYTES.load(Ordering::SeqCst),
    );
    // A leak of one allocation per context would be 10^6; the slack covers a runner thread
    // that starts or leaves meanwhile.
    assert!(
        live_after - live < 1_000,
        "{} more live allocations after {CONTEXTS} contexts",
        live_after - live
    );
    assert!(
        bytes_after - bytes < 1 << 20,
        "{} more live bytes after {CONTEXTS} contexts",
        bytes_after - bytes
    );
    eprintln!("live allocations: {live} -> {live_after}; live bytes: {bytes} -> {bytes_after}");
}
