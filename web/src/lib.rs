//! The browser host: a whole HotStuff committee running in one page.
//!
//! [`WebSim`] wraps the core's deterministic [`Simulation`] for JavaScript. The protocol runs
//! here, in wasm; the page only draws what it is handed (views of the replicas, messages in
//! flight, the block tree, narrated events) and forwards the learner's interventions. Because
//! the simulator is the same code as `hotstuff sim`, the same seed gives the same trace digest in
//! the page and on the command line.
//!
//! Time is driven by the page: each animation frame asks [`WebSim::advance_to`] for a slice of
//! virtual time with a step budget, so that one frame never blocks for long.

use hotstuff_core::codec::{self, WireMessage};
use hotstuff_core::event::{BlockInfo, Event, Observed};
use hotstuff_core::sim::{Behaviour, DropReason, Fault, SimConfig, Simulation, TraceEntry};
use hotstuff_core::{CommitRule, Digest, NodeId, Time};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use wasm_bindgen::prelude::*;

/// Events handed to the page per call are capped: a page left in the background must not
/// receive a million lines at once when it comes back.
const EVENTS_PER_TAKE_MAX: usize = 5_000;

/// Blocks kept for the block tree (the most recent ones by height).
const TREE_BLOCKS_MAX: usize = 400;

/// Messages remembered for the space-time diagram (the most recent ones).
const HISTORY_MESSAGES_MAX: usize = 5_000;

/// A message as the space-time diagram draws it.
#[derive(Debug, Clone, Serialize)]
struct UiMessage {
    id: u64,
    from: u16,
    to: u16,
    kind: String,
    round: u64,
    sent: u64,
    /// `None` when it was lost (dropped at sending, or by hand).
    arrives: Option<u64>,
}

/// Sets up panic messages in the browser console.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A fresh random seed, from the browser's crypto API (the only randomness the page draws;
/// everything after is derived from the seed).
#[wasm_bindgen]
pub fn random_seed() -> u32 {
    let mut bytes = [0u8; 4];
    // Without a working crypto source, fall back to a fixed seed: a fresh seed is a nicety.
    if getrandom::fill(&mut bytes).is_err() {
        return 1;
    }
    u32::from_le_bytes(bytes)
}

/// One narrated event for the page.
#[derive(Debug, Serialize)]
struct UiEvent {
    /// Virtual time, ms.
    time: u64,
    /// Step at which it happened (for rewinding to it).
    step: u64,
    /// The replica, if any.
    node: Option<u16>,
    /// A short category the page styles by.
    kind: &'static str,
    /// Whether the page's narration shows it by default (the rest is detail).
    major: bool,
    /// The sentence.
    text: String,
}

/// A block in the tree view.
#[derive(Debug, Serialize)]
struct UiBlock {
    digest: String,
    parent: String,
    round: u64,
    height: u64,
    author: u16,
    qc_round: u64,
    tc_round: Option<u64>,
    batches: u32,
    certified: bool,
    committed: bool,
}

/// A committee simulation, for JavaScript.
#[wasm_bindgen]
#[derive(Debug)]
pub struct WebSim {
    sim: Simulation,
    blocks: BTreeMap<Digest, BlockInfo>,
    certified: BTreeMap<Digest, ()>,
    committed: BTreeMap<Digest, ()>,
    pending: Vec<UiEvent>,
    history: VecDeque<UiMessage>,
}

#[wasm_bindgen]
impl WebSim {
    /// A committee of `nodes` replicas from `seed`, with `drop_ppm` random loss (per million)
    /// and a commit rule: 2 (2-chain, the default), 3 (3-chain), or 1 (the deliberately unsafe
    /// 1-chain, to watch the checkers catch a broken protocol).
    #[wasm_bindgen(constructor)]
    pub fn new(nodes: u16, seed: u32, drop_ppm: u32, rule: u8) -> Self {
        Self::with_twins(nodes, seed, drop_ppm, rule, Vec::new())
    }

