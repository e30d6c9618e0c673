//! The checkers catch a broken protocol, and the real protocol survives the same attack.
//!
//! `CommitRule::UnsafeOneChain` commits a block as soon as it is certified, without the second
//! certified link of 2-chain. The schedule below is the textbook counterexample: the leader that
//! gathers a QC (and, under 1-chain, commits at once) is cut off right then, with its next
//! proposal and everything else it sent lost. The others never see that QC, time out, and a TC
//! lets a later leader extend an older block: a fork at the committed height.
//!
//! Found while writing this: random faults alone rarely break 1-chain (60 seeds of the seed
//! sweep's schedule did not). The cut-off leader's own timeout carries the QC, and that usually
//! reaches the others before their timers expire. Breaking it needs this precise timing.

use hotstuff_core::sim::{SimConfig, Simulation, Violation};
use hotstuff_core::{CommitRule, NodeId};
use hotstuff_tests::commit_to;

/// Runs a 4-node committee to height 5, then isolates the next replica that forms a QC, the
/// moment it forms it, and drops everything it has in flight. Returns the run's first violation.
fn isolate_leader_right_after_it_forms_a_qc(rule: CommitRule) -> Result<Simulation, Violation> {
    let mut config = SimConfig { nodes: 4, seed: 3, ..SimConfig::default() };
    config.params.commit_rule = rule;
    let mut sim = Simulation::new(config);
    commit_to(&mut sim, 5, 60_000);
    let qcs = sim.stats().qcs;
    while sim.stats().qcs == qcs {
        assert!(sim.step()?, "the run goes on");
    }
    // Only the replica that formed the new QC knows it: it holds the highest high QC.
    let leader = sim.views().iter().max_by_key(|v| v.high_qc_round).map(|v| v.id).expect("nodes");
    let others: Vec<NodeId> = (0..4).map(NodeId).filter(|n| *n != leader).collect();
    sim.partition(vec![others, vec![leader]]);
    let outgoing: Vec<u64> = sim.in_flight().filter(|m| m.from == leader).map(|m| m.id).collect();
    for id in outgoing {
        sim.drop_message(id);
    }
    sim.run_for(30_000)?;
    Ok(sim)
}

#[test]
fn one_chain_commit_rule_is_caught_by_the_agreement_checker() {
    match isolate_leader_right_after_it_forms_a_qc(CommitRule::UnsafeOneChain) {
        Err(violation) => {
            eprintln!("{violation}");
            assert!(violation.invariant.is_fork(), "{violation}");
        }
        Ok(sim) => panic!("the unsafe rule went uncaught; views: {:#?}", sim.views()),
    }
}

#[test]
fn two_chain_commit_rule_survives_the_same_schedule() {
    let sim =
        isolate_leader_right_after_it_forms_a_qc(CommitRule::TwoChain).unwrap_or_else(|v| panic!("{v}"));
    // And the three connected replicas kept committing.
    let heights: Vec<u64> = sim.views().iter().map(|v| v.committed_height).collect();
    assert!(heights.iter().filter(|h| **h >= 10).count() >= 3, "{heights:?}");
}
