//! Twins scenarios, enumerated: the scenario generator of the Twins paper (Bano, Sonnino,
//! Chursin, Perelman, Malkhi, arXiv 2004.10617) over the simulator.
//!
//! # The idea
//!
//! A Byzantine node is modelled as two *honest* instances with the same key, its **twins**
//! ([`SimConfig::twins`]). Put on different sides of a partition, they equivocate, double-vote
//! and forget what the other did, without a line of adversarial code. What remains is to choose
//! the partitions, and Twins chooses them *exhaustively* rather than at random:
//!
//! - a **scenario** gives each of `R` rounds a **leader** (any node; a twinned node leads with
//!   both instances) and a **partition** of the `n + twins` instances into at most `P` groups;
//! - the generator enumerates every set partition of the instances (twins of one node are
//!   distinct instances; two partitions that differ only in how the groups are labelled are the
//!   same partition and counted once), pairs each with every leader choice, and arranges those
//!   pairs over the rounds: `(|partitions| × |leaders|)^R` scenarios;
//! - each scenario runs with the invariant checkers on every step ([`super::Checker`]). With
//!   at most `f` twinned nodes no scenario may break safety; with `f + 1` some must, or the
//!   method (or the checker) is blind.
//!
//! The space grows fast (n = 4, one twin, P = 2: 16 partitions × 4 leaders = 64 choices a round,
//! 64³ = 262,144 scenarios for three rounds), so [`ScenarioSpace::scenario`] maps any index
//! `0..size` to its scenario (a mixed-radix number, one digit per round, round 1 most
//! significant), and [`Permutation`] walks the indices in a seeded pseudo-random order without
//! repeats, for when only a sample fits in the time.
//!
//! # How a scenario runs ([`run_scenario`])
//!
//! - **Leaders** become the committee's leader schedule ([`crate::Committee::with_leader_schedule`]):
//!   a configuration every replica shares, not a change to the honest rules. After round `R` the
//!   leaders are round-robin again.
//! - **Partitions apply by the message's round**, as in the paper: a proposal, vote, timeout or
//!   TC *of* round `r` crosses only within round `r`'s groups ([`SimConfig::round_partitions`]),
//!   whenever it is sent. Replicas drift apart in time (timeouts back off, latencies vary), so a
//!   partition switched on a clock would hit different rounds in different runs; keyed by round,
//!   a scenario means the same thing in every run. Sync and mempool traffic obeys the round its
//!   sender is in (as the simulator last saw it): all the traffic of a round is partitioned, as
//!   in the paper. (Letting it flow freely leaked QCs across a round's partition inside synced
//!   blocks; the f + 1 scenario once in the corpus forked only through such a leak.)
//! - **Drop or delay.** In the paper a partition drops what crosses it. A space built
//!   [`ScenarioSpace::with_delays`] also lets each round's partition *delay* crossing messages
//!   by a given time instead ([`SimConfig::round_partition_delays_ms`]): a replica then times
//!   out in a round and hears its proposal, votes or timeouts afterwards, an interleaving that
//!   dropping cannot produce. `hotstuff sim --twins-scenarios N --delays 0,1500`.
//! - A round whose partition leaves no group able to end it (no quorum for a QC or a TC where
//!   the replicas in that round are) would stall the scenario for good, and its later rounds
//!   would never be played. So when no honest replica has changed round for
//!   [`TwinsRunConfig::stall_ms`] (longer than the largest backed-off round timeout, so a round
//!   that can still end by timing out is never taken for a stalled one), the partitions of the
//!   rounds up to the highest one an honest replica is in are lifted
//!   ([`Simulation::lift_round_partitions`]): the stuck round ends, and the later rounds play
//!   with their own partitions ([`ScenarioOutcome::stalls`] counts the lifts). The Diem
//!   implementation of Twins solved the same problem by never dropping timeouts; lifting only
//!   on a stall keeps timeouts under the adversary's control.
//! - The scenario phase ends when every honest replica has entered a round after `R`
//!   ([`ScenarioOutcome::played_out`]), or after [`TwinsRunConfig::scenario_time_max_ms`].
//! - Then the network **heals** (every partition lifted) and, for liveness, every honest replica
//!   must commit [`TwinsRunConfig::liveness_blocks`] more blocks within
//!   [`TwinsRunConfig::liveness_rounds_max`] rounds. The twins keep running: the honest replicas
//!   must make progress next to a Byzantine node.
//!
//! Used by `tests/tests/twins.rs` and `hotstuff sim --twins-scenarios`.

