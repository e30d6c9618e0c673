//! Twins (Bano et al., arXiv 2004.10617): a Byzantine node is modelled as two honest instances
//! with the same key, placed on different sides of a partition. Each instance follows the
//! protocol; together they equivocate and double-vote naturally. The honest code is unchanged.
//!
//! With f twins, safety holds under any partition schedule; with f + 1 twins, a partition that
//! gives each side a quorum makes honest replicas commit different blocks, and the agreement
//! checker reports it. Instance `i < n` is node `i`; the twin of `twins[k]` is instance `n + k`.

use hotstuff_core::sim::{SimConfig, Simulation, Violation};
use hotstuff_core::NodeId;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

fn with_twins(seed: u64, twins: Vec<NodeId>) -> Simulation {
    Simulation::new(SimConfig { nodes: 4, seed, twins, ..SimConfig::default() })
}

#[test]
fn f_plus_one_twins_split_into_two_quorums_break_agreement_and_the_checker_reports_it() {
    // Nodes 0 and 1 have twins (instances 4 and 5): {0, 1, 2} and {0', 1', 3} are both quorums.
    let mut sim = with_twins(1, vec![NodeId(0), NodeId(1)]);
    sim.partition_instances(vec![vec![0, 1, 2], vec![4, 5, 3]]);
    let violation: Violation = match sim.run_for(30_000) {
        Err(violation) => violation,
        Ok(()) => panic!("two quorums that share only Byzantine nodes must fork: {:#?}", sim.views()),
    };
    eprintln!("{violation}");
    assert!(violation.description.starts_with("agreement"), "{violation}");
    assert!(violation.description.contains("n2") && violation.description.contains("n3"), "{violation}");
}

#[test]
fn f_twins_with_the_same_split_cannot_break_agreement() {
    // Only node 0 has a twin: {0, 1, 2} is a quorum, {0', 3} is not.
    let mut sim = with_twins(1, vec![NodeId(0)]);
    sim.partition_instances(vec![vec![0, 1, 2], vec![4, 3]]);
    sim.run_for(30_000).unwrap_or_else(|v| panic!("{v}"));
    // About 0.6 blocks/s: one leader in four is unreachable (as with one crashed node).
    assert!(sim.view(NodeId(2)).committed_height >= 10, "the quorum side commits: {:#?}", sim.views());
    assert_eq!(sim.view(NodeId(3)).committed_height, 0, "the other side cannot");
}

/// Twins-style sweep: from each seed, a schedule of random two-sided partitions of all instances
/// (twins included), changing every 0.3–1.5 s. With f = 1 twin, no schedule may break safety.
/// `HOTSTUFF_TWINS_SEEDS` sets the number of schedules (default 16).
#[test]
fn f_twins_under_random_partition_schedules_never_break_agreement() {
    let seeds: u64 = std::env::var("HOTSTUFF_TWINS_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let twin = NodeId(rng.random_range(0..4));
        let mut sim = with_twins(seed, vec![twin]);
        while sim.now().as_ms() < 20_000 {
            let mut sides: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
            for instance in 0..5 {
                sides[rng.random_range(0..2usize)].push(instance);
            }
            let [a, b] = sides;
            sim.partition_instances(vec![a, b]);
            if let Err(violation) = sim.run_for(rng.random_range(300..1_500)) {
                panic!("seed {seed}, twin of {twin}: {violation}");
            }
        }
    }
}
