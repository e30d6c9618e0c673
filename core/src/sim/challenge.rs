//! Challenges ("break it"): a starting run and a goal that the learner reaches by intervening,
//! judged by the simulator's own checkers.
//!
//! A [`Challenge`] is a [`Scenario`] to start from (its interventions, if any, are the
//! challenge's own) and a [`Goal`]. [`Challenge::judge`] reads the run: a safety goal is met when
//! a safety checker fires (the same checkers as the tests; the learner cannot fake it), a stall
//! goal when no live replica has committed for a while and the learner used at most so many
//! interventions. A solved run is a scenario like any other, so its share link replays the
//! solution (and opens the challenge again: the scenario's name is `challenge:<key>`).
//!
//! To add one: write it in [`challenges`]; `every_challenge_can_be_solved` shows a solution for
//! each, so none is impossible, and the browser test solves them as a learner would.

use super::scenario::in_turn;
use super::{Run, Scenario, SimConfig};
use crate::params::CommitRule;
use crate::types::NodeId;
use serde::Serialize;

/// What a challenge asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Any safety checker fires, with at most `max_byzantine` Byzantine replicas (behaviours
    /// and twins) at the end.
    BreakSafety {
        /// The most Byzantine replicas allowed.
        max_byzantine: usize,
    },
    /// No live replica commits for `for_ms` of simulated time, with at most `max_interventions`
    /// interventions by the learner.
    Stall {
        /// How long nothing may commit.
        for_ms: u64,
        /// The most interventions allowed.
        max_interventions: usize,
    },
}

/// A challenge. See the module docs.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// Stable key.
    pub key: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The goal, in words.
    pub goal_text: &'static str,
    /// Hints, to reveal one at a time.
    pub hints: Vec<&'static str>,
    /// The run it starts from.
    pub scenario: Scenario,
    /// The goal.
    pub goal: Goal,
}

/// How far a run is from a challenge's goal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether the goal is met.
    pub solved: bool,
    /// What the judge sees, in words.
    pub text: String,
}

impl Challenge {
    /// Judges the run (the challenge's own run, played and intervened on by the learner).
    pub fn judge(&self, run: &Run) -> Verdict {
        let sim = run.sim();
        let own = self.scenario.interventions.len();
        let used = run.scenario().interventions.len().saturating_sub(own);
        match self.goal {
            Goal::BreakSafety { max_byzantine } => {
                let config = sim.config();
                let mut byzantine: Vec<NodeId> = config.byzantine.iter().map(|(n, _)| *n).collect();
                byzantine.extend(config.twins.iter().copied());
                byzantine.sort_unstable();
                byzantine.dedup();
                match sim.violation() {
                    Some(v) if byzantine.len() <= max_byzantine => Verdict {
                        solved: true,
                        text: format!(
                            "Solved: “{}” broke at {:.3} s, with {} Byzantine replica(s) and {used} intervention(s).",
                            v.invariant.title(),
                            v.time.as_ms() as f64 / 1000.0,
                            byzantine.len()
                        ),
                    },
                    Some(_) => Verdict {
                        solved: false,
                        text: format!(
                            "Safety broke, but with {} Byzantine replicas: at most {max_byzantine} count.",
                            byzantine.len()
                        ),
                    },
                    None => Verdict { solved: false, text: "Not yet: every safety check holds.".to_string() },
                }
            }
            Goal::Stall { for_ms, max_interventions } => {
                let now = sim.now();
                // The clock starts at the learner's first intervention (before it, the run is
                // the challenge's, not theirs).
                let from = run.scenario().interventions.get(own).map(|t| t.time);
                let last_commit = sim.views().iter().filter(|v| v.up).map(|v| v.committed_at).max();
                let quiet_since = match (from, last_commit) {
                    (Some(from), Some(commit)) => from.max(commit),
                    (Some(from), None) => from,
                    (None, _) => now,
                };
                let quiet = now.ms_since(quiet_since);
                if used > max_interventions {
                    Verdict {
                        solved: false,
                        text: format!("{used} interventions: at most {max_interventions} count. Rewind and try with fewer."),
                    }
                } else if from.is_none() {
                    Verdict { solved: false, text: "Not yet: the committee is committing.".to_string() }
                } else if quiet >= for_ms {
                    Verdict {
                        solved: true,
                        text: format!(
                            "Solved: nothing committed for {:.1} s, with {used} intervention(s).",
                            quiet as f64 / 1000.0
                        ),
                    }
                } else if quiet < 1_000 {
                    Verdict {
                        solved: false,
                        text: format!(
                            "Not yet: the committee is still committing (the last commit {quiet} ms ago; {used} intervention(s) used)."
                        ),
                    }
                } else {
                    Verdict {
                        solved: false,
                        text: format!(
                            "Not yet: nothing committed for {:.1} of {:.0} s ({used} intervention(s) used).",
                            quiet as f64 / 1000.0,
                            for_ms as f64 / 1000.0
                        ),
                    }
                }
            }
        }
    }
}

