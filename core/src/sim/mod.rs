//! The deterministic simulator: a whole committee in one thread, in virtual time.
//!
//! Every replica runs its real actor set ([`crate::actor`]) on one single-threaded `futures`
//! executor. The simulator is their host: it supplies virtual time ([`SimRuntime`]), carries
//! frames between replicas through a seeded network model, keeps each replica's [`MemStore`]
//! across crashes, injects client transactions, and checks the safety invariants
//! ([`invariants`]) on every observed event.
//!
//! # Stepping
//!
//! The simulator keeps one queue of things that will happen (a sleeping actor's deadline, a frame
//! arriving, a client sending), ordered by `(time, insertion order)`. [`Simulation::step`] takes
//! the earliest, moves the clock there, delivers it, and runs the affected replica's actors until
//! they are all waiting again. Whatever they sent becomes new queue entries. Nothing reads a wall
//! clock and every random choice comes from the seed, so the same seed and the same interventions
//! give the same run, event for event, on native and on wasm; [`Simulation::trace_digest`]
//! fingerprints it.
//!
//! ```
//! use hotstuff_core::sim::{SimConfig, Simulation};
//! let mut sim = Simulation::new(SimConfig { nodes: 4, seed: 7, ..SimConfig::default() });
//! sim.run_until(|s| s.min_committed_height() >= 5, 60_000).unwrap();
//! assert!(sim.views().iter().all(|v| v.committed_height >= 5));
//! ```

pub mod byzantine;
mod challenge;
mod invariants;
mod lesson;
mod net;
mod run;
mod runtime;
mod scenario;
pub mod sweep;
pub mod twins;

pub use byzantine::Behaviour;
pub use challenge::{challenge, challenges, Challenge, Goal, Verdict};
pub use invariants::{Breach, Checker, Invariant};
pub use lesson::{
    lesson, lessons, Answer, At, Choices, Cue, Lesson, LessonError, LessonStep, Match, Question,
    ResolvedLesson, ResolvedQuestion, ResolvedStep, What,
};
pub use net::{DropReason, NetConfig};
pub use run::{Point, Run, Seek};
pub use runtime::{SimRuntime, SimSleep};
pub use scenario::{
    presets, Expectation, Intervention, Outcome, Preset, Scenario, ScenarioError, Timed, LINK_FORMAT,
    NODES_MAX, SCENARIO_FORMAT,
};

use crate::actor::{self, ChannelDepth, HostEnds, Outbound, SharedDepths};
use crate::codec;
use crate::committee::Committee;
use crate::consensus::{Consensus, ConsensusCore};
use crate::crypto::KeyPair;
use crate::event::{Event, Observed, RoundReason};
use crate::mempool::Mempool;
use crate::messages::ConsensusMessage;
use crate::params::Parameters;
use crate::store::{MemStore, StoreBackend, StoreError, Value, STATE_KEY};
use crate::time::Time;
use crate::types::{Digest, Height, NodeId, Round};
use futures::executor::{LocalPool, LocalSpawner};
use futures::future::{AbortHandle, Abortable, LocalBoxFuture};
use futures::task::LocalSpawnExt as _;
use futures::FutureExt as _;
use net::NetModel;
use runtime::{Delivery, QueueKey, Scheduled, Shared};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// Trace entries kept for a violation report.
const RECENT_TRACE_LINES: usize = 40;

/// Client load: each live replica receives one transaction every `interval_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientLoad {
    /// Milliseconds between transactions per replica; 0 for no load.
    pub interval_ms: u64,
    /// Bytes per transaction (at least 16: node id and counter).
    pub transaction_bytes: usize,
}

impl Default for ClientLoad {
    fn default() -> Self {
        Self { interval_ms: 50, transaction_bytes: 64 }
    }
}

/// Everything that defines a run (besides interventions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Committee size `n`.
    pub nodes: u16,
    /// The seed: keys, latencies, losses.
    pub seed: u64,
    /// Protocol parameters.
    pub params: Parameters,
    /// Network model.
    pub net: NetConfig,
    /// Client load.
    pub client: ClientLoad,
    /// Keep every trace entry (the page needs them; long headless runs do not).
    pub record_trace: bool,
    /// Let replicas share successful signature verifications (see
    /// [`crate::crypto::set_verification_memo`]): same outcomes, each signature verified once.
    pub verification_memo: bool,
    /// Replicas that misbehave, and how (see [`byzantine`]). The checkers hold only the others
    /// to the rules.
    pub byzantine: Vec<(NodeId, Behaviour)>,
    /// Nodes that run twice: a second instance with the same key (the Twins method, arXiv
    /// 2004.10617). Twins are Byzantine by construction. Instance `i < nodes` is node `i`; the
    /// twin of `twins[k]` is instance `nodes + k`. Use [`Simulation::partition_instances`] to
    /// put twins on different sides.
    pub twins: Vec<NodeId>,
    /// Leaders of rounds `1..=len`, then round-robin (see [`Committee::with_leader_schedule`]);
    /// empty for plain round-robin. A Twins scenario chooses each round's leader this way.
    pub leader_schedule: Vec<NodeId>,
    /// Per-round partitions of the replica instances, for rounds `1..=len`: a proposal, vote,
    /// timeout or TC *of* round `i + 1` crosses only within the groups of `round_partitions[i]`
    /// (instances in no group are isolated), whatever the time. Messages without a round
    /// (mempool, sync) obey the round their sender was last seen in, so a QC cannot leak across
    /// a round's partition inside a synced block. Later rounds follow the ordinary partition.
    /// [`Simulation::heal`] lifts them.
    /// This is how a Twins scenario ([`twins`]) applies its partitions: by the message's round,
    /// as in the paper, so the run is the same whatever the latencies and timeouts.
    pub round_partitions: Vec<Vec<Vec<u16>>>,
    /// Per round, what `round_partitions[i]` does to a message that would cross it: `0` (or no
    /// entry) drops it, as in the Twins paper; `d > 0` delivers it `d` ms late instead, so that
    /// a replica can time out in a round and then receive its proposal or its votes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub round_partition_delays_ms: Vec<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 4,
            seed: 1,
            params: Parameters::default(),
            net: NetConfig::default(),
            client: ClientLoad::default(),
            record_trace: false,
            verification_memo: true,
            byzantine: Vec::new(),
            twins: Vec::new(),
            leader_schedule: Vec::new(),
            round_partitions: Vec::new(),
            round_partition_delays_ms: Vec::new(),
        }
    }
}

