//! Protocol parameters shared by the consensus and mempool state machines.

use crate::error::Error;
use serde::{Deserialize, Serialize};

/// Room left in a frame for a batch's encoding (lengths, author, message tags).
const BATCH_OVERHEAD_BYTES: usize = 64 * 1024;

/// Which commit rule (and matching voting rule) consensus runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommitRule {
    /// 2-chain HotStuff as in DiemBFT v4 / Jolteon / asonnino/hotstuff: a block commits when its
    /// child, in the very next round, is certified. Votes after a timeout are justified by a TC.
    #[default]
    TwoChain,
    /// Chained (event-driven) HotStuff from the paper: a block commits at the head of three
    /// certified blocks in consecutive rounds; votes must extend the locked (preferred) round.
    ThreeChain,
    /// **Deliberately unsafe — for tests and the page only.** Commits a block as soon as it is
    /// certified (a "1-chain"), skipping the second certified link that makes 2-chain safe. A
    /// leader that forms a QC commits at once; if its next proposal is lost, the others time out
    /// with a lower high QC and a TC lets the next leader fork past the committed block. It exists
    /// to show that the invariant checkers catch a broken protocol
    /// (`tests/tests/unsafe_variant.rs`).
    UnsafeOneChain,
}

/// How the leader of each round is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaderElection {
    /// Each member in turn (`round mod n`), as asonnino/hotstuff does. Predictable (the page's
    /// lessons and the Twins scenarios name leaders by round), but a crashed replica keeps its
    /// turn and costs two rounds each time: with f of 3f + 1 down the committee commits about
    /// 5% of its fault-free rate (`tests/tests/liveness.rs`).
    RoundRobin,
    /// The default: drawn from the committed history, weighted towards replicas that recently
    /// proposed or voted and away from those that failed their turns (DiemBFT v4 / Aptos style;
    /// see `consensus::reputation`), so crashed replicas are rarely chosen and f crashed keep
    /// the committee at 80% or more of its fault-free rate.
    #[default]
    Reputation,
}

/// The fewest heights [`Parameters::retain_heights`] may keep: a restarted replica reads back
/// the committed batches of the last `COMMITTED_BATCHES_WINDOW` (200) heights and, under leader
/// reputation, its history (`10n + 21` blocks), and a peer catching up needs some room.
pub const RETAIN_HEIGHTS_MIN: u64 = 1_000;

/// Tunable parameters. Durations carry their unit in the name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Parameters {
    /// Round timeout while the replica commits; a fifth longer for each further round without a
    /// commit (see the pacemaker in `consensus`).
    pub round_timeout_ms: u64,
    /// Cap on the backed-off round timeout.
    pub round_timeout_ms_max: u64,
    /// How long a leader with no payload waits before proposing an empty block. Must be below
    /// the round timeout. This is what keeps an idle committee from spinning empty rounds.
    pub max_block_delay_ms: u64,
    /// Delay before re-asking another peer for a missing block or batch.
    pub sync_retry_ms: u64,
    /// How long a voter waits for the batches of a block before asking for the missing ones.
    /// They were broadcast before the block was proposed, so they are usually in flight; but a
    /// lost batch must not hold the vote for a whole `sync_retry_ms` (under 5% loss most blocks
    /// of a busy committee miss a batch somewhere: with 300 ms, rounds took about 0.45 s
    /// instead of 50 ms in the simulator). About one message latency.
    pub payload_wait_ms: u64,
    /// A round that has not moved this long after a replica proposed, voted or timed out in it
    /// gets the same message again (and again, at this interval): links lose messages, and with
    /// exactly a quorum up one lost vote or proposal would fail the round. Below the round
    /// timeout; a healthy round ends well before it, so it costs nothing then.
    pub resend_ms: u64,
    /// Rounds of history kept in memory below the last commit.
    pub gc_depth_rounds: u64,
    /// Heights of committed history kept in the store below and at the last commit: blocks,
    /// their batches and the commit index. Older ones are pruned (`Action::Prune`), so the disk
    /// stays flat over a long run. It is also how far behind a peer can catch up block by
    /// block, in ranges; one further behind installs a checkpoint (see `consensus` module docs),
    /// and an application reading the commit stream must keep within it. At least
    /// [`RETAIN_HEIGHTS_MIN`].
    pub retain_heights: u64,
    /// 2-chain (default) or 3-chain.
    pub commit_rule: CommitRule,
    /// A batch is sealed once its transactions reach this many bytes.
    pub batch_size_bytes: usize,
    /// A non-empty batch is sealed at the latest this long after its first transaction. It is
    /// the floor of a transaction's latency at light load, so it is short (2 ms): at 50,000 tx/s
    /// on four local replicas, 2 ms instead of 10 ms took the end-to-end p50 from about 20 ms to
    /// about 15 ms without lowering the throughput ceiling (BENCHMARKS.md).
    pub max_batch_delay_ms: u64,
    /// The most batch digests a leader puts in one block.
    pub max_block_batches: usize,
    /// Reputation (default) or round-robin.
    pub leader_election: LeaderElection,
}