    /// The same, with Twins (arXiv 2004.10617): each node in `twins` runs a second instance
    /// with the same key, so it is Byzantine by construction (its two halves equivocate and
    /// double-vote without any special code). Instance `nodes + k` is the twin of `twins[k]`;
    /// [`WebSim::views`] lists instances, and [`WebSim::partition`] then splits instances.
    /// With f + 1 twins split so that each side holds a quorum, agreement breaks; with f, it
    /// cannot (the page's scenario menu shows both).
    pub fn with_twins(nodes: u16, seed: u32, drop_ppm: u32, rule: u8, twins: Vec<u16>) -> Self {
        let nodes = nodes.clamp(1, 64);
        let mut config = SimConfig {
            nodes,
            seed: u64::from(seed),
            record_trace: true,
            twins: twins.into_iter().filter(|t| *t < nodes).map(NodeId).collect(),
            ..SimConfig::default()
        };
        config.net.drop_ppm = drop_ppm.min(1_000_000);
        config.params.commit_rule = match rule {
            3 => CommitRule::ThreeChain,
            1 => CommitRule::UnsafeOneChain,
            _ => CommitRule::TwoChain,
        };
        let mut web = Self {
            sim: Simulation::new(config),
            blocks: BTreeMap::new(),
            certified: BTreeMap::new(),
            committed: BTreeMap::new(),
            pending: Vec::new(),
            history: VecDeque::new(),
        };
        web.collect();
        web
    }

    /// Virtual time, ms.
    pub fn now(&self) -> f64 {
        self.sim.now().as_ms() as f64
    }

    /// Steps taken so far.
    pub fn steps(&self) -> f64 {
        self.sim.stats().steps as f64
    }

    /// Committee size.
    pub fn size(&self) -> u16 {
        self.sim.config().nodes
    }

    /// Processes the next event. Returns false if nothing is left or an invariant broke.
    pub fn step(&mut self) -> bool {
        let stepped = self.sim.step().unwrap_or(false);
        self.collect();
        stepped
    }

    /// Runs events up to `until_ms` with at most `max_steps` steps; true once `until_ms` is
    /// reached. Stops (returning true) at a violation: the safety panel shows it.
    pub fn advance_to(&mut self, until_ms: f64, max_steps: u32) -> bool {
        let reached =
            self.sim.advance_to(Time(until_ms.max(0.0) as u64), u64::from(max_steps)).unwrap_or(true);
        self.collect();
        reached
    }

    /// Replays a fresh run to `steps` steps and `time_ms` (where an intervention was made).
    pub fn replay_to(&mut self, steps: f64, time_ms: f64) {
        // A violation during replay is recorded by the simulator and shown like any other.
        let _ = self.sim.replay_to(steps as u64, Time(time_ms as u64));
        self.collect();
    }

    /// Runs (without animation) until every running replica committed `height`, or `max_ms` of
    /// virtual time passed: exactly what `hotstuff sim --blocks <height>` does.
    pub fn run_until_height(&mut self, height: f64, max_ms: f64) -> bool {
        let height = height as u64;
        let reached =
            self.sim.run_until(|s| s.min_committed_height() >= height, max_ms as u64).unwrap_or(false);
        self.collect();
        reached
    }

    /// The narrated events since the last call: `[{time, step, node, kind, major, text}]`.
    pub fn take_events(&mut self) -> JsValue {
        let take = self.pending.len().min(EVENTS_PER_TAKE_MAX);
        let events: Vec<UiEvent> = self.pending.drain(..take).collect();
        to_js(&events)
    }

    /// Every replica: `[{id, up, round, leader, last_voted_round, locked_round, high_qc_round,
    /// committed_height, ...}]`.
    pub fn views(&self) -> JsValue {
        to_js(&self.sim.views())
    }

    /// Messages on the wire: `[{id, from, to, kind, round, sent, arrives, from_instance,
    /// to_instance}]` (the instances differ from the nodes only for twins).
    pub fn in_flight(&self) -> JsValue {
        let messages: Vec<_> = self.sim.in_flight().collect();
        to_js(&messages)
    }

    /// The recent block tree: `[{digest, parent, round, height, author, certified, committed, ...}]`.
    pub fn blocks(&self) -> JsValue {
        let blocks: Vec<UiBlock> = self
            .blocks
            .iter()
            .map(|(digest, b)| UiBlock {
                digest: digest.short(),
                parent: b.parent.short(),
                round: b.round,
                height: b.height,
                author: b.author.0,
                qc_round: b.qc_round,
                tc_round: b.tc_round,
                batches: b.payload_batches,
                certified: self.certified.contains_key(digest),
                committed: self.committed.contains_key(digest),
            })
            .collect();
        to_js(&blocks)
    }

