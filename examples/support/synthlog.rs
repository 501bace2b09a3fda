//! The random draw behind both synthetic logs (`logfmt`'s and the seed's): a deterministic
//! xorshift64* stream turned into a timestamp and, for 999 lines in 1000, a level, module,
//! message, id and duration. Each format lays the fields out its own way.

/// One line's worth of random fields.
pub struct Draw {
    /// `2026-11-23T08:15:02.123456Z`, advancing 1.731 ms per line.
    pub ts: String,
    /// `None` for a malformed line (0.1%).
    pub fields: Option<Fields>,
}

/// The fields of a well-formed line.
pub struct Fields {
    /// About 10% TRACE, 30% DEBUG, 45% INFO, 10% WARN, 5% ERROR.
    pub level: &'static str,
    pub module: &'static str,
    pub message: &'static str,
    pub id: u64,
    pub ms: u64,
}

/// An endless, deterministic stream of draws.
pub struct Synth {
    state: u64,
    n: u64,
}

const MODULES: [&str; 8] = [
    "db::pool",
    "db::query",
    "http::server",
    "http::client",
    "auth::session",
    "billing::invoice",
    "cache::lru",
    "worker::queue",
];

const MESSAGES: [&str; 8] = [
    "request completed",
    "slow checkout",
    "connection reset by peer",
    "retrying after timeout",
    "cache miss",
    "token refreshed",
    "invoice rendered",
    "queue depth high",
];

impl Synth {
    pub fn new(seed: u64) -> Self {
        Synth {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            n: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn draw(&mut self) -> Draw {
        let r = self.next_u64();
        self.n += 1;
        let micros = self.n * 1_731;
        let secs = micros / 1_000_000;
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        let ts = format!("2026-11-23T{h:02}:{m:02}:{s:02}.{:06}Z", micros % 1_000_000);
        if r.is_multiple_of(1000) {
            return Draw { ts, fields: None };
        }
        let level = match (r >> 10) % 100 {
            0..=9 => "TRACE",
            10..=39 => "DEBUG",
            40..=84 => "INFO",
            85..=94 => "WARN",
            _ => "ERROR",
        };
        let fields = Fields {
            level,
            module: MODULES[((r >> 20) % 8) as usize],
            message: MESSAGES[((r >> 24) % 8) as usize],
            id: (r >> 32) % 100_000,
            ms: (r >> 48) % 1_000,
        };
        Draw {
            ts,
            fields: Some(fields),
        }
    }
}
