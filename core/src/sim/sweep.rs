//! Seed sweeps: many runs, each with a random fault schedule drawn from its seed (VOPR-style).
//!
//! A run has two phases:
//! 1. **Safety**: for [`SweepConfig::fault_phase_ms`] of simulated time, every 0.5–3 s a random
//!    fault hits: crash or restart a replica (any number may be down: crashes never threaten
//!    safety), split the network in two at random, heal it, or change the loss rate (0–20%). Up
//!    to `f` replicas are Byzantine with random behaviours. The checkers run on every step.
//! 2. **Liveness** (unless disabled): heal the network, stop losses, restart everyone; then
//!    every honest replica must commit [`SweepConfig::liveness_blocks`] more blocks within
//!    [`SweepConfig::liveness_rounds_max`] rounds.
//!
//! Used by `hotstuff sim --sweep` and by `tests/tests/sweep.rs`.

use super::{Behaviour, SimConfig, Simulation, Violation};
use crate::types::NodeId;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::fmt;

/// How a sweep runs each seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepConfig {
    /// Simulated time of the fault phase.
    pub fault_phase_ms: u64,
    /// Check liveness after healing.
    pub liveness: bool,
    /// Blocks every honest replica must add after healing.
    pub liveness_blocks: u64,
    /// Rounds allowed for that.
    pub liveness_rounds_max: u64,
    /// Simulated time allowed for that.
    pub liveness_time_max_ms: u64,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            fault_phase_ms: 20_000,
            liveness: true,
            liveness_blocks: 5,
            liveness_rounds_max: 60,
            liveness_time_max_ms: 300_000,
        }
    }
}

/// Why a seed failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SweepFailure {
    /// An invariant broke.
    Safety(Violation),
    /// After healing, the honest replicas did not make progress in time.
    Liveness {
        /// Details: how far they got.
        detail: String,
    },
}

impl fmt::Display for SweepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Safety(violation) => write!(f, "{violation}"),
            Self::Liveness { detail } => write!(f, "liveness: {detail}"),
        }
    }
}

/// Injects random faults until `until_ms` of simulated time (see the module docs).
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

/// Runs one seed of the sweep.
pub fn run_seed(seed: u64, sweep: &SweepConfig) -> Result<(), SweepFailure> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes: u16 = [4, 4, 7][rng.random_range(0..3usize)];
    let f = (nodes - 1) / 3;
    let mut byzantine = Vec::new();
    for _ in 0..rng.random_range(0..=f) {
        let node = NodeId(rng.random_range(0..nodes));
        if byzantine.iter().all(|(n, _)| *n != node) {
            byzantine.push((node, Behaviour::ALL[rng.random_range(0..Behaviour::ALL.len())]));
        }
    }
    let honest: Vec<NodeId> =
        (0..nodes).map(NodeId).filter(|n| byzantine.iter().all(|(b, _)| b != n)).collect();
    let mut sim =
        Simulation::new(SimConfig { nodes, seed, byzantine: byzantine.clone(), ..SimConfig::default() });
    random_faults(&mut sim, &mut rng, sweep.fault_phase_ms).map_err(SweepFailure::Safety)?;
    if !sweep.liveness {
        return Ok(());
    }
    sim.heal();
    sim.set_drop_ppm(0);
    for i in 0..nodes {
        sim.restart(NodeId(i));
    }
    let honest_height =
        |s: &Simulation| honest.iter().map(|n| s.view(*n).committed_height).min().unwrap_or(0);
    let start_round = sim.views().iter().map(|v| v.round).max().unwrap_or(0);
    let target =
        honest.iter().map(|n| sim.view(*n).committed_height).max().unwrap_or(0) + sweep.liveness_blocks;
    let live = sim
        .run_until(|s| honest_height(s) >= target, sweep.liveness_time_max_ms)
        .map_err(SweepFailure::Safety)?;
    let rounds = sim.views().iter().map(|v| v.round).max().unwrap_or(0) - start_round;
    if !live || rounds > sweep.liveness_rounds_max {
        return Err(SweepFailure::Liveness {
            detail: format!(
                "seed {seed} (n = {nodes}, Byzantine {byzantine:?}): after healing, reached {} of {target} in {rounds} rounds",
                honest_height(&sim)
            ),
        });
    }
    Ok(())
}