/// A fault or intervention, as recorded in the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// A replica crashed: its actors and volatile state are gone; its store remains.
    Crash(NodeId),
    /// A replica restarted from its store.
    Restart(NodeId),
    /// The network split into these groups (unnamed nodes are isolated).
    Partition(Vec<Vec<NodeId>>),
    /// The network split into these groups of replica instances (twins included).
    PartitionInstances(Vec<Vec<u16>>),
    /// The network healed.
    Heal,
    /// The loss rate changed.
    DropRate(u32),
    /// A directed link got extra delay.
    LinkDelay(NodeId, NodeId, u64),
    /// A message in flight was dropped by hand.
    DropMessage(u64),
    /// A replica's behaviour changed (`None`: honest again).
    Behaviour(NodeId, Option<Behaviour>),
    /// A replica restarted from a store that lost the record of its vote in this round (`None`:
    /// there was nothing to lose; see [`Simulation::restart_forgetting`]).
    RestartForgetting(NodeId, Option<Round>),
}

/// One line of the trace: what the simulator did or saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceEntry {
    /// A replica observed something.
    Observed(Observed),
    /// A frame was handed to the network.
    Sent {
        /// Message id (unique in the run).
        id: u64,
        /// When.
        time: Time,
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// Message kind.
        kind: String,
        /// Message round.
        round: Round,
        /// When it will arrive, or why it will not.
        outcome: Result<Time, DropReason>,
    },
    /// A frame reached (or failed to reach) its receiver.
    Delivered {
        /// Message id.
        id: u64,
        /// When.
        time: Time,
        /// `None` if it got in, else why not.
        dropped: Option<DropReason>,
    },
    /// A fault was injected.
    Fault {
        /// When.
        time: Time,
        /// What.
        fault: Fault,
    },
}

impl TraceEntry {
    /// One readable line (violation reports): `0.412s n2: Node 2 votes for B7·d885 …`.
    pub fn describe(&self) -> String {
        match self {
            Self::Observed(o) => format!("{} n{}: {}", o.time, o.node.0, o.narrate()),
            Self::Sent { id, time, from, to, kind, round, outcome } => {
                let fate = match outcome {
                    Ok(arrives) => format!("arrives {arrives}"),
                    Err(reason) => format!("not sent: {reason:?}"),
                };
                format!("{time} message #{id}: {kind} of round {round}, {from} → {to}, {fate}")
            }
            Self::Delivered { id, time, dropped: None } => format!("{time} message #{id} delivered"),
            Self::Delivered { id, time, dropped: Some(reason) } => {
                format!("{time} message #{id} lost: {reason:?}")
            }
            Self::Fault { time, fault } => format!("{time} fault: {fault:?}"),
        }
    }
}

/// A message on the wire, for displays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// Message id.
    pub id: u64,
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Kind.
    pub kind: String,
    /// Round.
    pub round: Round,
    /// Sent at.
    pub sent: Time,
    /// Arrives at.
    pub arrives: Time,
    /// The sending replica instance (`from`, unless the sender is a twin: see [`SimConfig::twins`]).
    pub from_instance: u16,
    /// The receiving replica instance (`to`, unless the receiver is a twin).
    pub to_instance: u16,
}

/// A replica as seen from outside: folded from its observed events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Node id.
    pub id: NodeId,
    /// Running (not crashed).
    pub up: bool,
    /// Current round.
    pub round: Round,
    /// Leader of the current round.
    pub leader: NodeId,
    /// Last round voted or timed out in.
    pub last_voted_round: Round,
    /// Locked (preferred) round.
    pub locked_round: Round,
    /// High QC round.
    pub high_qc_round: Round,
    /// Last committed height.
    pub committed_height: Height,
    /// Last committed round.
    pub committed_round: Round,
    /// Last committed block.
    pub committed: Digest,
    /// Rounds timed out in a row.
    pub consecutive_timeouts: u32,
    /// Timeouts sent in total.
    pub timeouts_sent: u64,
    /// Proposals made in total.
    pub proposals: u64,
    /// How many times it restarted.
    pub restarts: u32,
    /// Whether this is the second instance (the Twin) of its node.
    pub twin: bool,
    /// When its round timer was last armed (entering a round, or re-armed at an expiry), and for
    /// how long: the page draws the share elapsed as an arc.
    pub timer_armed_at: Time,
    /// The round timeout it was armed with, ms (0: not known yet).
    pub timer_ms: u64,
    /// When it last committed a block.
    pub committed_at: Time,
}

