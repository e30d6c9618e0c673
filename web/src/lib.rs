//! The browser host: a whole HotStuff committee running in one page.
//!
//! [`WebSim`] wraps the core's [`Run`] (a [`Scenario`] being played) for JavaScript. The
//! protocol runs here, in wasm, and so does everything that defines a run: its settings, the
//! learner's interventions, rewind and fork, the share link, the presets, the names of
//! behaviours, commit rules and invariants. The page only draws what it is handed (views of the
//! replicas, messages in flight, the block tree, narrated events) and forwards the learner's
//! actions as typed interventions (`{kind: "crash", node: 2}`, the scenario format's JSON).
//! Because the simulator is the same code as `hotstuff sim`, a page run replays natively with
//! the same trace digest (`hotstuff sim --link URL`).
//!
//! Time is driven by the page: each animation frame asks [`WebSim::advance_to`] for a slice of
//! virtual time with a step budget, so that one frame never blocks for long. Nothing the page
//! passes can panic the simulator: bad input comes back as a JavaScript `Error` with the
//! reason.

use hotstuff_core::codec::{self, WireMessage};
use hotstuff_core::event::{Awaited, BlockInfo, Event, Observed};
use hotstuff_core::sim::{
    challenge, challenges, lesson, lessons, presets, Behaviour, Challenge, DropReason, Fault, Intervention,
    Invariant, Point, ResolvedLesson, Run, Scenario, Seek, SimConfig, TraceEntry,
};
use hotstuff_core::{CommitRule, Digest, NodeId, Time};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use wasm_bindgen::prelude::*;

/// Events handed to the page per call are capped: a page left in the background must not
/// receive a million lines at once when it comes back.
const EVENTS_PER_TAKE_MAX: usize = 5_000;

/// Narrated events kept for the page after a rebuild (the most recent ones).
const EVENTS_KEPT_MAX: usize = 20_000;

/// Blocks kept for the block tree (the most recent ones by height).
const TREE_BLOCKS_MAX: usize = 400;

/// Messages remembered for the space-time diagram (the most recent ones).
const HISTORY_MESSAGES_MAX: usize = 5_000;

/// The commit rules, by stable name, with the page's labels.
const COMMIT_RULES: [(CommitRule, &str, &str); 3] = [
    (CommitRule::TwoChain, "two_chain", "2-chain (DiemBFT v4, Jolteon)"),
    (CommitRule::ThreeChain, "three_chain", "3-chain (HotStuff paper)"),
    (CommitRule::UnsafeOneChain, "unsafe_one_chain", "1-chain (unsafe: watch it fork)"),
];

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

#[derive(Serialize)]
struct Named {
    name: &'static str,
    title: &'static str,
}

/// The page's menus, from the core: `{behaviours, commit_rules, invariants, presets}`, each a
/// list of `{name, title}` (presets: `{key, title, note}`). The page shows these names and
/// sends them back; it holds no list of its own.
#[wasm_bindgen]
pub fn catalogue() -> JsValue {
    #[derive(Serialize)]
    struct PresetEntry {
        key: &'static str,
        title: &'static str,
        note: &'static str,
    }
    #[derive(Serialize)]
    struct LessonEntry {
        key: &'static str,
        title: &'static str,
        summary: &'static str,
    }
    #[derive(Serialize)]
    struct ChallengeEntry {
        key: &'static str,
        title: &'static str,
        goal: &'static str,
    }
    #[derive(Serialize)]
    struct Catalogue {
        behaviours: Vec<Named>,
        commit_rules: Vec<Named>,
        invariants: Vec<Named>,
        presets: Vec<PresetEntry>,
        lessons: Vec<LessonEntry>,
        challenges: Vec<ChallengeEntry>,
    }
    to_js(&Catalogue {
        behaviours: Behaviour::ALL.iter().map(|b| Named { name: b.name(), title: b.describe() }).collect(),
        commit_rules: COMMIT_RULES.iter().map(|(_, name, title)| Named { name, title }).collect(),
        invariants: Invariant::ALL.iter().map(|i| Named { name: i.name(), title: i.title() }).collect(),
        presets: presets()
            .into_iter()
            .map(|p| PresetEntry { key: p.key, title: p.title, note: p.note })
            .collect(),
        lessons: lessons()
            .into_iter()
            .map(|l| LessonEntry { key: l.key, title: l.title, summary: l.summary })
            .collect(),
        challenges: challenges()
            .into_iter()
            .map(|c| ChallengeEntry { key: c.key, title: c.title, goal: c.goal_text })
            .collect(),
    })
}