fn scenario(key: &str, config: SimConfig) -> Scenario {
    let mut scenario = Scenario::new(config);
    scenario.name = format!("challenge:{key}");
    scenario
}

/// Every challenge, in the order the page offers them.
pub fn challenges() -> Vec<Challenge> {
    let mut one_chain = in_turn(4, 3);
    one_chain.params.commit_rule = CommitRule::UnsafeOneChain;
    vec![
        Challenge {
            key: "fork-one-chain",
            title: "Fork the unsafe 1-chain rule",
            goal_text:
                "This committee commits a block as soon as it is certified (the unsafe 1-chain rule). \
                        Make the safety checks fail without any Byzantine replica: only cuts, crashes and \
                        lost messages.",
            hints: vec![
                "Under 1-chain, the replica that forms a QC commits that block at once. The others learn \
                 of the QC only from its next proposal.",
                "Pause, then Step until a node's narration says it gathers votes: a quorum certificate.",
                "At that very step, drag that node to the other side, and click each message it has in \
                 flight to drop it. The others will time out and build elsewhere.",
            ],
            scenario: scenario("fork-one-chain", one_chain),
            goal: Goal::BreakSafety { max_byzantine: 0 },
        },
        Challenge {
            key: "stall-seven",
            title: "Stall a committee of seven with as few faults as possible",
            goal_text: "Seven replicas tolerate f = 2 faults. Stop every commit for 10 s of simulated time, \
                        using at most 3 interventions (crashes, splits, Byzantine behaviours). Can you do it \
                        with one?",
            hints: vec![
                "A certificate needs n − f = 5 of 7. What is the smallest change that leaves no group of 5 \
                 able to talk?",
                "Crashing f + 1 = 3 replicas works. One split can do the same.",
                "Split the network 3 against 4: neither side holds 5.",
            ],
            scenario: scenario("stall-seven", in_turn(7, 1)),
            goal: Goal::Stall { for_ms: 10_000, max_interventions: 3 },
        },
        Challenge {
            key: "f-plus-one",
            title: "Break safety with f + 1 Byzantine replicas",
            goal_text: "Four replicas tolerate f = 1 Byzantine one. Here n0 and n1 take turns to lead every \
                        round. Turn at most two replicas Byzantine (click a node, choose a behaviour) and make a \
                        safety check fail. Then try with one: it cannot be done.",
            hints: vec![
                "Two Byzantine replicas and one honest one make a quorum of 3, on each side of a fork.",
                "The forker behaviour sends each honest replica its own branch and votes for both; it needs \
                 to lead.",
                "Make n0 and n1 forkers, then play.",
            ],
            scenario: scenario("f-plus-one", {
                let mut config = in_turn(4, 1);
                config.leader_schedule = (0..30).map(|round| NodeId(round % 2)).collect();
                config
            }),
            goal: Goal::BreakSafety { max_byzantine: 2 },
        },
    ]
}

