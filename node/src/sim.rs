//! `hotstuff sim`: the simulator, headless.

use clap::Args;
use hotstuff_core::sim::{Run, Scenario, SimConfig, Simulation};
use hotstuff_core::{CommitRule, LeaderElection, NodeId, Time};
use serde::Serialize;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `hotstuff sim`.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Committee size.
    #[arg(long, default_value_t = 4)]
    nodes: u16,
    /// Seed for keys, latencies and losses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop when every live node has committed this many blocks.
    #[arg(long, default_value_t = 100)]
    blocks: u64,
    /// Probability that a message is lost (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Crash this many nodes (the highest ids) from the start.
    #[arg(long, default_value_t = 0)]
    crash: u16,
    /// Use the 3-chain commit rule instead of 2-chain.
    #[arg(long)]
    three_chain: bool,
    /// Choose leaders in turn (`round mod n`) instead of by reputation (the default: drawn from
    /// the committed history, so crashed replicas are rarely chosen).
    #[arg(long)]
    round_robin: bool,
    /// Heights of committed history each replica's store keeps (`retain_heights`).
    #[arg(long)]
    retain_heights: Option<u64>,
    /// Every this many committed blocks, print one line of what the run holds: the process's
    /// resident memory (now and peak, from /proc), and node 0's store (index entries, blocks,
    /// batches). For long runs: memory must stay flat once the stores are full.
    #[arg(long)]
    memory_every: Option<u64>,
    /// Give up after this much simulated time (default: 10 s per block, at least 10 minutes).
    #[arg(long)]
    max_sim_ms: Option<u64>,
    /// Verify every signature at every replica (no memo of verified signatures across the
    /// simulated replicas): shows the raw cost of n replicas each checking everything.
    #[arg(long)]
    no_verification_memo: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Instead of one run: a sweep of this many seeds, each with random faults (crashes,
    /// partitions, losses, up to f Byzantine replicas), checking safety on every step and
    /// liveness after healing.
    #[arg(long, value_name = "SEEDS")]
    sweep: Option<u64>,
    /// The first seed of a sweep (replay a failure with `--sweep 1 --first-seed <seed>`).
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// In a sweep or a Twins run, check safety only (skip the liveness phase).
    #[arg(long)]
    safety_only: bool,
    /// In a sweep, half the crashes land between two actions of a replica's step (after a
    /// `Persist`, before its send): persist-before-send and recovery under crashes anywhere.
    #[arg(long)]
    crash_during_steps: bool,
    /// Instead of one run: this many enumerated Twins scenarios (each round a leader and a
    /// partition of the replica instances, twins included; then heal and check liveness). More
    /// than the space holds runs the whole space.
    #[arg(long, value_name = "SCENARIOS")]
    twins_scenarios: Option<u64>,
    /// Twins: how many nodes have a twin (nodes 0, 1, …). f keeps safety; f + 1 must break it.
    #[arg(long, default_value_t = 1)]
    twins: u16,
    /// Twins: scenario rounds R (each gets its own leader and partition).
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Twins: most groups in a round's partition P.
    #[arg(long, default_value_t = 2)]
    partitions: usize,
    /// Twins: the first position to run (a scenario index, or a position in the shuffled order).
    #[arg(long, default_value_t = 0)]
    first: u128,
    /// Twins: walk the scenarios in this seed's pseudo-random order (no repeats) instead of
    /// index order; for samples of a space too large to run whole.
    #[arg(long, value_name = "SEED")]
    shuffle: Option<u64>,
    /// Twins: stop at the first failing scenario.
    #[arg(long)]
    stop_on_failure: bool,
    /// Twins: run each scenario under this many timing seeds (`--seed`, `--seed` + 1, …: other
    /// latencies, so other interleavings within each round's partition).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    timing_seeds: u64,
    /// Twins: what a round's partition may do to a message that would cross it, each a choice
    /// of the scenario space: 0 drops it (the paper), a positive delay delivers it that many ms
    /// late (so a replica can time out in a round, then hear from it). E.g. `0,1500`.
    #[arg(long, value_name = "MS,...", value_delimiter = ',', default_value = "0")]
    delays: Vec<u64>,
    /// Instead of one run from the flags: replay a scenario file (JSON, as the page's Export
    /// writes and `tests/scenarios/` holds). With an expectation in the file and no
    /// `--until-ms`, checks it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["link", "sweep", "twins_scenarios"])]
    scenario: Option<std::path::PathBuf>,
    /// Instead of one run from the flags: replay a page's share link (the whole URL, or the part
    /// after `#`), to the point it was shared at.
    #[arg(long, value_name = "URL", conflicts_with_all = ["sweep", "twins_scenarios"])]
    link: Option<String>,
    /// With --scenario or --link: play to this virtual time (ms) instead.
    #[arg(long, value_name = "MS")]
    until_ms: Option<u64>,
    /// A sweep or a Twins run writes each failure here as a scenario file (a ready regression
    /// test).
    #[arg(long, value_name = "DIR", default_value = "failures")]
    failures_dir: std::path::PathBuf,
}