use super::sweep::{recorded_expectation, SweepFailure};
use super::{Intervention, Run, SimConfig, Simulation};
use crate::params::Parameters;
use crate::types::{Height, NodeId, Round};
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::fmt;

/// A partition of replica instances: each group sorted, groups ordered by their smallest member
/// (the canonical form, so two labellings of one partition are equal).
pub type Partition = Vec<Vec<u16>>;

/// All set partitions of `items` instances (`0..items`) into at most `max_groups` non-empty
/// groups, in canonical form and lexicographic order of their restricted growth strings: the
/// first is the single group (no partition). There are `S(items, 1) + … + S(items, max_groups)`
/// (Stirling numbers of the second kind); with `max_groups >= items`, the Bell number.
pub fn set_partitions(items: usize, max_groups: usize) -> Vec<Partition> {
    // A restricted growth string: item i goes to group a[i], a[0] = 0 and a[i] <= max(a[..i]) + 1.
    // Each set partition has exactly one, which is how relabelled duplicates are never generated.
    fn extend(a: &mut Vec<usize>, items: usize, max_groups: usize, out: &mut Vec<Partition>) {
        if a.len() == items {
            let groups = a.iter().max().map_or(0, |m| m + 1);
            let mut partition = vec![Vec::new(); groups];
            for (item, group) in a.iter().enumerate() {
                partition[*group].push(item as u16);
            }
            out.push(partition);
            return;
        }
        let next_new = a.iter().max().map_or(0, |m| m + 1);
        for group in 0..=next_new.min(max_groups.saturating_sub(1)) {
            a.push(group);
            extend(a, items, max_groups, out);
            a.pop();
        }
    }
    let mut out = Vec::new();
    if max_groups > 0 || items == 0 {
        extend(&mut Vec::with_capacity(items), items, max_groups, &mut out);
    }
    out
}

/// One scenario round: who leads it and how the instances are split.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoundPlan {
    /// The leader (both instances of a twinned node lead).
    pub leader: NodeId,
    /// The partition that messages of this round obey.
    pub partition: Partition,
    /// What the partition does to a message that would cross it: 0 drops it, `d` delivers it
    /// `d` ms late ([`SimConfig::round_partition_delays_ms`]).
    pub delay_ms: u64,
}

/// A scenario: its index in the space, and a plan for each of rounds `1..=R`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its number in [`ScenarioSpace::scenario`]'s enumeration.
    pub index: u128,
    /// `rounds[i]` is protocol round `i + 1`.
    pub rounds: Vec<RoundPlan>,
    /// Committee size (to name instances: instance `nodes + k` is the twin of `twins[k]`).
    nodes: u16,
    twins: Vec<NodeId>,
}

impl fmt::Display for Scenario {
    /// `#7: r1 n0 {0 1 2 3 0'}; r2 n3 {0 1 | 2 3 0'}` (a primed number is a twin instance).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}:", self.index)?;
        for (round, plan) in (1..).zip(&self.rounds) {
            let sides: Vec<String> = plan
                .partition
                .iter()
                .map(|g| {
                    g.iter().map(|i| instance_name(self.nodes, &self.twins, *i)).collect::<Vec<_>>().join(" ")
                })
                .collect();
            let sep = if round == 1 { " " } else { "; " };
            write!(f, "{sep}r{round} {} {{{}}}", plan.leader, sides.join(" | "))?;
            if plan.delay_ms > 0 && plan.partition.len() > 1 {
                write!(f, " delayed {} ms", plan.delay_ms)?;
            }
        }
        Ok(())
    }
}

fn instance_name(nodes: u16, twins: &[NodeId], instance: u16) -> String {
    match instance.checked_sub(nodes) {
        None => instance.to_string(),
        Some(k) => format!("{}'", twins[usize::from(k)].0),
    }
}

/// Every scenario for a committee, a twin set, a number of rounds and of groups (see the module
/// docs), addressable by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioSpace {
    nodes: u16,
    twins: Vec<NodeId>,
    rounds: usize,
    max_groups: usize,
    leaders: Vec<NodeId>,
    partitions: Vec<Partition>,
    delays_ms: Vec<u64>,
    size: u128,
}

