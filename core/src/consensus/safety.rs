//! The safety rules as pure functions: when a replica may vote, and when a block is committed.
//!
//! These are the whole of what makes HotStuff safe; everything else in consensus is about
//! liveness. They are kept apart so that each rule can be read, and tested, on its own.

use crate::event::{NoVoteReason, VoteRule};
use crate::messages::Block;
use crate::params::CommitRule;
use crate::types::Round;

/// The part of a replica's state that the voting rule reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VoterState {
    /// The replica's current round.
    pub(crate) round: Round,
    /// The last round it voted or timed out in: it never votes at or below this again.
    pub(crate) last_voted_round: Round,
    /// 3-chain only: the preferred (locked) round.
    pub(crate) locked_round: Round,
}

/// May a replica in state `voter` vote for `block`? Returns the rule that allows it, or why not.
///
/// 1. **Vote once per round, in increasing rounds** (both variants): `block.round` is the current
///    round and above `last_voted_round`. Timing out in a round also counts as having voted in it:
///    a replica that timed out never votes in that round afterwards (it may still time out after
///    voting, so a QC and a TC can both form for one round; the TC's high QCs then include it).
/// 2. **2-chain (Jolteon)**: the block extends the QC of the previous round
///    (`qc.round + 1 == round`), or the previous round timed out and the block's QC is at least
///    the highest QC any of the `n - f` timeout signers had. Any block that may have been
///    committed was certified by `n - f` replicas, at least one of which is in the TC, so the
///    new block extends it.
/// 3. **3-chain (chained HotStuff)**: the block's QC is at least the locked round.
pub(crate) fn vote_rule(
    rule: CommitRule,
    voter: VoterState,
    block: &Block,
) -> Result<VoteRule, NoVoteReason> {
    if block.round != voter.round {
        return Err(NoVoteReason::NotCurrentRound { round: voter.round });
    }
    if block.round <= voter.last_voted_round {
        return Err(NoVoteReason::AlreadyVoted { last_voted_round: voter.last_voted_round });
    }
    match rule {
        CommitRule::TwoChain | CommitRule::UnsafeOneChain => {
            if block.qc.round + 1 == block.round {
                return Ok(VoteRule::ConsecutiveQc);
            }
            match &block.tc {
                Some(tc) if tc.round + 1 == block.round => {
                    let tc_high_qc_round = tc.high_qc_round();
                    if block.qc.round >= tc_high_qc_round {
                        Ok(VoteRule::TcWithHighestQc { tc_high_qc_round })
                    } else {
                        Err(NoVoteReason::QcBelowTcHighQc { qc_round: block.qc.round, tc_high_qc_round })
                    }
                }
                _ => Err(NoVoteReason::NotJustified),
            }
        }
        CommitRule::ThreeChain => {
            if block.qc.round >= voter.locked_round {
                Ok(VoteRule::ExtendsLock { locked_round: voter.locked_round })
            } else {
                Err(NoVoteReason::BelowLock { qc_round: block.qc.round, locked_round: voter.locked_round })
            }
        }
    }
}

/// The commit rule. `chain` is the certified block followed by its ancestors, newest first
/// (`[b1, b0]` for 2-chain, `[b2, b1, b0]` for 3-chain, where the newest one holds a QC).
/// Returns the block to commit (the oldest of the chain) when the chain's rounds are consecutive.
///
/// **2-chain**: `b0 <- b1` with `b1.round == b0.round + 1` and a QC for `b1`. `n - f` replicas
/// voted for `b1` in round `b0.round + 1`, so none of them timed out in that round with a high QC
/// below `b0`; every later TC therefore reports a high QC of at least `b0.round`, and no block
/// that skips `b0` can gather votes.
///
/// **3-chain**: `b0 <- b1 <- b2` in consecutive rounds with a QC for `b2`: `n - f` replicas
/// locked on `b0` before any later round could start.
pub(crate) fn committed_by<'a>(rule: CommitRule, chain: &[&'a Block]) -> Option<&'a Block> {
    let depth = chain_depth(rule);
    if chain.len() < depth {
        return None;
    }
    let consecutive = chain[..depth]
        .windows(2)
        .all(|pair| pair[0].round == pair[1].round + 1 && pair[0].parent() == pair[1].digest());
    consecutive.then(|| chain[depth - 1])
}

/// How many blocks (the certified one and its ancestors) the commit rule looks at.
pub(crate) fn chain_depth(rule: CommitRule) -> usize {
    match rule {
        // The unsafe variant looks at the certified block alone: that is what makes it unsafe.
        CommitRule::UnsafeOneChain => 1,
        CommitRule::TwoChain => 2,
        CommitRule::ThreeChain => 3,
    }
}
