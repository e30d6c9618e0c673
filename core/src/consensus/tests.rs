//! Unit tests of the consensus core, one protocol rule per test.
//!
//! Committee: seed 1, n = 4, so f = 1 and a quorum is 3. The leader of round `r` is `n(r % 4)`:
//! round 1 is led by n1, round 2 by n2, round 3 by n3, round 4 by n0 (leaders in turn:
//! [`fixtures::params`]; the tests of reputation say so). Votes for a round-`r` block go to the
//! leader of `r + 1`.

use super::safety::{committed_by, vote_rule, VoterState};
use super::*;
use crate::crypto::Signature;
use crate::error::Certificate;
use crate::event::{NoVoteReason, VoteRule};
use crate::params::CommitRule;
use crate::store::StoreBackend as _;
use fixtures::*;

mod fixtures {
    use super::super::{Action, Consensus, Input, PersistentState};
    use crate::committee::Committee;
    use crate::crypto::KeyPair;
    use crate::error::Error;
    use crate::event::Event;
    use crate::messages::{Block, ConsensusMessage, QuorumCert, Timeout, TimeoutCert, Vote};
    use crate::params::Parameters;
    use crate::time::Time;
    use crate::types::{Digest, NodeId, Round};

    /// Every key and the committee derive from this seed.
    pub(super) const SEED: u64 = 1;
    /// Committee size (f = 1, quorum 3).
    pub(super) const N: u16 = 4;

    pub(super) fn committee(n: u16) -> Committee {
        Committee::from_seed(SEED, n)
    }

    pub(super) fn keys(i: u16) -> KeyPair {
        KeyPair::from_seed(SEED, i)
    }

    pub(super) fn at(ms: u64) -> Time {
        Time(ms)
    }

    /// The round-robin leader of `round` (as an index).
    pub(super) fn leader(round: Round) -> u16 {
        (round % u64::from(N)) as u16
    }

    /// The default parameters with leaders in turn, as these tests name them.
    pub(super) fn params() -> Parameters {
        Parameters { leader_election: crate::LeaderElection::RoundRobin, ..Parameters::default() }
    }

    /// A fresh replica with [`params`], started at time 0; also its start actions.
    pub(super) fn replica(id: u16) -> (Consensus, Vec<Action>) {
        replica_with(id, params(), None)
    }

    /// A replica with the given parameters and recovered state, started at time 0.
    pub(super) fn replica_with(
        id: u16,
        params: Parameters,
        recovered: Option<PersistentState>,
    ) -> (Consensus, Vec<Action>) {
        let mut consensus = Consensus::new(NodeId(id), committee(N), keys(id), params, recovered);
        let actions = consensus.handle(Time::ZERO, Input::Start);
        (consensus, actions)
    }

    /// A block signed by `author`.
    pub(super) fn signed_block(
        author: u16,
        round: Round,
        qc: QuorumCert,
        tc: Option<TimeoutCert>,
        payload: Vec<Digest>,
    ) -> Block {
        Block::new(&keys(author), NodeId(author), round, qc, tc, payload)
    }

    /// A proposal by the leader of `round` extending the block `qc` certifies.
    pub(super) fn proposal(round: Round, qc: &QuorumCert, payload: Vec<Digest>) -> Block {
        signed_block(leader(round), round, qc.clone(), None, payload)
    }

    /// A batch digest.
    pub(super) fn batch(n: u8) -> Digest {
        Digest::of(&[b'b', n])
    }

    pub(super) fn vote(i: u16, block: &Block) -> Vote {
        Vote::new(&keys(i), NodeId(i), block)
    }

    /// A QC for `block` from the votes of the first quorum of keys (n0, n1, n2).
    pub(super) fn qc(block: &Block) -> QuorumCert {
        qc_from(block, &[0, 1, 2])
    }

    /// A QC for `block` from the votes of `signers`, sorted by signer.
    pub(super) fn qc_from(block: &Block, signers: &[u16]) -> QuorumCert {
        let mut votes: Vec<_> = signers
            .iter()
            .map(|&i| {
                let vote = vote(i, block);
                (vote.author, vote.signature)
            })
            .collect();
        votes.sort_by_key(|(id, _)| *id);
        QuorumCert { block: block.digest(), round: block.round, height: block.height, votes }
    }

    pub(super) fn timeout(i: u16, round: Round, high_qc: &QuorumCert) -> Timeout {
        Timeout::new(&keys(i), NodeId(i), round, high_qc.clone())
    }

    /// A TC for `round` from these timeouts, sorted by signer.
    pub(super) fn tc(round: Round, timeouts: &[Timeout]) -> TimeoutCert {
        let mut entries: Vec<_> = timeouts
            .iter()
            .map(|t| {
                assert_eq!(t.round, round, "a TC gathers timeouts of one round");
                (t.author, t.signature, t.high_qc.round)
            })
            .collect();
        entries.sort_by_key(|(id, _, _)| *id);
        // The highest QC among them, the first of its round in arrival order (as the aggregator).
        let mut high_qc = timeouts[0].high_qc.clone();
        for t in timeouts {
            if t.high_qc.round > high_qc.round {
                high_qc = t.high_qc.clone();
            }
        }
        TimeoutCert { round, timeouts: entries, high_qc: Box::new(high_qc) }
    }

    /// A TC for `round` from n0, n1, n3, all with the genesis high QC.
    pub(super) fn genesis_tc(round: Round) -> TimeoutCert {
        let genesis = QuorumCert::genesis();
        tc(round, &[timeout(0, round, &genesis), timeout(1, round, &genesis), timeout(3, round, &genesis)])
    }

    pub(super) fn msg(from: u16, message: ConsensusMessage) -> Input {
        Input::Message { from: NodeId(from), message }
    }

    /// `block` proposed to us by `from`.
    pub(super) fn propose(from: u16, block: &Block) -> Input {
        msg(from, ConsensusMessage::Propose(block.clone()))
    }

    /// The events among the actions, in order.
    pub(super) fn events(actions: &[Action]) -> Vec<Event> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Observe(event) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    /// The blocks broadcast as proposals.
    pub(super) fn proposals_broadcast(actions: &[Action]) -> Vec<Block> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Broadcast { message: ConsensusMessage::Propose(block) } => Some(block.clone()),
                _ => None,
            })
            .collect()
    }

    /// The votes sent, with their recipients.
    pub(super) fn votes_sent(actions: &[Action]) -> Vec<(NodeId, Vote)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { to, message: ConsensusMessage::Vote(vote) } => Some((*to, vote.clone())),
                _ => None,
            })
            .collect()
    }

    /// Whether anything leaves the replica (send, broadcast, commit or serve).
    pub(super) fn is_visible(action: &Action) -> bool {
        matches!(
            action,
            Action::Send { .. }
                | Action::Broadcast { .. }
                | Action::Commit(_)
                | Action::ServeFromStore { .. }
                | Action::ServeChainFromStore { .. }
        )
    }

    /// The rejection event of a message of `kind` from `from`.
    pub(super) fn rejected(from: u16, kind: &str, error: &Error) -> Action {
        Action::Observe(Event::rejected(NodeId(from), kind, error))
    }

    /// The persistent state of a fresh replica in `round` that last voted in `last_voted_round`.
    pub(super) fn state(round: Round, last_voted_round: Round) -> PersistentState {
        PersistentState { round, last_voted_round, ..PersistentState::genesis() }
    }
}

fn genesis() -> QuorumCert {
    QuorumCert::genesis()
}

fn round_entered(round: Round, reason: RoundReason, timeout_ms: u64) -> Action {
    Action::Observe(Event::RoundEntered {
        round,
        leader: NodeId(leader(round)),
        chosen: LeaderChoice::InTurn,
        reason,
        timeout_ms,
    })
}

fn resend_timer(round: Round, deadline: u64) -> Action {
    Action::SetTimer { timer: Timer::Resend(round), deadline: at(deadline) }
}

fn round_timer(round: Round, deadline_ms: u64) -> Action {
    Action::SetTimer { timer: Timer::Round(round), deadline: at(deadline_ms) }
}

// =============================================================================================
// Safety rules, as pure functions.

#[test]
fn vote_rule_two_chain_accepts_block_extending_previous_round_qc() {
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let voter = VoterState { round: 1, last_voted_round: 0, locked_round: 0 };
    assert_eq!(vote_rule(CommitRule::TwoChain, voter, &b1), Ok(VoteRule::ConsecutiveQc));
    let voter = VoterState { round: 2, last_voted_round: 1, locked_round: 1 };
    assert_eq!(vote_rule(CommitRule::TwoChain, voter, &b2), Ok(VoteRule::ConsecutiveQc));
}

#[test]
fn vote_rule_refuses_second_vote_in_same_round() {
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let voter = VoterState { round: 2, last_voted_round: 2, locked_round: 0 };
    assert_eq!(
        vote_rule(CommitRule::TwoChain, voter, &b2),
        Err(NoVoteReason::AlreadyVoted { last_voted_round: 2 })
    );
    assert_eq!(
        vote_rule(CommitRule::ThreeChain, voter, &b2),
        Err(NoVoteReason::AlreadyVoted { last_voted_round: 2 })
    );
    // Having voted (or timed out) in a later round also forbids it.
    let voter = VoterState { round: 2, last_voted_round: 3, locked_round: 0 };
    assert_eq!(
        vote_rule(CommitRule::TwoChain, voter, &b2),
        Err(NoVoteReason::AlreadyVoted { last_voted_round: 3 })
    );
}

#[test]
fn vote_rule_refuses_block_not_in_current_round() {
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    for round in [1, 3] {
        let voter = VoterState { round, last_voted_round: 0, locked_round: 0 };
        for rule in [CommitRule::TwoChain, CommitRule::ThreeChain] {
            assert_eq!(vote_rule(rule, voter, &b2), Err(NoVoteReason::NotCurrentRound { round }));
        }
    }
}

#[test]
fn vote_rule_two_chain_after_timeout_requires_qc_at_least_tc_high_qc() {
    let committee = committee(N);
    let b1 = proposal(1, &genesis(), vec![]);
    let q1 = qc(&b1);
    // Round 2 timed out; n0 had seen the QC for round 1, the others had not.
    let tc2 = tc(2, &[timeout(0, 2, &q1), timeout(1, 2, &genesis()), timeout(3, 2, &genesis())]);
    assert_eq!(tc2.high_qc_round(), 1);
    let voter = VoterState { round: 3, last_voted_round: 2, locked_round: 1 };

    // Carries the highest QC any TC signer had: safe.
    let extends = signed_block(3, 3, q1, Some(tc2.clone()), vec![]);
    assert_eq!(extends.verify(&committee), Ok(()));
    assert_eq!(
        vote_rule(CommitRule::TwoChain, voter, &extends),
        Ok(VoteRule::TcWithHighestQc { tc_high_qc_round: 1 })
    );

    // Skips the round-1 block, which may have been committed: refused.
    let skips = signed_block(3, 3, genesis(), Some(tc2), vec![]);
    assert_eq!(skips.verify(&committee), Ok(()), "the block is well formed; only the vote rule refuses it");
    assert_eq!(
        vote_rule(CommitRule::TwoChain, voter, &skips),
        Err(NoVoteReason::QcBelowTcHighQc { qc_round: 0, tc_high_qc_round: 1 })
    );
}

