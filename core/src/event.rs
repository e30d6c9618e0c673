//! The observation stream: typed events stamped with time and node.
//!
//! State machines emit `Observe(Event)` actions; hosts collect them. The simulator hashes them
//! into the trace digest and feeds them to the invariant checkers; the page narrates them; the
//! native node logs them. Each event carries enough to explain *why* it happened (which rule
//! allowed a vote, which 2-chain committed a block), so narration never re-derives protocol logic.

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

/// Something a node did or saw, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The node entered `round`, whose leader is `leader`.
    RoundEntered {
        /// The new round.
        round: Round,
        /// Its leader.
        leader: NodeId,
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
    /// The round timer expired: the node stops voting in `round` and broadcasts a timeout.
    TimeoutSent {
        /// The round that timed out.
        round: Round,
        /// The high QC carried.
        high_qc_round: Round,
        /// How many rounds in a row have timed out here (the backoff exponent).
        consecutive: u32,
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
    /// consecutive rounds, so no conflicting block can ever be certified.
    BlockCommitted {
        /// The block.
        block: BlockInfo,
        /// The rounds of the chain that committed it (`[b0, b1]` for 2-chain, `[b0, b1, b2]` for
        /// 3-chain); for an ancestor committed along with the head, the head's chain.
        chain: Vec<Round>,
    },
    /// A certified chain that does not extend this node's committed chain: possible only with
    /// more than `f` Byzantine replicas. The node refuses to commit it.
    ConflictingCommit {
        /// The block that would have been committed.
        block: BlockInfo,
        /// This node's committed height.
        committed_height: Height,
    },
    /// A message was refused.
    MessageRejected {
        /// The sender as the transport saw it.
        from: NodeId,
        /// Message kind.
        kind: String,
        /// Why (the error's text).
        reason: String,
    },
    /// The node asked a peer for a missing block.
    SyncRequested {
        /// The missing block.
        digest: Digest,
        /// The peer asked.
        to: NodeId,
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
