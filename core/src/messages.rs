//! The consensus messages of 2-chain HotStuff and how each one is checked.
//!
//! | Message | Sent by | Sent to | Carries |
//! |---|---|---|---|
//! | [`Block`] (a proposal) | the leader of round `r` | everyone | payload digests, a QC for its parent, a TC if round `r - 1` timed out |
//! | [`Vote`] | every replica that accepts the block | the leader of `r + 1` | the block digest |
//! | [`Timeout`] | a replica whose round timer expired | everyone | its highest QC |
//! | [`TimeoutCert`] | whoever gathers `n - f` timeouts | everyone | the timeouts' signatures and high-QC rounds |
//! | `SyncRequest` / `SyncResponse` | a replica missing an ancestor | a peer | a block digest / the block |
//! | `ChainRequest` / `ChainResponse` | a replica far behind | a peer | a committed height / the committed blocks above it, oldest first |
//!
//! Requests name no requester: the answer goes to the sender the transport authenticated, so a
//! request cannot make a replica send blocks to a third party.
//!
//! Every message has `verify(&Committee)`, called before the message touches any state. It checks
//! membership, signatures and certificate quorums, and returns a precise
//! [`Error`] for anything wrong. Who leads a round is the consensus's to say (under leader
//! reputation it depends on the committed history), so it checks that on the proposal path and
//! again before any vote.

use crate::committee::Committee;
use crate::crypto::{verify_batch, KeyPair, Signature, Verifier};
use crate::error::{Certificate, Error};
use crate::types::{Digest, Height, NodeId, Round};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The most batch digests one block may carry (keeps a proposal well under the frame limit).
pub const BLOCK_PAYLOAD_MAX: usize = 4096;

/// The most blocks a `ChainRequest` may ask for, and a `ChainResponse` carry.
pub const CHAIN_BLOCKS_MAX: u16 = 64;

/// A server stops adding blocks to a `ChainResponse` once their encoding passes this many bytes
/// (it always sends at least one), so a response fits in a frame whatever the payloads.
pub const CHAIN_RESPONSE_BYTES_MAX: usize = 1024 * 1024;

/// The largest round or height a message may name (2^48: at a thousand rounds a second, about
/// 8,900 years). Checked before any arithmetic, so `round + 1` can never overflow on peer input.
pub const ROUND_MAX: Round = 1 << 48;

fn check_range(values: &[u64]) -> Result<(), Error> {
    match values.iter().find(|v| **v > ROUND_MAX) {
        None => Ok(()),
        Some(value) => Err(Error::OutOfRange(*value)),
    }
}

/// What a vote signs: "I vote for block `block` at `round`, height `height`".
fn vote_statement(block: &Digest, round: Round, height: Height) -> Digest {
    Digest::of_parts(&[b"vote", &block.0, &round.to_le_bytes(), &height.to_le_bytes()])
}

/// What a timeout signs: "round `round` timed out for me; my highest QC is from `high_qc_round`".
fn timeout_statement(round: Round, high_qc_round: Round) -> Digest {
    Digest::of_parts(&[b"timeout", &round.to_le_bytes(), &high_qc_round.to_le_bytes()])
}

/// A quorum certificate: `n - f` votes for one block. It proves that at least `f + 1` honest
/// replicas accepted the block, so no conflicting block of the same round can be certified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumCert {
    /// The certified block.
    pub block: Digest,
    /// That block's round.
    pub round: Round,
    /// That block's height.
    pub height: Height,
    /// The votes, sorted by signer.
    pub votes: Vec<(NodeId, Signature)>,
}

impl QuorumCert {
    /// The certificate of the genesis block, which every replica starts from.
    pub fn genesis() -> Self {
        Self { block: Block::genesis().digest(), round: 0, height: 0, votes: Vec::new() }
    }

    /// Whether this is the genesis certificate.
    pub fn is_genesis(&self) -> bool {
        self.round == 0
    }

