//! Memory returns to its baseline after 10^6 pool tasks: live allocations and live bytes are
//! counted by a global allocator (this test binary only), so a task, closure, handle or queue
//! slot that is never freed shows up as growth. Resident memory is printed for information
//! only: the system allocator may keep freed pages.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use homebound::{WaitGroup, pool::Pool, threads};

struct Counting;

static LIVE_ALLOCATIONS: AtomicI64 = AtomicI64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

fn size(layout: Layout) -> i64 {
    i64::try_from(layout.size()).unwrap_or(i64::MAX)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(size(layout), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(size(layout), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            i64::try_from(new_size).unwrap_or(i64::MAX) - size(layout),
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TASKS: usize = 1_000_000;

/// Live allocations and bytes right now.
fn live() -> (i64, i64) {
    (
        LIVE_ALLOCATIONS.load(Ordering::SeqCst),
        LIVE_BYTES.load(Ordering::SeqCst),
    )
}

/// Resident memory in KiB (Linux), for the log.
fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// `n` tasks, half through `execute`, half through `submit` with the handle joined; returns
/// once every task has run.
fn run_tasks(pool: &Pool, n: usize) {
    let wg = WaitGroup::new();
    let mut handles = Vec::with_capacity(1024);
    for i in 0..n {
        let guard = wg.enter();
        if i % 2 == 0 {
            pool.execute(move |_| drop(std::hint::black_box(guard)))
                .unwrap();
        } else {
            handles.push(
                pool.submit(move |_| {
                    drop(guard);
                    vec![i as u8; 16] // a result that allocates, freed by the joiner
                })
                .unwrap(),
            );
            if handles.len() == handles.capacity() {
                for handle in handles.drain(..) {
                    drop(handle.join().unwrap());
                }
            }
        }
    }
    for handle in handles {
        drop(handle.join().unwrap());
    }
    wg.wait();
}

#[test]
fn a_million_pool_tasks_return_live_allocations_to_the_baseline() {
    let pool = Pool::builder().workers(2).build().unwrap();
    // Warm-up: worker contexts, channel blocks, thread-locals, the registry.
    run_tasks(&pool, 10_000);
    let (allocs_before, bytes_before) = live();
    let rss_before = resident_kib();

    run_tasks(&pool, TASKS);
    let (allocs_after, bytes_after) = live();
    println!(
        "after {TASKS} tasks: live allocations {allocs_before} -> {allocs_after}, live bytes \
         {bytes_before} -> {bytes_after}, resident {rss_before:?} -> {:?} KiB",
        resident_kib()
    );
    // A queue block or a worker's cached context may move between rounds; a leak per task
    // would be at least 10^6.
    assert!(
        allocs_after - allocs_before <= 64,
        "live allocations grew by {}",
        allocs_after - allocs_before
    );
    assert!(
        bytes_after - bytes_before <= 64 * 1024,
        "live bytes grew by {}",
        bytes_after - bytes_before
    );

    assert!(pool.shutdown().is_complete());
    drop(pool);
    threads::assert_none_alive(Duration::from_secs(10));
}
