//! A scenario being played: a [`Simulation`] together with the [`Scenario`] that defines it.
//!
//! [`Run`] is what the page, `hotstuff sim --scenario/--link` and the corpus tests drive. It
//! owns the recorded timeline of interventions and keeps the simulation on it:
//!
//! - **Playing** ([`Run::advance_to`], [`Run::step`]) applies each recorded intervention at the
//!   exact point (step and time) where it was made, so a replayed run is the recorded one, event
//!   for event, and a rewound run replays the learner's later interventions as it passes them.
//! - **Intervening** ([`Run::intervene`]) records a new intervention at the current point and
//!   drops the recorded ones after it: the run forks there.
//! - **Rewinding** ([`Run::seek`], [`Run::seek_time`]) goes to any point: forward by playing,
//!   backward by rebuilding the simulation from the scenario and playing up to the point.
//!
//! Nothing here panics on input: an intervention or a point the run cannot take is a
//! [`ScenarioError`]. A violation is not an error: the simulation stops at it, and
//! [`Simulation::violation`] reports it.

use super::{Intervention, Scenario, ScenarioError, SimConfig, Simulation, Timed};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A point of a run: `step` simulator events processed, the clock at `time`. Points are ordered
/// by step, then time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Point {
    /// Steps taken.
    pub step: u64,
    /// Virtual time, ms.
    pub time: Time,
}

impl PartialOrd for Point {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Point {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.step, self.time).cmp(&(other.step, other.time))
    }
}

/// How a seek got there: by playing on, or by rebuilding from the start (a display that keeps
/// its own history of the run must then start it again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seek {
    /// The simulation played forward; everything seen so far still stands.
    Forward,
    /// The simulation was rebuilt from the scenario.
    Rebuilt,
}

/// A scenario being played. See the module docs.
#[derive(Debug)]
pub struct Run {
    scenario: Scenario,
    sim: Simulation,
    /// Recorded interventions already applied to `sim`.
    applied: usize,
    /// The furthest point reached since the last fork.
    horizon: Point,
}

impl Run {
    /// Starts a scenario (checked first: bad settings are an error, not a panic).
    pub fn new(scenario: Scenario) -> Result<Self, ScenarioError> {
        scenario.validate()?;
        let sim = Simulation::new(scenario.config.clone());
        let mut run = Self { scenario, sim, applied: 0, horizon: Point::default() };
        // Interventions at step 0, time 0 (a preset's split) belong to the start.
        run.apply_due(Point::default())?;
        Ok(run)
    }

    /// A run of these settings with no interventions.
    pub fn from_config(config: SimConfig) -> Result<Self, ScenarioError> {
        Self::new(Scenario::new(config))
    }

    /// The simulation, to read.
    pub fn sim(&self) -> &Simulation {
        &self.sim
    }

    /// The scenario: the settings and every recorded intervention, including those after the
    /// current point (until an intervention forks the run).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Takes the trace entries recorded since the last call (with `record_trace`), each with
    /// its step ([`Simulation::trace`]).
    pub fn take_trace(&mut self) -> Vec<(u64, super::TraceEntry)> {
        self.sim.take_trace()
    }

    /// Where the run is now.
    pub fn point(&self) -> Point {
        Point { step: self.sim.stats().steps, time: self.sim.now() }
    }

    /// The furthest point reached since the run last forked (a time slider's end).
    pub fn horizon(&self) -> Point {
        self.horizon.max(self.point())
    }

    /// Processes the next event, applying any intervention due before it. Returns `Ok(false)`
    /// when nothing is left to happen or a violation stopped the run.
    pub fn step(&mut self) -> Result<bool, ScenarioError> {
        self.apply_due(Point { step: self.sim.stats().steps, time: Time(u64::MAX) })?;
        let stepped = self.sim.step().unwrap_or(false);
        // Interventions made at the very point this step lands on belong to it: the state here
        // is then the one `seek` reaches (and a link made here shows).
        self.apply_due(self.point())?;
        self.note_progress();
        Ok(stepped)
    }

