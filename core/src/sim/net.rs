//! The simulated network: seeded latencies, random loss, partitions and per-link delay.
//!
//! All randomness comes from one ChaCha8 stream seeded by the run's seed, and only integer
//! arithmetic is used, so a run is the same on every platform (floating-point `ln`/`exp` differ
//! between native and wasm math libraries; integers do not).

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Network parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetConfig {
    /// Smallest one-way latency.
    pub latency_min_ms: u64,
    /// Largest one-way latency (uniform in between).
    pub latency_max_ms: u64,
    /// Probability that a message is lost, in parts per million.
    pub drop_ppm: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self { latency_min_ms: 10, latency_max_ms: 40, drop_ppm: 0 }
    }
}

/// Why a message did not get through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropReason {
    /// Random loss.
    Lost,
    /// Sender and receiver are in different partitions.
    Partitioned,
    /// The receiver is crashed.
    ReceiverDown,
    /// Someone dropped it by hand (the page, a test).
    Manual,
    /// The receiver's inbox was full.
    InboxFull,
}

/// The network's state: configuration, partitions, extra per-link delays and the random stream.
#[derive(Debug)]
pub(crate) struct NetModel {
    pub(crate) config: NetConfig,
    /// Partition group of each replica instance; messages cross only within a group.
    group: Vec<u16>,
    /// Extra one-way delay per directed link between instances.
    extra_ms: BTreeMap<(usize, usize), u64>,
    /// Per-round partitions (Twins scenarios): a message *of* a round listed here crosses only
    /// within that round's groups, whatever the network's current partition.
    /// With each, what happens to a message that would cross it: 0 drops it, `d` delays it.
    round_group: BTreeMap<u64, (Vec<u16>, u64)>,
    rng: ChaCha8Rng,
}

impl NetModel {
    pub(crate) fn new(config: NetConfig, instances: usize, seed: u64) -> Self {
        // A stream of its own, so that network randomness does not shift when keys change.
        let rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00);
        Self {
            config,
            group: vec![0; instances],
            extra_ms: BTreeMap::new(),
            round_group: BTreeMap::new(),
            rng,
        }
    }

    /// Decides the fate of a message (of `round`, if it belongs to one): its latency, or why it
    /// is dropped.
    pub(crate) fn route(&mut self, from: usize, to: usize, round: Option<u64>) -> Result<u64, DropReason> {
        let mut held_ms = 0;
        if !self.connected_in(from, to, round) {
            match round.and_then(|r| self.round_group.get(&r)) {
                Some((_, delay_ms)) if *delay_ms > 0 => held_ms = *delay_ms,
                _ => return Err(DropReason::Partitioned),
            }
        }
        if self.config.drop_ppm > 0 && self.rng.random_range(0..1_000_000u32) < self.config.drop_ppm {
            return Err(DropReason::Lost);
        }
        let (low, high) =
            (self.config.latency_min_ms, self.config.latency_max_ms.max(self.config.latency_min_ms));
        let base = self.rng.random_range(low..=high);
        Ok(base + held_ms + self.extra_ms.get(&(from, to)).copied().unwrap_or(0))
    }

    /// A random number below `bound` from the same stream (fault schedules, client jitter).
    pub(crate) fn random_below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.rng.random_range(0..bound)
        }
    }

    /// Whether two instances are on the same side of every partition.
    pub(crate) fn connected(&self, a: usize, b: usize) -> bool {
        self.group[a] == self.group[b]
    }

    /// Whether a message of `round` (`None`: of no round) can go from `a` to `b`: decided by
    /// that round's partition if it has one, else by the current partition.
    pub(crate) fn connected_in(&self, a: usize, b: usize, round: Option<u64>) -> bool {
        match round.and_then(|r| self.round_group.get(&r)) {
            Some((group, _)) => group[a] == group[b],
            None => self.connected(a, b),
        }
    }

    pub(crate) fn partition(&mut self, groups: &[Vec<usize>]) {
        self.group = group_of(self.group.len(), groups);
    }

    /// Sets the partition that messages of `round` obey (see `connected_in`): a message that
    /// would cross it is dropped, or with `delay_ms > 0` delivered that much later.
    pub(crate) fn partition_round(&mut self, round: u64, groups: &[Vec<usize>], delay_ms: u64) {
        self.round_group.insert(round, (group_of(self.group.len(), groups), delay_ms));
    }

    /// Lifts the partitions of rounds up to `round`.
    pub(crate) fn lift_round_partitions(&mut self, round: u64) {
        self.round_group.retain(|r, _| *r > round);
    }

    /// Reconnects everyone, per-round partitions included.
    pub(crate) fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        self.round_group.clear();
    }

    pub(crate) fn groups(&self) -> &[u16] {
        &self.group
    }

    /// The links with extra delay: `(from, to, extra ms)`, in order.
    pub(crate) fn link_delays(&self) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        self.extra_ms.iter().map(|((from, to), ms)| (*from, *to, *ms))
    }

    pub(crate) fn set_link_delay(&mut self, from: usize, to: usize, extra_ms: u64) {
        if extra_ms == 0 {
            self.extra_ms.remove(&(from, to));
        } else {
            self.extra_ms.insert((from, to), extra_ms);
        }
    }
}

/// The group of each of `n` instances; instances named in no group are isolated, each in a group
/// of its own.
fn group_of(n: usize, groups: &[Vec<usize>]) -> Vec<u16> {
    let mut group: Vec<u16> = (0..n).map(|i| (groups.len() + i) as u16).collect();
    for (index, members) in groups.iter().enumerate() {
        for member in members {
            if *member < n {
                group[*member] = index as u16;
            }
        }
    }
    group
}
