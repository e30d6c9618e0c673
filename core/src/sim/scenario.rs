//! A run as a value: the settings of a simulation plus the learner's timed interventions.
//!
//! A [`Scenario`] is everything needed to reproduce a run exactly, on any host: the
//! [`SimConfig`] (committee size, seed, parameters, network model, Byzantine replicas, twins)
//! and a list of [`Timed`] interventions, each stamped with the point of the run at which it was
//! made. [`super::Run`] plays it (and records new interventions into it); the page, `hotstuff
//! sim --scenario/--link` and the corpus tests (`tests/scenarios/*.json`) all read the same
//! format, so a run seen in the browser is a regression test in one step.
//!
//! # The format
//!
//! JSON, with stable names (never indices) and a format number:
//!
//! ```json
//! { "format": 2,
//!   "config": { "nodes": 4, "seed": 7, "params": { "commit_rule": "TwoChain" } },
//!   "interventions": [
//!     { "step": 1234, "time": 1500, "kind": "crash", "node": 1 },
//!     { "time": 4000, "kind": "partition", "groups": [[0, 1, 2], [3]] },
//!     { "time": 6000, "kind": "heal" } ],
//!   "expect": { "until_ms": 20000, "outcome": { "kind": "safe", "min_height": 20 } } }
//! ```
//!
//! Omitted settings take their defaults. An intervention made in the page carries the exact
//! `step` (simulator events processed) and `time` (ms) at which it was made; one written by hand
//! may give only a `time`, and then applies once every event up to that time has happened.
//!
//! # The share link
//!
//! [`Scenario::to_link`] packs the scenario (and the point to show) into a URL fragment:
//! `run=1.` + base64url(deflate(JSON)). The `1` is [`LINK_FORMAT`]; a link of another format is
//! refused with a message saying so ([`ScenarioError::UnknownFormat`]), never read as a
//! different run. [`Scenario::from_link`] also reads the short hand-typed form
//! `seed=5&n=16&rule=3chain&drop=20000&twins=0,1` (no interventions).

use super::{Behaviour, Invariant, NodeId, SimConfig, Simulation};
use crate::params::CommitRule;
use crate::time::Time;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The scenario file format this build writes. It also reads format 1, in which an omitted
/// `leader_election` meant round-robin (the default then; reputation is the default of format 2),
/// so a file or link made before stays the same run.
pub const SCENARIO_FORMAT: u32 = 2;

/// A format-1 scenario as format 2: the same run.
fn upgrade_from_format_1(value: &mut serde_json::Value) {
    // Only an object has a format to read; anything else was refused before.
    let Some(scenario) = value.as_object_mut() else { return };
    scenario.insert("format".to_string(), SCENARIO_FORMAT.into());
    let config = scenario.entry("config").or_insert_with(|| serde_json::json!({}));
    let Some(config) = config.as_object_mut() else { return };
    let params = config.entry("params").or_insert_with(|| serde_json::json!({}));
    if let Some(params) = params.as_object_mut() {
        params.entry("leader_election").or_insert_with(|| "RoundRobin".into());
    }
}

/// The share-link format this build reads and writes (the number after `run=`).
pub const LINK_FORMAT: u32 = 1;

/// Largest committee a scenario may ask for (the page draws up to 16).
pub const NODES_MAX: u16 = 64;

/// Largest latency or extra link delay a scenario may ask for (ms): an hour. A link is untrusted
/// input; delays add up in `u64` arithmetic.
pub(crate) const DELAY_MS_MAX: u64 = 3_600_000;

/// Most rounds a leader schedule or a list of per-round partitions may cover: each round costs
/// memory in the network model, and a small deflated link can inflate to millions of them.
const SCHEDULED_ROUNDS_MAX: usize = 10_000;

/// Largest link (characters) [`Scenario::from_link`] decodes, and largest inflated JSON: a link
/// is untrusted input, and a small deflate stream can inflate to gigabytes.
const LINK_CHARS_MAX: usize = 1 << 20;
const LINK_JSON_MAX: usize = 8 << 20;