    /// Plays events up to `until`, at most `max_steps` of them, applying recorded interventions
    /// on the way. Returns `Ok(true)` when everything up to `until` is done (the clock is then at
    /// `until`) or a violation stopped the run, `Ok(false)` when the budget ran out first.
    pub fn advance_to(&mut self, until: Time, max_steps: u64) -> Result<bool, ScenarioError> {
        let mut budget = max_steps;
        loop {
            self.apply_due(Point { step: self.sim.stats().steps, time: until })?;
            if self.sim.violation().is_some() {
                self.note_progress();
                return Ok(true);
            }
            let next = self.sim.next_event_time();
            if let Some(timed) = self.pending().filter(|_| self.blocked_at_this_step()) {
                // Due at this step, later than `until`: no event may come before it.
                if next.is_some_and(|t| t < timed.time) {
                    return Err(self.unreachable_pending());
                }
            }
            if self.blocked_at_this_step() || next.is_none_or(|t| t > until) {
                if until > self.sim.now() {
                    self.sim.set_now(until);
                }
                self.note_progress();
                return Ok(true);
            }
            if budget == 0 {
                self.note_progress();
                return Ok(false);
            }
            budget -= 1;
            // A violation is kept by the simulation and seen at the top of the loop.
            let _ = self.sim.step();
        }
    }

    /// Plays until `condition` holds (`Ok(true)`) or `max_duration_ms` of virtual time passed
    /// (`Ok(false)`), or a violation stopped the run (`Ok(false)`).
    pub fn run_until(
        &mut self,
        mut condition: impl FnMut(&Simulation) -> bool,
        max_duration_ms: u64,
    ) -> Result<bool, ScenarioError> {
        let deadline = self.sim.now().plus_ms(max_duration_ms);
        loop {
            if condition(&self.sim) {
                return Ok(true);
            }
            if self.sim.violation().is_some() {
                return Ok(false);
            }
            match (self.sim.next_event_time(), self.pending().map(|t| t.time)) {
                (Some(next), _) if next <= deadline => {
                    self.step()?;
                }
                // Nothing queued (everyone crashed, say), but an intervention is recorded: go
                // there (a restart brings the run back to life).
                (None, Some(time)) if time <= deadline => {
                    let applied = self.applied;
                    self.advance_to(time, 0)?;
                    if self.applied == applied {
                        return Err(self.unreachable_pending());
                    }
                }
                _ => return Ok(false),
            }
        }
    }

    /// Makes an intervention now. It is recorded at the current point, and the recorded
    /// interventions after this point are dropped: the run forks here. A bad intervention is
    /// refused (and nothing is recorded).
    pub fn intervene(&mut self, intervention: Intervention) -> Result<(), ScenarioError> {
        self.sim.check(&intervention)?;
        self.scenario.interventions.truncate(self.applied);
        let point = self.point();
        self.sim.apply(&intervention)?;
        self.scenario.interventions.push(Timed { step: Some(point.step), time: point.time, intervention });
        self.applied += 1;
        self.horizon = point;
        Ok(())
    }

    /// Goes to `target`: forward by playing, backward by rebuilding. Every point the run passed
    /// through (every trace entry's `(step, time)`) can be reached; another point is an error
    /// and leaves the run at the nearest point before it. A violation before `target` stops the
    /// run there (not an error).
    pub fn seek(&mut self, target: Point) -> Result<Seek, ScenarioError> {
        let how = if target < self.point() { self.rebuild()? } else { Seek::Forward };
        while self.sim.stats().steps < target.step && self.sim.violation().is_none() {
            if !self.step()? {
                break;
            }
        }
        let steps = self.sim.stats().steps;
        if steps < target.step && self.sim.violation().is_some() {
            return Ok(how);
        }
        let now = self.sim.now();
        let next = self.sim.next_event_time();
        if steps != target.step || target.time < now || next.is_some_and(|t| t < target.time) {
            return Err(ScenarioError::Unreachable {
                what: "the requested point".to_string(),
                step: target.step,
                time: target.time,
                steps,
                now,
            });
        }
        self.apply_due(target)?;
        // What was applied there (a restart, say) may have queued events before the target: then
        // the run never stood at the target.
        if self.sim.next_event_time().is_some_and(|t| t < target.time) {
            return Err(ScenarioError::Unreachable {
                what: "the requested point".to_string(),
                step: target.step,
                time: target.time,
                steps,
                now: self.sim.now(),
            });
        }
        self.sim.set_now(target.time);
        self.note_progress();
        Ok(how)
    }

