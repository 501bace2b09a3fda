//! The source stage: one thread that pulls from your iterator or receiver and chunks the items.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError, bounded};

use super::chunk::{CHUNK, LINK_CAPACITY, Mode, Outbox};
use super::ordered::window;
use super::runtime::{Link, Runtime, SourceFlags};
use crate::context::Context;

/// The source's outbox and the link it feeds.
fn link<T: Send + 'static>(rt: &mut Runtime) -> (Outbox<T>, Link<T>) {
    let (tx, rx) = bounded(LINK_CAPACITY);
    rt.add_drain(1, rx.clone());
    let (mode, credits) = if rt.ordered() {
        let (give, take) = window(rt.window_after(0));
        let mode = Mode::Sequence {
            next: 0,
            credits: take,
        };
        (mode, Some(give))
    } else {
        (Mode::Coalesce, None)
    };
    let out = Outbox::new(tx, rt.ctx.clone(), Arc::clone(&rt.stats[0]), mode, CHUNK);
    (out, Link { rx, credits })
}

/// Marks the source complete once everything it read has been sent.
fn complete<T>(out: &mut Outbox<T>, flags: &SourceFlags, intake_stopped: bool) {
    if out.flush().is_ok() {
        flags
            .intake_stopped
            .store(intake_stopped, Ordering::Release);
        flags.complete.store(true, Ordering::Release);
    }
}

/// Starts the thread that drains `iter`.
pub(crate) fn from_iter<I>(rt: &mut Runtime, iter: I) -> Link<I::Item>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    let (mut out, link) = link(rt);
    let (ctx, stop, flags) = (rt.ctx.clone(), rt.plan.stop.clone(), Arc::clone(&rt.source));
    rt.spawn(0, move || {
        if ctx.is_cancelled() {
            return;
        }
        let mut iter = iter;
        let mut read = 0usize;
        let outcome = loop {
            // Cancellation is checked by `push` at its checkpoints (every item when they are
            // slow); the intake stop, only when there is one, here.
            if let Some(stop) = &stop
                && stop.is_cancelled()
            {
                break Some(true);
            }
            let Some(item) = iter.next() else {
                break Some(false);
            };
            read += 1;
            if out.push(item).is_err() {
                break None;
            }
        };
        out.stats.add_in(read);
        if let Some(intake_stopped) = outcome {
            complete(&mut out, &flags, intake_stopped);
        }
    });
    link
}

/// Starts the thread that drains `rx` until it disconnects.
pub(crate) fn from_receiver<T: Send + 'static>(rt: &mut Runtime, rx: Receiver<T>) -> Link<T> {
    let (mut out, link) = link(rt);
    let (ctx, stop, flags) = (rt.ctx.clone(), rt.plan.stop.clone(), Arc::clone(&rt.source));
    rt.spawn(0, move || {
        let never = crossbeam_channel::never();
        let stop_done = stop.as_ref().map_or(&never, Context::done);
        let mut read = 0usize;
        let outcome = loop {
            if ctx.is_cancelled() {
                break None;
            }
            if stop.as_ref().is_some_and(Context::is_cancelled) {
                break Some(true);
            }
            let item = match rx.try_recv() {
                Ok(item) => item,
                Err(TryRecvError::Disconnected) => break Some(false),
                Err(TryRecvError::Empty) => {
                    // Nothing to read: never sit on items while waiting.
                    if out.flush().is_err() {
                        break None;
                    }
                    let waited = Instant::now();
                    // `None`: the context or the intake stop fired; the loop head sorts it out.
                    let item = crossbeam_channel::select! {
                        recv(rx) -> msg => Some(msg.ok()),
                        recv(ctx.done()) -> _ => None,
                        recv(stop_done) -> _ => None,
                    };
                    out.stats.add_recv_wait(waited.elapsed());
                    match item {
                        Some(Some(item)) => item,
                        Some(None) => break Some(false),
                        None => continue,
                    }
                }
            };
            read += 1;
            if out.push(item).is_err() {
                break None;
            }
        };
        out.stats.add_in(read);
        if let Some(intake_stopped) = outcome {
            complete(&mut out, &flags, intake_stopped);
        }
    });
    link
}
