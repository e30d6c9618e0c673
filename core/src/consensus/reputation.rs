//! Leader reputation: leaders chosen from the committed history, so that crashed replicas stop
//! being chosen ([`crate::LeaderElection::Reputation`]).
//!
//! Under round-robin, a crashed replica costs the committee two rounds each time its turn comes:
//! its own (nobody proposes), and the one before it (the votes go to it, as next leader, and
//! are lost). Both time out, and a commit needs two certified rounds in a row, so with f of
//! 3f + 1 replicas down the committee commits a small fraction of its usual rate (measured in
//! `tests/tests/liveness.rs`).
//!
//! The rule, after DiemBFT v4 and Aptos's `LeaderReputation`, made exact so that every honest
//! replica computes the same leader:
//!
//! - The leader of round `r` is read from the committed chain as it stood at round
//!   `r − EXCLUDE_ROUNDS`: the **anchor** is the committed block of the highest round at or below
//!   `r − EXCLUDE_ROUNDS`, and the **window** the `window` committed blocks ending at the anchor.
//!   A replica knows the anchor only once it has committed a block of round
//!   `r − EXCLUDE_ROUNDS` or above: committed chains never fork, so everything committed at or
//!   below that round is then among that block's ancestors, and every honest replica that knows
//!   the anchor knows the same one. A replica that does not (it is behind, or has just started
//!   and holds less than the window) falls back to round-robin, which is what everyone does while
//!   the committee commits nothing for `EXCLUDE_ROUNDS` rounds: a stalled committee goes back to
//!   giving every replica its turn.
//! - A replica is **active** if it authored a block of the window or signed the QC of one (those
//!   QCs certify the blocks just before). Active replicas weigh [`ACTIVE_WEIGHT`], the others 1,
//!   and the leader is drawn by weight with a pseudo-random number of the round. A crashed
//!   replica neither proposes nor votes, so it leaves the window and is drawn about once in
//!   `ACTIVE_WEIGHT × (n − f)` rounds; an honest replica that is merely slow (its votes are never
//!   among the first `n − f`) is drawn as rarely, and once its block commits it is active again.
//!
//! - A replica **failed** in the window if it was the leader of the last round of a gap between
//!   two committed blocks of the window (the rounds between a block's parent and the block timed
//!   out; the last of them is the one whose leader did not propose, or whose proposal did not
//!   gather a QC). That leader is computed as above from the activity weights alone (no failures:
//!   the rule stays a function of the committed chain, with no recursion). A replica whose
//!   failures are more than [`FAILURE_THRESHOLD_PERCENT`] of its turns in the window (failed plus
//!   committed proposals) weighs 1 whatever its activity. Without this, a replica that crashes
//!   while the committee runs stays active until its last proposals and votes leave the window:
//!   20 commits at n = 4, which a committee that loses a round in four makes slowly (a native
//!   committee at 50,000 tx/s stalled for 45 s after such a crash). With it, the first commit
//!   after its failed turn excludes it.
//!
//! Safety does not depend on who leads: the voting rule and the commit rule never read the
//! leader. A disagreement on the leader (a replica behind) costs only liveness: that replica
//! refuses the proposal of a leader it does not expect and sends its vote elsewhere.
//!
//! A Byzantine replica that proposes well but withholds votes stays active (any vote in the
//! window counts); one that never proposes is excluded by its failures, as a crashed one is.

use crate::committee::Committee;
use crate::messages::Block;
use crate::types::{Height, NodeId, Round};
use std::cell::RefCell;
use std::collections::VecDeque;

/// How many rounds below `r` the committed chain is read for the leader of `r`. A healthy
/// replica in round `r` has committed up to about `r − 2` (2-chain) or `r − 3` (3-chain), so
/// ten rounds leave room for replicas a little behind, and a stall of ten rounds without a commit
/// brings back round-robin.
pub const EXCLUDE_ROUNDS: Round = 10;

/// The round whose committed chain names the leader of `round` (`round − EXCLUDE_ROUNDS`), or
/// `None` in the first rounds, which have nothing that far back (they go in turn).
pub fn horizon(round: Round) -> Option<Round> {
    round.checked_sub(EXCLUDE_ROUNDS)
}

/// How many committed blocks, up to and including its last commit, a restarted replica of a
/// committee of `n` reads back from its store for the rule's history.
pub fn remembered_blocks(n: usize) -> Height {
    2 * (5 * n) as Height + 2 * EXCLUDE_ROUNDS + 1
}

/// The weight of an active replica in the draw; an inactive one weighs 1.
pub const ACTIVE_WEIGHT: u64 = 1_000;

/// A replica whose failed turns are more than this share of its turns in the window weighs 1.
/// (Aptos uses 10% too.) A healthy replica whose one proposal was lost among five is over it,
/// and leads less for a window; it still votes, and the committee keeps its pace.
pub const FAILURE_THRESHOLD_PERCENT: u64 = 10;

/// What the rule reads from one committed block.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    height: Height,
    round: Round,
    /// The round of its parent (its QC's).
    qc_round: Round,
    author: NodeId,
    /// The signers of the block's QC (the votes for its parent).
    voters: Vec<NodeId>,
}

/// The committed history the rule needs: the last `2 × (window + EXCLUDE_ROUNDS) + 1`
/// committed blocks (the anchor is at most `EXCLUDE_ROUNDS` blocks below the newest commit, one
/// block a round; the leaders of the failed rounds in its window are read from anchors up to
/// `EXCLUDE_ROUNDS + 1` blocks below the window, each with a window of its own).
#[derive(Clone, Debug)]
pub(crate) struct Reputation {
    window: usize,
    history: VecDeque<Entry>,
    /// The weights for the last anchor asked about (`leader` is called for every message).
    cache: RefCell<Option<(Height, Vec<u64>)>>,
}