    /// Goes to `time`: every event up to it played (and the interventions recorded up to it),
    /// the clock at `time`. Backward by rebuilding.
    pub fn seek_time(&mut self, time: Time) -> Result<Seek, ScenarioError> {
        let how = if time < self.sim.now() { self.rebuild()? } else { Seek::Forward };
        while !self.advance_to(time, u64::MAX)? {}
        Ok(how)
    }

    /// Starts the simulation again from the scenario, keeping the recorded interventions.
    fn rebuild(&mut self) -> Result<Seek, ScenarioError> {
        let horizon = self.horizon();
        self.sim = Simulation::new(self.scenario.config.clone());
        self.applied = 0;
        self.horizon = horizon;
        self.apply_due(Point::default())?;
        Ok(Seek::Rebuilt)
    }

    /// The error for a recorded intervention the run does not pass through.
    fn unreachable_pending(&self) -> ScenarioError {
        let timed = self.pending().expect("an intervention is pending");
        ScenarioError::Unreachable {
            what: format!("recorded intervention {} ({})", self.applied, timed.intervention.label()),
            step: timed.step.unwrap_or(self.sim.stats().steps),
            time: timed.time,
            steps: self.sim.stats().steps,
            now: self.sim.now(),
        }
    }

    fn pending(&self) -> Option<&Timed> {
        self.scenario.interventions.get(self.applied)
    }

    /// Whether the next intervention is at the current step (so no event may be played first).
    fn blocked_at_this_step(&self) -> bool {
        self.pending().is_some_and(|t| t.step == Some(self.sim.stats().steps))
    }

    /// Applies the recorded interventions due at the current step, up to `limit`, checking that
    /// each is at a point the run passes through.
    fn apply_due(&mut self, limit: Point) -> Result<(), ScenarioError> {
        while let Some(timed) = self.pending() {
            let steps = self.sim.stats().steps;
            let now = self.sim.now();
            let next = self.sim.next_event_time();
            if timed.step.is_some_and(|step| step < steps) {
                return Err(self.unreachable_pending());
            }
            let due = match timed.step {
                Some(step) => step == steps,
                // A time-only intervention applies once every event up to its time happened.
                None => next.is_none_or(|t| t > timed.time),
            };
            if !due || timed.time > limit.time {
                return Ok(());
            }
            if timed.time < now || next.is_some_and(|t| t < timed.time) {
                return Err(self.unreachable_pending());
            }
            let (time, intervention) = (timed.time, timed.intervention.clone());
            self.sim.set_now(time);
            self.sim.apply(&intervention)?;
            self.applied += 1;
        }
        Ok(())
    }

    fn note_progress(&mut self) {
        self.horizon = self.horizon.max(self.point());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Behaviour, Invariant};

    fn four(seed: u64) -> Run {
        Run::from_config(SimConfig { nodes: 4, seed, record_trace: true, ..SimConfig::default() }).unwrap()
    }

    fn digest(run: &Run) -> String {
        hex::encode(run.sim().trace_digest().0)
    }

    #[test]
    fn bad_interventions_are_typed_errors_and_record_nothing() {
        let mut run = four(1);
        run.advance_to(Time(500), u64::MAX).unwrap();
        let bad = [
            (Intervention::Crash { node: 9 }, "there is no replica 9"),
            (Intervention::Partition { groups: vec![vec![0, 1], vec![1, 2]] }, "names replica 1 twice"),
            (Intervention::Loss { ppm: 2_000_000 }, "at most 1,000,000"),
            (
                Intervention::LinkDelay { from: 2, to: 2, extra_ms: 5, both_ways: false },
                "two different nodes",
            ),
            (Intervention::DropMessage { id: 1 }, "not on the wire"),
            (Intervention::Behaviour { node: 4, behaviour: Some(Behaviour::Silent) }, "no replica 4"),
        ];
        let before = digest(&run);
        for (intervention, message) in bad {
            let error = run.intervene(intervention).unwrap_err().to_string();
            assert!(error.contains(message), "{error}");
        }
        assert!(run.scenario().interventions.is_empty());
        assert_eq!(digest(&run), before, "a refused intervention changes nothing");
    }