/// Counters over the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Steps taken.
    pub steps: u64,
    /// Frames sent.
    pub messages_sent: u64,
    /// Frames sent, by message kind (`propose`, `vote`, `batch`, …): where the traffic goes.
    pub sent_by_kind: BTreeMap<String, u64>,
    /// Frames delivered.
    pub messages_delivered: u64,
    /// Frames dropped (any reason).
    pub messages_dropped: u64,
    /// Timeouts broadcast.
    pub timeouts: u64,
    /// TCs formed.
    pub tcs: u64,
    /// QCs formed.
    pub qcs: u64,
    /// Transactions submitted by the simulated clients.
    pub transactions: u64,
    /// Messages rejected by replicas.
    pub rejected: u64,
}

/// A broken invariant, with what is needed to replay it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// The step at which it broke.
    pub step: u64,
    /// Virtual time.
    pub time: Time,
    /// Which invariant.
    pub invariant: Invariant,
    /// Which invariant, and how: `agreement: at height 1 n2 committed B3·1a2b but n3 …`.
    pub description: String,
    /// The replicas it names (see [`Breach::nodes`]).
    pub nodes: Vec<NodeId>,
    /// The last trace entries before it, one readable line each.
    pub recent: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invariant violated (seed {}, step {}, time {}): {}",
            self.seed, self.step, self.time, self.description
        )?;
        writeln!(f, "last trace entries:")?;
        for line in &self.recent {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// A store that survives its replica's crash: the simulator and the replica share it.
#[derive(Clone, Debug, Default)]
struct SharedStore(Rc<RefCell<MemStore>>);

impl StoreBackend for SharedStore {
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.0.borrow_mut().write(key, value)
    }

    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.0.borrow().read(key)
    }

    fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        self.0.borrow().contains(key)
    }

    fn delete(&mut self, keys: Vec<crate::store::Key>) -> Result<(), StoreError> {
        self.0.borrow_mut().delete(keys)
    }

    fn next_entry(&self, from: &[u8]) -> Result<Option<(crate::store::Key, Value)>, StoreError> {
        self.0.borrow().next_entry(from)
    }
}

#[derive(Debug)]
struct SimNode {
    store: SharedStore,
    host: Option<HostEnds>,
    /// The depth of its actors' channels (of its latest boot).
    depths: SharedDepths,
    aborts: Vec<AbortHandle>,
    view: NodeView,
    next_transaction: u64,
}

/// A simulated committee. See the module docs.
pub struct Simulation {
    config: SimConfig,
    committee: Committee,
    shared: Rc<Shared>,
    pool: LocalPool,
    spawner: LocalSpawner,
    nodes: Vec<SimNode>,
    net: NetModel,
    checker: Checker,
    in_flight: BTreeMap<u64, (QueueKey, InFlight)>,
    next_message_id: u64,
    hasher: Sha256,
    recent: VecDeque<TraceEntry>,
    trace: Vec<(u64, TraceEntry)>,
    stats: SimStats,
    violation: Option<Violation>,
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("config", &self.config)
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// Builds the committee and starts every replica at time zero.
    pub fn new(config: SimConfig) -> Self {
        assert!(config.nodes >= 1, "a committee needs at least one node");
        config.params.validate().expect("simulation parameters");
        crate::crypto::set_verification_memo(config.verification_memo);
        let committee = Committee::from_seed(config.seed, config.nodes)
            .with_leader_schedule(config.leader_schedule.clone())
            .expect("the leader schedule names committee members");
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        let instances =
            (0..config.nodes).map(|i| (NodeId(i), false)).chain(config.twins.iter().map(|t| (*t, true)));
        let nodes: Vec<SimNode> = instances
            .map(|(id, twin)| SimNode {
                store: SharedStore::default(),
                host: None,
                depths: SharedDepths::default(),
                aborts: Vec::new(),
                view: NodeView { id, twin, ..NodeView::default() },
                next_transaction: 0,
            })
            .collect();
        let mut net = NetModel::new(config.net.clone(), nodes.len(), config.seed);
        for (round, groups) in (1..).zip(&config.round_partitions) {
            let groups: Vec<Vec<usize>> =
                groups.iter().map(|g| g.iter().map(|i| usize::from(*i)).collect()).collect();
            let delay_ms = config.round_partition_delays_ms.get(round as usize - 1).copied().unwrap_or(0);
            net.partition_round(round, &groups, delay_ms);
        }
        let mut checker = Checker::new(committee.clone());
        for node in config.byzantine.iter().map(|(n, _)| n).chain(&config.twins) {
            checker.set_honest(*node, false);
        }
        let mut sim = Self {
            config,
            committee,
            shared: Rc::new(Shared::default()),
            pool,
            spawner,
            nodes,
            net,
            checker,
            in_flight: BTreeMap::new(),
            next_message_id: 0,
            hasher: Sha256::new(),
            recent: VecDeque::new(),
            trace: Vec::new(),
            stats: SimStats::default(),
            violation: None,
        };
        for instance in 0..sim.nodes.len() {
            sim.boot(instance);
        }
        sim
    }

    // -------------------------------------------------------------------------------------------
    // Reading.

    /// The virtual time.
    pub fn now(&self) -> Time {
        self.shared.now.get()
    }

    /// The run's configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The committee.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// Every replica instance's view: nodes in id order, then twins.
    pub fn views(&self) -> Vec<NodeView> {
        self.nodes.iter().map(|n| n.view.clone()).collect()
    }

    /// Replica instances: the nodes, then their twins.
    pub fn instances(&self) -> usize {
        self.nodes.len()
    }

    /// Whether a message is still on the wire.
    pub fn is_in_flight(&self, id: u64) -> bool {
        self.in_flight.contains_key(&id)
    }

    /// One replica's view.
    pub fn view(&self, node: NodeId) -> &NodeView {
        &self.nodes[node.index()].view
    }

