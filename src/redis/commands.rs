//! The Redis commands a consumer and a writer send, and the parsing of their replies.
//!
//! Replies are parsed from raw [`Value`]s so that an entry keeps its fields in stream order and
//! as bytes.

use std::time::Duration;

use ::redis::{Connection, ErrorKind, RedisError, RedisResult, ToRedisArgs, Value};

use super::config::Config;
use super::entry::Entry;

/// Creates the group at the start of the stream (and the stream, if missing); an existing
/// group is left as it is.
pub(super) fn create_group(conn: &mut Connection, stream: &str, group: &str) -> RedisResult<()> {
    let created: RedisResult<Value> = ::redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query(conn);
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other.map(drop),
    }
}

/// `XREADGROUP ... STREAMS stream >`: up to `batch` new entries, waiting up to `block`.
pub(super) fn read_new(conn: &mut Connection, cfg: &Config) -> RedisResult<Vec<Entry>> {
    let reply: Value = ::redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(&cfg.group)
        .arg(&cfg.consumer)
        .arg("COUNT")
        .arg(cfg.batch)
        .arg("BLOCK")
        .arg(millis(cfg.block))
        .arg("STREAMS")
        .arg(&cfg.stream)
        .arg(">")
        .query(conn)?;
    // Nil on timeout; else [[stream, [entry, ..]]] (or a map under RESP3).
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .collect::<Vec<_>>(),
        Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
        other => return Err(unexpected("XREADGROUP", &other)),
    };
    let mut entries = Vec::new();
    for list in streams {
        entries.extend(parse_entries(list)?);
    }
    Ok(entries)
}

/// What one `XAUTOCLAIM ... JUSTID` call returned.
pub(super) struct Claimed {
    /// Where the next call starts (`0-0`: the scan went round).
    pub(super) cursor: String,
    /// The entries now owned by this consumer (their delivery counts unchanged).
    pub(super) ids: Vec<String>,
}

/// `XAUTOCLAIM stream group consumer min-idle cursor COUNT batch JUSTID`: takes over entries
/// idle for the claim time, without counting a delivery (the entries this process still holds
/// are among them when they are slow; [`claim`] then fetches and counts the others).
pub(super) fn autoclaim(conn: &mut Connection, cfg: &Config, cursor: &str) -> RedisResult<Claimed> {
    let reply: Value = ::redis::cmd("XAUTOCLAIM")
        .arg(&cfg.stream)
        .arg(&cfg.group)
        .arg(&cfg.consumer)
        .arg(millis(cfg.claim_idle))
        .arg(cursor)
        .arg("COUNT")
        .arg(cfg.batch)
        .arg("JUSTID")
        .query(conn)?;
    // [next-cursor, [id, ..], [deleted-id, ..]] (the last one since Redis 7).
    let Value::Array(mut parts) = reply else {
        return Err(unexpected("XAUTOCLAIM", &reply));
    };
    if parts.len() < 2 {
        return Err(unexpected("XAUTOCLAIM", &Value::Array(parts)));
    }
    let ids = match parts.swap_remove(1) {
        Value::Array(ids) => ids.into_iter().filter_map(text).collect(),
        other => return Err(unexpected("XAUTOCLAIM", &other)),
    };
    let cursor = text(parts.swap_remove(0)).unwrap_or_else(|| "0-0".to_string());
    Ok(Claimed { cursor, ids })
}

/// `XCLAIM stream group consumer 0 id..`: the entries (already ours), counting one more
/// delivery each. Entries whose data is gone are left out.
pub(super) fn claim(
    conn: &mut Connection,
    cfg: &Config,
    ids: &[String],
) -> RedisResult<Vec<Entry>> {
    let reply: Value = ::redis::cmd("XCLAIM")
        .arg(&cfg.stream)
        .arg(&cfg.group)
        .arg(&cfg.consumer)
        .arg(0)
        .arg(ids)
        .query(conn)?;
    parse_entries(reply)
}

