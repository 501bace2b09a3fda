//! Pool: allocations per task, counted by a counting global allocator (this test binary only).
//! Target: at most one allocation per task besides the closure's own box. homebound puts the
//! closure *in* the task's single allocation, so the budget is 2 per task; it uses 1.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use homebound::{WaitGroup, pool::Pool, threads};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TASKS: u64 = 20_000;

/// Allocations per task for `run` over `TASKS` tasks, after a warm-up round. Completion is
/// awaited with a `WaitGroup` whose guards ride in the tasks (a guard allocates nothing).
fn per_task(pool: &Pool, run: impl Fn(&Pool, &WaitGroup)) -> f64 {
    let wg = WaitGroup::new();
    run(pool, &wg); // warm-up: the workers' contexts, channel slots, thread-locals
    wg.wait();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    run(pool, &wg);
    wg.wait();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    (after - before) as f64 / TASKS as f64
}

#[test]
fn one_allocation_per_task() {
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(TASKS as usize)
        .build()
        .unwrap();
    let execute = per_task(&pool, |pool, wg| {
        for i in 0..TASKS {
            let guard = wg.enter();
            pool.execute(move |_| {
                std::hint::black_box(i);
                drop(guard);
            })
            .unwrap();
        }
    });
    let submit = per_task(&pool, |pool, wg| {
        for i in 0..TASKS {
            let guard = wg.enter();
            let _detached = pool
                .submit(move |_| {
                    drop(guard);
                    i
                })
                .unwrap();
        }
    });
    println!("allocations per task: execute {execute:.3}, submit {submit:.3}");
    assert!(execute <= 1.01, "execute: {execute} allocations per task");
    assert!(submit <= 1.01, "submit: {submit} allocations per task");
    drop(pool);
    threads::assert_none_alive(Duration::from_secs(10));
}
