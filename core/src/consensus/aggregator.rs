//! Gathers votes into QCs and timeouts into TCs.
//!
//! One vote per replica per round: a second, different vote is equivocation and is refused.
//! Certificates are formed exactly once, from the first `n - f` signers, sorted by node id so that
//! every replica that forms the same certificate forms the same bytes.

use crate::committee::Committee;
use crate::crypto::Signature;
use crate::error::Error;
use crate::messages::{QuorumCert, Timeout, TimeoutCert, Vote};
use crate::types::{Digest, Height, NodeId, Round};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
struct RoundVotes {
    /// Which statement (block and height) each voter signed, to detect equivocation.
    choice: BTreeMap<NodeId, (Digest, Height)>,
    /// Votes per signed statement. Keyed by the whole statement, not the digest alone: a vote
    /// for the right digest at a wrong height verifies on its own but would spoil the QC.
    by_statement: BTreeMap<(Digest, Height), BTreeMap<NodeId, Signature>>,
    formed: bool,
}

#[derive(Debug, Default)]
struct RoundTimeouts {
    by_author: BTreeMap<NodeId, (Signature, Round)>,
    /// The highest QC any of these timeouts carried: it goes into the TC.
    high_qc: Option<QuorumCert>,
    formed: bool,
}

/// What adding a timeout produced.
#[derive(Debug, Default)]
pub(crate) struct TimeoutProgress {
    /// Distinct signers so far for this round.
    pub(crate) count: usize,
    /// The TC, the first time `n - f` is reached.
    pub(crate) tc: Option<TimeoutCert>,
}

/// Vote and timeout collections, per round.
#[derive(Debug, Default)]
pub(crate) struct Aggregator {
    votes: BTreeMap<Round, RoundVotes>,
    timeouts: BTreeMap<Round, RoundTimeouts>,
}

impl Aggregator {
    /// Adds a (verified) vote. Returns a QC when this vote completes a quorum.
    pub(crate) fn add_vote(
        &mut self,
        committee: &Committee,
        vote: &Vote,
    ) -> Result<Option<QuorumCert>, Error> {
        let round = self.votes.entry(vote.round).or_default();
        let statement = (vote.block, vote.height);
        match round.choice.get(&vote.author) {
            Some(earlier) if *earlier == statement => return Ok(None),
            Some(_) => return Err(Error::Equivocation { author: vote.author, round: vote.round }),
            None => {}
        }
        round.choice.insert(vote.author, statement);
        let signatures = round.by_statement.entry(statement).or_default();
        signatures.insert(vote.author, vote.signature);
        if round.formed || signatures.len() < committee.quorum_threshold() {
            return Ok(None);
        }
        round.formed = true;
        let votes = signatures.iter().map(|(id, sig)| (*id, *sig)).collect();
        Ok(Some(QuorumCert { block: vote.block, round: vote.round, height: vote.height, votes }))
    }

    /// Adds a (verified) timeout. A replica's later timeouts for the same round are ignored.
    pub(crate) fn add_timeout(&mut self, committee: &Committee, timeout: &Timeout) -> TimeoutProgress {
        let round = self.timeouts.entry(timeout.round).or_default();
        if round.by_author.contains_key(&timeout.author) {
            return TimeoutProgress { count: round.by_author.len(), tc: None };
        }
        round.by_author.insert(timeout.author, (timeout.signature, timeout.high_qc.round));
        if round.high_qc.as_ref().is_none_or(|qc| qc.round < timeout.high_qc.round) {
            round.high_qc = Some(timeout.high_qc.clone());
        }
        let count = round.by_author.len();
        if round.formed || count < committee.quorum_threshold() {
            return TimeoutProgress { count, tc: None };
        }
        round.formed = true;
        let timeouts = round.by_author.iter().map(|(id, (sig, hqc))| (*id, *sig, *hqc)).collect();
        // At least one timeout was added, so a highest QC exists.
        let high_qc = Box::new(round.high_qc.clone().expect("a TC has timeouts"));
        TimeoutProgress { count, tc: Some(TimeoutCert { round: timeout.round, timeouts, high_qc }) }
    }

    /// Whether `author`'s vote for `round` is held (a leader's own vote for the round it
    /// collects is added here, not sent).
    pub(crate) fn holds_vote(&self, round: Round, author: NodeId) -> bool {
        self.votes.get(&round).is_some_and(|r| r.choice.contains_key(&author))
    }

    /// The most votes held for any one block of `round`.
    pub(crate) fn votes_for(&self, round: Round) -> usize {
        self.votes.get(&round).map_or(0, |r| r.by_statement.values().map(|s| s.len()).max().unwrap_or(0))
    }

    /// How many replicas' timeouts for `round` are held.
    pub(crate) fn timeouts_for(&self, round: Round) -> usize {
        self.timeouts.get(&round).map_or(0, |r| r.by_author.len())
    }

    /// Forgets everything below `round`: those certificates can no longer move anyone forward.
    pub(crate) fn prune_below(&mut self, round: Round) {
        self.votes = self.votes.split_off(&round);
        self.timeouts = self.timeouts.split_off(&round);
    }
}