    /// The distinct signers, in order.
    pub fn signers(&self) -> Vec<NodeId> {
        self.votes.iter().map(|(id, _)| *id).collect()
    }

    /// Checks quorum, distinct known signers and (in one batch) every signature.
    pub fn verify(&self, committee: &Committee) -> Result<(), Error> {
        let mut batch = SignatureBatch::default();
        self.check(committee, &mut batch)?;
        if batch.verify() {
            Ok(())
        } else {
            Err(Error::BadCertificateSignature { kind: Certificate::Qc, round: self.round })
        }
    }

    /// Checks everything but the signatures, which it adds to `batch`.
    fn check<'c>(&self, committee: &'c Committee, batch: &mut SignatureBatch<'c>) -> Result<(), Error> {
        check_range(&[self.round, self.height])?;
        if self.is_genesis() {
            return if *self == Self::genesis() { Ok(()) } else { Err(Error::ForgedGenesis) };
        }
        check_signers(committee, Certificate::Qc, self.round, self.votes.iter().map(|(id, _)| *id))?;
        let statement = vote_statement(&self.block, self.round, self.height);
        for (id, signature) in &self.votes {
            batch.push(statement, *signature, committee.verifier(*id)?);
        }
        Ok(())
    }
}

/// Signatures gathered from one message, checked together: batch verification of `k`
/// signatures costs much less than `k` single verifications.
#[derive(Default)]
struct SignatureBatch<'c> {
    statements: Vec<Digest>,
    signatures: Vec<Signature>,
    keys: Vec<&'c Verifier>,
}

impl<'c> SignatureBatch<'c> {
    fn push(&mut self, statement: Digest, signature: Signature, key: &'c Verifier) {
        self.statements.push(statement);
        self.signatures.push(signature);
        self.keys.push(key);
    }

    fn verify(&self) -> bool {
        verify_batch(&self.statements, &self.signatures, &self.keys)
    }
}

/// A timeout certificate: `n - f` timeouts for one round. It lets the next leader propose without
/// a QC for the previous round, and records each signer's highest QC round so that voters can
/// check the new proposal does not abandon a block that might have been committed. It carries the
/// highest of those QCs itself (as in Jolteon), so that a leader who learns of the TC second-hand
/// can still propose a block that extends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutCert {
    /// The round that timed out.
    pub round: Round,
    /// `(signer, signature, signer's high-QC round)`, sorted by signer.
    pub timeouts: Vec<(NodeId, Signature, Round)>,
    /// The highest QC among the signers' (its round is the highest reported). Boxed: a TC
    /// travels inside blocks and messages, which would otherwise all grow by a whole QC.
    pub high_qc: Box<QuorumCert>,
}

impl TimeoutCert {
    /// The highest QC round any signer reported. A block justified by this TC must carry a QC at
    /// least this high.
    pub fn high_qc_round(&self) -> Round {
        self.timeouts.iter().map(|(_, _, r)| *r).max().unwrap_or(0)
    }

    /// The signers, in order.
    pub fn signers(&self) -> Vec<NodeId> {
        self.timeouts.iter().map(|(id, _, _)| *id).collect()
    }

    /// Checks quorum, distinct known signers and every signature (batch).
    pub fn verify(&self, committee: &Committee) -> Result<(), Error> {
        let mut batch = SignatureBatch::default();
        self.check(committee, &mut batch)?;
        if batch.verify() {
            Ok(())
        } else {
            Err(Error::BadCertificateSignature { kind: Certificate::Tc, round: self.round })
        }
    }