#[test]
fn vote_rule_two_chain_refuses_skipped_round_without_tc() {
    let b1 = proposal(1, &genesis(), vec![]);
    let q1 = qc(&b1);
    // Round 3 extends round 1: round 2 was skipped, but no TC says it timed out.
    let block = Block {
        author: NodeId(3),
        round: 3,
        height: 2,
        qc: q1.clone(),
        tc: None,
        payload: vec![],
        signature: Signature::ZERO,
    };
    let voter = VoterState { round: 3, last_voted_round: 1, locked_round: 1 };
    assert_eq!(vote_rule(CommitRule::TwoChain, voter, &block), Err(NoVoteReason::NotJustified));
    // A TC for some other round does not justify it either.
    let stale_tc = Block { tc: Some(genesis_tc(1)), ..block };
    assert_eq!(vote_rule(CommitRule::TwoChain, voter, &stale_tc), Err(NoVoteReason::NotJustified));
}

#[test]
fn vote_rule_three_chain_requires_qc_at_least_locked_round() {
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let on_b2 = proposal(3, &qc(&b2), vec![]);
    let on_b1 = signed_block(3, 3, qc(&b1), None, vec![]);

    let locked_on_1 = VoterState { round: 3, last_voted_round: 2, locked_round: 1 };
    assert_eq!(
        vote_rule(CommitRule::ThreeChain, locked_on_1, &on_b2),
        Ok(VoteRule::ExtendsLock { locked_round: 1 })
    );
    assert_eq!(
        vote_rule(CommitRule::ThreeChain, locked_on_1, &on_b1),
        Ok(VoteRule::ExtendsLock { locked_round: 1 }),
        "a QC equal to the locked round is enough"
    );

    let locked_on_2 = VoterState { round: 3, last_voted_round: 2, locked_round: 2 };
    assert_eq!(
        vote_rule(CommitRule::ThreeChain, locked_on_2, &on_b1),
        Err(NoVoteReason::BelowLock { qc_round: 1, locked_round: 2 })
    );
}

#[test]
fn commit_rule_two_chain_commits_parent_of_consecutive_certified_child() {
    let g = Block::genesis();
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    // A QC for b2 (round 2) whose parent b1 is from round 1 commits b1.
    assert_eq!(committed_by(CommitRule::TwoChain, &[&b2, &b1]), Some(&b1));
    // The same rule applied to b1 "commits" genesis (the consensus ignores what is already committed).
    assert_eq!(committed_by(CommitRule::TwoChain, &[&b1, &g]), Some(&g));
}

#[test]
fn commit_rule_two_chain_needs_consecutive_rounds() {
    let b1 = proposal(1, &genesis(), vec![]);
    let q1 = qc(&b1);
    // Round 2 timed out; b3 extends b1 directly.
    let b3 = signed_block(3, 3, q1.clone(), Some(genesis_tc(2)), vec![]);
    assert_eq!(committed_by(CommitRule::TwoChain, &[&b3, &b1]), None);
    // Consecutive rounds but not parent and child.
    let b2 = proposal(2, &q1, vec![]);
    let other_b1 = proposal(1, &genesis(), vec![batch(9)]);
    assert_eq!(committed_by(CommitRule::TwoChain, &[&b2, &other_b1]), None);
    // Too short a chain.
    assert_eq!(committed_by(CommitRule::TwoChain, &[&b2]), None);
}

#[test]
fn commit_rule_three_chain_needs_three_consecutive_rounds() {
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let b3 = proposal(3, &qc(&b2), vec![]);
    assert_eq!(committed_by(CommitRule::ThreeChain, &[&b3, &b2, &b1]), Some(&b1));
    // Two consecutive certified blocks are a 2-chain commit but not a 3-chain one.
    assert_eq!(committed_by(CommitRule::TwoChain, &[&b3, &b2]), Some(&b2));
    assert_eq!(committed_by(CommitRule::ThreeChain, &[&b3, &b2]), None);
    // A gap (round 3 timed out; b4 extends b2) breaks the 3-chain.
    let b4 = signed_block(0, 4, qc(&b2), Some(genesis_tc(3)), vec![]);
    assert_eq!(committed_by(CommitRule::ThreeChain, &[&b4, &b2, &b1]), None);
}

// =============================================================================================
// Proposing.

#[test]
fn leader_proposes_in_round_one_with_genesis_qc_after_max_block_delay_when_idle() {
    let (mut n1, start) = replica(1);
    assert_eq!(
        start,
        vec![
            round_entered(1, RoundReason::Start, 1_000),
            round_timer(1, 1_000),
            Action::SetTimer { timer: Timer::Propose(1), deadline: at(100) },
            Action::Observe(Event::ProposalDeferred { round: 1, until: at(100) }),
            Action::Persist(state(1, 0)),
        ]
    );

    let actions = n1.handle(at(100), Input::Timer(Timer::Propose(1)));
    let proposals = proposals_broadcast(&actions);
    assert_eq!(proposals.len(), 1, "{actions:#?}");
    let block = &proposals[0];
    assert_eq!((block.author, block.round, block.height), (NodeId(1), 1, 1));
    assert_eq!(block.qc, QuorumCert::genesis());
    assert_eq!(block.tc, None);
    assert!(block.payload.is_empty());
    assert_eq!(block.verify(&committee(N)), Ok(()));
}

#[test]
fn leader_proposes_at_once_when_a_batch_is_ready() {
    let (mut n1, _) = replica(1);
    let actions = n1.handle(at(10), Input::BatchReady(batch(1)));
    let expected = signed_block(1, 1, genesis(), None, vec![batch(1)]);
    assert_eq!(proposals_broadcast(&actions), vec![expected.clone()]);
    assert!(events(&actions).contains(&Event::ProposalSent { block: BlockInfo::from(&expected) }));
    // The leader votes for its own proposal without waiting for the payload it made.
    assert_eq!(votes_sent(&actions), vec![(NodeId(2), vote(1, &expected))]);
    // The batch is proposed once only.
    assert_eq!(n1.handle(at(20), Input::BatchReady(batch(1))), vec![]);
}

#[test]
fn leader_after_tc_proposes_block_carrying_tc() {
    let (mut n2, _) = replica(2);
    let tc1 = genesis_tc(1);
    let actions = n2.handle(at(1_000), msg(0, ConsensusMessage::Tc(tc1.clone())));
    assert_eq!(
        actions,
        vec![
            round_entered(2, RoundReason::Tc { tc_round: 1 }, 1_000),
            round_timer(2, 2_000),
            Action::SetTimer { timer: Timer::Propose(2), deadline: at(1_100) },
            Action::Observe(Event::ProposalDeferred { round: 2, until: at(1_100) }),
            // The TC is persisted: the leader needs it to propose, even after a restart.
            Action::Persist(PersistentState { high_tc: Some(tc1.clone()), ..state(2, 0) }),
        ]
    );

    let actions = n2.handle(at(1_100), Input::Timer(Timer::Propose(2)));
    let expected = signed_block(2, 2, genesis(), Some(tc1), vec![]);
    assert_eq!(proposals_broadcast(&actions), vec![expected.clone()]);
    assert_eq!(expected.verify(&committee(N)), Ok(()));
    assert!(events(&actions).contains(&Event::VoteSent {
        block: expected.digest(),
        round: 2,
        to: NodeId(3),
        rule: VoteRule::TcWithHighestQc { tc_high_qc_round: 0 },
    }));
}

// =============================================================================================
// Voting.

#[test]
fn replica_votes_for_valid_proposal_and_sends_vote_to_next_leader() {
    let (mut n3, start) = replica(3);
    assert_eq!(
        start,
        vec![
            round_entered(1, RoundReason::Start, 1_000),
            round_timer(1, 1_000),
            Action::Persist(state(1, 0))
        ]
    );

    let b1 = proposal(1, &genesis(), vec![]);
    let actions = n3.handle(at(10), propose(1, &b1));
    assert_eq!(
        actions,
        vec![
            Action::Observe(Event::ProposalReceived { from: NodeId(1), block: BlockInfo::from(&b1) }),
            Action::StoreBlock(b1.clone()),
            Action::Persist(state(1, 1)),
            Action::Send { to: NodeId(2), message: ConsensusMessage::Vote(vote(3, &b1)) },
            // Reported once sent: a crash between the two reports nothing.
            Action::Observe(Event::VoteSent {
                block: b1.digest(),
                round: 1,
                to: NodeId(2),
                rule: VoteRule::ConsecutiveQc,
            }),
            // Sent in round 1: if round 1 stalls, the vote goes again (see `Consensus::resend`).
            resend_timer(1, 210),
        ]
    );
    assert_eq!(n3.view().last_voted_round, 1);
}

#[test]
fn persist_precedes_vote_send() {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let actions = n0.handle(at(10), propose(1, &b1));
    let send = actions
        .iter()
        .position(|a| matches!(a, Action::Send { message: ConsensusMessage::Vote(_), .. }))
        .expect("a vote is sent");
    // Nothing visible leaves before the vote is durable...
    let persist = actions[..send]
        .iter()
        .rposition(|a| matches!(a, Action::Persist(_)))
        .expect("a Persist precedes the vote");
    assert!(!actions[..persist].iter().any(is_visible), "{actions:#?}");
    // ...and the state persisted before the send records the vote.
    let Action::Persist(persisted) = &actions[persist] else { unreachable!() };
    assert_eq!(persisted.last_voted_round, 1);
    assert!(!actions[persist + 1..send].iter().any(|a| matches!(a, Action::Persist(_))));
}

/// Where each `Persist` of `actions` is.
fn persists(actions: &[Action]) -> Vec<(usize, &PersistentState)> {
    actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Action::Persist(state) => Some((i, state)),
            _ => None,
        })
        .collect()
}

#[test]
fn leader_broadcasts_its_proposal_before_persisting_and_syncs_once_with_its_own_vote() {
    let (mut n1, _) = replica(1);
    let actions = n1.handle(at(10), Input::BatchReady(batch(1)));
    let proposal = actions
        .iter()
        .position(|a| matches!(a, Action::Broadcast { message: ConsensusMessage::Propose(_) }))
        .expect("a proposal");
    let vote = actions
        .iter()
        .position(|a| matches!(a, Action::Send { message: ConsensusMessage::Vote(_), .. }))
        .expect("the leader's own vote");
    // One sync for the step, after the proposal left and before the vote leaves...
    let persists = persists(&actions);
    assert_eq!(persists.len(), 1, "{actions:#?}");
    let (persist, state) = persists[0];
    assert!(proposal < persist && persist < vote, "{actions:#?}");
    // ...recording both: a restarted leader neither votes nor proposes in round 1 again.
    assert_eq!((state.last_proposed_round, state.last_voted_round), (1, 1));
}

#[test]
fn own_vote_is_durable_before_the_qc_carrying_it_is_proposed() {
    // n2 leads round 2, so it collects the votes for b1, its own included. The others' votes
    // come first: its own is the one that completes the QC, and it proposes in the same step.
    let (mut n2, _) = replica(2);
    let b1 = proposal(1, &genesis(), vec![]);
    n2.handle(at(10), Input::BatchReady(batch(5))); // something to propose at once
    n2.handle(at(11), msg(1, ConsensusMessage::Vote(vote(1, &b1))));
    n2.handle(at(12), msg(3, ConsensusMessage::Vote(vote(3, &b1))));
    let actions = n2.handle(at(13), propose(1, &b1));
    let proposal = actions
        .iter()
        .position(
            |a| matches!(a, Action::Broadcast { message: ConsensusMessage::Propose(b) } if b.round == 2),
        )
        .expect("n2 proposes round 2");
    let Action::Broadcast { message: ConsensusMessage::Propose(b2) } = &actions[proposal] else {
        unreachable!()
    };
    assert!(b2.qc.votes.iter().any(|(id, _)| *id == NodeId(2)), "the QC carries n2's vote");
    assert!(
        persists(&actions).iter().any(|(i, s)| *i < proposal && s.last_voted_round == 1),
        "n2's vote is durable before the QC carrying it leaves: {actions:#?}"
    );
}