/// One thing a learner (or a test) does to a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Intervention {
    /// Crash a replica instance (`node` is an instance: a node's twin is `nodes + k`).
    Crash {
        /// The instance.
        node: u16,
    },
    /// Crash a replica instance in the middle of a step: right after its consensus actor
    /// performs `after_actions` more actions, between two actions of one input (after a
    /// `Persist` and before its send, or after a send and before the next `Persist`).
    CrashDuringStep {
        /// The instance.
        node: u16,
        /// Actions it still performs, 1 to 100.
        after_actions: u16,
    },
    /// Restart a crashed replica instance from its store.
    Restart {
        /// The instance.
        node: u16,
    },
    /// Restart a crashed replica instance from a store that lost the record of its last vote
    /// (see [`super::Simulation::restart_forgetting`]): a deliberately unsafe disk, for the
    /// crash-recovery lesson and for tests that the checkers catch what follows.
    RestartForgetting {
        /// The instance.
        node: u16,
    },
    /// Switch a node to a Byzantine behaviour, or back to honest (`null`).
    Behaviour {
        /// The node (not a twin: a twinned node is Byzantine already).
        node: u16,
        /// The behaviour, or `null` for honest.
        behaviour: Option<Behaviour>,
    },
    /// Split the network into groups of replica instances; instances in no group are isolated.
    Partition {
        /// The groups.
        groups: Vec<Vec<u16>>,
    },
    /// Reconnect everyone.
    Heal,
    /// Set the random loss rate.
    Loss {
        /// Parts per million, at most 1,000,000.
        ppm: u32,
    },
    /// Add delay to the link `from → to` (and `to → from` with `both_ways`); 0 removes it.
    LinkDelay {
        /// Sender.
        from: u16,
        /// Receiver.
        to: u16,
        /// Extra milliseconds on every message sent on the link from now on.
        extra_ms: u64,
        /// Both directions.
        #[serde(default)]
        both_ways: bool,
    },
    /// Drop one message in flight (by its id in the run).
    DropMessage {
        /// The message id.
        id: u64,
    },
    /// Lift the per-round partitions of rounds up to `round` (what a Twins run does when a
    /// round's partition leaves no group able to end it).
    LiftRoundPartitions {
        /// The last round lifted.
        round: u64,
    },
}

/// An intervention at a point of the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timed {
    /// Simulator steps taken when it was made; `None` (a hand-written scenario): once every
    /// event up to `time` has happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// Virtual time, ms.
    pub time: Time,
    /// What.
    #[serde(flatten)]
    pub intervention: Intervention,
}

/// What a scenario must do when run to `until_ms` (the corpus tests check it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Run to this virtual time (ms).
    pub until_ms: u64,
    /// And to exactly this step (a page export: the page may stand between two events of the
    /// same millisecond); without it, every event up to `until_ms` is played.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_step: Option<u64>,
    /// Safe and live, or the invariant it must break.
    pub outcome: Outcome,
    /// The trace digest at `until_ms` (hex), pinned: any change to the run shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The expected outcome of a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// No invariant breaks, and every honest running replica committed at least `min_height`.
    Safe {
        /// Committed height every honest running replica reaches by `until_ms`.
        min_height: u64,
    },
    /// This invariant breaks by `until_ms`.
    Violates {
        /// The invariant.
        invariant: Invariant,
    },
}

/// A run as a value. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The file format ([`SCENARIO_FORMAT`]).
    pub format: u32,
    /// A name, for files and reports.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The settings.
    #[serde(default)]
    pub config: SimConfig,
    /// The interventions, in the order they are made.
    #[serde(default)]
    pub interventions: Vec<Timed>,
    /// What it must do (corpus files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expectation>,
}

/// Why a scenario, an intervention or a link was refused. The page shows these; nothing a
/// learner or a link can send makes the simulator panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The settings cannot make a run.
    #[error("invalid settings: {0}")]
    InvalidConfig(String),
    /// An intervention names a replica the run does not have.
    #[error("there is no replica {node} in this run ({instances} replica instances)")]
    UnknownNode {
        /// The number given.
        node: u16,
        /// Instances in the run.
        instances: usize,
    },
    /// A behaviour for a twinned node (it is Byzantine already).
    #[error("node {0} runs twice (Twins), so it is already Byzantine")]
    TwinBehaviour(u16),
    /// Partition groups that name an instance twice.
    #[error("a partition names replica {0} twice")]
    DuplicateInPartition(u16),
    /// A loss rate above 100%.
    #[error("a loss rate is at most 1,000,000 per million, not {0}")]
    BadLoss(u32),
    /// A crash during a step after no action, or after too many to mean a point in one step.
    #[error("a crash during a step comes after 1 to 100 actions, not {0}")]
    BadCrashPoint(u16),
    /// A link from a node to itself.
    #[error("a link joins two different nodes (got {0} → {0})")]
    SelfLink(u16),
    /// Dropping a message that is no longer on the wire.
    #[error("message {0} is not on the wire any more (it arrived or was lost)")]
    MessageGone(u64),
    /// A recorded intervention (or a requested point) the run does not pass through.
    #[error(
        "{what} at step {step}, time {time} is not a point this run passes through (after {steps} steps the clock reads {now})"
    )]
    Unreachable {
        /// What was to happen there.
        what: String,
        /// Its step.
        step: u64,
        /// Its time.
        time: Time,
        /// Steps the run reached.
        steps: u64,
        /// The clock there.
        now: Time,
    },
    /// Interventions out of order.
    #[error("intervention {index} comes before the one above it")]
    OutOfOrder {
        /// Its position in the list.
        index: usize,
    },
    /// A file or link of a format this build does not read.
    #[error(
        "this {what} is format {found}; this build reads format {expected} (was it made by another version?)"
    )]
    UnknownFormat {
        /// "scenario" or "link".
        what: &'static str,
        /// The format found.
        found: String,
        /// The format read here.
        expected: u32,
    },
    /// Not a scenario at all.
    #[error("not a scenario: {0}")]
    Parse(String),
}

