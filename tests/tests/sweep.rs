//! Seed sweep: many runs, each with a random fault schedule drawn from its seed, with up to f
//! Byzantine replicas; safety on every step, then liveness after healing. The schedule is
//! `hotstuff_core::sim::sweep` (also behind `hotstuff sim --sweep`).
//!
//! `HOTSTUFF_SWEEP_SEEDS` sets the number of runs (default 16; use thousands for a soak run),
//! `HOTSTUFF_SWEEP_FIRST_SEED` the first seed (to replay a failure).

use hotstuff_core::sim::sweep::{run_seed, SweepConfig};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn seed_sweep_with_random_faults_keeps_safety_and_recovers_liveness() {
    let count = env("HOTSTUFF_SWEEP_SEEDS", 16);
    let first = env("HOTSTUFF_SWEEP_FIRST_SEED", 1_000);
    let config = SweepConfig::default();
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for seed in first..first + count {
        if let Err(failure) = run_seed(seed, &config) {
            eprintln!("FAILED seed {seed}\n{failure}");
            eprintln!("replay: cargo run --release -p hotstuff-node -- sim --sweep 1 --first-seed {seed}");
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