/// One narrated event for the page.
#[derive(Debug, Clone, Serialize)]
struct UiEvent {
    /// Virtual time, ms.
    time: u64,
    /// The step it belongs to: `(step, time)` is a point the run passed through, to rewind to.
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
    /// The point it was first seen at (proposed or received): where a click rewinds to.
    step: u64,
    time: u64,
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

/// The settings of the run and its state that the page shows (it keeps none of its own).
#[derive(Debug, Serialize)]
struct UiSettings {
    seed: u64,
    nodes: u16,
    instances: usize,
    commit_rule: &'static str,
    drop_ppm: u32,
    twins: Vec<u16>,
    /// The behaviour of each node (`null`: honest).
    behaviours: Vec<Option<&'static str>>,
    /// Directed links with extra delay: `[from, to, ms]`.
    link_delays: Vec<(u16, u16, u64)>,
    /// The preset this run started from, if any.
    preset: String,
}

/// A violation for the safety panel.
#[derive(Debug, Serialize)]
struct UiViolation {
    /// The invariant's stable name (as in [`catalogue`]).
    invariant: &'static str,
    step: u64,
    time: u64,
    /// The whole report.
    report: String,
}

/// A committee simulation, for JavaScript.
#[wasm_bindgen]
#[derive(Debug)]
pub struct WebSim {
    run: Run,
    /// Derived from the trace for the displays; started again when the run is rebuilt.
    /// Each block seen, with the point (step, time) it was first seen at.
    blocks: BTreeMap<Digest, (BlockInfo, u64, u64)>,
    certified: BTreeMap<Digest, ()>,
    committed: BTreeMap<Digest, ()>,
    /// Narration lines not yet taken by the page ([`WebSim::take_events`]).
    pending: VecDeque<UiEvent>,
    /// The point `(step, time)` of the last narration line that went to `pending`, since the
    /// run last forked. The page keeps every line it was given, so a rewind leaves it the
    /// recorded future too (shown as such: the run plays it again unless the learner
    /// intervenes). Points, not steps: an intervention recorded by time alone is narrated at the
    /// step of the event before it, and a later time.
    narrated: Option<(u64, u64)>,
    /// While a rebuilt run plays again what the page was already told: lines up to this point
    /// are not given again.
    replaying: Option<(u64, u64)>,
    /// Set by an intervention: the page drops its lines after this point (the future it showed
    /// is no longer this run's; see [`WebSim::take_narration_cut`]).
    cut: Option<(u64, u64)>,
    history: VecDeque<UiMessage>,
    /// Set when a seek rebuilt the run (see [`WebSim::take_rebuilt`]).
    rebuilt: bool,
    opened_at_point: bool,
    /// The guided lesson this run is, with its stops found ([`WebSim::from_lesson`]).
    lesson: Option<(ResolvedLesson, Scenario)>,
    /// A point the run plays up to and stops at (a lesson's next stop; see
    /// [`WebSim::lesson_go`]).
    stop: Option<Point>,
    /// Set when the run reached `stop` (see [`WebSim::take_stopped`]).
    stopped: bool,
    /// The challenge this run is ([`WebSim::from_challenge`]).
    challenge: Option<Challenge>,
    /// The network as the trace read so far left it (crashed nodes; each node's side of a
    /// split, `None` when whole): what the narration of an event says of other nodes is what
    /// held when it happened, not when the page collected it.
    down: BTreeSet<u16>,
    sides: Option<BTreeMap<u16, usize>>,
    /// Replicas the honest ones caught lying, with the latest lie and who caught it (see
    /// [`WebSim::caught`]).
    caught: BTreeMap<u16, String>,
}

fn js_error(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

#[wasm_bindgen]
impl WebSim {
    /// A run from a share link (the page's `location.hash`, with or without `#`): the full
    /// `run=1.…` form, or the short `seed=5&n=16&rule=3chain` form. An empty link gives the
    /// default run. A link this build cannot read is an `Error` saying why.
    pub fn from_link(link: &str) -> Result<Self, JsError> {
        let link = link.trim_start_matches('#');
        let (scenario, at) = if link.is_empty() {
            (Scenario::new(SimConfig::default()), None)
        } else {
            Scenario::from_link(link).map_err(js_error)?
        };
        let mut web = Self::from_scenario(scenario)?;
        if let Some(at) = at {
            web.seek(at.step as f64, at.time.as_ms() as f64)?;
            web.opened_at_point = true;
        }
        Ok(web)
    }

    /// Whether the run was opened at a point a shared link named (the page then shows it
    /// paused).
    pub fn opened_at_point(&self) -> bool {
        self.opened_at_point
    }

    /// The scenario as JSON: `{format, name, config, interventions: [{step, time, kind, …}]}`
    /// (the recorded timeline, including interventions past the current point until a fork).
    pub fn scenario_json(&self) -> String {
        self.run.scenario().to_json()
    }

    /// A fresh run of `nodes` replicas from `seed` under a commit rule (by name, as in
    /// [`catalogue`]).
    pub fn from_settings(nodes: u16, seed: f64, commit_rule: &str) -> Result<Self, JsError> {
        let rule = COMMIT_RULES
            .iter()
            .find(|(_, name, _)| *name == commit_rule)
            .map(|(rule, _, _)| *rule)
            .ok_or_else(|| js_error(format!("unknown commit rule {commit_rule}")))?;
        let mut config = SimConfig { nodes, seed: seed.max(0.0) as u64, ..SimConfig::default() };
        config.params.commit_rule = rule;
        Self::from_scenario(Scenario::new(config))
    }

    /// A preset from [`catalogue`], by key.
    pub fn from_preset(key: &str) -> Result<Self, JsError> {
        let preset = presets()
            .into_iter()
            .find(|p| p.key == key)
            .ok_or_else(|| js_error(format!("no preset {key}")))?;
        Self::from_scenario(preset.scenario)
    }

    /// A guided lesson (from [`catalogue`], by key): its run, with every stop of its script found
    /// in it ([`hotstuff_core::sim::Lesson::resolve`]).
    pub fn from_lesson(key: &str) -> Result<Self, JsError> {
        let lesson = lesson(key).ok_or_else(|| js_error(format!("no lesson {key}")))?;
        let resolved = lesson.resolve().map_err(js_error)?;
        let mut web = Self::build(lesson.scenario.clone())?;
        web.lesson = Some((resolved, lesson.scenario));
        Ok(web)
    }

    /// The lesson this run is: `{key, title, summary, steps: [{title, text, at: {point: {step,
    /// time}, node, to, round, block, height, digest, chain, fault_nodes}, focus: [node…]}],
    /// question: {prompt, choices, explanation}}`, or `null`.
    pub fn lesson(&self) -> JsValue {
        self.lesson.as_ref().map_or(JsValue::NULL, |(resolved, _)| to_js(resolved))
    }

    /// Whether the run is still the lesson's: an intervention forks it, and the lesson's stops
    /// after the fork are then not this run's (the page opens the lesson again to go on).
    pub fn lesson_intact(&self) -> bool {
        self.lesson
            .as_ref()
            .is_some_and(|(_, scenario)| self.run.scenario().interventions == scenario.interventions)
    }

    /// Whether choice `index` answers the lesson's question (judged here, from the run).
    pub fn lesson_answer(&self, index: u32) -> bool {
        self.lesson.as_ref().is_some_and(|(resolved, _)| resolved.check(index as usize))
    }

    /// Goes to the lesson's stop `index`. Ahead of the current point: the run plays up to it
    /// and stops there (returns true: the page plays, and [`WebSim::take_stopped`] tells it when
    /// to pause). At or behind it: the run goes there at once (returns false).
    pub fn lesson_go(&mut self, index: u32) -> Result<bool, JsError> {
        let target = self.lesson_stop(index).map_err(js_error)?;
        if self.run.point() < target {
            self.stop = Some(target);
            self.stopped = false;
            return Ok(true);
        }
        self.stop = None;
        let how = self.run.seek(target);
        self.after_seek(how)?;
        Ok(false)
    }

    /// Where the lesson's stop `index` is, if the run is still the lesson's.
    fn lesson_stop(&self, index: u32) -> Result<Point, String> {
        let target = self
            .lesson
            .as_ref()
            .and_then(|(resolved, _)| resolved.steps.get(index as usize))
            .map(|step| step.at.point)
            .ok_or_else(|| format!("no lesson step {index}"))?;
        if !self.lesson_intact() {
            return Err(
                "the run has left the lesson (an intervention forked it): open the lesson again".into()
            );
        }
        Ok(target)
    }

    /// Whether the run reached the stop [`WebSim::lesson_go`] set since the last call.
    pub fn take_stopped(&mut self) -> bool {
        std::mem::take(&mut self.stopped)
    }

    /// Forgets the stop (the learner took over: played on, scrubbed, intervened).
    pub fn clear_stop(&mut self) {
        self.stop = None;
    }

    /// A challenge (from [`catalogue`], by key): its starting run.
    pub fn from_challenge(key: &str) -> Result<Self, JsError> {
        let found = challenge(key).ok_or_else(|| js_error(format!("no challenge {key}")))?;
        let mut web = Self::build(found.scenario.clone())?;
        web.challenge = Some(found);
        Ok(web)
    }

    /// The challenge this run is: `{key, title, goal, hints: [text…]}`, or `null`.
    pub fn challenge(&self) -> JsValue {
        #[derive(Serialize)]
        struct UiChallenge<'a> {
            key: &'a str,
            title: &'a str,
            goal: &'a str,
            hints: &'a [&'static str],
        }
        self.challenge.as_ref().map_or(JsValue::NULL, |c| {
            to_js(&UiChallenge { key: c.key, title: c.title, goal: c.goal_text, hints: &c.hints })
        })
    }