    /// Reads one replica's store (it survives the replica's crashes): for tests and the CLI
    /// (how much history it holds, its commit stream).
    pub fn with_store<T>(&self, node: NodeId, read: impl FnOnce(&MemStore) -> T) -> T {
        read(&self.nodes[node.index()].store.0.borrow())
    }

    /// The lowest committed height among running replicas.
    pub fn min_committed_height(&self) -> Height {
        self.nodes.iter().filter(|n| n.view.up).map(|n| n.view.committed_height).min().unwrap_or(0)
    }

    /// Counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// A fingerprint of everything that happened so far: same seed and interventions, same digest.
    pub fn trace_digest(&self) -> Digest {
        Digest(self.hasher.clone().finalize().into())
    }

    /// The full trace (empty unless `record_trace` is set), each entry with the step it
    /// belongs to: the number of steps taken when it was recorded. `(step, entry time)` is a
    /// point the run passes through, so a display can rewind to any entry ([`Run::seek`]).
    pub fn trace(&self) -> &[(u64, TraceEntry)] {
        &self.trace
    }

    /// Messages currently on the wire, in id order.
    pub fn in_flight(&self) -> impl Iterator<Item = &InFlight> {
        self.in_flight.values().map(|(_, m)| m)
    }

    /// The encoded frame of a message still on the wire (for inspectors): `None` once it
    /// arrived or was lost.
    pub fn message_bytes(&self, id: u64) -> Option<Arc<[u8]>> {
        let (key, _) = self.in_flight.get(&id)?;
        match self.shared.queue.borrow().get(key) {
            Some((_, Scheduled::Deliver(delivery))) => Some(Arc::clone(&delivery.bytes)),
            _ => None,
        }
    }

    /// The partition group of each replica.
    pub fn partition_groups(&self) -> &[u16] {
        self.net.groups()
    }

    /// The random loss rate now (parts per million).
    pub fn drop_ppm(&self) -> u32 {
        self.net.config.drop_ppm
    }

    /// The directed links with extra delay now: `(from, to, extra ms)`.
    pub fn link_delays(&self) -> Vec<(NodeId, NodeId, u64)> {
        self.net.link_delays().map(|(from, to, ms)| (NodeId(from as u16), NodeId(to as u16), ms)).collect()
    }

    /// The behaviour a node runs now (`None`: honest, or a twin).
    pub fn behaviour(&self, node: NodeId) -> Option<Behaviour> {
        self.config.byzantine.iter().find(|(n, _)| *n == node).map(|(_, b)| *b)
    }

    /// The channels between a replica instance's actors: items waiting now, the peak since the
    /// last call with `reset_peaks`, and items through (see [`actor::depth`]). Reading them
    /// changes nothing in the run.
    pub fn channel_depths(&self, instance: usize, reset_peaks: bool) -> Vec<ChannelDepth> {
        self.nodes[instance].depths.snapshot(reset_peaks)
    }

    /// The first violation, if any (the run refuses to continue after one).
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// When the next queued event happens.
    pub fn next_event_time(&self) -> Option<Time> {
        let queue = self.shared.queue.borrow();
        queue.iter().find(|(_, (_, what))| !is_cancelled(what)).map(|((time, _), _)| *time)
    }

    // -------------------------------------------------------------------------------------------
    // Running.

    /// Processes the next event. Returns `Ok(false)` when nothing is left to happen.
    pub fn step(&mut self) -> Result<bool, Violation> {
        if let Some(violation) = &self.violation {
            return Err(violation.clone());
        }
        loop {
            let Some((key, (node, what))) = self.shared.queue.borrow_mut().pop_first() else {
                return Ok(false);
            };
            if is_cancelled(&what) {
                continue;
            }
            debug_assert!(key.0 >= self.now(), "the queue never holds the past");
            self.shared.now.set(key.0);
            self.stats.steps += 1;
            match what {
                Scheduled::Wake(slot) => slot.wake(),
                Scheduled::Deliver(delivery) => self.deliver(node, delivery),
                Scheduled::ClientTick => self.client_tick(node),
            }
            self.settle(node);
            return match &self.violation {
                Some(violation) => Err(violation.clone()),
                None => Ok(true),
            };
        }
    }

    /// Runs every event up to and including `now + duration_ms`, then sets the clock there.
    pub fn run_for(&mut self, duration_ms: u64) -> Result<(), Violation> {
        let until = self.now().plus_ms(duration_ms);
        while self.next_event_time().is_some_and(|t| t <= until) {
            self.step()?;
        }
        self.shared.now.set(until);
        Ok(())
    }

    /// Steps until `condition` holds (returns `Ok(true)`) or `max_duration_ms` of virtual time has
    /// passed (returns `Ok(false)`).
    pub fn run_until(
        &mut self,
        mut condition: impl FnMut(&Self) -> bool,
        max_duration_ms: u64,
    ) -> Result<bool, Violation> {
        let deadline = self.now().plus_ms(max_duration_ms);
        loop {
            if condition(self) {
                return Ok(true);
            }
            match self.next_event_time() {
                Some(t) if t <= deadline => {
                    self.step()?;
                }
                _ => return Ok(false),
            }
        }
    }

    /// Steps the events up to `until`, but at most `max_steps` of them (a host drawing frames
    /// slices its work this way). Returns `Ok(true)` when everything up to `until` is done (the
    /// clock is then at `until`), `Ok(false)` when the budget ran out first.
    pub fn advance_to(&mut self, until: Time, max_steps: u64) -> Result<bool, Violation> {
        for _ in 0..max_steps {
            if self.next_event_time().is_none_or(|t| t > until) {
                break;
            }
            self.step()?;
        }
        if self.next_event_time().is_some_and(|t| t <= until) {
            return Ok(false);
        }
        if until > self.now() {
            self.shared.now.set(until);
        }
        Ok(true)
    }

