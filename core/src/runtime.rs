//! What a host must supply to run the actor shells: a clock and a way to sleep.
//!
//! The simulator implements this with virtual time; the native node with tokio; the page with
//! the simulator. Nothing else about the executor leaks into the core: actors are plain `async`
//! functions over `futures` channels, and the host spawns them however it likes.

use crate::time::Time;
use std::future::Future;

/// A clock and a sleep primitive.
pub trait Runtime: Clone + 'static {
    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()>;

    /// The current time.
    fn now(&self) -> Time;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Time) -> Self::Sleep;

    /// Fault injection, for simulators: the consensus actor asks after each action it performs
    /// whether the replica dies here, between two actions of one step (after a `Persist`, before
    /// the send it guards, say). `true` stops the actor on the spot. Real hosts keep the default.
    fn crash_point(&self) -> bool {
        false
    }
}