impl ScenarioSpace {
    /// The space for `nodes` nodes of which `twins` run twice, `rounds` scenario rounds and
    /// partitions into at most `max_groups` groups; any node may lead a round.
    pub fn new(nodes: u16, twins: Vec<NodeId>, rounds: usize, max_groups: usize) -> Result<Self, String> {
        Self::with_leaders(nodes, twins, rounds, max_groups, (0..nodes).map(NodeId).collect())
    }

    /// The same, with the leader of each round chosen among `leaders` only (the paper narrows
    /// leaders to shrink the space, e.g. to the twinned nodes, whose rounds are the dangerous
    /// ones).
    pub fn with_leaders(
        nodes: u16,
        twins: Vec<NodeId>,
        rounds: usize,
        max_groups: usize,
        leaders: Vec<NodeId>,
    ) -> Result<Self, String> {
        if nodes == 0 || rounds == 0 || max_groups == 0 || leaders.is_empty() {
            return Err("a scenario space needs nodes, rounds, groups and leaders".to_string());
        }
        if let Some(n) = twins.iter().chain(&leaders).find(|n| n.0 >= nodes) {
            return Err(format!("{n} is not one of the {nodes} nodes"));
        }
        if (1..twins.len()).any(|i| twins[..i].contains(&twins[i])) {
            return Err("a node has at most one twin".to_string());
        }
        let instances = usize::from(nodes) + twins.len();
        if instances > 12 {
            // 4,213,597 partitions of 12 instances already; beyond, the table itself is too big.
            return Err(format!("{instances} instances: too many to enumerate their partitions"));
        }
        let partitions = set_partitions(instances, max_groups);
        let per_round = partitions.len() as u128 * leaders.len() as u128;
        let size = u32::try_from(rounds)
            .ok()
            .and_then(|r| per_round.checked_pow(r))
            .ok_or_else(|| format!("({per_round} choices a round)^{rounds} scenarios overflow u128"))?;
        Ok(Self { nodes, twins, rounds, max_groups, leaders, partitions, delays_ms: vec![0], size })
    }

    /// The same space with each round's partition also choosing what it does to a message that
    /// would cross it, among `delays_ms` (0: drop, as in the paper; `d`: deliver `d` ms late).
    /// `[0]` is the plain space, with the same indices.
    pub fn with_delays(mut self, delays_ms: Vec<u64>) -> Result<Self, String> {
        if delays_ms.is_empty() || (1..delays_ms.len()).any(|i| delays_ms[..i].contains(&delays_ms[i])) {
            return Err("delays are distinct, and there is at least one (0 drops)".to_string());
        }
        if let Some(d) = delays_ms.iter().find(|d| **d > super::scenario::DELAY_MS_MAX) {
            return Err(format!("a delay of {d} ms: at most {} ms", super::scenario::DELAY_MS_MAX));
        }
        let per_round = self.partitions.len() as u128 * self.leaders.len() as u128 * delays_ms.len() as u128;
        self.size =
            u32::try_from(self.rounds).ok().and_then(|r| per_round.checked_pow(r)).ok_or_else(|| {
                format!("({per_round} choices a round)^{} scenarios overflow u128", self.rounds)
            })?;
        self.delays_ms = delays_ms;
        Ok(self)
    }

    /// What a round's partition may do to crossing messages (see [`Self::with_delays`]).
    pub fn delays_ms(&self) -> &[u64] {
        &self.delays_ms
    }

    /// Committee size.
    pub fn nodes(&self) -> u16 {
        self.nodes
    }

    /// The twinned nodes (instance `nodes + k` is the twin of `twins()[k]`).
    pub fn twins(&self) -> &[NodeId] {
        &self.twins
    }

    /// Scenario rounds `R`.
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// Most groups in a partition `P`.
    pub fn max_groups(&self) -> usize {
        self.max_groups
    }

    /// Leader candidates.
    pub fn leaders(&self) -> &[NodeId] {
        &self.leaders
    }

    /// The partitions a round can have, in enumeration order.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// Choices for one round: partitions × leaders × delays.
    pub fn choices_per_round(&self) -> u128 {
        self.partitions.len() as u128 * self.leaders.len() as u128 * self.delays_ms.len() as u128
    }

    /// Number of scenarios: `choices_per_round ^ R`.
    pub fn size(&self) -> u128 {
        self.size
    }

