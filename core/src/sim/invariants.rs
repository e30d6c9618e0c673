//! Safety checkers, run on every observed event of every step.
//!
//! | Invariant | Why it must hold |
//! |---|---|
//! | **Agreement**: no two honest replicas commit different blocks at one height | the point of BFT consensus (HotStuff paper, Theorem 2; Jolteon Lemma 3) |
//! | **Commits only extend**: each commit is one above the last and names it as parent | a replica never rolls back or forks its own log |
//! | **One vote per round**, across restarts too | the voting rule; persisting `last_voted_round` before sending makes it survive a crash |
//! | **Rounds never decrease** at a running replica; a restart resumes no lower than the last round it voted or timed out in | the pacemaker's monotonicity, and the persisted `last_voted_round` the voting rule relies on (a round entered but not voted in may be entered again after a crash: its change is persisted with the next vote) |
//! | **Certificates have a quorum** of distinct, valid signers | QCs and TCs are only as good as the `n - f` intersection argument |
//! | **A batch commits once**: no batch is in two committed blocks (checked on the blocks replicas deliver) | transactions execute once, even though batches of abandoned blocks are proposed again |
//!
//! The checker sees only the observation stream, never a replica's internals, so it checks what
//! replicas *did*, not what they believe.

use crate::committee::Committee;
use crate::event::{Event, Observed};
use crate::messages::Block;
use crate::types::{Digest, Height, NodeId, Round};
use std::collections::BTreeMap;

/// How many past rounds of votes to remember per replica (double votes are caught within this
/// window; older rounds are far below any commit and the voting rule's `round > last_voted_round`
/// test is what guards them).
const VOTE_HISTORY_ROUNDS: Round = 10_000;

#[derive(Debug, Default, Clone)]
struct ReplicaRecord {
    committed_height: Height,
    committed: Digest,
    round: Round,
    /// The highest round it voted or timed out in: its persisted `last_voted_round`.
    voted_round: Round,
    votes: BTreeMap<Round, Digest>,
}

/// The checkers' memory.
#[derive(Debug)]
pub struct Checker {
    committee: Committee,
    honest: Vec<bool>,
    replicas: Vec<ReplicaRecord>,
    /// The first block committed at each height, and by whom.
    committed: BTreeMap<Height, (Digest, NodeId)>,
    /// The height of the committed block that carried each batch.
    committed_batches: BTreeMap<Digest, Height>,
}

impl Checker {
    /// A checker for a committee whose members are all honest.
    pub fn new(committee: Committee) -> Self {
        let n = committee.size();
        let genesis = Block::genesis().digest();
        let record = ReplicaRecord { committed: genesis, ..ReplicaRecord::default() };
        Self {
            committee,
            honest: vec![true; n],
            replicas: vec![record; n],
            committed: BTreeMap::new(),
            committed_batches: BTreeMap::new(),
        }
    }

    /// Marks a replica as Byzantine: its own behaviour is not held to the rules.
    pub fn set_honest(&mut self, node: NodeId, honest: bool) {
        self.honest[node.index()] = honest;
    }

    /// Checks one event. `Err` describes the violated invariant.
    pub fn observe(&mut self, observed: &Observed) -> Result<(), String> {
        let node = observed.node;
        if !self.honest[node.index()] {
            return Ok(());
        }
        let record = &mut self.replicas[node.index()];
        match &observed.event {
            Event::RoundEntered { round, reason, .. } => {
                let restarted = matches!(reason, crate::event::RoundReason::Start);
                if restarted && *round < record.voted_round {
                    return Err(format!(
                        "monotonic rounds: {node} restarted in round {round} after voting in round {}",
                        record.voted_round
                    ));
                }
                if !restarted && *round <= record.round {
                    return Err(format!(
                        "monotonic rounds: {node} entered round {round} after round {}",
                        record.round
                    ));
                }
                record.round = *round;
            }
            Event::VoteSent { block, round, .. } => {
                record.voted_round = record.voted_round.max(*round);
                if let Some(earlier) = record.votes.insert(*round, *block) {
                    return Err(format!(
                        "one vote per round: {node} voted twice in round {round} ({earlier} then {block})"
                    ));
                }
                if record.votes.len() as u64 > VOTE_HISTORY_ROUNDS {
                    record.votes.pop_first();
                }
            }
            Event::TimeoutSent { round, .. } => {
                record.voted_round = record.voted_round.max(*round);
            }
            Event::BlockCommitted { block, .. } => {
                if block.height != record.committed_height + 1 || block.parent != record.committed {
                    return Err(format!(
                        "commits only extend: {node} committed {} at height {} on top of {} at height {}",
                        block.digest, block.height, record.committed, record.committed_height
                    ));
                }
                record.committed_height = block.height;
                record.committed = block.digest;
                match self.committed.get(&block.height) {
                    Some((digest, first)) if *digest != block.digest => {
                        return Err(format!(
                            "agreement: at height {} {first} committed {digest} but {node} committed {}",
                            block.height, block.digest
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(block.height, (block.digest, node));
                    }
                }
            }
            Event::QcFormed { qc } => {
                qc.verify(&self.committee)
                    .map_err(|e| format!("quorum certificates: {node} formed a bad QC: {e}"))?;
            }
            Event::TcFormed { tc } => {
                tc.verify(&self.committee)
                    .map_err(|e| format!("quorum certificates: {node} formed a bad TC: {e}"))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks a block a replica delivered as committed. `Err` describes the violated invariant.
    pub fn delivered(&mut self, node: NodeId, block: &Block) -> Result<(), String> {
        if !self.honest[node.index()] {
            return Ok(());
        }
        for (i, batch) in block.payload.iter().enumerate() {
            if block.payload[..i].contains(batch) {
                return Err(format!(
                    "a batch commits once: {node} committed batch {batch} twice in block {}",
                    block.digest()
                ));
            }
            match self.committed_batches.get(batch) {
                Some(height) if *height != block.height => {
                    return Err(format!(
                        "a batch commits once: {node} committed batch {batch} at height {} and at height {height}",
                        block.height
                    ));
                }
                Some(_) => {}
                None => {
                    self.committed_batches.insert(*batch, block.height);
                }
            }
        }
        Ok(())
    }

    /// The highest height committed by anyone.
    pub fn highest_committed(&self) -> Height {
        self.committed.keys().next_back().copied().unwrap_or(0)
    }
}
