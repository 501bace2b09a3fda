//! [`Writer`]: the sink that appends a pipeline's output to a stream.

use std::fmt;
use std::time::Duration;

use ::redis::{Client, ToRedisArgs};
use parking_lot::Mutex;

use super::commands;
use super::delivery::Delivery;
use super::error::Error;
use super::link::Link;

/// Appends values to a stream, a whole batch in one round trip (pipelined `XADD`s): the sink
/// of a consumer's pipeline, or the producer that fills a stream.
///
/// Values are field-value pairs in any form the redis client can send (see
/// [`ToRedisArgs`](super::ToRedisArgs)): `("line", text)`, a `Vec<(K, V)>`, a
/// `BTreeMap`, an [`Entry`](super::Entry).
///
/// [`write`](Writer::write) takes a batch of [`Delivery`] values: their entries are
/// acknowledged only after Redis stored the batch. Put a `batch(n, max_wait)` stage before it.
/// One `Writer` may be shared by threads (it holds one connection; calls take turns).
///
/// # Examples
///
/// ```no_run
/// use homebound::redis::Writer;
///
/// # fn main() -> Result<(), homebound::redis::Error> {
/// let logs = Writer::open("redis://127.0.0.1:6379/", "logs")?.max_len(1_000_000);
/// let ids = logs.append(&[("line", "GET /"), ("line", "GET /about")])?;
/// assert_eq!(ids.len(), 2);
/// # Ok(()) }
/// ```
pub struct Writer {
    stream: String,
    max_len: Option<usize>,
    link: Mutex<Link>,
}

impl Writer {
    /// A writer to the stream at `stream` on the server at `url`; connects now.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty stream key or a bad URL, [`Error::Redis`] if the server
    /// cannot be reached.
    ///
    /// ```no_run
    /// let out = homebound::redis::Writer::open("redis://127.0.0.1/", "out").unwrap();
    /// # let _ = out;
    /// ```
    pub fn open(url: &str, stream: &str) -> Result<Writer, Error> {
        if stream.is_empty() {
            return Err(Error::Config("the stream key must not be empty".into()));
        }
        let client =
            Client::open(url).map_err(|e| Error::Config(format!("bad redis URL '{url}': {e}")))?;
        let mut link = Link::new(client, Duration::ZERO);
        link.run(|c| ::redis::cmd("PING").query::<()>(c))
            .map_err(|e| Error::redis("PING", e))?;
        Ok(Writer {
            stream: stream.to_string(),
            max_len: None,
            link: Mutex::new(link),
        })
    }

    /// Trims the stream to about `entries` entries as it grows (`XADD MAXLEN ~`).
    ///
    /// ```no_run
    /// let out = homebound::redis::Writer::open("redis://127.0.0.1/", "out").unwrap().max_len(10_000);
    /// # let _ = out;
    /// ```
    pub fn max_len(mut self, entries: usize) -> Self {
        self.max_len = Some(entries);
        self
    }

    /// Appends `items` in one round trip; returns their new IDs.
    ///
    /// # Errors
    ///
    /// [`Error::Redis`] if the connection failed or the server refused an item (an odd number
    /// of fields, say). A failed call may have appended some items; the next call reconnects.
    ///
    /// ```no_run
    /// # let out = homebound::redis::Writer::open("redis://127.0.0.1/", "out").unwrap();
    /// out.append(&[vec![("n", 1), ("sq", 1)], vec![("n", 2), ("sq", 4)]]).unwrap();
    /// ```
    pub fn append<T: ToRedisArgs>(&self, items: &[T]) -> Result<Vec<String>, Error> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let pipe = commands::append(&self.stream, self.max_len, items.iter());
        self.link
            .lock()
            .run(|c| pipe.query(c))
            .map_err(|e| Error::redis("XADD", e))
    }

    /// Appends the batch's values in one round trip, then drops the deliveries: their entries
    /// count as handled and are acknowledged. Returns how many it wrote.
    ///
    /// # Errors
    ///
    /// A [`WriteError`] with the batch: dropping it leaves every entry pending (they will be
    /// delivered again); [`into_batch`](WriteError::into_batch) takes the batch back to retry.
    ///
    /// ```no_run
    /// use homebound::redis::{Delivery, Writer};
    ///
    /// let out = Writer::open("redis://127.0.0.1/", "out").unwrap();
    /// let batch = vec![Delivery::detached(("line", "a")), Delivery::detached(("line", "b"))];
    /// assert_eq!(out.write(batch).unwrap(), 2);
    /// ```
    pub fn write<T: ToRedisArgs>(&self, batch: Vec<Delivery<T>>) -> Result<usize, WriteError<T>> {
        let items = batch.iter().map(|d| &**d);
        let pipe = commands::append(&self.stream, self.max_len, items);
        let stored = if batch.is_empty() {
            Ok(Vec::new())
        } else {
            self.link.lock().run(|c| pipe.query::<Vec<String>>(c))
        };
        match stored {
            Ok(_) => Ok(batch.len()),
            Err(e) => Err(WriteError {
                error: Error::redis("XADD", e),
                batch,
            }),
        }
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

/// A failed [`Writer::write`]: the error and the batch. Dropping it leaves every entry of the
/// batch pending, to be delivered again. Its `Debug` does not need `T: Debug`.
///
/// # Examples
///
/// ```no_run
/// # use homebound::redis::{Delivery, Writer};
/// # let out = Writer::open("redis://127.0.0.1/", "out").unwrap();
/// # let batch = vec![Delivery::detached(("line", "a"))];
/// if let Err(failed) = out.write(batch) {
///     eprintln!("{failed}");
///     let batch = failed.into_batch();
///     let _ = out.write(batch); // one more try; dropping the error instead leaves them pending
/// }
/// ```
pub struct WriteError<T> {
    error: Error,
    batch: Vec<Delivery<T>>,
}

impl<T> WriteError<T> {
    /// Why the write failed.
    ///
    /// ```no_run
    /// # use homebound::redis::{Delivery, Writer};
    /// # let out = Writer::open("redis://127.0.0.1/", "out").unwrap();
    /// let err = out.write(vec![Delivery::detached("odd")]).unwrap_err();
    /// println!("{}", err.error());
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Takes the batch back (its entries are then yours to write, drop, or abandon).
    ///
    /// ```no_run
    /// # use homebound::redis::{Delivery, Writer};
    /// # let out = Writer::open("redis://127.0.0.1/", "out").unwrap();
    /// let err = out.write(vec![Delivery::detached("odd")]).unwrap_err();
    /// for d in err.into_batch() { d.abandon(); }
    /// ```
    pub fn into_batch(mut self) -> Vec<Delivery<T>> {
        std::mem::take(&mut self.batch)
    }
}

impl<T> Drop for WriteError<T> {
    fn drop(&mut self) {
        for delivery in self.batch.drain(..) {
            delivery.abandon();
        }
    }
}

impl<T> fmt::Debug for WriteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteError")
            .field("error", &self.error)
            .field("batch", &self.batch.len())
            .finish()
    }
}

impl<T> fmt::Display for WriteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not write a batch of {} to redis: {}",
            self.batch.len(),
            self.error
        )
    }
}

impl<T> std::error::Error for WriteError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