/// n0's view of b1 and b2 (empty, rounds 1 and 2), then the round-3 proposal `b3` that commits
/// b1 and carries a batch, so that n0 must wait for the payload before voting.
fn commit_awaiting_payload() -> (Consensus, Block, Block, Vec<Action>) {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let b3 = proposal(3, &qc(&b2), vec![batch(1)]);
    n0.handle(at(10), propose(1, &b1));
    n0.handle(at(20), propose(2, &b2));
    let actions = n0.handle(at(30), propose(3, &b3));
    (n0, b1, b3, actions)
}

#[test]
fn a_voter_syncs_once_per_round_and_the_commit_rides_on_the_votes_persist() {
    let (mut n0, b1, b3, actions) = commit_awaiting_payload();
    assert_eq!(n0.view().committed, b1.digest(), "b1 is decided");
    // Delivered at once (at least once: before the Persist that records it)...
    assert!(actions.contains(&Action::Commit(b1.clone())), "{actions:#?}");
    assert!(
        events(&actions).contains(&Event::BlockCommitted { block: BlockInfo::from(&b1), chain: vec![1, 2] })
    );
    // ...but the vote is imminent (we wait for b3's payload): no sync yet.
    assert!(persists(&actions).is_empty(), "{actions:#?}");

    let actions = n0.handle(at(31), Input::PayloadReady(b3.digest()));
    let persists = persists(&actions);
    assert_eq!(persists.len(), 1, "one sync for the round: {actions:#?}");
    let (_, state) = persists[0];
    assert_eq!((state.last_voted_round, &state.committed), (3, &b1), "the commit rides on the vote's sync");
    assert!(!actions.iter().any(|a| matches!(a, Action::Commit(_))), "delivered once: {actions:#?}");
}

#[test]
fn a_commit_waits_for_the_imminent_votes_sync_only_until_the_round_ends() {
    let (mut n0, b1, _, _) = commit_awaiting_payload();
    // b3's payload never comes; the round times out.
    let actions = n0.handle(at(1_030), Input::Timer(Timer::Round(3)));
    let timeout = actions
        .iter()
        .position(|a| matches!(a, Action::Broadcast { message: ConsensusMessage::Timeout(_) }))
        .expect("a timeout");
    let (persist, state) = persists(&actions)[0];
    assert_eq!(
        (state.last_voted_round, &state.committed),
        (3, &b1),
        "the commit is durable with the timeout"
    );
    assert!(persist < timeout, "{actions:#?}");
}

#[test]
fn replica_waits_for_payload_before_voting() {
    let (mut n3, _) = replica(3);
    let b1 = proposal(1, &genesis(), vec![batch(1), batch(2)]);
    let actions = n3.handle(at(10), propose(1, &b1));
    assert_eq!(
        actions,
        vec![
            Action::Observe(Event::ProposalReceived { from: NodeId(1), block: BlockInfo::from(&b1) }),
            Action::StoreBlock(b1.clone()),
            Action::Observe(Event::PayloadAwaited { block: b1.digest(), batches: 2 }),
            Action::FetchPayload { block: b1.digest(), payload: vec![batch(1), batch(2)], author: NodeId(1) },
        ]
    );
    assert_eq!(n3.view().last_voted_round, 0);

    // Payload of some other block: still no vote.
    assert_eq!(n3.handle(at(15), Input::PayloadReady(batch(7))), vec![]);

    let actions = n3.handle(at(20), Input::PayloadReady(b1.digest()));
    assert_eq!(votes_sent(&actions), vec![(NodeId(2), vote(3, &b1))]);
    assert!(
        matches!(
            actions[actions.len() - 2..],
            [Action::Observe(Event::VoteSent { .. }), Action::SetTimer { .. }]
        ),
        "{actions:#?}"
    );
    // The payload being ready twice does not make a second vote.
    assert_eq!(n3.handle(at(30), Input::PayloadReady(b1.digest())), vec![]);
}

#[test]
fn replica_votes_once_per_round_even_if_leader_equivocates() {
    let (mut n3, _) = replica(3);
    let b1 = proposal(1, &genesis(), vec![]);
    let other = proposal(1, &genesis(), vec![batch(3)]);
    let first = n3.handle(at(10), propose(1, &b1));
    assert_eq!(votes_sent(&first).len(), 1);
    // The leader's second block of the round is refused before any vote is considered (and, if
    // it came in anyway, the voting rule would refuse it: `vote_rule_refuses_second_vote_in_same_round`).
    let second = n3.handle(at(20), propose(1, &other));
    assert!(votes_sent(&second).is_empty());
    assert!(second.contains(&rejected(1, "proposal", &Error::Equivocation { author: NodeId(1), round: 1 })));
    assert_eq!(n3.handle(at(30), Input::PayloadReady(other.digest())), vec![]);
}

// =============================================================================================
// Message validation.

#[test]
fn proposal_from_wrong_leader_is_rejected() {
    let (mut n3, _) = replica(3);
    let block = signed_block(2, 1, genesis(), None, vec![]);
    let actions = n3.handle(at(10), propose(2, &block));
    let error = Error::WrongLeader { round: 1, expected: NodeId(1), got: NodeId(2) };
    assert_eq!(actions, vec![rejected(2, "proposal", &error)]);
    let Action::Observe(Event::MessageRejected { reason, .. }) = &actions[0] else { unreachable!() };
    assert!(reason.contains("led by n1"), "{reason}");
    assert_eq!(n3.view().last_voted_round, 0);
}

#[test]
fn proposal_with_bad_signature_is_rejected() {
    let (mut n3, _) = replica(3);
    let mut block = proposal(1, &genesis(), vec![]);
    block.signature = block.signature.corrupted();
    let actions = n3.handle(at(10), propose(1, &block));
    assert_eq!(actions, vec![rejected(1, "proposal", &Error::BadSignature(NodeId(1)))]);
}

#[test]
fn qc_without_quorum_is_rejected() {
    let (mut n3, _) = replica(3);
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc_from(&b1, &[0, 1]), vec![]);
    let actions = n3.handle(at(10), propose(2, &b2));
    let error = Error::CertificateWithoutQuorum { kind: Certificate::Qc, round: 1, have: 2, need: 3 };
    assert_eq!(actions, vec![rejected(2, "proposal", &error)]);
    assert_eq!(n3.view().round, 1, "a bad QC moves nobody");
}

#[test]
fn qc_with_duplicate_signer_is_rejected() {
    let (mut n3, _) = replica(3);
    let b1 = proposal(1, &genesis(), vec![]);
    let mut q1 = qc_from(&b1, &[0, 1]);
    q1.votes.insert(1, q1.votes[0]);
    assert_eq!(q1.signers(), vec![NodeId(0), NodeId(0), NodeId(1)]);
    let b2 = proposal(2, &q1, vec![]);
    let actions = n3.handle(at(10), propose(2, &b2));
    let error = Error::DuplicateSigner { kind: Certificate::Qc, round: 1, signer: NodeId(0) };
    assert_eq!(actions, vec![rejected(2, "proposal", &error)]);
}

#[test]
fn qc_with_unknown_signer_is_rejected() {
    let (mut n3, _) = replica(3);
    let b1 = proposal(1, &genesis(), vec![]);
    let mut q1 = qc_from(&b1, &[0, 1]);
    let outsider = Vote::new(&KeyPair::from_seed(SEED, 9), NodeId(9), &b1);
    q1.votes.push((NodeId(9), outsider.signature));
    let b2 = proposal(2, &q1, vec![]);
    let actions = n3.handle(at(10), propose(2, &b2));
    assert_eq!(actions, vec![rejected(2, "proposal", &Error::UnknownSigner(NodeId(9)))]);
}

#[test]
fn forged_genesis_qc_is_rejected() {
    let (mut n3, _) = replica(3);
    // Round 0 but not the genesis certificate: claims a made-up block as the root.
    let forged = QuorumCert { block: Digest::of(b"not genesis"), round: 0, height: 0, votes: vec![] };
    let block = proposal(1, &forged, vec![]);
    let actions = n3.handle(at(10), propose(1, &block));
    assert_eq!(actions, vec![rejected(1, "proposal", &Error::ForgedGenesis)]);
    // Genesis signed by one node is a forgery too.
    let b1 = proposal(1, &genesis(), vec![]);
    let mut signed = genesis();
    signed.votes.push((NodeId(0), vote(0, &b1).signature));
    let block = proposal(1, &signed, vec![]);
    let actions = n3.handle(at(20), propose(1, &block));
    assert_eq!(actions, vec![rejected(1, "proposal", &Error::ForgedGenesis)]);
}

#[test]
fn unsolicited_sync_response_is_rejected() {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let actions = n0.handle(at(10), msg(2, ConsensusMessage::SyncResponse(b1.clone())));
    assert_eq!(actions, vec![rejected(2, "sync-response", &Error::Unsolicited(b1.digest()))]);
    assert_eq!(n0.block(&b1.digest()), None);
}

/// Peer input must never panic a replica (error.rs: everything a peer can send wrong is an
/// `Error`). A vote's round is chosen by its signer.
#[test]
fn vote_far_beyond_future_round_window_is_refused_without_panic() {
    let (mut n3, _) = replica(3);
    // Round 2002: inside the representable range, but far beyond the window of future rounds
    // kept (FUTURE_ROUNDS_MAX = 1000); its next leader is n3 (2003 % 4 == 3).
    let far = Block {
        author: NodeId(leader(2002)),
        round: 2002,
        height: 1,
        qc: genesis(),
        tc: None,
        payload: vec![],
        signature: Signature::ZERO,
    };
    let ahead = vote(0, &far);
    let actions = n3.handle(at(10), msg(0, ConsensusMessage::Vote(ahead)));
    let error = Error::RoundTooFarAhead { round: 2002, ours: 1 };
    assert_eq!(actions, vec![rejected(0, "vote", &error)]);

    // At u64::MAX the signature is valid, but the range check refuses it before any arithmetic.
    let farthest = Block { round: u64::MAX, author: NodeId(leader(u64::MAX)), ..far };
    let actions = n3.handle(at(20), msg(0, ConsensusMessage::Vote(vote(0, &farthest))));
    assert_eq!(actions, vec![rejected(0, "vote", &Error::OutOfRange(u64::MAX))]);
    assert_eq!(n3.view().round, 1);
}

