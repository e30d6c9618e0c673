//! Up to f Byzantine replicas: the honest ones stay safe and keep committing.
//!
//! Each behaviour (`hotstuff_core::sim::Behaviour`) is an alternative consensus core wrapped
//! around an honest one; the honest code has no flag for it. The checkers hold only the honest
//! replicas to the rules.

use hotstuff_core::sim::{Behaviour, SimConfig, Simulation};
use hotstuff_core::NodeId;

fn honest_min_height(sim: &Simulation) -> u64 {
    let byzantine: Vec<NodeId> = sim.config().byzantine.iter().map(|(n, _)| *n).collect();
    sim.views().iter().filter(|v| !byzantine.contains(&v.id)).map(|v| v.committed_height).min().unwrap_or(0)
}

fn run_with(nodes: u16, seed: u64, byzantine: Vec<(NodeId, Behaviour)>, blocks: u64) -> Simulation {
    let mut sim = Simulation::new(SimConfig { nodes, seed, byzantine, ..SimConfig::default() });
    let reached =
        sim.run_until(|s| honest_min_height(s) >= blocks, 600_000).unwrap_or_else(|v| panic!("{v}"));
    assert!(
        reached,
        "seed {seed}: honest replicas stalled at {} with {:?}",
        honest_min_height(&sim),
        sim.config().byzantine
    );
    sim
}

#[test]
fn one_byzantine_replica_of_four_of_each_kind_cannot_break_safety_or_liveness() {
    for behaviour in Behaviour::ALL {
        for seed in 1..4 {
            let sim = run_with(4, seed, vec![(NodeId(2), behaviour)], 30);
            if matches!(behaviour, Behaviour::Forger) {
                assert!(sim.stats().rejected > 0, "forgeries are rejected, visibly");
            }
        }
    }
}

#[test]
fn two_byzantine_replicas_of_seven_cannot_break_safety_or_liveness() {
    let pairs = [
        (Behaviour::Equivocator, Behaviour::DoubleVoter),
        (Behaviour::Forger, Behaviour::Silent),
        (Behaviour::StaleReplayer, Behaviour::Equivocator),
    ];
    for (seed, (a, b)) in pairs.into_iter().enumerate() {
        run_with(7, seed as u64, vec![(NodeId(1), a), (NodeId(2), b)], 20);
    }
}

#[test]
fn an_equivocating_leader_gets_at_most_one_of_its_blocks_certified() {
    use hotstuff_core::event::Event;
    use hotstuff_core::sim::TraceEntry;
    use std::collections::{BTreeMap, BTreeSet};

    let mut config = SimConfig { nodes: 4, seed: 9, record_trace: true, ..SimConfig::default() };
    config.byzantine = vec![(NodeId(1), Behaviour::Equivocator)];
    let mut sim = Simulation::new(config);
    let reached = sim.run_until(|s| honest_min_height(s) >= 40, 600_000).unwrap_or_else(|v| panic!("{v}"));
    assert!(reached);
    // Blocks from node 1 seen by honest replicas, per round; and the blocks certified.
    let mut seen: BTreeMap<u64, BTreeSet<_>> = BTreeMap::new();
    let mut certified: BTreeMap<u64, BTreeSet<_>> = BTreeMap::new();
    for entry in sim.trace() {
        let TraceEntry::Observed(o) = entry else { continue };
        match &o.event {
            Event::ProposalReceived { block, .. } if block.author == NodeId(1) && o.node != NodeId(1) => {
                seen.entry(block.round).or_default().insert(block.digest);
            }
            Event::QcFormed { qc } => {
                certified.entry(qc.round).or_default().insert(qc.block);
            }
            _ => {}
        }
    }
    let forked = seen.values().filter(|blocks| blocks.len() == 2).count();
    assert!(forked >= 5, "node 1 equivocated in {forked} of its rounds");
    for (round, blocks) in certified {
        assert_eq!(blocks.len(), 1, "round {round}: two conflicting blocks certified");
    }
}