    /// The judge's verdict on the run so far: `{solved, text}`, or `null` outside a challenge.
    pub fn challenge_verdict(&self) -> JsValue {
        self.challenge.as_ref().map_or(JsValue::NULL, |c| to_js(&c.judge(&self.run)))
    }

    /// A run from a scenario file's JSON (the format of `tests/scenarios/`).
    pub fn from_scenario_json(json: &str) -> Result<Self, JsError> {
        Self::from_scenario(Scenario::from_json(json).map_err(js_error)?)
    }

    /// Virtual time, ms.
    pub fn now(&self) -> f64 {
        self.run.sim().now().as_ms() as f64
    }

    /// Steps taken so far.
    pub fn steps(&self) -> f64 {
        self.run.sim().stats().steps as f64
    }

    /// The furthest virtual time reached since the run last forked (the time slider's end).
    pub fn horizon_ms(&self) -> f64 {
        self.run.horizon().time.as_ms() as f64
    }

    /// Committee size.
    pub fn size(&self) -> u16 {
        self.run.sim().config().nodes
    }

    /// The run's settings and the state the page shows of them: `{seed, nodes, instances,
    /// commit_rule, drop_ppm, twins, behaviours, link_delays, preset}`.
    pub fn settings(&self) -> JsValue {
        let sim = self.run.sim();
        let config = sim.config();
        let rule = COMMIT_RULES
            .iter()
            .find(|(r, _, _)| *r == config.params.commit_rule)
            .map_or("two_chain", |r| r.1);
        to_js(&UiSettings {
            seed: config.seed,
            nodes: config.nodes,
            instances: sim.instances(),
            commit_rule: rule,
            drop_ppm: sim.drop_ppm(),
            twins: config.twins.iter().map(|t| t.0).collect(),
            behaviours: (0..config.nodes).map(|n| sim.behaviour(NodeId(n)).map(Behaviour::name)).collect(),
            link_delays: sim.link_delays().into_iter().map(|(f, t, ms)| (f.0, t.0, ms)).collect(),
            preset: self.run.scenario().name.clone(),
        })
    }

    /// Processes the next event (and any recorded intervention due before it). Returns false
    /// if nothing is left or an invariant broke.
    pub fn step(&mut self) -> Result<bool, JsError> {
        let stepped = self.run.step().map_err(js_error)?;
        self.collect();
        Ok(stepped)
    }

    /// Plays events up to `until_ms` with at most `max_steps` steps; true once `until_ms` is
    /// reached. Stops (returning true) at a violation: the safety panel shows it.
    pub fn advance_to(&mut self, until_ms: f64, max_steps: u32) -> Result<bool, JsError> {
        let mut until = Time(until_ms.max(0.0) as u64);
        let mut max_steps = u64::from(max_steps);
        // A stop set by `lesson_go`: never past it.
        if let Some(stop) = self.stop {
            until = until.min(stop.time);
            max_steps = max_steps.min(stop.step.saturating_sub(self.run.point().step));
        }
        let reached = self.run.advance_to(until, max_steps).map_err(js_error)?;
        if let Some(stop) = self.stop.filter(|stop| self.run.point().step >= stop.step) {
            self.stop = None;
            self.stopped = true;
            if self.run.point() < stop {
                self.run.seek(stop).map_err(js_error)?;
            }
            self.collect();
            return Ok(true);
        }
        self.collect();
        Ok(reached)
    }

    /// Goes to a point the run passed through: a narration line's `(step, time)`. Backward
    /// rebuilds the run (the narration then starts again: see [`WebSim::take_events`]).
    pub fn seek(&mut self, step: f64, time_ms: f64) -> Result<(), JsError> {
        let point = Point { step: step.max(0.0) as u64, time: Time(time_ms.max(0.0) as u64) };
        let how = self.run.seek(point);
        self.after_seek(how)
    }