/// A Byzantine leader controls every field of its proposal, certificates included, and
/// `Block::verify` runs before any signature is checked.
#[test]
fn proposal_with_out_of_range_certificate_fields_is_rejected_without_panic() {
    let (mut n3, _) = replica(3);
    let sign = |mut block: Block| {
        block.signature = keys(block.author.0).sign(&block.digest());
        block
    };
    let base = proposal(1, &genesis(), vec![]);

    let tall_qc = QuorumCert { block: Digest::of(b"x"), round: 0, height: u64::MAX, votes: vec![] };
    let tall = sign(Block { height: 0, qc: tall_qc, ..base.clone() });
    let actions = n3.handle(at(10), propose(1, &tall));
    assert!(matches!(actions[..], [Action::Observe(Event::MessageRejected { .. })]), "{actions:#?}");

    let huge_tc = TimeoutCert { round: u64::MAX, timeouts: vec![], high_qc: Box::new(QuorumCert::genesis()) };
    let late = sign(Block { tc: Some(huge_tc), ..base });
    let actions = n3.handle(at(20), propose(1, &late));
    assert!(matches!(actions[..], [Action::Observe(Event::MessageRejected { .. })]), "{actions:#?}");
    assert_eq!(n3.view().last_voted_round, 0);
}

// =============================================================================================
// Votes and QCs at the next leader; the commit rule.

#[test]
fn next_leader_forms_qc_from_quorum_of_votes_and_proposes() {
    let (mut n2, _) = replica(2);
    let b1 = proposal(1, &genesis(), vec![]);
    let actions = n2.handle(at(10), propose(1, &b1));
    // n2 leads round 2: its own vote for b1 stays here.
    assert!(votes_sent(&actions).is_empty());
    assert!(events(&actions).contains(&Event::VoteSent {
        block: b1.digest(),
        round: 1,
        to: NodeId(2),
        rule: VoteRule::ConsecutiveQc,
    }));

    let actions = n2.handle(at(20), msg(0, ConsensusMessage::Vote(vote(0, &b1))));
    assert_eq!(
        actions,
        vec![Action::Observe(Event::VoteReceived { from: NodeId(0), block: b1.digest(), round: 1 })]
    );

    let actions = n2.handle(at(30), msg(3, ConsensusMessage::Vote(vote(3, &b1))));
    let q1 = qc_from(&b1, &[0, 2, 3]);
    assert_eq!(q1.verify(&committee(N)), Ok(()));
    let events = events(&actions);
    assert!(events.contains(&Event::QcFormed { qc: q1.clone() }), "{events:#?}");
    assert!(events.contains(&Event::RoundEntered {
        round: 2,
        leader: NodeId(2),
        chosen: LeaderChoice::InTurn,
        reason: RoundReason::Qc { qc_round: 1 },
        timeout_ms: 1_000,
    }));
    // b1 was empty and nothing waits to be proposed: the leader holds back an empty block.
    assert!(proposals_broadcast(&actions).is_empty());
    assert!(actions.contains(&Action::SetTimer { timer: Timer::Propose(2), deadline: at(130) }));

    let actions = n2.handle(at(130), Input::Timer(Timer::Propose(2)));
    let expected = signed_block(2, 2, q1, None, vec![]);
    assert_eq!(proposals_broadcast(&actions), vec![expected.clone()]);
    assert_eq!(expected.verify(&committee(N)), Ok(()));
}

#[test]
fn equivocating_vote_is_rejected() {
    let (mut n2, _) = replica(2);
    let b1 = proposal(1, &genesis(), vec![]);
    let other = proposal(1, &genesis(), vec![batch(1)]);
    let first = n2.handle(at(10), msg(0, ConsensusMessage::Vote(vote(0, &b1))));
    assert_eq!(
        first,
        vec![Action::Observe(Event::VoteReceived { from: NodeId(0), block: b1.digest(), round: 1 })]
    );
    let second = n2.handle(at(20), msg(0, ConsensusMessage::Vote(vote(0, &other))));
    assert_eq!(
        second,
        vec![
            Action::Observe(Event::VoteReceived { from: NodeId(0), block: other.digest(), round: 1 }),
            rejected(0, "vote", &Error::Equivocation { author: NodeId(0), round: 1 }),
        ]
    );
    // A double vote is an offence the page and the logs pin on its signer.
    let offence = second.iter().find_map(|a| match a {
        Action::Observe(Event::MessageRejected { offence, .. }) => *offence,
        _ => None,
    });
    assert_eq!(offence, Some(crate::error::Offence::Equivocation { author: NodeId(0), round: 1 }));
    // The same vote again is a harmless duplicate.
    let again = n2.handle(at(30), msg(0, ConsensusMessage::Vote(vote(0, &b1))));
    assert_eq!(
        again,
        vec![Action::Observe(Event::VoteReceived { from: NodeId(0), block: b1.digest(), round: 1 })]
    );
}

/// A QC is `n - f` signatures on one statement (block, round, height). The next leader must not
/// let one vote that names the right block but signs another height spoil the certificate.
#[test]
fn qc_gathers_only_votes_on_the_same_statement() {
    let committee = committee(N);
    let (mut n2, _) = replica(2);
    let b1 = proposal(1, &genesis(), vec![]);
    n2.handle(at(10), propose(1, &b1));

    // n0 (Byzantine) signs a vote for b1's digest at a height b1 does not have.
    let height: Height = 7;
    let statement =
        Digest::of_parts(&[b"vote", &b1.digest().0, &b1.round.to_le_bytes(), &height.to_le_bytes()]);
    let bad =
        Vote { block: b1.digest(), round: 1, height, author: NodeId(0), signature: keys(0).sign(&statement) };
    assert_eq!(bad.verify(&committee), Ok(()), "a validly signed vote, as `verify` sees it");

    let mut actions = n2.handle(at(20), msg(0, ConsensusMessage::Vote(bad)));
    actions.extend(n2.handle(at(30), msg(3, ConsensusMessage::Vote(vote(3, &b1)))));
    actions.extend(n2.handle(at(40), msg(1, ConsensusMessage::Vote(vote(1, &b1)))));
    let formed: Vec<QuorumCert> = events(&actions)
        .into_iter()
        .filter_map(|e| match e {
            Event::QcFormed { qc } => Some(qc),
            _ => None,
        })
        .collect();
    // n1, n2 and n3 voted honestly: that is a quorum, and its QC must verify.
    assert_eq!(formed.len(), 1, "{formed:#?}");
    assert_eq!(formed[0].verify(&committee), Ok(()), "{:?}", formed[0]);
}

#[test]
fn two_chain_commit_rule_commits_block_when_child_in_next_round_is_certified() {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let b3 = proposal(3, &qc(&b2), vec![]);

    let mut before = n0.handle(at(10), propose(1, &b1));
    before.extend(n0.handle(at(20), propose(2, &b2)));
    // b2's QC certifies b1, whose parent is genesis: nothing new to commit yet.
    assert!(!before.iter().any(|a| matches!(a, Action::Commit(_))), "{before:#?}");
    assert!(!events(&before).iter().any(|e| matches!(e, Event::BlockCommitted { .. })));

    let actions = n0.handle(at(30), propose(3, &b3));
    let commits: Vec<&Block> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Commit(block) => Some(block),
            _ => None,
        })
        .collect();
    assert_eq!(commits, vec![&b1]);
    assert!(
        events(&actions).contains(&Event::BlockCommitted { block: BlockInfo::from(&b1), chain: vec![1, 2] })
    );
    // Delivered at once (at least once), and made durable later in the same step.
    let commit = actions.iter().position(|a| matches!(a, Action::Commit(_))).expect("a commit");
    assert!(persists(&actions[commit..]).iter().any(|(_, s)| s.committed == b1), "{actions:#?}");
    let view = n0.view();
    assert_eq!((view.committed, view.committed_round, view.committed_height), (b1.digest(), 1, 1));
}

#[test]
fn a_leader_whose_qc_beat_the_block_fetches_it_and_never_proposes_its_batches_again() {
    // n2 leads round 2. The three other votes for b1 reach it before b1 does.
    let (mut n2, _) = replica(2);
    let b1 = proposal(1, &genesis(), vec![batch(1)]);
    n2.handle(at(1), Input::BatchReady(batch(1)));
    n2.handle(at(2), Input::BatchReady(batch(2)));
    n2.handle(at(10), msg(0, ConsensusMessage::Vote(vote(0, &b1))));
    n2.handle(at(11), msg(1, ConsensusMessage::Vote(vote(1, &b1))));
    let actions = n2.handle(at(12), msg(3, ConsensusMessage::Vote(vote(3, &b1))));
    assert_eq!(n2.view().round, 2, "the QC moves n2 to round 2");
    // Proposing now would propose batch 1 a second time: n2 does not know b1 carries it.
    assert!(proposals_broadcast(&actions).is_empty(), "{actions:#?}");
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send { message: ConsensusMessage::SyncRequest { digest, .. }, .. } if *digest == b1.digest()
        )),
        "{actions:#?}"
    );
    let actions = n2.handle(at(13), propose(1, &b1));
    let proposed = proposals_broadcast(&actions);
    assert_eq!(proposed.len(), 1, "{actions:#?}");
    assert_eq!((proposed[0].parent(), &proposed[0].payload), (b1.digest(), &vec![batch(2)]));
}

#[test]
fn batches_of_an_abandoned_block_are_proposed_again() {
    // Round 1's block b1 carries batch 1 but times out; round 2 (after the TC) extends genesis
    // instead, and is committed. b1 can never commit now: its batch must not be lost.
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![batch(1)]);
    n0.handle(at(10), propose(1, &b1));
    n0.handle(at(11), Input::PayloadReady(b1.digest()));
    let b2 = signed_block(leader(2), 2, genesis(), Some(genesis_tc(1)), vec![]);
    n0.handle(at(1_000), msg(0, ConsensusMessage::Tc(genesis_tc(1))));
    n0.handle(at(1_010), propose(2, &b2));
    let b3 = proposal(3, &qc(&b2), vec![]);
    n0.handle(at(1_020), propose(3, &b3));
    // n0 leads round 4: the votes for b3 make the QC that commits b2.
    n0.handle(at(1_021), msg(1, ConsensusMessage::Vote(vote(1, &b3))));
    let actions = n0.handle(at(1_022), msg(2, ConsensusMessage::Vote(vote(2, &b3))));
    assert!(actions.contains(&Action::Commit(b2.clone())), "{actions:#?}");
    let proposed = proposals_broadcast(&actions);
    assert_eq!(proposed.len(), 1, "{actions:#?}");
    assert_eq!(proposed[0].payload, vec![batch(1)], "b1's batch is proposed again");
    assert!(events(&actions).contains(&Event::BlockAbandoned {
        block: b1.digest(),
        round: 1,
        batches_returned: 1
    }));
}

/// The withheld-vote reason for `block`, if any.
fn withheld(actions: &[Action], block: &Block) -> Option<NoVoteReason> {
    events(actions).into_iter().find_map(|e| match e {
        Event::VoteWithheld { block: b, reason, .. } if b == block.digest() => Some(reason),
        _ => None,
    })
}

