//! Byzantine replicas for the simulator: alternative [`ConsensusCore`]s.
//!
//! Each one runs an honest [`Consensus`] inside (so it keeps up with rounds, keys and
//! certificates) and then corrupts what it *says*: it drops, duplicates, forks, forges or replays
//! messages. Nothing here touches the honest code; a misbehaving replica is a different state
//! machine plugged into the same actor shell. The safety checkers do not hold these replicas to
//! the rules (they are marked dishonest); they check that the honest ones stay safe.

use crate::committee::Committee;
use crate::consensus::{Action, Consensus, ConsensusCore, Input};
use crate::crypto::KeyPair;
use crate::crypto::Signature;
use crate::messages::{Block, ConsensusMessage, QuorumCert, Vote};
use crate::time::Time;
use crate::types::{Digest, NodeId, Round};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// Messages a replaying replica remembers for later replay.
const REPLAY_MEMORY: usize = 64;
/// Rounds of proposals a double voter remembers having voted for.
const VOTED_MEMORY: usize = 256;
/// Rounds below its own that a forker keeps votes, certificates and proposals for.
const FORK_MEMORY: Round = 8;
/// How long a forker leading a round waits for the second branch's QC (a few network hops).
const FORK_WAIT_MS: u64 = 100;

/// How a Byzantine replica misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Says nothing at all (but keeps following the protocol in its head).
    Silent,
    /// As leader, sends one block to half of its peers and a conflicting one to the others.
    Equivocator,
    /// Votes for every valid proposal it sees, ignoring the voting rule (so for both halves of
    /// an equivocation).
    DoubleVoter,
    /// Re-sends old messages and sends votes for rounds far in the future.
    StaleReplayer,
    /// Sends proposals whose QC lacks a quorum and votes with broken signatures.
    Forger,
    /// As leader, adds batches that are already committed to its proposals: their payload is
    /// available everywhere, so only the rule that a batch commits once stops them.
    BatchReplayer,
    /// As the leader of a round entered by a timeout certificate, extends an older QC than the
    /// TC's highest (the highest it saw below that), abandoning the block the TC's highest QC
    /// certifies. Only the TC rule (a block after a TC extends at least the TC's highest QC)
    /// stops it: that block may be committed.
    StaleQcExtender,
    /// With its fellow forkers, splits the honest replicas in two halves and runs a branch on
    /// each: as leader it sends one block to each half (its fellows get both), on a different QC
    /// of the previous round when it holds two, else with different (real, available) batches;
    /// it votes for every valid block it sees, and as the next leader forms a QC for each
    /// branch. With n = 3f + 1, up to f forkers cannot certify both branches (the smaller half
    /// and they fall short of a quorum); f + 1 forkers leading three consecutive rounds (under
    /// the 2-chain rule: the fork's first round, the round that extends each branch, and the one
    /// whose QCs commit) make each half commit its own block. The plain round-robin gives f + 1
    /// forkers with consecutive ids three such rounds from n = 7; at n = 4 it takes a leader
    /// schedule, as in the page's preset.
    Forker,
    /// As leader, shows its proposal (and the QC inside it) to only half of its peers (every
    /// other one, in committee order); the others learn the QC late, or time out with an older
    /// high QC, and the next leaders must not lose the certified block. (At n = 4 the half it
    /// shows is 2 of 3 peers, with its own vote a quorum.)
    QcWithholder,
    /// Sends its timeouts with its real high QC to half of its peers and with the genesis QC
    /// to the others, so that timeout certificates of one round report different high QCs.
    TimeoutSplitter,
    /// Sends no vote in odd rounds (as the next leader it still counts its own): with f = 1, a
    /// QC of such a round needs every other replica's vote.
    VoteWithholder,
    /// Answers every request for blocks with a lie: a block it made up in place of the one
    /// asked for, and ranges of the committed chain with a block left out or made up.
    SyncLiar,
}

impl Behaviour {
    /// All behaviours, for sweeps and menus.
    pub const ALL: [Self; 12] = [
        Self::Silent,
        Self::Equivocator,
        Self::DoubleVoter,
        Self::StaleReplayer,
        Self::Forger,
        Self::BatchReplayer,
        Self::StaleQcExtender,
        Self::Forker,
        Self::QcWithholder,
        Self::TimeoutSplitter,
        Self::VoteWithholder,
        Self::SyncLiar,
    ];
}