impl Intervention {
    /// A short description (errors, reports).
    pub fn label(&self) -> String {
        match self {
            Self::Crash { node } => format!("crash of replica {node}"),
            Self::CrashDuringStep { node, after_actions } => {
                format!("crash of replica {node} after {after_actions} more actions")
            }
            Self::Restart { node } => format!("restart of replica {node}"),
            Self::RestartForgetting { node } => format!("restart of replica {node} forgetting its last vote"),
            Self::Behaviour { node, behaviour: Some(b) } => format!("node {node} turning {}", b.name()),
            Self::Behaviour { node, behaviour: None } => format!("node {node} turning honest"),
            Self::Partition { groups } => format!("partition {groups:?}"),
            Self::Heal => "heal".to_string(),
            Self::Loss { ppm } => format!("loss {ppm} ppm"),
            Self::LinkDelay { from, to, extra_ms, .. } => format!("delay {from} → {to} +{extra_ms} ms"),
            Self::DropMessage { id } => format!("drop of message {id}"),
            Self::LiftRoundPartitions { round } => format!("lift of round partitions up to {round}"),
        }
    }
}

impl SimConfig {
    /// Checks that these settings make a run ([`Simulation::new`] panics on what this refuses).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |why: String| Err(ScenarioError::InvalidConfig(why));
        if self.nodes == 0 || self.nodes > NODES_MAX {
            return bad(format!("a committee has 1 to {NODES_MAX} nodes, not {}", self.nodes));
        }
        if let Err(error) = self.params.validate() {
            return bad(error.to_string());
        }
        if self.net.latency_min_ms > self.net.latency_max_ms {
            return bad("latency_min_ms is above latency_max_ms".to_string());
        }
        if self.net.latency_max_ms > DELAY_MS_MAX {
            return bad(format!("latency_max_ms is at most {DELAY_MS_MAX}"));
        }
        if self.leader_schedule.len() > SCHEDULED_ROUNDS_MAX
            || self.round_partitions.len() > SCHEDULED_ROUNDS_MAX
            || self.round_partition_delays_ms.len() > SCHEDULED_ROUNDS_MAX
        {
            return bad(format!(
                "leader_schedule and round_partitions cover at most {SCHEDULED_ROUNDS_MAX} rounds"
            ));
        }
        if self.round_partition_delays_ms.iter().any(|d| *d > DELAY_MS_MAX) {
            return bad(format!("round_partition_delays_ms are at most {DELAY_MS_MAX}"));
        }
        if self.net.drop_ppm > 1_000_000 {
            return Err(ScenarioError::BadLoss(self.net.drop_ppm));
        }
        // A link is untrusted input: a transaction size the mempool would refuse anyway must not
        // make the simulator allocate it.
        if self.client.transaction_bytes > crate::mempool::TRANSACTION_SIZE_MAX {
            return bad(format!(
                "client.transaction_bytes is at most {} (the mempool's limit)",
                crate::mempool::TRANSACTION_SIZE_MAX
            ));
        }
        let mut named = self.byzantine.iter().map(|(n, _)| n).chain(&self.twins).chain(&self.leader_schedule);
        if named.any(|n| n.0 >= self.nodes) {
            return bad("byzantine, twins and leader_schedule name committee members".to_string());
        }
        let mut twins = self.twins.clone();
        twins.sort();
        twins.dedup();
        if twins.len() != self.twins.len() {
            return bad("a node is twinned once".to_string());
        }
        let instances = usize::from(self.nodes) + self.twins.len();
        if self.round_partitions.iter().flatten().flatten().any(|i| usize::from(*i) >= instances) {
            return bad("round_partitions name replica instances of the run".to_string());
        }
        if self.round_partitions.iter().any(|groups| groups.len() > instances) {
            return bad("a round's partition has at most one group per replica instance".to_string());
        }
        Ok(())
    }
}

