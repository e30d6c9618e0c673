//! Typed errors for bad input.
//!
//! Everything a peer can send wrong is an [`Error`]: the core observes it (as
//! [`crate::Event::MessageRejected`]) and drops the message. A broken *internal* invariant is not
//! an error but a panic: it means this node's own logic is wrong, and continuing could be unsafe.

use crate::types::{Digest, NodeId, Round};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which certificate: a QC (votes for a block) or a TC (timeouts of a round).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Certificate {
    /// A quorum certificate.
    Qc,
    /// A timeout certificate.
    Tc,
}

impl fmt::Display for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Qc => "QC",
            Self::Tc => "TC",
        })
    }
}

/// Misbehaviour a refused message shows: what an honest replica never sends. Honest replicas
/// catch it as they check what arrives, and the page and the logs name the culprit. A lagging
/// or confused peer never produces one (a message too far ahead, an unsolicited block, a
/// leader disagreement while reputations differ are plain [`Error`]s with no offence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Offence {
    /// Two different proposals (a leader), votes (a double vote) or timeouts for one round, each
    /// validly signed by `author`: proof that `author` is Byzantine.
    Equivocation {
        /// The signer of both.
        author: NodeId,
        /// The round.
        round: Round,
    },
    /// A message claims `signer` signed it, and the signature does not verify against
    /// `signer`'s public key: a forgery (by the sender, or by whoever made what it relays).
    BadSignature {
        /// The claimed signer.
        signer: NodeId,
    },
    /// A certificate that is not one: a bad aggregate signature, fewer than a quorum of
    /// distinct signers, or a fake genesis. Only a forger makes one.
    ForgedCertificate {
        /// A QC or a TC.
        certificate: Certificate,
        /// The round it claims to certify (0 for a fake genesis).
        round: Round,
    },
}

/// A few words for the deed (the page's mark on a caught node).
impl fmt::Display for Offence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Equivocation { round, .. } => write!(f, "signed two different messages in round {round}"),
            Self::BadSignature { signer } => {
                write!(f, "a message in node {}'s name with a forged signature", signer.0)
            }
            Self::ForgedCertificate { certificate, round } => {
                write!(f, "a forged {certificate} for round {round}")
            }
        }
    }
}

impl Offence {
    /// The node the offence proves guilty, if it proves one: the signer of two messages. A
    /// forgery proves nothing of the name it bears (that node did not sign it), so the one to
    /// suspect is whoever delivered it (honest replicas relay only what they verified).
    pub fn culprit(&self) -> Option<NodeId> {
        match self {
            Self::Equivocation { author, .. } => Some(*author),
            Self::BadSignature { .. } => None,
            Self::ForgedCertificate { .. } => None,
        }
    }
}

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
        /// A QC or a TC.
        kind: Certificate,
        /// The certified round.
        round: Round,
    },
    /// A certificate has fewer than `n - f` distinct signers.
    #[error("a {kind} for round {round} has {have} signers, needs {need}")]
    CertificateWithoutQuorum {
        /// A QC or a TC.
        kind: Certificate,
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
        /// A QC or a TC.
        kind: Certificate,
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

impl Error {
    /// The misbehaviour this refusal shows, if it shows one (see [`Offence`]).
    pub fn offence(&self) -> Option<Offence> {
        match *self {
            Self::Equivocation { author, round } => Some(Offence::Equivocation { author, round }),
            Self::BadSignature(signer) => Some(Offence::BadSignature { signer }),
            Self::BadCertificateSignature { kind, round }
            | Self::CertificateWithoutQuorum { kind, round, .. }
            | Self::DuplicateSigner { kind, round, .. } => {
                Some(Offence::ForgedCertificate { certificate: kind, round })
            }
            Self::ForgedGenesis => {
                Some(Offence::ForgedCertificate { certificate: Certificate::Qc, round: 0 })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_an_honest_replica_never_sends_is_an_offence() {
        let liar = NodeId(1);
        let offences = [
            Error::Equivocation { author: liar, round: 4 },
            Error::BadSignature(liar),
            Error::BadCertificateSignature { kind: Certificate::Qc, round: 4 },
            Error::CertificateWithoutQuorum { kind: Certificate::Tc, round: 4, have: 1, need: 3 },
            Error::DuplicateSigner { kind: Certificate::Qc, round: 4, signer: liar },
            Error::ForgedGenesis,
        ];
        for error in &offences {
            assert!(error.offence().is_some(), "{error}");
        }
        assert_eq!(offences[0].offence().and_then(|o| o.culprit()), Some(liar));
        // A forgery does not prove the name it bears guilty.
        assert_eq!(offences[1].offence().and_then(|o| o.culprit()), None);
        // A lagging, confused or impatient peer: no offence.
        let innocent = [
            Error::RoundTooFarAhead { round: 90, ours: 4 },
            Error::WrongLeader { round: 4, expected: NodeId(0), got: liar },
            Error::Unsolicited(Digest::default()),
            Error::RequestBudgetExceeded { peer: liar, items: 9 },
            Error::Decode("eof".to_string()),
        ];
        for error in &innocent {
            assert_eq!(error.offence(), None, "{error}");
        }
    }
}
