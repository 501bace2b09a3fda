//! [`Builder`]: a consumer's settings, checked before anything connects.

use std::time::Duration;

use super::consumer::Consumer;
use super::error::Error;

/// The default number of entries one `XREADGROUP` or `XAUTOCLAIM` returns.
pub const DEFAULT_BATCH: usize = 500;
/// The default time one `XREADGROUP` waits for new entries (and so the longest a reader takes
/// to notice that its run ended while the stream is quiet).
pub const DEFAULT_BLOCK: Duration = Duration::from_millis(200);
/// The default idle time after which a pending entry is taken from its consumer.
pub const DEFAULT_CLAIM_IDLE: Duration = Duration::from_secs(30);
/// The default number of deliveries after which an entry goes to the dead-letter stream.
pub const DEFAULT_MAX_DELIVERIES: u64 = 5;
/// The default time a reader keeps trying to reach Redis before it fails the run.
pub const DEFAULT_RECONNECT_FOR: Duration = Duration::from_secs(30);

/// A consumer's settings.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) url: String,
    pub(super) stream: String,
    pub(super) group: String,
    pub(super) consumer: String,
    pub(super) batch: usize,
    pub(super) block: Duration,
    pub(super) claim_idle: Duration,
    pub(super) max_deliveries: u64,
    pub(super) dead_letter: String,
    pub(super) reconnect_for: Duration,
}

impl Config {
    /// How often the reader looks for idle pending entries.
    pub(super) fn claim_every(&self) -> Duration {
        (self.claim_idle / 2).clamp(Duration::from_millis(1), Duration::from_secs(5))
    }

    fn check(&self) -> Result<(), String> {
        let empty = [
            (&self.url, "the redis URL"),
            (&self.stream, "the stream key"),
            (&self.group, "the group name"),
            (&self.consumer, "the consumer name"),
            (&self.dead_letter, "the dead-letter stream key"),
        ];
        if let Some((_, what)) = empty.iter().find(|(s, _)| s.is_empty()) {
            return Err(format!("{what} must not be empty"));
        }
        if self.batch == 0 {
            return Err("the batch size must be at least 1".into());
        }
        // BLOCK 0 means "forever" to Redis: the reader could never notice a stop.
        if self.block < Duration::from_millis(1) {
            return Err("the block time must be at least 1 ms".into());
        }
        if self.claim_idle < Duration::from_millis(1) {
            return Err("the claim idle time must be at least 1 ms".into());
        }
        if self.max_deliveries == 0 {
            return Err("max_deliveries must be at least 1".into());
        }
        if self.dead_letter == self.stream {
            return Err("the dead-letter stream must not be the stream itself".into());
        }
        Ok(())
    }
}

/// Settings for a [`Consumer`]; from [`Consumer::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use homebound::redis::Consumer;
///
/// let err = Consumer::builder("redis://127.0.0.1:6379/", "logs", "parsers", "worker-1")
///     .batch(0)
///     .block(Duration::from_millis(100))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.to_string(), "bad redis configuration: the batch size must be at least 1");
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder {
    config: Config,
}

impl Builder {
    pub(super) fn new(url: &str, stream: &str, group: &str, consumer: &str) -> Self {
        Builder {
            config: Config {
                url: url.to_string(),
                stream: stream.to_string(),
                group: group.to_string(),
                consumer: consumer.to_string(),
                batch: DEFAULT_BATCH,
                block: DEFAULT_BLOCK,
                claim_idle: DEFAULT_CLAIM_IDLE,
                max_deliveries: DEFAULT_MAX_DELIVERIES,
                dead_letter: format!("{stream}:dead"),
                reconnect_for: DEFAULT_RECONNECT_FOR,
            },
        }
    }

    /// Entries per `XREADGROUP` and `XAUTOCLAIM` (default [`DEFAULT_BATCH`]). At least 1.
    pub fn batch(mut self, entries: usize) -> Self {
        self.config.batch = entries;
        self
    }

    /// How long one read waits for new entries (default [`DEFAULT_BLOCK`]): a run's reader
    /// notices the end of its run within this time. At least 1 ms.
    pub fn block(mut self, block: Duration) -> Self {
        self.config.block = block;
        self
    }

    /// How long an entry must have been pending without an acknowledgement before this
    /// consumer takes it over from another one (default [`DEFAULT_CLAIM_IDLE`]). Make it
    /// longer than an entry takes to go through your pipeline, or a slow consumer's entries
    /// will be processed twice. At least 1 ms.
    pub fn claim_idle(mut self, idle: Duration) -> Self {
        self.config.claim_idle = idle;
        self
    }

    /// After how many deliveries a reclaimed entry goes to the dead-letter stream instead of
    /// being processed again (default [`DEFAULT_MAX_DELIVERIES`]). At least 1.
    pub fn max_deliveries(mut self, deliveries: u64) -> Self {
        self.config.max_deliveries = deliveries;
        self
    }

    /// The dead-letter stream's key (default `<stream>:dead`).
    pub fn dead_letter(mut self, stream: &str) -> Self {
        self.config.dead_letter = stream.to_string();
        self
    }

    /// How long a reader keeps reconnecting to an unreachable server before it fails its run
    /// (default [`DEFAULT_RECONNECT_FOR`]).
    pub fn reconnect_for(mut self, period: Duration) -> Self {
        self.config.reconnect_for = period;
        self
    }

    /// Checks the settings, connects, and creates the group (and the stream) if missing. A new
    /// group starts at the beginning of the stream: every entry already there is work.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for bad settings (nothing is started), [`Error::Redis`] if the
    /// server cannot be reached or refuses to create the group.
    pub fn build(self) -> Result<Consumer, Error> {
        self.config.check().map_err(Error::Config)?;
        Consumer::start(self.config)
    }
}
