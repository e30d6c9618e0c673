//! The invariant checkers can fail: fed a history that breaks a rule, each one reports it.
//! (A checker that never fails would make every simulator test meaningless.)

use hotstuff_core::event::{BlockInfo, Event, LeaderChoice, Observed, RoundReason, VoteRule};
use hotstuff_core::sim::{Checker, Invariant};
use hotstuff_core::{Block, Committee, Digest, NodeId, Time};

fn observed(node: u16, event: Event) -> Observed {
    Observed { time: Time(1), node: NodeId(node), event }
}

fn block_info(height: u64, round: u64, parent: Digest, tag: u8) -> BlockInfo {
    BlockInfo {
        digest: Digest([tag; 32]),
        round,
        height,
        author: NodeId(1),
        parent,
        qc_round: round - 1,
        tc_round: None,
        payload_batches: 0,
    }
}

#[test]
fn agreement_checker_reports_two_blocks_at_one_height() {
    let mut checker = Checker::new(Committee::from_seed(1, 4));
    let genesis = Block::genesis().digest();
    let a = block_info(1, 1, genesis, 0xaa);
    let b = block_info(1, 1, genesis, 0xbb);
    checker.observe(&observed(0, Event::BlockCommitted { block: a, chain: vec![1, 2] })).unwrap();
    let error =
        checker.observe(&observed(1, Event::BlockCommitted { block: b, chain: vec![1, 2] })).unwrap_err();
    assert_eq!(error.invariant, Invariant::Agreement, "{error}");
}

#[test]
fn extension_checker_reports_a_gap_in_a_nodes_commits() {
    let mut checker = Checker::new(Committee::from_seed(1, 4));
    let skipped = block_info(2, 2, Digest([7; 32]), 0xcc);
    let error = checker
        .observe(&observed(0, Event::BlockCommitted { block: skipped, chain: vec![2, 3] }))
        .unwrap_err();
    assert_eq!(error.invariant, Invariant::CommitsOnlyExtend, "{error}");
}

#[test]
fn vote_checker_reports_a_second_vote_in_a_round() {
    let mut checker = Checker::new(Committee::from_seed(1, 4));
    let vote = |tag| Event::VoteSent {
        block: Digest([tag; 32]),
        round: 3,
        to: NodeId(0),
        rule: VoteRule::ConsecutiveQc,
    };
    checker.observe(&observed(2, vote(1))).unwrap();
    let error = checker.observe(&observed(2, vote(2))).unwrap_err();
    assert_eq!(error.invariant, Invariant::OneVotePerRound, "{error}");
}

#[test]
fn round_checker_reports_a_round_going_back() {
    let mut checker = Checker::new(Committee::from_seed(1, 4));
    let enter = |round| Event::RoundEntered {
        round,
        leader: NodeId(0),
        chosen: LeaderChoice::InTurn,
        reason: RoundReason::Qc { qc_round: round - 1 },
        timeout_ms: 1000,
    };
    checker.observe(&observed(1, enter(5))).unwrap();
    let error = checker.observe(&observed(1, enter(4))).unwrap_err();
    assert_eq!(error.invariant, Invariant::MonotonicRounds, "{error}");
}

#[test]
fn round_checker_holds_a_restart_to_the_last_round_voted_in() {
    let mut checker = Checker::new(Committee::from_seed(1, 4));
    let start = |round| Event::RoundEntered {
        round,
        leader: NodeId(0),
        chosen: LeaderChoice::InTurn,
        reason: RoundReason::Start,
        timeout_ms: 1000,
    };
    let vote =
        Event::VoteSent { block: Digest([1; 32]), round: 5, to: NodeId(2), rule: VoteRule::ConsecutiveQc };
    checker.observe(&observed(1, vote)).unwrap();
    // Entered round 6 but never voted in it: a restart may resume in round 5 (what was persisted)...
    checker
        .observe(&observed(
            1,
            Event::RoundEntered {
                round: 6,
                leader: NodeId(2),
                chosen: LeaderChoice::InTurn,
                reason: RoundReason::Qc { qc_round: 5 },
                timeout_ms: 1000,
            },
        ))
        .unwrap();
    checker.observe(&observed(1, start(5))).unwrap();
    // ...but never below the round it voted in.
    let error = checker.observe(&observed(1, start(4))).unwrap_err();
    assert_eq!(error.invariant, Invariant::MonotonicRounds, "{error}");
}