    /// Messages sent since `since_ms` (for the space-time diagram), oldest first:
    /// `[{id, from, to, kind, round, sent, arrives}]`, `arrives` null if lost. With `batches`
    /// false, mempool traffic (batches, batch requests) is left out: at 16 nodes it is about 90%
    /// of the messages, and converting it for a diagram that does not draw it cost a millisecond
    /// per refresh.
    pub fn recent_messages(&self, since_ms: f64, batches: Option<bool>) -> JsValue {
        let since = since_ms.max(0.0) as u64;
        let batches = batches.unwrap_or(true);
        let recent: Vec<&UiMessage> = self
            .history
            .iter()
            .filter(|m| m.sent >= since && (batches || !m.kind.starts_with("batch")))
            .collect();
        to_js(&recent)
    }

    /// Counters: `{steps, messages_sent, timeouts, qcs, tcs, ...}`.
    pub fn stats(&self) -> JsValue {
        to_js(self.sim.stats())
    }

    /// The channels between one replica's actors: `[{channel, from, to, depth, peak, total,
    /// capacity}]` (`depth`/`peak` null for the host channels, whose host end is not counted).
    /// Each call restarts the peaks, so `peak` is the deepest each queue got since the previous
    /// call: the simulator drains the queues within every event, so between two frames the
    /// current depth is almost always 0, and the peak is what shows the queueing.
    pub fn channel_depths(&self, node: u16) -> JsValue {
        let instances = usize::from(self.size()) + self.sim.config().twins.len();
        let instance = usize::from(node).min(instances - 1);
        to_js(&self.sim.channel_depths(instance, true))
    }

    /// The partition group of each replica.
    pub fn groups(&self) -> Vec<u16> {
        self.sim.partition_groups().to_vec()
    }

    /// The fingerprint of the run so far (hex).
    pub fn trace_digest(&self) -> String {
        hex(&self.sim.trace_digest().0)
    }

    /// The first broken invariant, if any, with seed, step and the last trace lines.
    pub fn violation(&self) -> Option<String> {
        self.sim.violation().map(|v| v.to_string())
    }

    /// Crashes a replica (volatile state lost, store kept).
    pub fn crash(&mut self, node: u16) {
        self.sim.crash(NodeId(node));
        self.collect();
    }

    /// Restarts a crashed replica from its store.
    pub fn restart(&mut self, node: u16) {
        self.sim.restart(NodeId(node));
        self.collect();
    }

    /// Splits the network: `groups[i]` is replica `i`'s side (replica instance `i`'s, twins
    /// included, when the run has twins).
    pub fn partition(&mut self, groups: Vec<u16>) {
        if !self.sim.config().twins.is_empty() {
            let mut sides: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
            for (i, g) in groups.iter().enumerate() {
                sides.entry(*g).or_default().push(i);
            }
            self.sim.partition_instances(sides.into_values().collect());
            self.collect();
            return;
        }
        let mut sides: BTreeMap<u16, Vec<NodeId>> = BTreeMap::new();
        for (i, g) in groups.iter().enumerate() {
            sides.entry(*g).or_default().push(NodeId(i as u16));
        }
        self.sim.partition(sides.into_values().collect());
        self.collect();
    }

    /// Reconnects everyone.
    pub fn heal(&mut self) {
        self.sim.heal();
        self.collect();
    }

    /// Sets the random loss rate, per million.
    pub fn set_drop_ppm(&mut self, drop_ppm: u32) {
        self.sim.set_drop_ppm(drop_ppm.min(1_000_000));
        self.collect();
    }

    /// Adds delay to the link `from -> to`.
    pub fn set_link_delay(&mut self, from: u16, to: u16, extra_ms: u32) {
        self.sim.set_link_delay(NodeId(from), NodeId(to), u64::from(extra_ms));
        self.collect();
    }

    /// Switches a replica's behaviour: 0 honest, 1 silent, 2 equivocator, 3 double voter,
    /// 4 stale replayer, 5 forger (the order of `Behaviour::ALL`, after honest).
    pub fn set_behaviour(&mut self, node: u16, behaviour: u8) {
        let behaviour = Behaviour::ALL.get(usize::from(behaviour).wrapping_sub(1)).copied();
        self.sim.set_behaviour(NodeId(node), behaviour);
        self.collect();
    }

    /// The signature status of a message in flight, as its receiver will judge it: the frame is
    /// decoded and checked with the core's own `ConsensusMessage::verify` against the committee
    /// (signatures, quorums, leaders). Returns "valid", or the error's text (for example "bad
    /// signature from n1" for a forger's vote). Mempool traffic carries no signature (a batch is
    /// vouched for by the digest in a signed block) and says so; a message that already arrived
    /// or was lost gives "gone".
    pub fn signature_status(&self, id: f64) -> String {
        let Some(bytes) = self.sim.message_bytes(id as u64) else {
            return "gone".to_string();
        };
        match codec::decode(&bytes) {
            Ok(WireMessage::Consensus(message)) => match message.verify(self.sim.committee()) {
                Ok(()) => "valid".to_string(),
                Err(error) => error.to_string(),
            },
            Ok(WireMessage::Mempool(_)) => "unsigned (mempool traffic)".to_string(),
            Err(error) => error.to_string(),
        }
    }

