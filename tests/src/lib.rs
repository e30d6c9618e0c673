//! Shared fixtures for the integration tests in `tests/tests/`.

use hotstuff_core::sim::{SimConfig, Simulation};
use hotstuff_core::{Height, NodeId};

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