    /// Moves the clock forward to `time` without an event (where an intervention was made, or
    /// the end of an idle stretch). The caller checks that no queued event comes before it.
    pub(crate) fn set_now(&mut self, time: Time) {
        debug_assert!(time >= self.now(), "the clock never goes back");
        debug_assert!(self.next_event_time().is_none_or(|t| t >= time), "no event is skipped");
        self.shared.now.set(time);
    }

    /// Takes the trace entries recorded since the last call (with `record_trace`), each with
    /// its step (see [`Simulation::trace`]).
    pub fn take_trace(&mut self) -> Vec<(u64, TraceEntry)> {
        std::mem::take(&mut self.trace)
    }

    // -------------------------------------------------------------------------------------------
    // Faults.

    /// Crashes a replica: its actors stop and its volatile state is lost; its store remains.
    /// Whatever it signed and sent must be covered by what its store holds now (persist before
    /// send): the checker compares the two.
    pub fn crash(&mut self, node: NodeId) {
        let sim_node = &mut self.nodes[node.index()];
        if !sim_node.view.up {
            return;
        }
        self.shared.crash_after.borrow_mut().remove(&node.index());
        if self.violation.is_none() {
            let durable = self.durable_last_voted_round(node.index());
            let checked = self.checker.crashed(self.nodes[node.index()].view.id, durable);
            self.report(self.now(), checked);
        }
        let sim_node = &mut self.nodes[node.index()];
        for abort in sim_node.aborts.drain(..) {
            abort.abort();
        }
        sim_node.host = None;
        sim_node.view.up = false;
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::Crash(node) });
        // Let the aborted tasks be dropped (which cancels their pending sleeps).
        self.pool.run_until_stalled();
    }

    /// Arms a crash in the middle of a step: the replica instance dies right after its consensus
    /// actor performs `after_actions` more actions (a send, a `Persist`, a timer, a store write
    /// ...), whichever input they come from; the rest of that step's actions are never performed.
    /// This is how a crash lands between a `Persist` and the send it guards. Nothing happens if
    /// the instance is down.
    pub fn crash_during_step(&mut self, node: NodeId, after_actions: u32) {
        if self.nodes[node.index()].view.up && after_actions > 0 {
            self.shared.crash_after.borrow_mut().insert(node.index(), after_actions);
        }
    }

    /// Whether a crash during a step is armed for this instance and has not struck yet.
    pub fn crash_armed(&self, node: NodeId) -> bool {
        self.shared.crash_after.borrow().contains_key(&node.index())
    }

    /// Restarts a crashed replica from what its store holds.
    pub fn restart(&mut self, node: NodeId) {
        if !self.nodes[node.index()].view.up {
            self.boot_again(node, Fault::Restart(node));
        }
    }

    /// Restarts a crashed replica, recording how.
    fn boot_again(&mut self, node: NodeId, fault: Fault) {
        self.record(TraceEntry::Fault { time: self.now(), fault });
        self.nodes[node.index()].view.restarts += 1;
        self.boot(node.index());
    }

    /// Restarts a crashed replica from a store that lost the record of its last vote: a
    /// deliberately unsafe disk (one that acknowledged a write it never made durable, or a
    /// restore from an older backup), for the crash-recovery lesson and the checkers' tests.
    /// If the replica crashed in the round it last voted (or timed out) in, it comes back in
    /// that round believing it never voted there, so it may sign a second, different vote;
    /// its round, lock and certificates are kept, so nothing else gives it away. If it had
    /// already moved past that round, there is nothing to lose and this is a plain restart.
    pub fn restart_forgetting(&mut self, node: NodeId) {
        if self.nodes[node.index()].view.up {
            return;
        }
        let mut forgot = None;
        let store = self.nodes[node.index()].store.clone();
        let stored = store.0.borrow().get(STATE_KEY).cloned();
        if let Some(bytes) = stored {
            // The simulator wrote these bytes itself; failing to read them back is a bug.
            let mut state = codec::decode_state(&bytes).expect("persisted state decodes");
            if state.round > 0 && state.last_voted_round >= state.round {
                forgot = Some(state.last_voted_round);
                state.last_voted_round = state.round - 1;
                let written = store.0.borrow_mut().write(STATE_KEY, &codec::encode_value(&state));
                written.expect("the memory store never fails");
            }
        }
        self.boot_again(node, Fault::RestartForgetting(node, forgot));
    }

    /// Splits the network into groups; replicas in no group are isolated.
    pub fn partition(&mut self, groups: Vec<Vec<NodeId>>) {
        let instances: Vec<Vec<usize>> =
            groups.iter().map(|g| g.iter().map(|n| n.index()).collect()).collect();
        self.net.partition(&instances);
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::Partition(groups) });
    }

    /// Splits the network by replica instance (a node's twin is instance `nodes + k`); instances
    /// in no group are isolated. Messages to a node reach its instances on the sender's side.
    pub fn partition_instances(&mut self, groups: Vec<Vec<usize>>) {
        self.net.partition(&groups);
        let recorded = groups.iter().map(|g| g.iter().map(|i| *i as u16).collect()).collect();
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::PartitionInstances(recorded) });
    }

    /// Lifts the per-round partitions ([`SimConfig::round_partitions`]) of rounds up to and
    /// including `round`; later rounds keep theirs. A Twins run does this when a round's
    /// partition leaves no group able to end it ([`twins`]).
    pub fn lift_round_partitions(&mut self, round: Round) {
        self.net.lift_round_partitions(round);
        let everyone: Vec<u16> = (0..self.nodes.len() as u16).collect();
        for partition in
            self.config.round_partitions.iter_mut().take(usize::try_from(round).unwrap_or(usize::MAX))
        {
            *partition = vec![everyone.clone()];
        }
    }

    /// Reconnects everyone (per-round partitions too).
    pub fn heal(&mut self) {
        self.net.heal();
        self.config.round_partitions.clear();
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::Heal });
    }

    /// Sets the random loss rate (parts per million).
    pub fn set_drop_ppm(&mut self, drop_ppm: u32) {
        self.net.config.drop_ppm = drop_ppm;
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::DropRate(drop_ppm) });
    }

    /// Adds delay to the directed link `from -> to` (0 removes it).
    pub fn set_link_delay(&mut self, from: NodeId, to: NodeId, extra_ms: u64) {
        self.net.set_link_delay(from.index(), to.index(), extra_ms);
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::LinkDelay(from, to, extra_ms) });
    }

    /// Switches a replica to a Byzantine behaviour (or back to honest with `None`): it restarts
    /// from its store with the new consensus core. The checkers stop (or start) holding it to the
    /// rules from here on.
    pub fn set_behaviour(&mut self, node: NodeId, behaviour: Option<Behaviour>) {
        let was = self.behaviour(node);
        self.config.byzantine.retain(|(n, _)| *n != node);
        if let Some(behaviour) = behaviour {
            self.config.byzantine.push((node, behaviour));
        }
        let twin = self.config.twins.contains(&node);
        self.checker.set_honest(node, behaviour.is_none() && !twin);
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::Behaviour(node, behaviour) });
        if self.nodes[node.index()].view.up {
            self.crash(node);
            self.restart(node);
        }
        // Forkers work as a coalition, which each learns when it boots: when the coalition
        // changes, the other forkers restart too, so that all of them know it (two forkers set
        // one after the other from the page did not fork: the first knew only itself).
        let forker = Some(Behaviour::Forker);
        if was == forker || behaviour == forker {
            let others: Vec<NodeId> = self
                .config
                .byzantine
                .iter()
                .filter(|(n, b)| *b == Behaviour::Forker && *n != node && self.nodes[n.index()].view.up)
                .map(|(n, _)| *n)
                .collect();
            for other in others {
                self.crash(other);
                self.restart(other);
            }
        }
    }

    /// Drops one message in flight. Returns whether it was still on the wire.
    pub fn drop_message(&mut self, id: u64) -> bool {
        let Some((key, _)) = self.in_flight.remove(&id) else { return false };
        self.shared.queue.borrow_mut().remove(&key);
        self.stats.messages_dropped += 1;
        self.record(TraceEntry::Fault { time: self.now(), fault: Fault::DropMessage(id) });
        true
    }

    // -------------------------------------------------------------------------------------------
    // Internals.

    fn boot(&mut self, instance: usize) {
        let node = self.nodes[instance].view.id;
        let store = self.nodes[instance].store.clone();
        let recovered = store.0.borrow().get(STATE_KEY).map(|bytes| {
            // The simulator wrote these bytes itself; failing to read them back is a bug.
            codec::decode_state(bytes).expect("persisted state decodes")
        });
        let keys = KeyPair::from_seed(self.config.seed, node.0);
        let read = |key: &[u8]| Ok::<_, std::convert::Infallible>(store.0.borrow().get(key).cloned());
        let (recent, chain) = match &recovered {
            Some(state) => {
                let Ok(commits) = crate::store::recent_commits(state.committed.height, read);
                let count = crate::consensus::reputation::remembered_blocks(self.committee.size());
                let Ok(chain) = crate::store::recent_chain(state.committed.height, count, read);
                (commits, chain)
            }
            None => (Vec::new(), Vec::new()),
        };
        let consensus =
            Consensus::new(node, self.committee.clone(), keys.clone(), self.config.params.clone(), recovered)
                .remembering_committed(recent)
                .remembering_chain(chain);
        // The batches of its committed blocks: those to fetch still, those it holds.
        let committed =
            crate::store::committed_batches(&*store.0.borrow(), crate::mempool::BACKFILL_HEIGHTS_MAX)
                .expect("the simulator wrote this store itself");
        let mempool =
            Mempool::new(node, self.committee.clone(), self.config.params.clone()).recovering(committed);
        let runtime = SimRuntime { instance, shared: self.shared.clone() };
        let behaviour = self.config.byzantine.iter().find(|(n, _)| *n == node).map(|(_, b)| *b);
        let (host, depths, futures) = match behaviour {
            None => spawnable(actor::wire(node, &self.committee, consensus, mempool, store, runtime)),
            Some(behaviour) => {
                let forkers = self.config.byzantine.iter().filter(|(_, b)| *b == Behaviour::Forker);
                let core = byzantine::Byzantine::new(behaviour, consensus, keys, self.committee.clone())
                    .with_coalition(forkers.map(|(n, _)| *n));
                spawnable(actor::wire(node, &self.committee, core, mempool, store, runtime))
            }
        };
        let sim_node = &mut self.nodes[instance];
        for future in futures {
            let (handle, registration) = AbortHandle::new_pair();
            sim_node.aborts.push(handle);
            // Spawning on a live LocalPool cannot fail.
            self.spawner
                .spawn_local(Abortable::new(future, registration).map(|_| ()))
                .expect("spawn on local pool");
        }
        sim_node.host = Some(host);
        sim_node.depths = depths;
        sim_node.view.up = true;
        if self.config.client.interval_ms > 0 {
            let first = self.now().plus_ms(1 + self.net.random_below(self.config.client.interval_ms));
            self.shared.schedule(first, instance, Scheduled::ClientTick);
        }
        self.settle(instance);
    }

    fn deliver(&mut self, to: usize, delivery: Delivery) {
        let id = delivery.id;
        self.in_flight.remove(&id);
        let time = self.now();
        let outcome = match &mut self.nodes[to].host {
            None => Some(DropReason::ReceiverDown),
            Some(host) => match host.tx_host_to_network.try_send((delivery.from, delivery.bytes)) {
                Ok(()) => None,
                Err(_) => Some(DropReason::InboxFull),
            },
        };
        match outcome {
            None => self.stats.messages_delivered += 1,
            Some(_) => self.stats.messages_dropped += 1,
        }
        self.record(TraceEntry::Delivered { id, time, dropped: outcome });
    }

    fn client_tick(&mut self, instance: usize) {
        let interval = self.config.client.interval_ms;
        let size = self.config.client.transaction_bytes.max(16);
        let sim_node = &mut self.nodes[instance];
        let node = sim_node.view.id;
        let Some(host) = &mut sim_node.host else { return };
        // First byte 1: an ordinary transaction, not a benchmark sample (`mempool::sample_id`).
        let mut transaction = vec![1u8; size];
        transaction[1..3].copy_from_slice(&node.0.to_le_bytes());
        transaction[3..11].copy_from_slice(&sim_node.next_transaction.to_le_bytes());
        sim_node.next_transaction += 1;
        if host.tx_client_to_mempool.try_send(transaction).is_ok() {
            self.stats.transactions += 1;
        }
        self.shared.schedule(self.now().plus_ms(interval), instance, Scheduled::ClientTick);
    }

    /// Runs the replica's actors until they all wait, moving whatever they emit into the queue,
    /// the checkers and the trace; repeats while draining unblocked something.
    fn settle(&mut self, instance: usize) {
        loop {
            self.pool.run_until_stalled();
            if !self.drain(instance) {
                break;
            }
        }
        // A replica whose consensus actor stopped at a crash point (see `crash_during_step`) is
        // down from here: what it sent before is on its way.
        let crashed = std::mem::take(&mut *self.shared.crashed.borrow_mut());
        for instance in crashed {
            self.crash(NodeId(instance as u16));
        }
    }

    fn drain(&mut self, instance: usize) -> bool {
        let mut outbound = Vec::new();
        let mut observed = Vec::new();
        let mut delivered = Vec::new();
        {
            let Some(host) = &mut self.nodes[instance].host else { return false };
            while let Ok(frame) = host.rx_network_to_host.try_recv() {
                outbound.push(frame);
            }
            while let Ok(event) = host.rx_observer.try_recv() {
                observed.push(event);
            }
            while let Ok(block) = host.rx_commits.try_recv() {
                delivered.push(block);
            }
        }
        let progressed = !outbound.is_empty() || !observed.is_empty();
        for event in observed {
            self.on_observed(instance, event);
        }
        // Most invariants are checked on the observation stream; the batches a block carries
        // are checked on the committed blocks themselves.
        let node = self.nodes[instance].view.id;
        for block in delivered {
            if self.violation.is_none() {
                let checked = self.checker.delivered(node, &block);
                self.report(self.now(), checked);
            }
        }
        for frame in outbound {
            self.send(instance, frame);
        }
        progressed
    }

    /// The last voted round in the safety state the instance's store holds now.
    fn durable_last_voted_round(&self, instance: usize) -> Option<Round> {
        let store = self.nodes[instance].store.0.borrow();
        let bytes = store.get(STATE_KEY)?;
        // The simulator's own store: failing to read it back is a bug.
        Some(codec::decode_state(bytes).expect("persisted state decodes").last_voted_round)
    }

    /// Carries a frame from instance `from` to every instance of its recipient on the same side
    /// of the network (one, unless the recipient has a twin).
    fn send(&mut self, from: usize, frame: Outbound) {
        let now = self.now();
        let sender = self.nodes[from].view.id;
        let (kind, round, scoped) = match codec::decode(&frame.bytes) {
            Ok(message) => {
                // Twins share their node's id but are marked dishonest: only honest senders are
                // held to what they sign.
                if let (None, codec::WireMessage::Consensus(m)) = (&self.violation, &message) {
                    let checked = self.checker.sent(sender, m);
                    self.report(now, checked);
                    if matches!(m, ConsensusMessage::Vote(_) | ConsensusMessage::Timeout(_)) {
                        let durable = self.durable_last_voted_round(from);
                        let checked = self.checker.sent_durably(sender, m, durable);
                        self.report(now, checked);
                    }
                }
                // Sync and mempool traffic carries no round: it obeys the round its sender is in.
                let scoped = round_scoped(&message).unwrap_or(self.nodes[from].view.round);
                (message.kind().to_string(), message.round(), Some(scoped))
            }
            Err(_) => ("garbage".to_string(), 0, None),
        };
        let instances: Vec<usize> =
            (0..self.nodes.len()).filter(|i| self.nodes[*i].view.id == frame.to).collect();
        let mut targets: Vec<usize> =
            instances.iter().copied().filter(|i| self.net.connected_in(from, *i, scoped)).collect();
        if targets.is_empty() {
            // Nobody reachable: route to the node's first instance, which records the partition.
            targets.push(instances[0]);
        }
        for to in targets {
            let id = self.next_message_id;
            self.next_message_id += 1;
            self.stats.messages_sent += 1;
            *self.stats.sent_by_kind.entry(kind.clone()).or_default() += 1;
            let outcome = self.net.route(from, to, scoped).map(|latency| now.plus_ms(latency));
            match outcome {
                Ok(arrives) => {
                    let delivery = Delivery { id, from: sender, bytes: frame.bytes.clone() };
                    let key = self.shared.schedule(arrives, to, Scheduled::Deliver(delivery));
                    let message = InFlight {
                        id,
                        from: sender,
                        to: frame.to,
                        kind: kind.clone(),
                        round,
                        sent: now,
                        arrives,
                        from_instance: from as u16,
                        to_instance: to as u16,
                    };
                    self.in_flight.insert(id, (key, message));
                }
                Err(_) => self.stats.messages_dropped += 1,
            }
            let entry = TraceEntry::Sent {
                id,
                time: now,
                from: sender,
                to: frame.to,
                kind: kind.clone(),
                round,
                outcome,
            };
            self.record(entry);
        }
    }

    fn on_observed(&mut self, instance: usize, observed: Observed) {
        let checked = if self.violation.is_none() { self.checker.observe(&observed) } else { Ok(()) };
        let time = observed.time;
        self.fold_view(instance, &observed);
        self.record(TraceEntry::Observed(observed));
        // After recording, so that the report's recent entries end with the offending event.
        self.report(time, checked);
    }

    /// Keeps the first violation a checker reports, with the trace entries that led to it.
    fn report(&mut self, time: Time, checked: Result<(), Breach>) {
        if let (None, Err(breach)) = (&self.violation, checked) {
            self.violation = Some(Violation {
                seed: self.config.seed,
                step: self.stats.steps,
                time,
                invariant: breach.invariant,
                description: breach.to_string(),
                nodes: breach.nodes.clone(),
                recent: self.recent.iter().map(TraceEntry::describe).collect(),
            });
        }
    }

    fn fold_view(&mut self, instance: usize, observed: &Observed) {
        let view = &mut self.nodes[instance].view;
        match &observed.event {
            Event::RoundEntered { round, leader, reason, timeout_ms, .. } => {
                view.round = *round;
                view.leader = *leader;
                view.timer_armed_at = observed.time;
                view.timer_ms = *timeout_ms;
                if let RoundReason::Qc { .. } = reason {
                    view.consecutive_timeouts = 0;
                }
            }
            Event::VoteSent { round, .. } => view.last_voted_round = view.last_voted_round.max(*round),
            Event::TimeoutSent { round, consecutive, .. } => {
                view.last_voted_round = view.last_voted_round.max(*round);
                view.consecutive_timeouts = *consecutive;
                view.timeouts_sent += 1;
                self.stats.timeouts += 1;
            }
            Event::HighQcUpdated { round, .. } => view.high_qc_round = *round,
            Event::LockUpdated { locked_round } => view.locked_round = *locked_round,
            Event::BlockCommitted { block, .. } => {
                view.committed_at = observed.time;
                view.committed_height = block.height;
                view.committed_round = block.round;
                view.committed = block.digest;
            }
            // An expiry re-arms the timer with the same timeout (the round has not changed).
            Event::RoundStalled { .. } => view.timer_armed_at = observed.time,
            Event::ProposalSent { .. } => view.proposals += 1,
            Event::QcFormed { .. } => self.stats.qcs += 1,
            Event::TcFormed { .. } => self.stats.tcs += 1,
            Event::MessageRejected { .. } => self.stats.rejected += 1,
            Event::Recovered { round, last_voted_round, committed_height } => {
                view.round = *round;
                view.last_voted_round = *last_voted_round;
                view.committed_height = *committed_height;
            }
            _ => {}
        }
    }

    fn record(&mut self, entry: TraceEntry) {
        self.hasher.update(codec::encode_value(&entry));
        if self.recent.len() == RECENT_TRACE_LINES {
            self.recent.pop_front();
        }
        self.recent.push_back(entry.clone());
        if self.config.record_trace {
            self.trace.push((self.stats.steps, entry));
        }
    }
}

