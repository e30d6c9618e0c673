//! Seed sweeps: many runs, each with a random fault schedule drawn from its seed (VOPR-style).
//!
//! A run has two phases:
//! 1. **Safety**: for [`SweepConfig::fault_phase_ms`] of simulated time, every 0.5–3 s a random
//!    fault hits: crash or restart a replica (any number may be down: crashes never threaten
//!    safety), split the network in two at random, heal it, slow a link down (0.3–2.5 s extra,
//!    often more than a round timeout), or change the loss rate (0–20%). Up
//!    to `f` replicas are Byzantine with random behaviours. The checkers run on every step.
//! 2. **Liveness** (unless disabled): heal the network, stop losses, restart everyone; then
//!    every honest replica must commit [`SweepConfig::liveness_blocks`] more blocks within
//!    [`SweepConfig::liveness_rounds_max`] rounds.
//!
//! Used by `hotstuff sim --sweep` and by `tests/tests/sweep.rs`.

use super::{Behaviour, Expectation, Intervention, Outcome, Run, Scenario, SimConfig, Simulation, Violation};
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
    /// Half the crashes land in the middle of a step, between two of the replica's actions
    /// (`Intervention::CrashDuringStep`). Off by default, so that the default sweep draws the
    /// same runs as before it existed (its seeds stay comparable); CI runs a sweep with it on
    /// too (`hotstuff sim --sweep … --crash-during-steps`).
    pub crash_during_steps: bool,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            fault_phase_ms: 20_000,
            liveness: true,
            liveness_blocks: 5,
            liveness_rounds_max: 60,
            liveness_time_max_ms: 300_000,
            crash_during_steps: false,
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
        /// The height every honest replica had to reach.
        target: u64,
        /// Details: how far they got.
        detail: String,
    },
}

impl fmt::Display for SweepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Safety(violation) => write!(f, "{violation}"),
            Self::Liveness { detail, .. } => write!(f, "liveness: {detail}"),
        }
    }
}

/// Injects random faults until `until_ms` of simulated time (see the module docs), each one an
/// [`Intervention`] recorded in the run's scenario.
pub fn random_faults(
    run: &mut Run,
    rng: &mut ChaCha8Rng,
    until_ms: u64,
    crash_during_steps: bool,
) -> Result<(), Violation> {
    let nodes = run.sim().config().nodes;
    while run.sim().now().as_ms() < until_ms {
        let until = run.sim().now().plus_ms(rng.random_range(500..3_000));
        played(run.advance_to(until, u64::MAX))?;
        if let Some(violation) = run.sim().violation() {
            return Err(violation.clone());
        }
        let node = rng.random_range(0..nodes);
        let intervention = match rng.random_range(0..7u32) {
            // Half the crashes land in the middle of a step, between two of the replica's
            // actions (after a `Persist`, before its send): what persist-before-send is for.
            0 if crash_during_steps && rng.random_bool(0.5) => {
                Intervention::CrashDuringStep { node, after_actions: rng.random_range(1..=4) }
            }
            0 => Intervention::Crash { node },
            1 => Intervention::Restart { node },
            2 => {
                let cut = rng.random_range(1..nodes);
                let mut order: Vec<u16> = (0..nodes).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
                let (a, b) = order.split_at(usize::from(cut));
                Intervention::Partition { groups: vec![a.to_vec(), b.to_vec()] }
            }
            3 => Intervention::Heal,
            4 => Intervention::Loss { ppm: rng.random_range(0..200_000) },
            // A slow link, often slower than a round timeout: a replica times out in a round and
            // then receives its proposal (the schedule that tests "a timeout bars voting").
            5 => {
                let to = (node + rng.random_range(1..nodes)) % nodes;
                Intervention::LinkDelay {
                    from: node,
                    to,
                    extra_ms: rng.random_range(300..2_500),
                    both_ways: rng.random_bool(0.5),
                }
            }
            _ => Intervention::Loss { ppm: 0 },
        };
        played(run.intervene(intervention))?;
    }
    Ok(())
}

/// The sweep makes only interventions a run accepts, at points it is at: an error is a bug here.
fn played<T>(result: Result<T, super::ScenarioError>) -> Result<T, Violation> {
    Ok(result.unwrap_or_else(|error| panic!("the sweep made an intervention the run refused: {error}")))
}

/// Runs one seed of the sweep.
pub fn run_seed(seed: u64, sweep: &SweepConfig) -> Result<(), SweepFailure> {
    run_seed_recorded(seed, sweep).0
}

