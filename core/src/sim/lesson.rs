//! Guided lessons: a scenario with a script that stops the run where the learner must look.
//!
//! A [`Lesson`] is a [`Scenario`] (the run, as any preset or link) plus [`LessonStep`]s. Each
//! step has a [`Cue`]: the moment of the run it talks about, given as the next protocol event of
//! a kind ("the first vote of the round after the crash"), not as a time, so a lesson still
//! stops at the right place when the core's timing changes. [`Lesson::resolve`] plays the
//! scenario once and finds each cue's point (step and time, a point the page can seek to), the
//! node it happened at and the block it is about; the step's text is a template filled from
//! that match (`{node}`, `{block}`, `{round}`, ...), so what the lesson says is what the run did.
//!
//! Each lesson ends with a [`Question`] whose answer is read off the run (the node that formed
//! the QC of the block the lesson followed, say), not written down beside it, and
//! [`ResolvedLesson::check`] judges an answer.
//!
//! To add a lesson: write a function returning a [`Lesson`] below and add it to [`lessons`].
//! `lessons_resolve_with_every_cue_found_and_every_placeholder_filled` (in this module's tests)
//! checks every lesson; the page lists them from wasm.

use super::scenario::in_turn;
use super::{Fault, Intervention, Point, Run, Scenario, ScenarioError, SimConfig, TraceEntry};
use crate::error::Offence;
use crate::event::{block_name, Event, Observed};
use crate::types::{NodeId, Round};
use crate::CommitRule;
use serde::Serialize;

/// What a step's cue waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// The start of the run (no event).
    Start,
    /// A leader broadcasts its proposal.
    Proposal,
    /// A leader broadcasts a proposal that carries batches (a payload).
    PayloadProposal,
    /// A replica sends its vote.
    Vote,
    /// A replica refuses to vote for a block it received.
    NoVote,
    /// A leader forms a quorum certificate.
    Qc,
    /// A replica's round timer expires and it broadcasts a timeout.
    Timeout,
    /// Timeouts form a timeout certificate.
    Tc,
    /// A replica commits a block.
    Commit,
    /// A replica enters a round.
    RoundEntered,
    /// A fault or intervention (a crash, a restart, a partition, a heal, ...).
    Fault,
    /// A mempool seals a batch.
    BatchSealed,
    /// A voter waits for a block's batches before voting.
    PayloadAwaited,
    /// A safety checker fires (the run stops there).
    Violation,
    /// A replica catches a leader proposing two blocks for one round (`{to}`: the liar).
    Equivocation,
    /// A replica catches a voter voting for two blocks in one round (`{to}`: the liar).
    DoubleVote,
}

/// Which round a cue's event must be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// Any: the next such event after the previous step.
    Next,
    /// This round.
    Round(Round),
    /// The round matched by an earlier step, plus `plus`.
    Of {
        /// The earlier step's index.
        step: usize,
        /// Rounds after it.
        plus: u64,
    },
}

/// The moment a step talks about: the first event of this kind after the previous step's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cue {
    /// The kind of event.
    pub what: What,
    /// Its round.
    pub at: At,
    /// Only at this replica.
    pub node: Option<NodeId>,
    /// Only a vote sent to this replica (or a lie by this replica, for the `What`s that
    /// catch one).
    pub to: Option<NodeId>,
    /// Only at the replica an earlier step's cue matched at (by index).
    pub node_of: Option<usize>,
}

impl Cue {
    /// The next event of this kind.
    pub const fn next(what: What) -> Self {
        Self { what, at: At::Next, node: None, to: None, node_of: None }
    }

    /// The next event of this kind in `round`.
    pub const fn round(what: What, round: Round) -> Self {
        Self { what, at: At::Round(round), node: None, to: None, node_of: None }
    }

    /// The next event of this kind in the round matched by step `step`, plus `plus`.
    pub const fn of(what: What, step: usize, plus: u64) -> Self {
        Self { what, at: At::Of { step, plus }, node: None, to: None, node_of: None }
    }
}

/// One stop of a lesson.
#[derive(Clone, Debug)]
pub struct LessonStep {
    /// A few words (the step's heading).
    pub title: &'static str,
    /// What to look at and why, as a template: `{node}`, `{to}`, `{round}`, `{next_round}`,
    /// `{block}`, `{height}`, `{chain}`, `{time}` are the cue's match, `{node@2}` (and so on) an
    /// earlier step's; `{n}`, `{f}`, `{f1}` (f + 1), `{quorum}` the committee's. `{{` and `}}`
    /// are braces of the text.
    pub text: &'static str,
    /// Where the run stops for it.
    pub cue: Cue,
}

/// What a question's answer is, read off the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The node at which step `k`'s cue matched.
    NodeOf(usize),
    /// The recipient of the vote step `k`'s cue matched.
    ToOf(usize),
    /// The quorum, n − f.
    Quorum,
    /// f + 1: the fewest Byzantine replicas that can break safety.
    FaultsPlusOne,
}

/// The choices a question offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choices {
    /// Every node of the committee.
    Nodes,
    /// These numbers.
    Numbers(Vec<u64>),
}

/// The question a lesson ends with.
#[derive(Clone, Debug)]
pub struct Question {
    /// The question, a template as [`LessonStep::text`].
    pub prompt: &'static str,
    /// What the learner chooses from.
    pub choices: Choices,
    /// How the answer is found in the run.
    pub answer: Answer,
    /// Why that is the answer (a template), shown after any answer.
    pub explanation: &'static str,
}

/// A guided lesson. See the module docs.
#[derive(Clone, Debug)]
pub struct Lesson {
    /// Stable key (links and tests use it).
    pub key: &'static str,
    /// Its title.
    pub title: &'static str,
    /// One sentence: what it teaches.
    pub summary: &'static str,
    /// The run.
    pub scenario: Scenario,
    /// The stops, in order.
    pub steps: Vec<LessonStep>,
    /// The question at the end.
    pub question: Question,
}

