//! What a replica serves each peer: a per-peer allowance for answering requests.
//!
//! A request is a few bytes; its answer can be many blocks or batches (a `ChainRequest` for 64
//! blocks, a `BatchRequest` for up to `BLOCK_PAYLOAD_MAX` batches of up to 500 KB). Answers go to
//! the authenticated sender only, but a member that keeps asking could still make a replica
//! spend its bandwidth and its store's reads on it alone. So each peer gets an allowance, in
//! items (blocks or batches): `rate` a second on average and `burst` at once, by the generic
//! cell rate algorithm: a peer's *theoretical arrival time* moves `cost / rate` on per request
//! served, and a request that would move it more than `burst / rate` past now is refused with
//! [`Error::RequestBudgetExceeded`] (observed, dropped; the asker retries, as after a loss).
//! Honest catch-up asks for a range at a time, one round trip apart: below the allowance
//! unless round trips are shorter than 16 ms (then it caps a catch-up from one peer at about
//! 4,000 blocks a second, after a burst of 1,024). The allowance counts items, not bytes.
//!
//! Time is the state machine's `now`, so the decision is as deterministic as the rest of the
//! core. (Crates such as `governor` implement the same algorithm, over a clock and keyed stores
//! of their own; the core has neither, and the table here holds one entry per member.)

use crate::error::Error;
use crate::time::Time;
use crate::types::NodeId;

/// Items a second, and at once, served to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// Average items a second.
    pub rate: u64,
    /// Items at once.
    pub burst: u64,
}

/// Blocks a replica serves one peer (sync and chain requests): 16 ranges of the committed chain
/// at once, and a catch-up of 4,000 blocks a second from each peer asked (the simulated
/// committee commits about 70 a second, a native one under load about 500).
pub const BLOCKS_SERVED: Allowance = Allowance { rate: 4_000, burst: 1_024 };

/// Batches a mempool serves one peer: two blocks' worth of batches at once, and as many a second.
pub const BATCHES_SERVED: Allowance = Allowance {
    rate: 2 * crate::messages::BLOCK_PAYLOAD_MAX as u64,
    burst: 2 * crate::messages::BLOCK_PAYLOAD_MAX as u64,
};

/// Per-peer allowances (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct ServeBudget {
    allowance: Allowance,
    /// Per peer (indexed by id: peers are committee members), the theoretical arrival time,
    /// in microseconds.
    arrival_us: Vec<u64>,
}

impl ServeBudget {
    pub(crate) fn new(allowance: Allowance) -> Self {
        assert!(allowance.rate > 0 && allowance.burst > 0, "an allowance serves something");
        assert!(allowance.rate <= 1_000_000, "at most one item a microsecond (the clock's grain here)");
        Self { allowance, arrival_us: Vec::new() }
    }

    /// Takes `cost` items of `peer`'s allowance at `now`, or refuses.
    pub(crate) fn spend(&mut self, peer: NodeId, now: Time, cost: u64) -> Result<(), Error> {
        let interval_us = 1_000_000 / self.allowance.rate;
        let now_us = now.0.saturating_mul(1_000);
        let slot = usize::from(peer.0);
        let arrival = self.arrival_us.get(slot).copied().unwrap_or(0).max(now_us);
        let next = arrival.saturating_add(cost.saturating_mul(interval_us));
        if next - now_us > self.allowance.burst.saturating_mul(interval_us) {
            return Err(Error::RequestBudgetExceeded { peer, items: cost });
        }
        if self.arrival_us.len() <= slot {
            self.arrival_us.resize(slot + 1, 0);
        }
        self.arrival_us[slot] = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_burst_at_once_then_its_rate() {
        let mut budget = ServeBudget::new(Allowance { rate: 100, burst: 10 });
        let peer = NodeId(1);
        for _ in 0..10 {
            budget.spend(peer, Time(0), 1).unwrap();
        }
        assert!(budget.spend(peer, Time(0), 1).is_err(), "the burst is spent");
        assert!(budget.spend(NodeId(2), Time(0), 10).is_ok(), "another peer has its own");
        assert!(budget.spend(peer, Time(5), 1).is_err(), "half an item has come back");
        assert!(budget.spend(peer, Time(10), 1).is_ok(), "one item every 10 ms");
        assert!(budget.spend(peer, Time(1_000), 11).is_err(), "never more than the burst at once");
        assert!(budget.spend(peer, Time(1_000), 10).is_ok());
    }
}