    /// Drops one message in flight; false if it already arrived.
    pub fn drop_message(&mut self, id: f64) -> bool {
        let dropped = self.sim.drop_message(id as u64);
        self.collect();
        dropped
    }
}

impl WebSim {
    /// Turns new trace entries into narration and block-tree updates.
    fn collect(&mut self) {
        let step = self.sim.stats().steps;
        for entry in self.sim.take_trace() {
            match entry {
                TraceEntry::Observed(observed) => self.on_observed(step, &observed),
                TraceEntry::Sent { id, time, from, to, kind, round, outcome } => {
                    if self.history.len() == HISTORY_MESSAGES_MAX {
                        self.history.pop_front();
                    }
                    let arrives = outcome.ok().map(Time::as_ms);
                    self.history.push_back(UiMessage {
                        id,
                        from: from.0,
                        to: to.0,
                        kind,
                        round,
                        sent: time.as_ms(),
                        arrives,
                    });
                }
                TraceEntry::Fault { time, fault: Fault::DropMessage(id) } => {
                    if let Some(message) = self.history.iter_mut().rev().find(|m| m.id == id) {
                        message.arrives = None;
                    }
                    self.pending.push(UiEvent {
                        time: time.as_ms(),
                        step,
                        node: None,
                        kind: "fault",
                        major: true,
                        text: describe_fault(&Fault::DropMessage(id)),
                    });
                }
                TraceEntry::Fault { time, fault } => self.pending.push(UiEvent {
                    time: time.as_ms(),
                    step,
                    node: None,
                    kind: "fault",
                    major: true,
                    text: describe_fault(&fault),
                }),
                TraceEntry::Delivered { id, time, dropped: Some(reason) }
                    if reason != DropReason::ReceiverDown =>
                {
                    self.pending.push(UiEvent {
                        time: time.as_ms(),
                        step,
                        node: None,
                        kind: "drop",
                        major: false,
                        text: format!("Message {id} is lost ({reason:?})."),
                    });
                }
                _ => {}
            }
        }
        if self.blocks.len() > TREE_BLOCKS_MAX {
            let mut heights: Vec<(u64, Digest)> = self.blocks.iter().map(|(d, b)| (b.height, *d)).collect();
            heights.sort();
            for (_, digest) in heights.iter().take(self.blocks.len() - TREE_BLOCKS_MAX) {
                self.blocks.remove(digest);
                self.certified.remove(digest);
                self.committed.remove(digest);
            }
        }
    }

    fn on_observed(&mut self, step: u64, observed: &Observed) {
        let (kind, major) = match &observed.event {
            Event::ProposalSent { block } | Event::ProposalReceived { block, .. } => {
                self.blocks.entry(block.digest).or_insert_with(|| block.clone());
                (
                    if matches!(observed.event, Event::ProposalSent { .. }) { "propose" } else { "receive" },
                    matches!(observed.event, Event::ProposalSent { .. }),
                )
            }
            Event::QcFormed { qc } => {
                self.certified.insert(qc.block, ());
                ("qc", true)
            }
            Event::HighQcUpdated { block, .. } => {
                self.certified.insert(*block, ());
                ("state", false)
            }
            Event::BlockCommitted { block, .. } => {
                // Narrate a block's first commit by default, not all n of them.
                let first = self.committed.insert(block.digest, ()).is_none();
                ("commit", first)
            }
            Event::RoundEntered { .. } => ("round", false),
            Event::ProposalDeferred { .. } => ("wait", false),
            // Each vote gets a line in small committees; in larger ones the QC line sums them up.
            Event::VoteSent { .. } => ("vote", self.sim.config().nodes <= 7),
            Event::VoteWithheld { .. } => ("novote", true),
            Event::VoteReceived { .. } | Event::TimeoutReceived { .. } => ("receive", false),
            Event::PayloadAwaited { .. } => ("wait", false),
            Event::LockUpdated { .. } => ("state", false),
            Event::TimeoutSent { .. } => ("timeout", true),
            Event::TcFormed { .. } => ("tc", true),
            Event::BlockAbandoned { .. } => ("state", true),
            Event::ConflictingCommit { .. } => ("violation", true),
            Event::MessageRejected { .. } => ("reject", true),
            Event::SyncRequested { .. } | Event::SyncServed { .. } => ("sync", true),
            Event::Recovered { .. } => ("fault", true),
            Event::BatchSealed { .. } | Event::BatchReceived { .. } | Event::BatchesRequested { .. } => {
                ("batch", false)
            }
        };
        self.pending.push(UiEvent {
            time: observed.time.as_ms(),
            step,
            node: Some(observed.node.0),
            kind,
            major,
            text: observed.narrate(),
        });
    }
}