/// A Byzantine replica: an honest core inside, a behaviour outside.
#[derive(Debug)]
pub struct Byzantine {
    behaviour: Behaviour,
    inner: Consensus,
    id: NodeId,
    keys: KeyPair,
    committee: Committee,
    voted: VecDeque<Digest>,
    voted_index: BTreeSet<Digest>,
    replay: VecDeque<(NodeId, ConsensusMessage)>,
    /// Batch replayer: batches of the blocks it committed, newest last.
    committed_batches: VecDeque<Digest>,
    /// Stale QC extender: the QCs of the proposals it received, newest last.
    seen_qcs: VecDeque<QuorumCert>,
    /// Forker: its coalition and what it has collected.
    fork: Fork,
}

/// What a forker knows: its coalition, the votes it collected and the QCs it holds, for the
/// last [`FORK_MEMORY`] rounds. (Plain vectors, searched linearly: they hold a few dozen entries,
/// and every map type instantiated here would add kilobytes to the page's wasm.)
#[derive(Debug, Default)]
struct Fork {
    /// The forkers (itself included): they get both branches.
    coalition: BTreeSet<NodeId>,
    /// Verified votes.
    votes: Vec<Vote>,
    /// Certificates formed or seen (one per block).
    qcs: Vec<QuorumCert>,
    /// Valid proposals seen, `(round, digest)`: two in a round means a fork is under way.
    proposals: Vec<(Round, Digest)>,
    /// Rounds it proposed in.
    proposed: Vec<Round>,
    /// Its honest core's proposal, held while a fork is under way and the second branch's QC
    /// may still form, with the time it gives up waiting and proposes it to everyone.
    held: Option<(Block, Time)>,
}

impl Byzantine {
    /// Wraps an honest core.
    pub fn new(behaviour: Behaviour, inner: Consensus, keys: KeyPair, committee: Committee) -> Self {
        let id = inner.id();
        Self {
            behaviour,
            inner,
            id,
            keys,
            committee,
            voted: VecDeque::new(),
            voted_index: BTreeSet::new(),
            replay: VecDeque::new(),
            committed_batches: VecDeque::new(),
            seen_qcs: VecDeque::new(),
            fork: Fork::default(),
        }
    }

    /// The replicas that run [`Behaviour::Forker`] with this one (it sends them both branches).
    pub fn with_coalition(mut self, coalition: impl IntoIterator<Item = NodeId>) -> Self {
        self.fork.coalition = coalition.into_iter().chain([self.id]).collect();
        self
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.committee.ids().filter(move |p| *p != self.id)
    }

    fn send_all(&self, message: &ConsensusMessage, out: &mut Vec<Action>) {
        for to in self.peers() {
            out.push(Action::Send { to, message: message.clone() });
        }
    }

    /// Double voter: a vote for every valid proposal, rule or no rule.
    fn vote_for_everything(&mut self, input: &Input, out: &mut Vec<Action>) {
        let Input::Message { message: ConsensusMessage::Propose(block), .. } = input else { return };
        let digest = block.digest();
        if block.verify(&self.committee).is_err() || self.voted_index.contains(&digest) {
            return;
        }
        if self.voted.len() == VOTED_MEMORY {
            if let Some(old) = self.voted.pop_front() {
                self.voted_index.remove(&old);
            }
        }
        self.voted.push_back(digest);
        self.voted_index.insert(digest);
        let to = self.inner.leader(block.round + 1);
        if to != self.id {
            out.push(Action::Send {
                to,
                message: ConsensusMessage::Vote(Vote::new(&self.keys, self.id, block)),
            });
        }
    }