impl Default for Parameters {
    fn default() -> Self {
        Self {
            round_timeout_ms: 1_000,
            round_timeout_ms_max: 10_000,
            max_block_delay_ms: 100,
            sync_retry_ms: 300,
            payload_wait_ms: 50,
            resend_ms: 200,
            gc_depth_rounds: 50,
            retain_heights: 10_000,
            commit_rule: CommitRule::TwoChain,
            batch_size_bytes: 500_000,
            max_batch_delay_ms: 2,
            max_block_batches: 256,
            leader_election: LeaderElection::Reputation,
        }
    }
}

impl Parameters {
    /// Rejects parameters that cannot make progress.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: &str| Err(Error::InvalidParameters(why.to_string()));
        if self.round_timeout_ms == 0 {
            return bad("round_timeout_ms must be positive");
        }
        if self.round_timeout_ms_max < self.round_timeout_ms {
            return bad("round_timeout_ms_max must be at least round_timeout_ms");
        }
        if self.max_block_delay_ms >= self.round_timeout_ms {
            return bad("max_block_delay_ms must be below round_timeout_ms, or idle rounds time out");
        }
        if self.resend_ms == 0 || self.resend_ms >= self.round_timeout_ms {
            return bad("resend_ms must be positive and below round_timeout_ms");
        }
        if self.payload_wait_ms > self.sync_retry_ms {
            return bad("payload_wait_ms must be at most sync_retry_ms");
        }
        if self.sync_retry_ms == 0 || self.max_batch_delay_ms == 0 {
            return bad("sync_retry_ms and max_batch_delay_ms must be positive");
        }
        if self.batch_size_bytes == 0 {
            return bad("batch_size_bytes must be positive");
        }
        // A batch is sealed once it reaches batch_size_bytes, so it can exceed it by one
        // transaction; with its encoding overhead it must still fit in one frame, or peers could
        // never receive it.
        let batch_bytes_max =
            crate::codec::FRAME_BYTES_MAX - crate::mempool::TRANSACTION_SIZE_MAX - BATCH_OVERHEAD_BYTES;
        if self.batch_size_bytes > batch_bytes_max {
            return Err(Error::InvalidParameters(format!(
                "batch_size_bytes must be at most {batch_bytes_max} so that a full batch fits in one frame"
            )));
        }
        if self.retain_heights < RETAIN_HEIGHTS_MIN {
            return Err(Error::InvalidParameters(format!(
                "retain_heights must be at least {RETAIN_HEIGHTS_MIN}"
            )));
        }
        if self.max_block_batches == 0 || self.max_block_batches > crate::messages::BLOCK_PAYLOAD_MAX {
            return bad("max_block_batches must be in 1..=4096");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Parameters;

    #[test]
    fn default_parameters_are_valid() {
        Parameters::default().validate().unwrap();
    }

    #[test]
    fn a_batch_that_cannot_fit_in_a_frame_is_refused() {
        let params = Parameters { batch_size_bytes: crate::codec::FRAME_BYTES_MAX, ..Parameters::default() };
        let error = params.validate().unwrap_err().to_string();
        assert!(error.contains("batch_size_bytes"), "{error}");
    }

    #[test]
    fn an_idle_leader_must_propose_before_the_round_times_out() {
        let params =
            Parameters { max_block_delay_ms: 1_000, round_timeout_ms: 1_000, ..Parameters::default() };
        assert!(params.validate().unwrap_err().to_string().contains("max_block_delay_ms"));
    }
}
