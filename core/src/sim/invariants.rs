//! Safety checkers, run on every observed event of every step.
//!
//! | Invariant | Why it must hold |
//! |---|---|
//! | **Agreement**: no two honest replicas commit different blocks at one height | the point of BFT consensus (HotStuff paper, Theorem 2; Jolteon Lemma 3) |
//! | **Commits only extend**: each commit is one above the last and names it as parent | a replica never rolls back or forks its own log |
//! | **One vote per round**, across restarts too | the voting rule; persisting `last_voted_round` before sending makes it survive a crash |
//! | **Rounds never decrease** at a running replica; a restart resumes no lower than the last round it voted or timed out in | the pacemaker's monotonicity, and the persisted `last_voted_round` the voting rule relies on (a round entered but not voted in may be entered again after a crash: its change is persisted with the next vote) |
//! | **Certificates have a quorum** of distinct, valid signers | QCs and TCs are only as good as the `n - f` intersection argument |
//! | **Signed rounds increase**, on the wire: an honest replica's vote in round r only if r is above every round it voted or timed out in before; a timeout never below them (across restarts) | the voting rule itself, judged on the signed statements, not on what the replica says it did: a replica that forgets its timeout (or its persisted state) and votes in the same round enables a fork |
//! | **A batch commits once**: no batch is in two committed blocks (checked on the blocks replicas deliver) | transactions execute once, even though batches of abandoned blocks are proposed again |
//! | **Certified blocks extend commits** (the commit-rule oracle): a block certified in a round above a committed block's round extends it | what makes a commit final (Jolteon's key lemma): it catches an unsafe commit or vote the moment the conflicting certificate forms, without waiting for a second replica to commit on the other branch |
//!
//! The checker sees only the observation stream, never a replica's internals, so it checks what
//! replicas *did*, not what they believe.

use crate::committee::Committee;
use crate::event::{block_name, Event, Observed};
use crate::messages::{Block, ConsensusMessage};
use crate::types::{Digest, Height, NodeId, Round};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The invariants the checkers hold honest replicas to. Each has a stable name (its serde
/// form, used in scenario files, the share link and the page's safety panel) and a title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// No two honest replicas commit different blocks at one height.
    Agreement,
    /// Each commit is one above the last and names it as parent.
    CommitsOnlyExtend,
    /// At most one vote per round, across restarts too.
    OneVotePerRound,
    /// Rounds never decrease; a restart resumes no lower than the last round voted in.
    MonotonicRounds,
    /// QCs and TCs carry a quorum of distinct, valid signers.
    QuorumCertificates,
    /// No batch is in two committed blocks.
    BatchCommitsOnce,
    /// What a replica signs and sends only moves forward: a vote in round r only if r is above
    /// every round it voted or timed out in before; a timeout in round r only if r is at least
    /// every round it voted or timed out in before (checked on the wire, across restarts).
    SignedRoundsIncrease,
    /// A vote or timeout leaves a replica only once its store durably records that it voted or
    /// timed out in that round (checked on the wire against the sender's store at the moment of
    /// sending): a crash at any later point restarts it knowing not to sign that round again.
    PersistBeforeSend,
    /// The commit-rule oracle: every block certified in a round above a committed block's round
    /// extends that committed block (judged on the block tree the checker builds from what
    /// replicas report seeing, not on the replicas' own commit logic).
    CertifiedExtendsCommitted,
}

impl Invariant {
    /// A fork: two branches, one of them committed. The oracle
    /// ([`Invariant::CertifiedExtendsCommitted`]) sees it as soon as a certificate forms on the
    /// other branch, agreement only once an honest replica commits there too; whichever fires
    /// first names the violation.
    pub fn is_fork(self) -> bool {
        matches!(self, Self::Agreement | Self::CertifiedExtendsCommitted)
    }

