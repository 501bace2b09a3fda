//! The real-time example's database: SQLite (bundled), one writer connection in WAL mode,
//! each batch one transaction.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

/// One computed reading, as stored.
#[derive(Debug)]
pub struct Row {
    pub msg_id: u64,
    pub sensor: u32,
    pub value: f64,
    pub score: f64,
    pub alert: bool,
    /// When the producer enqueued the message, in µs after the run's start.
    pub enqueued_us: u64,
}

/// A database file in the temp directory, removed (with its WAL files) on drop.
#[derive(Debug)]
pub struct TempDb {
    pub path: PathBuf,
}

impl TempDb {
    pub fn new(name: &str) -> TempDb {
        let path = std::env::temp_dir().join(format!("{name}-{}.db", std::process::id()));
        let db = TempDb { path };
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Opens the writer: WAL with `synchronous = NORMAL` (a commit appends to the log without
/// waiting for fsync; a crash of the process loses nothing committed, a power loss may lose the
/// last commits but never corrupts), and the table. Checkpoints (which copy the log into the
/// database and fsync) are taken off the write path: see [`checkpoint`]. `msg_id` is
/// deliberately not unique, so a message written twice would show up in the final count.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS readings (
            msg_id      INTEGER NOT NULL,
            sensor      INTEGER NOT NULL,
            value       REAL    NOT NULL,
            score       REAL    NOT NULL,
            alert       INTEGER NOT NULL,
            enqueued_us INTEGER NOT NULL
        )",
    )?;
    Ok(conn)
}

/// Writes `rows` in one transaction.
pub fn write_batch(conn: &mut Connection, rows: &[Row]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO readings (msg_id, sensor, value, score, alert, enqueued_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for row in rows {
            insert.execute(params![
                row.msg_id as i64,
                row.sensor,
                row.value,
                row.score,
                row.alert,
                row.enqueued_us as i64
            ])?;
        }
    }
    tx.commit()
}

/// Copies what the log holds into the database, without blocking the writer (a passive
/// checkpoint), on its own connection: run periodically, so the commits never wait for the
/// checkpoint's fsync, which on a busy disk can take a second.
pub fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// What the table holds: (rows, distinct message ids, smallest id, largest id).
pub fn census(path: &Path) -> rusqlite::Result<(u64, u64, i64, i64)> {
    let conn = Connection::open(path)?;
    conn.query_row(
        "SELECT COUNT(*), COUNT(DISTINCT msg_id), COALESCE(MIN(msg_id), -1), COALESCE(MAX(msg_id), -1)
         FROM readings",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get(2)?, r.get(3)?)),
    )
}