#[test]
fn a_batch_commits_once_voters_refuse_a_block_repeating_a_committed_batch() {
    // b1 carries batch 1 and commits (b2, b3 certify it); then the leader of round 4 proposes
    // batch 1 again. Its payload is here (the batch was committed), so only this rule stops it.
    let (mut n1, _) = replica(1);
    let b1 = proposal(1, &genesis(), vec![batch(1)]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let b3 = proposal(3, &qc(&b2), vec![]);
    n1.handle(at(10), propose(1, &b1));
    n1.handle(at(11), Input::PayloadReady(b1.digest()));
    n1.handle(at(20), propose(2, &b2));
    let actions = n1.handle(at(30), propose(3, &b3));
    assert!(actions.contains(&Action::Commit(b1.clone())), "{actions:#?}");
    let b4 = proposal(4, &qc(&b3), vec![batch(2), batch(1)]);
    let actions = n1.handle(at(40), propose(4, &b4));
    assert_eq!(withheld(&actions, &b4), Some(NoVoteReason::RepeatsBatch { batch: batch(1), carried_at: 1 }));
    assert!(votes_sent(&actions).is_empty(), "{actions:#?}");
    assert!(!actions.iter().any(|a| matches!(a, Action::FetchPayload { .. })), "{actions:#?}");
}

#[test]
fn a_batch_commits_once_voters_refuse_a_block_repeating_an_uncommitted_ancestors_batch() {
    // b1 carries batch 1 and is certified but not committed; b2 extends it with batch 1 again.
    let (mut n1, _) = replica(1);
    let b1 = proposal(1, &genesis(), vec![batch(1)]);
    n1.handle(at(10), propose(1, &b1));
    let b2 = proposal(2, &qc(&b1), vec![batch(1)]);
    let actions = n1.handle(at(20), propose(2, &b2));
    assert_eq!(withheld(&actions, &b2), Some(NoVoteReason::RepeatsBatch { batch: batch(1), carried_at: 1 }));
    assert!(votes_sent(&actions).is_empty(), "{actions:#?}");
}

#[test]
fn a_batch_commits_once_a_restarted_replica_remembers_the_batches_committed_before_its_crash() {
    // n2 committed b1 (batch 1) and b2 (batch 2), then restarted with b2 as its commit. Given the
    // recent commits read back from the store, it neither proposes batch 1 again (its mempool
    // offers it once more: it cannot tell) nor votes for a block that carries it.
    let b1 = proposal(1, &genesis(), vec![batch(1)]);
    let b2 = proposal(2, &qc(&b1), vec![batch(2)]);
    let b3 = proposal(3, &qc(&b2), vec![]);
    let b4 = proposal(4, &qc(&b3), vec![]);
    let recovered = PersistentState {
        round: 5,
        last_voted_round: 4,
        high_qc: qc(&b4),
        committed: b2.clone(),
        ..PersistentState::genesis()
    };
    // What the consensus actor wrote durably as each commit was delivered.
    let mut store = crate::store::MemStore::new();
    for block in [&b1, &b2] {
        let record = crate::codec::encode_value(&(block.height, &block.payload));
        store.write(&crate::store::committed_batches_key(block.height), &record).unwrap();
    }
    // A record above the recovered commit (written just before a crash that came before the
    // `Persist` recording it) is not read: that block is decided again after the restart.
    let above = crate::codec::encode_value(&(3u64, vec![batch(3)]));
    store.write(&crate::store::committed_batches_key(3), &above).unwrap();
    let read = |key: &[u8]| store.read(key);
    let recent = crate::store::recent_commits(b2.height, read).unwrap();
    assert_eq!(recent, vec![(1, vec![batch(1)]), (2, vec![batch(2)])]);

    let mut forgetful = Consensus::new(NodeId(1), committee(N), keys(1), params(), Some(recovered.clone()));
    forgetful.handle(at(0), Input::Start);
    let mut n1 = Consensus::new(NodeId(1), committee(N), keys(1), params(), Some(recovered))
        .remembering_committed(recent);
    n1.handle(at(0), Input::Start);
    for replica in [&mut forgetful, &mut n1] {
        replica.handle(at(1), Input::BatchReady(batch(1)));
        replica.handle(at(2), Input::BatchReady(batch(2)));
    }
    assert_eq!(forgetful.view().pending_batches, 1, "without the recent commits, batch 1 looks new");
    assert_eq!(n1.view().pending_batches, 0, "{:?}", n1.view());
}

#[test]
fn a_leader_gets_one_block_per_round_processed_a_second_is_refused_as_equivocation() {
    let (mut n2, _) = replica(2);
    let b1 = proposal(1, &genesis(), vec![batch(1)]);
    let twin = proposal(1, &genesis(), vec![batch(2)]);
    n2.handle(at(10), propose(1, &b1));
    let actions = n2.handle(at(11), propose(1, &twin));
    assert!(
        actions.contains(&rejected(1, "proposal", &Error::Equivocation { author: NodeId(1), round: 1 })),
        "{actions:#?}"
    );
    assert_eq!(n2.view().blocks_in_memory, 2, "genesis and the first block only");
    // The same block again is no equivocation (a resend), and changes nothing.
    let actions = n2.handle(at(12), propose(1, &b1));
    assert!(events(&actions).iter().all(|e| !matches!(e, Event::MessageRejected { .. })), "{actions:#?}");
}

#[test]
fn a_block_whose_payload_never_comes_stops_waiting_when_the_round_moves_on() {
    // n2 waits for b1's batch, which its mempool never confirms; a TC moves it to round 2.
    let (mut n2, _) = replica(2);
    let b1 = proposal(1, &genesis(), vec![batch(1)]);
    n2.handle(at(10), propose(1, &b1));
    assert_eq!(n2.view().blocks_awaiting_payload, 1);
    n2.handle(at(1_000), msg(0, ConsensusMessage::Tc(genesis_tc(1))));
    assert_eq!(n2.view().round, 2);
    assert_eq!(n2.view().blocks_awaiting_payload, 0, "a vote for round 1 can no longer be sent");
    // A late answer is harmless: no vote for a past round.
    let actions = n2.handle(at(1_001), Input::PayloadReady(b1.digest()));
    assert!(votes_sent(&actions).is_empty(), "{actions:#?}");
}

// =============================================================================================
// The pacemaker.

fn stalled(round: Round, awaited: Awaited, timeouts: u32) -> Action {
    Action::Observe(Event::RoundStalled { round, awaited, timeouts, needed: 3 })
}

/// A round that times out says what did not come: a block to vote for from the round's leader,
/// or, once the replica voted, the next leader's block with the QC (the next leader collects the
/// votes); and how many of the `n - f` timeouts of a TC it holds.
#[test]
fn a_stalled_round_says_what_it_waited_for_and_how_many_timeouts_it_holds() {
    let (mut n3, _) = replica(3);
    let actions = n3.handle(at(1_000), Input::Timer(Timer::Round(1)));
    assert_eq!(actions[0], stalled(1, Awaited::Proposal { leader: NodeId(leader(1)) }, 0));

    // It votes in round 1 and then hears nothing but one timeout: it waited for the collector
    // of the votes, and holds 1 of the 3 timeouts.
    let (mut n3, _) = replica(3);
    let b1 = proposal(1, &genesis(), vec![]);
    let voted = n3.handle(at(10), propose(leader(1), &b1));
    assert_eq!(votes_sent(&voted).len(), 1);
    n3.handle(at(30), msg(0, ConsensusMessage::Timeout(timeout(0, 1, &genesis()))));
    let actions = n3.handle(at(1_000), Input::Timer(Timer::Round(1)));
    assert_eq!(actions[0], stalled(1, Awaited::Qc { collector: NodeId(leader(2)) }, 1), "{actions:#?}");

    // The collector itself (n2 leads round 2): it votes for b1 and holds its own vote and n3's,
    // 2 of the 3 a QC needs.
    let (mut n2, _) = replica(2);
    n2.handle(at(10), propose(leader(1), &b1));
    n2.handle(at(20), msg(3, ConsensusMessage::Vote(vote(3, &b1))));
    let actions = n2.handle(at(1_000), Input::Timer(Timer::Round(1)));
    assert_eq!(actions[0], stalled(1, Awaited::Votes { held: 2 }, 0), "{actions:#?}");
}

#[test]
fn round_timeout_broadcasts_timeout_and_stops_voting_in_round() {
    let (mut n3, _) = replica(3);
    let actions = n3.handle(at(1_000), Input::Timer(Timer::Round(1)));
    assert_eq!(
        actions,
        vec![
            stalled(1, Awaited::Proposal { leader: NodeId(1) }, 0),
            Action::Persist(state(1, 1)),
            Action::Broadcast { message: ConsensusMessage::Timeout(timeout(3, 1, &genesis())) },
            Action::Observe(Event::TimeoutSent { round: 1, high_qc_round: 0, consecutive: 1, joined: false }),
            resend_timer(1, 1_200),
            // After one timed-out round the timeout does not back off yet.
            round_timer(1, 2_000),
        ]
    );

    let b1 = proposal(1, &genesis(), vec![]);
    let actions = n3.handle(at(1_100), propose(1, &b1));
    assert!(votes_sent(&actions).is_empty());
    assert!(events(&actions).contains(&Event::VoteWithheld {
        block: b1.digest(),
        round: 1,
        reason: NoVoteReason::AlreadyVoted { last_voted_round: 1 },
    }));
}

/// The round timeout n0 arms on entering each round the TCs `first..=last` lead it to.
fn timeouts_through_tcs(n0: &mut Consensus, first: Round, last: Round) -> Vec<u64> {
    (first..=last)
        .map(|tc_round| {
            let actions = n0.handle(at(100 * tc_round), msg(1, ConsensusMessage::Tc(genesis_tc(tc_round))));
            events(&actions)
                .iter()
                .find_map(|event| match event {
                    Event::RoundEntered { round, timeout_ms, .. } if *round == tc_round + 1 => {
                        Some(*timeout_ms)
                    }
                    _ => None,
                })
                .expect("the TC moves n0 to the next round")
        })
        .collect()
}

#[test]
fn round_timeout_grows_by_a_fifth_per_round_without_a_commit_beyond_three_six_times_at_most() {
    let (mut n0, start) = replica(0);
    assert!(start.contains(&round_timer(1, 1_000)));
    // Nothing committed (round 0): rounds 2 and 3 at the base, then × 1.2 per round (rounded
    // up), six times.
    assert_eq!(
        timeouts_through_tcs(&mut n0, 1, 11),
        vec![1_000, 1_000, 1_200, 1_440, 1_728, 2_074, 2_489, 2_987, 2_987, 2_987, 2_987]
    );
}

#[test]
fn round_timeout_is_capped_by_round_timeout_ms_max() {
    let params = Parameters { round_timeout_ms: 1_000, round_timeout_ms_max: 1_500, ..params() };
    let (mut n0, _) = replica_with(0, params, None);
    assert_eq!(timeouts_through_tcs(&mut n0, 1, 6), vec![1_000, 1_000, 1_200, 1_440, 1_500, 1_500]);
}

#[test]
fn round_timeout_does_not_grow_while_stuck_in_one_round_and_its_timeout_is_sent_again() {
    // A partition without a quorum of timeouts: no TC, the round never moves, and the timer
    // is re-armed at the same timeout; each expiry after the first sends the same timeout
    // again (one timed-out round, not several).
    let (mut n3, _) = replica(3);
    let first = n3.handle(at(1_000), Input::Timer(Timer::Round(1)));
    assert!(events(&first).contains(&Event::TimeoutSent {
        round: 1,
        high_qc_round: 0,
        consecutive: 1,
        joined: false
    }));
    assert!(first.contains(&round_timer(1, 2_000)));
    let timeout = first.iter().find_map(|a| match a {
        Action::Broadcast { message: ConsensusMessage::Timeout(t) } => Some(t.clone()),
        _ => None,
    });
    for now in [2_000, 3_000] {
        let again = n3.handle(at(now), Input::Timer(Timer::Round(1)));
        assert_eq!(
            again,
            vec![
                // Its own timeout is held now: 1 of the 3 a TC needs.
                stalled(1, Awaited::Proposal { leader: NodeId(1) }, 1),
                Action::Observe(Event::Resent { round: 1, what: Resent::Timeout, to: None, stalled_ms: now }),
                Action::Broadcast { message: ConsensusMessage::Timeout(timeout.clone().expect("sent")) },
                round_timer(1, now + 1_000),
            ]
        );
    }
    assert_eq!(n3.view().consecutive_timeouts, 1);
}

#[test]
fn round_timeout_returns_to_the_base_once_a_block_commits() {
    let (mut n0, _) = replica(0);
    // Rounds 1 to 5 time out: round 6 is three rounds past the grace, 1.2³ × 1 s.
    assert_eq!(timeouts_through_tcs(&mut n0, 1, 5).last(), Some(&1_728));
    // b6 (justified by the TC of round 5) and b7 are certified in consecutive rounds: b6
    // commits, and round 8 runs at the base again.
    let b6 = signed_block(leader(6), 6, genesis(), Some(genesis_tc(5)), vec![]);
    n0.handle(at(700), propose(leader(6), &b6));
    let b7 = proposal(7, &qc(&b6), vec![]);
    n0.handle(at(710), propose(leader(7), &b7));
    let b8 = proposal(8, &qc(&b7), vec![]);
    let actions = n0.handle(at(720), propose(leader(8), &b8));
    assert!(events(&actions).iter().any(|e| matches!(e, Event::BlockCommitted { .. })), "{actions:#?}");
    assert!(actions.contains(&round_entered(8, RoundReason::Qc { qc_round: 7 }, 1_000)), "{actions:#?}");
    assert_eq!(n0.view().consecutive_timeouts, 0);
}

#[test]
fn quorum_of_timeouts_forms_tc_and_advances_round() {
    let (mut n3, _) = replica(3);
    n3.handle(at(1_000), Input::Timer(Timer::Round(1)));
    // Two timeouts (n3's own and n0's) are not a quorum.
    let actions = n3.handle(at(1_010), msg(0, ConsensusMessage::Timeout(timeout(0, 1, &genesis()))));
    assert_eq!(actions, vec![Action::Observe(Event::TimeoutReceived { from: NodeId(0), round: 1 })]);

    let actions = n3.handle(at(1_020), msg(1, ConsensusMessage::Timeout(timeout(1, 1, &genesis()))));
    let tc1 = genesis_tc(1);
    assert_eq!(tc1.signers(), vec![NodeId(0), NodeId(1), NodeId(3)]);
    assert_eq!(
        actions,
        vec![
            Action::Observe(Event::TimeoutReceived { from: NodeId(1), round: 1 }),
            Action::Observe(Event::TcFormed { tc: tc1.clone() }),
            Action::Broadcast { message: ConsensusMessage::Tc(tc1.clone()) },
            round_entered(2, RoundReason::Tc { tc_round: 1 }, 1_000),
            round_timer(2, 2_020),
            Action::Persist(PersistentState { high_tc: Some(tc1.clone()), ..state(2, 1) }),
        ]
    );
    assert_eq!(tc1.verify(&committee(N)), Ok(()));

    // A straggler's timeout for round 1 is answered with the TC.
    let actions = n3.handle(at(1_030), msg(2, ConsensusMessage::Timeout(timeout(2, 1, &genesis()))));
    assert_eq!(
        actions,
        vec![
            Action::Observe(Event::TimeoutReceived { from: NodeId(2), round: 1 }),
            Action::Send { to: NodeId(2), message: ConsensusMessage::Tc(tc1) },
        ]
    );
}

#[test]
fn f_plus_one_timeouts_make_replica_join_the_timeout() {
    // Timeouts for the replica's own round: it times out early.
    let (mut n3, _) = replica(3);
    let one = n3.handle(at(100), msg(0, ConsensusMessage::Timeout(timeout(0, 1, &genesis()))));
    assert_eq!(one, vec![Action::Observe(Event::TimeoutReceived { from: NodeId(0), round: 1 })]);
    let two = n3.handle(at(110), msg(1, ConsensusMessage::Timeout(timeout(1, 1, &genesis()))));
    assert_eq!(
        two[..4],
        [
            Action::Observe(Event::TimeoutReceived { from: NodeId(1), round: 1 }),
            Action::Persist(state(1, 1)),
            Action::Broadcast { message: ConsensusMessage::Timeout(timeout(3, 1, &genesis())) },
            Action::Observe(Event::TimeoutSent { round: 1, high_qc_round: 0, consecutive: 1, joined: true }),
        ],
        "{two:#?}"
    );
    // With its own, that is a quorum: the TC follows at once.
    assert!(events(&two).contains(&Event::TcFormed { tc: genesis_tc(1) }));
    assert_eq!(n3.view().round, 2);

    // Timeouts for a round ahead: the replica enters it and times out with them.
    let (mut n3, _) = replica(3);
    n3.handle(at(100), msg(0, ConsensusMessage::Timeout(timeout(0, 2, &genesis()))));
    let two = n3.handle(at(110), msg(1, ConsensusMessage::Timeout(timeout(1, 2, &genesis()))));
    assert_eq!(
        two[..6],
        [
            Action::Observe(Event::TimeoutReceived { from: NodeId(1), round: 2 }),
            round_entered(2, RoundReason::TimeoutsJoined { count: 2 }, 1_000),
            round_timer(2, 1_110),
            Action::Persist(state(2, 2)),
            Action::Broadcast { message: ConsensusMessage::Timeout(timeout(3, 2, &genesis())) },
            Action::Observe(Event::TimeoutSent { round: 2, high_qc_round: 0, consecutive: 1, joined: true }),
        ],
        "{two:#?}"
    );
}

#[test]
fn stale_timer_is_ignored() {
    let (mut n3, _) = replica(3);
    n3.handle(at(500), msg(0, ConsensusMessage::Tc(genesis_tc(1))));
    assert_eq!(n3.view().round, 2);
    assert_eq!(n3.handle(at(1_000), Input::Timer(Timer::Round(1))), vec![]);
    assert_eq!(n3.handle(at(1_000), Input::Timer(Timer::Propose(1))), vec![]);
    assert_eq!(n3.view().last_voted_round, 0);
    // The live timer still works.
    let actions = n3.handle(at(1_500), Input::Timer(Timer::Round(2)));
    assert!(events(&actions).iter().any(|e| matches!(e, Event::TimeoutSent { round: 2, .. })));
}

// =============================================================================================
// Synchronisation and recovery.

#[test]
fn missing_parent_is_requested_from_proposer() {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);

    let actions = n0.handle(at(10), propose(2, &b2));
    assert!(events(&actions).contains(&Event::SyncRequested { digest: b1.digest(), to: NodeId(2) }));
    assert_eq!(
        actions.last(),
        Some(&Action::Send { to: NodeId(2), message: ConsensusMessage::SyncRequest { digest: b1.digest() } })
    );
    assert!(actions.contains(&Action::SetTimer { timer: Timer::SyncRetry, deadline: at(310) }));
    assert!(votes_sent(&actions).is_empty(), "no vote before the chain is known");
    assert_eq!(n0.view().round, 2, "the QC in the proposal moves the replica on");
    assert_eq!(n0.block(&b2.digest()), None);

    let actions = n0.handle(at(20), msg(2, ConsensusMessage::SyncResponse(b1.clone())));
    let stored: Vec<&Block> = actions
        .iter()
        .filter_map(|a| match a {
            Action::StoreBlock(block) => Some(block),
            _ => None,
        })
        .collect();
    assert_eq!(stored, vec![&b1, &b2], "parent first, then the parked child");
    assert_eq!(n0.block(&b1.digest()), Some(&b1));
    assert_eq!(n0.block(&b2.digest()), Some(&b2));
    assert_eq!(votes_sent(&actions), vec![(NodeId(3), vote(0, &b2))]);

    // The request is settled: the same response again is neither used nor rejected.
    assert_eq!(n0.handle(at(30), msg(2, ConsensusMessage::SyncResponse(b1.clone()))), vec![]);

    // A late proposal (the replica is in round 3, led by n3) is still asked of its proposer.
    let (mut n0, _) = replica(0);
    n0.handle(at(1_000), msg(1, ConsensusMessage::Tc(genesis_tc(1))));
    n0.handle(at(2_000), msg(1, ConsensusMessage::Tc(genesis_tc(2))));
    assert_eq!(n0.view().round, 3);
    let actions = n0.handle(at(2_010), propose(2, &b2));
    assert!(events(&actions).contains(&Event::SyncRequested { digest: b1.digest(), to: NodeId(2) }));
}