    #[test]
    fn a_point_the_run_never_passes_through_is_an_error_not_a_panic() {
        // The old page asked for (22 steps, 0.019 s) when step 22 happened later: it panicked.
        let mut run = four(2);
        run.advance_to(Time(3_000), u64::MAX).unwrap();
        let error = run.seek(Point { step: 22, time: Time(19) }).unwrap_err();
        assert!(matches!(error, ScenarioError::Unreachable { .. }), "{error}");
        // And the run still works afterwards.
        run.seek_time(Time(1_000)).unwrap();
        assert_eq!(run.sim().now(), Time(1_000));
    }

    #[test]
    fn rewinding_to_a_trace_entry_reaches_the_state_it_was_recorded_in() {
        let mut run = four(3);
        let mut states = Vec::new();
        for _ in 0..3_000 {
            run.step().unwrap();
            states.push((run.point(), digest(&run)));
        }
        // Every trace entry carries its own step: the entries of step k are at k.
        let entries = run.sim().trace().to_vec();
        let (step, entry) = &entries[entries.len() / 3];
        let time = match entry {
            crate::sim::TraceEntry::Observed(o) => o.time,
            crate::sim::TraceEntry::Sent { time, .. }
            | crate::sim::TraceEntry::Delivered { time, .. }
            | crate::sim::TraceEntry::Fault { time, .. } => *time,
        };
        assert_eq!(run.seek(Point { step: *step, time }).unwrap(), Seek::Rebuilt);
        let expected = &states.iter().find(|(p, _)| p.step == *step).unwrap().1;
        assert_eq!(&digest(&run), expected);
        // Forward again to the end: the same run.
        let (end, end_digest) = states.last().unwrap().clone();
        assert_eq!(run.seek(end).unwrap(), Seek::Forward);
        assert_eq!(digest(&run), end_digest);
    }

    #[test]
    fn an_intervention_after_a_rewind_forks_the_run() {
        let mut run = four(4);
        run.advance_to(Time(1_000), u64::MAX).unwrap();
        run.intervene(Intervention::Crash { node: 1 }).unwrap();
        run.advance_to(Time(3_000), u64::MAX).unwrap();
        run.intervene(Intervention::Restart { node: 1 }).unwrap();
        run.advance_to(Time(5_000), u64::MAX).unwrap();
        let original = digest(&run);
        // Rewind before the restart and play on: the recorded restart is replayed.
        run.seek_time(Time(2_000)).unwrap();
        assert!(!run.sim().view(crate::NodeId(1)).up);
        run.seek_time(Time(5_000)).unwrap();
        assert_eq!(digest(&run), original, "the recorded future replays");
        // Rewind again and intervene: the restart is dropped, the run forks.
        run.seek_time(Time(2_000)).unwrap();
        run.intervene(Intervention::Heal).unwrap();
        assert_eq!(run.scenario().interventions.len(), 2);
        assert_eq!(run.horizon().time, Time(2_000), "the future is gone");
        run.seek_time(Time(5_000)).unwrap();
        assert!(!run.sim().view(crate::NodeId(1)).up, "no restart in this branch");
    }

    #[test]
    fn a_link_round_trips_and_replays_the_same_run() {
        let mut run = four(5);
        run.advance_to(Time(1_500), u64::MAX).unwrap();
        run.intervene(Intervention::Partition { groups: vec![vec![0, 1, 2], vec![3]] }).unwrap();
        run.advance_to(Time(2_000), 77).unwrap(); // stop mid-way: the link names the exact point
        let link = run.scenario().to_link(Some(run.point()));
        assert!(link.starts_with("run=1."), "{link}");
        let (scenario, at) = Scenario::from_link(&format!("http://127.0.0.1:8080/#{link}")).unwrap();
        assert_eq!(&scenario, run.scenario());
        let mut replayed = Run::new(scenario).unwrap();
        replayed.seek(at.unwrap()).unwrap();
        assert_eq!(digest(&replayed), digest(&run));
    }