    /// Equivocator: the same round, two blocks. The twin drops the last batch (or, with no
    /// payload, carries a made-up one), so the two digests differ.
    fn equivocate(&self, block: &Block, out: &mut Vec<Action>) {
        let mut payload = block.payload.clone();
        if payload.pop().is_none() {
            payload.push(Digest::of(&block.round.to_le_bytes()));
        }
        let twin = Block::new(&self.keys, self.id, block.round, block.qc.clone(), block.tc.clone(), payload);
        for (i, to) in self.peers().enumerate() {
            let which = if i % 2 == 0 { block.clone() } else { twin.clone() };
            out.push(Action::Send { to, message: ConsensusMessage::Propose(which) });
        }
    }

    /// Forger: a QC cut below quorum (re-signed, so only the QC is wrong) and broken vote signatures.
    fn forge(&self, message: ConsensusMessage) -> ConsensusMessage {
        match message {
            ConsensusMessage::Propose(block) => {
                let mut qc = block.qc.clone();
                qc.votes.truncate(1);
                ConsensusMessage::Propose(Block::new(
                    &self.keys,
                    self.id,
                    block.round,
                    qc,
                    block.tc.clone(),
                    block.payload,
                ))
            }
            ConsensusMessage::Vote(mut vote) => {
                vote.signature = vote.signature.corrupted();
                ConsensusMessage::Vote(vote)
            }
            other => other,
        }
    }

    /// Batch replayer: the block with committed batches added (the oldest it remembers, which
    /// honest replicas are likelier to have forgotten), re-signed.
    fn replay_batches(&self, block: &Block) -> Block {
        let mut payload = block.payload.clone();
        for batch in self.committed_batches.iter().take(4) {
            if payload.len() < crate::messages::BLOCK_PAYLOAD_MAX && !payload.contains(batch) {
                payload.push(*batch);
            }
        }
        Block::new(&self.keys, self.id, block.round, block.qc.clone(), block.tc.clone(), payload)
    }

    /// Stale QC extender: after a TC, the block re-made to extend the highest QC it saw below
    /// the TC's highest (unchanged without a TC, or without such a QC).
    fn extend_stale_qc(&self, block: &Block) -> Block {
        let Some(tc) = &block.tc else { return block.clone() };
        let below = tc.high_qc_round();
        let stale = self.seen_qcs.iter().filter(|qc| qc.round < below).max_by_key(|qc| qc.round);
        match stale {
            Some(qc) => Block::new(
                &self.keys,
                self.id,
                block.round,
                qc.clone(),
                block.tc.clone(),
                block.payload.clone(),
            ),
            None => block.clone(),
        }
    }

    /// Stale replayer: with every message, an old one again, and a vote from the far future.
    fn replay(&mut self, to: NodeId, message: &ConsensusMessage, round: Round, out: &mut Vec<Action>) {
        if let Some((old_to, old)) = self.replay.front().cloned() {
            out.push(Action::Send { to: old_to, message: old });
        }
        if self.replay.len() == REPLAY_MEMORY {
            self.replay.pop_front();
        }
        self.replay.push_back((to, message.clone()));
        let fake = Block::new(&self.keys, self.id, round + 50, QuorumCert::genesis(), None, Vec::new());
        out.push(Action::Send { to, message: ConsensusMessage::Vote(Vote::new(&self.keys, self.id, &fake)) });
    }

    /// Peers at even positions (of its peers, in committee order): the half that it shows things.
    fn half(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers().step_by(2)
    }

    /// Sync liar: a block it made up (valid: signed, for a round it would lead under round-robin, on the genesis QC,
    /// with a batch nobody has), for any block asked of it.
    fn made_up_block(&self) -> Block {
        let round = (1..).find(|r| self.committee.leader(*r) == self.id).expect("every member leads a round");
        let batch = Digest::of(b"a batch the sync liar made up");
        Block::new(&self.keys, self.id, round, QuorumCert::genesis(), None, vec![batch])
    }

    /// Sync liar: a range of the committed chain with a gap in the middle, or with its last
    /// block made up.
    fn lie_about_chain(&self, mut blocks: Vec<Block>) -> Vec<Block> {
        if blocks.len() > 2 {
            blocks.remove(blocks.len() / 2);
        } else {
            blocks.pop();
            blocks.push(self.made_up_block());
        }
        blocks
    }