#[derive(Debug, Serialize)]
struct SweepSummary {
    runs: u64,
    first_seed: u64,
    wall_ms: u64,
    runs_per_second: f64,
    violations: u64,
    liveness_failures: u64,
    failing_seeds: Vec<u64>,
}

fn sweep(args: &SimArgs, runs: u64) -> ExitCode {
    use hotstuff_core::sim::sweep::{run_seed_recorded, SweepConfig, SweepFailure};
    let config = SweepConfig {
        liveness: !args.safety_only,
        crash_during_steps: args.crash_during_steps,
        ..SweepConfig::default()
    };
    let started = Instant::now();
    let (mut violations, mut liveness_failures, mut failing_seeds) = (0, 0, Vec::new());
    for (done, seed) in (args.first_seed..args.first_seed + runs).enumerate() {
        let (result, scenario) = run_seed_recorded(seed, &config);
        if let Err(failure) = result {
            match failure {
                SweepFailure::Safety(_) => violations += 1,
                SweepFailure::Liveness { .. } => liveness_failures += 1,
            }
            eprintln!("seed {seed} FAILED: {failure}");
            let extra = if args.crash_during_steps { " --crash-during-steps" } else { "" };
            eprintln!("  replay: hotstuff sim --sweep 1 --first-seed {seed}{extra}");
            save_failure(&args.failures_dir, &scenario);
            failing_seeds.push(seed);
        }
        let done = done as u64 + 1;
        if !args.json && (done % 10 == 0 || done == runs) {
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprintln!("{done}/{runs} runs, {rate:.1} runs/s, {} failing", failing_seeds.len());
        }
    }
    let wall_ms = started.elapsed().as_millis() as u64;
    let summary = SweepSummary {
        runs,
        first_seed: args.first_seed,
        wall_ms,
        runs_per_second: runs as f64 / (wall_ms.max(1) as f64 / 1000.0),
        violations,
        liveness_failures,
        failing_seeds,
    };
    if args.json {
        // Serialising a plain struct to a String cannot fail.
        println!("{}", serde_json::to_string(&summary).expect("summary serialises"));
    } else {
        println!(
            "sweep: {} runs from seed {} in {} ms ({:.1} runs/s): {} safety violations, {} liveness failures",
            summary.runs,
            summary.first_seed,
            summary.wall_ms,
            summary.runs_per_second,
            violations,
            liveness_failures
        );
    }
    if summary.failing_seeds.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Writes a failing run as a scenario file, and says how to replay it.
fn save_failure(dir: &std::path::Path, scenario: &Scenario) {
    let path = dir.join(format!("{}.json", scenario.name));
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, scenario.to_json())) {
        Ok(()) => eprintln!(
            "  scenario: {} (hotstuff sim --scenario {0}; copy it into tests/scenarios/ to keep it as a test)",
            path.display()
        ),
        Err(error) => eprintln!("  could not write {}: {error}", path.display()),
    }
}

#[derive(Debug, Serialize)]
struct TwinsSummary {
    nodes: u16,
    twins: u16,
    rounds: usize,
    partitions_per_round: usize,
    /// The whole space, as a decimal string (it can exceed what JSON numbers hold exactly).
    space: String,
    first: String,
    shuffle: Option<u64>,
    scenarios: u64,
    /// Timing seeds per scenario, and the runs made (scenarios × timing seeds, or fewer when a
    /// failure stopped the run).
    timing_seeds: u64,
    runs: u64,
    played_out: u64,
    /// Scenarios in which a stalled round's partition had to be lifted.
    stalled: u64,
    wall_ms: u64,
    scenarios_per_second: f64,
    violations: u64,
    liveness_failures: u64,
    failing_scenarios: Vec<String>,
}

