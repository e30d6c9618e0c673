//! Shared fixtures for the integration tests in `tests/tests/`.

use hotstuff_core::sim::{SimConfig, Simulation, Violation};
use hotstuff_core::{Height, NodeId};
use rand::Rng as _;
use rand_chacha::ChaCha8Rng;

/// A simulation of `nodes` replicas with default parameters.
pub fn sim(nodes: u16, seed: u64) -> Simulation {
    Simulation::new(SimConfig { nodes, seed, ..SimConfig::default() })
}

/// Runs until every running replica has committed at least `height`, failing the test on a
/// violation or if it takes more than `max_ms` of simulated time.
pub fn commit_to(sim: &mut Simulation, height: Height, max_ms: u64) {
    match sim.run_until(|s| s.min_committed_height() >= height, max_ms) {
        Ok(true) => {}
        Ok(false) => panic!(
            "seed {}: not every running node reached height {height} within {max_ms} ms; views: {:#?}",
            sim.config().seed,
            sim.views()
        ),
        Err(violation) => panic!("{violation}"),
    }
}

/// Runs for `ms` of simulated time, failing the test on a violation.
pub fn run(sim: &mut Simulation, ms: u64) {
    if let Err(violation) = sim.run_for(ms) {
        panic!("{violation}");
    }
}

/// The highest height any replica committed.
pub fn max_height(sim: &Simulation) -> Height {
    sim.views().iter().map(|v| v.committed_height).max().unwrap_or(0)
}

/// The committed height of one replica.
pub fn height(sim: &Simulation, node: u16) -> Height {
    sim.view(NodeId(node)).committed_height
}

/// Injects random faults until `until_ms` of simulated time: every 0.5–3 s one of crash,
/// restart, a random two-sided partition, heal, or a new loss rate (0–20%). Any number of
/// replicas may be down at once: crashes never threaten safety.
pub fn random_faults(sim: &mut Simulation, rng: &mut ChaCha8Rng, until_ms: u64) -> Result<(), Violation> {
    let nodes = sim.config().nodes;
    while sim.now().as_ms() < until_ms {
        sim.run_for(rng.random_range(500..3_000))?;
        let node = NodeId(rng.random_range(0..nodes));
        match rng.random_range(0..6u32) {
            0 => sim.crash(node),
            1 => sim.restart(node),
            2 => {
                let cut = rng.random_range(1..nodes);
                let mut order: Vec<NodeId> = (0..nodes).map(NodeId).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
                let (a, b) = order.split_at(usize::from(cut));
                sim.partition(vec![a.to_vec(), b.to_vec()]);
            }
            3 => sim.heal(),
            4 => sim.set_drop_ppm(rng.random_range(0..200_000)),
            _ => sim.set_drop_ppm(0),
        }
    }
    Ok(())
}