/// How many times each entry was delivered (`None`: no longer pending).
pub(super) fn delivery_counts(
    conn: &mut Connection,
    cfg: &Config,
    ids: &[&str],
) -> RedisResult<Vec<Option<u64>>> {
    let mut pipe = ::redis::pipe();
    for id in ids {
        pipe.cmd("XPENDING")
            .arg(&cfg.stream)
            .arg(&cfg.group)
            .arg(*id)
            .arg(*id)
            .arg(1);
    }
    let replies: Vec<Value> = pipe.query(conn)?;
    Ok(replies.into_iter().map(pending_count).collect())
}

/// The delivery count in an `XPENDING` extended reply: [[id, consumer, idle, count]].
fn pending_count(reply: Value) -> Option<u64> {
    let Value::Array(rows) = reply else {
        return None;
    };
    let Some(Value::Array(row)) = rows.into_iter().next() else {
        return None;
    };
    match row.get(3) {
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// `XACK stream group id..`: how many were still pending.
pub(super) fn ack(conn: &mut Connection, cfg: &Config, ids: &[String]) -> RedisResult<u64> {
    ::redis::cmd("XACK")
        .arg(&cfg.stream)
        .arg(&cfg.group)
        .arg(ids)
        .query(conn)
}

/// Moves a pending entry to the dead-letter stream: its fields plus `dlq-origin`,
/// `dlq-stream`, `dlq-group` and `dlq-deliveries`, appended and acknowledged in one
/// transaction. Does nothing if the entry is no longer pending (a retried call whose first
/// try went through), so a retry never appends twice. Returns whether it moved the entry.
pub(super) fn dead_letter(conn: &mut Connection, cfg: &Config, entry: &Entry) -> RedisResult<bool> {
    let still_pending = delivery_counts(conn, cfg, &[entry.id()])?[0].is_some();
    if !still_pending {
        return Ok(false);
    }
    let deliveries = entry.deliveries().to_string();
    let meta = [
        ("dlq-origin", entry.id()),
        ("dlq-stream", cfg.stream.as_str()),
        ("dlq-group", cfg.group.as_str()),
        ("dlq-deliveries", deliveries.as_str()),
    ];
    let _: Value = ::redis::pipe()
        .atomic()
        .cmd("XADD")
        .arg(&cfg.dead_letter)
        .arg("*")
        .arg(entry)
        .arg(&meta[..])
        .cmd("XACK")
        .arg(&cfg.stream)
        .arg(&cfg.group)
        .arg(entry.id())
        .query(conn)?;
    Ok(true)
}

/// One `XADD` per item (field-value pairs) to `stream`, to send in one round trip; builds the
/// arguments (your `ToRedisArgs` code) before any connection is touched.
pub(super) fn append<'a, T: ToRedisArgs + 'a>(
    stream: &str,
    max_len: Option<usize>,
    items: impl Iterator<Item = &'a T>,
) -> ::redis::Pipeline {
    let mut pipe = ::redis::pipe();
    for item in items {
        let cmd = pipe.cmd("XADD").arg(stream);
        if let Some(max) = max_len {
            cmd.arg("MAXLEN").arg("~").arg(max);
        }
        cmd.arg("*").arg(item);
    }
    pipe
}

/// The entries of a stream reply: [[id, [field, value, ..]], ..]. Entries whose data is gone
/// (nil: deleted or trimmed while pending) are skipped.
fn parse_entries(list: Value) -> RedisResult<Vec<Entry>> {
    let Value::Array(items) = list else {
        return Err(unexpected("stream entries", &list));
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(mut pair) = item else {
            continue;
        };
        if pair.len() != 2 {
            continue;
        }
        let fields = pair.pop().expect("two elements");
        let Some(id) = pair.pop().and_then(text) else {
            continue;
        };
        let fields = match fields {
            Value::Array(flat) => pairs(flat),
            Value::Map(map) => map
                .into_iter()
                .filter_map(|(k, v)| Some((text(k)?, bytes(v)?)))
                .collect(),
            _ => continue,
        };
        entries.push(Entry::new(id, fields));
    }
    Ok(entries)
}

fn pairs(flat: Vec<Value>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (text(k), bytes(v)) {
            out.push((k, v));
        }
    }
    out
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn text(v: Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unexpected(what: &'static str, got: &Value) -> RedisError {
    RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        format!("{what}: {got:?}"),
    ))
}