/// The draw: the replica whose share of the total weight `mix(round)` falls in.
fn draw(weights: &[u64], round: Round) -> NodeId {
    let total: u64 = weights.iter().sum();
    let mut draw = mix(round) % total;
    for (i, weight) in weights.iter().enumerate() {
        if draw < *weight {
            return NodeId(i as u16);
        }
        draw -= weight;
    }
    unreachable!("the draw is below the total weight")
}

impl Reputation {
    /// A rule reading `window` committed blocks: five per member, so that every replica that is
    /// up has authored or signed for several of them.
    pub(crate) fn new(committee: &Committee) -> Self {
        let window = 5 * committee.size();
        debug_assert_eq!(2 * (window as Height + EXCLUDE_ROUNDS) + 1, remembered_blocks(committee.size()));
        Self { window, history: VecDeque::new(), cache: RefCell::new(None) }
    }

    /// How many committed blocks the rule holds (and a restarted replica reads back: see
    /// [`crate::store::recent_chain`]).
    fn capacity(&self) -> usize {
        2 * self.window + 2 * usize::try_from(EXCLUDE_ROUNDS).expect("small") + 1
    }

    /// Records a committed block (commits come in height order; a gap starts the history over).
    pub(crate) fn committed(&mut self, block: &Block) {
        if self.history.back().is_some_and(|last| last.height + 1 != block.height) {
            self.history.clear();
        }
        let voters = block.qc.votes.iter().map(|(signer, _)| *signer).collect();
        self.history.push_back(Entry {
            height: block.height,
            round: block.round,
            qc_round: block.qc.round,
            author: block.author,
            voters,
        });
        while self.history.len() > self.capacity() {
            self.history.pop_front();
        }
    }

    /// The leader of `round` by reputation, or `None` if this replica cannot know it (then the
    /// caller uses round-robin; see the module docs).
    pub(crate) fn leader(&self, committee: &Committee, round: Round) -> Option<NodeId> {
        let horizon = horizon(round)?;
        let newest = self.history.back()?;
        if newest.round < horizon {
            return None;
        }
        let anchor = self.history.iter().rposition(|entry| entry.round <= horizon)?;
        let anchor_height = self.history[anchor].height;
        // The history must reach down to the windows of the failed rounds' anchors (see
        // `capacity`); a replica holding less cannot know (just started, or restarted).
        let needed = anchor_height.saturating_sub(2 * self.window as Height + EXCLUDE_ROUNDS).max(1);
        let first = self.history.front().expect("not empty").height;
        if first > needed {
            return None;
        }
        let mut cache = self.cache.borrow_mut();
        if cache.as_ref().is_none_or(|(height, _)| *height != anchor_height) {
            *cache = Some((anchor_height, self.weights(committee, anchor)));
        }
        let (_, weights) = cache.as_ref().expect("just filled");
        Some(draw(weights, round))
    }

    /// The history index of the window's first block for the anchor at `anchor`.
    fn window_start(&self, anchor: usize) -> usize {
        anchor.saturating_sub(self.window - 1)
    }

    /// Activity alone: authors and QC signers of the window ending at `anchor` weigh
    /// [`ACTIVE_WEIGHT`], the others 1.
    fn activity(&self, committee: &Committee, anchor: usize) -> Vec<u64> {
        let mut weights = vec![1; committee.size()];
        for entry in self.history.range(self.window_start(anchor)..=anchor) {
            for id in std::iter::once(&entry.author).chain(&entry.voters) {
                if let Some(weight) = weights.get_mut(id.index()) {
                    *weight = ACTIVE_WEIGHT;
                }
            }
        }
        weights
    }

    /// Activity, less the replicas that failed too many of their turns in the window.
    fn weights(&self, committee: &Committee, anchor: usize) -> Vec<u64> {
        let mut weights = self.activity(committee, anchor);
        let (mut proposed, mut failed) = (vec![0u64; weights.len()], vec![0u64; weights.len()]);
        for index in self.window_start(anchor)..=anchor {
            let entry = &self.history[index];
            if let Some(count) = proposed.get_mut(entry.author.index()) {
                *count += 1;
            }
            // The last timed-out round before this block, if any, and who led it (as drawn
            // from activity at its own anchor; round-robin where the history does not say).
            if entry.round > entry.qc_round + 1 {
                let last_failed = entry.round - 1;
                let leader = horizon(last_failed)
                    .and_then(|horizon| self.history.iter().rposition(|e| e.round <= horizon))
                    .map_or_else(
                        || committee.leader(last_failed),
                        |anchor| draw(&self.activity(committee, anchor), last_failed),
                    );
                if let Some(count) = failed.get_mut(leader.index()) {
                    *count += 1;
                }
            }
        }
        for ((weight, proposed), failed) in weights.iter_mut().zip(proposed).zip(failed) {
            if failed * 100 > (failed + proposed) * FAILURE_THRESHOLD_PERCENT {
                *weight = 1;
            }
        }
        weights
    }
}

/// SplitMix64's finaliser: a fixed, well-spread function of the round (the same on every
/// platform). Nobody can steer it: the round is not chosen by anyone.
fn mix(round: Round) -> u64 {
    let mut z = round.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