/// The challenge with this key.
pub fn challenge(key: &str) -> Option<Challenge> {
    challenges().into_iter().find(|c| c.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Intervention;
    use crate::time::Time;

    /// A learner's solution for each challenge: none is impossible.
    #[test]
    fn every_challenge_can_be_solved() {
        // The 1-chain fork: cut off the replica that forms a QC, the moment it forms it.
        let fork = challenge("fork-one-chain").expect("exists");
        let mut run = Run::new(fork.scenario.clone()).expect("runs");
        run.run_until(|s| s.min_committed_height() >= 5, 60_000).expect("runs");
        assert!(!fork.judge(&run).solved, "not solved by playing");
        let qcs = run.sim().stats().qcs;
        while run.sim().stats().qcs == qcs {
            assert!(run.step().expect("steps"));
        }
        let leader = run.sim().views().iter().max_by_key(|v| v.high_qc_round).map(|v| v.id).expect("nodes");
        let others: Vec<u16> = (0..4).filter(|n| NodeId(*n) != leader).collect();
        run.intervene(Intervention::Partition { groups: vec![others, vec![leader.0]] }).expect("a split");
        let outgoing: Vec<u64> = run.sim().in_flight().filter(|m| m.from == leader).map(|m| m.id).collect();
        for id in outgoing {
            run.intervene(Intervention::DropMessage { id }).expect("a drop");
        }
        run.advance_to(run.sim().now().plus_ms(30_000), u64::MAX).expect("runs");
        let verdict = fork.judge(&run);
        assert!(verdict.solved, "{}", verdict.text);

        // The stall: one split, 3 against 4.
        let stall = challenge("stall-seven").expect("exists");
        let mut run = Run::new(stall.scenario.clone()).expect("runs");
        run.advance_to(Time(2_000), u64::MAX).expect("runs");
        assert!(!stall.judge(&run).solved);
        run.intervene(Intervention::Partition { groups: vec![vec![0, 1, 2], vec![3, 4, 5, 6]] })
            .expect("a split");
        run.advance_to(Time(8_000), u64::MAX).expect("runs");
        let verdict = stall.judge(&run);
        assert!(!verdict.solved && verdict.text.starts_with("Not yet"), "{}", verdict.text);
        run.advance_to(Time(13_000), u64::MAX).expect("runs");
        let verdict = stall.judge(&run);
        assert!(verdict.solved, "{}", verdict.text);
        assert!(verdict.text.contains("1 intervention"), "{}", verdict.text);
    }

    /// Two forkers set one after the other (as from the page) fork the committee; one does not.
    #[test]
    fn f_plus_one_forkers_set_by_intervention_break_safety_and_f_do_not() {
        use crate::sim::Behaviour;
        let found = challenge("f-plus-one").expect("exists");
        for forkers in [&[0u16][..], &[0, 1], &[1, 0]] {
            let mut run = Run::new(found.scenario.clone()).expect("runs");
            for &node in forkers {
                run.intervene(Intervention::Behaviour { node, behaviour: Some(Behaviour::Forker) })
                    .expect("set");
            }
            run.advance_to(Time(10_000), u64::MAX).expect("runs");
            let verdict = found.judge(&run);
            assert_eq!(verdict.solved, forkers.len() == 2, "{forkers:?}: {}", verdict.text);
        }
    }

    /// What does not solve them: two crashes leave a quorum of 5, so the committee goes on; and
    /// a safety break with a Byzantine replica does not count where none is allowed.
    #[test]
    fn a_challenge_is_not_solved_by_what_the_protocol_survives() {
        let stall = challenge("stall-seven").expect("exists");
        let mut run = Run::new(stall.scenario.clone()).expect("runs");
        run.advance_to(Time(2_000), u64::MAX).expect("runs");
        run.intervene(Intervention::Crash { node: 5 }).expect("a crash");
        run.intervene(Intervention::Crash { node: 6 }).expect("a crash");
        run.advance_to(Time(20_000), u64::MAX).expect("runs");
        let verdict = stall.judge(&run);
        assert!(!verdict.solved, "f crashes do not stall it: {}", verdict.text);

        let mut four = challenge("stall-seven").expect("exists");
        four.goal = Goal::Stall { for_ms: 10_000, max_interventions: 1 };
        let mut run = Run::new(four.scenario.clone()).expect("runs");
        for node in [4, 5, 6] {
            run.intervene(Intervention::Crash { node }).expect("a crash");
        }
        run.advance_to(Time(15_000), u64::MAX).expect("runs");
        assert!(!four.judge(&run).solved, "over the allowance");
    }
}
