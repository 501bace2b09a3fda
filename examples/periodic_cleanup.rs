//! The classic periodic job: "clean expired temp files every second until told to stop".
//!
//! A writer drops a new file into a fresh temporary directory every so often; the cleaner runs
//! with `every`, removes the files older than their time to live, and never overlaps itself.
//! It stops when the run time is up or on Ctrl-C / SIGTERM, prints both jobs' reports, removes
//! the directory and checks that no thread is left.
//!
//! Run it with `cargo run --release --example periodic_cleanup`; `HOMEBOUND_QUICK=1` shortens
//! the periods and the run to about two seconds.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use homebound::{periodic::Every, periodic::every, shutdown::Shutdown, threads};

struct Timing {
    write_every: Duration,
    clean_every: Duration,
    ttl: Duration,
    run_for: Duration,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let t = if quick {
        Timing {
            write_every: Duration::from_millis(50),
            clean_every: Duration::from_millis(200),
            ttl: Duration::from_millis(300),
            run_for: Duration::from_secs(2),
        }
    } else {
        Timing {
            write_every: Duration::from_millis(250),
            clean_every: Duration::from_secs(1),
            ttl: Duration::from_secs(2),
            run_for: Duration::from_secs(8),
        }
    };
    let dir = unique_temp_dir()?;
    println!(
        "cleaning {} every {:?} (files expire after {:?}); stopping in {:?} or on Ctrl-C",
        dir.display(),
        t.clean_every,
        t.ttl,
        t.run_for
    );

    let mut shutdown = Shutdown::new().grace(Duration::from_secs(2));
    shutdown.on_signals()?;
    // Both jobs stop at the end of the run, or earlier with the shutdown.
    let run = shutdown.context().with_timeout(t.run_for);
    let removed = Arc::new(AtomicU64::new(0));

    let (writer_dir, writer_ctx) = (dir.clone(), run.clone());
    let mut n = 0u64;
    let writer = Every::new(t.write_every)?.spawn(&writer_ctx, "writer", move |_| {
        n += 1;
        fs::write(writer_dir.join(format!("scratch-{n:05}.tmp")), b"temporary")
    })?;

    let (cleaner_dir, cleaner_removed, ttl) = (dir.clone(), Arc::clone(&removed), t.ttl);
    let clean_every = t.clean_every;
    shutdown.service("cleaner", move |_root| {
        let report = every(&run, clean_every, |_| {
            let gone = remove_expired(&cleaner_dir, ttl)?;
            cleaner_removed.fetch_add(gone, Ordering::Relaxed);
            if gone > 0 {
                println!("cleaner: removed {gone} expired files");
            }
            Ok::<(), io::Error>(())
        })?;
        println!("cleaner: {report}");
        report.into_result().map(drop)
    })?;

    let report = shutdown.wait();
    let writer_report = writer.join().map_err(|p| p.to_string())?;
    println!("writer: {writer_report}");
    println!("{report}");
    let left = fs::read_dir(&dir)?.count();
    println!(
        "wrote {} files, removed {} expired, {left} still fresh at the end",
        writer_report.runs(),
        removed.load(Ordering::Relaxed)
    );
    fs::remove_dir_all(&dir)?;
    threads::assert_none_alive(Duration::from_secs(5));
    std::process::exit(report.exit_code());
}

/// Removes the files in `dir` last modified more than `ttl` ago; returns how many.
fn remove_expired(dir: &Path, ttl: Duration) -> io::Result<u64> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
        if age > ttl {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Someone else removed it first: that is fine for a cleaner.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// A new, empty directory under the system temp dir, unique to this run.
fn unique_temp_dir() -> io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir =
        std::env::temp_dir().join(format!("homebound-cleanup-{}-{nanos}", std::process::id()));
    fs::create_dir(&dir)?;
    Ok(dir)
}