/// `--twins-scenarios`: runs enumerated Twins scenarios (`hotstuff_core::sim::twins`).
fn twins(args: &SimArgs, scenarios: u64) -> ExitCode {
    use hotstuff_core::sim::sweep::SweepFailure;
    use hotstuff_core::sim::twins::{run_scenario_recorded, ScenarioSpace, TwinsRunConfig};
    if args.twins > args.nodes {
        eprintln!("error: --twins must be at most --nodes");
        return ExitCode::from(2);
    }
    let twins = (0..args.twins).map(NodeId).collect();
    let space = match ScenarioSpace::new(args.nodes, twins, args.rounds, args.partitions)
        .and_then(|space| space.with_delays(args.delays.clone()))
    {
        Ok(space) => space,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if args.first >= space.size() {
        eprintln!("error: --first {} is past the {} scenarios", args.first, space.size());
        return ExitCode::from(2);
    }
    let count = u128::from(scenarios).min(space.size() - args.first) as u64;
    let permutation = args.shuffle.map(|seed| space.permutation(seed));
    let base = TwinsRunConfig { seed: args.seed, liveness: !args.safety_only, ..TwinsRunConfig::default() };
    if !args.json {
        eprintln!(
            "twins: n = {}, {} twin(s), R = {}, P = {}: {} partitions × {} leaders{} a round, {} scenarios; running {count}{}",
            space.nodes(),
            space.twins().len(),
            space.rounds(),
            space.max_groups(),
            space.partitions().len(),
            space.leaders().len(),
            match space.delays_ms() {
                [0] => String::new(),
                delays => format!(" × {} delays {delays:?} ms", delays.len()),
            },
            space.size(),
            match args.shuffle {
                Some(seed) => format!(" in shuffled order (seed {seed}) from position {}", args.first),
                None => format!(" from index {}", args.first),
            } + &if args.timing_seeds > 1 {
                format!(", each under {} timing seeds", args.timing_seeds)
            } else {
                String::new()
            }
        );
    }
    let started = Instant::now();
    let mut last_report = Instant::now();
    let (mut done, mut played_out, mut stalled, mut violations, mut liveness_failures) = (0u64, 0, 0, 0, 0);
    let mut runs = 0u64;
    let mut failing_scenarios = Vec::new();
    for position in args.first..args.first + u128::from(count) {
        let index = permutation.as_ref().map_or(position, |p| p.apply(position));
        let scenario = space.scenario(index);
        for timing in 0..args.timing_seeds {
            let config = TwinsRunConfig { seed: args.seed + timing, ..base.clone() };
            let (result, recorded) = run_scenario_recorded(&space, &scenario, &config);
            runs += 1;
            match result {
                Ok(outcome) => {
                    played_out += u64::from(outcome.played_out);
                    stalled += u64::from(outcome.stalls > 0);
                }
                Err(failure) => {
                    match failure {
                        SweepFailure::Safety(_) => violations += 1,
                        SweepFailure::Liveness { .. } => liveness_failures += 1,
                    }
                    eprintln!("scenario {scenario} FAILED: {failure}");
                    eprintln!(
                    "  replay: hotstuff sim --twins-scenarios 1 --nodes {} --twins {} --rounds {} --partitions {} --seed {} --first {index}{}",
                    args.nodes,
                    args.twins,
                    args.rounds,
                    args.partitions,
                    config.seed,
                    if args.safety_only { " --safety-only" } else { "" }
                );
                    save_failure(&args.failures_dir, &recorded);
                    failing_scenarios.push(format!("{scenario} (seed {})", config.seed));
                    if args.stop_on_failure {
                        break;
                    }
                }
            }
        }
        done += 1;
        let stop = args.stop_on_failure && !failing_scenarios.is_empty();
        if !args.json && (last_report.elapsed().as_secs() >= 10 || done == count || stop) {
            last_report = Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "{done}/{count} scenarios, {rate:.1} scenarios/s, {played_out} played out, {} failing",
                failing_scenarios.len()
            );
        }
        if stop {
            break;
        }
    }
    let wall_ms = started.elapsed().as_millis() as u64;
    let summary = TwinsSummary {
        nodes: args.nodes,
        twins: args.twins,
        rounds: args.rounds,
        partitions_per_round: space.partitions().len(),
        space: space.size().to_string(),
        first: args.first.to_string(),
        shuffle: args.shuffle,
        scenarios: done,
        timing_seeds: args.timing_seeds,
        runs,
        played_out,
        stalled,
        wall_ms,
        scenarios_per_second: runs as f64 / (wall_ms.max(1) as f64 / 1000.0),
        violations,
        liveness_failures,
        failing_scenarios,
    };
    if args.json {
        // Serialising a plain struct to a String cannot fail.
        println!("{}", serde_json::to_string(&summary).expect("summary serialises"));
    } else {
        println!(
            "twins: {} scenarios of {} ({} runs: {} timing seed(s) each) in {} ms ({:.1} runs/s), {} played out ({} after a stall): {} safety violations, {} liveness failures",
            summary.scenarios,
            summary.space,
            summary.runs,
            summary.timing_seeds,
            summary.wall_ms,
            summary.scenarios_per_second,
            summary.played_out,
            summary.stalled,
            violations,
            liveness_failures
        );
    }
    if summary.failing_scenarios.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    nodes: u16,
    seed: u64,
    crashed: u16,
    target_blocks: u64,
    committed_blocks: u64,
    reached_target: bool,
    rounds: u64,
    timeouts: u64,
    tcs: u64,
    messages_sent: u64,
    messages_dropped: u64,
    sent_by_kind: BTreeMap<String, u64>,
    steps: u64,
    sim_time_ms: u64,
    wall_ms: u64,
    committed_blocks_per_wall_second: f64,
    trace_digest: String,
    violations: Vec<String>,
}

