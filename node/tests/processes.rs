//! Four `hotstuff run` processes on loopback; one is killed with SIGKILL (`kill -9`) twice and
//! restarted on its store each time: once the moment it has voted, once after downtime. The others must keep committing, and the restarted replica must
//! recover, catch up, and never vote twice in a round: not across the crash either, which is
//! what persist-before-send guarantees. Everything is read from the processes' logs (`-v`).

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOTSTUFF: &str = env!("CARGO_BIN_EXE_hotstuff");
const N: usize = 4;
/// The replica that is killed and restarted.
const VICTIM: usize = 3;
/// Kills at random points after the two planned ones.
const RANDOM_KILLS: usize = 4;
/// Longest wait for any one phase; the whole test takes 10–20 s when healthy.
const PHASE_BUDGET: Duration = Duration::from_secs(20);

/// Kills every replica still running when the test ends, passed or failed, so a failing test
/// leaves no process behind.
struct Processes {
    children: Vec<Option<Child>>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            kill(child);
        }
    }
}

/// SIGKILL (what `Child::kill` sends on Unix) and reap.
fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A port nobody listens on right now: bind port 0, read it back, release it. Another process
/// could take it before the replica binds it; on a quiet test machine that does not happen.
fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A stopped replica's commit stream, `(height, digest)` in order, from `hotstuff commits --json`.
fn commit_stream(store: &Path) -> Vec<(u64, String)> {
    let output =
        Command::new(HOTSTUFF).arg("commits").arg("--store").arg(store).arg("--json").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            (entry["height"].as_u64().unwrap(), entry["digest"].as_str().unwrap().to_string())
        })
        .collect()
}

fn generate_key(file: &Path) -> String {
    let output = Command::new(HOTSTUFF).arg("keys").arg("--filename").arg(file).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

struct Testbed {
    dir: tempfile::TempDir,
    processes: Processes,
}

impl Testbed {
    fn key(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}.json"))
    }

    /// Starts replica `i` on its store, its stderr (the log) going to `log` in the test directory.
    fn start(&mut self, i: usize, log: &str) -> PathBuf {
        let log = self.dir.path().join(log);
        let child = Command::new(HOTSTUFF)
            .arg("run")
            .arg("--keys")
            .arg(self.key(i))
            .arg("--committee")
            .arg(self.dir.path().join("committee.json"))
            .arg("--parameters")
            .arg(self.dir.path().join("parameters.json"))
            .arg("--store")
            .arg(self.dir.path().join(format!("db{i}")))
            .arg("-v")
            // Plain text in the log files, whatever the terminal.
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("hotstuff run starts");
        self.processes.children[i] = Some(child);
        log
    }

    /// Panics if a replica that should be running has exited (it would never commit).
    fn check_alive(&mut self, logs: &[PathBuf]) {
        for (i, child) in self.processes.children.iter_mut().enumerate() {
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("replica {i} exited with {status}; its log:\n{}", tail(&logs[i]));
            }
        }
    }
}