impl Simulation {
    /// Checks an intervention against this run without performing it.
    pub fn check(&self, intervention: &Intervention) -> Result<(), ScenarioError> {
        let instances = self.instances();
        let instance = |node: u16| {
            if usize::from(node) < instances {
                Ok(())
            } else {
                Err(ScenarioError::UnknownNode { node, instances })
            }
        };
        let member = |node: u16| {
            if node < self.config().nodes {
                Ok(())
            } else {
                Err(ScenarioError::UnknownNode { node, instances: usize::from(self.config().nodes) })
            }
        };
        match intervention {
            Intervention::Crash { node }
            | Intervention::Restart { node }
            | Intervention::RestartForgetting { node } => instance(*node),
            Intervention::CrashDuringStep { node, after_actions } => {
                instance(*node)?;
                if !(1..=100).contains(after_actions) {
                    return Err(ScenarioError::BadCrashPoint(*after_actions));
                }
                Ok(())
            }
            Intervention::Behaviour { node, .. } => {
                member(*node)?;
                if self.config().twins.contains(&NodeId(*node)) {
                    return Err(ScenarioError::TwinBehaviour(*node));
                }
                Ok(())
            }
            Intervention::Partition { groups } => {
                if groups.len() > instances {
                    return Err(ScenarioError::InvalidConfig(format!(
                        "a partition has at most one group per replica instance ({instances})"
                    )));
                }
                let mut seen = vec![false; instances];
                for i in groups.iter().flatten() {
                    instance(*i)?;
                    if std::mem::replace(&mut seen[usize::from(*i)], true) {
                        return Err(ScenarioError::DuplicateInPartition(*i));
                    }
                }
                Ok(())
            }
            Intervention::Heal | Intervention::LiftRoundPartitions { .. } => Ok(()),
            Intervention::Loss { ppm } if *ppm > 1_000_000 => Err(ScenarioError::BadLoss(*ppm)),
            Intervention::Loss { .. } => Ok(()),
            Intervention::LinkDelay { extra_ms, .. } if *extra_ms > DELAY_MS_MAX => Err(
                ScenarioError::InvalidConfig(format!("a link's extra delay is at most {DELAY_MS_MAX} ms")),
            ),
            Intervention::LinkDelay { from, to, .. } => {
                member(*from)?;
                member(*to)?;
                if from == to {
                    return Err(ScenarioError::SelfLink(*from));
                }
                Ok(())
            }
            Intervention::DropMessage { id } if !self.is_in_flight(*id) => {
                Err(ScenarioError::MessageGone(*id))
            }
            Intervention::DropMessage { .. } => Ok(()),
        }
    }

    /// Performs an intervention now (after checking it: bad input is an error, never a panic).
    pub fn apply(&mut self, intervention: &Intervention) -> Result<(), ScenarioError> {
        self.check(intervention)?;
        match intervention {
            Intervention::Crash { node } => self.crash(NodeId(*node)),
            Intervention::CrashDuringStep { node, after_actions } => {
                self.crash_during_step(NodeId(*node), u32::from(*after_actions));
            }
            Intervention::Restart { node } => self.restart(NodeId(*node)),
            Intervention::RestartForgetting { node } => self.restart_forgetting(NodeId(*node)),
            Intervention::Behaviour { node, behaviour } => self.set_behaviour(NodeId(*node), *behaviour),
            Intervention::Partition { groups } if self.config().twins.is_empty() => {
                self.partition(groups.iter().map(|g| g.iter().map(|i| NodeId(*i)).collect()).collect());
            }
            Intervention::Partition { groups } => {
                self.partition_instances(
                    groups.iter().map(|g| g.iter().map(|i| usize::from(*i)).collect()).collect(),
                );
            }
            Intervention::Heal => self.heal(),
            Intervention::Loss { ppm } => self.set_drop_ppm(*ppm),
            Intervention::LinkDelay { from, to, extra_ms, both_ways } => {
                self.set_link_delay(NodeId(*from), NodeId(*to), *extra_ms);
                if *both_ways {
                    self.set_link_delay(NodeId(*to), NodeId(*from), *extra_ms);
                }
            }
            Intervention::DropMessage { id } => {
                self.drop_message(*id);
            }
            Intervention::LiftRoundPartitions { round } => self.lift_round_partitions(*round),
        }
        Ok(())
    }
}

impl Scenario {
    /// A scenario of these settings with no interventions.
    pub fn new(config: SimConfig) -> Self {
        Self { format: SCENARIO_FORMAT, name: String::new(), config, interventions: Vec::new(), expect: None }
    }

