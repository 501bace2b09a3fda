//! The `tracing` seam (issue 17): the span current where work is handed over (a pool submit, a
//! group spawn, a pipeline start) travels with it and is entered around it on the thread that
//! runs it; lifecycle events carry structured fields.
//!
//! Without the `tracing` feature, [`Span`] is a zero-sized type and every function here is an
//! empty inline function: no field, no call, no cost remains.
//!
//! Events (target `homebound`), each emitted exactly once per occurrence:
//!
//! | event             | level | fields                                             |
//! |-------------------|-------|----------------------------------------------------|
//! | `task started`    | TRACE | `pool`, `task`, `queue_wait_us`                    |
//! | `task ended`      | DEBUG | `pool`, `task`, `run_us`                           |
//! | `task panicked`   | WARN  | `panic`                                            |
//! | `group task started` | TRACE | `task`                                          |
//! | `group task ended` | DEBUG | `task`, `run_us` (a panic is also a `task panicked`) |
//! | `pool resized`    | INFO  | `pool`, `workers`, `max_workers`                   |
//! | `pool shut down`  | INFO  | `pool`, `joined`, `stragglers`, `elapsed_ms`       |
//! | `stage ended`     | DEBUG | `stage`, `workers`, `items_in`, `items_out`, `busy_ms`, `errors`, `dropped` |
//! | `shutdown began`  | INFO  | `cause`                                            |
//! | `shutdown ended`  | INFO  | `cause`, `forced` (0: not forced), `took_ms`       |

#[cfg(feature = "tracing")]
mod on {
    use std::time::{Duration, Instant};

    use crate::pool::Straggler;

    /// The span current when work was handed over; boxed (one pointer in every task's info)
    /// and only when there is one.
    #[derive(Clone, Debug)]
    pub(crate) struct Span(Option<Box<tracing::Span>>);

    /// The span entered for as long as it lives.
    pub(crate) struct Entered(#[allow(dead_code)] Option<tracing::span::EnteredSpan>);

    impl Span {
        #[inline]
        pub(crate) fn current() -> Span {
            let span = tracing::Span::current();
            Span((!span.is_none()).then(|| Box::new(span)))
        }

        #[inline]
        pub(crate) fn entered(self) -> Entered {
            Entered(self.0.map(|span| span.entered()))
        }
    }

    fn us(d: Duration) -> u64 {
        d.as_micros().try_into().unwrap_or(u64::MAX)
    }

    /// A pool task's start, to be ended with [`TaskEvent::ended`].
    pub(crate) struct TaskEvent<'a> {
        pool: &'a str,
        /// The name and start, kept only when someone listens for the end.
        end: Option<(Option<Box<str>>, Instant)>,
    }