/// `ORPHAN_BLOCKS_MAX` bounds the distinct blocks parked while their ancestors are fetched. A
/// block already parked is not parked again, so replaying it cannot fill the buffer.
#[test]
fn duplicate_orphan_proposals_do_not_fill_the_orphan_buffer() {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let b2 = proposal(2, &qc(&b1), vec![]);
    let b3 = proposal(3, &qc(&b2), vec![]);
    // The same valid orphan, over and over (a Byzantine peer, or a duplicating network).
    for i in 0..ORPHAN_BLOCKS_MAX as u64 {
        n0.handle(at(10 + i), propose(2, &b2));
    }
    // A new orphan must still be parked and its parent asked for.
    let actions = n0.handle(at(5_000), propose(3, &b3));
    assert!(
        events(&actions).contains(&Event::SyncRequested { digest: b2.digest(), to: NodeId(3) }),
        "{actions:#?}"
    );
}

/// Blocks `b1..=bk` in rounds `1..=k`, each certified by the next (no round timed out).
fn chain(k: u64) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for round in 1..=k {
        let parent = blocks.last().map_or_else(genesis, qc);
        blocks.push(proposal(round, &parent, vec![]));
    }
    blocks
}

fn chain_requests(actions: &[Action]) -> Vec<(NodeId, Height)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, message: ConsensusMessage::ChainRequest { above, max } } => {
                assert_eq!(*max, CHAIN_BLOCKS_MAX);
                Some((*to, *above))
            }
            _ => None,
        })
        .collect()
}

fn sync_requests(actions: &[Action]) -> Vec<Digest> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { message: ConsensusMessage::SyncRequest { digest }, .. } => Some(*digest),
            _ => None,
        })
        .collect()
}

/// Far behind (a block more than `CHAIN_SYNC_GAP` above the last commit, its parent missing),
/// a replica fetches the committed chain forward in ranges instead of walking back one block per
/// round trip; the last blocks, above what the peer committed, come by the walk back.
#[test]
fn a_replica_far_behind_catches_up_by_ranges_of_the_committed_chain() {
    let blocks = chain(21);
    let (mut n0, _) = replica(0);
    let actions = n0.handle(at(10), propose(1, &blocks[20]));
    assert_eq!(chain_requests(&actions), vec![(NodeId(1), 0)], "{actions:#?}");
    assert!(sync_requests(&actions).is_empty(), "no walk back from 21 blocks ahead");

    // n1 has committed up to b19 (b20 carries the QC that commits it, and is not committed).
    let actions = n0.handle(at(20), msg(1, ConsensusMessage::ChainResponse(blocks[..19].to_vec())));
    // Linking commits as it goes: b19's QC certifies b18, whose parent b17 is from the round
    // before.
    assert_eq!(n0.view().committed_height, 17);
    let commits = actions.iter().filter(|a| matches!(a, Action::Commit(_))).count();
    assert_eq!(commits, 17, "each committed block is delivered once");
    // Within the gap of b21 now: the parked b21 walks back to b20.
    assert!(chain_requests(&actions).is_empty(), "{actions:#?}");
    assert_eq!(sync_requests(&actions), vec![blocks[19].digest()]);

    let actions = n0.handle(at(30), msg(1, ConsensusMessage::SyncResponse(blocks[19].clone())));
    assert_eq!(n0.view().committed_height, 19);
    assert_eq!(votes_sent(&actions), vec![(NodeId(2), vote(0, &blocks[20]))], "back in the game");
}