#[test]
fn batch_checker_reports_a_batch_committed_at_two_heights() {
    let mut checker = Checker::new(Committee::from_seed(1, 4));
    let key = hotstuff_core::KeyPair::from_seed(1, 1);
    let batch = Digest([9; 32]);
    let block = |round, height, payload| {
        let mut block =
            Block::new(&key, NodeId(1), round, hotstuff_core::QuorumCert::genesis(), None, payload);
        block.height = height;
        block
    };
    checker.delivered(NodeId(0), &block(1, 1, vec![batch])).unwrap();
    // The same block delivered by another replica is fine.
    checker.delivered(NodeId(2), &block(1, 1, vec![batch])).unwrap();
    let error = checker.delivered(NodeId(0), &block(3, 2, vec![batch])).unwrap_err();
    assert_eq!(error.invariant, Invariant::BatchCommitsOnce, "{error}");
    let error =
        checker.delivered(NodeId(3), &block(4, 3, vec![Digest([8; 32]), Digest([8; 32])])).unwrap_err();
    assert_eq!(error.invariant, Invariant::BatchCommitsOnce, "{error}");
}

#[test]
fn certificate_checker_reports_a_qc_without_quorum() {
    let mut checker = Checker::new(Committee::from_seed(1, 4));
    let qc = hotstuff_core::QuorumCert { block: Digest([1; 32]), round: 4, height: 2, votes: Vec::new() };
    let error = checker.observe(&observed(0, Event::QcFormed { qc })).unwrap_err();
    assert_eq!(error.invariant, Invariant::QuorumCertificates, "{error}");
}

/// A forged signature is never accepted, memo or not: only successful verifications are
/// remembered, keyed by the exact (key, statement, signature).
#[test]
fn forged_vote_fails_even_after_the_genuine_one_was_verified() {
    hotstuff_core::crypto::set_verification_memo(true);
    let committee = Committee::from_seed(1, 4);
    let keys = hotstuff_core::KeyPair::from_seed(1, 2);
    let block = Block::new(
        &hotstuff_core::KeyPair::from_seed(1, 1),
        NodeId(1),
        1,
        hotstuff_core::QuorumCert::genesis(),
        None,
        vec![],
    );
    let vote = hotstuff_core::Vote::new(&keys, NodeId(2), &block);
    vote.verify(&committee).expect("genuine vote verifies");
    let forged = hotstuff_core::Vote { signature: vote.signature.corrupted(), ..vote.clone() };
    assert!(forged.verify(&committee).is_err());
    let misattributed = hotstuff_core::Vote { author: NodeId(3), ..vote };
    assert!(misattributed.verify(&committee).is_err());
    hotstuff_core::crypto::set_verification_memo(false);
}

/// The wire checker (`Checker::sent`) judges the signed votes and timeouts a replica sends, not
/// what it reports: these are the histories the issue found the old checker accepting.
mod signed_rounds_increase {
    use super::*;
    use hotstuff_core::{ConsensusMessage, KeyPair, QuorumCert, Timeout, Vote};

    fn keys(node: u16) -> KeyPair {
        KeyPair::from_seed(1, node)
    }

    fn vote(node: u16, round: u64, tag: u8) -> ConsensusMessage {
        let block =
            Block::new(&keys(1), NodeId(1), round, QuorumCert::genesis(), None, vec![Digest([tag; 32])]);
        ConsensusMessage::Vote(Vote::new(&keys(node), NodeId(node), &block))
    }

    fn timeout(node: u16, round: u64) -> ConsensusMessage {
        ConsensusMessage::Timeout(Timeout::new(&keys(node), NodeId(node), round, QuorumCert::genesis()))
    }

    fn checker() -> Checker {
        Checker::new(Committee::from_seed(1, 4))
    }

    #[test]
    fn a_vote_in_a_round_the_replica_timed_out_in_is_reported() {
        let mut checker = checker();
        checker.sent(NodeId(2), &timeout(2, 5)).unwrap();
        let error = checker.sent(NodeId(2), &vote(2, 5, 1)).unwrap_err();
        assert_eq!(error.invariant, Invariant::SignedRoundsIncrease, "{error}");
        assert!(error.detail.contains("after signing a timeout in round 5"), "{error}");
    }

    #[test]
    fn a_vote_in_a_lower_round_is_reported() {
        let mut checker = checker();
        checker.sent(NodeId(2), &vote(2, 7, 1)).unwrap();
        let error = checker.sent(NodeId(2), &vote(2, 6, 2)).unwrap_err();
        assert_eq!(error.invariant, Invariant::SignedRoundsIncrease, "{error}");
    }

    #[test]
    fn a_second_vote_in_one_round_is_reported() {
        let mut checker = checker();
        checker.sent(NodeId(2), &vote(2, 7, 1)).unwrap();
        assert!(checker.sent(NodeId(2), &vote(2, 7, 2)).is_err());
    }

    #[test]
    fn a_timeout_below_a_round_voted_in_is_reported() {
        let mut checker = checker();
        checker.sent(NodeId(2), &vote(2, 7, 1)).unwrap();
        assert!(checker.sent(NodeId(2), &timeout(2, 6)).is_err());
    }