    /// Scenario number `index` (`< size`). Digit `i` of `index` in base `choices_per_round` (most
    /// significant first) picks round `i + 1`'s leader (`digit % leaders`), partition
    /// (`digit / leaders % partitions`) and delay (`digit / (leaders × partitions)`), so index 0
    /// is "no partition, first leader" in every round.
    pub fn scenario(&self, index: u128) -> Scenario {
        assert!(index < self.size, "scenario {index} of a space of {}", self.size);
        let base = self.choices_per_round();
        let leaders = self.leaders.len() as u128;
        let mut rest = index;
        let mut rounds = Vec::with_capacity(self.rounds);
        for _ in 0..self.rounds {
            let digit = rest % base;
            rest /= base;
            // Digits fit their ranges by construction (digit < partitions × leaders × delays).
            let partitions = self.partitions.len() as u128;
            rounds.push(RoundPlan {
                leader: self.leaders[(digit % leaders) as usize],
                partition: self.partitions[(digit / leaders % partitions) as usize].clone(),
                delay_ms: self.delays_ms[(digit / leaders / partitions) as usize],
            });
        }
        rounds.reverse();
        Scenario { index, rounds, nodes: self.nodes, twins: self.twins.clone() }
    }

    /// The index of a scenario's plan in this space (the inverse of [`Self::scenario`]), if every
    /// round's leader and partition belong to it.
    pub fn index_of(&self, rounds: &[RoundPlan]) -> Option<u128> {
        if rounds.len() != self.rounds {
            return None;
        }
        let leaders = self.leaders.len() as u128;
        rounds.iter().try_fold(0u128, |index, plan| {
            let leader = self.leaders.iter().position(|l| *l == plan.leader)? as u128;
            let partition = self.partitions.iter().position(|p| *p == plan.partition)? as u128;
            let delay = self.delays_ms.iter().position(|d| *d == plan.delay_ms)? as u128;
            let partitions = self.partitions.len() as u128;
            Some(index * self.choices_per_round() + (delay * partitions + partition) * leaders + leader)
        })
    }

    /// A seeded order over all the scenarios (see [`Permutation`]).
    pub fn permutation(&self, seed: u64) -> Permutation {
        Permutation::new(self.size, seed)
    }

    /// A readable name for an instance: `2`, or `0'` for the twin of node 0.
    pub fn instance_name(&self, instance: u16) -> String {
        instance_name(self.nodes, &self.twins, instance)
    }
}

/// A seeded bijection of `0..size` onto itself: position `i` of a shuffled enumeration is
/// scenario `apply(i)`. Sampling "the first k of a shuffle" so never repeats a scenario, needs
/// no memory, and a failure is replayed from (seed, position) or its plain index.
///
/// It is a balanced Feistel network over the smallest even number of bits that holds `size`,
/// made to stay inside `0..size` by cycle walking (re-applying it until the value falls in
/// range; each application is a bijection of the bit domain, so the walk is one of `0..size`).
/// It only has to scatter scenarios, not be a cipher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permutation {
    size: u128,
    half_bits: u32,
    keys: [u64; 6],
}

impl Permutation {
    /// The permutation of `0..size` for `seed`.
    pub fn new(size: u128, seed: u64) -> Self {
        let bits = 128 - size.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7477_696e_7321);
        let keys = std::array::from_fn(|_| rng.random());
        Self { size, half_bits, keys }
    }

    /// The number of elements.
    pub fn size(&self) -> u128 {
        self.size
    }

    /// The element at position `position` (`< size`).
    pub fn apply(&self, position: u128) -> u128 {
        assert!(position < self.size, "position {position} of a permutation of {}", self.size);
        let mut x = position;
        loop {
            x = self.feistel(x);
            if x < self.size {
                return x;
            }
        }
    }

    fn feistel(&self, x: u128) -> u128 {
        let half = self.half_bits;
        let mask = if half >= 64 { u64::MAX } else { (1u64 << half) - 1 };
        // Both halves fit in u64: the domain has at most 128 bits.
        let (mut left, mut right) = (((x >> half) as u64) & mask, (x as u64) & mask);
        for key in self.keys {
            let next = left ^ (mix(right ^ key) & mask);
            left = right;
            right = next;
        }
        (u128::from(left) << half) | u128::from(right)
    }
}