/// The log with ANSI colour codes removed (in case `NO_COLOR` is not honoured).
fn read_log(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

fn tail(log: &Path) -> String {
    let text = read_log(log);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The highest committed height in a log: `log_commits` in `replica.rs` writes one
/// `committed height=H round=R batches=B digest=#…` line per committed block.
fn committed_height(log: &Path) -> u64 {
    read_log(log)
        .lines()
        .filter_map(|line| line.split_once(" committed height=")?.1.split(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The votes a replica sent, as (round, block) in log order, from the debug narration of
/// `Event::VoteSent`: `Node 3 votes for B17·abcd and sends the vote to node 0, …`.
fn votes(log: &Path, node: usize) -> Vec<(u64, String)> {
    let prefix = format!("Node {node} votes for B");
    read_log(log)
        .lines()
        .filter_map(|line| {
            let rest = line.split_once(&prefix)?.1;
            let name = rest.split(' ').next()?;
            let (round, block) = name.split_once('·')?;
            Some((round.parse().ok()?, block.to_string()))
        })
        .collect()
}

/// Waits until `done(heights)` holds for the committed heights of the logs of `which`.
fn wait_for_heights(
    testbed: &mut Testbed,
    logs: &[PathBuf],
    which: &[usize],
    what: &str,
    done: impl Fn(&[u64]) -> bool,
) -> Vec<u64> {
    let started = Instant::now();
    loop {
        testbed.check_alive(logs);
        let heights: Vec<u64> = which.iter().map(|&i| committed_height(&logs[i])).collect();
        if done(&heights) {
            eprintln!("{what}: {:.1?}; heights of {which:?}: {heights:?}", started.elapsed());
            return heights;
        }
        if started.elapsed() > PHASE_BUDGET {
            let tails: Vec<String> =
                which.iter().map(|&i| format!("--- replica {i}\n{}", tail(&logs[i]))).collect();
            panic!("{what}: not reached within {PHASE_BUDGET:?}; heights {heights:?}\n{}", tails.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every replica in `all` has committed `more` blocks beyond the highest height the
/// `others` had reached when called (`what` names the phase in a failure). Returns that target.
fn all_commit_more(
    testbed: &mut Testbed,
    logs: &[PathBuf],
    others: &[usize],
    all: &[usize],
    more: u64,
    what: &str,
) -> u64 {
    let reached = wait_for_heights(testbed, logs, others, what, |_| true);
    let target = reached.iter().max().unwrap() + more;
    wait_for_heights(testbed, logs, all, what, |h| h.iter().all(|&h| h >= target));
    target
}

#[test]
fn a_replica_killed_with_sigkill_recovers_from_its_store_catches_up_and_never_votes_twice_in_a_round() {
    let dir = tempfile::tempdir().unwrap();
    let mut testbed = Testbed { dir, processes: Processes { children: (0..N).map(|_| None).collect() } };

    let nodes: Vec<serde_json::Value> = (0..N)
        .map(|i| {
            serde_json::json!({
                "name": generate_key(&testbed.key(i)),
                "address": free_address().to_string(),
                "transactions": free_address().to_string(),
            })
        })
        .collect();
    let committee = serde_json::json!({ "nodes": nodes }).to_string();
    std::fs::write(testbed.dir.path().join("committee.json"), committee).unwrap();
    // Short timeouts keep the rounds led by the dead replica short.
    let parameters = r#"{ "round_timeout_ms": 500, "round_timeout_ms_max": 2000 }"#;
    std::fs::write(testbed.dir.path().join("parameters.json"), parameters).unwrap();

    let mut logs: Vec<PathBuf> = (0..N).map(|i| testbed.start(i, &format!("node{i}.log"))).collect();
    let all: Vec<usize> = (0..N).collect();
    let others: Vec<usize> = (0..N).filter(|&i| i != VICTIM).collect();
    wait_for_heights(&mut testbed, &logs, &all, "all four commit 5 blocks", |h| h.iter().all(|&h| h >= 5));

    // First crash, the sharpest case for persist-before-send: kill -9 the moment a vote of the
    // victim shows up in its log, and restart it at once, still in (or near) the round it voted in.
    let voted = votes(&logs[VICTIM], VICTIM).len();
    let started = Instant::now();
    while votes(&logs[VICTIM], VICTIM).len() == voted {
        assert!(
            started.elapsed() < PHASE_BUDGET,
            "replica {VICTIM} stopped voting:\n{}",
            tail(&logs[VICTIM])
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(testbed.processes.children[VICTIM].take().unwrap());
    let mut victim_logs = vec![logs[VICTIM].clone()];
    logs[VICTIM] = testbed.start(VICTIM, &format!("node{VICTIM}-restart1.log"));
    victim_logs.push(logs[VICTIM].clone());
    all_commit_more(&mut testbed, &logs, &others, &all, 3, "all four commit 3 more after the quick restart");

    // Second crash, with downtime: kill -9 (no shutdown, no flush: whatever the store
    // acknowledged is all that survives); the other three, a quorum, must keep committing.
    kill(testbed.processes.children[VICTIM].take().unwrap());
    let height_at_crash = committed_height(&logs[VICTIM]);
    all_commit_more(&mut testbed, &logs, &others, &others, 5, "the other three commit 5 more");

    // Restart on the same store, logging to a new file; it must catch up.
    logs[VICTIM] = testbed.start(VICTIM, &format!("node{VICTIM}-restart2.log"));
    victim_logs.push(logs[VICTIM].clone());
    all_commit_more(
        &mut testbed,
        &logs,
        &others,
        &all,
        3,
        "the restarted replica catches up with the others",
    );

    // Then kill -9 at random points (seeded, so a failure can be replayed), restarting at once
    // each time: wherever the kill lands, the commit stream must have no gap.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for k in 0..RANDOM_KILLS {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let delay = Duration::from_millis(100 + (seed >> 33) % 900);
        std::thread::sleep(delay);
        kill(testbed.processes.children[VICTIM].take().unwrap());
        logs[VICTIM] = testbed.start(VICTIM, &format!("node{VICTIM}-random{k}.log"));
        victim_logs.push(logs[VICTIM].clone());
    }
    let target = all_commit_more(
        &mut testbed,
        &logs,
        &others,
        &all,
        3,
        "the victim catches up after the random kills",
    );

    // Stop everyone, and read each store's commit stream (`hotstuff commits`): the victim's
    // runs from height 1 to where it got without a gap or a repeat, block for block the same
    // as the others'.
    for child in testbed.processes.children.iter_mut().filter_map(Option::take) {
        kill(child);
    }
    let streams: Vec<Vec<(u64, String)>> =
        (0..N).map(|i| commit_stream(&testbed.dir.path().join(format!("db{i}")))).collect();
    for (i, stream) in streams.iter().enumerate() {
        let heights: Vec<u64> = stream.iter().map(|(h, _)| *h).collect();
        let expected: Vec<u64> = (1..=heights.len() as u64).collect();
        assert_eq!(heights, expected, "replica {i}'s commit stream has a gap or a repeat");
        assert!(heights.len() as u64 >= target, "replica {i}'s stream reaches {target}: {}", heights.len());
    }
    let common = streams.iter().map(Vec::len).min().unwrap();
    for (i, stream) in streams.iter().enumerate() {
        assert_eq!(
            stream[..common],
            streams[0][..common],
            "replica {i} and replica 0 disagree on their streams"
        );
    }
    eprintln!("commit streams: {:?} blocks", streams.iter().map(Vec::len).collect::<Vec<_>>());

    for log in &victim_logs[1..3] {
        let text = read_log(log);
        assert!(text.contains("recovering from the store"), "a restart reads its state:\n{}", tail(log));
        assert!(text.contains(&format!("Node {VICTIM} restarts from its store")), "{}", tail(log));
    }
    assert!(committed_height(&logs[VICTIM]) > height_at_crash, "it commits past where it crashed");

    // One vote per round, across both crashes: no round may appear twice among all its votes.
    let runs: Vec<Vec<(u64, String)>> = victim_logs.iter().map(|log| votes(log, VICTIM)).collect();
    let counts: Vec<usize> = runs.iter().map(Vec::len).collect();
    assert!(counts[..3].iter().all(|&n| n > 0), "it voted in each of its first three runs: {counts:?}");
    let mut by_round: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for (round, block) in runs.iter().flatten() {
        by_round.entry(*round).or_default().push(block);
    }
    let twice: Vec<_> = by_round.iter().filter(|(_, blocks)| blocks.len() > 1).collect();
    assert!(twice.is_empty(), "rounds voted in more than once: {twice:?}");
    let spans: Vec<_> = runs.iter().filter_map(|run| Some((run.first()?.0, run.last()?.0))).collect();
    eprintln!("votes per run: {counts:?}, (first, last) round per run: {spans:?}");
}