/// Where a cue matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Match {
    /// The point to stop at (the event's own point: seeking there shows the run just after it).
    pub point: Point,
    /// The replica it happened at, if any.
    pub node: Option<u16>,
    /// The vote's recipient, for a vote.
    pub to: Option<u16>,
    /// Its round, if it has one.
    pub round: Option<Round>,
    /// The block it is about, as the page names it (`B3·1a2b`), and its height.
    pub block: Option<String>,
    /// The block's height.
    pub height: Option<u64>,
    /// The block's digest, short (as the block tree names it).
    pub digest: Option<String>,
    /// For a commit, the rounds of the certified chain that committed it.
    pub chain: Option<Vec<Round>>,
    /// The nodes a fault names (the crashed node, the sides of a split), for the page to point at.
    pub fault_nodes: Vec<u16>,
}

/// A resolved step: its text filled in and the point to stop at.
#[derive(Clone, Debug, Serialize)]
pub struct ResolvedStep {
    /// Its heading.
    pub title: &'static str,
    /// Its text, filled in from the run.
    pub text: String,
    /// The match (`at.point` is where the run stops).
    pub at: Match,
    /// The nodes to point at: the cue's node, the vote's recipient, a fault's nodes.
    pub focus: Vec<u16>,
}

/// A resolved question.
#[derive(Clone, Debug, Serialize)]
pub struct ResolvedQuestion {
    /// The question.
    pub prompt: String,
    /// The choices' labels (`n0`, `n1`, ... or numbers).
    pub choices: Vec<String>,
    /// Why, filled in.
    pub explanation: String,
    /// The right choice's index (kept from the page: [`ResolvedLesson::check`] judges).
    #[serde(skip)]
    answer: usize,
}

/// A lesson played once: every stop found in its run.
#[derive(Clone, Debug, Serialize)]
pub struct ResolvedLesson {
    /// The lesson's key.
    pub key: &'static str,
    /// Its title.
    pub title: &'static str,
    /// What it teaches.
    pub summary: &'static str,
    /// The stops.
    pub steps: Vec<ResolvedStep>,
    /// The question.
    pub question: ResolvedQuestion,
}

impl ResolvedLesson {
    /// Whether choice `index` answers the question.
    pub fn check(&self, index: usize) -> bool {
        index == self.question.answer
    }
}

/// Why a lesson could not be resolved: its script does not fit its run (a lesson bug, caught by
/// this module's tests).
#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    /// The scenario failed.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A cue never happened.
    #[error(
        "lesson {lesson}, step {step} ({title}): no such event within {within_ms} ms of the step before"
    )]
    NotFound {
        /// The lesson.
        lesson: &'static str,
        /// The step.
        step: usize,
        /// Its title.
        title: &'static str,
        /// How long was searched.
        within_ms: u64,
    },
    /// A cue or answer refers to a step that is not before it, or a template names an unknown
    /// placeholder.
    #[error("lesson {lesson}: {what}")]
    Script {
        /// The lesson.
        lesson: &'static str,
        /// What is wrong.
        what: String,
    },
}

/// How far (simulated) after the previous stop a cue is looked for.
const CUE_SEARCH_MS: u64 = 60_000;

impl Lesson {
    /// Plays the scenario and finds each step's point. Deterministic: the page's run of the same
    /// scenario passes through every point found here.
    pub fn resolve(&self) -> Result<ResolvedLesson, LessonError> {
        let mut scenario = self.scenario.clone();
        scenario.config.record_trace = true;
        let mut run = Run::new(scenario)?;
        let committee = run.sim().committee().clone();
        let (n, f, quorum) = (committee.size(), committee.max_faulty(), committee.quorum_threshold());
        let mut matches: Vec<Match> = Vec::new();
        // Trace entries taken from the run and not yet looked at.
        let mut unread: std::collections::VecDeque<(u64, TraceEntry)> = run.take_trace().into();
        // Each block's round, from the proposals seen (a payload wait names only the digest).
        let mut rounds = std::collections::BTreeMap::new();
        for (index, step) in self.steps.iter().enumerate() {
            let round = match step.cue.at {
                At::Next => None,
                At::Round(round) => Some(round),
                At::Of { step: earlier, plus } => {
                    let round = matches.get(earlier).and_then(|m| m.round).filter(|_| earlier < index);
                    Some(
                        round.ok_or_else(|| {
                            self.script(format!("step {index} refers to step {earlier}'s round"))
                        })? + plus,
                    )
                }
            };
            let mut cue = step.cue;
            if let Some(earlier) = cue.node_of {
                let node = matches.get(earlier).and_then(|m| m.node).filter(|_| earlier < index);
                cue.node =
                    Some(NodeId(node.ok_or_else(|| {
                        self.script(format!("step {index} refers to step {earlier}'s node"))
                    })?));
            }
            let found = match cue.what {
                What::Start => Some(Match::default()),
                What::Violation => {
                    let deadline = run.sim().now().plus_ms(CUE_SEARCH_MS);
                    run.run_until(|_| false, CUE_SEARCH_MS)?;
                    unread.clear();
                    let _ = run.take_trace();
                    run.sim().violation().filter(|_| run.sim().now() <= deadline).map(|violation| {
                        // The replicas the violation names: the one that broke the rule.
                        let nodes: Vec<u16> = violation.nodes.iter().map(|n| n.0).collect();
                        Match {
                            point: run.point(),
                            node: nodes.first().copied(),
                            fault_nodes: nodes,
                            ..Match::default()
                        }
                    })
                }
                _ => {
                    let deadline = run.sim().now().plus_ms(CUE_SEARCH_MS);
                    loop {
                        if let Some(found) = self.find(&cue, round, &mut unread, &mut rounds) {
                            break Some(found);
                        }
                        if run.sim().now() > deadline || !run.step()? {
                            break None;
                        }
                        unread.extend(run.take_trace());
                    }
                }
            };
            let found = found.ok_or(LessonError::NotFound {
                lesson: self.key,
                step: index,
                title: step.title,
                within_ms: CUE_SEARCH_MS,
            })?;
            matches.push(found);
        }
        let fill = |template: &str, current: Option<&Match>| {
            fill(template, current, &matches, (n, f, quorum)).map_err(|what| self.script(what))
        };
        let mut steps = Vec::new();
        for (step, at) in self.steps.iter().zip(&matches) {
            let mut focus: Vec<u16> =
                at.node.into_iter().chain(at.to).chain(at.fault_nodes.iter().copied()).collect();
            focus.sort_unstable();
            focus.dedup();
            steps.push(ResolvedStep {
                title: step.title,
                text: fill(step.text, Some(at))?,
                at: at.clone(),
                focus,
            });
        }
        let question = &self.question;
        let choices: Vec<String> = match &question.choices {
            Choices::Nodes => (0..n).map(|i| format!("n{i}")).collect(),
            Choices::Numbers(numbers) => numbers.iter().map(u64::to_string).collect(),
        };
        let node_answer = |k: usize, to: bool| {
            let m = matches.get(k).ok_or_else(|| self.script(format!("the answer refers to step {k}")))?;
            let node = if to { m.to } else { m.node };
            node.map(usize::from).ok_or_else(|| self.script(format!("step {k} matched no node")))
        };
        let number_answer = |value: usize| match &question.choices {
            Choices::Numbers(numbers) => numbers
                .iter()
                .position(|x| *x == value as u64)
                .ok_or_else(|| self.script(format!("{value} is not among the choices"))),
            Choices::Nodes => Err(self.script("a number answer needs number choices".to_string())),
        };
        let answer = match question.answer {
            Answer::NodeOf(k) => node_answer(k, false)?,
            Answer::ToOf(k) => node_answer(k, true)?,
            Answer::Quorum => number_answer(quorum)?,
            Answer::FaultsPlusOne => number_answer(f + 1)?,
        };
        let question = ResolvedQuestion {
            prompt: fill(question.prompt, None)?,
            choices,
            explanation: fill(question.explanation, None)?,
            answer,
        };
        Ok(ResolvedLesson { key: self.key, title: self.title, summary: self.summary, steps, question })
    }