    /// Every invariant, in the order the page lists them.
    pub const ALL: [Self; 9] = [
        Self::Agreement,
        Self::CertifiedExtendsCommitted,
        Self::CommitsOnlyExtend,
        Self::OneVotePerRound,
        Self::SignedRoundsIncrease,
        Self::PersistBeforeSend,
        Self::MonotonicRounds,
        Self::QuorumCertificates,
        Self::BatchCommitsOnce,
    ];

    /// The stable name (as in scenario files): `agreement`, `one_vote_per_round`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Agreement => "agreement",
            Self::CommitsOnlyExtend => "commits_only_extend",
            Self::OneVotePerRound => "one_vote_per_round",
            Self::MonotonicRounds => "monotonic_rounds",
            Self::QuorumCertificates => "quorum_certificates",
            Self::BatchCommitsOnce => "batch_commits_once",
            Self::SignedRoundsIncrease => "signed_rounds_increase",
            Self::PersistBeforeSend => "persist_before_send",
            Self::CertifiedExtendsCommitted => "certified_extends_committed",
        }
    }

    /// What it says, in words (the page's safety panel shows these).
    pub fn title(self) -> &'static str {
        match self {
            Self::Agreement => "agreement: no two honest nodes commit different blocks at one height",
            Self::CommitsOnlyExtend => "commits only extend a node's own log",
            Self::OneVotePerRound => "one vote per round (across restarts)",
            Self::MonotonicRounds => "monotonic rounds",
            Self::QuorumCertificates => "quorum certificates carry n − f valid signatures",
            Self::BatchCommitsOnce => "a batch commits once",
            Self::SignedRoundsIncrease => "no vote in a round already voted or timed out in (on the wire)",
            Self::PersistBeforeSend => "a vote or timeout is durable before it is sent",
            Self::CertifiedExtendsCommitted => "every block certified after a commit extends it",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a checker found: which invariant broke, and how (naming blocks as the page does).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    /// The broken invariant.
    pub invariant: Invariant,
    /// How it broke.
    pub detail: String,
    /// The replicas it names (the one that broke the rule; for a disagreement, both sides).
    pub nodes: Vec<NodeId>,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

fn breach(invariant: Invariant, nodes: &[NodeId], detail: String) -> Breach {
    Breach { invariant, detail, nodes: nodes.to_vec() }
}

/// How many past rounds of votes to remember per replica (double votes are caught within this
/// window; older rounds are far below any commit and the voting rule's `round > last_voted_round`
/// test is what guards them).
const VOTE_HISTORY_ROUNDS: Round = 10_000;

#[derive(Debug, Default, Clone)]
struct ReplicaRecord {
    committed_height: Height,
    /// Its last committed block and that block's round.
    committed: (Digest, Round),
    round: Round,
    /// The highest round it voted or timed out in: its persisted `last_voted_round`.
    voted_round: Round,
    votes: BTreeMap<Round, Digest>,
    /// Its last commit is unknown (it was Byzantine until now): the next commit sets it.
    commit_unknown: bool,
    /// It installed a checkpoint at this height: its next commit is that block, above its
    /// last one without the heights between. (That it is on the committed chain is what
    /// agreement checks at that height.)
    checkpoint: Option<Height>,
}

/// What a replica's key has signed and sent, as seen on the wire. Kept across restarts (a
/// restart must not make a replica sign what contradicts its past); reset only when a Byzantine
/// node turns honest.
#[derive(Debug, Default, Clone)]
struct Signed {
    /// The highest round it sent a vote in, and the block.
    voted: (Round, Digest),
    /// The highest round it sent a timeout in.
    timed_out: Round,
}

/// The checkers' memory.
#[derive(Debug)]
pub struct Checker {
    /// By node (twins share their node's key, and are not checked).
    signed: Vec<Signed>,
    committee: Committee,
    honest: Vec<bool>,
    replicas: Vec<ReplicaRecord>,
    /// The first block committed at each height, and by whom.
    committed: BTreeMap<Height, (Digest, Round, NodeId)>,
    /// The height of the committed block that carried each batch.
    committed_batches: BTreeMap<Digest, Height>,
    /// The block tree as honest replicas reported it: block -> (parent, height).
    tree: BTreeMap<Digest, (Digest, Height)>,
    /// For each committed height, the lowest round of a block whose 2-chain (or 3-chain)
    /// committed it directly: the block there, or a descendant that committed it as an ancestor.
    /// Certificates from later rounds must extend it. (Not the block's own round: a block
    /// committed as an ancestor of a round-5 block may have a sibling certified in round 4,
    /// abandoned by a TC, and that is no fork.)
    decided_in: BTreeMap<Height, Round>,
    /// Certified blocks seen, by the round of their certificate: (block, height), recent ones.
    certified: BTreeMap<Round, Vec<(Digest, Height)>>,
}

/// How far below the highest commit the checker keeps the block tree and certificates.
const ORACLE_WINDOW: Height = 2_048;

/// How far below the highest commit "a batch commits once" looks: a batch committed again more
/// than this many heights later is not seen. (The replicas themselves refuse repeats within
/// `COMMITTED_BATCHES_WINDOW`, far less; this bounds the checker's memory on very long runs.)
const BATCH_CHECK_WINDOW: Height = 100_000;

/// How often (in heights) the batch record is trimmed to its window.
const BATCH_PRUNE_EVERY: Height = 16_384;

impl Checker {
    /// A checker for a committee whose members are all honest.
    pub fn new(committee: Committee) -> Self {
        let n = committee.size();
        let genesis = Block::genesis().digest();
        let record = ReplicaRecord { committed: (genesis, 0), ..ReplicaRecord::default() };
        Self {
            committee,
            signed: vec![Signed::default(); n],
            honest: vec![true; n],
            replicas: vec![record; n],
            committed: BTreeMap::new(),
            committed_batches: BTreeMap::new(),
            tree: BTreeMap::new(),
            certified: BTreeMap::new(),
            decided_in: BTreeMap::new(),
        }
    }

    /// A block certified in `round` (a QC for it formed, or a block carrying that QC was seen).
    fn certified(&mut self, block: Digest, height: Height, round: Round) -> Result<(), Breach> {
        let entry = self.certified.entry(round).or_default();
        if entry.contains(&(block, height)) {
            return Ok(());
        }
        entry.push((block, height));
        self.extends_commits(block, height, round)
    }

    /// The commit-rule oracle for one certified block: it must extend the highest committed
    /// block at or below its height that was decided in a round below `round`.
    fn extends_commits(&self, block: Digest, height: Height, round: Round) -> Result<(), Breach> {
        let Some((&committed_height, _)) =
            self.decided_in.range(..=height).rev().find(|(_, decided)| **decided < round)
        else {
            return Ok(());
        };
        let (committed, committed_round, by) = self.committed[&committed_height];
        // Walk down the reported tree to the committed height; an unknown link ends the check.
        let (mut cursor, mut at) = (block, height);
        while at > committed_height {
            match self.tree.get(&cursor) {
                Some((parent, _)) => (cursor, at) = (*parent, at - 1),
                None => return Ok(()),
            }
        }
        if cursor == committed {
            return Ok(());
        }
        Err(breach(
            Invariant::CertifiedExtendsCommitted,
            &[by],
            format!(
                "{by} committed {} at height {committed_height}, but {} was certified in round {round} without extending it (its ancestor at that height is {})",
                block_name(&committed, committed_round),
                block_name(&block, round),
                // Its round is not known here (only its digest), and it may be the block itself.
                if cursor == block { "that block itself".to_string() } else { format!("block {cursor}") }
            ),
        ))
    }

    /// Records a block an honest replica saw, and the certificate it carries for its parent.
    fn saw_block(&mut self, block: &crate::event::BlockInfo) -> Result<(), Breach> {
        self.tree.entry(block.digest).or_insert((block.parent, block.height));
        if block.height > 0 {
            self.certified(block.parent, block.height - 1, block.qc_round)?;
        }
        Ok(())
    }

    /// A commit at `height`, decided by a chain whose head is from `round`: every certificate
    /// already seen from a later round must extend it; then history far below is forgotten.
    fn committed_at(&mut self, height: Height, round: Round) -> Result<(), Breach> {
        match self.decided_in.get(&height) {
            Some(decided) if *decided <= round => return Ok(()),
            _ => {
                self.decided_in.insert(height, round);
            }
        }
        let later: Vec<(Digest, Height, Round)> = self
            .certified
            .range(round + 1..)
            .flat_map(|(r, blocks)| blocks.iter().map(move |(b, h)| (*b, *h, *r)))
            .filter(|(_, h, _)| *h >= height)
            .collect();
        for (block, block_height, cert_round) in later {
            self.extends_commits(block, block_height, cert_round)?;
        }
        if height % 256 == 0 && height > ORACLE_WINDOW {
            let floor = height - ORACLE_WINDOW;
            self.tree.retain(|_, (_, h)| *h >= floor);
            self.decided_in.retain(|h, _| *h >= floor);
            self.certified.retain(|_, blocks| {
                blocks.retain(|(_, h)| *h >= floor);
                !blocks.is_empty()
            });
            // Agreement needs the committed block at every height an honest replica may still
            // commit: at or above the lowest one's last commit (less a margin for the commits
            // a restart delivers again), and the oracle's window.
            let lowest = (self.replicas.iter().zip(&self.honest))
                .filter(|(_, honest)| **honest)
                .map(|(record, _)| record.committed_height)
                .min()
                .unwrap_or(0);
            // (Not while any node is Byzantine: one that turns honest again is held to
            // agreement from whatever it commits then, which may be far below.)
            if self.honest.iter().all(|honest| *honest) {
                let keep = floor.min(lowest.saturating_sub(ORACLE_WINDOW));
                self.committed = self.committed.split_off(&keep);
            }
        }
        if height % BATCH_PRUNE_EVERY == 0 && height > BATCH_CHECK_WINDOW {
            let floor = height - BATCH_CHECK_WINDOW;
            self.committed_batches.retain(|_, h| *h >= floor);
        }
        Ok(())
    }

    /// Marks a replica as Byzantine: its own behaviour is not held to the rules.
    pub fn set_honest(&mut self, node: NodeId, honest: bool) {
        let was = std::mem::replace(&mut self.honest[node.index()], honest);
        if honest && !was {
            // Nothing it did while Byzantine was recorded: hold it to the rules from here on,
            // starting from whatever it commits next (agreement still checks that commit).
            let genesis = Block::genesis().digest();
            self.replicas[node.index()] =
                ReplicaRecord { committed: (genesis, 0), commit_unknown: true, ..ReplicaRecord::default() };
            // What its key signed while Byzantine does not bind it; what it signs from now on does.
            self.signed[node.index()] = Signed::default();
        }
    }

    /// Checks one event. `Err` describes the violated invariant.
    pub fn observe(&mut self, observed: &Observed) -> Result<(), Breach> {
        let node = observed.node;
        if !self.honest[node.index()] {
            return Ok(());
        }
        let record = &mut self.replicas[node.index()];
        match &observed.event {
            Event::RoundEntered { round, reason, .. } => {
                let restarted = matches!(reason, crate::event::RoundReason::Start);
                if restarted && *round < record.voted_round {
                    return Err(breach(
                        Invariant::MonotonicRounds,
                        &[node],
                        format!(
                            "{node} restarted in round {round} after voting in round {}",
                            record.voted_round
                        ),
                    ));
                }
                if !restarted && *round <= record.round {
                    return Err(breach(
                        Invariant::MonotonicRounds,
                        &[node],
                        format!("{node} entered round {round} after round {}", record.round),
                    ));
                }
                record.round = *round;
            }
            Event::VoteSent { block, round, .. } => {
                record.voted_round = record.voted_round.max(*round);
                if let Some(earlier) = record.votes.insert(*round, *block) {
                    return Err(breach(
                        Invariant::OneVotePerRound,
                        &[node],
                        format!(
                            "{node} voted twice in round {round} ({} then {})",
                            block_name(&earlier, *round),
                            block_name(block, *round)
                        ),
                    ));
                }
                if record.votes.len() as u64 > VOTE_HISTORY_ROUNDS {
                    record.votes.pop_first();
                }
            }
            Event::TimeoutSent { round, .. } => {
                record.voted_round = record.voted_round.max(*round);
            }
            Event::Recovered { committed_height, .. } if *committed_height < record.committed_height => {
                // Commits are delivered at least once: the blocks above its durable commit come
                // again, and must be the same ones (agreement checks each height).
                let below = match *committed_height {
                    0 => Some((Block::genesis().digest(), 0)),
                    h => self.committed.get(&h).map(|(digest, round, _)| (*digest, *round)),
                };
                record.committed_height = *committed_height;
                match below {
                    Some(committed) => record.committed = committed,
                    None => record.commit_unknown = true,
                }
            }
            Event::CheckpointInstalled { height, .. } => {
                record.checkpoint = (*height > record.committed_height).then_some(*height);
            }
            Event::BlockCommitted { block, chain } => {
                let checkpoint = record.checkpoint.take() == Some(block.height);
                let extends = checkpoint
                    || (block.height == record.committed_height + 1 && block.parent == record.committed.0);
                let baseline = std::mem::take(&mut record.commit_unknown);
                if !extends && !baseline {
                    return Err(breach(
                        Invariant::CommitsOnlyExtend,
                        &[node],
                        format!(
                            "{node} committed {} at height {} on top of {} at height {}",
                            block_name(&block.digest, block.round),
                            block.height,
                            block_name(&record.committed.0, record.committed.1),
                            record.committed_height
                        ),
                    ));
                }
                record.committed_height = block.height;
                record.committed = (block.digest, block.round);
                match self.committed.get(&block.height) {
                    Some((digest, round, first)) if *digest != block.digest => {
                        return Err(breach(
                            Invariant::Agreement,
                            &[*first, node],
                            format!(
                                "at height {} {first} committed {} but {node} committed {}",
                                block.height,
                                block_name(digest, *round),
                                block_name(&block.digest, block.round)
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(block.height, (block.digest, block.round, node));
                    }
                }
                let decided = chain.first().copied().unwrap_or(block.round);
                self.committed_at(block.height, decided)?;
            }
            Event::ProposalSent { block } | Event::ProposalReceived { block, .. } => {
                self.saw_block(block)?;
            }
            Event::QcFormed { qc } => {
                qc.verify(&self.committee).map_err(|e| {
                    breach(Invariant::QuorumCertificates, &[node], format!("{node} formed a bad QC: {e}"))
                })?;
                self.certified(qc.block, qc.height, qc.round)?;
            }
            Event::TcFormed { tc } => {
                tc.verify(&self.committee).map_err(|e| {
                    breach(Invariant::QuorumCertificates, &[node], format!("{node} formed a bad TC: {e}"))
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Persist before send, judged when a replica crashes: every vote and timeout it signed and
    /// sent must be covered by the last voted round of the state its store holds at that moment
    /// (`None`: nothing persisted yet). A crash between a send and its `Persist` (see
    /// `Simulation::crash_during_step`) is what this catches: restarted, the replica would be
    /// free to sign that round again.
    pub fn crashed(&self, node: NodeId, durable_last_voted_round: Option<Round>) -> Result<(), Breach> {
        if !self.honest[node.index()] {
            return Ok(());
        }
        let signed = &self.signed[node.index()];
        let (what, round) = if signed.timed_out >= signed.voted.0 {
            ("a timeout", signed.timed_out)
        } else {
            ("a vote", signed.voted.0)
        };
        let durable = durable_last_voted_round.unwrap_or(0);
        if round <= durable {
            return Ok(());
        }
        Err(breach(
            Invariant::PersistBeforeSend,
            &[node],
            format!(
                "{node} crashed after sending {what} in round {round}, but its store recorded its last voted round as {durable}: \
                 restarted, it is free to sign round {round} again"
            ),
        ))
    }

    /// Persist before send, judged when a frame leaves `from`, at the end of the step that sent
    /// it: a vote or timeout it signed for round r may leave only if `durable_last_voted_round`,
    /// the last voted round in the state its store holds then (`None`: nothing persisted yet),
    /// is at least r. (Within a step the order of a send and its `Persist` is judged by
    /// [`Checker::crashed`], at crashes during steps.)
    pub fn sent_durably(
        &self,
        from: NodeId,
        message: &ConsensusMessage,
        durable_last_voted_round: Option<Round>,
    ) -> Result<(), Breach> {
        if !self.honest[from.index()] {
            return Ok(());
        }
        let (what, round) = match message {
            ConsensusMessage::Vote(vote) if vote.author == from => ("a vote", vote.round),
            ConsensusMessage::Timeout(timeout) if timeout.author == from => ("a timeout", timeout.round),
            _ => return Ok(()),
        };
        let durable = durable_last_voted_round.unwrap_or(0);
        if durable >= round {
            return Ok(());
        }
        Err(breach(
            Invariant::PersistBeforeSend,
            &[from],
            format!(
                "{from} sent {what} in round {round} while its store recorded its last voted round as {durable}: \
                 a crash now would restart it free to sign round {round} again"
            ),
        ))
    }

    /// Checks a message an honest replica put on the wire, from first principles: the signed
    /// votes and timeouts themselves, not what the replica reported of them. This is what a
    /// replica that forgets a timeout (or its persisted state) before voting would be caught by.
    pub fn sent(&mut self, from: NodeId, message: &ConsensusMessage) -> Result<(), Breach> {
        if !self.honest[from.index()] {
            return Ok(());
        }
        let signed = &mut self.signed[from.index()];
        match message {
            ConsensusMessage::Vote(vote) if vote.author == from => {
                if signed.voted == (vote.round, vote.block) {
                    return Ok(()); // the same vote again
                }
                let before = signed.voted.0.max(signed.timed_out);
                if vote.round <= before {
                    let what = if signed.timed_out >= signed.voted.0 { "a timeout" } else { "a vote" };
                    return Err(breach(
                        Invariant::SignedRoundsIncrease,
                        &[from],
                        format!(
                            "{from} signed a vote for {} in round {} after signing {what} in round {before}",
                            block_name(&vote.block, vote.round),
                            vote.round
                        ),
                    ));
                }
                signed.voted = (vote.round, vote.block);
            }
            ConsensusMessage::Timeout(timeout) if timeout.author == from => {
                let before = signed.voted.0.max(signed.timed_out);
                if timeout.round < before {
                    let what = if signed.timed_out >= signed.voted.0 { "a timeout" } else { "a vote" };
                    return Err(breach(
                        Invariant::SignedRoundsIncrease,
                        &[from],
                        format!(
                            "{from} signed a timeout in round {} after signing {what} in round {before}",
                            timeout.round
                        ),
                    ));
                }
                signed.timed_out = timeout.round;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks a block a replica delivered as committed. `Err` describes the violated invariant.
    pub fn delivered(&mut self, node: NodeId, block: &Block) -> Result<(), Breach> {
        if !self.honest[node.index()] {
            return Ok(());
        }
        for (i, batch) in block.payload.iter().enumerate() {
            if block.payload[..i].contains(batch) {
                return Err(breach(
                    Invariant::BatchCommitsOnce,
                    &[node],
                    format!(
                        "{node} committed batch {batch} twice in block {}",
                        block_name(&block.digest(), block.round)
                    ),
                ));
            }
            match self.committed_batches.get(batch) {
                Some(height) if *height != block.height => {
                    return Err(breach(
                        Invariant::BatchCommitsOnce,
                        &[node],
                        format!(
                            "{node} committed batch {batch} at height {} and at height {height}",
                            block.height
                        ),
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