    /// Checks the format, the settings and the order of the interventions (whether each one is
    /// a point of the run shows only when it is played: [`super::Run`]).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.format != SCENARIO_FORMAT {
            return Err(ScenarioError::UnknownFormat {
                what: "scenario",
                found: self.format.to_string(),
                expected: SCENARIO_FORMAT,
            });
        }
        self.config.validate()?;
        for (index, pair) in self.interventions.windows(2).enumerate() {
            let (a, b) = (&pair[0], &pair[1]);
            let ordered = match (a.step, b.step) {
                (Some(sa), Some(sb)) => (sa, a.time) <= (sb, b.time),
                _ => a.time <= b.time,
            };
            if !ordered {
                return Err(ScenarioError::OutOfOrder { index: index + 1 });
            }
        }
        Ok(())
    }

    /// Reads a scenario file (JSON), of this format or of format 1 (see [`SCENARIO_FORMAT`]).
    pub fn from_json(json: &str) -> Result<Self, ScenarioError> {
        let parse = |e: serde_json::Error| ScenarioError::Parse(e.to_string());
        // Read the format first, so that a newer file says so instead of failing on a field.
        let mut value: serde_json::Value = serde_json::from_str(json).map_err(parse)?;
        let found = value.get("format").cloned();
        match found.as_ref().and_then(serde_json::Value::as_u64) {
            Some(format) if format == u64::from(SCENARIO_FORMAT) => {}
            Some(1) => upgrade_from_format_1(&mut value),
            _ => {
                return Err(ScenarioError::UnknownFormat {
                    what: "scenario",
                    found: found.map_or_else(|| "missing".to_string(), |v| v.to_string()),
                    expected: SCENARIO_FORMAT,
                })
            }
        }
        let scenario: Self = serde_json::from_value(value).map_err(parse)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The scenario as pretty JSON (a scenario file).
    pub fn to_json(&self) -> String {
        // Plain data with string keys always serialises.
        serde_json::to_string_pretty(self).expect("a scenario serialises")
    }

    /// The share-link fragment (without `#`): this scenario, shown at `at` (a point of the run,
    /// or `None` for its start). See the module docs.
    pub fn to_link(&self, at: Option<super::Point>) -> String {
        let mut scenario = self.clone();
        scenario.expect = None;
        let json = serde_json::to_vec(&scenario).expect("a scenario serialises");
        let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
        let mut link =
            format!("run={LINK_FORMAT}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(packed));
        if let Some(at) = at {
            // Writing to a String cannot fail.
            let _ = write!(link, "&at={}.{}", at.step, at.time.as_ms());
        }
        link
    }

    /// Reads a share link: a whole URL, a fragment (`#run=1.…`), or the short form
    /// (`seed=5&n=16&rule=3chain`). Returns the scenario and the point to show, if the link
    /// names one.
    pub fn from_link(link: &str) -> Result<(Self, Option<super::Point>), ScenarioError> {
        let parse = |why: String| ScenarioError::Parse(format!("link: {why}"));
        if link.len() > LINK_CHARS_MAX {
            return Err(parse(format!("longer than {LINK_CHARS_MAX} characters")));
        }
        let fragment = link.rsplit_once('#').map_or(link, |(_, f)| f);
        let pairs: Vec<(&str, &str)> = fragment
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let at = match get("at") {
            None => None,
            Some(at) => {
                let (step, time) =
                    at.split_once('.').ok_or_else(|| parse(format!("at={at} is not step.time")))?;
                let step = step.parse().map_err(|_| parse(format!("at={at}: bad step")))?;
                let time = time.parse().map_err(|_| parse(format!("at={at}: bad time")))?;
                Some(super::Point { step, time: Time(time) })
            }
        };
        if let Some(run) = get("run") {
            let (format, payload) = run.split_once('.').unwrap_or((run, ""));
            if format != LINK_FORMAT.to_string() {
                return Err(ScenarioError::UnknownFormat {
                    what: "link",
                    found: format.to_string(),
                    expected: LINK_FORMAT,
                });
            }
            let packed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|e| parse(format!("not base64url: {e}")))?;
            let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, LINK_JSON_MAX)
                .map_err(|e| parse(format!("not a deflate stream: {e:?}")))?;
            let json = String::from_utf8(json).map_err(|_| parse("not UTF-8".to_string()))?;
            return Ok((Self::from_json(&json)?, at));
        }
        if get("iv").is_some() {
            return Err(ScenarioError::UnknownFormat {
                what: "link",
                found: "0 (interventions in iv=)".to_string(),
                expected: LINK_FORMAT,
            });
        }
        // The short form: settings only.
        let number = |key: &str| -> Result<Option<u64>, ScenarioError> {
            get(key)
                .map(|v| v.parse::<u64>().map_err(|_| parse(format!("{key}={v} is not a number"))))
                .transpose()
        };
        let mut config = SimConfig::default();
        if let Some(seed) = number("seed")? {
            config.seed = seed;
        }
        if let Some(n) = number("n")? {
            config.nodes = u16::try_from(n).map_err(|_| parse(format!("n={n}")))?;
        }
        if let Some(ppm) = number("drop")? {
            config.net.drop_ppm = u32::try_from(ppm).map_err(|_| ScenarioError::BadLoss(u32::MAX))?;
        }
        if let Some(rule) = get("rule") {
            config.params.commit_rule = match rule {
                "2chain" | "2" => CommitRule::TwoChain,
                "3chain" | "3" => CommitRule::ThreeChain,
                "1chain" | "1" => CommitRule::UnsafeOneChain,
                other => return Err(parse(format!("rule={other}: one of 2chain, 3chain, 1chain"))),
            };
        }
        if let Some(twins) = get("twins") {
            // URLSearchParams writes the commas as %2C.
            let twins = twins.replace("%2C", ",").replace("%2c", ",");
            config.twins = twins
                .split(',')
                .filter(|t| !t.is_empty())
                .map(|t| t.parse().map(NodeId).map_err(|_| parse(format!("twins: {t}"))))
                .collect::<Result<_, _>>()?;
        }
        let scenario = Self::new(config);
        scenario.validate()?;
        Ok((scenario, at))
    }

    /// A ready `#[test]` that runs this scenario from the corpus folder (the page's Export).
    pub fn rust_test(&self, file_stem: &str) -> String {
        let name: String = file_stem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect();
        format!(
            "// Save the scenario as tests/scenarios/{file_stem}.json: `cargo test -p hotstuff-tests --test corpus`\n\
             // runs every file there. Or keep this test on its own, in tests/tests/:\n\
             #[test]\n\
             fn scenario_{name}() {{\n    \
                 let json = include_str!(\"../scenarios/{file_stem}.json\");\n    \
                 let scenario = hotstuff_core::sim::Scenario::from_json(json).expect(\"a scenario file\");\n    \
                 if let Err(failure) = scenario.check() {{\n        \
                     panic!(\"{{failure}}\");\n    \
                 }}\n\
             }}\n"
        )
    }

    /// Runs the scenario to its expectation's `until_ms` and checks the outcome (and the digest,
    /// if pinned). `Err` says what differed. A scenario without an expectation is an error.
    pub fn check(&self) -> Result<super::Run, String> {
        let expect = self.expect.clone().ok_or("the scenario has no expectation")?;
        let mut run = super::Run::new(self.clone()).map_err(|e| e.to_string())?;
        match expect.until_step {
            Some(step) => run.seek(super::Point { step, time: Time(expect.until_ms) }).map(|_| ()),
            None => run.seek_time(Time(expect.until_ms)).map(|_| ()),
        }
        .map_err(|e| e.to_string())?;
        let sim = run.sim();
        let violation = sim.violation();
        match (&expect.outcome, violation) {
            (Outcome::Safe { .. }, Some(v)) => return Err(format!("expected safety, got {v}")),
            (Outcome::Safe { min_height }, None) => {
                let byzantine = |id: NodeId| {
                    sim.config().byzantine.iter().any(|(n, _)| *n == id) || sim.config().twins.contains(&id)
                };
                let height = sim
                    .views()
                    .iter()
                    .filter(|v| v.up && !v.twin && !byzantine(v.id))
                    .map(|v| v.committed_height)
                    .min()
                    .unwrap_or(0);
                if height < *min_height {
                    return Err(format!(
                        "expected every honest running replica at height {min_height} by {} ms, the lowest is at {height}",
                        expect.until_ms
                    ));
                }
            }
            (Outcome::Violates { invariant }, None) => {
                return Err(format!("expected {invariant} to break by {} ms; it held", expect.until_ms))
            }
            (Outcome::Violates { invariant }, Some(v)) if v.invariant != *invariant => {
                return Err(format!("expected {invariant} to break, got {v}"))
            }
            (Outcome::Violates { .. }, Some(_)) => {}
        }
        if let Some(pinned) = &expect.digest {
            let digest = hex::encode(run.sim().trace_digest().0);
            if *pinned != digest {
                return Err(format!("trace digest at {} ms is {digest}, pinned {pinned}", expect.until_ms));
            }
        }
        Ok(run)
    }
}

