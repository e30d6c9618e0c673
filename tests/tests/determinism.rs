//! Same seed, same run; different seed, different run.

use hotstuff_core::sim::{SimConfig, Simulation};
use hotstuff_core::NodeId;
use hotstuff_tests::{commit_to, run};

fn digest_of(seed: u64) -> String {
    let mut sim = Simulation::new(SimConfig { nodes: 4, seed, ..SimConfig::default() });
    commit_to(&mut sim, 30, 60_000);
    // Interventions are part of the run too.
    sim.crash(NodeId(2));
    run(&mut sim, 3_000);
    sim.restart(NodeId(2));
    commit_to(&mut sim, 40, 120_000);
    format!("{} @ {} after {} steps", sim.trace_digest(), sim.now(), sim.stats().steps)
}

#[test]
fn same_seed_gives_same_trace_digest() {
    assert_eq!(digest_of(5), digest_of(5));
}

#[test]
fn different_seeds_give_different_trace_digests() {
    assert_ne!(digest_of(5), digest_of(6));
}

/// The verification memo is an optimisation only: with or without it, the run is identical.
#[test]
fn verification_memo_changes_cost_not_outcome() {
    let run = |memo: bool| {
        let mut sim =
            Simulation::new(SimConfig { nodes: 4, seed: 9, verification_memo: memo, ..SimConfig::default() });
        commit_to(&mut sim, 30, 60_000);
        sim.trace_digest()
    };
    assert_eq!(run(true), run(false));
}