    fn script(&self, what: String) -> LessonError {
        LessonError::Script { lesson: self.key, what }
    }

    /// Takes entries off `unread` up to and including the first that matches.
    fn find(
        &self,
        cue: &Cue,
        round: Option<Round>,
        unread: &mut std::collections::VecDeque<(u64, TraceEntry)>,
        rounds: &mut std::collections::BTreeMap<crate::types::Digest, Round>,
    ) -> Option<Match> {
        while let Some((step, entry)) = unread.pop_front() {
            let found = match &entry {
                TraceEntry::Observed(observed) => {
                    if let Event::ProposalSent { block } | Event::ProposalReceived { block, .. } =
                        &observed.event
                    {
                        rounds.insert(block.digest, block.round);
                    }
                    observed_match(cue.what, observed, rounds)
                }
                TraceEntry::Fault { time, fault } if cue.what == What::Fault => Some(Match {
                    point: Point { step, time: *time },
                    fault_nodes: fault_nodes(fault),
                    ..Match::default()
                }),
                _ => None,
            };
            let Some(mut found) = found else { continue };
            found.point.step = step;
            let wanted = round.is_none_or(|r| found.round == Some(r))
                && cue.node.is_none_or(|n| found.node == Some(n.0))
                && cue.to.is_none_or(|n| found.to == Some(n.0));
            if wanted {
                return Some(found);
            }
        }
        None
    }
}