pub(crate) fn run(args: &SimArgs) -> ExitCode {
    if let Some(runs) = args.sweep {
        return sweep(args, runs);
    }
    if let Some(scenarios) = args.twins_scenarios {
        return twins(args, scenarios);
    }
    if args.scenario.is_some() || args.link.is_some() {
        return replay(args);
    }
    if !(0.0..=1.0).contains(&args.drop) {
        eprintln!("error: --drop must be between 0 and 1");
        return ExitCode::from(2);
    }
    if args.crash >= args.nodes {
        eprintln!("error: --crash must leave at least one node running");
        return ExitCode::from(2);
    }
    let mut config = SimConfig { nodes: args.nodes, seed: args.seed, ..SimConfig::default() };
    config.net.drop_ppm = (args.drop * 1_000_000.0).round() as u32;
    config.verification_memo = !args.no_verification_memo;
    if args.three_chain {
        config.params.commit_rule = CommitRule::ThreeChain;
    }
    if args.round_robin {
        config.params.leader_election = LeaderElection::RoundRobin;
    }
    if let Some(retain) = args.retain_heights {
        config.params.retain_heights = retain;
    }
    if let Err(error) = config.params.validate() {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let max_sim_ms = args.max_sim_ms.unwrap_or_else(|| args.blocks.saturating_mul(10_000).max(600_000));

    let started = Instant::now();
    let mut sim = Simulation::new(config);
    for i in args.nodes - args.crash..args.nodes {
        sim.crash(NodeId(i));
    }
    let outcome = match args.memory_every {
        None => sim.run_until(|s| s.min_committed_height() >= args.blocks, max_sim_ms),
        Some(every) => run_reporting_memory(&mut sim, args.blocks, every.max(1), max_sim_ms, started),
    };
    let wall_ms = started.elapsed().as_millis() as u64;

    if let Err(violation) = &outcome {
        debug_assert_eq!(sim.violation(), Some(violation));
    }
    let summary = summarize(&sim, args.crash, args.blocks, wall_ms);
    print_summary(&summary, args.json);
    if !summary.violations.is_empty() || !summary.reached_target {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `run_until` in stretches of `every` blocks, with a line of memory figures after each.
fn run_reporting_memory(
    sim: &mut Simulation,
    blocks: u64,
    every: u64,
    max_sim_ms: u64,
    started: Instant,
) -> Result<bool, hotstuff_core::sim::Violation> {
    let deadline = sim.now().as_ms() + max_sim_ms;
    println!("height     sim_s   wall_s   rss_MiB  peak_MiB  index  blocks  batches");
    loop {
        let mark = (sim.min_committed_height() / every + 1) * every;
        let mark = mark.min(blocks);
        let left = deadline.saturating_sub(sim.now().as_ms());
        if !sim.run_until(|s| s.min_committed_height() >= mark, left)? {
            return Ok(false);
        }
        let (index, held, batches) = sim.with_store(NodeId(0), |store| {
            use hotstuff_core::store::COMMIT_PREFIX;
            (store.count_prefix(COMMIT_PREFIX), store.count_prefix(b"block/"), store.count_prefix(b"batch/"))
        });
        let (rss, peak) = memory_kib();
        println!(
            "{:<9} {:>6.0} {:>8.1} {:>9.1} {:>9.1} {:>6} {:>7} {:>8}",
            sim.min_committed_height(),
            sim.now().as_ms() as f64 / 1000.0,
            started.elapsed().as_secs_f64(),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
            index,
            held,
            batches
        );
        if mark >= blocks {
            return Ok(true);
        }
    }
}

/// This process's resident set now and at its peak, in KiB (Linux: `/proc/self/status`;
/// zeros elsewhere).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn summarize(sim: &Simulation, crashed: u16, target_blocks: u64, wall_ms: u64) -> Summary {
    let violations = sim.violation().map(|v| vec![v.to_string()]).unwrap_or_default();
    let committed_blocks = sim.min_committed_height();
    let stats = sim.stats().clone();
    Summary {
        nodes: sim.config().nodes,
        seed: sim.config().seed,
        crashed,
        target_blocks,
        committed_blocks,
        reached_target: committed_blocks >= target_blocks,
        rounds: sim.views().iter().map(|v| v.round).max().unwrap_or(0),
        timeouts: stats.timeouts,
        tcs: stats.tcs,
        messages_sent: stats.messages_sent,
        messages_dropped: stats.messages_dropped,
        sent_by_kind: stats.sent_by_kind,
        steps: stats.steps,
        sim_time_ms: sim.now().as_ms(),
        wall_ms,
        committed_blocks_per_wall_second: committed_blocks as f64 / (wall_ms.max(1) as f64 / 1000.0),
        trace_digest: hex(&sim.trace_digest().0),
        violations,
    }
}

fn print_summary(summary: &Summary, json: bool) {
    if json {
        // Serialising a plain struct to a String cannot fail.
        println!("{}", serde_json::to_string(summary).expect("summary serialises"));
    } else {
        print_text(summary);
    }
}

/// `--scenario` / `--link`: replays a run the page (or a sweep, or a hand) made.
fn replay(args: &SimArgs) -> ExitCode {
    let loaded = match (&args.scenario, &args.link) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|json| Scenario::from_json(&json).map_err(|e| e.to_string()))
            .map(|s| (s, None)),
        (None, Some(link)) => Scenario::from_link(link).map_err(|e| e.to_string()),
        (None, None) => unreachable!("replay is called with a scenario or a link"),
    };
    let (scenario, at) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let checked = args.until_ms.is_none() && at.is_none() && scenario.expect.is_some();
    // The run, played to where it should be; `Err` says why it could not be (with the run, if
    // it got that far).
    let played: Result<Run, (String, Option<Box<Run>>)> = if checked {
        scenario.check().map_err(|failure| (failure, None))
    } else {
        match Run::new(scenario) {
            Err(error) => Err((error.to_string(), None)),
            Ok(mut run) => {
                let reached = match (args.until_ms, at) {
                    (Some(ms), _) => run.seek_time(Time(ms)).map(|_| ()),
                    (None, Some(point)) => run.seek(point).map(|_| ()),
                    (None, None) => {
                        let max_sim_ms = args
                            .max_sim_ms
                            .unwrap_or_else(|| args.blocks.saturating_mul(10_000).max(600_000));
                        run.run_until(|s| s.min_committed_height() >= args.blocks, max_sim_ms).map(|_| ())
                    }
                };
                match reached {
                    Ok(()) => Ok(run),
                    Err(error) => Err((error.to_string(), Some(Box::new(run)))),
                }
            }
        }
    };
    let wall_ms = started.elapsed().as_millis() as u64;
    match played {
        Ok(run) => {
            let summary = summarize(run.sim(), 0, args.blocks, wall_ms);
            print_summary(&summary, args.json);
            if checked {
                eprintln!("expectation met");
            }
            if checked || summary.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err((error, run)) => {
            if let Some(run) = run {
                print_summary(&summarize(run.sim(), 0, args.blocks, wall_ms), args.json);
            }
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn print_text(s: &Summary) {
    println!("nodes              {} ({} crashed)", s.nodes, s.crashed);
    println!("seed               {}", s.seed);
    println!("committed blocks   {} of {} (every live node)", s.committed_blocks, s.target_blocks);
    println!("rounds             {}", s.rounds);
    println!("timeouts           {} ({} TCs)", s.timeouts, s.tcs);
    println!("messages           {} sent, {} dropped", s.messages_sent, s.messages_dropped);
    let kinds: Vec<String> = s.sent_by_kind.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
    println!("sent by kind       {}", kinds.join(", "));
    println!("simulated time     {} ms", s.sim_time_ms);
    println!("wall time          {} ms", s.wall_ms);
    println!("blocks / wall s    {:.0}", s.committed_blocks_per_wall_second);
    println!("trace digest       {}", s.trace_digest);
    if s.violations.is_empty() {
        println!("violations         none");
    } else {
        for v in &s.violations {
            println!("VIOLATION          {v}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