    /// Goes to a virtual time (the time slider): every event up to it played.
    pub fn seek_time(&mut self, time_ms: f64) -> Result<(), JsError> {
        let how = self.run.seek_time(Time(time_ms.max(0.0) as u64));
        self.after_seek(how)
    }

    /// Whether the last seek rebuilt the run and the page must clear what it drew from the
    /// narration so far. Reading it resets it.
    pub fn take_rebuilt(&mut self) -> bool {
        std::mem::take(&mut self.rebuilt)
    }

    /// Makes an intervention now, given as JSON: `{"kind": "crash", "node": 2}`, `{"kind":
    /// "partition", "groups": [[0, 1], [2, 3]]}`, `{"kind": "behaviour", "node": 1, "behaviour":
    /// "equivocator"}`, … (the scenario format, see `hotstuff_core::sim::Intervention`). The recorded future after this
    /// point is dropped (the run forks). Bad input is an `Error` and changes nothing.
    pub fn intervene(&mut self, intervention: &str) -> Result<(), JsError> {
        // JSON text, not a JS object: one deserialiser (serde_json's, which scenario files use
        // anyway) instead of a second copy of every scenario type's code in the wasm.
        let intervention: Intervention = serde_json::from_str(intervention).map_err(js_error)?;
        let result = self.run.intervene(intervention).map_err(js_error);
        if result.is_ok() {
            // The run forks here: what the page was told of the recorded future is not this run's.
            // (The point is the one before the intervention's own line.)
            let at = (self.run.point().step, self.run.point().time.as_ms());
            self.pending.retain(|line| (line.step, line.time) <= at);
            self.narrated = self.narrated.map(|told| told.min(at));
            self.replaying = None;
            self.cut = Some(at);
        }
        self.collect();
        result
    }

    /// After an intervention: the point `[step, time]` after which the page must drop the
    /// narration lines it holds (the recorded future it showed is gone), once; `undefined`
    /// otherwise.
    pub fn take_narration_cut(&mut self) -> Option<Vec<f64>> {
        self.cut.take().map(|(step, time)| vec![step as f64, time as f64])
    }

    /// The share link's fragment (without `#`), at the current point or at the start.
    pub fn link(&self, at_current_point: bool) -> String {
        self.run.scenario().to_link(at_current_point.then(|| self.run.point()))
    }

    /// The run as a scenario file (JSON) with its outcome so far as the expectation (safe at the
    /// lowest honest height reached, or the invariant that broke; the digest pinned): what the
    /// page's Export downloads.
    pub fn export_json(&self) -> String {
        let mut scenario = self.run.scenario().clone();
        let sim = self.run.sim();
        let point = self.run.point();
        scenario.interventions.retain(|t| t.step.is_none_or(|s| (s, t.time) <= (point.step, point.time)));
        let outcome = match sim.violation() {
            Some(v) => hotstuff_core::sim::Outcome::Violates { invariant: v.invariant },
            None => {
                let config = sim.config();
                let honest = |id: NodeId| !config.twins.contains(&id) && sim.behaviour(id).is_none();
                let height = sim
                    .views()
                    .iter()
                    .filter(|v| v.up && !v.twin && honest(v.id))
                    .map(|v| v.committed_height)
                    .min()
                    .unwrap_or(0);
                hotstuff_core::sim::Outcome::Safe { min_height: height }
            }
        };
        let until_ms = sim.violation().map_or(point.time, |v| v.time).as_ms();
        // The page may stand between two events of one millisecond: pin the step too.
        let until_step = sim.violation().is_none().then_some(point.step);
        let digest = sim.violation().is_none().then(|| hex(&sim.trace_digest().0));
        scenario.expect = Some(hotstuff_core::sim::Expectation { until_ms, until_step, outcome, digest });
        scenario.to_json()
    }

    /// A ready `#[test]` for an exported scenario saved as `tests/scenarios/<file_stem>.json`.
    pub fn export_test(&self, file_stem: &str) -> String {
        self.run.scenario().rust_test(file_stem)
    }

    /// Runs (without animation) until every running replica committed `height`, or `max_ms` of
    /// virtual time passed: exactly what `hotstuff sim --blocks <height>` does.
    pub fn run_until_height(&mut self, height: f64, max_ms: f64) -> Result<bool, JsError> {
        let height = height as u64;
        let reached =
            self.run.run_until(|s| s.min_committed_height() >= height, max_ms as u64).map_err(js_error)?;
        self.collect();
        Ok(reached)
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
        to_js(&self.run.sim().views())
    }