impl Behaviour {
    /// The stable name (as in scenario files).
    pub fn name(self) -> &'static str {
        match self {
            Self::Silent => "silent",
            Self::Equivocator => "equivocator",
            Self::DoubleVoter => "double_voter",
            Self::StaleReplayer => "stale_replayer",
            Self::Forger => "forger",
            Self::BatchReplayer => "batch_replayer",
            Self::StaleQcExtender => "stale_qc_extender",
            Self::Forker => "forker",
            Self::QcWithholder => "qc_withholder",
            Self::TimeoutSplitter => "timeout_splitter",
            Self::VoteWithholder => "vote_withholder",
            Self::SyncLiar => "sync_liar",
        }
    }

    /// What it does, in words (the page's menu and narration).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Silent => "silent: it says nothing",
            Self::Equivocator => "equivocator: as leader it sends conflicting blocks to different peers",
            Self::DoubleVoter => "double voter: it votes for every proposal it sees",
            Self::StaleReplayer => "replayer: it re-sends old messages and votes for future rounds",
            Self::Forger => "forger: it sends QCs without quorum and votes with broken signatures",
            Self::BatchReplayer => "batch replayer: as leader it proposes already committed batches again",
            Self::StaleQcExtender => {
                "stale QC extender: as leader after a timeout it extends an older QC than the timeout certificate allows"
            }
            Self::Forker => {
                "forker: with the other forkers it runs a branch for each half of the honest nodes, voting for both"
            }
            Self::QcWithholder => "QC withholder: as leader it shows its proposal and the QC in it to only half of its peers",
            Self::TimeoutSplitter => {
                "timeout splitter: its timeouts report its real highest QC to half of its peers and the genesis QC to the others"
            }
            Self::VoteWithholder => "vote withholder: it votes only in even rounds",
            Self::SyncLiar => {
                "sync liar: it answers requests for blocks with made-up blocks and chains with a gap"
            }
        }
    }
}