/// SplitMix64's finaliser: a cheap, well-spread 64-bit mixing function.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How each scenario is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwinsRunConfig {
    /// Seed of every run (keys, latencies); the scenario is what varies.
    pub seed: u64,
    /// Protocol parameters (the default caps the backed-off round timeout at 4 s, so that a
    /// stall is told from a slow round sooner).
    pub params: Parameters,
    /// Simulated time allowed for the honest replicas to get past the scenario's last round.
    pub scenario_time_max_ms: u64,
    /// No honest replica changed round for this long: the scenario is stalled (see the module
    /// docs). Must exceed `params.round_timeout_ms_max`.
    pub stall_ms: u64,
    /// Check liveness after healing.
    pub liveness: bool,
    /// Blocks every honest replica must add after healing (beyond the highest honest commit).
    pub liveness_blocks: u64,
    /// Rounds allowed for that (`K`).
    pub liveness_rounds_max: u64,
    /// Simulated time allowed for that.
    pub liveness_time_max_ms: u64,
}

impl Default for TwinsRunConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            params: Parameters { round_timeout_ms_max: 4_000, ..Parameters::default() },
            scenario_time_max_ms: 60_000,
            stall_ms: 5_000,
            liveness: true,
            liveness_blocks: 3,
            liveness_rounds_max: 30,
            liveness_time_max_ms: 120_000,
        }
    }
}

/// What a scenario that passed did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioOutcome {
    /// Every honest replica got past the last scenario round before the time limit.
    pub played_out: bool,
    /// How many times a stalled round had its partition lifted (0: every round ended under its
    /// own partition).
    pub stalls: u32,
    /// The lowest round of an honest replica when the network healed.
    pub round_at_heal: Round,
    /// The highest honest commit when the network healed.
    pub committed_at_heal: Height,
    /// The lowest honest commit at the end.
    pub committed_at_end: Height,
    /// Rounds the liveness phase took (0 without it).
    pub liveness_rounds: Round,
}

/// Runs one scenario (see the module docs); `Err` if an invariant broke or, after healing, the
/// honest replicas did not commit in time. Deterministic in (space, scenario, config).
pub fn run_scenario(
    space: &ScenarioSpace,
    scenario: &Scenario,
    config: &TwinsRunConfig,
) -> Result<ScenarioOutcome, SweepFailure> {
    run_scenario_recorded(space, scenario, config).0
}

/// Runs one scenario and returns the run as a scenario file's value (`sim::Scenario`), with the
/// failure, if any, as its expectation: saved into `tests/scenarios/`, a failing Twins scenario
/// is a regression test.
pub fn run_scenario_recorded(
    space: &ScenarioSpace,
    scenario: &Scenario,
    config: &TwinsRunConfig,
) -> (Result<ScenarioOutcome, SweepFailure>, crate::sim::Scenario) {
    assert!(config.stall_ms > config.params.round_timeout_ms_max, "a stall must outlast any round timeout");
    let sim_config = SimConfig {
        nodes: space.nodes,
        seed: config.seed,
        params: config.params.clone(),
        twins: space.twins.clone(),
        leader_schedule: scenario.rounds.iter().map(|r| r.leader).collect(),
        round_partitions: scenario.rounds.iter().map(|r| r.partition.clone()).collect(),
        round_partition_delays_ms: if scenario.rounds.iter().all(|r| r.delay_ms == 0) {
            Vec::new()
        } else {
            scenario.rounds.iter().map(|r| r.delay_ms).collect()
        },
        ..SimConfig::default()
    };
    let mut run = Run::from_config(sim_config).expect("a Twins scenario's settings are valid");
    let result = play(&mut run, space, scenario, config);
    let mut recorded = run.scenario().clone();
    recorded.name = format!("twins-scenario-{}", scenario.index);
    let reached = result.as_ref().map_or(0, |outcome| outcome.committed_at_end);
    recorded.expect = Some(recorded_expectation(&run, result.as_ref().err(), reached));
    (result, recorded)
}

/// The interventions a Twins run makes are always ones the run accepts.
fn accepted<T>(result: Result<T, super::ScenarioError>) -> T {
    result.unwrap_or_else(|error| panic!("a Twins run made an intervention the run refused: {error}"))
}

fn violated(run: &Run) -> Result<(), SweepFailure> {
    run.sim().violation().map_or(Ok(()), |v| Err(SweepFailure::Safety(v.clone())))
}

