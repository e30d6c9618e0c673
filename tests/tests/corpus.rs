//! The scenario corpus: every preset the page ships, and every file in `tests/scenarios/`, run
//! to its expectation (safe and live to a height; or the invariant it must break; optionally a
//! pinned trace digest).
//!
//! A file gets here from the page's Export, from a failing sweep seed (`hotstuff sim --sweep`
//! writes `failures/sweep-seed-N.json`), or by hand (interventions may give only a `time`). The
//! format is `hotstuff_core::sim::Scenario` (see its module docs and the README).

use hotstuff_core::sim::{presets, Intervention, Run, Scenario, SimConfig};
use hotstuff_core::{CommitRule, NodeId};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn every_preset_the_page_ships_meets_its_expectation() {
    let presets = presets();
    assert!(presets.len() >= 5);
    for preset in presets {
        assert!(preset.scenario.expect.is_some(), "preset {} says what it shows", preset.key);
        if let Err(failure) = preset.scenario.check() {
            panic!("preset {}: {failure}", preset.key);
        }
    }
}

#[test]
fn every_scenario_file_meets_its_expectation() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/scenarios exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the corpus has its seed files ({} found)", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let json = std::fs::read_to_string(file).expect("readable");
        let outcome =
            Scenario::from_json(&json).map_err(|e| e.to_string()).and_then(|s| s.check().map(|_| ()));
        if let Err(failure) = outcome {
            failures.push(format!("{}: {failure}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The unsafe 1-chain counterexample (see `unsafe_variant.rs`), recorded as a scenario: the
/// interventions happen at the exact step where the leader forms its QC, which no hand-written
/// time could hit. `HOTSTUFF_WRITE_CORPUS=1 cargo test -p hotstuff-tests --test corpus`
/// rewrites the generated files; otherwise the test checks that they are up to date.
#[test]
fn generated_corpus_files_are_up_to_date() {
    for (stem, rule) in
        [("one-chain-fork", CommitRule::UnsafeOneChain), ("two-chain-same-schedule", CommitRule::TwoChain)]
    {
        let mut scenario = isolate_leader_right_after_it_forms_a_qc(rule);
        scenario.name = stem.to_string();
        let path = corpus_dir().join(format!("{stem}.json"));
        let json = scenario.to_json() + "\n";
        if std::env::var_os("HOTSTUFF_WRITE_CORPUS").is_some() {
            std::fs::write(&path, &json).expect("writable");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(on_disk, json, "{} is stale: rerun with HOTSTUFF_WRITE_CORPUS=1", path.display());
    }
}

fn isolate_leader_right_after_it_forms_a_qc(rule: CommitRule) -> Scenario {
    let mut config = SimConfig { nodes: 4, seed: 3, ..SimConfig::default() };
    config.params.commit_rule = rule;
    // As `unsafe_variant.rs` (and as when these files were first written).
    config.params.leader_election = hotstuff_core::LeaderElection::RoundRobin;
    let mut run = Run::from_config(config).unwrap();
    assert!(run.run_until(|s| s.min_committed_height() >= 5, 60_000).unwrap());
    let qcs = run.sim().stats().qcs;
    while run.sim().stats().qcs == qcs {
        assert!(run.step().unwrap());
    }
    let leader = run.sim().views().iter().max_by_key(|v| v.high_qc_round).map(|v| v.id).unwrap();
    let others: Vec<u16> = (0..4).filter(|n| NodeId(*n) != leader).collect();
    run.intervene(Intervention::Partition { groups: vec![others, vec![leader.0]] }).unwrap();
    let outgoing: Vec<u64> = run.sim().in_flight().filter(|m| m.from == leader).map(|m| m.id).collect();
    for id in outgoing {
        run.intervene(Intervention::DropMessage { id }).unwrap();
    }
    let until = run.sim().now().plus_ms(30_000);
    run.advance_to(until, u64::MAX).unwrap();
    let mut scenario = run.scenario().clone();
    let sim = run.sim();
    scenario.expect = Some(hotstuff_core::sim::Expectation {
        until_ms: until.as_ms(),
        until_step: None,
        outcome: match sim.violation() {
            Some(v) => hotstuff_core::sim::Outcome::Violates { invariant: v.invariant },
            // The isolated leader stays where it was cut off (unsafe_variant.rs checks that the
            // three others go on committing).
            None => hotstuff_core::sim::Outcome::Safe { min_height: 5 },
        },
        digest: None,
    });
    scenario
}

/// `tests/scenarios/open/` holds runs that show a known, open bug: each must still fail its
/// expectation. When one passes, the bug is fixed: move it up into `tests/scenarios/`. Its
/// interventions give only a `time`, not a `step`: a fix changes the steps of a run, and a
/// step-pinned file would then fail to replay (a replay error, not the bug).
///
/// Open: none. Fixed so far:
/// `sweep-seed-700-a-replica-15-blocks-behind-catches-up.json` (issue 14: a replica cut off by a
/// partition fell 15 blocks behind and never committed again; now it catches up),
/// `sweep-seed-154-crashes-during-steps-lose-no-commit.json` (a crash between the `Persist` that
/// recorded a commit and the `Commit` lost that block for the application; now commits are
/// delivered at least once, before the `Persist`) and
/// `sweep-seed-114-a-restarted-leader-does-not-propose-a-committed-batch-again.json` (issue 13:
/// a restarted leader proposed a batch committed just before its crash, and it committed twice;
/// now replicas remember recently committed batches across restarts and refuse repeats).
#[test]
fn open_bugs_still_reproduce() {
    let dir = corpus_dir().join("open");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios/open exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in &files {
        let scenario =
            Scenario::from_json(&std::fs::read_to_string(file).expect("readable")).expect("a scenario");
        assert!(
            scenario.interventions.iter().all(|i| i.step.is_none()),
            "{}: an open bug's interventions give only a time (see above)",
            file.display()
        );
        assert!(
            scenario.check().is_err(),
            "{} meets its expectation now: the bug it shows is fixed; move it into tests/scenarios/",
            file.display()
        );
    }
}