    #[inline]
    pub(crate) fn task_started<'a>(
        pool: &'a str,
        task: Option<&str>,
        queue_wait_ns: u64,
    ) -> TaskEvent<'a> {
        tracing::trace!(
            target: "homebound",
            pool,
            task = task.unwrap_or(""),
            queue_wait_us = queue_wait_ns / 1_000,
            "task started"
        );
        // The end event's name and clock read cost only when DEBUG events are enabled.
        let listening = tracing::enabled!(target: "homebound", tracing::Level::DEBUG);
        TaskEvent {
            pool,
            end: listening.then(|| (task.map(Box::from), Instant::now())),
        }
    }

    impl TaskEvent<'_> {
        #[inline]
        pub(crate) fn ended(self) {
            if let Some((task, started)) = self.end {
                tracing::debug!(
                    target: "homebound",
                    pool = self.pool,
                    task = task.as_deref().unwrap_or(""),
                    run_us = us(started.elapsed()),
                    "task ended"
                );
            }
        }
    }

    /// A group task's start, to be ended with [`GroupTaskEvent::ended`].
    pub(crate) struct GroupTaskEvent {
        /// The name and start, kept only when someone listens for the end.
        end: Option<(Option<Box<str>>, Instant)>,
    }

    #[inline]
    pub(crate) fn group_task_started(task: Option<&str>) -> GroupTaskEvent {
        tracing::trace!(target: "homebound", task = task.unwrap_or(""), "group task started");
        let listening = tracing::enabled!(target: "homebound", tracing::Level::DEBUG);
        GroupTaskEvent {
            end: listening.then(|| (task.map(Box::from), Instant::now())),
        }
    }

    impl GroupTaskEvent {
        #[inline]
        pub(crate) fn ended(self) {
            if let Some((task, started)) = self.end {
                tracing::debug!(
                    target: "homebound",
                    task = task.as_deref().unwrap_or(""),
                    run_us = us(started.elapsed()),
                    "group task ended"
                );
            }
        }
    }

    pub(crate) fn task_panicked(panic: Option<&crate::Panicked>) {
        if let Some(panic) = panic {
            tracing::warn!(target: "homebound", panic = %panic.message(), "task panicked");
        }
    }

    pub(crate) fn pool_shut_down(
        pool: &str,
        joined: usize,
        stragglers: &[Straggler],
        start: Instant,
    ) {
        if joined == 0 && stragglers.is_empty() {
            return; // a repeated shutdown (the pool's drop after an explicit one): nothing new
        }
        tracing::info!(
            target: "homebound",
            pool,
            joined,
            stragglers = stragglers.len(),
            elapsed_ms = us(start.elapsed()) / 1_000,
            "pool shut down"
        );
    }

    pub(crate) fn pool_resized(pool: &str, workers: usize, max_workers: usize) {
        tracing::info!(target: "homebound", pool, workers, max_workers, "pool resized");
    }

    pub(crate) fn stage_ended(stage: &crate::pipeline::StageReport) {
        tracing::debug!(
            target: "homebound",
            stage = %stage.name,
            workers = stage.workers,
            items_in = stage.items_in,
            items_out = stage.items_out,
            busy_ms = us(stage.busy) / 1_000,
            errors = stage.errors,
            dropped = stage.dropped,
            "stage ended"
        );
    }

    pub(crate) fn shutdown_began(cause: &crate::shutdown::Cause) {
        tracing::info!(target: "homebound", cause = %cause, "shutdown began");
    }

    pub(crate) fn shutdown_ended(
        cause: &crate::shutdown::Cause,
        forced: Option<i32>,
        took: Duration,
    ) {
        tracing::info!(
            target: "homebound",
            cause = %cause,
            forced = forced.unwrap_or(0),
            took_ms = us(took) / 1_000,
            "shutdown ended"
        );
    }
}

#[cfg(not(feature = "tracing"))]
#[allow(clippy::unused_self)]
mod on {
    use std::time::{Duration, Instant};

    use crate::pool::Straggler;

    /// Nothing: spans travel only with the `tracing` feature.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Span;

    /// Nothing entered.
    pub(crate) struct Entered;

    impl Span {
        #[inline(always)]
        pub(crate) fn current() -> Span {
            Span
        }

        #[inline(always)]
        pub(crate) fn entered(self) -> Entered {
            Entered
        }
    }

    /// Nothing to end.
    pub(crate) struct TaskEvent;

    #[inline(always)]
    pub(crate) fn task_started(_: &str, _: Option<&str>, _: u64) -> TaskEvent {
        TaskEvent
    }

    impl TaskEvent {
        #[inline(always)]
        pub(crate) fn ended(self) {}
    }

    /// Nothing to end.
    pub(crate) struct GroupTaskEvent;

    #[inline(always)]
    pub(crate) fn group_task_started(_: Option<&str>) -> GroupTaskEvent {
        GroupTaskEvent
    }

    impl GroupTaskEvent {
        #[inline(always)]
        pub(crate) fn ended(self) {}
    }

    #[inline(always)]
    pub(crate) fn task_panicked(_: Option<&crate::Panicked>) {}

    #[inline(always)]
    pub(crate) fn pool_shut_down(_: &str, _: usize, _: &[Straggler], _: Instant) {}

    #[inline(always)]
    pub(crate) fn pool_resized(_: &str, _: usize, _: usize) {}

    #[inline(always)]
    pub(crate) fn stage_ended(_: &crate::pipeline::StageReport) {}

    #[inline(always)]
    pub(crate) fn shutdown_began(_: &crate::shutdown::Cause) {}

    #[inline(always)]
    pub(crate) fn shutdown_ended(_: &crate::shutdown::Cause, _: Option<i32>, _: Duration) {}
}

#[allow(unused_imports)] // some are used only by hooks that exist in some builds
pub(crate) use on::*;
