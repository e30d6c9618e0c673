//! Seed sweep: many runs, each with a random fault schedule drawn from its seed.
//!
//! Each run has two phases:
//! 1. **Safety**: for 20 s of simulated time, every 0.5–3 s a random fault hits: crash or restart
//!    a replica (any number may be down: crashes never threaten safety), split the network at
//!    random, heal it, or change the loss rate (0–20%). Up to f replicas are Byzantine, each with
//!    a random behaviour (`hotstuff_core::sim::Behaviour`). The checkers run on every step.
//! 2. **Liveness**: heal the network, stop losses, restart everyone; then every honest replica
//!    must commit 5 more blocks within 60 rounds (and 5 minutes of simulated time).
//!
//! `HOTSTUFF_SWEEP_SEEDS` sets the number of runs (default 16; use thousands for a soak run),
//! `HOTSTUFF_SWEEP_FIRST_SEED` the first seed (to replay a failure).

use hotstuff_core::sim::{Behaviour, SimConfig, Simulation, Violation};
use hotstuff_core::NodeId;
use hotstuff_tests::random_faults;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

const SAFETY_PHASE_MS: u64 = 20_000;
const LIVENESS_BLOCKS: u64 = 5;
const LIVENESS_ROUNDS_MAX: u64 = 60;
const LIVENESS_TIME_MAX_MS: u64 = 300_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs one seed; returns a description of what went wrong, if anything.
fn run_seed(seed: u64) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes: u16 = [4, 4, 7][rng.random_range(0..3usize)];
    // Up to f replicas are Byzantine, each with a random behaviour.
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
    let honest_height =
        |s: &Simulation| honest.iter().map(|n| s.view(*n).committed_height).min().unwrap_or(0);
    let fail = |v: Violation| format!("{v}");

    // Phase 1: faults.
    random_faults(&mut sim, &mut rng, SAFETY_PHASE_MS).map_err(fail)?;

    // Phase 2: heal everything, then everyone must make progress.
    sim.heal();
    sim.set_drop_ppm(0);
    for i in 0..nodes {
        sim.restart(NodeId(i));
    }
    let start_round = sim.views().iter().map(|v| v.round).max().unwrap_or(0);
    let target = honest.iter().map(|n| sim.view(*n).committed_height).max().unwrap_or(0) + LIVENESS_BLOCKS;
    let live = sim.run_until(|s| honest_height(s) >= target, LIVENESS_TIME_MAX_MS).map_err(fail)?;
    let rounds = sim.views().iter().map(|v| v.round).max().unwrap_or(0) - start_round;
    if !live || rounds > LIVENESS_ROUNDS_MAX {
        return Err(format!(
            "liveness: seed {seed} (n = {nodes}, Byzantine {byzantine:?}): after healing, reached={live} in {rounds} rounds; views {:?}",
            sim.views()
        ));
    }
    Ok(())
}

#[test]
fn seed_sweep_with_random_faults_keeps_safety_and_recovers_liveness() {
    let count = env("HOTSTUFF_SWEEP_SEEDS", 16);
    let first = env("HOTSTUFF_SWEEP_FIRST_SEED", 1_000);
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for seed in first..first + count {
        if let Err(report) = run_seed(seed) {
            eprintln!("FAILED seed {seed}\n{report}");
            eprintln!(
                "replay: HOTSTUFF_SWEEP_FIRST_SEED={seed} HOTSTUFF_SWEEP_SEEDS=1 cargo test -p hotstuff-tests --test sweep -- --nocapture"
            );
            failures.push(seed);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "sweep: {count} runs in {seconds:.1} s ({:.1} runs/s), failing seeds: {failures:?}",
        count as f64 / seconds
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
}
