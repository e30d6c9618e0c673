//! Time as the core sees it: milliseconds since the host started, passed in as an argument.
//!
//! The core never reads a clock. Hosts turn their clock into a [`Time`] (the simulator's virtual
//! clock, `performance.now()` in the page, a tokio `Instant` natively) and hand it to `handle`.
//! `std::time::Instant` is deliberately not used: it panics on `wasm32-unknown-unknown`.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the host's start. Monotonic across calls by contract.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub u64);

impl Time {
    /// The host's start.
    pub const ZERO: Self = Self(0);

    /// Milliseconds since the start.
    pub fn as_ms(self) -> u64 {
        self.0
    }

    /// This time plus a duration in milliseconds (saturating: a far deadline is still a deadline).
    pub fn plus_ms(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Milliseconds elapsed since `earlier` (zero if `earlier` is later).
    pub fn ms_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}