fn describe_fault(fault: &Fault) -> String {
    match fault {
        Fault::Crash(node) => {
            format!("Node {} crashes: its actors stop and its memory is lost; its store survives.", node.0)
        }
        Fault::Restart(node) => {
            format!("Node {} restarts and reloads its safety state from its store.", node.0)
        }
        Fault::Partition(groups) => {
            let sides: Vec<String> = groups
                .iter()
                .map(|g| g.iter().map(|n| n.0.to_string()).collect::<Vec<_>>().join(","))
                .collect();
            format!("The network splits into {{{}}}: messages cross no boundary.", sides.join("} | {"))
        }
        Fault::PartitionInstances(groups) => {
            let sides: Vec<String> =
                groups.iter().map(|g| g.iter().map(u16::to_string).collect::<Vec<_>>().join(",")).collect();
            format!("The network splits replica instances into {{{}}} (twins included).", sides.join("} | {"))
        }
        Fault::Heal => "The network heals: every link works again.".to_string(),
        Fault::DropRate(ppm) => format!("Random loss set to {:.1}% of messages.", f64::from(*ppm) / 10_000.0),
        Fault::LinkDelay(from, to, 0) => {
            format!("The link {} → {} is back to its usual latency (10–40 ms).", from.0, to.0)
        }
        Fault::LinkDelay(from, to, ms) => format!(
            "The link {} → {} gets {ms} ms extra delay: messages sent on it from now on take that much longer.",
            from.0, to.0
        ),
        Fault::DropMessage(id) => format!("Message {id} is dropped by hand."),
        Fault::Behaviour(node, None) => format!("Node {} turns honest again.", node.0),
        Fault::Behaviour(node, Some(behaviour)) => format!(
            "Node {} turns Byzantine ({}): the safety checks no longer hold it to the rules, only the honest nodes.",
            node.0,
            match behaviour {
                Behaviour::Silent => "silent: it says nothing",
                Behaviour::Equivocator => "equivocator: as leader it sends conflicting blocks to different peers",
                Behaviour::DoubleVoter => "double voter: it votes for every proposal it sees",
                Behaviour::StaleReplayer => "replayer: it re-sends old messages and votes for future rounds",
                Behaviour::Forger => "forger: it sends QCs without quorum and votes with broken signatures",
            }
        ),
    }
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    // Plain data always converts; a failure would be a bug in this file.
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect("converts to a JS value")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs until a message of `kind` from `from`, sent after the message ids below `after`, is
    /// on the wire; returns its id.
    fn find_message(web: &mut WebSim, from: u16, kind: &str, after: u64) -> u64 {
        for _ in 0..200_000 {
            let found = web
                .sim
                .in_flight()
                .find(|m| m.id >= after && m.from.0 == from && m.kind == kind)
                .map(|m| m.id);
            if let Some(id) = found {
                return id;
            }
            assert!(web.step(), "the run goes on");
        }
        panic!("no {kind} from n{from} in flight");
    }

    #[test]
    fn signature_status_runs_the_cores_verification() {
        let mut web = WebSim::new(4, 5, 0, 2);
        let honest = find_message(&mut web, 2, "vote", 0);
        assert_eq!(web.signature_status(honest as f64), "valid");
        let proposal = find_message(&mut web, 0, "proposal", 0);
        assert_eq!(web.signature_status(proposal as f64), "valid");

        web.set_behaviour(1, 5); // forger: its votes carry broken signatures
        let switched = web.sim.stats().messages_sent;
        let forged = find_message(&mut web, 1, "vote", switched);
        assert_eq!(web.signature_status(forged as f64), "bad signature from n1");

        let batch = find_message(&mut web, 3, "batch", 0);
        assert_eq!(web.signature_status(batch as f64), "unsigned (mempool traffic)");
        assert!(web.drop_message(batch as f64));
        assert_eq!(web.signature_status(batch as f64), "gone");
    }
}
