//! The observation stream: typed events stamped with time and node.
//!
//! State machines emit `Observe(Event)` actions; hosts collect them. The simulator hashes them
//! into the trace digest and feeds them to the invariant checkers; the page narrates them; the
//! native node logs them. Each event carries enough to explain *why* it happened (which rule
//! allowed a vote, which 2-chain committed a block), so narration never re-derives protocol logic.

use crate::error::{Error, Offence};
use crate::time::Time;
use crate::types::{Digest, Height, NodeId, Round};
use serde::{Deserialize, Serialize};

/// A block as the observers need it: name, position and size, not the whole certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The block digest.
    pub digest: Digest,
    /// Its round.
    pub round: Round,
    /// Its height.
    pub height: Height,
    /// Its proposer.
    pub author: NodeId,
    /// Its parent's digest (the block its QC certifies).
    pub parent: Digest,
    /// The round of its QC.
    pub qc_round: Round,
    /// The round of its TC, if the previous round timed out.
    pub tc_round: Option<Round>,
    /// Number of batch digests it carries.
    pub payload_batches: u32,
}

impl From<&crate::Block> for BlockInfo {
    fn from(block: &crate::Block) -> Self {
        Self {
            digest: block.digest(),
            round: block.round,
            height: block.height,
            author: block.author,
            parent: block.parent(),
            qc_round: block.qc.round,
            tc_round: block.tc.as_ref().map(|tc| tc.round),
            payload_batches: block.payload.len() as u32,
        }
    }
}

/// Which voting rule made a block safe to vote for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoteRule {
    /// 2-chain: the block's QC is for the round just before it (`qc.round + 1 == round`).
    ConsecutiveQc,
    /// 2-chain: the previous round timed out (the block carries a TC for `round - 1`) and the
    /// block's QC is at least as high as every high QC in the TC, so it cannot skip a block that
    /// might have been committed.
    TcWithHighestQc {
        /// The highest QC round reported in the TC.
        tc_high_qc_round: Round,
    },
    /// 3-chain (chained HotStuff): the block's QC is at least the preferred (locked) round.
    ExtendsLock {
        /// The preferred round at the time of the vote.
        locked_round: Round,
    },
}

/// Why a replica did not vote for a block it accepted as valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoVoteReason {
    /// Already voted (or timed out) in this round or a later one.
    AlreadyVoted {
        /// The last round this node voted or timed out in.
        last_voted_round: Round,
    },
    /// The block is not for the node's current round.
    NotCurrentRound {
        /// The node's round.
        round: Round,
    },
    /// 2-chain: neither a consecutive QC nor a TC that justifies the block.
    NotJustified,
    /// 2-chain with TC: the block's QC is lower than a high QC in the TC.
    QcBelowTcHighQc {
        /// The block's QC round.
        qc_round: Round,
        /// The highest QC round in its TC.
        tc_high_qc_round: Round,
    },
    /// The block carries a batch that its own chain already carries: an uncommitted ancestor,
    /// or a block committed within the last [`COMMITTED_BATCHES_WINDOW`] heights. Committing it
    /// would execute the batch twice.
    ///
    /// [`COMMITTED_BATCHES_WINDOW`]: crate::consensus::COMMITTED_BATCHES_WINDOW
    RepeatsBatch {
        /// The batch.
        batch: Digest,
        /// The height of the block that carried it first.
        carried_at: Height,
    },
    /// The block's author does not lead its round (in this node's view). A proposal from the
    /// wrong leader is refused on arrival; this catches one that came another way (in a range
    /// of the chain a peer served, or synced as a parent).
    NotTheLeader {
        /// The leader this node expects.
        expected: NodeId,
    },
    /// 3-chain: the block's QC is below the preferred round.
    BelowLock {
        /// The block's QC round.
        qc_round: Round,
        /// The node's preferred round.
        locked_round: Round,
    },
}