    /// Replicas caught lying so far: `[{node, what}]`, `what` the latest lie ("caught by n1:
    /// signed two different messages in round 4 (proposal)").
    pub fn caught(&self) -> JsValue {
        #[derive(Serialize)]
        struct Caught<'a> {
            node: u16,
            what: &'a str,
        }
        let caught: Vec<Caught<'_>> =
            self.caught.iter().map(|(node, what)| Caught { node: *node, what }).collect();
        to_js(&caught)
    }

    /// Messages on the wire: `[{id, from, to, kind, round, sent, arrives, from_instance,
    /// to_instance}]` (the instances differ from the nodes only for twins).
    pub fn in_flight(&self) -> JsValue {
        let messages: Vec<_> = self.run.sim().in_flight().collect();
        to_js(&messages)
    }

    /// The recent block tree: `[{digest, parent, round, height, author, certified, committed, ...}]`.
    pub fn blocks(&self) -> JsValue {
        let blocks: Vec<UiBlock> = self
            .blocks
            .iter()
            .map(|(digest, (b, step, time))| UiBlock {
                step: *step,
                time: *time,
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
        to_js(self.run.sim().stats())
    }

    /// The channels between one replica's actors: `[{channel, from, to, depth, peak, total,
    /// capacity}]` (`depth`/`peak` null for the host channels, whose host end is not counted).
    /// Each call restarts the peaks, so `peak` is the deepest each queue got since the previous
    /// call: the simulator drains the queues within every event, so between two frames the
    /// current depth is almost always 0, and the peak is what shows the queueing.
    pub fn channel_depths(&self, node: u16) -> JsValue {
        let instance = usize::from(node).min(self.run.sim().instances() - 1);
        to_js(&self.run.sim().channel_depths(instance, true))
    }

    /// The partition group of each replica.
    pub fn groups(&self) -> Vec<u16> {
        self.run.sim().partition_groups().to_vec()
    }

    /// The fingerprint of the run so far (hex).
    pub fn trace_digest(&self) -> String {
        hex(&self.run.sim().trace_digest().0)
    }

    /// The first broken invariant, if any: `{invariant, step, time, report}` (`invariant` is a
    /// stable name from [`catalogue`]), or `null`.
    pub fn violation(&self) -> JsValue {
        match self.run.sim().violation() {
            None => JsValue::NULL,
            Some(v) => to_js(&UiViolation {
                invariant: v.invariant.name(),
                step: v.step,
                time: v.time.as_ms(),
                report: v.to_string(),
            }),
        }
    }

    /// The signature status of a message in flight, as its receiver will judge it: the frame is
    /// decoded and checked with the core's own `ConsensusMessage::verify` against the committee
    /// (signatures, quorums, leaders). Returns "valid", or the error's text (for example "bad
    /// signature from n1" for a forger's vote). Mempool traffic carries no signature (a batch is
    /// vouched for by the digest in a signed block) and says so; a message that already arrived
    /// or was lost gives "gone".
    pub fn signature_status(&self, id: f64) -> String {
        let sim = self.run.sim();
        let Some(bytes) = sim.message_bytes(id as u64) else {
            return "gone".to_string();
        };
        match codec::decode(&bytes) {
            Ok(WireMessage::Consensus(message)) => match message.verify(sim.committee()) {
                Ok(()) => "valid".to_string(),
                Err(error) => error.to_string(),
            },
            Ok(WireMessage::Mempool(_)) => "unsigned (mempool traffic)".to_string(),
            Err(error) => error.to_string(),
        }
    }
}

impl WebSim {
    fn from_scenario(scenario: Scenario) -> Result<Self, JsError> {
        let mut web = Self::build(scenario)?;
        // A link to a challenge's run (its settings, with the learner's interventions: a
        // solution) opens the challenge.
        if let Some(found) = web.run.scenario().name.strip_prefix("challenge:").and_then(challenge) {
            let mut config = found.scenario.config.clone();
            config.record_trace = true;
            let own = &found.scenario.interventions;
            if config == web.run.scenario().config && web.run.scenario().interventions.starts_with(own) {
                web.challenge = Some(found);
            }
        }
        // A link to a lesson's run (its scenario, unchanged) opens the lesson.
        if let Some(found) = web.run.scenario().name.strip_prefix("lesson:").and_then(lesson) {
            let mut same = found.scenario.clone();
            same.config.record_trace = true;
            if same == *web.run.scenario() {
                if let Ok(resolved) = found.resolve() {
                    web.lesson = Some((resolved, found.scenario));
                }
            }
        }
        Ok(web)
    }

    fn build(mut scenario: Scenario) -> Result<Self, JsError> {
        // The page shows every event; the trace is a host matter and leaves the digest alone.
        scenario.config.record_trace = true;
        let mut web = Self {
            run: Run::new(scenario).map_err(js_error)?,
            blocks: BTreeMap::new(),
            certified: BTreeMap::new(),
            committed: BTreeMap::new(),
            pending: VecDeque::new(),
            narrated: None,
            replaying: None,
            cut: None,
            history: VecDeque::new(),
            rebuilt: false,
            opened_at_point: false,
            lesson: None,
            stop: None,
            stopped: false,
            down: BTreeSet::new(),
            sides: None,
            caught: BTreeMap::new(),
            challenge: None,
        };
        web.collect();
        Ok(web)
    }

    fn after_seek(&mut self, how: Result<Seek, hotstuff_core::sim::ScenarioError>) -> Result<(), JsError> {
        // Even a refused seek may have rebuilt the run on its way.
        if !matches!(how, Ok(Seek::Forward)) {
            self.blocks.clear();
            self.certified.clear();
            self.committed.clear();
            self.history.clear();
            self.down.clear();
            self.sides = None;
            self.caught.clear();
            // The narration the page holds (and what it has not taken yet) is still this run's:
            // the rebuilt run tells it again, and those lines are not given twice.
            self.replaying = self.narrated;
            self.rebuilt = true;
        }
        self.collect();
        how.map(|_| ()).map_err(js_error)
    }

    /// Queues a narration line for the page, unless the page already has it (a rebuilt run
    /// playing again what it was told before the rewind).
    fn narrate(&mut self, line: UiEvent) {
        let point = (line.step, line.time);
        if self.replaying.is_some_and(|told| point <= told) {
            return;
        }
        self.replaying = None;
        self.narrated = Some(self.narrated.map_or(point, |told| told.max(point)));
        self.pending.push_back(line);
    }

    /// Turns new trace entries into narration and block-tree updates.
    fn collect(&mut self) {
        let trace = self.run.take_trace();
        for (step, entry) in trace {
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
                TraceEntry::Fault { time, fault } => {
                    if let Fault::DropMessage(id) = fault {
                        if let Some(message) = self.history.iter_mut().rev().find(|m| m.id == id) {
                            message.arrives = None;
                        }
                    }
                    self.note_fault(&fault);
                    self.narrate(UiEvent {
                        time: time.as_ms(),
                        step,
                        node: None,
                        kind: "fault",
                        major: true,
                        text: self.describe_instances(&fault).unwrap_or_else(|| describe_fault(&fault)),
                    });
                }
                TraceEntry::Delivered { id, time, dropped: Some(reason) }
                    if reason != DropReason::ReceiverDown =>
                {
                    self.narrate(UiEvent {
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
        while self.pending.len() > EVENTS_KEPT_MAX {
            self.pending.pop_front();
        }
        if self.blocks.len() > TREE_BLOCKS_MAX {
            let mut heights: Vec<(u64, Digest)> =
                self.blocks.iter().map(|(d, (b, _, _))| (b.height, *d)).collect();
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
                self.blocks
                    .entry(block.digest)
                    .or_insert_with(|| (block.clone(), step, observed.time.as_ms()));
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
            Event::VoteSent { .. } => ("vote", self.run.sim().config().nodes <= 7),
            Event::VoteWithheld { .. } => ("novote", true),
            Event::Resent { .. } => ("resend", self.run.sim().config().nodes <= 7),
            Event::VoteReceived { .. } | Event::TimeoutReceived { .. } => ("receive", false),
            Event::PayloadAwaited { .. } => ("wait", false),
            Event::LockUpdated { .. } => ("state", false),
            Event::TimeoutSent { .. } => ("timeout", true),
            Event::TcFormed { .. } => ("tc", true),
            Event::BlockAbandoned { .. } => ("state", true),
            Event::ConflictingCommit { .. } => ("violation", true),
            Event::MessageRejected { from, kind, offence: Some(offence), .. } => {
                // Who is caught: the signer of two messages; for a forgery (of a signature or a
                // certificate), whoever delivered it (see `Offence::culprit`).
                let culprit = offence.culprit().unwrap_or(*from).0;
                self.caught.insert(culprit, format!("caught by n{}: {offence} ({kind})", observed.node.0));
                ("caught", true)
            }
            Event::MessageRejected { .. } => ("reject", true),
            Event::SyncRequested { .. } | Event::SyncServed { .. } => ("sync", true),
            Event::ChainRequested { .. } | Event::ChainServed { .. } => ("sync", true),
            Event::CheckpointInstalled { .. } => ("sync", true),
            Event::Recovered { .. } => ("fault", true),
            Event::RoundStalled { .. } => ("stall", true),
            Event::BatchSealed { .. }
            | Event::BatchReceived { .. }
            | Event::BatchesRequested { .. }
            | Event::CommittedBatchesRequested { .. }
            | Event::CommittedBatchesGivenUp { .. } => ("batch", false),
        };
        self.narrate(UiEvent {
            time: observed.time.as_ms(),
            step,
            node: Some(observed.node.0),
            kind,
            major,
            text: observed.narrate() + &self.why_it_did_not_come(observed),
        });
    }

    /// A split of replica instances, naming them as the page does (`n0′` for node 0's twin).
    fn describe_instances(&self, fault: &Fault) -> Option<String> {
        let Fault::PartitionInstances(groups) = fault else { return None };
        let config = self.run.sim().config();
        let name = |i: u16| match usize::from(i).checked_sub(usize::from(config.nodes)) {
            None => format!("n{i}"),
            Some(twin) => config.twins.get(twin).map_or(format!("instance {i}"), |t| format!("n{}′", t.0)),
        };
        let sides: Vec<String> =
            groups.iter().map(|g| g.iter().map(|i| name(*i)).collect::<Vec<_>>().join(", ")).collect();
        Some(format!(
            "The network splits into {{{}}} (a twin, marked ′, is the second instance of its node's key): messages cross no boundary.",
            sides.join("} | {")
        ))
    }

    /// Follows crashes, restarts and splits through the trace (see `down`, `sides`).
    fn note_fault(&mut self, fault: &Fault) {
        match fault {
            Fault::Crash(node) => {
                self.down.insert(node.0);
            }
            Fault::Restart(node) | Fault::RestartForgetting(node, _) => {
                self.down.remove(&node.0);
            }
            Fault::Partition(groups) => {
                let sides =
                    groups.iter().enumerate().flat_map(|(side, g)| g.iter().map(move |n| (n.0, side)));
                self.sides = Some(sides.collect());
            }
            // By instance: twins' instances share a node id, so sides by node are not defined.
            Fault::PartitionInstances(_) | Fault::Heal => self.sides = None,
            _ => {}
        }
    }

    /// For a stalled round, what the simulator knows and the replica cannot: the node it waited
    /// for is down, or on the other side of a split.
    fn why_it_did_not_come(&self, observed: &Observed) -> String {
        let Event::RoundStalled { awaited, .. } = &observed.event else { return String::new() };
        let other = match awaited {
            Awaited::Proposal { leader } => *leader,
            Awaited::Qc { collector } => *collector,
            Awaited::Votes { .. } => return String::new(),
        };
        if other == observed.node {
            return String::new();
        }
        // A node a split leaves unnamed is cut off from everyone.
        let side = |n: NodeId| self.sides.as_ref().map(|sides| sides.get(&n.0).copied());
        if self.down.contains(&other.0) {
            format!(" (Node {} is down.)", other.0)
        } else if side(other) != side(observed.node) || side(other).is_some_and(|s| s.is_none()) {
            format!(" (Node {} is on the other side of the split.)", other.0)
        } else {
            String::new()
        }
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
        Fault::RestartForgetting(node, Some(round)) => format!(
            "Node {} restarts from an unsafe store that lost the record of its vote in round {round} \
             (a disk that acknowledged a write it never made durable): it believes it has not voted there.",
            node.0
        ),
        Fault::RestartForgetting(node, None) => format!(
            "Node {} restarts from an unsafe store, but had already moved past the round it last voted in: \
             nothing it forgot lets it sign twice.",
            node.0
        ),
        Fault::Partition(groups) => {
            let sides: Vec<String> = groups
                .iter()
                .map(|g| g.iter().map(|n| n.0.to_string()).collect::<Vec<_>>().join(","))
                .collect();
            format!("The network splits into {{{}}}: messages cross no boundary.", sides.join("} | {"))
        }
        // (The page's narration names the instances through `WebSim::describe_instances`.)
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
            "Node {} turns Byzantine ({}): the safety checks no longer hold it to the rules, only the honest nodes.{}",
            node.0,
            behaviour.describe(),
            if *behaviour == Behaviour::Forker {
                " Any other forker restarts with it, so that all of them know the coalition."
            } else {
                ""
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

    fn web(nodes: u16, seed: u64) -> WebSim {
        WebSim::from_scenario(Scenario::new(SimConfig { nodes, seed, ..SimConfig::default() })).unwrap()
    }

    fn intervene(web: &mut WebSim, intervention: Intervention) {
        web.run.intervene(intervention).unwrap();
        web.collect();
    }

    /// Runs until a message of `kind` from `from`, sent after the message ids below `after`, is
    /// on the wire; returns its id.
    fn find_message(web: &mut WebSim, from: u16, kind: &str, after: u64) -> u64 {
        for _ in 0..200_000 {
            let found = web
                .run
                .sim()
                .in_flight()
                .find(|m| m.id >= after && m.from.0 == from && m.kind == kind)
                .map(|m| m.id);
            if let Some(id) = found {
                return id;
            }
            assert!(web.run.step().unwrap(), "the run goes on");
        }
        panic!("no {kind} from n{from} in flight");
    }

    #[test]
    fn signature_status_runs_the_cores_verification() {
        let mut web = web(4, 5);
        let honest = find_message(&mut web, 2, "vote", 0);
        assert_eq!(web.signature_status(honest as f64), "valid");
        let proposal = find_message(&mut web, 0, "proposal", 0);
        assert_eq!(web.signature_status(proposal as f64), "valid");

        intervene(&mut web, Intervention::Behaviour { node: 1, behaviour: Some(Behaviour::Forger) });
        let switched = web.run.sim().stats().messages_sent;
        let forged = find_message(&mut web, 1, "vote", switched);
        assert_eq!(web.signature_status(forged as f64), "bad signature from n1");

        let batch = find_message(&mut web, 3, "batch", 0);
        assert_eq!(web.signature_status(batch as f64), "unsigned (mempool traffic)");
        intervene(&mut web, Intervention::DropMessage { id: batch });
        assert_eq!(web.signature_status(batch as f64), "gone");
    }

    /// The page's first fault: a click on a narration line, then on an earlier one, panicked
    /// the simulator, because every line carried the step of the batch it was collected in.
    #[test]
    fn every_narration_line_rewinds_to_its_own_moment_in_any_order() {
        let mut web = web(4, 1);
        web.run.advance_to(Time(5_000), u64::MAX).unwrap();
        web.collect();
        let lines: Vec<UiEvent> = web.pending.drain(..).collect();
        assert!(lines.len() > 500);
        assert!(lines.windows(2).all(|w| w[0].step <= w[1].step), "steps never decrease");
        assert!(lines.first().unwrap().step < lines.last().unwrap().step, "lines carry their own steps");
        for index in [lines.len() / 2, lines.len() / 5, lines.len() - 1, 3, lines.len() / 2] {
            let line = &lines[index];
            web.seek(line.step as f64, line.time as f64).unwrap();
            assert_eq!((web.run.point().step, web.now() as u64), (line.step, line.time));
            // Backward or forward, the page already holds every line up to the furthest point
            // (the recorded future included): none is given twice.
            web.take_rebuilt();
            let again: Vec<UiEvent> = web.pending.drain(..).collect();
            assert!(again.is_empty(), "line {index}: {} lines given again", again.len());
        }
        // Beyond the furthest point, the new lines, each once.
        web.seek_time(6_000.0).unwrap();
        let new: Vec<UiEvent> = web.pending.drain(..).collect();
        let last = lines.last().unwrap().step;
        assert!(!new.is_empty() && new.iter().all(|e| e.step > last), "only lines after step {last}");
        // A point the run never passes through is an error, and the run goes on afterwards.
        assert!(web.run.seek(Point { step: 22, time: Time(4_999) }).is_err());
        web.run.seek_time(Time(6_000)).unwrap();
        assert!(web.run.step().unwrap());
    }

    /// A rewind leaves the page the recorded future; an intervention there forks the run, and the
    /// page is told to drop what it holds after that point, then given the new future.
    #[test]
    fn an_intervention_after_a_rewind_cuts_the_recorded_future_from_the_narration() {
        let mut web = web(4, 1);
        web.seek_time(4_000.0).unwrap();
        let lines: Vec<UiEvent> = web.pending.drain(..).collect();
        let middle = &lines[lines.len() / 2];
        web.seek(middle.step as f64, middle.time as f64).unwrap();
        assert!(web.pending.is_empty());
        assert_eq!(web.take_narration_cut(), None, "a rewind alone cuts nothing");
        web.intervene(r#"{"kind": "crash", "node": 2}"#).unwrap();
        assert_eq!(web.take_narration_cut(), Some(vec![middle.step as f64, middle.time as f64]));
        assert_eq!(web.take_narration_cut(), None, "once");
        let crash: Vec<UiEvent> = web.pending.drain(..).collect();
        assert!(crash.iter().any(|e| e.kind == "fault"), "the crash is narrated");
        web.seek_time(4_000.0).unwrap();
        let future: Vec<UiEvent> = web.pending.drain(..).collect();
        assert!(
            future.len() > 10 && future.iter().all(|e| e.step >= middle.step),
            "the new future, from the fork on"
        );
        // The page's lines before the cut and these: the crashed node no longer speaks after it.
        let node2 = |e: &&UiEvent| e.node == Some(2);
        assert!(lines.iter().filter(|e| e.step > middle.step).any(|e| node2(&e)));
        assert!(!future.iter().filter(|e| e.step > middle.step).any(|e| node2(&e)));
    }

    /// The page can stand between two events of one millisecond (a frame's step budget ran
    /// out): an export made there must replay to its pinned digest, so it pins the step too.
    #[test]
    fn an_export_made_between_two_events_of_one_millisecond_replays_to_its_pinned_digest() {
        let mut web = web(4, 2);
        web.run.advance_to(Time(1_000), u64::MAX).unwrap();
        intervene(&mut web, Intervention::Crash { node: 1 });
        let mut between = false;
        for _ in 0..100_000 {
            web.run.advance_to(Time(3_000), 1).unwrap();
            if web.run.sim().next_event_time() == Some(web.run.sim().now()) {
                between = true;
                break;
            }
        }
        assert!(between, "the run stood between two events of one millisecond at some point");
        let scenario = Scenario::from_json(&web.export_json()).unwrap();
        assert!(scenario.expect.as_ref().unwrap().digest.is_some());
        if let Err(failure) = scenario.check() {
            panic!("{failure}");
        }
    }

    /// Next plays to the lesson's stop and stops exactly there, however large the page's slices
    /// of time; Back goes there at once; an intervention forks the run off the lesson.
    #[test]
    fn a_lesson_plays_to_each_stop_and_stops_exactly_there() {
        for entry in lessons() {
            let mut web = WebSim::from_lesson(entry.key).unwrap();
            let stops: Vec<Point> = web.lesson.as_ref().unwrap().0.steps.iter().map(|s| s.at.point).collect();
            for (index, stop) in stops.iter().enumerate() {
                if web.lesson_go(index as u32).unwrap() {
                    // As the page's frames do: slices of time, a step budget each.
                    let mut slices = 0;
                    while !web.take_stopped() {
                        web.advance_to(web.now() + 500.0, 50).unwrap();
                        slices += 1;
                        assert!(slices < 100_000, "{}: stop {index} never reached", entry.key);
                    }
                }
                assert_eq!(web.run.point(), *stop, "{}: stop {index}", entry.key);
            }
            assert!(!web.lesson_go(1).unwrap(), "back: at once");
            assert_eq!(web.run.point(), stops[1]);
            assert!(web.lesson_intact());
            // The link reopens the lesson.
            let again = WebSim::from_link(&web.link(false)).unwrap();
            assert_eq!(again.lesson.as_ref().map(|l| l.0.key), Some(entry.key));
        }
        let mut web = WebSim::from_lesson("life-of-a-block").unwrap();
        web.run.advance_to(Time(50), u64::MAX).unwrap();
        web.intervene(r#"{"kind": "crash", "node": 2}"#).unwrap();
        assert!(!web.lesson_intact());
        assert!(web.lesson_stop(2).is_err(), "the forked run is no longer the lesson's");
        let answers: Vec<bool> = (0..4).map(|i| web.lesson_answer(i)).collect();
        assert_eq!(answers.iter().filter(|a| **a).count(), 1, "one right answer: {answers:?}");
    }

    /// A stalled round's line says who it waited for and, from the simulator, why that node
    /// stayed silent, as things stood when it happened (n2 restarts at 8 s in the preset, and the
    /// page may collect the lines later, after a seek).
    #[test]
    fn a_stalled_round_is_narrated_with_who_it_waited_for_and_why_they_were_silent() {
        let mut web = WebSim::from_preset("leader-crash").unwrap();
        web.seek_time(9_000.0).unwrap();
        let stalls: Vec<UiEvent> = web.pending.drain(..).filter(|l| l.kind == "stall").collect();
        let texts = |ls: &[&UiEvent]| ls.iter().map(|l| format!("{} {}", l.time, l.text)).collect::<Vec<_>>();
        let (down, after): (Vec<&UiEvent>, Vec<&UiEvent>) = stalls.iter().partition(|l| l.time < 8_000);
        assert!(down.iter().all(|l| l.time > 2_000), "none before the crash: {:#?}", texts(&down));
        assert!(after.iter().all(|l| !l.text.contains("is down")), "n2 is up again: {:#?}", texts(&after));
        let stalls = down;
        assert!(!stalls.is_empty());
        assert!(
            stalls.iter().all(|l| l.text.contains("node 2") && l.text.ends_with("(Node 2 is down.)")),
            "{:#?}",
            stalls.iter().map(|l| &l.text).collect::<Vec<_>>()
        );
        assert!(stalls.iter().any(|l| l.text.contains("its vote went to node 2")), "the round before n2's");
        assert!(stalls.iter().any(|l| l.text.contains("came from node 2, the round's leader")), "n2's own");

        let mut web = WebSim::from_preset("split-2-2").unwrap();
        web.seek_time(7_000.0).unwrap();
        let stalls: Vec<String> =
            web.pending.drain(..).filter(|l| l.kind == "stall").map(|l| l.text).collect();
        assert!(stalls.iter().any(|t| t.contains("it holds 2 of the 3 timeouts a TC needs")), "{stalls:#?}");
        assert!(stalls.iter().any(|t| t.ends_with("is on the other side of the split.)")), "{stalls:#?}");
    }

    /// A challenge is judged from the run, and its share link (the learner's solution) opens
    /// the challenge again, still solved.
    #[test]
    fn a_solved_challenge_shares_as_a_link_that_replays_the_solution() {
        let mut web = WebSim::from_challenge("stall-seven").unwrap();
        web.seek_time(2_000.0).unwrap();
        assert!(!web.challenge.as_ref().unwrap().judge(&web.run).solved);
        web.intervene(r#"{"kind": "partition", "groups": [[0, 1, 2], [3, 4, 5, 6]]}"#).unwrap();
        web.seek_time(13_000.0).unwrap();
        assert!(web.challenge.as_ref().unwrap().judge(&web.run).solved);
        let mut again = WebSim::from_link(&web.link(false)).unwrap();
        again.seek_time(13_000.0).unwrap();
        let verdict = again.challenge.as_ref().map(|c| c.judge(&again.run));
        assert!(verdict.is_some_and(|v| v.solved), "the link reopens the challenge, solved");
        // Another run's link is no challenge.
        assert!(WebSim::from_link("seed=1&n=7").unwrap().challenge.is_none());
    }

    /// A split of twins' instances is told with the page's names (n0′), not instance numbers.
    #[test]
    fn a_split_of_instances_names_the_twins_as_the_page_does() {
        let mut web = WebSim::from_preset("f1-twins").unwrap();
        let lines: Vec<UiEvent> = web.pending.drain(..).filter(|l| l.kind == "fault").collect();
        assert!(
            lines.iter().any(|l| l.text.starts_with("The network splits into {n0, n1, n2} | {n3, n0′, n1′}")),
            "{:#?}",
            lines.iter().map(|l| &l.text).collect::<Vec<_>>()
        );
    }
}