    #[test]
    fn what_the_protocol_allows_passes() {
        let mut checker = checker();
        // Vote, then time out in the same round (the round still failed), time out again
        // (re-broadcast), then vote in a later round; the same vote sent twice is one vote.
        for message in
            [vote(2, 3, 1), timeout(2, 3), timeout(2, 3), timeout(2, 4), vote(2, 5, 1), vote(2, 5, 1)]
        {
            checker.sent(NodeId(2), &message).unwrap();
        }
        // A Byzantine replica is not held to it.
        checker.set_honest(NodeId(3), false);
        checker.sent(NodeId(3), &timeout(3, 5)).unwrap();
        checker.sent(NodeId(3), &vote(3, 5, 1)).unwrap();
    }
}

/// Persist before send (`Checker::crashed`, `Checker::sent_durably`): what a replica signed and
/// sent must be covered by what its store holds.
mod persist_before_send {
    use super::*;
    use hotstuff_core::{ConsensusMessage, KeyPair, QuorumCert, Timeout, Vote};

    fn vote(round: u64) -> ConsensusMessage {
        let block =
            Block::new(&KeyPair::from_seed(1, 1), NodeId(1), round, QuorumCert::genesis(), None, vec![]);
        ConsensusMessage::Vote(Vote::new(&KeyPair::from_seed(1, 2), NodeId(2), &block))
    }

    #[test]
    fn a_crash_after_a_vote_its_store_does_not_record_is_reported() {
        let mut checker = Checker::new(Committee::from_seed(1, 4));
        checker.sent(NodeId(2), &vote(7)).unwrap();
        checker.crashed(NodeId(2), Some(7)).unwrap();
        let error = checker.crashed(NodeId(2), Some(6)).unwrap_err();
        assert_eq!(error.invariant, Invariant::PersistBeforeSend, "{error}");
        assert!(error.detail.contains("after sending a vote in round 7"), "{error}");
        assert!(checker.crashed(NodeId(2), None).is_err(), "nothing persisted at all");
        // A timeout counts like a vote.
        let timeout = Timeout::new(&KeyPair::from_seed(1, 2), NodeId(2), 9, QuorumCert::genesis());
        checker.sent(NodeId(2), &ConsensusMessage::Timeout(timeout)).unwrap();
        assert!(checker.crashed(NodeId(2), Some(8)).is_err());
        checker.crashed(NodeId(2), Some(9)).unwrap();
        // A Byzantine replica is not held to it.
        checker.set_honest(NodeId(3), false);
        checker.crashed(NodeId(3), None).unwrap();
    }

    #[test]
    fn a_vote_its_store_does_not_record_by_the_end_of_its_step_is_reported() {
        let checker = Checker::new(Committee::from_seed(1, 4));
        checker.sent_durably(NodeId(2), &vote(7), Some(7)).unwrap();
        let error = checker.sent_durably(NodeId(2), &vote(7), Some(6)).unwrap_err();
        assert_eq!(error.invariant, Invariant::PersistBeforeSend, "{error}");
    }
}

/// The commit-rule oracle (`CertifiedExtendsCommitted`): a block certified in a round above the
/// round that decided a commit must extend the committed block.
mod certified_extends_committed {
    use super::*;

    #[test]
    fn a_certificate_from_a_later_round_on_another_branch_is_reported() {
        let mut checker = Checker::new(Committee::from_seed(1, 4));
        let genesis = Block::genesis().digest();
        // n0 commits C (round 1, height 1), decided by the 2-chain [1, 2].
        let c = block_info(1, 1, genesis, 0xc1);
        checker.observe(&observed(0, Event::BlockCommitted { block: c, chain: vec![1, 2] })).unwrap();
        // A block whose QC certifies X (round 3, height 1, a sibling of C): a fork, seen as soon as
        // the certificate is, before any honest replica commits X.
        let x = Digest([0x99; 32]);
        let mut child = block_info(2, 4, x, 0xd1);
        child.qc_round = 3;
        let error = checker
            .observe(&observed(1, Event::ProposalReceived { from: NodeId(0), block: child }))
            .unwrap_err();
        assert_eq!(error.invariant, Invariant::CertifiedExtendsCommitted, "{error}");
    }

    #[test]
    fn a_sibling_certified_before_the_round_that_decided_the_commit_is_no_fork() {
        let mut checker = Checker::new(Committee::from_seed(1, 4));
        let genesis = Block::genesis().digest();
        // C (round 3) is committed as an ancestor of a round-5 block (2-chain [5, 6]); a sibling
        // of C certified in round 4 and then abandoned by a TC is legitimate.
        let c = block_info(1, 3, genesis, 0xc1);
        checker.observe(&observed(0, Event::BlockCommitted { block: c, chain: vec![5, 6] })).unwrap();
        let sibling = Digest([0x44; 32]);
        let mut child = block_info(2, 5, sibling, 0xd1);
        child.qc_round = 4;
        checker.observe(&observed(1, Event::ProposalReceived { from: NodeId(1), block: child })).unwrap();
    }
}