#[test]
fn a_chain_response_from_a_peer_not_asked_is_rejected() {
    let blocks = chain(21);
    let (mut n0, _) = replica(0);
    n0.handle(at(10), propose(1, &blocks[20]));
    let actions = n0.handle(at(20), msg(2, ConsensusMessage::ChainResponse(blocks[..19].to_vec())));
    assert_eq!(
        actions,
        vec![rejected(2, "chain-response", &Error::MalformedChain("not from the peer asked"))]
    );
    assert_eq!(n0.view().committed_height, 0);
}

/// A replica keeping the least history allowed (`RETAIN_HEIGHTS_MIN`).
fn pruning_replica(id: u16) -> Consensus {
    let params = Parameters { retain_heights: crate::params::RETAIN_HEIGHTS_MIN, ..params() };
    replica_with(id, params, None).0
}

/// A peer that pruned the heights we lack serves its oldest: a range above our next height.
/// Here the tip is at height 1,100, so a peer that committed 1,099 keeps 100 and up. The
/// range's first block is committed if the commit rule commits a block of the range from
/// inside it (b118, by b119 certified in the next round); the replica takes it as a checkpoint
/// and links the rest, committing as it goes, without the heights below.
#[test]
fn a_range_above_our_next_height_that_proves_its_first_block_committed_installs_a_checkpoint() {
    let blocks = chain(1_100);
    let mut n0 = pruning_replica(0);
    n0.handle(at(10), propose(1, &blocks[1_099]));
    let range = blocks[99..120].to_vec(); // heights 100..=120
    let actions = n0.handle(at(20), msg(1, ConsensusMessage::ChainResponse(range)));
    let installed = Event::CheckpointInstalled {
        from_height: 0,
        height: 100,
        round: 100,
        proven_by: 118,
        from: NodeId(1),
    };
    assert!(events(&actions).contains(&installed), "{actions:#?}");
    let commits: Vec<Height> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Commit(block) => Some(block.height),
            _ => None,
        })
        .collect();
    assert_eq!(commits, (100..=118).collect::<Vec<_>>(), "the checkpoint and what it links, once each");
    assert!(
        actions.iter().any(|a| matches!(a, Action::StoreBlock(b) if b.height == 100)),
        "the checkpoint is stored, so that it can be served"
    );
    assert_eq!(n0.view().committed_height, 118);
    assert!(actions.iter().any(|a| matches!(a, Action::Persist(_))), "the new commit is recorded");
}

/// A peer serving a proven range much nearer the tip than an honest one could have pruned to
/// (here its first block at 1,000, so it would have to keep nothing below 1,000 with only 1,100
/// heights committed: an honest peer keeps 1,000 heights) would make us skip history the
/// others still hold. Refused; the next peer is asked.
#[test]
fn a_checkpoint_nearer_the_tip_than_peers_prune_is_refused() {
    let blocks = chain(1_100);
    let mut n0 = pruning_replica(0);
    n0.handle(at(10), propose(1, &blocks[1_099]));
    let range = blocks[999..1_020].to_vec();
    let actions = n0.handle(at(20), msg(1, ConsensusMessage::ChainResponse(range)));
    let error = Error::MalformedChain("a range that starts nearer the tip than peers prune to");
    assert_eq!(actions[0], rejected(1, "chain-response", &error), "{actions:#?}");
    assert_eq!(chain_requests(&actions), vec![(NodeId(2), 0)]);
    assert_eq!(n0.view().committed_height, 0);
}

/// The same range with no two certified blocks in consecutive rounds proves nothing: each is
/// certified, but any could still be abandoned by a TC. Refused; the next peer is asked, and a
/// peer that does not answer is replaced after the retry delay. (A range at our next height
/// whose first block does not extend our commit is refused the same way; a certified one
/// needs a fork below a commit, which no honest-majority run has.)
#[test]
fn a_range_above_our_next_height_that_proves_nothing_committed_is_rejected_and_the_next_peer_is_asked() {
    // Rounds 1, 3, 5, …: every round between timed out (each block carries the TC).
    let mut blocks: Vec<Block> = Vec::new();
    for round in (1..=2_199).step_by(2) {
        let parent = blocks.last().map_or_else(genesis, qc);
        let tc = (round > 1).then(|| {
            let timeouts: Vec<Timeout> = [0, 1, 2].iter().map(|i| timeout(*i, round - 1, &parent)).collect();
            tc(round - 1, &timeouts)
        });
        blocks.push(signed_block(leader(round), round, parent, tc, vec![]));
    }
    let mut n0 = pruning_replica(0);
    let actions = n0.handle(at(10), propose(1, &blocks[1_099]));
    assert_eq!(chain_requests(&actions), vec![(NodeId(1), 0)], "{actions:#?}");
    let actions = n0.handle(at(20), msg(1, ConsensusMessage::ChainResponse(blocks[99..120].to_vec())));
    let error =
        Error::MalformedChain("a range above our next height that does not prove its first block committed");
    assert_eq!(actions[0], rejected(1, "chain-response", &error), "{actions:#?}");
    assert_eq!(chain_requests(&actions), vec![(NodeId(2), 0)]);
    assert_eq!(n0.view().committed_height, 0);
    assert!(!actions.iter().any(|a| matches!(a, Action::Commit(_))));
    let actions = n0.handle(at(20 + params().sync_retry_ms), Input::Timer(Timer::SyncRetry));
    assert_eq!(chain_requests(&actions), vec![(NodeId(3), 0)]);
}

/// A peer cannot set the pace of a catch-up by answering with a block at a time (a Byzantine
/// server, or one that is behind too): a range that gains little counts as a failed attempt and
/// the next peer is asked; a peer that gives a useful range is asked for the next one.
#[test]
fn a_catch_up_moves_on_from_a_peer_that_gives_little() {
    let blocks = chain(100);
    let (mut n0, _) = replica(0);
    let actions = n0.handle(at(10), propose(3, &blocks[98]));
    assert_eq!(chain_requests(&actions), vec![(NodeId(3), 0)]);
    let actions = n0.handle(at(20), msg(3, ConsensusMessage::ChainResponse(blocks[..1].to_vec())));
    assert_eq!(chain_requests(&actions), vec![(NodeId(1), 0)], "n3 gave one block: ask n1");
    let actions = n0.handle(at(30), msg(1, ConsensusMessage::ChainResponse(blocks[..64].to_vec())));
    assert_eq!(n0.view().committed_height, 62);
    assert_eq!(chain_requests(&actions), vec![(NodeId(1), 62)], "a full range: the next from n1 too");
}

/// A chain response nobody asked for is refused before its (up to 64 blocks of) signatures are
/// checked.
#[test]
fn an_unsolicited_chain_response_is_refused_before_verification() {
    let mut forged = chain(2);
    forged[1].signature = Signature::ZERO;
    let (mut n0, _) = replica(0);
    let actions = n0.handle(at(10), msg(2, ConsensusMessage::ChainResponse(forged)));
    let error = Error::MalformedChain("no chain request is outstanding");
    assert_eq!(actions, vec![rejected(2, "chain-response", &error)]);
}

#[test]
fn a_chain_response_whose_blocks_do_not_follow_one_another_fails_verification() {
    let blocks = chain(4);
    let gap = ConsensusMessage::ChainResponse(vec![blocks[0].clone(), blocks[2].clone()]);
    assert_eq!(
        gap.verify(&committee(N)),
        Err(Error::MalformedChain("a block does not extend the one before it"))
    );
    let ok = ConsensusMessage::ChainResponse(blocks.clone());
    assert_eq!(ok.verify(&committee(N)), Ok(()));
    for max in [0, CHAIN_BLOCKS_MAX + 1] {
        let request = ConsensusMessage::ChainRequest { above: 0, max };
        assert!(matches!(request.verify(&committee(N)), Err(Error::MalformedChain(_))));
    }
}

/// A chain request is answered to the sender the transport authenticated, with the committed
/// blocks above the height it names; from the store's commit index when memory no longer holds
/// the start of the range; with an empty response when there is nothing above it.
#[test]
fn a_chain_request_is_answered_to_its_sender_with_the_committed_blocks_above_its_height() {
    let blocks = chain(12);
    for (gc_depth_rounds, from_memory) in [(50, true), (2, false)] {
        let params = Parameters { gc_depth_rounds, ..params() };
        let (mut n0, _) = replica_with(0, params, None);
        for (i, block) in blocks.iter().enumerate() {
            n0.handle(at(10 * i as u64 + 10), propose(leader(block.round), block));
        }
        assert_eq!(n0.view().committed_height, 10);
        let request = ConsensusMessage::ChainRequest { above: 5, max: 3 };
        let actions = n0.handle(at(500), msg(2, request));
        let served = if from_memory {
            Action::Send { to: NodeId(2), message: ConsensusMessage::ChainResponse(blocks[5..8].to_vec()) }
        } else {
            Action::ServeChainFromStore { above: 5, max: 3, to: NodeId(2) }
        };
        assert_eq!(actions.last(), Some(&served), "gc depth {gc_depth_rounds}: {actions:#?}");
        // Nothing above our commit (b11 and b12 are certified or proposed, not committed).
        let actions = n0.handle(at(510), msg(3, ConsensusMessage::ChainRequest { above: 10, max: 64 }));
        let empty = Action::Send { to: NodeId(3), message: ConsensusMessage::ChainResponse(Vec::new()) };
        assert_eq!(actions.last(), Some(&empty));
    }
}

/// The leader's block of `round` on `qc`, justified by a TC of the round before (so any round
/// will do, one block each).
fn on_qc_after_tc(qc: &QuorumCert, round: Round) -> Block {
    let timeouts: Vec<_> = [0, 1, 3].iter().map(|i| timeout(*i, round - 1, qc)).collect();
    signed_block(leader(round), round, qc.clone(), Some(tc(round - 1, &timeouts)), vec![])
}

/// A full orphan buffer used to drop the block that just arrived and never ask for its parent,
/// so a replica that filled it (by falling behind) stalled for good. Now the lowest-round orphan
/// makes room: the newest blocks are the ones that lead back to the chain.
#[test]
fn a_full_orphan_buffer_makes_room_for_the_newest_block_and_asks_for_its_parent() {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let qc1 = qc(&b1);
    // ORPHAN_BLOCKS_MAX blocks whose parent b1 we lack, each of its own round (one block per
    // leader and round is processed), so each after a TC of the round before.
    let after_tc = |round: Round| on_qc_after_tc(&qc1, round);
    let rounds = 3..3 + ORPHAN_BLOCKS_MAX as u64;
    let next = rounds.end;
    for round in rounds {
        n0.handle(at(10), propose(leader(round), &after_tc(round)));
    }
    assert_eq!(n0.orphan_count, ORPHAN_BLOCKS_MAX);
    let b2 = after_tc(next);
    let b3 = proposal(next + 1, &qc(&b2), vec![]);
    let actions = n0.handle(at(20), propose(leader(next + 1), &b3));
    assert_eq!(sync_requests(&actions), vec![b2.digest()], "{actions:#?}");
    assert_eq!(n0.orphan_count, ORPHAN_BLOCKS_MAX, "one made room for it");
    assert_eq!(n0.orphans.values().map(Vec::len).sum::<usize>(), ORPHAN_BLOCKS_MAX, "no empty entries");
    // Its chain arrives: it links, and so does b3.
    n0.handle(at(30), msg(3, ConsensusMessage::SyncResponse(b2.clone())));
    n0.handle(at(40), msg(2, ConsensusMessage::SyncResponse(b1.clone())));
    assert!(n0.block(&b3.digest()).is_some());
}