/// Runs one seed of the sweep, and returns the run as a scenario with the failure as its
/// expectation: saved into `tests/scenarios/`, a failing seed is a regression test.
pub fn run_seed_recorded(seed: u64, sweep: &SweepConfig) -> (Result<(), SweepFailure>, Scenario) {
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
    let mut config = SimConfig { nodes, seed, byzantine: byzantine.clone(), ..SimConfig::default() };
    // Both ways of choosing leaders, by the seed's parity: not a draw from the seed's
    // generator, so each seed still makes the faults it made before reputation was the default.
    if seed % 2 == 1 {
        config.params.leader_election = crate::LeaderElection::RoundRobin;
    }
    let mut run = played(Run::from_config(config)).expect("sweep settings are valid");
    let result = liveness_after_faults(&mut run, &mut rng, sweep, &honest, &byzantine);
    let mut scenario = run.scenario().clone();
    scenario.name = format!("sweep-seed-{seed}");
    scenario.expect =
        Some(recorded_expectation(&run, result.as_ref().err(), honest_height(run.sim(), &honest)));
    (result, scenario)
}

/// How a sweep seed or a Twins scenario ended, as a scenario file's expectation: the failure it
/// must reproduce, or (it passed) the height the honest replicas reached and the digest, pinned
/// at the exact step.
pub(crate) fn recorded_expectation(run: &Run, failure: Option<&SweepFailure>, reached: u64) -> Expectation {
    let until_ms = run.sim().now().as_ms();
    match failure {
        Some(SweepFailure::Safety(violation)) => Expectation {
            until_ms: violation.time.as_ms(),
            until_step: None,
            outcome: Outcome::Violates { invariant: violation.invariant },
            digest: None,
        },
        Some(SweepFailure::Liveness { target, .. }) => Expectation {
            until_ms,
            until_step: None,
            outcome: Outcome::Safe { min_height: *target },
            digest: None,
        },
        None => Expectation {
            until_ms,
            until_step: Some(run.sim().stats().steps),
            outcome: Outcome::Safe { min_height: reached },
            digest: Some(hex::encode(run.sim().trace_digest().0)),
        },
    }
}

fn honest_height(sim: &Simulation, honest: &[NodeId]) -> u64 {
    honest.iter().map(|n| sim.view(*n).committed_height).min().unwrap_or(0)
}

fn liveness_after_faults(
    run: &mut Run,
    rng: &mut ChaCha8Rng,
    sweep: &SweepConfig,
    honest: &[NodeId],
    byzantine: &[(NodeId, Behaviour)],
) -> Result<(), SweepFailure> {
    let seed = run.sim().config().seed;
    let nodes = run.sim().config().nodes;
    random_faults(run, rng, sweep.fault_phase_ms, sweep.crash_during_steps).map_err(SweepFailure::Safety)?;
    if !sweep.liveness {
        return Ok(());
    }
    played(run.intervene(Intervention::Heal)).map_err(SweepFailure::Safety)?;
    played(run.intervene(Intervention::Loss { ppm: 0 })).map_err(SweepFailure::Safety)?;
    for (from, to, _) in run.sim().link_delays() {
        let normal = Intervention::LinkDelay { from: from.0, to: to.0, extra_ms: 0, both_ways: false };
        played(run.intervene(normal)).map_err(SweepFailure::Safety)?;
    }
    for node in 0..nodes {
        if run.sim().crash_armed(NodeId(node)) {
            // A crash during a step still waiting for its replica to act would strike during
            // the liveness check: let it happen now, and restart the replica with the others.
            played(run.intervene(Intervention::Crash { node })).map_err(SweepFailure::Safety)?;
        }
        if !run.sim().view(NodeId(node)).up {
            played(run.intervene(Intervention::Restart { node })).map_err(SweepFailure::Safety)?;
        }
    }
    let start_round = run.sim().views().iter().map(|v| v.round).max().unwrap_or(0);
    let target =
        honest.iter().map(|n| run.sim().view(*n).committed_height).max().unwrap_or(0) + sweep.liveness_blocks;
    let live = played(run.run_until(|s| honest_height(s, honest) >= target, sweep.liveness_time_max_ms))
        .map_err(SweepFailure::Safety)?;
    if let Some(violation) = run.sim().violation() {
        return Err(SweepFailure::Safety(violation.clone()));
    }
    let rounds = run.sim().views().iter().map(|v| v.round).max().unwrap_or(0) - start_round;
    if !live || rounds > sweep.liveness_rounds_max {
        return Err(SweepFailure::Liveness {
            target,
            detail: format!(
                "seed {seed} (n = {nodes}, Byzantine {byzantine:?}): after healing, reached {} of {target} in {rounds} rounds",
                honest_height(run.sim(), honest)
            ),
        });
    }
    Ok(())
}