/// Why a node entered a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoundReason {
    /// The node started (or restarted) here.
    Start,
    /// A QC for the previous round (or a later one) was seen.
    Qc {
        /// The QC's round.
        qc_round: Round,
    },
    /// A TC for the previous round (or a later one) was seen.
    Tc {
        /// The TC's round.
        tc_round: Round,
    },
    /// `f + 1` replicas timed out in this round, so at least one honest replica gave up on it:
    /// the node joins them (Jolteon's round synchronisation).
    TimeoutsJoined {
        /// Distinct timeouts seen for the round.
        count: u32,
    },
}

/// Why a batch was sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealReason {
    /// It reached the batch size.
    Full,
    /// The maximum batch delay passed.
    Timer,
}

/// What a stalled round was waiting for ([`Event::RoundStalled`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Awaited {
    /// No block it could vote for came from the round's leader.
    Proposal {
        /// The round's leader.
        leader: NodeId,
    },
    /// It voted; the next round's leader collects the votes, and no block of its with their QC
    /// came.
    Qc {
        /// The next round's leader, who got the vote.
        collector: NodeId,
    },
    /// It voted, and it is the next round's leader: it collects the votes itself, and a quorum
    /// of them has not come.
    Votes {
        /// The votes for the round's block it holds (its own included).
        held: u32,
    },
}

/// What a replica sends again while its round stalls (see `Parameters::resend_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resent {
    /// Its proposal, to everyone.
    Proposal,
    /// Its vote, to the next leader.
    Vote,
    /// Its timeout, to everyone.
    Timeout,
}

/// How a replica chose the leader of a round ([`crate::Consensus::leader_choice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaderChoice {
    /// In turn, `round mod n` ([`crate::LeaderElection::RoundRobin`]).
    InTurn,
    /// Drawn by reputation from the blocks committed up to `round − 10`
    /// ([`crate::LeaderElection::Reputation`]).
    Reputation,
    /// In turn, although leaders are drawn by reputation: this replica has not committed that
    /// far yet (the run just started, the committee stalled, or it restarted or is behind).
    InTurnUntilHistory,
    /// Named by the run's leader schedule (Twins scenarios, some presets).
    Scheduled,
}