fn play(
    run: &mut Run,
    space: &ScenarioSpace,
    scenario: &Scenario,
    config: &TwinsRunConfig,
) -> Result<ScenarioOutcome, SweepFailure> {
    let honest: Vec<NodeId> = (0..space.nodes).map(NodeId).filter(|n| !space.twins.contains(n)).collect();
    let last = scenario.rounds.len() as Round;
    // Instance i < nodes is node i itself, so `view(node)` is the honest replica.
    let rounds = |s: &Simulation| -> Vec<Round> { honest.iter().map(|n| s.view(*n).round).collect() };
    let (mut seen, mut changed_at, mut stalls) = (rounds(run.sim()), run.sim().now(), 0);
    let played_out = loop {
        if seen.iter().all(|r| *r > last) {
            break true;
        }
        if run.sim().now().as_ms() >= config.scenario_time_max_ms {
            break false;
        }
        // Slices of 50 ms: how often the scenario looks at the rounds (deterministically).
        let until = run.sim().now().plus_ms(50);
        let _reached: bool = accepted(run.advance_to(until, u64::MAX));
        violated(run)?;
        let now_rounds = rounds(run.sim());
        if now_rounds != seen {
            (seen, changed_at) = (now_rounds, run.sim().now());
        } else if run.sim().now().as_ms() - changed_at.as_ms() >= config.stall_ms {
            let round = seen.iter().copied().max().unwrap_or(0);
            accepted(run.intervene(Intervention::LiftRoundPartitions { round }));
            (changed_at, stalls) = (run.sim().now(), stalls + 1);
        }
    };
    let round_at_heal = honest.iter().map(|n| run.sim().view(*n).round).min().unwrap_or(0);
    accepted(run.intervene(Intervention::Heal));
    let heights =
        |s: &Simulation| -> Vec<Height> { honest.iter().map(|n| s.view(*n).committed_height).collect() };
    let highest = |s: &Simulation| heights(s).into_iter().max().unwrap_or(0);
    let lowest = |s: &Simulation| heights(s).into_iter().min().unwrap_or(0);
    let committed_at_heal = highest(run.sim());
    let mut outcome = ScenarioOutcome {
        played_out,
        stalls,
        round_at_heal,
        committed_at_heal,
        committed_at_end: 0,
        liveness_rounds: 0,
    };
    if !config.liveness {
        outcome.committed_at_end = lowest(run.sim());
        return Ok(outcome);
    }
    let round = |s: &Simulation| honest.iter().map(|n| s.view(*n).round).max().unwrap_or(0);
    let start_round = round(run.sim());
    let target = committed_at_heal + config.liveness_blocks;
    let live = accepted(run.run_until(|s| lowest(s) >= target, config.liveness_time_max_ms));
    violated(run)?;
    outcome.committed_at_end = lowest(run.sim());
    outcome.liveness_rounds = round(run.sim()) - start_round;
    if !live || outcome.liveness_rounds > config.liveness_rounds_max {
        return Err(SweepFailure::Liveness {
            target,
            detail: format!(
                "scenario {scenario}: after healing, the honest replicas reached height {} of {target} in {} rounds",
                outcome.committed_at_end, outcome.liveness_rounds
            ),
        });
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Stirling numbers of the second kind: ways to split n items into k non-empty groups.
    fn stirling2(n: u128, k: u128) -> u128 {
        match (n, k) {
            (0, 0) => 1,
            (_, 0) | (0, _) => 0,
            _ => k * stirling2(n - 1, k) + stirling2(n - 1, k - 1),
        }
    }

    #[test]
    fn set_partitions_count_as_the_stirling_and_bell_numbers_say() {
        // 5 instances (n = 4, one twin) into at most 2 groups: S(5,1) + S(5,2) = 1 + 15.
        assert_eq!(set_partitions(5, 2).len(), 16);
        for items in 1..=8usize {
            for groups in 1..=items {
                let expected: u128 = (1..=groups as u128).map(|k| stirling2(items as u128, k)).sum();
                assert_eq!(set_partitions(items, groups).len() as u128, expected, "{items} into ≤ {groups}");
            }
        }
        // Bell numbers when the groups are unlimited.
        let bell: Vec<usize> = (1..=7).map(|m| set_partitions(m, m).len()).collect();
        assert_eq!(bell, [1, 2, 5, 15, 52, 203, 877]);
    }

    #[test]
    fn set_partitions_are_canonical_distinct_and_cover_every_instance() {
        let partitions = set_partitions(6, 3);
        assert_eq!(partitions[0], vec![vec![0, 1, 2, 3, 4, 5]], "the first is no partition");
        let distinct: BTreeSet<&Partition> = partitions.iter().collect();
        assert_eq!(distinct.len(), partitions.len());
        for partition in &partitions {
            assert!(partition.len() <= 3 && partition.iter().all(|g| !g.is_empty()));
            let mut all: Vec<u16> = partition.concat();
            all.sort_unstable();
            assert_eq!(all, [0, 1, 2, 3, 4, 5]);
            // Canonical: groups sorted inside and ordered by first member, so a relabelling
            // (swapping two groups) is never a different entry.
            assert!(partition.iter().all(|g| g.windows(2).all(|w| w[0] < w[1])));
            assert!(partition.windows(2).all(|w| w[0][0] < w[1][0]));
        }
    }

    #[test]
    fn enumeration_by_index_is_a_bijection_on_a_small_space() {
        // n = 4, one twin, 2 rounds, 2 groups: (16 × 4)^2 = 4,096 scenarios.
        let space = ScenarioSpace::new(4, vec![NodeId(0)], 2, 2).unwrap();
        assert_eq!(space.size(), 4_096);
        let mut seen = BTreeSet::new();
        for index in 0..space.size() {
            let scenario = space.scenario(index);
            assert_eq!(space.index_of(&scenario.rounds), Some(index));
            assert!(seen.insert(scenario.rounds), "scenario {index} repeats an earlier one");
        }
        let first = space.scenario(0);
        assert!(first.rounds.iter().all(|r| r.leader == NodeId(0) && r.partition.len() == 1));
        assert_eq!(first.to_string(), "#0: r1 n0 {0 1 2 3 0'}; r2 n0 {0 1 2 3 0'}");
    }

    #[test]
    fn the_space_size_is_choices_to_the_power_of_rounds() {
        let space = ScenarioSpace::new(4, vec![NodeId(0)], 3, 2).unwrap();
        assert_eq!(space.size(), 262_144);
        // Two twins into at most 3 groups: S(6,1) + S(6,2) + S(6,3) = 1 + 31 + 90.
        let space = ScenarioSpace::new(4, vec![NodeId(0), NodeId(1)], 8, 3).unwrap();
        assert_eq!(space.partitions().len(), 122);
        assert_eq!(space.size(), 488u128.pow(8));
        let space =
            ScenarioSpace::with_leaders(4, vec![NodeId(0), NodeId(1)], 3, 2, vec![NodeId(0), NodeId(1)]);
        assert_eq!(space.unwrap().size(), 64u128.pow(3));
        assert!(ScenarioSpace::new(4, vec![NodeId(0), NodeId(0)], 3, 2).is_err());
        assert!(ScenarioSpace::new(4, vec![NodeId(4)], 3, 2).is_err());
        assert!(ScenarioSpace::new(4, vec![NodeId(0)], 40, 3).is_err(), "overflows u128");
    }

    #[test]
    fn the_permutation_is_a_bijection_and_deterministic_per_seed() {
        for size in [1u128, 2, 3, 5, 16, 17, 64, 100, 1_000, 4_096] {
            for seed in 0..3 {
                let permutation = Permutation::new(size, seed);
                let image: BTreeSet<u128> = (0..size).map(|i| permutation.apply(i)).collect();
                assert_eq!(image.len() as u128, size, "size {size}, seed {seed}");
                assert!(image.iter().all(|x| *x < size));
            }
        }
        let huge = 488u128.pow(8);
        let a: Vec<u128> = (0..50).map(|i| Permutation::new(huge, 7).apply(i)).collect();
        let b: Vec<u128> = (0..50).map(|i| Permutation::new(huge, 7).apply(i)).collect();
        let c: Vec<u128> = (0..50).map(|i| Permutation::new(huge, 8).apply(i)).collect();
        assert_eq!(a, b, "same seed, same order");
        assert_ne!(a, c, "another seed, another order");
        assert!(a.iter().all(|x| *x < huge));
        assert!(a.iter().any(|x| *x > huge / 2), "spread over the space, not bunched at the start");
        let whole = Permutation::new(u128::MAX, 1);
        assert!(whole.apply(12_345) < u128::MAX);
    }
}