/// A run the page offers in its scenario menu; the corpus tests run every one with its
/// expectation, so the page ships only what the tests check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preset {
    /// Stable key (the menu's value).
    pub key: &'static str,
    /// Menu title.
    pub title: &'static str,
    /// What to watch for, in words.
    pub note: &'static str,
    /// The run.
    pub scenario: Scenario,
}

fn at_time(time: u64, intervention: Intervention) -> Timed {
    Timed { step: None, time: Time(time), intervention }
}

/// A preset's expectation: safe, with every running node at `min_height` or above by `until_ms`.
fn safe_by(until_ms: u64, min_height: crate::types::Height) -> Option<Expectation> {
    Some(Expectation { until_ms, until_step: None, outcome: Outcome::Safe { min_height }, digest: None })
}

/// Node `node` crashes at `crash_ms` and restarts from its store at `restart_ms`.
fn down_between(node: u16, crash_ms: u64, restart_ms: u64) -> Vec<Timed> {
    vec![at_time(crash_ms, Intervention::Crash { node }), at_time(restart_ms, Intervention::Restart { node })]
}

/// `nodes` replicas from `seed` with leaders in turn (n0, n1, …): the presets, lessons and
/// challenges whose texts name who leads which round.
pub(crate) fn in_turn(nodes: u16, seed: u64) -> SimConfig {
    let params =
        crate::Parameters { leader_election: crate::LeaderElection::RoundRobin, ..Default::default() };
    SimConfig { nodes, seed, params, ..SimConfig::default() }
}

fn preset(key: &'static str, title: &'static str, note: &'static str, config: SimConfig) -> Preset {
    let mut scenario = Scenario::new(config);
    scenario.name = key.to_string();
    Preset { key, title, note, scenario }
}