/// Something a node did or saw, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The node entered `round`, whose leader is `leader`.
    RoundEntered {
        /// The new round.
        round: Round,
        /// Its leader.
        leader: NodeId,
        /// How the node chose that leader.
        chosen: LeaderChoice,
        /// What moved the node here.
        reason: RoundReason,
        /// The round timeout armed for it.
        timeout_ms: u64,
    },
    /// The node, as leader, broadcast a proposal.
    ProposalSent {
        /// The block.
        block: BlockInfo,
    },
    /// The leader holds back its proposal: no payload yet and no uncommitted payload to push
    /// forward, so it waits (at most the max block delay) rather than spin empty blocks.
    ProposalDeferred {
        /// The round.
        round: Round,
        /// When it will propose anyway.
        until: Time,
    },
    /// A valid proposal arrived.
    ProposalReceived {
        /// Its sender.
        from: NodeId,
        /// The block.
        block: BlockInfo,
    },
    /// The node voted.
    VoteSent {
        /// The block voted for.
        block: Digest,
        /// Its round.
        round: Round,
        /// The next leader, who gets the vote.
        to: NodeId,
        /// The rule that made the vote safe.
        rule: VoteRule,
    },
    /// The node's round has not moved for `stalled_ms`: it sends again what it sent in it, in
    /// case a copy was lost (links may drop messages; nothing below the protocol resends).
    Resent {
        /// The round.
        round: Round,
        /// What it sends again.
        what: Resent,
        /// The recipient (`None`: everyone).
        to: Option<NodeId>,
        /// How long the round has gone without progress.
        stalled_ms: u64,
    },
    /// The node accepted a block but did not vote for it.
    VoteWithheld {
        /// The block.
        block: Digest,
        /// Its round.
        round: Round,
        /// Why not.
        reason: NoVoteReason,
    },
    /// The node waits for the block's payload batches before voting.
    PayloadAwaited {
        /// The block.
        block: Digest,
        /// Batches it carries.
        batches: u32,
    },
    /// A vote arrived at the next leader.
    VoteReceived {
        /// The voter.
        from: NodeId,
        /// The block.
        block: Digest,
        /// Its round.
        round: Round,
    },
    /// `n - f` votes formed a quorum certificate.
    QcFormed {
        /// The certificate.
        qc: crate::QuorumCert,
    },
    /// The node's high QC (the highest certified block it knows) moved up.
    HighQcUpdated {
        /// The new high QC's round.
        round: Round,
        /// The certified block.
        block: Digest,
    },
    /// The node's locked (preferred) round moved up.
    LockUpdated {
        /// The new locked round.
        locked_round: Round,
    },
    /// The round timer expired with the round still open: what the node was waiting for, and
    /// how far the timeouts of the round have got here. Emitted at each expiry (the first, just
    /// before its own timeout; later ones while no certificate moves it on), so a stall is
    /// explained, not silent.
    RoundStalled {
        /// The round.
        round: Round,
        /// What did not come.
        awaited: Awaited,
        /// The timeouts for the round this node holds (its own included once sent).
        timeouts: u32,
        /// The timeouts a TC needs (`n - f`).
        needed: u32,
    },
    /// The round timer expired: the node stops voting in `round` and broadcasts a timeout.
    TimeoutSent {
        /// The round that timed out.
        round: Round,
        /// The high QC carried.
        high_qc_round: Round,
        /// How many rounds in a row have timed out here.
        consecutive: u32,
        /// `false`: the node's own round timer expired. `true`: it joined `f + 1` other replicas'
        /// timeouts for the round before its own timer expired.
        joined: bool,
    },
    /// A timeout message arrived.
    TimeoutReceived {
        /// Its sender.
        from: NodeId,
        /// Its round.
        round: Round,
    },
    /// `n - f` timeouts formed a timeout certificate.
    TcFormed {
        /// The certificate.
        tc: crate::TimeoutCert,
    },
    /// A block was committed: it heads a 2-chain (or 3-chain) of certified blocks in
    /// consecutive rounds, so (with at most f Byzantine replicas) no conflicting block can be
    /// committed, and every block certified in a later round extends it. Under the deliberately
    /// unsafe 1-chain rule its own QC commits it, and nothing of the kind holds.
    BlockCommitted {
        /// The block.
        block: BlockInfo,
        /// The rounds of the chain that committed it (`[b0, b1]` for 2-chain, `[b0, b1, b2]` for
        /// 3-chain); for an ancestor committed along with the head, the head's chain.
        chain: Vec<Round>,
    },
    /// A block off the committed chain, at or below the committed height, can never commit (its
    /// round timed out, or it lost a fork). The node forgets it and offers the batches only it
    /// carried for proposal again.
    BlockAbandoned {
        /// The block.
        block: Digest,
        /// Its round.
        round: Round,
        /// Its batches that go back to be proposed again (those no other block carries).
        batches_returned: u32,
    },
    /// A certified chain that does not extend this node's committed chain: possible only with
    /// more than `f` Byzantine replicas. The node refuses to commit it.
    ConflictingCommit {
        /// The block that would have been committed.
        block: BlockInfo,
        /// This node's committed height.
        committed_height: Height,
    },
    /// A message was refused (see [`Event::rejected`]).
    MessageRejected {
        /// The sender as the transport saw it.
        from: NodeId,
        /// Message kind.
        kind: String,
        /// Why (the error's text).
        reason: String,
        /// The misbehaviour it shows, if any: what honest replicas catch Byzantine ones doing.
        #[serde(default)]
        offence: Option<Offence>,
    },
    /// The node asked a peer for a missing block.
    SyncRequested {
        /// The missing block.
        digest: Digest,
        /// The peer asked.
        to: NodeId,
    },
    /// The node is far behind and asked a peer for the committed chain above its last commit.
    ChainRequested {
        /// The node's committed height.
        above: Height,
        /// The peer asked.
        to: NodeId,
    },
    /// The node sent a peer the committed blocks above the height it asked for.
    ChainServed {
        /// The peer's committed height.
        above: Height,
        /// How many blocks were sent (0: the node has committed nothing above it).
        blocks: u32,
        /// The peer.
        to: NodeId,
    },
    /// The node was further behind than its peers keep history (`Parameters::retain_heights`):
    /// it took the oldest block of a range they served, proven committed inside the range, as
    /// its new last commit, without the blocks between.
    CheckpointInstalled {
        /// The node's committed height before.
        from_height: Height,
        /// The checkpoint's height.
        height: Height,
        /// The checkpoint's round.
        round: Round,
        /// The block committed inside the range that proves the checkpoint committed (its
        /// descendant, or itself).
        proven_by: Height,
        /// The peer that served the range.
        from: NodeId,
    },
    /// The node served a block to a peer.
    SyncServed {
        /// The block.
        digest: Digest,
        /// The requester.
        to: NodeId,
    },
    /// The node restored its safety state after a restart.
    Recovered {
        /// The restored round.
        round: Round,
        /// The restored last voted round.
        last_voted_round: Round,
        /// The restored committed height.
        committed_height: Height,
    },
    /// The mempool sealed a batch.
    BatchSealed {
        /// Its digest.
        digest: Digest,
        /// Transactions in it.
        transactions: u32,
        /// Its size in bytes.
        bytes: u32,
        /// The sample numbers of the sample transactions in it, in order (see
        /// [`crate::mempool::sample_id`]); usually empty.
        samples: Vec<u64>,
        /// Why it was sealed now.
        reason: SealReason,
    },
    /// The mempool stored a peer's batch.
    BatchReceived {
        /// Its digest.
        digest: Digest,
        /// Its author.
        author: NodeId,
    },
    /// The mempool asked peers for batches a block needs.
    BatchesRequested {
        /// The batches.
        digests: Vec<Digest>,
        /// The peer asked.
        to: NodeId,
    },
    /// The mempool asked a peer for batches of blocks this replica committed without them
    /// (caught up by ranges or a checkpoint): the backfill, for the application's commit stream.
    CommittedBatchesRequested {
        /// The batches.
        digests: Vec<Digest>,
        /// The peer asked.
        to: NodeId,
    },
    /// No peer served the batches of a committed height after
    /// [`crate::mempool::BACKFILL_ROUNDS_MAX`] rounds of asking (peers pruned them): the commit
    /// stream has the block at that height without its transactions.
    CommittedBatchesGivenUp {
        /// The committed height.
        height: Height,
        /// How many of its batches were still missing.
        batches: u32,
    },
}