    /// Checks everything but the signatures, which it adds to `batch`.
    fn check<'c>(&self, committee: &'c Committee, batch: &mut SignatureBatch<'c>) -> Result<(), Error> {
        check_range(&[self.round])?;
        check_signers(committee, Certificate::Tc, self.round, self.timeouts.iter().map(|(id, _, _)| *id))?;
        if self.high_qc.round != self.high_qc_round() {
            return Err(Error::MalformedBlock("a TC's QC must be the highest its signers reported"));
        }
        self.high_qc.check(committee, batch)?;
        if self.timeouts.iter().any(|(_, _, hqc)| *hqc >= self.round) {
            return Err(Error::BadCertificateSignature { kind: Certificate::Tc, round: self.round });
        }
        for (id, signature, high_qc_round) in &self.timeouts {
            batch.push(timeout_statement(self.round, *high_qc_round), *signature, committee.verifier(*id)?);
        }
        Ok(())
    }
}

fn check_signers(
    committee: &Committee,
    kind: Certificate,
    round: Round,
    signers: impl Iterator<Item = NodeId>,
) -> Result<(), Error> {
    let mut seen = BTreeSet::new();
    for signer in signers {
        if !committee.contains(signer) {
            return Err(Error::UnknownSigner(signer));
        }
        if !seen.insert(signer) {
            return Err(Error::DuplicateSigner { kind, round, signer });
        }
    }
    let need = committee.quorum_threshold();
    if seen.len() < need {
        return Err(Error::CertificateWithoutQuorum { kind, round, have: seen.len(), need });
    }
    Ok(())
}

/// A block: the leader's proposal for its round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The proposer, who must be the leader of `round`.
    pub author: NodeId,
    /// The round it is proposed in.
    pub round: Round,
    /// One above its parent's height.
    pub height: Height,
    /// Certifies the parent block (`qc.block` is the parent).
    pub qc: QuorumCert,
    /// Present when round `round - 1` ended by timeout rather than by a QC.
    pub tc: Option<TimeoutCert>,
    /// Digests of mempool batches; the transactions themselves travel separately.
    pub payload: Vec<Digest>,
    /// The author's signature over the block digest.
    pub signature: Signature,
}

impl Block {
    /// The genesis block at round 0, height 0: the common root every chain extends.
    pub fn genesis() -> Self {
        Self {
            author: NodeId(0),
            round: 0,
            height: 0,
            qc: QuorumCert { block: Digest::default(), round: 0, height: 0, votes: Vec::new() },
            tc: None,
            payload: Vec::new(),
            signature: Signature::ZERO,
        }
    }

    /// Builds and signs a proposal.
    pub fn new(
        keys: &KeyPair,
        author: NodeId,
        round: Round,
        qc: QuorumCert,
        tc: Option<TimeoutCert>,
        payload: Vec<Digest>,
    ) -> Self {
        let mut block =
            Self { author, round, height: qc.height + 1, qc, tc, payload, signature: Signature::ZERO };
        block.signature = keys.sign(&block.digest());
        block
    }

    /// The block's name. It covers author, round, height, parent and payload (not the TC, which
    /// only justifies the round, nor the signature).
    pub fn digest(&self) -> Digest {
        let payload: Vec<u8> = self.payload.iter().flat_map(|d| d.0).collect();
        Digest::of_parts(&[
            b"block",
            &self.author.0.to_le_bytes(),
            &self.round.to_le_bytes(),
            &self.height.to_le_bytes(),
            &self.qc.block.0,
            &self.qc.round.to_le_bytes(),
            &payload,
        ])
    }

    /// The parent's digest.
    pub fn parent(&self) -> Digest {
        self.qc.block
    }