    #[test]
    fn a_link_of_another_format_says_so() {
        let error = Scenario::from_link("#run=2.AAAA").unwrap_err().to_string();
        assert!(error.contains("format 2") && error.contains("reads format 1"), "{error}");
        let error = Scenario::from_link("#seed=1&n=4&iv=W10=").unwrap_err().to_string();
        assert!(error.contains("format 0"), "{error}");
        let error = Scenario::from_link("#run=1.!!!").unwrap_err().to_string();
        assert!(error.contains("base64"), "{error}");
        let error = Scenario::from_json(r#"{"format": 7}"#).unwrap_err().to_string();
        assert!(error.contains("format 7"), "{error}");
        let (short, _) = Scenario::from_link("#seed=5&n=7&rule=3chain&twins=0%2C1").unwrap();
        assert_eq!((short.config.seed, short.config.nodes), (5, 7));
        assert_eq!(short.config.twins, vec![crate::NodeId(0), crate::NodeId(1)]);
        assert!(Scenario::from_link("#n=0").is_err());
        assert!(Scenario::from_link("#n=4&twins=9").is_err());
    }

    #[test]
    fn a_format_1_scenario_stays_the_same_run_under_format_2() {
        use crate::LeaderElection::{Reputation, RoundRobin};
        // Format 1 had round-robin as the default: an omitted `leader_election` still means it.
        let old = Scenario::from_json(r#"{"format": 1, "config": {"nodes": 4, "seed": 2}}"#).unwrap();
        assert_eq!(
            (old.format, old.config.params.leader_election),
            (crate::sim::SCENARIO_FORMAT, RoundRobin)
        );
        let given = r#"{"format": 1, "config": {"params": {"leader_election": "Reputation"}}}"#;
        assert_eq!(Scenario::from_json(given).unwrap().config.params.leader_election, Reputation);
        assert_eq!(
            Scenario::from_json(r#"{"format": 1}"#).unwrap().config.params.leader_election,
            RoundRobin
        );
        // Format 2: the default, reputation.
        let new = Scenario::from_json(r#"{"format": 2, "config": {"nodes": 4, "seed": 2}}"#).unwrap();
        assert_eq!(new.config.params.leader_election, Reputation);
        // What a format-2 file says, it says explicitly; it reads back as the same run.
        assert_eq!(Scenario::from_json(&old.to_json()).unwrap(), old);
    }

    #[test]
    fn a_scenario_file_uses_names_not_indices() {
        let json = r#"{
            "format": 1,
            "config": { "nodes": 4, "seed": 3, "byzantine": [[1, "double_voter"]] },
            "interventions": [
                { "time": 1000, "kind": "crash", "node": 2 },
                { "time": 2000, "kind": "behaviour", "node": 1, "behaviour": null },
                { "time": 2500, "kind": "link_delay", "from": 0, "to": 3, "extra_ms": 200, "both_ways": true },
                { "time": 3000, "kind": "restart", "node": 2 }
            ],
            "expect": { "until_ms": 8000, "outcome": { "kind": "safe", "min_height": 5 } }
        }"#;
        let scenario = Scenario::from_json(json).unwrap();
        assert_eq!(scenario.config.byzantine, vec![(crate::NodeId(1), Behaviour::DoubleVoter)]);
        scenario.check().unwrap();
        let violated = Scenario {
            expect: Some(crate::sim::Expectation {
                until_ms: 8_000,
                until_step: None,
                outcome: crate::sim::Outcome::Violates { invariant: Invariant::Agreement },
                digest: None,
            }),
            ..scenario
        };
        assert!(violated.check().unwrap_err().contains("expected agreement to break"));
    }

    #[test]
    fn stepping_onto_a_point_applies_what_was_done_there() {
        // Step by step to a point, crash a node there; rewind, step there again: the crash is
        // part of that point, as `seek` and a shared link have it.
        let mut run = four(6);
        for _ in 0..500 {
            run.step().unwrap();
        }
        run.intervene(Intervention::Crash { node: 1 }).unwrap();
        let at = run.point();
        let there = digest(&run);
        run.seek(Point { step: 100, time: Time(0) }).unwrap_err(); // not a point of this run
        run.seek_time(Time(10)).unwrap();
        while run.point().step < at.step {
            run.step().unwrap();
        }
        assert_eq!((run.point(), digest(&run)), (at, there));
        assert!(!run.sim().view(crate::NodeId(1)).up);
        // Intervening here keeps that crash: it is not in the future.
        run.intervene(Intervention::Heal).unwrap();
        assert_eq!(run.scenario().interventions.len(), 2);
    }

    fn hand_written(interventions: &str, until_ms: u64) -> Scenario {
        let json = format!(
            r#"{{"format": 1, "config": {{"nodes": 4, "seed": 7}}, "interventions": [{interventions}],
               "expect": {{"until_ms": {until_ms}, "outcome": {{"kind": "safe", "min_height": 1}}}}}}"#
        );
        Scenario::from_json(&json).unwrap()
    }

    #[test]
    fn an_intervention_at_a_point_the_run_does_not_reach_is_an_error_not_a_panic() {
        // Step 0 cannot last until 5 s: events come first.
        let error = hand_written(r#"{"step": 0, "time": 5000, "kind": "heal"}"#, 1_000).check().unwrap_err();
        assert!(error.contains("not a point this run passes through"), "{error}");
        // Step 10 happens long before 50 s: the intervention is missed, and that is said.
        let error =
            hand_written(r#"{"step": 10, "time": 50000, "kind": "heal"}"#, 20_000).check().unwrap_err();
        assert!(error.contains("not a point this run passes through"), "{error}");
    }

    #[test]
    fn a_link_to_a_point_after_an_intervention_that_queues_events_before_it_is_refused() {
        let mut run = four(8);
        run.advance_to(Time(1_000), u64::MAX).unwrap();
        for node in 0..4 {
            run.intervene(Intervention::Crash { node }).unwrap();
        }
        run.advance_to(Time(5_000), u64::MAX).unwrap(); // the queue drains
        run.intervene(Intervention::Restart { node: 0 }).unwrap(); // queues events at 5.001 s and on
        let steps = run.point().step;
        let (scenario, _) = Scenario::from_link(&run.scenario().to_link(None)).unwrap();
        let mut forged = Run::new(scenario).unwrap();
        let error = forged.seek(Point { step: steps, time: Time(9_000) }).unwrap_err();
        assert!(matches!(error, ScenarioError::Unreachable { .. }), "{error}");
    }

    #[test]
    fn play_until_goes_past_an_empty_queue_to_a_recorded_restart() {
        let scenario = hand_written(
            r#"{"time": 2000, "kind": "crash", "node": 0}, {"time": 2000, "kind": "crash", "node": 1},
               {"time": 2000, "kind": "crash", "node": 2}, {"time": 2000, "kind": "crash", "node": 3},
               {"time": 5000, "kind": "restart", "node": 0}, {"time": 5000, "kind": "restart", "node": 1},
               {"time": 5000, "kind": "restart", "node": 2}, {"time": 5000, "kind": "restart", "node": 3}"#,
            30_000,
        );
        let mut run = Run::new(scenario).unwrap();
        run.advance_to(Time(1_900), u64::MAX).unwrap();
        let before = run.sim().min_committed_height();
        run.advance_to(Time(3_000), u64::MAX).unwrap();
        assert!(run.sim().next_event_time().is_none(), "everyone is down: nothing is queued");
        // Before the fix, this returned false at once: nothing queued.
        assert!(run.run_until(|s| s.min_committed_height() >= before + 10, 60_000).unwrap());
        assert!(run.sim().now() > Time(5_000));
    }

    #[test]
    fn untrusted_settings_and_interventions_that_would_overflow_or_flood_are_refused() {
        let mut run = four(9);
        let huge = Intervention::LinkDelay { from: 0, to: 1, extra_ms: u64::MAX, both_ways: false };
        assert!(run.intervene(huge).unwrap_err().to_string().contains("extra delay"));
        let many_groups = Intervention::Partition { groups: vec![Vec::new(); 100_000] };
        assert!(run.intervene(many_groups).is_err());
        let mut config = SimConfig { nodes: 4, ..SimConfig::default() };
        config.round_partitions = vec![Vec::new(); 1_000_000];
        assert!(Run::from_config(config).unwrap_err().to_string().contains("at most 10000 rounds"));
        let mut config = SimConfig { nodes: 4, ..SimConfig::default() };
        config.net.latency_max_ms = u64::MAX;
        assert!(Run::from_config(config).is_err());
        let mut config = SimConfig { nodes: 4, ..SimConfig::default() };
        config.client.transaction_bytes = usize::MAX;
        assert!(Run::from_config(config).is_err());
    }
}