fn fault_nodes(fault: &Fault) -> Vec<u16> {
    match fault {
        Fault::Crash(node)
        | Fault::Restart(node)
        | Fault::RestartForgetting(node, _)
        | Fault::Behaviour(node, _) => vec![node.0],
        Fault::LinkDelay(from, to, _) => vec![from.0, to.0],
        // A split: the smaller side (the one cut off).
        Fault::Partition(groups) => {
            groups.iter().min_by_key(|g| g.len()).map(|g| g.iter().map(|n| n.0).collect()).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The match for an observed event of kind `what`, if it is one (the step is filled in by the
/// caller).
fn observed_match(
    what: What,
    observed: &Observed,
    rounds: &std::collections::BTreeMap<crate::types::Digest, Round>,
) -> Option<Match> {
    let base = Match {
        point: Point { step: 0, time: observed.time },
        node: Some(observed.node.0),
        ..Match::default()
    };
    let block = |info: &crate::event::BlockInfo| Match {
        round: Some(info.round),
        block: Some(block_name(&info.digest, info.round)),
        height: Some(info.height),
        digest: Some(info.digest.short()),
        ..base.clone()
    };
    match (&observed.event, what) {
        (Event::ProposalSent { block: info }, What::Proposal) => Some(block(info)),
        (Event::ProposalSent { block: info }, What::PayloadProposal) if info.payload_batches > 0 => {
            Some(block(info))
        }
        (Event::VoteSent { block: digest, round, to, .. }, What::Vote) => Some(Match {
            round: Some(*round),
            block: Some(block_name(digest, *round)),
            digest: Some(digest.short()),
            to: Some(to.0),
            ..base
        }),
        (Event::VoteWithheld { block: digest, round, .. }, What::NoVote) => Some(Match {
            round: Some(*round),
            block: Some(block_name(digest, *round)),
            digest: Some(digest.short()),
            ..base
        }),
        (Event::QcFormed { qc }, What::Qc) => Some(Match {
            round: Some(qc.round),
            block: Some(block_name(&qc.block, qc.round)),
            digest: Some(qc.block.short()),
            ..base
        }),
        (Event::TimeoutSent { round, .. }, What::Timeout) => Some(Match { round: Some(*round), ..base }),
        (Event::TcFormed { tc }, What::Tc) => Some(Match { round: Some(tc.round), ..base }),
        (Event::BlockCommitted { block: info, chain }, What::Commit) => {
            Some(Match { chain: Some(chain.clone()), ..block(info) })
        }
        (Event::RoundEntered { round, .. }, What::RoundEntered) => {
            Some(Match { round: Some(*round), ..base })
        }
        (Event::BatchSealed { .. }, What::BatchSealed) => Some(base),
        (
            Event::MessageRejected { kind, offence: Some(Offence::Equivocation { author, round }), .. },
            What::Equivocation | What::DoubleVote,
        ) if kind == if what == What::Equivocation { "proposal" } else { "vote" } => {
            Some(Match { round: Some(*round), to: Some(author.0), ..base })
        }
        (Event::PayloadAwaited { block: digest, .. }, What::PayloadAwaited) => {
            let round = rounds.get(digest).copied();
            Some(Match {
                round,
                block: round.map(|r| block_name(digest, r)),
                digest: Some(digest.short()),
                ..base
            })
        }
        _ => None,
    }
}

/// Fills a template's `{placeholders}` (see [`LessonStep::text`]).
fn fill(
    template: &str,
    current: Option<&Match>,
    matches: &[Match],
    (n, f, quorum): (usize, usize, usize),
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open].replace("}}", "}"));
        // `{{` is a brace of the text (a set: {{n0, n1}}).
        if rest[open + 1..].starts_with('{') {
            out.push('{');
            rest = &rest[open + 2..];
            continue;
        }
        let close = rest[open..].find('}').ok_or_else(|| format!("unclosed {{ in {template:?}"))? + open;
        let name = &rest[open + 1..close];
        rest = &rest[close + 1..];
        let (field, of) = match name.split_once('@') {
            Some((field, k)) => {
                let k: usize = k.parse().map_err(|_| format!("bad step in {{{name}}}"))?;
                (field, Some(matches.get(k).ok_or_else(|| format!("{{{name}}}: no step {k}"))?))
            }
            None => (name, current),
        };
        let node = |id: Option<u16>| id.map(|i| format!("n{i}"));
        let value = match field {
            "n" => Some(n.to_string()),
            "f" => Some(f.to_string()),
            "quorum" => Some(quorum.to_string()),
            "node" => of.and_then(|m| node(m.node)),
            "to" => of.and_then(|m| node(m.to)),
            "round" => of.and_then(|m| m.round.map(|r| r.to_string())),
            "next_round" => of.and_then(|m| m.round.map(|r| (r + 1).to_string())),
            "block" => of.and_then(|m| m.block.clone()),
            "height" => of.and_then(|m| m.height.map(|h| h.to_string())),
            "chain" => of.and_then(|m| m.chain.as_ref()).map(|rounds| {
                let rounds: Vec<String> = rounds.iter().map(Round::to_string).collect();
                rounds.join(" and ")
            }),
            "f1" => Some((f + 1).to_string()),
            "time" => of.map(|m| format!("{:.2} s", m.point.time.as_ms() as f64 / 1000.0)),
            _ => return Err(format!("unknown placeholder {{{name}}} in {template:?}")),
        };
        out.push_str(&value.ok_or_else(|| format!("{{{name}}} has no value in {template:?}"))?);
    }
    out.push_str(&rest.replace("}}", "}"));
    Ok(out)
}

fn scenario(key: &str, config: SimConfig, interventions: Vec<(u64, Intervention)>) -> Scenario {
    let mut scenario = Scenario::new(config);
    scenario.name = format!("lesson:{key}");
    scenario.interventions = interventions
        .into_iter()
        .map(|(time, intervention)| super::Timed { step: None, time: crate::time::Time(time), intervention })
        .collect();
    scenario
}

fn step(title: &'static str, cue: Cue, text: &'static str) -> LessonStep {
    LessonStep { title, text, cue }
}

fn life_of_a_block() -> Lesson {
    use What::*;
    Lesson {
        key: "life-of-a-block",
        title: "1. The life of a block",
        summary:
            "Follow one block from its proposal, through the votes and the quorum certificate, to its commit.",
        scenario: scenario("life-of-a-block", in_turn(4, 1), Vec::new()),
        steps: vec![
            step(
                "A committee of four",
                Cue::next(Start),
                "These {n} replicas run HotStuff together. Each keeps a copy of one chain of blocks, and \
                 they must agree on it even if up to f = {f} of them fail or lie ({n} = 3f + 1). Time is \
                 cut into rounds; each round has one leader (here in turn: n0, n1, n2, ...). Anything \
                 the committee decides needs a quorum: {quorum} of {n} (n − f), so that any two quorums \
                 share at least one honest replica.",
            ),
            step(
                "A leader proposes",
                Cue::round(Proposal, 3),
                "{node} leads round {round} and broadcasts its proposal {block} (height {height}). The \
                 block names its parent by carrying the parent's quorum certificate (QC): proof that \
                 {quorum} replicas voted for it. Watch the proposal fly to the others.",
            ),
            step(
                "Votes go to the next leader",
                // n1: neither the proposer (n3) nor the next leader (n0), leaders being in turn.
                Cue { node: Some(NodeId(1)), ..Cue::of(Vote, 1, 0) },
                "{node} checks {block}: signed by the round's leader, its QC valid and from the round \
                 just before, and {node} has neither voted nor timed out in round {round} (the voting \
                 rule). It votes. The vote does not go back to the \
                 proposer: it goes to {to}, the leader of round {next_round}, who will need it to build \
                 the next block.",
            ),
            step(
                "A quorum certificate",
                Cue::of(Qc, 1, 0),
                "{node} has {quorum} votes for {block}: a quorum, so it forms a QC. {block} is now \
                 certified (solid in the block tree). A certificate alone does not commit anything: \
                 replicas that missed it could time out reporting an older QC, and a later leader \
                 could build a block that skips it.",
            ),
            step(
                "The QC rides in the next block",
                Cue::of(Proposal, 1, 1),
                "{node} leads round {round} and proposes {block}, carrying the QC of {block@1}. Every \
                 replica that receives it learns that {block@1} is certified and, the QC being from the \
                 round just before, may vote for {block}.",
            ),
            step(
                "Two certified blocks in a row",
                Cue::of(Qc, 1, 1),
                "{node} certifies {block}. Now {block@1} (round {round@1}) has a certified child in the \
                 very next round, {round}: a 2-chain.",
            ),
            step(
                "The commit",
                Cue::of(Commit, 1, 0),
                "{node} commits {block@1} (height {height}), and everything below it; the others \
                 commit it when the next block brings them this QC. Why it is final: a quorum voted \
                 for its child in round {round@5}, so each of them holds {block@1}'s QC, and every \
                 timeout they send reports a QC of round {round@1} or higher. A later block gets votes \
                 only if its QC is from the round just before, or it carries a TC and its own QC is at \
                 least as high as every QC in that TC; and every TC includes one of those voters (two quorums share \
                 an honest replica). So every block certified in a later round extends {block@1}: \
                 no conflicting block can be committed.",
            ),
        ],
        question: Question {
            prompt: "Who collected the votes for {block@1} and formed its QC?",
            choices: Choices::Nodes,
            answer: Answer::NodeOf(3),
            explanation: "Votes go to the leader of the next round: {node@3} led round {next_round@1}, so \
                          it gathered the {quorum} votes for {block@1} and put their QC in its own block.",
        },
    }
}

fn leader_crash() -> Lesson {
    use What::*;
    Lesson {
        key: "leader-crash",
        title: "2. The leader crashes",
        summary: "Why a crashed leader costs two rounds, how timeouts form a TC, and how the committee moves on.",
        scenario: scenario("leader-crash", in_turn(4, 1), vec![(2_000, Intervention::Crash { node: 2 })]),
        steps: vec![
            step(
                "Rounds go by",
                Cue::next(Start),
                "Four replicas, leaders in turn. Each replica also runs a round timer: if a round \
                 brings no progress before it expires, the replica gives up on it. At 2 s, n2 will \
                 crash.",
            ),
            step(
                "n2 crashes",
                Cue::next(Fault),
                "n2 crashes (drawn dashed). The three others are still a quorum ({quorum} of {n}), so \
                 the committee can go on, but n2 will not do its share: it neither votes nor leads.",
            ),
            step(
                "Votes to a crashed node",
                Cue { to: Some(NodeId(2)), ..Cue::next(Vote) },
                "{node} votes for {block} of round {round} and sends the vote to {to}, the leader of the \
                 next round. {to} is down, so no one will ever gather these votes: the round before a \
                 crashed leader's turn fails too, although its own leader is fine.",
            ),
            step(
                "The round times out",
                Cue::of(Timeout, 2, 0),
                "{node}'s round timer for round {round} expires: no QC came. It signs a timeout for round \
                 {round} carrying its highest QC, and sends it to everyone.",
            ),
            step(
                "A timeout certificate",
                Cue::of(Tc, 2, 0),
                "{node} has {quorum} timeouts for round {round}: a timeout certificate (TC). It proves a \
                 quorum gave up on the round, so everyone may move on to round {next_round}. It does \
                 not prove that nothing was certified in round {round}: it carries each signer's \
                 highest QC, and the next block must not fall below the highest of them.",
            ),
            step(
                "The crashed leader's own round",
                Cue::of(Timeout, 2, 1),
                "Round {round} is n2's turn to lead. No proposal comes, and {node}'s timer expires again.",
            ),
            step(
                "The next live leader",
                Cue::of(Proposal, 2, 2),
                "{node} leads round {round}. It proposes {block} with the TC of the round before and \
                 its own highest QC, at least as high as any the timeouts reported, so no block that \
                 may have been committed is abandoned.",
            ),
            step(
                "Commits resume",
                Cue::next(Commit),
                "{node} commits {block}: the blocks certified in rounds {chain} form a 2-chain. That \
                 commits the first of them and every uncommitted block below it, {block} included, \
                 whose own child was never certified. Each time n2's turn comes round, two rounds \
                 fail; leaders chosen by reputation (the default outside the lessons) rarely choose a \
                 replica that failed its turns.",
            ),
        ],
        question: Question {
            prompt: "Round {round@2}'s leader was up, yet the round failed. Which node did its votes need to reach?",
            choices: Choices::Nodes,
            answer: Answer::ToOf(2),
            explanation: "Votes go to the next round's leader, {to@2}, which was down: no QC could form, and \
                          the round timed out.",
        },
    }
}

fn split() -> Lesson {
    use What::*;
    Lesson {
        key: "split",
        title: "3. A 2–2 split",
        summary:
            "Half the committee cannot reach the other half: no quorum, no progress; heal, and it recovers.",
        scenario: scenario(
            "split",
            in_turn(4, 1),
            vec![
                (2_000, Intervention::Partition { groups: vec![vec![0, 1], vec![2, 3]] }),
                (8_000, Intervention::Heal),
            ],
        ),
        steps: vec![
            step(
                "Before the split",
                Cue::next(Start),
                "Four replicas commit a block every couple of rounds. At 2 s the network will split \
                 them into {{n0, n1}} and {{n2, n3}}.",
            ),
            step(
                "The split",
                Cue::next(Fault),
                "The network splits. Each side has 2 of {n} replicas, and a certificate, of votes or of \
                 timeouts, needs {quorum}. Neither side can certify a block, and neither can even agree \
                 to give up on a round.",
            ),
            step(
                "Stuck in a round",
                Cue::next(Timeout),
                "{node} times out round {round} and broadcasts its timeout. Only its own side hears it: 2 \
                 timeouts, short of the {quorum} a TC needs, so no one moves on. Safety costs liveness \
                 here: two halves that each went on alone could commit different blocks.",
            ),
            step(
                "Heal",
                Cue::next(Fault),
                "The network heals. The timeouts each replica sends again now reach everyone.",
            ),
            step(
                "A TC unblocks the round",
                Cue::next(Tc),
                "{node} gathers {quorum} timeouts for round {round}: a TC, and the committee moves to \
                 round {next_round}.",
            ),
            step(
                "Progress again",
                Cue::next(Commit),
                "{node} commits {block}. Nothing committed before the split was lost, and no side \
                 committed anything alone.",
            ),
        ],
        question: Question {
            prompt: "How many matching votes (or timeouts) does a certificate need in this committee of {n}?",
            choices: Choices::Numbers(vec![2, 3, 4]),
            answer: Answer::Quorum,
            explanation:
                "A quorum is n − f = {quorum} of {n}. With 2 on each side of the split, neither side \
                          reaches it.",
        },
    }
}

/// The unsafe 1-chain rule's counterexample, as in `tests/tests/unsafe_variant.rs`: the replica
/// that forms a QC (and, under 1-chain, commits at once) is cut off right then, with everything
/// it sent lost. Returns the scenario and the QC's round.
fn one_chain_fork_scenario() -> Result<(Scenario, Round), ScenarioError> {
    let mut config = in_turn(4, 3);
    config.params.commit_rule = CommitRule::UnsafeOneChain;
    let mut run = Run::from_config(config)?;
    run.run_until(|s| s.min_committed_height() >= 5, 60_000)?;
    let qcs = run.sim().stats().qcs;
    while run.sim().stats().qcs == qcs {
        if !run.step()? {
            break;
        }
    }
    let views = run.sim().views();
    let leader = views.iter().max_by_key(|v| v.high_qc_round).expect("nodes");
    let (leader, round) = (leader.id, leader.high_qc_round);
    let others: Vec<u16> = (0..4).filter(|n| NodeId(*n) != leader).collect();
    run.intervene(Intervention::Partition { groups: vec![others, vec![leader.0]] })?;
    let outgoing: Vec<u64> = run.sim().in_flight().filter(|m| m.from == leader).map(|m| m.id).collect();
    for id in outgoing {
        run.intervene(Intervention::DropMessage { id })?;
    }
    let mut scenario = run.scenario().clone();
    scenario.name = "lesson:one-chain".to_string();
    Ok((scenario, round))
}

fn one_chain() -> Lesson {
    use What::*;
    // A lesson's scenario is built by playing; a failure here is a bug the tests catch.
    let (scenario, round) = one_chain_fork_scenario().expect("the 1-chain scenario builds");
    Lesson {
        key: "one-chain",
        title: "4. Why the commit rule needs two rounds",
        summary: "Under a rule that commits on a single QC, one unlucky cut forks the committee.",
        scenario,
        steps: vec![
            step(
                "An unsafe rule",
                Cue::next(Start),
                "This run uses a deliberately broken commit rule, 1-chain: a replica commits a block as \
                 soon as it sees the block's QC, without waiting for a certified child in the next \
                 round. Everything else is the real protocol.",
            ),
            step(
                "A QC only one replica sees",
                Cue::round(Qc, round),
                "{node} gathers {quorum} votes and forms the QC of {block}. For now it is the only \
                 replica that knows the block is certified.",
            ),
            step(
                "Committed on one QC",
                Cue::round(Commit, round),
                "{node} commits {block} at once (1-chain). Under 2-chain it would wait for the next \
                 round's QC, which needs a quorum that has seen this one.",
            ),
            step(
                "Cut off",
                Cue::next(Fault),
                "At this very moment the network cuts {node@1} off, and everything it had sent is lost. \
                 The others never learn of the QC.",
            ),
            step(
                "The others give up on the round",
                Cue::next(Tc),
                "Without that QC, the other three time out and form a TC for round {round}. The \
                 highest QC their timeouts carry is older than {block@1}'s. The next round fails too: \
                 its leader is {node@1}, the one cut off.",
            ),
            step(
                "A conflicting branch",
                Cue::next(Proposal),
                "{node} leads round {round} and extends that older QC: {block} does not descend from \
                 {block@1}, which {node@1} has committed.",
            ),
            step(
                "Safety broken",
                Cue::next(Violation),
                "The others certify a block on the other branch. The safety checks catch it: a block \
                 certified after a commit must extend that commit, and this one does not. Under 2-chain \
                 the same schedule is harmless: no one would have committed {block@1} on a QC that only \
                 one replica saw.",
            ),
        ],
        question: Question {
            prompt: "Which node committed a block that the rest of the committee then left behind?",
            choices: Choices::Nodes,
            answer: Answer::NodeOf(2),
            explanation:
                "{node@2} committed {block@2} on a QC only it had seen; the others never certified a \
                          child of it in the next round, so they were free to build elsewhere.",
        },
    }
}

fn equivocation() -> Lesson {
    use What::*;
    let mut config = in_turn(4, 1);
    config.twins = vec![NodeId(0)];
    let from_n0 = |what, at| Cue { node: Some(NodeId(0)), at, ..Cue::next(what) };
    Lesson {
        key: "equivocation",
        title: "5. An equivocating leader",
        summary: "A Byzantine leader proposes two blocks in one round. The honest replicas catch it, and it costs a round, not safety.",
        scenario: scenario("equivocation", config, Vec::new()),
        steps: vec![
            step(
                "A liar in the committee",
                Cue::next(Start),
                "n0 is Byzantine. It runs twice with the same key (the instances n0 and n0′, drawn side \
                 by side), so in its rounds it proposes two blocks and votes twice. With n = {n} the \
                 committee tolerates f = {f} such replica: watch what that means.",
            ),
            step(
                "Two blocks for one round",
                from_n0(Proposal, At::Next),
                "{node} leads round {round} and proposes {block}…",
            ),
            step(
                "…and another",
                from_n0(Proposal, At::Of { step: 1, plus: 0 }),
                "…and its other instance proposes {block}: a different block for the same round, \
                 signed with the same key. Each honest replica receives both, in some order.",
            ),
            step(
                "Caught",
                Cue::of(Equivocation, 1, 0),
                "{node} now holds two blocks of round {round}, both signed by {to}: proof that {to} lied, \
                 which no honest leader ever gives. It keeps the block it saw first and votes for \
                 nothing else in the round.",
            ),
            step(
                "A double vote",
                Cue::of(DoubleVote, 1, 0),
                "{node} leads round {next_round}, so the votes of round {round} come to it. Two come from \
                 {to}, one for each block: a double vote. {node} counts the first only.",
            ),
            step(
                "The round times out",
                Cue::of(Tc, 1, 0),
                "The honest replicas voted for whichever block reached them first, so the votes split \
                 between the two and neither gathered {quorum}: round {round} ends in a timeout \
                 certificate. The lie cost a round, never safety: for both blocks of one round to be \
                 certified, their two quorums of {quorum} would have to share only liars, and any two \
                 quorums of {n} share {f1} replicas, at least one of them honest (it votes once).",
            ),
        ],
        question: Question {
            prompt: "Which node caught {to@4} voting twice in round {round@4}?",
            choices: Choices::Nodes,
            answer: Answer::NodeOf(4),
            explanation: "{node@4}: the votes of round {round@4} go to the leader of round {next_round@4}, \
                          so it is the one replica that receives both.",
        },
    }
}

/// The crash-recovery lesson's run: n0 is a twin (it equivocates in the rounds it leads). n2
/// crashes right after it votes in the first of them and restarts from its store at once; when
/// it has refused n0's other block of that round (it already voted there), it crashes again and
/// comes back from a store that lost the record of its vote. Returns the scenario and the round.
fn crash_recovery_scenario() -> Result<(Scenario, Round), ScenarioError> {
    let mut config = in_turn(4, 1);
    config.twins = vec![NodeId(0)];
    config.record_trace = true;
    let mut run = Run::from_config(config)?;
    let mut round = 0;
    for restart in [Intervention::Restart { node: 2 }, Intervention::RestartForgetting { node: 2 }] {
        // First n2's vote in a round n0 leads (the rounds 0 mod 4), then its refusal of the
        // other block of that round.
        loop {
            if !run.step()? || run.sim().now().as_ms() > 60_000 {
                return Err(ScenarioError::InvalidConfig("n2 never voted in a round n0 leads".to_string()));
            }
            let seen = run.take_trace().into_iter().any(|(_, entry)| match entry {
                TraceEntry::Observed(Observed { node: NodeId(2), event, .. }) => match event {
                    Event::VoteSent { round: r, .. } if round == 0 && r % 4 == 0 => {
                        round = r;
                        true
                    }
                    Event::VoteWithheld { round: r, .. } => r == round,
                    _ => false,
                },
                _ => false,
            });
            if seen {
                break;
            }
        }
        // A millisecond apart, so that each is a stop of its own.
        for intervention in [Intervention::Crash { node: 2 }, restart] {
            let later = crate::Time(run.sim().now().as_ms() + 1);
            run.advance_to(later, u64::MAX)?;
            run.intervene(intervention)?;
        }
    }
    let mut scenario = run.scenario().clone();
    scenario.name = "lesson:crash-recovery".to_string();
    scenario.config.record_trace = false;
    Ok((scenario, round))
}

fn crash_recovery() -> Lesson {
    use What::*;
    // A lesson's scenario is built by playing; a failure here is a bug the tests catch.
    let (scenario, round) = crash_recovery_scenario().expect("the crash-recovery scenario builds");
    let n2 = |what| Cue { node: Some(NodeId(2)), ..Cue::round(what, round) };
    Lesson {
        key: "crash-recovery",
        title: "7. Crash recovery: write it down before you say it",
        summary: "A replica that forgets its vote when it restarts votes twice, just as a liar does.",
        scenario,
        steps: vec![
            step(
                "Persist before send",
                Cue::next(Start),
                "Before a replica sends a vote, it writes to disk that it voted in that round (with its \
                 round and its lock): persist before send. This lesson shows why. n0 is a twin again, so \
                 it proposes two blocks in each round it leads; n2 is honest, but its machine will \
                 crash twice.",
            ),
            step(
                "A vote, on disk first",
                n2(Vote),
                "{node} votes for {block}, the first of n0's two blocks of round {round} to reach it. \
                 Before the vote left, its store recorded that it voted in round {round}.",
            ),
            step("A crash", Cue::next(Fault), "{node@1} crashes just after sending that vote…"),
            step(
                "…and a restart",
                Cue::next(Fault),
                "…and restarts at once, reading its safety state back from its store: it is in round \
                 {round@1} and has voted there.",
            ),
            step(
                "The other block: no",
                n2(NoVote),
                "n0's other block, {block}, reaches {node}. It does not vote: its store says it already \
                 voted in round {round}. One vote per round holds across the crash.",
            ),
            step("Another crash", Cue::next(Fault), "{node@1} crashes again."),
            step(
                "A disk that forgot",
                Cue::next(Fault),
                "This time it restarts from a store that lost the record of its vote: the disk said the \
                 write was done, but it sat in a cache the power cut wiped (or an operator restored \
                 last night's backup). {node@1} believes it never voted in round {round@1}.",
            ),
            step(
                "A second vote",
                Cue::next(Violation),
                "n0's other block reaches {node@1} again (n0 keeps resending it), and {node@1} votes for it: \
                 nothing it remembers forbids it. It has now signed votes for two different blocks of \
                 round {round@1}, and the safety checks catch it at once: one vote per round, across \
                 restarts. Nothing is wrong with {node@1}'s code, yet to the others it now looks exactly \
                 like a Byzantine replica. With n0 that makes two replicas that sign twice, f + 1 = \
                 {f1}: enough for two quorums to overlap only in them, and so for two conflicting blocks \
                 to be certified (lesson 6). That is why the vote is durable before it is sent, and why \
                 the checker compares every message with its sender's store.",
            ),
        ],
        question: Question {
            prompt: "Which honest replica signed two votes in round {round@1}?",
            choices: Choices::Nodes,
            answer: Answer::NodeOf(1),
            explanation: "{node@1}: its store forgot its first vote, so after the restart it voted again, \
                          for n0's other block.",
        },
    }
}

fn byzantine_bound() -> Lesson {
    use What::*;
    let mut config = in_turn(4, 1);
    config.twins = vec![NodeId(0), NodeId(1)];
    Lesson {
        key: "byzantine-bound",
        title: "6. Byzantine replicas: the f bound",
        summary: "f liars cannot break safety; f + 1 can. Two twins (one key, two instances) fork a committee of four.",
        scenario: scenario(
            "byzantine-bound",
            config,
            vec![(0, Intervention::Partition { groups: vec![vec![0, 1, 2], vec![3, 4, 5]] })],
        ),
        steps: vec![
            step(
                "Two twins",
                Cue::next(Start),
                "n0 and n1 are Byzantine: each runs twice with the same key (n0′ and n1′), one instance \
                 on each side of a split. A twin votes and proposes on both sides, which is what a liar \
                 does. With f = {f} the committee tolerates one such node; here there are f + 1 = 2.",
            ),
            step(
                "One side commits",
                Cue::next(Commit),
                "{block} is committed at height {height}, first by an instance of {node} (a twinned \
                 replica: one instance is on each side, so the drawing shows which side by which of \
                 its instances moved on). Each side is a quorum of {quorum}, {{n0, n1, n2}} and \
                 {{n0′, n1′, n3}}, and each can commit: the two quorums share only Byzantine \
                 replicas, and the quorum argument needs an honest one in common.",
            ),
            step(
                "Safety broken",
                Cue::next(Violation),
                "The other side certifies a block that does not extend {block@1}. With one \
                 twin (f Byzantine; the “f Byzantine” scenario), the other side has only 2 and stalls: \
                 safety holds.",
            ),
        ],
        question: Question {
            prompt: "How many Byzantine replicas does it take to break the safety of a committee of {n}?",
            choices: Choices::Numbers(vec![1, 2, 3, 4]),
            answer: Answer::FaultsPlusOne,
            explanation: "f + 1 = {f1}. With n = 3f + 1 and quorums of n − f, two quorums share at least \
                          f + 1 replicas; with at most f Byzantine, at least one of them is honest, and an \
                          honest replica never votes for two blocks in one round, nor for a block that \
                          the voting rule rules out later.",
        },
    }
}

fn mempool() -> Lesson {
    use What::*;
    Lesson {
        key: "mempool",
        title: "8. The mempool: batches and digests",
        summary:
            "Transactions travel in batches; blocks carry only their digests; a voter may wait for a batch.",
        scenario: scenario("mempool", in_turn(4, 1), Vec::new()),
        steps: vec![
            step(
                "Clients and mempools",
                Cue::next(Start),
                "Each replica's mempool takes transactions from clients. Consensus never carries them: \
                 it orders digests (32-byte hashes) of batches of them. Each message here takes 10 to \
                 40 ms, so messages sent at once arrive in any order.",
            ),
            step(
                "A batch is sealed",
                Cue::next(BatchSealed),
                "{node}'s mempool seals a batch of transactions and sends it to every other mempool \
                 (the small grey dots).",
            ),
            step(
                "A block with a payload",
                Cue::next(PayloadProposal),
                "{node} proposes {block}: its payload is a list of batch digests, not the transactions, \
                 so a block stays small however much it orders.",
            ),
            step(
                "A voter waits for the payload",
                Cue::next(PayloadAwaited),
                "{node} has {block} but not yet every batch it names: the block overtook a batch. It \
                 does not vote for data it has not seen (it could not execute the block later), so it \
                 waits for the batch, and asks a peer for it if it does not come.",
            ),
            step(
                "The vote",
                Cue { node_of: Some(3), ..Cue::of(Vote, 3, 0) },
                "The batch arrived; {node} votes for {block}.",
            ),
        ],
        question: Question {
            prompt: "Once its batch had arrived, to which node did {node@4} send its vote for {block@4}?",
            choices: Choices::Nodes,
            answer: Answer::ToOf(4),
            explanation: "{to@4}, the leader of round {next_round@4}: a vote goes to the next leader, who \
                          gathers the quorum into a QC. Waiting for the batch only delayed it.",
        },
    }
}

/// Every lesson, in the order the page offers them.
pub fn lessons() -> Vec<Lesson> {
    vec![
        life_of_a_block(),
        leader_crash(),
        split(),
        one_chain(),
        equivocation(),
        byzantine_bound(),
        crash_recovery(),
        mempool(),
    ]
}

/// The lesson with this key.
pub fn lesson(key: &str) -> Option<Lesson> {
    lessons().into_iter().find(|l| l.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Invariant;

    /// Texts refer to lessons by number ("lesson 6"): the numbers in the titles are the order
    /// in which the page offers them.
    #[test]
    fn lesson_titles_are_numbered_in_the_order_the_page_offers_them() {
        for (i, lesson) in lessons().iter().enumerate() {
            assert!(lesson.title.starts_with(&format!("{}. ", i + 1)), "{}", lesson.title);
        }
    }

    /// The crash-recovery lesson's schedule, played with the store that forgets and with a
    /// durable one: the same crashes are harmless when the vote was persisted before it was sent.
    #[test]
    fn persist_before_send_is_what_keeps_a_restarted_replica_from_voting_twice() {
        let (forgetful, round) = crash_recovery_scenario().expect("builds");
        let mut run = Run::new(forgetful.clone()).expect("plays");
        let _ = run.run_until(|s| s.min_committed_height() >= 20, 20_000);
        let violation = run.sim().violation().expect("the forgetful restart makes n2 vote twice");
        assert_eq!(violation.invariant, Invariant::OneVotePerRound, "{violation}");
        assert!(violation.description.contains(&format!("n2 voted twice in round {round}")), "{violation}");
        assert_eq!(violation.nodes, vec![NodeId(2)], "the violation names the replica that broke the rule");

        let mut durable = forgetful;
        for timed in &mut durable.interventions {
            if let Intervention::RestartForgetting { node } = timed.intervention {
                timed.intervention = Intervention::Restart { node };
            }
        }
        let mut run = Run::new(durable).expect("plays");
        let live = run.run_until(|s| s.min_committed_height() >= 20, 20_000).expect("plays");
        assert!(run.sim().violation().is_none(), "{:?}", run.sim().violation());
        assert!(live, "with a durable store the committee commits on");
    }

    #[test]
    fn lessons_resolve_with_every_cue_found_and_every_placeholder_filled() {
        for lesson in lessons() {
            let resolved = lesson.resolve().unwrap_or_else(|e| panic!("{e}"));
            let mut last = Point::default();
            for step in &resolved.steps {
                assert!(
                    step.at.point >= last,
                    "{}: {} comes before the step before it",
                    lesson.key,
                    step.title
                );
                last = step.at.point;
                assert!(
                    !step.text.contains('{') || step.text.contains("{n0"),
                    "{}: {}",
                    lesson.key,
                    step.text
                );
            }
            assert!(resolved.question.answer < resolved.question.choices.len());
        }
    }

    #[test]
    fn a_lesson_stops_only_where_the_run_passes() {
        // Every stop is a point the page's run (the same scenario) can seek to.
        for lesson in lessons() {
            let resolved = lesson.resolve().expect("resolves");
            let mut run = Run::new(lesson.scenario.clone()).expect("runs");
            for step in resolved.steps.iter().rev() {
                run.seek(step.at.point).unwrap_or_else(|e| panic!("{}: {}: {e}", lesson.key, step.title));
                assert_eq!(run.point(), step.at.point);
            }
        }
    }

    #[test]
    fn the_answer_is_read_off_the_run() {
        let resolved = life_of_a_block().resolve().expect("resolves");
        // Under leaders in turn, the leader of the next round collects the votes.
        let round = resolved.steps[1].at.round.expect("a round");
        assert!(resolved.check(((round + 1) % 4) as usize));
        assert!(!resolved.check((round % 4) as usize), "the proposer does not collect its own block's votes");
        let split = split().resolve().expect("resolves");
        assert_eq!(split.question.choices[split.question.answer], "3");
    }

    #[test]
    fn a_placeholder_the_step_cannot_fill_is_a_script_error() {
        let mut lesson = life_of_a_block();
        lesson.steps[0].text = "{block}";
        assert!(matches!(lesson.resolve(), Err(LessonError::Script { .. })));
        let mut lesson = life_of_a_block();
        lesson.steps[2].cue = Cue::of(What::Vote, 5, 0);
        assert!(matches!(lesson.resolve(), Err(LessonError::Script { .. })));
    }
}