    /// Checks the block on its own: author, signature, embedded certificates and structure. Not
    /// whether its author leads its round: under leader reputation that depends on the
    /// replica's committed history, so the consensus checks it for proposals and before every
    /// vote ([`crate::Consensus::leader`]): a block can also arrive in a range of the chain or
    /// as a synced parent, and the newest block of a range is certified by nothing.
    /// Whether it is *safe to vote for* is a separate question (see the consensus safety rules).
    pub fn verify(&self, committee: &Committee) -> Result<(), Error> {
        check_range(&[self.round, self.height, self.qc.round, self.qc.height])?;
        check_range(&[self.tc.as_ref().map_or(0, |tc| tc.round)])?;
        if !committee.contains(self.author) {
            return Err(Error::UnknownSigner(self.author));
        }
        if self.round <= self.qc.round {
            return Err(Error::MalformedBlock("round must be above its QC's round"));
        }
        if self.height != self.qc.height + 1 {
            return Err(Error::MalformedBlock("height must be one above its parent"));
        }
        if self.payload.len() > BLOCK_PAYLOAD_MAX {
            return Err(Error::MalformedBlock("too many payload digests"));
        }
        let distinct: BTreeSet<&Digest> = self.payload.iter().collect();
        if distinct.len() != self.payload.len() {
            return Err(Error::MalformedBlock("payload repeats a batch"));
        }
        if let Some(tc) = &self.tc {
            if tc.round + 1 != self.round {
                return Err(Error::MalformedBlock("a TC must be for the round just before the block"));
            }
        } else if self.qc.round + 1 != self.round {
            return Err(Error::MalformedBlock("a block after a skipped round must carry a TC"));
        }
        // One batch for the proposer's signature, the QC and the TC. Only if it fails are the
        // parts checked one by one, to name the culprit.
        let mut batch = SignatureBatch::default();
        batch.push(self.digest(), self.signature, committee.verifier(self.author)?);
        self.qc.check(committee, &mut batch)?;
        if let Some(tc) = &self.tc {
            tc.check(committee, &mut batch)?;
        }
        if batch.verify() {
            return Ok(());
        }
        if !committee.verifier(self.author)?.verify(&self.digest(), &self.signature) {
            return Err(Error::BadSignature(self.author));
        }
        self.qc.verify(committee)?;
        if let Some(tc) = &self.tc {
            tc.verify(committee)?;
        }
        unreachable!("a batch that fails has a part that fails")
    }
}

/// A vote for a block, sent to the leader of the next round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The block voted for.
    pub block: Digest,
    /// Its round.
    pub round: Round,
    /// Its height.
    pub height: Height,
    /// The voter.
    pub author: NodeId,
    /// The voter's signature.
    pub signature: Signature,
}

impl Vote {
    /// Signs a vote for `block`.
    pub fn new(keys: &KeyPair, author: NodeId, block: &Block) -> Self {
        let digest = block.digest();
        let signature = keys.sign(&vote_statement(&digest, block.round, block.height));
        Self { block: digest, round: block.round, height: block.height, author, signature }
    }

    /// Checks membership, ranges and the signature.
    pub fn verify(&self, committee: &Committee) -> Result<(), Error> {
        check_range(&[self.round, self.height])?;
        let statement = vote_statement(&self.block, self.round, self.height);
        if committee.verifier(self.author)?.verify(&statement, &self.signature) {
            Ok(())
        } else {
            Err(Error::BadSignature(self.author))
        }
    }
}

/// "Round `round` timed out for me", with the sender's highest QC so that the next leader can
/// extend the highest certified block anyone has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeout {
    /// The round that timed out.
    pub round: Round,
    /// The sender's highest QC.
    pub high_qc: QuorumCert,
    /// The sender.
    pub author: NodeId,
    /// Signature over `(round, high_qc.round)`.
    pub signature: Signature,
}

impl Timeout {
    /// Signs a timeout.
    pub fn new(keys: &KeyPair, author: NodeId, round: Round, high_qc: QuorumCert) -> Self {
        let signature = keys.sign(&timeout_statement(round, high_qc.round));
        Self { round, high_qc, author, signature }
    }