/// The page's scenario presets (see [`Preset`]).
///
/// The twin presets make the Byzantine bound visible. A twin is a second instance of a node with
/// the same key (the Twins method, arXiv 2004.10617), so a twinned node equivocates and
/// double-votes without any special code. With n = 4, f = 1 and quorums of 3: one twin cannot
/// give both sides of a split a quorum, so safety holds; two twins (f + 1) make {n0, n1, n2} and
/// {n0′, n1′, n3} both quorums, and the honest n2 and n3 commit different blocks.
pub fn presets() -> Vec<Preset> {
    // Leaders in turn: the notes name who leads which round, and a crashed node's turn failing
    // (with the round before it) is what the crash presets show.
    let four = in_turn(4, 1);
    let mut f_twin = preset(
        "f-twin",
        "f Byzantine (one twin, split): safe",
        "f = 1 Byzantine node: n0 runs twice with one key (n0 and n0′, one on each side of a split). \
         {n0, n1, n2} is a quorum of 3; {n0′, n3} is not. The quorum side commits, the other stalls, \
         and no two honest nodes disagree.",
        SimConfig { twins: vec![NodeId(0)], ..four.clone() },
    );
    f_twin.scenario.interventions =
        vec![at_time(0, Intervention::Partition { groups: vec![vec![0, 1, 2], vec![3, 4]] })];
    f_twin.scenario.expect = safe_by(10_000, 0);

    let mut f1_twins = preset(
        "f1-twins",
        "f + 1 Byzantine (two twins, split): agreement breaks",
        "f + 1 = 2 Byzantine nodes: n0 and n1 each run twice (n0′, n1′ on the other side of a split). \
         Both {n0, n1, n2} and {n0′, n1′, n3} are quorums of 3, so each side certifies and commits its \
         own blocks. Within seconds one side certifies a block that does not extend what the other side \
         committed at height 1, and the safety panel reports it (the commit-rule oracle sees the fork before \
         a second honest node commits on the other branch).",
        SimConfig { twins: vec![NodeId(0), NodeId(1)], ..four.clone() },
    );
    f1_twins.scenario.interventions =
        vec![at_time(0, Intervention::Partition { groups: vec![vec![0, 1, 2], vec![3, 4, 5]] })];
    f1_twins.scenario.expect = Some(Expectation {
        until_ms: 5_000,
        until_step: None,
        outcome: Outcome::Violates { invariant: Invariant::CertifiedExtendsCommitted },
        digest: None,
    });

    let mut f1_forkers = preset(
        "f1-forkers",
        "f + 1 Byzantine forkers (no twins): agreement breaks",
        "f + 1 = 2 Byzantine nodes, n0 and n1, run the forker behaviour and lead rounds in turn. They split \
         the honest nodes into halves, {n2} and {n3}, and send each half its own block, voting for both: \
         {n0, n1, n2} and {n0, n1, n3} are both quorums of 3, so each block is certified. The next forker \
         leader builds a block on each half's QC, the one after certifies both, and each half commits its \
         own block at the same height. No rule is broken by an honest node: the bound f < n/3 is what \
         fails. With one forker (f) the smaller half plus the forker is 2 votes, short of a quorum.",
        SimConfig {
            byzantine: vec![(NodeId(0), Behaviour::Forker), (NodeId(1), Behaviour::Forker)],
            leader_schedule: (0..30).map(|round| NodeId(round % 2)).collect(),
            ..four.clone()
        },
    );
    f1_forkers.scenario.expect = Some(Expectation {
        until_ms: 5_000,
        until_step: None,
        outcome: Outcome::Violates { invariant: Invariant::CertifiedExtendsCommitted },
        digest: None,
    });

    let mut leader_crash = preset(
        "leader-crash",
        "A node crashes, then restarts",
        "n2 crashes at 2 s. The three others are still a quorum (n − f = 3), so they keep committing, but \
         every round n2 should lead times out, and so does the round before it (its votes go to n2, the \
         next leader). At 8 s n2 restarts from its store, fetches what it missed, and joins in again.",
        four.clone(),
    );
    leader_crash.scenario.interventions = down_between(2, 2_000, 8_000);
    leader_crash.scenario.expect = safe_by(15_000, 20);

    let mut split = preset(
        "split-2-2",
        "A 2–2 split, then heal",
        "At 2 s the network splits into {n0, n1} and {n2, n3}. Neither side holds a quorum of 3, so no \
         block is certified, and neither side gathers the 3 timeouts of a timeout certificate either: \
         everyone gives up on the same round and stays in it, saying so again every round timeout. At \
         8 s the network heals, a timeout certificate moves everyone to the next round, and commits \
         resume.",
        four.clone(),
    );
    split.scenario.interventions = vec![
        at_time(2_000, Intervention::Partition { groups: vec![vec![0, 1], vec![2, 3]] }),
        at_time(8_000, Intervention::Heal),
    ];
    split.scenario.expect = safe_by(20_000, 20);

    let mut byzantine = preset(
        "equivocator",
        "An equivocating leader (f = 1)",
        "n1 is Byzantine: as leader it sends one block to half of its peers and a conflicting one to \
         the others. Honest nodes vote for at most one block per round, so at most one of the two can \
         gather a quorum: safety holds and the others keep committing.",
        SimConfig { byzantine: vec![(NodeId(1), Behaviour::Equivocator)], ..four.clone() },
    );
    byzantine.scenario.expect = safe_by(15_000, 20);

    let mut catch_up = preset(
        "catch-up",
        "A node down for a long stretch catches up",
        "n3 crashes at 1 s and stays down while the three others commit (slowly: every round n3 \
         should lead, and the one before it, time out). At 30 s it restarts from its store, dozens of \
         blocks behind. Fetching them one by one, walking back from the newest, would take a round trip \
         each; instead it asks a peer for the committed chain above its own last commit, up to 64 \
         blocks at a time, checks each block's signature and QC, commits them in order, and fetches \
         the last few uncommitted blocks one by one. Then it votes again.",
        four.clone(),
    );
    catch_up.scenario.interventions = down_between(3, 1_000, 30_000);
    catch_up.scenario.expect = safe_by(35_000, 30);

    let pruned = crate::Parameters {
        retain_heights: crate::params::RETAIN_HEIGHTS_MIN,
        ..crate::Parameters::default()
    };
    let mut checkpoint = preset(
        "checkpoint",
        "A node away longer than its peers keep history installs a checkpoint",
        "Each store keeps only the last 1,000 committed heights (retain_heights) and prunes the rest. \
         n3 crashes at 1 s; leaders are drawn by reputation, so the three others stop choosing it and \
         commit at full speed, about 1,200 blocks by 70 s, when n3 restarts at height 20 or so. Nobody \
         holds the blocks above its last commit any more: a peer sends its oldest range instead. n3 \
         checks it is one chain whose rounds prove its first block committed (a certified block whose \
         certified child is in the next round commits it, and everything below), takes that block as \
         its last commit, and catches up by ranges from there. It never holds the heights it skipped.",
        SimConfig { params: pruned, ..four.clone() },
    );
    checkpoint.scenario.interventions = down_between(3, 1_000, 70_000);
    checkpoint.scenario.expect = safe_by(75_000, 1_200);

    vec![leader_crash, split, catch_up, checkpoint, byzantine, f_twin, f1_twins, f1_forkers]
}
