//! Typed errors for bad input.
//!
//! Everything a peer can send wrong is an [`Error`]: the core observes it (as
//! [`crate::Event::MessageRejected`]) and drops the message. A broken *internal* invariant is not
//! an error but a panic: it means this node's own logic is wrong, and continuing could be unsafe.

use crate::types::{Digest, NodeId, Round};

/// Why a message (or configuration) was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The author or a signer is not a committee member.
    #[error("{0} is not a committee member")]
    UnknownSigner(NodeId),
    /// A proposal for `round` was authored by someone other than that round's leader.
    #[error("round {round} is led by {expected}, but the proposal is from {got}")]
    WrongLeader {
        /// The round of the proposal.
        round: Round,
        /// The leader of that round in the replica's view (round-robin, or drawn by reputation).
        expected: NodeId,
        /// The author the proposal claims.
        got: NodeId,
    },
    /// A signature does not verify against its claimed author's key.
    #[error("bad signature from {0}")]
    BadSignature(NodeId),
    /// A certificate's batch of signatures does not verify.
    #[error("a {kind} for round {round} carries an invalid signature")]
    BadCertificateSignature {
        /// "QC" or "TC".
        kind: &'static str,
        /// The certified round.
        round: Round,
    },
    /// A certificate has fewer than `n - f` distinct signers.
    #[error("a {kind} for round {round} has {have} signers, needs {need}")]
    CertificateWithoutQuorum {
        /// "QC" or "TC".
        kind: &'static str,
        /// The certified round.
        round: Round,
        /// Distinct signers present.
        have: usize,
        /// The quorum threshold.
        need: usize,
    },
    /// A certificate lists the same signer twice.
    #[error("{signer} signs a {kind} for round {round} twice")]
    DuplicateSigner {
        /// "QC" or "TC".
        kind: &'static str,
        /// The certified round.
        round: Round,
        /// The repeated signer.
        signer: NodeId,
    },
    /// A node voted for two different blocks in one round (or sent two different timeouts).
    #[error("{author} equivocates in round {round}")]
    Equivocation {
        /// The equivocating node.
        author: NodeId,
        /// The round.
        round: Round,
    },
    /// A block is structurally impossible (e.g. its round does not follow its QC).
    #[error("malformed block: {0}")]
    MalformedBlock(&'static str),
    /// A certificate claims to be genesis but is not the genesis certificate.
    #[error("forged genesis certificate")]
    ForgedGenesis,
    /// A message is too far in the future to be buffered.
    #[error("round {round} is too far ahead of our round {ours}")]
    RoundTooFarAhead {
        /// The message's round.
        round: Round,
        /// This node's round.
        ours: Round,
    },
    /// A round or height beyond [`crate::messages::ROUND_MAX`].
    #[error("round or height {0} is out of range")]
    OutOfRange(u64),
    /// A peer asked for more than its allowance of blocks or batches (see [`crate::budget`]).
    #[error("{peer} asked for more than its allowance ({items} items refused)")]
    RequestBudgetExceeded {
        /// The asker.
        peer: NodeId,
        /// What it asked for, in blocks or batches.
        items: u64,
    },
    /// A sync response carries a block nobody asked for.
    #[error("unsolicited block {0}")]
    Unsolicited(Digest),
    /// A chain request or response that breaks its rules (too many blocks, blocks that do not
    /// follow one another, a first block that extends nothing the requester holds).
    #[error("malformed chain: {0}")]
    MalformedChain(&'static str),
    /// Bytes that do not decode as a message.
    #[error("cannot decode message: {0}")]
    Decode(String),
    /// A frame larger than the limit.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// Frame size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A configuration that cannot work.
    #[error("invalid committee: {0}")]
    InvalidCommittee(String),
    /// Parameters that cannot work.
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
}