    /// Timeout splitter: its timeout to half of its peers, and one for the same round with the
    /// genesis QC to the others.
    fn split_timeout(&self, timeout: &crate::Timeout, out: &mut Vec<Action>) {
        let old = crate::Timeout::new(&self.keys, self.id, timeout.round, QuorumCert::genesis());
        for (i, to) in self.peers().enumerate() {
            // Even positions are `half()`.
            let which = if i % 2 == 0 { timeout.clone() } else { old.clone() };
            out.push(Action::Send { to, message: ConsensusMessage::Timeout(which) });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Forker.

    /// The half of the honest replicas `node` is in (`false`: left), or `None` for a forker.
    fn half_of(&self, node: NodeId) -> Option<bool> {
        if self.fork.coalition.contains(&node) {
            return None;
        }
        let honest = self.committee.ids().filter(|n| !self.fork.coalition.contains(n));
        honest.enumerate().find(|(_, n)| *n == node).map(|(i, _)| i % 2 == 1)
    }

    /// Adds a verified vote to its own collection (every block of a round, unlike an honest
    /// aggregator, which takes one vote per replica and round).
    fn collect_vote(&mut self, vote: &Vote) {
        let same = |v: &Vote| (v.round, v.block, v.height) == (vote.round, vote.block, vote.height);
        if self.fork.votes.iter().any(|v| same(v) && v.author == vote.author) {
            return;
        }
        self.fork.votes.push(vote.clone());
        let mut votes: Vec<(NodeId, Signature)> =
            self.fork.votes.iter().filter(|v| same(v)).map(|v| (v.author, v.signature)).collect();
        if votes.len() == self.committee.quorum_threshold() {
            votes.sort_by_key(|(id, _)| *id);
            self.remember_qc(QuorumCert { block: vote.block, round: vote.round, height: vote.height, votes });
        }
    }

    fn remember_qc(&mut self, qc: QuorumCert) {
        if !self.fork.qcs.iter().any(|k| k.block == qc.block) {
            self.fork.qcs.push(qc);
        }
    }

    /// A valid block, seen or made: its QC is remembered and it gets a vote (each block once).
    fn fork_see(&mut self, block: &Block, out: &mut Vec<Action>) {
        if block.verify(&self.committee).is_err() {
            return;
        }
        self.remember_qc(block.qc.clone());
        let seen = (block.round, block.digest());
        if self.fork.proposals.contains(&seen) {
            return;
        }
        self.fork.proposals.push(seen);
        let vote = Vote::new(&self.keys, self.id, block);
        match self.inner.leader(block.round + 1) {
            to if to == self.id => self.collect_vote(&vote),
            to => out.push(Action::Send { to, message: ConsensusMessage::Vote(vote) }),
        }
    }

    /// `left` to the left half, `right` to the right half, both to the coalition; a vote for each.
    fn fork_send(&mut self, left: Block, right: Block, out: &mut Vec<Action>) {
        for to in self.peers() {
            let half = self.half_of(to);
            if half != Some(true) {
                out.push(Action::Send { to, message: ConsensusMessage::Propose(left.clone()) });
            }
            if half != Some(false) {
                out.push(Action::Send { to, message: ConsensusMessage::Propose(right.clone()) });
            }
        }
        self.fork.proposed.push(left.round);
        self.fork_see(&left, out);
        self.fork_see(&right, out);
    }

    /// A block to everyone, as an honest leader would send it.
    fn fork_send_one(&mut self, block: Block, out: &mut Vec<Action>) {
        self.send_all(&ConsensusMessage::Propose(block.clone()), out);
        self.fork.proposed.push(block.round);
        self.fork_see(&block, out);
    }

    /// A QC of `round` for each half (the half of an honest signer), if it holds both.
    fn branch_qcs(&self, round: Round) -> Option<(QuorumCert, QuorumCert)> {
        let side = |qc: &&QuorumCert| qc.votes.iter().find_map(|(id, _)| self.half_of(*id));
        let mut qcs = self.fork.qcs.iter().filter(|qc| qc.round == round);
        let left = qcs.clone().find(|qc| side(qc) == Some(false))?;
        let right = qcs.find(|qc| side(qc) == Some(true))?;
        Some((left.clone(), right.clone()))
    }

    /// Leads `round` with one branch per half, if it holds a QC of the round before for each.
    fn fork_lead(&mut self, round: Round, payload: Vec<Digest>, out: &mut Vec<Action>) -> bool {
        if self.inner.leader(round) != self.id || self.fork.proposed.contains(&round) {
            return false;
        }
        let Some((left, right)) = round.checked_sub(1).and_then(|before| self.branch_qcs(before)) else {
            return false;
        };
        let left = Block::new(&self.keys, self.id, round, left, None, payload.clone());
        let right = Block::new(&self.keys, self.id, round, right, None, payload);
        self.fork.held = None;
        self.fork_send(left, right, out);
        true
    }

    /// Its honest core's proposal: continues a fork under way, or starts one with two payloads
    /// on the same QC (the second drops the last batch: both are real and available).
    fn fork_propose(&mut self, now: Time, block: Block, out: &mut Vec<Action>) {
        let round = block.round;
        if self.fork.proposed.contains(&round) || self.fork_lead(round, block.payload.clone(), out) {
            return;
        }
        if block.tc.is_some() || block.qc.round + 1 != round {
            return self.fork_send_one(block, out);
        }
        if self.fork.proposals.iter().filter(|(r, _)| *r == block.qc.round).count() > 1 {
            // A fork is under way: wait a little for the other branch's QC.
            self.fork.held = Some((block, Time(now.0 + FORK_WAIT_MS)));
            return;
        }
        let mut payload = block.payload.clone();
        if payload.pop().is_none() {
            // Nothing to tell two blocks apart by: one block to everyone, and a fork in a round
            // with batches.
            return self.fork_send_one(block, out);
        }
        let right = Block::new(&self.keys, self.id, round, block.qc.clone(), None, payload);
        self.fork_send(block, right, out);
    }

    fn handle_forker(&mut self, now: Time, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        if let Input::Message { message, .. } = &input {
            match message {
                ConsensusMessage::Vote(vote) if vote.verify(&self.committee).is_ok() => {
                    self.collect_vote(vote)
                }
                ConsensusMessage::Propose(block) => self.fork_see(block, &mut out),
                _ => {}
            }
        }
        for action in self.inner.handle(now, input) {
            match action {
                // It votes itself (for every block), in `fork_see`.
                Action::Send { message: ConsensusMessage::Vote(_), .. } => {}
                Action::Broadcast { message: ConsensusMessage::Propose(block) } => {
                    self.fork_propose(now, block, &mut out);
                }
                action => out.push(action),
            }
        }
        let round = self.inner.view().round;
        let payload = self.fork.held.as_ref().map(|(block, _)| block.payload.clone()).unwrap_or_default();
        if !self.fork_lead(round, payload, &mut out) {
            match self.fork.held.take() {
                Some((block, _)) if block.round != round => {}
                Some((block, deadline)) if deadline <= now => self.fork_send_one(block, &mut out),
                held => self.fork.held = held,
            }
        }
        let keep = round.saturating_sub(FORK_MEMORY);
        self.fork.votes.retain(|v| v.round >= keep);
        self.fork.qcs.retain(|qc| qc.round >= keep);
        self.fork.proposals.retain(|(r, _)| *r >= keep);
        self.fork.proposed.retain(|r| *r >= keep);
        out
    }
}

impl ConsensusCore for Byzantine {
    fn handle(&mut self, now: Time, input: Input) -> Vec<Action> {
        if self.behaviour == Behaviour::Forker {
            return self.handle_forker(now, input);
        }
        let mut out = Vec::new();
        if self.behaviour == Behaviour::DoubleVoter {
            self.vote_for_everything(&input, &mut out);
        }
        if self.behaviour == Behaviour::StaleQcExtender {
            if let Input::Message { message: ConsensusMessage::Propose(block), .. } = &input {
                if block.verify(&self.committee).is_ok()
                    && !self.seen_qcs.iter().any(|qc| qc.block == block.qc.block)
                {
                    self.seen_qcs.push_back(block.qc.clone());
                    if self.seen_qcs.len() > REPLAY_MEMORY {
                        self.seen_qcs.pop_front();
                    }
                }
            }
        }
        let round = self.inner.view().round;
        // Stale QC extender: the block it replaced this step, whose vote from its own honest core
        // must not leave (it votes for the stale block instead: one vote a round, like a voter
        // whose rule was the only thing broken).
        let mut replaced = None;
        for action in self.inner.handle(now, input) {
            match (self.behaviour, action) {
                (Behaviour::StaleQcExtender, Action::Send { message: ConsensusMessage::Vote(vote), .. })
                    if replaced == Some(vote.block) => {}
                (
                    Behaviour::Silent,
                    Action::Send { .. }
                    | Action::Broadcast { .. }
                    | Action::ServeFromStore { .. }
                    | Action::ServeChainFromStore { .. },
                ) => {}
                (Behaviour::Equivocator, Action::Broadcast { message: ConsensusMessage::Propose(block) }) => {
                    self.equivocate(&block, &mut out);
                }
                (Behaviour::Forger, Action::Send { to, message }) => {
                    out.push(Action::Send { to, message: self.forge(message) });
                }
                (Behaviour::Forger, Action::Broadcast { message }) => {
                    let forged = self.forge(message);
                    self.send_all(&forged, &mut out);
                }
                (Behaviour::BatchReplayer, Action::Commit(block)) => {
                    self.committed_batches.extend(block.payload.iter().copied());
                    while self.committed_batches.len() > REPLAY_MEMORY {
                        self.committed_batches.pop_front();
                    }
                    out.push(Action::Commit(block));
                }
                (
                    Behaviour::BatchReplayer,
                    Action::Broadcast { message: ConsensusMessage::Propose(block) },
                ) => {
                    let replayed = self.replay_batches(&block);
                    self.send_all(&ConsensusMessage::Propose(replayed), &mut out);
                }
                (
                    Behaviour::StaleQcExtender,
                    Action::Broadcast { message: ConsensusMessage::Propose(block) },
                ) => {
                    let stale = self.extend_stale_qc(&block);
                    self.send_all(&ConsensusMessage::Propose(stale.clone()), &mut out);
                    if stale != block {
                        replaced = Some(block.digest());
                        // And its own vote for it (its honest core votes for the block it made).
                        let to = self.inner.leader(stale.round + 1);
                        let vote = ConsensusMessage::Vote(Vote::new(&self.keys, self.id, &stale));
                        if to != self.id {
                            out.push(Action::Send { to, message: vote });
                        }
                    }
                }
                (
                    Behaviour::QcWithholder,
                    Action::Broadcast { message: message @ ConsensusMessage::Propose(_) },
                ) => {
                    out.extend(self.half().map(|to| Action::Send { to, message: message.clone() }));
                }
                (
                    Behaviour::TimeoutSplitter,
                    Action::Broadcast { message: ConsensusMessage::Timeout(timeout) },
                ) => {
                    self.split_timeout(&timeout, &mut out);
                }
                (Behaviour::VoteWithholder, Action::Send { message: ConsensusMessage::Vote(vote), .. })
                    if vote.round % 2 == 1 => {}
                (Behaviour::SyncLiar, Action::Send { to, message: ConsensusMessage::SyncResponse(_) })
                | (Behaviour::SyncLiar, Action::ServeFromStore { to, .. }) => {
                    out.push(Action::Send {
                        to,
                        message: ConsensusMessage::SyncResponse(self.made_up_block()),
                    });
                }
                (
                    Behaviour::SyncLiar,
                    Action::Send { to, message: ConsensusMessage::ChainResponse(blocks) },
                ) => {
                    let lie = ConsensusMessage::ChainResponse(self.lie_about_chain(blocks));
                    out.push(Action::Send { to, message: lie });
                }
                (Behaviour::SyncLiar, Action::ServeChainFromStore { to, .. }) => {
                    let lie = ConsensusMessage::ChainResponse(vec![self.made_up_block()]);
                    out.push(Action::Send { to, message: lie });
                }
                (Behaviour::StaleReplayer, Action::Send { to, message }) => {
                    self.replay(to, &message, round, &mut out);
                    out.push(Action::Send { to, message });
                }
                (_, action) => out.push(action),
            }
        }
        out
    }
}