    /// Checks membership, the signature and the carried QC.
    pub fn verify(&self, committee: &Committee) -> Result<(), Error> {
        check_range(&[self.round])?;
        if self.high_qc.round >= self.round {
            return Err(Error::MalformedBlock("a timeout's high QC must be from an earlier round"));
        }
        let statement = timeout_statement(self.round, self.high_qc.round);
        if !committee.verifier(self.author)?.verify(&statement, &self.signature) {
            return Err(Error::BadSignature(self.author));
        }
        self.high_qc.verify(committee)
    }
}

/// Everything consensus replicas say to each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsensusMessage {
    /// A leader's proposal.
    Propose(Block),
    /// A vote, to the next leader.
    Vote(Vote),
    /// A timeout, to everyone.
    Timeout(Timeout),
    /// A timeout certificate, to everyone (so that nobody stays behind in a dead round).
    Tc(TimeoutCert),
    /// "Send me the block with this digest." Answered to the sender.
    SyncRequest {
        /// The missing block.
        digest: Digest,
    },
    /// The answer to a `SyncRequest`; authenticated by its digest matching the request.
    SyncResponse(Block),
    /// "Send me the committed blocks above height `above`, at most `max` of them." How a
    /// replica far behind catches up: ranges of the committed chain, each linked to the last
    /// block it holds. Answered to the sender.
    ChainRequest {
        /// The requester's committed height.
        above: Height,
        /// At most this many blocks (at most [`CHAIN_BLOCKS_MAX`]).
        max: u16,
    },
    /// The answer to a `ChainRequest`: consecutive committed blocks, oldest first (empty when
    /// the server has committed nothing above the height asked). Each block is signed and
    /// certified by the QC in the next one, and the first must extend a block the requester
    /// holds, so a server can withhold blocks but cannot make the requester commit a block that
    /// the commit rule does not commit.
    ChainResponse(Vec<Block>),
}

impl ConsensusMessage {
    /// A short name of the message kind, for logs and the page.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Propose(_) => "proposal",
            Self::Vote(_) => "vote",
            Self::Timeout(_) => "timeout",
            Self::Tc(_) => "tc",
            Self::SyncRequest { .. } => "sync-request",
            Self::SyncResponse(_) => "sync-response",
            Self::ChainRequest { .. } => "chain-request",
            Self::ChainResponse(_) => "chain-response",
        }
    }

    /// The round the message is about (0 for sync messages about unknown blocks).
    pub fn round(&self) -> Round {
        match self {
            Self::Propose(b) | Self::SyncResponse(b) => b.round,
            Self::Vote(v) => v.round,
            Self::Timeout(t) => t.round,
            Self::Tc(tc) => tc.round,
            Self::SyncRequest { .. } | Self::ChainRequest { .. } => 0,
            Self::ChainResponse(blocks) => blocks.last().map_or(0, |b| b.round),
        }
    }

    /// Checks the message on its own (see each type's `verify`).
    pub fn verify(&self, committee: &Committee) -> Result<(), Error> {
        match self {
            Self::Propose(block) | Self::SyncResponse(block) => block.verify(committee),
            Self::Vote(vote) => vote.verify(committee),
            Self::Timeout(timeout) => timeout.verify(committee),
            Self::Tc(tc) => tc.verify(committee),
            Self::SyncRequest { .. } => Ok(()),
            Self::ChainRequest { above, max } => {
                check_range(&[*above])?;
                if *max == 0 || *max > CHAIN_BLOCKS_MAX {
                    return Err(Error::MalformedChain("a chain request asks for 1 to 64 blocks"));
                }
                Ok(())
            }
            Self::ChainResponse(blocks) => {
                if blocks.len() > usize::from(CHAIN_BLOCKS_MAX) {
                    return Err(Error::MalformedChain("more blocks than a chain request may ask for"));
                }
                for pair in blocks.windows(2) {
                    if pair[1].parent() != pair[0].digest() {
                        return Err(Error::MalformedChain("a block does not extend the one before it"));
                    }
                }
                blocks.iter().try_for_each(|block| block.verify(committee))
            }
        }
    }
}
