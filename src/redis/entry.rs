//! [`Entry`]: one stream entry as the consumer read it.

use std::fmt;

use ::redis::{RedisWrite, ToRedisArgs};

/// One stream entry: its ID, its field-value pairs in stream order, and how many times Redis
/// has delivered it (1 on first read; more once it was reclaimed from a consumer that did not
/// acknowledge it).
///
/// An `Entry` can be written back as it is with a [`Writer`](super::Writer): its fields are its
/// Redis arguments.
///
/// # Examples
///
/// ```
/// use homebound::redis::Entry;
///
/// let entry = Entry::new("1700000000000-0", vec![("line".into(), b"GET /".to_vec())]);
/// assert_eq!(entry.get_str("line"), Some("GET /"));
/// assert_eq!(entry.get("missing"), None);
/// assert_eq!(entry.deliveries(), 1);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    id: String,
    fields: Vec<(String, Vec<u8>)>,
    deliveries: u64,
}

impl Entry {
    /// An entry with this ID and these fields, delivered once (for tests and tools; the
    /// consumer makes its own).
    pub fn new(id: impl Into<String>, fields: Vec<(String, Vec<u8>)>) -> Self {
        Entry {
            id: id.into(),
            fields,
            deliveries: 1,
        }
    }

    pub(super) fn with_deliveries(mut self, deliveries: u64) -> Self {
        self.deliveries = deliveries;
        self
    }

    /// The entry's stream ID, e.g. `1700000000000-0`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many times Redis has delivered this entry, this delivery included.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// The value of the first field named `field`.
    pub fn get(&self, field: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_slice())
    }

    /// The value of the first field named `field`, if it is UTF-8.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every field-value pair, in stream order.
    pub fn fields(&self) -> &[(String, Vec<u8>)] {
        &self.fields
    }

    /// Takes the fields out.
    pub fn into_fields(self) -> Vec<(String, Vec<u8>)> {
        self.fields
    }
}

impl ToRedisArgs for Entry {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        for (name, value) in &self.fields {
            out.write_arg(name.as_bytes());
            out.write_arg(value);
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<(&str, String)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("fields", &fields)
            .field("deliveries", &self.deliveries)
            .finish()
    }
}