/// A replica's actors as futures the local pool can run, whatever its consensus core.
fn spawnable<C: ConsensusCore + 'static>(
    (host, actors): (HostEnds, actor::Actors<SimRuntime, SharedStore, C>),
) -> (HostEnds, SharedDepths, [LocalBoxFuture<'static, ()>; 6]) {
    let depths = actors.depths.clone();
    let futures = [
        actors.consensus.run().boxed_local(),
        actors.mempool.run().boxed_local(),
        actors.consensus_timer.run().boxed_local(),
        actors.mempool_timer.run().boxed_local(),
        actors.network.run().boxed_local(),
        actors.store.run().boxed_local(),
    ];
    (host, depths, futures)
}

/// The round whose partition a message obeys (see [`SimConfig::round_partitions`]): a proposal,
/// vote, timeout or TC belongs to its round; sync and mempool traffic (`None` here) to the round
/// its sender is in when it sends, so that no QC leaks across a round's partition inside a
/// synced block, as in the Twins paper.
fn round_scoped(message: &codec::WireMessage) -> Option<Round> {
    use crate::messages::ConsensusMessage as M;
    match message {
        codec::WireMessage::Consensus(m @ (M::Propose(_) | M::Vote(_) | M::Timeout(_) | M::Tc(_))) => {
            Some(m.round())
        }
        _ => None,
    }
}

fn is_cancelled(what: &Scheduled) -> bool {
    matches!(what, Scheduled::Wake(slot) if slot.cancelled.get())
}
