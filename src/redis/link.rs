//! One connection to Redis that is re-opened after a failure.

use std::time::Duration;

use ::redis::{Client, Connection, RedisError, RedisResult};

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a reply may take beyond the command's own blocking time.
const REPLY_SLACK: Duration = Duration::from_secs(2);

/// A connection opened on first use and dropped after any error that may have broken it.
pub(super) struct Link {
    client: Client,
    conn: Option<Connection>,
    /// Read timeout: the longest blocking command's time plus [`REPLY_SLACK`].
    read_timeout: Duration,
}

impl Link {
    pub(super) fn new(client: Client, longest_block: Duration) -> Self {
        Link {
            client,
            conn: None,
            read_timeout: longest_block.saturating_add(REPLY_SLACK),
        }
    }

    /// Runs `f` on the connection, opening it first if needed. On an error that may have left
    /// the connection unusable, drops it: the next call opens a new one.
    pub(super) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        if self.conn.is_none() {
            let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
            conn.set_read_timeout(Some(self.read_timeout))?;
            conn.set_write_timeout(Some(CONNECT_TIMEOUT))?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("opened above");
        let result = f(conn);
        if let Err(e) = &result
            && transient(e)
        {
            self.conn = None;
        }
        result
    }
}

/// Whether `e` is worth retrying on a new connection: the server is unreachable, restarting
/// or still loading its data, or the connection broke. Server replies such as `NOGROUP` or a
/// wrong type are not.
pub(super) fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_unrecoverable_error()
        || matches!(
            e.code(),
            Some("LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN")
        )
}