/// Orphan space is shared: one author (Byzantine) filled the whole buffer with valid blocks of
/// far rounds, which the oldest-round eviction then kept, so an honest block of an earlier round
/// found no room and its parent was never asked for. Now an author holds at most
/// `ORPHAN_BLOCKS_MAX / (n − f)` of it.
#[test]
fn orphan_space_is_bounded_per_author_a_flooding_author_leaves_room_for_the_others() {
    let (mut n0, _) = replica(0);
    let b1 = proposal(1, &genesis(), vec![]);
    let qc1 = qc(&b1);
    let after_tc = |round: Round| on_qc_after_tc(&qc1, round);
    // Node 1 leads rounds 4k + 1: as many blocks as the whole buffer holds, far ahead.
    for k in 0..ORPHAN_BLOCKS_MAX as u64 {
        let round = 10_001 + 4 * k;
        n0.handle(at(10), propose(1, &after_tc(round)));
    }
    let flooder = n0.orphans.values().flatten().filter(|(_, b)| b.author == NodeId(1)).count();
    assert_eq!(flooder, ORPHAN_BLOCKS_MAX / 3, "n = 4, f = 1: an author holds at most a third");
    // An honest leader's orphan of an earlier round is parked, and its parent asked for.
    let b2 = after_tc(6);
    let b3 = proposal(7, &qc(&b2), vec![]);
    let actions = n0.handle(at(20), propose(3, &b3));
    assert_eq!(sync_requests(&actions), vec![b2.digest()], "{actions:#?}");
}

/// A peer is served at most `budget::BLOCKS_SERVED` blocks at once (16 ranges of 64), then at
/// the allowance's rate: before, every request was answered however fast they came.
#[test]
fn a_peer_asking_past_its_allowance_of_blocks_is_refused_until_it_refills() {
    let (mut n0, _) = replica(0);
    let ask = || msg(3, ConsensusMessage::ChainRequest { above: 0, max: 64 });
    let answered = |actions: &[Action]| {
        actions.iter().any(|a| matches!(a, Action::Send { message: ConsensusMessage::ChainResponse(_), .. }))
    };
    for _ in 0..16 {
        assert!(answered(&n0.handle(at(10), ask())));
    }
    let refused = n0.handle(at(10), ask());
    assert!(!answered(&refused), "{refused:?}");
    assert!(
        events(&refused).iter().any(|e| matches!(e, Event::MessageRejected { from: NodeId(3), .. })),
        "{refused:?}"
    );
    let another = n0.handle(at(10), msg(2, ConsensusMessage::SyncRequest { digest: Digest::of(b"x") }));
    assert!(
        events(&another).iter().all(|e| !matches!(e, Event::MessageRejected { .. })),
        "its own allowance"
    );
    // 64 blocks at 4,000 a second: 16 ms later it is served again.
    assert!(answered(&n0.handle(at(26), ask())));
}

/// A leader in a round it entered by a TC must carry that TC in its proposal. Before `high_tc`
/// was persisted, a leader that restarted in such a round had lost it and could not propose:
/// the round timed out.
#[test]
fn a_leader_restarted_in_a_round_it_entered_by_a_tc_still_proposes() {
    let (mut n3, _) = replica(3);
    let tc2 = genesis_tc(2);
    let actions = n3.handle(at(10), msg(0, ConsensusMessage::Tc(tc2.clone())));
    assert_eq!(n3.view().round, 3, "the TC moves n3 into round 3, which it leads");
    assert!(proposals_broadcast(&actions).is_empty(), "nothing to propose yet: it waits");
    let durable = actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::Persist(state) => Some(state.clone()),
            _ => None,
        })
        .expect("entering the round is persisted");
    assert_eq!(durable.high_tc.as_ref(), Some(&tc2));

    // It crashes before its proposal delay ends and restarts from that state.
    let (mut n3, _) = replica_with(3, params(), Some(durable));
    let actions = n3.handle(at(200), Input::Timer(Timer::Propose(3)));
    let proposals = proposals_broadcast(&actions);
    assert_eq!(proposals.len(), 1, "{actions:#?}");
    assert_eq!(proposals[0].tc.as_ref(), Some(&tc2));
}

#[test]
fn recovered_replica_does_not_vote_again_in_its_last_voted_round() {
    let recovered = state(1, 1);
    let (mut n3, start) = replica_with(3, params(), Some(recovered.clone()));
    assert_eq!(
        start,
        vec![
            Action::Observe(Event::Recovered { round: 1, last_voted_round: 1, committed_height: 0 }),
            round_entered(1, RoundReason::Start, 1_000),
            round_timer(1, 1_000),
            Action::Persist(recovered),
        ]
    );

    let b1 = proposal(1, &genesis(), vec![]);
    let actions = n3.handle(at(10), propose(1, &b1));
    assert_eq!(
        actions,
        vec![
            Action::Observe(Event::ProposalReceived { from: NodeId(1), block: BlockInfo::from(&b1) }),
            Action::StoreBlock(b1.clone()),
            Action::Observe(Event::VoteWithheld {
                block: b1.digest(),
                round: 1,
                reason: NoVoteReason::AlreadyVoted { last_voted_round: 1 },
            }),
        ]
    );
}

/// Jolteon: a TC carries the highest QC its signers reported. A leader that learns of the TC
/// second-hand (here n3, leader of round 3, which never saw round 1's QC) must still propose a
/// block that voters accept, extending that QC rather than an older one.
#[test]
fn tc_carries_its_highest_qc_so_a_leader_learning_it_second_hand_proposes_a_votable_block() {
    let b1 = proposal(1, &QuorumCert::genesis(), vec![]);
    let qc1 = qc(&b1);
    let timeouts: Vec<Timeout> = [0, 1, 2].iter().map(|i| timeout(*i, 2, &qc1)).collect();
    let tc2 = tc(2, &timeouts);
    assert_eq!(*tc2.high_qc, qc1);

    let (mut n3, _) = replica(3);
    n3.handle(at(5), Input::BatchReady(batch(1))); // something to propose at once
    let actions = n3.handle(at(10), msg(0, ConsensusMessage::Tc(tc2.clone())));
    // It must extend b1, which it does not hold: it fetches it first.
    assert!(proposals_broadcast(&actions).is_empty(), "{actions:#?}");
    let asks_for_b1 = |a: &Action| matches!(a, Action::Send { message: ConsensusMessage::SyncRequest { digest, .. }, .. } if *digest == b1.digest());
    assert!(actions.iter().any(asks_for_b1), "{actions:#?}");
    let actions = n3.handle(at(20), msg(0, ConsensusMessage::SyncResponse(b1.clone())));
    let proposals = proposals_broadcast(&actions);
    assert_eq!(proposals.len(), 1, "{actions:#?}");
    let b3 = &proposals[0];
    assert_eq!((b3.round, &b3.qc, b3.tc.as_ref()), (3, &qc1, Some(&tc2)));

    // A replica in round 3 would vote for it under the 2-chain TC rule.
    let voter = VoterState { round: 3, last_voted_round: 2, locked_round: 1 };
    assert_eq!(
        vote_rule(CommitRule::TwoChain, voter, b3),
        Ok(VoteRule::TcWithHighestQc { tc_high_qc_round: 1 })
    );
}

#[test]
fn tc_whose_qc_is_not_the_highest_reported_is_rejected() {
    let b1 = proposal(1, &QuorumCert::genesis(), vec![]);
    let timeouts: Vec<Timeout> = [0, 1, 2].iter().map(|i| timeout(*i, 2, &qc(&b1))).collect();
    let mut forged = tc(2, &timeouts);
    forged.high_qc = Box::new(QuorumCert::genesis());
    let (mut n3, _) = replica(3);
    let actions = n3.handle(at(10), msg(0, ConsensusMessage::Tc(forged)));
    let error = Error::MalformedBlock("a TC's QC must be the highest its signers reported");
    assert_eq!(actions, vec![rejected(0, "tc", &error)]);
    assert_eq!(n3.view().round, 1);
}

/// Links lose messages: a replica whose round does not move for `resend_ms` after it voted
/// sends the same signed vote to the next leader again, and again, until the round moves; then
/// the timer of the old round is stale.
#[test]
fn a_stalled_round_resends_the_same_vote_to_the_next_leader_until_the_round_moves() {
    let (mut n3, _) = replica(3);
    let b1 = proposal(1, &genesis(), vec![]);
    n3.handle(at(10), propose(1, &b1));
    let resend = params().resend_ms;
    for k in 1..=2 {
        let actions = n3.handle(at(10 + k * resend), Input::Timer(Timer::Resend(1)));
        assert_eq!(votes_sent(&actions), vec![(NodeId(2), vote(3, &b1))], "resend {k}");
        assert!(actions.contains(&resend_timer(1, 10 + (k + 1) * resend)), "{actions:#?}");
        assert!(!actions.iter().any(|a| matches!(a, Action::Persist(_))), "already durable: {actions:#?}");
    }
    // The QC for b1 moves n3 to round 2: the resend timer of round 1 is stale.
    let b2 = proposal(2, &qc(&b1), vec![]);
    n3.handle(at(500), propose(2, &b2));
    assert!(votes_sent(&n3.handle(at(10 + 3 * resend), Input::Timer(Timer::Resend(1)))).is_empty());
}

/// Only the round's leader gets a vote, whatever way its block arrived. The newest block of a
/// range of the chain is certified by nothing: a peer serving the range could append a block of
/// its own for our current round, built on the real QC. (When `Block::verify` stopped checking
/// the leader, so that reputation could decide it, such a block got the vote.)
#[test]
fn a_block_by_someone_who_does_not_lead_its_round_gets_no_vote_even_in_a_range_of_the_chain() {
    let blocks = chain(20);
    let (mut n0, _) = replica(0);
    n0.handle(at(10), propose(1, &blocks[19]));
    // Node 1 serves b1..b19 and then its own block for round 20, which node 0 leads.
    assert_eq!(leader(20), 0);
    let intruder = signed_block(1, 20, qc(&blocks[18]), None, vec![]);
    let mut range = blocks[..19].to_vec();
    range.push(intruder.clone());
    let actions = n0.handle(at(20), msg(1, ConsensusMessage::ChainResponse(range)));
    assert_eq!(withheld(&actions, &intruder), Some(NoVoteReason::NotTheLeader { expected: NodeId(0) }));
    assert!(votes_sent(&actions).iter().all(|(_, vote)| vote.block != intruder.digest()), "{actions:#?}");
    // (The real b20, parked since it told us we were behind, gets the round's one vote.)
    assert_eq!(votes_sent(&actions), vec![(NodeId(1), vote(0, &blocks[19]))]);
}
