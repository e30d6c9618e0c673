//! The tokio [`Runtime`]: the core's clock is milliseconds since the replica started.

use hotstuff_core::runtime::Runtime;
use hotstuff_core::Time;
use std::time::Duration;
use tokio::time::Instant;

/// A deadline far enough away to mean "never" (about 30 years) without overflowing `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// Clock and sleep for the actors of one native replica.
///
/// `now()` is the time elapsed since [`TokioRuntime::new`], rounded down to the millisecond, so a
/// sleep until `t` (which tokio completes at or after `start + t`) always wakes with `now() >= t`.
#[derive(Clone, Copy, Debug)]
pub struct TokioRuntime {
    start: Instant,
}

impl TokioRuntime {
    /// A clock starting now.
    pub fn new() -> Self {
        Self { start: Instant::now() }
    }

    fn instant(&self, time: Time) -> Instant {
        let far = || Instant::now() + FAR_FUTURE;
        self.start.checked_add(Duration::from_millis(time.as_ms())).unwrap_or_else(far)
    }
}

impl Default for TokioRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime for TokioRuntime {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Time {
        Time(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, deadline: Time) -> Self::Sleep {
        tokio::time::sleep_until(self.instant(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::TokioRuntime;
    use hotstuff_core::runtime::Runtime as _;
    use hotstuff_core::Time;

    #[tokio::test(start_paused = true)]
    async fn sleeping_until_a_deadline_wakes_at_or_after_it() {
        let runtime = TokioRuntime::new();
        assert_eq!(runtime.now(), Time(0));
        runtime.sleep_until(Time(250)).await;
        assert!(runtime.now() >= Time(250));
        // A past deadline completes at once; an absurd one does not overflow.
        runtime.sleep_until(Time(10)).await;
        let never = runtime.sleep_until(Time(u64::MAX));
        assert!(tokio::time::timeout(std::time::Duration::from_secs(3600), never).await.is_err());
    }
}