impl Event {
    /// The refusal of a `kind` message from `from`, with the misbehaviour the error shows.
    pub fn rejected(from: NodeId, kind: &str, error: &Error) -> Self {
        Self::MessageRejected {
            from,
            kind: kind.to_string(),
            reason: error.to_string(),
            offence: error.offence(),
        }
    }
}

/// An event stamped with when and where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// When.
    pub time: Time,
    /// Which node.
    pub node: NodeId,
    /// What.
    pub event: Event,
}

/// How the narration, the page and violation reports name a block: `B7·d885` (round, digest).
pub fn block_name(digest: &Digest, round: Round) -> String {
    format!("B{round}·{}", &digest.short()[..4])
}

impl Observed {
    /// One sentence saying what happened and why, tied to the protocol rule. The page's
    /// narration and the native node's logs use it; nothing here decides anything.
    pub fn narrate(&self) -> String {
        let node = format!("Node {}", self.node.0);
        match &self.event {
            Event::RoundEntered { round, leader, chosen, reason, timeout_ms } => {
                let why = match reason {
                    RoundReason::Start => "it started (or restarted from its store)".to_string(),
                    RoundReason::Qc { qc_round } => format!("it saw a QC for round {qc_round}"),
                    RoundReason::Tc { tc_round } => {
                        format!("round {tc_round} timed out: {tc_round}'s timeout certificate moves everyone on")
                    }
                    RoundReason::TimeoutsJoined { count } => {
                        format!("{count} replicas gave up on this round, so at least one honest replica did; it joins them")
                    }
                };
                let horizon = crate::consensus::reputation::horizon(*round);
                let how = match (chosen, horizon) {
                    (LeaderChoice::InTurn, _) => "in turn".to_string(),
                    (LeaderChoice::Scheduled, _) => "as the run's leader schedule says".to_string(),
                    (LeaderChoice::Reputation, horizon) => format!(
                        "drawn by reputation: a draw, the same at every replica, weighted by the blocks committed up to round {}; replicas that proposed or voted in them weigh most, those that failed their turns there least (a crash shows only once a later block commits)",
                        horizon.unwrap_or_default()
                    ),
                    (LeaderChoice::InTurnUntilHistory, None) => format!(
                        "in turn: leaders are drawn by reputation from the blocks committed {} rounds before, and before round {} there are none",
                        crate::consensus::reputation::EXCLUDE_ROUNDS,
                        crate::consensus::reputation::EXCLUDE_ROUNDS
                    ),
                    (LeaderChoice::InTurnUntilHistory, Some(horizon)) => format!(
                        "in turn: leaders are drawn by reputation from the blocks committed up to round {horizon}, and it has not committed that far (it is behind, restarted, or the committee has not committed for {} rounds)",
                        crate::consensus::reputation::EXCLUDE_ROUNDS
                    ),
                };
                format!(
                    "{node} enters round {round} (leader: node {}, {how}) because {why}; its round timer is {timeout_ms} ms.",
                    leader.0
                )
            }
            Event::ProposalSent { block } => format!(
                "{node} leads round {} and proposes {} at height {}, extending the block certified in round {}{} with {} batch(es).",
                block.round,
                block_name(&block.digest, block.round),
                block.height,
                block.qc_round,
                block.tc_round.map(|r| format!(" and carrying the timeout certificate of round {r}")).unwrap_or_default(),
                block.payload_batches
            ),
            Event::ProposalDeferred { round, until } => format!(
                "{node} leads round {round} but has nothing to propose: it waits until {until} (max block delay) instead of spinning empty blocks."
            ),
            Event::ProposalReceived { from, block } => format!(
                "{node} receives {} from node {} (round {}, height {}).",
                block_name(&block.digest, block.round),
                from.0,
                block.round,
                block.height
            ),
            Event::VoteSent { block, round, to, rule } => {
                let why = match rule {
                    VoteRule::ConsecutiveQc => format!(
                        "it extends the block certified in round {} (2-chain voting rule: QC from the previous round)",
                        round - 1
                    ),
                    VoteRule::TcWithHighestQc { tc_high_qc_round } => format!(
                        "round {} timed out and the block's QC is at least the highest QC in the TC (round {tc_high_qc_round}), so (with at most f Byzantine nodes, under a safe commit rule) it abandons no block that could have been committed",
                        round - 1
                    ),
                    VoteRule::ExtendsLock { locked_round } => {
                        format!("its QC is at least the locked round {locked_round} (3-chain voting rule)")
                    }
                };
                format!("{node} votes for {} and sends the vote to node {}, the next leader: {why}.", block_name(block, *round), to.0)
            }
            Event::VoteWithheld { block, round, reason } => {
                let why = match reason {
                    NoVoteReason::AlreadyVoted { last_voted_round } => {
                        format!("it already voted or timed out in round {last_voted_round} (one vote per round)")
                    }
                    NoVoteReason::NotCurrentRound { round } => format!("it is no longer in that round (it is in round {round})"),
                    NoVoteReason::NotJustified => {
                        "the block skips a round without a timeout certificate".to_string()
                    }
                    NoVoteReason::QcBelowTcHighQc { qc_round, tc_high_qc_round } => format!(
                        "its QC (round {qc_round}) is below the highest QC in its TC (round {tc_high_qc_round}): it could abandon a committed block"
                    ),
                    NoVoteReason::BelowLock { qc_round, locked_round } => {
                        format!("its QC (round {qc_round}) is below the locked round {locked_round}")
                    }
                    NoVoteReason::NotTheLeader { expected } => {
                        format!("its author does not lead that round (node {} does)", expected.0)
                    }
                    NoVoteReason::RepeatsBatch { batch, carried_at } => format!(
                        "it carries batch {} again, which the block at height {carried_at} of its chain already carries: committing it would execute those transactions twice",
                        batch.short()
                    ),
                };
                format!("{node} does not vote for {}: {why}.", block_name(block, *round))
            }
            Event::PayloadAwaited { block, batches } => format!(
                "{node} waits for the {batches} batch(es) of {} before voting: a vote promises the data is available.",
                block.short()
            ),
            Event::VoteReceived { from, block, round } => {
                format!("{node} receives node {}'s vote for {}.", from.0, block_name(block, *round))
            }
            Event::QcFormed { qc } => format!(
                "{node} gathers {} votes for {}: a quorum certificate (n − f signatures).",
                qc.votes.len(),
                block_name(&qc.block, qc.round)
            ),
            Event::HighQcUpdated { round, block } => {
                format!("{node}'s highest certified block is now {}.", block_name(block, *round))
            }
            Event::LockUpdated { locked_round } => format!("{node} locks on round {locked_round}."),
            Event::RoundStalled { round, awaited, timeouts, needed } => {
                let what = match awaited {
                    Awaited::Proposal { leader } => format!(
                        "no block it could vote for came from node {}, the round's leader",
                        leader.0
                    ),
                    Awaited::Votes { held } => format!(
                        "it leads round {} and collects the votes of round {round}: it holds {held} of the {needed} a QC needs",
                        round + 1
                    ),
                    Awaited::Qc { collector } => format!(
                        "it voted, and its vote went to node {}, who leads round {} and collects the votes; no block carrying their QC came",
                        collector.0,
                        round + 1
                    ),
                };
                let tally = if *timeouts == 0 {
                    format!("a TC needs {needed} timeouts")
                } else {
                    format!("it holds {timeouts} of the {needed} timeouts a TC needs")
                };
                format!("{node}'s round {round} brings no progress: {what}. Only a QC or a TC moves it on: {tally}.")
            }
            Event::TimeoutSent { round, high_qc_round, consecutive, joined } => format!(
                "{node} gives up on round {round} ({}; {consecutive} in a row): it stops voting in it and broadcasts a timeout carrying its highest QC (round {high_qc_round}).",
                if *joined {
                    "f + 1 replicas already did, so at least one honest one saw no progress"
                } else {
                    "no progress before its timer"
                }
            ),
            Event::Resent { round, what, to, stalled_ms } => match (what, to) {
                (Resent::Proposal, _) => format!(
                    "Round {round} has not moved for {stalled_ms} ms: {node} broadcasts its proposal again, in case a copy was lost on the way."
                ),
                (Resent::Vote, Some(to)) => format!(
                    "{node} has seen no certificate for round {round} in {stalled_ms} ms: it sends its vote to node {} again, in case the first was lost. The same signed vote: it still votes once.",
                    to.0
                ),
                (Resent::Vote, None) => format!("{node} sends its vote for round {round} again."),
                (Resent::Timeout, _) => format!(
                    "{node} still has no timeout certificate for round {round} after {stalled_ms} ms: it broadcasts its timeout again."
                ),
            },
            Event::TimeoutReceived { from, round } => format!("{node} receives node {}'s timeout for round {round}.", from.0),
            Event::TcFormed { tc } => format!(
                "{node} gathers {} timeouts for round {}: a timeout certificate; the next leader may propose without a QC for round {}.",
                tc.timeouts.len(),
                tc.round,
                tc.round
            ),
            Event::BlockCommitted { block, chain } => {
                let (rule, holds) = match chain.len() {
                    0 | 1 => (
                        "its QC alone commits it, under the deliberately unsafe 1-chain rule".to_string(),
                        "nothing stops a conflicting block from being certified and committed too",
                    ),
                    2 => (
                        format!("certified blocks in consecutive rounds {chain:?} form a 2-chain"),
                        "with at most f Byzantine nodes no conflicting block can be committed, and every block certified in a later round extends it",
                    ),
                    _ => (
                        format!("three certified blocks in consecutive rounds {chain:?} (3-chain rule)"),
                        "with at most f Byzantine nodes no conflicting block can be committed, and every block certified in a later round extends it",
                    ),
                };
                let rule = match chain.first() {
                    Some(head) if *head != block.round => {
                        format!("it is an ancestor of the round-{head} block, which commits because {rule}")
                    }
                    _ => rule,
                };
                format!(
                    "{node} commits {} at height {}: {rule}; {holds}.",
                    block_name(&block.digest, block.round),
                    block.height
                )
            }
            Event::BlockAbandoned { block, round, batches_returned } => format!(
                "{node} gives up on {}: a block at its height or above is committed on another branch, so it can never commit. {batches_returned} of its batches, carried by no other block, go back to be proposed again.",
                block_name(block, *round)
            ),
            Event::ConflictingCommit { block, committed_height } => format!(
                "{node} sees a certified chain through {} that conflicts with its commits up to height {committed_height}: only possible with more than f Byzantine replicas. It refuses it.",
                block_name(&block.digest, block.round)
            ),
            Event::MessageRejected { from, kind, reason, offence } => match offence {
                None => format!("{node} rejects a {kind} from node {}: {reason}.", from.0),
                Some(Offence::Equivocation { author, round }) if kind == "proposal" => format!(
                    "{node} catches node {} equivocating: a second, different block for round {round}, \
                     also signed by node {}. An honest leader proposes one block a round; {node} keeps the \
                     first it saw and votes for nothing else in the round. The signatures prove who lied.",
                    author.0, author.0
                ),
                Some(Offence::Equivocation { author, round }) if kind == "vote" => format!(
                    "{node} catches node {} voting twice in round {round}, for two different blocks (a \
                     double vote). An honest replica votes once a round; {node} counts the first vote only, \
                     so the liar adds one vote to one block, never one to each.",
                    author.0
                ),
                Some(Offence::Equivocation { author, round }) => format!(
                    "{node} catches node {} sending two different {kind}s for round {round}; it keeps the first.",
                    author.0
                ),
                Some(Offence::BadSignature { signer }) if signer == from => format!(
                    "{node} drops a {kind} from node {} whose signature does not verify against node {}'s \
                     public key: a forged or broken message counts for nothing.",
                    from.0, from.0
                ),
                Some(Offence::BadSignature { signer }) => format!(
                    "{node} drops a {kind} from node {} signed in the name of node {}: the signature does not \
                     verify against node {}'s public key. A forged message counts for nothing, so a liar \
                     cannot speak for honest replicas.",
                    from.0, signer.0, signer.0
                ),
                Some(Offence::ForgedCertificate { certificate, round }) => format!(
                    "{node} drops a {kind} from node {} carrying a forged {certificate} for round {round} ({reason}): \
                     a certificate counts only with a quorum of valid signatures from distinct replicas, \
                     which no liar can make up alone.",
                    from.0
                ),
            },
            Event::SyncRequested { digest, to } => {
                format!("{node} is missing block {} and asks node {} for it.", digest.short(), to.0)
            }
            Event::SyncServed { digest, to } => format!("{node} sends block {} to node {}.", digest.short(), to.0),
            Event::ChainRequested { above, to } => format!(
                "{node} is far behind (it has committed up to height {above}) and asks node {} for the committed blocks above it, up to {} at a time: catching up one block per round trip would take as many round trips as it is behind.",
                to.0,
                crate::messages::CHAIN_BLOCKS_MAX
            ),
            Event::ChainServed { above, blocks: 0, to } => {
                format!("{node} has committed nothing above height {above}, and tells node {} so.", to.0)
            }
            Event::ChainServed { above, blocks, to } => format!(
                "{node} sends node {} the {blocks} committed blocks above height {above}; each is signed by its leader and certified by the QC in the next one, so node {} can check them without trusting {node}.",
                to.0, to.0
            ),
            Event::CheckpointInstalled { from_height, height, round, proven_by, from } => format!(
                "{node} is further behind than its peers keep history: node {} has pruned heights {} to {} and sends the blocks from height {height} (round {round}) instead. The range proves them committed: the commit rule commits the block at height {proven_by} from the certified blocks above it (consecutive rounds), and every block below a committed one is committed, height {height} included. {node} takes height {height} as its checkpoint, its new last commit, goes on from there, and never holds heights {} to {}.",
                from.0,
                from_height + 1,
                height.saturating_sub(1),
                from_height + 1,
                height.saturating_sub(1)
            ),
            Event::Recovered { round, last_voted_round, committed_height } => format!(
                "{node} restarts from its store: round {round}, last voted round {last_voted_round}, committed height {committed_height}. It will never vote in round {last_voted_round} again."
            ),
            Event::BatchSealed { digest, transactions, bytes, reason, .. } => format!(
                "{node}'s mempool seals batch {} ({transactions} tx, {bytes} B, {}) and broadcasts it; consensus will propose only its digest.",
                digest.short(),
                match reason {
                    SealReason::Full => "full",
                    SealReason::Timer => "max batch delay",
                }
            ),
            Event::BatchReceived { digest, author } => {
                format!("{node} stores batch {} from node {}.", digest.short(), author.0)
            }
            Event::BatchesRequested { digests, to } => {
                format!("{node} asks node {} for {} missing batch(es).", to.0, digests.len())
            }
            Event::CommittedBatchesRequested { digests, to } => format!(
                "{node} asks node {} for {} batch(es) of blocks it committed without them (caught up by ranges): the application reads their transactions from its store.",
                to.0,
                digests.len()
            ),
            Event::CommittedBatchesGivenUp { height, batches } => format!(
                "{node} gives up {batches} batch(es) of its commit at height {height}: no peer served them (they pruned that height)."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(chain: Vec<Round>) -> String {
        let block = BlockInfo {
            digest: Digest::of(b"b"),
            round: 5,
            height: 3,
            author: NodeId(1),
            parent: Digest::of(b"a"),
            qc_round: 4,
            tc_round: None,
            payload_batches: 0,
        };
        Observed { time: Time(0), node: NodeId(2), event: Event::BlockCommitted { block, chain } }.narrate()
    }

    /// The commit line states what the rule guarantees, and nothing more: a 2-chain commit
    /// promises that no conflicting block can be *committed* (a conflicting one may still be
    /// certified in an earlier round), and the unsafe 1-chain rule promises nothing.
    #[test]
    fn a_commit_line_claims_only_what_its_commit_rule_guarantees() {
        let two = commit(vec![5, 6]);
        assert!(
            two.contains("form a 2-chain") && two.contains("no conflicting block can be committed"),
            "{two}"
        );
        assert!(!two.contains("can ever be certified"), "{two}");
        let three = commit(vec![5, 6, 7]);
        assert!(
            three.contains("3-chain rule") && three.contains("no conflicting block can be committed"),
            "{three}"
        );
        let one = commit(vec![5]);
        assert!(one.contains("unsafe 1-chain rule") && !one.contains("no conflicting block can be"), "{one}");
    }
}
