//! A local testbed: a whole committee of `hotstuff run` processes and their clients on loopback.
//!
//! [`run`] generates keys, a committee with free loopback ports and a parameters file in a
//! temporary folder, starts the replicas as child processes (the last `faults` of them are never
//! booted), runs one client per live replica in this process (the offered rate split evenly),
//! prints progress every second, and at the end stops the replicas with SIGTERM and computes the
//! figures from their metrics files ([`crate::metrics`]) and the clients' sample send times.
//! `hotstuff local` and `hotstuff bench` are its two faces.

use crate::client::{self, ClientConfig, ClientReport};
use crate::config::{CommitteeConfig, ConfigError, KeyFile, NodeEntry};
use crate::metrics::{Figures, Ledger, Tail};
use hotstuff_core::Parameters;
use serde::Serialize;
use std::fs::File;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// After the clients stop, how long to wait for what they sent to commit.
const DRAIN: Duration = Duration::from_secs(2);

/// How long a replica gets to exit after SIGTERM before it is killed.
const EXIT_PATIENCE: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Clone, Debug)]
pub struct TestbedConfig {
    /// The `hotstuff` binary to start replicas with.
    pub binary: PathBuf,
    /// Committee size.
    pub nodes: usize,
    /// Replicas never booted (the last ones).
    pub faults: usize,
    /// Transactions per second, all clients together (0: no clients, an idle committee).
    pub rate: u64,
    /// Bytes per transaction.
    pub tx_size: usize,
    /// How long the clients send; `None` until `stop` completes.
    pub duration: Option<Duration>,
    /// The replicas' parameters.
    pub parameters: Parameters,
    /// Keep the folder (keys, stores, logs, metrics) instead of deleting it.
    pub keep: bool,
    /// Print a progress line every second (to stderr).
    pub progress: bool,
    /// Kill one replica with SIGKILL during the run and restart it on its store later.
    pub kill: Option<KillPlan>,
}

/// A replica killed (`kill -9`) `at` into the run and restarted `down` later; it gets no
/// client, so the offered rate goes to the others.
#[derive(Clone, Copy, Debug)]
pub struct KillPlan {
    /// Which replica.
    pub node: usize,
    /// When, from the start.
    pub at: Duration,
    /// How long it stays down.
    pub down: Duration,
}

/// What happened to the killed replica.
#[derive(Clone, Debug, Serialize)]
pub struct KillReport {
    /// Which replica.
    pub node: usize,
    /// Seconds it was down.
    pub down_s: f64,
    /// Its committed height when it was killed, and the others' highest when it came back.
    pub height_at_kill: u64,
    /// See `height_at_kill`.
    pub others_height_at_restart: u64,
    /// Seconds from its restart until its committed height was within 3 of the others' (at a
    /// one-second resolution), if it got there before the end.
    pub caught_up_s: Option<f64>,
    /// e2e p50 (ms) of the samples sent before the kill, while it was away or catching up,
    /// and after it caught up; and how many samples each.
    pub e2e_p50_ms_before: (f64, usize),
    /// See `e2e_p50_ms_before`.
    pub e2e_p50_ms_while_away: (f64, usize),
    /// See `e2e_p50_ms_before`.
    pub e2e_p50_ms_after: (f64, usize),
}

/// Why the testbed failed.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// Bad arguments.
    #[error("{0}")]
    Arguments(String),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A configuration file could not be written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Keys could not be drawn.
    #[error("cannot draw a key from the operating system: {0}")]
    Random(getrandom::Error),
    /// A replica exited on its own.
    #[error("replica {node} exited early ({status}); see its log {}", log.display())]
    ReplicaDied {
        /// Which.
        node: usize,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
    },
    /// A client failed.
    #[error(transparent)]
    Client(#[from] client::ClientError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestbedError {
    let what = what.into();
    move |source| TestbedError::Io { what, source }
}

/// The result of a testbed run: the setup, the figures, and what the clients and processes did.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Committee size.
    pub nodes: usize,
    /// Replicas not booted.
    pub faults: usize,
    /// Offered transactions per second.
    pub rate: u64,
    /// Bytes per transaction.
    pub tx_size: usize,
    /// How long the clients sent, in seconds.
    pub duration_s: f64,
    /// Transactions the clients sent.
    pub sent_txs: u64,
    /// Committed transactions over the clients' sending window, per second.
    pub sustained_tps: f64,
    /// Bursts the clients could not send on time.
    pub client_misses: u64,
    /// The replicas' CPU time over the wall time they ran, in percent of one core (all replicas
    /// together; the clients are not counted).
    pub cpu_percent: f64,
    /// The replicas' CPU time (all of them together, over the whole run: start-up, warm-up and
    /// shutdown included) per committed transaction, in microseconds: what a transaction costs,
    /// which holds on a shared machine when wall-clock figures do not. `None` if nothing
    /// committed.
    pub cpu_us_per_tx: Option<f64>,
    /// Throughput, latency and timeouts.
    #[serde(flatten)]
    pub figures: Figures,
    /// Each replica's store on disk at the end, in bytes (both files).
    pub store_bytes: Vec<u64>,
    /// The killed replica, with `--kill-node`.
    pub kill: Option<KillReport>,
    /// The testbed's folder, if kept.
    pub folder: Option<PathBuf>,
}

/// The child processes; killed when dropped, so an error never leaves replicas behind.
struct Replicas {
    children: Vec<(usize, Child)>,
    logs: Vec<PathBuf>,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Replicas {
    /// Fails if a replica has exited.
    fn check(&mut self) -> Result<(), TestbedError> {
        for (node, child) in &mut self.children {
            if let Some(status) = child.try_wait().map_err(io("cannot poll a replica"))? {
                return Err(TestbedError::ReplicaDied { node: *node, status, log: self.logs[*node].clone() });
            }
        }
        Ok(())
    }

    /// SIGTERM to all, then wait (killing any that does not exit in time).
    fn stop(&mut self) {
        for (_, child) in &self.children {
            terminate(child);
        }
        let deadline = Instant::now() + EXIT_PATIENCE;
        for (_, child) in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

#[cfg(unix)]
fn terminate(child: &Child) {
    use nix::sys::signal::{kill, Signal};
    if let Ok(pid) = i32::try_from(child.id()) {
        // Fails only if the child is already gone, which is what we want anyway.
        let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {}

/// CPU time (user + system) of the children this process has waited for.
#[cfg(unix)]
fn children_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else { return Duration::ZERO };
    let time = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    time(usage.user_time()) + time(usage.system_time())
}

#[cfg(not(unix))]
fn children_cpu() -> Duration {
    Duration::ZERO
}

/// Free loopback addresses: bind port 0, read the port, release it. Another process could take
/// one before the replica binds it; the replica then fails to start and says so.
fn free_addresses(count: usize) -> Result<Vec<SocketAddr>, TestbedError> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(io("cannot find a free loopback port"))?;
    listeners.iter().map(|l| l.local_addr().map_err(io("cannot read a bound port"))).collect()
}

/// Writes keys, committee and parameters into `folder`; returns the committee.
fn write_setup(folder: &Path, config: &TestbedConfig) -> Result<CommitteeConfig, TestbedError> {
    let addresses = free_addresses(2 * config.nodes)?;
    let mut nodes = Vec::with_capacity(config.nodes);
    for i in 0..config.nodes {
        let keys = KeyFile::generate().map_err(TestbedError::Random)?;
        KeyFile::new(&keys).write_new(&folder.join(format!("node-{i}.json")))?;
        nodes.push(NodeEntry {
            name: keys.public(),
            address: addresses[2 * i],
            transactions: addresses[2 * i + 1],
        });
    }
    let committee = CommitteeConfig { nodes };
    committee.write(&folder.join("committee.json"))?;
    let parameters = serde_json::to_vec_pretty(&config.parameters).expect("parameters serialise");
    std::fs::write(folder.join("parameters.json"), parameters).map_err(io("cannot write parameters.json"))?;
    Ok(committee)
}

fn start_replicas(folder: &Path, config: &TestbedConfig) -> Result<Replicas, TestbedError> {
    let mut replicas = Replicas { children: Vec::new(), logs: Vec::new() };
    for i in 0..config.nodes {
        let log = folder.join(format!("node-{i}.log"));
        replicas.logs.push(log.clone());
        if i >= config.nodes - config.faults {
            continue;
        }
        replicas.children.push((i, spawn_replica(folder, config, i, &log)?));
    }
    Ok(replicas)
}

/// Starts replica `i` on its store (appending to its metrics file), logging to `log`.
fn spawn_replica(folder: &Path, config: &TestbedConfig, i: usize, log: &Path) -> Result<Child, TestbedError> {
    let stderr = File::create(log).map_err(io(format!("cannot create {}", log.display())))?;
    Command::new(&config.binary)
        .arg("run")
        .arg("--keys")
        .arg(folder.join(format!("node-{i}.json")))
        .arg("--committee")
        .arg(folder.join("committee.json"))
        .arg("--parameters")
        .arg(folder.join("parameters.json"))
        .arg("--store")
        .arg(folder.join(format!("db-{i}")))
        .arg("--metrics")
        .arg(folder.join(format!("metrics-{i}.jsonl")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(io(format!("cannot start {}", config.binary.display())))
}

/// Appends a newline to `path` unless it is empty or already ends with one.
fn end_partial_line(path: &Path) -> std::io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
    let mut file = std::fs::OpenOptions::new().read(true).append(true).open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// The bytes of the files in `dir` (a replica's store).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Where a kill plan stands.
#[derive(Debug, Default)]
struct KillState {
    killed_at_us: Option<u64>,
    height_at_kill: u64,
    restarted: Option<(Instant, u64)>,
    others_height_at_restart: u64,
    caught_up: Option<(f64, u64)>,
}

/// Runs the testbed until the duration ends (plus a short drain) or `stop` completes.
pub async fn run(
    config: &TestbedConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Summary, TestbedError> {
    if config.nodes < 1 || config.faults >= config.nodes {
        return Err(TestbedError::Arguments("--faults must leave at least one live replica".into()));
    }
    if config.kill.is_some_and(|kill| kill.node >= config.nodes - config.faults) {
        return Err(TestbedError::Arguments("--kill-node must name a booted replica".into()));
    }
    let folder = tempfile::Builder::new()
        .prefix("hotstuff-local-")
        .tempdir()
        .map_err(io("cannot create a temporary folder"))?;
    let committee = write_setup(folder.path(), config)?;
    let live = config.nodes - config.faults;
    let children_cpu_before = children_cpu();
    let started = Instant::now();
    let mut replicas = start_replicas(folder.path(), config)?;
    if config.progress {
        eprintln!(
            "testbed in {}: {} replicas ({} not booted), {} tx/s of {} B",
            folder.path().display(),
            config.nodes,
            config.faults,
            config.rate,
            config.tx_size
        );
    }

    // One client per live replica (but the one to be killed), the rate split evenly (the first
    // ones take the remainder).
    let stop = futures::FutureExt::shared(Box::pin(stop));
    let mut clients = tokio::task::JoinSet::new();
    let targets: Vec<usize> = (0..live).filter(|i| config.kill.is_none_or(|kill| kill.node != *i)).collect();
    if config.rate > 0 {
        let shares = targets.len() as u64;
        for (k, &i) in targets.iter().enumerate() {
            let rate = config.rate / shares + u64::from((k as u64) < config.rate % shares);
            if rate == 0 {
                continue;
            }
            let client = ClientConfig {
                target: committee.nodes[i].transactions,
                rate,
                size: config.tx_size,
                duration: config.duration,
            };
            let stop = stop.clone();
            clients.spawn(async move { (i, client::run(&client, stop).await) });
        }
    }

    let mut tails: Vec<Tail> =
        (0..config.nodes).map(|i| Tail::new(folder.path().join(format!("metrics-{i}.jsonl")))).collect();
    let mut ledger = Ledger::new();
    let mut reports: Vec<(usize, ClientReport)> = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    let mut clients_done_at: Option<Instant> = None;
    let mut stopped = false;
    let mut kill_state = KillState::default();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.clone(), if !stopped => stopped = true,
            Some(done) = clients.join_next(), if !clients.is_empty() => {
                let (i, report) = done.expect("a client task does not panic");
                reports.push((i, report?));
                continue;
            }
        }
        replicas.check()?;
        let mut committed_now = 0;
        for (i, tail) in tails.iter_mut().enumerate() {
            for record in tail.read_new().map_err(io("cannot read a metrics file"))? {
                committed_now += ledger.ingest(i, record);
            }
        }
        if let Some(plan) = config.kill {
            let others =
                (0..live).filter(|i| *i != plan.node).map(|i| ledger.height_of(i)).max().unwrap_or(0);
            if kill_state.killed_at_us.is_none() && started.elapsed() >= plan.at {
                if let Some(position) = replicas.children.iter().position(|(i, _)| *i == plan.node) {
                    let (_, mut child) = replicas.children.remove(position);
                    let _ = child.kill();
                    let _ = child.wait();
                }
                kill_state.killed_at_us = Some(crate::metrics::now_us());
                kill_state.height_at_kill = ledger.height_of(plan.node);
                if config.progress {
                    eprintln!(
                        "killed replica {} (kill -9) at height {}",
                        plan.node, kill_state.height_at_kill
                    );
                }
            } else if kill_state.restarted.is_none() && started.elapsed() >= plan.at + plan.down {
                // The killed process may have left half a line in its metrics file: end it, so
                // that the restarted one's first record is not glued to it.
                let metrics = folder.path().join(format!("metrics-{}.jsonl", plan.node));
                end_partial_line(&metrics).map_err(io(format!("cannot repair {}", metrics.display())))?;
                let log = folder.path().join(format!("node-{}-restarted.log", plan.node));
                let child = spawn_replica(folder.path(), config, plan.node, &log)?;
                replicas.logs[plan.node] = log;
                replicas.children.push((plan.node, child));
                kill_state.restarted = Some((Instant::now(), crate::metrics::now_us()));
                kill_state.others_height_at_restart = others;
                if config.progress {
                    eprintln!("restarted replica {}; the others are at height {others}", plan.node);
                }
            } else if let (Some((at, _)), None) = (kill_state.restarted, kill_state.caught_up) {
                if ledger.height_of(plan.node) + 3 >= others {
                    kill_state.caught_up = Some((at.elapsed().as_secs_f64(), crate::metrics::now_us()));
                    if config.progress {
                        eprintln!("replica {} caught up in {:.0} s", plan.node, at.elapsed().as_secs_f64());
                    }
                }
            }
        }
        if config.progress {
            eprintln!(
                "[{:>4.0} s] committed height {:>6}  {:>8} tx/s committed  {} timeouts",
                started.elapsed().as_secs_f64(),
                ledger.committed_height(),
                committed_now,
                ledger.timeouts()
            );
        }
        let finished = if config.rate == 0 {
            // An idle committee: run for the duration (or until stopped).
            stopped || config.duration.is_some_and(|d| started.elapsed() >= d)
        } else if stopped {
            clients.is_empty()
        } else if clients.is_empty() {
            // The clients are done: give what they sent a moment to commit.
            clients_done_at.get_or_insert_with(Instant::now).elapsed() >= DRAIN
        } else {
            false
        };
        if finished {
            break;
        }
    }
    while let Some(done) = clients.join_next().await {
        let (i, report) = done.expect("a client task does not panic");
        reports.push((i, report?));
    }
    let wall = started.elapsed();
    replicas.stop();
    let cpu = children_cpu().saturating_sub(children_cpu_before);
    for (i, tail) in tails.iter_mut().enumerate() {
        for record in tail.read_new().map_err(io("cannot read a metrics file"))? {
            ledger.ingest(i, record);
        }
    }

    let mut first_send = None;
    let mut sending = Duration::ZERO;
    for (i, report) in &reports {
        ledger.samples_sent(*i, report.sample_times.iter().copied());
        if let Some((_, t)) = report.sample_times.first() {
            first_send = Some(first_send.map_or(*t, |f: u64| f.min(*t)));
        }
        sending = sending.max(report.elapsed);
    }
    let figures = ledger.summary(first_send);
    let kill = config.kill.map(|plan| {
        let killed = kill_state.killed_at_us.unwrap_or(u64::MAX);
        let back = kill_state.caught_up.map_or(u64::MAX, |(_, t)| t);
        KillReport {
            node: plan.node,
            down_s: plan.down.as_secs_f64(),
            height_at_kill: kill_state.height_at_kill,
            others_height_at_restart: kill_state.others_height_at_restart,
            caught_up_s: kill_state.caught_up.map(|(s, _)| s),
            e2e_p50_ms_before: ledger.e2e_p50_between(0, killed),
            e2e_p50_ms_while_away: ledger.e2e_p50_between(killed, back),
            e2e_p50_ms_after: ledger.e2e_p50_between(back, u64::MAX),
        }
    });
    let store_bytes = (0..config.nodes).map(|i| dir_bytes(&folder.path().join(format!("db-{i}")))).collect();
    let sent_txs = reports.iter().map(|(_, r)| r.sent).sum();
    let summary = Summary {
        nodes: config.nodes,
        faults: config.faults,
        rate: config.rate,
        tx_size: config.tx_size,
        duration_s: sending.as_secs_f64(),
        sent_txs,
        sustained_tps: if sending.is_zero() {
            0.0
        } else {
            figures.committed_txs as f64 / sending.as_secs_f64()
        },
        client_misses: reports.iter().map(|(_, r)| r.misses).sum(),
        cpu_percent: 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        cpu_us_per_tx: (figures.committed_txs > 0)
            .then(|| cpu.as_secs_f64() * 1e6 / figures.committed_txs as f64),
        figures,
        store_bytes,
        kill,
        folder: config.keep.then(|| folder.keep()),
    };
    Ok(summary)
}

impl Summary {
    /// A few human-readable lines.
    pub fn render(&self) -> String {
        let f = &self.figures;
        format!(
            "{} replicas ({} not booted), {} tx/s offered, {} B transactions, {:.1} s\n\
             consensus: {:.0} tx/s, latency {:.1} ms\n\
             end to end: {:.0} tx/s, latency p50 {:.1} ms, p99 {:.1} ms, mean {:.1} ms ({} of {} samples committed; {:.1} ms of it batching)\n\
             sustained: {:.0} tx/s ({} of {} sent transactions committed)\n\
             committed height {}, {} blocks; {} timeouts; {} client misses; replicas' CPU {:.0}% of a core, {} per committed transaction\n\
             deepest actor queues: {}{}",
            self.nodes,
            self.faults,
            self.rate,
            self.tx_size,
            self.duration_s,
            f.consensus_tps,
            f.consensus_latency_ms,
            f.e2e_tps,
            f.e2e_latency_ms_p50,
            f.e2e_latency_ms_p99,
            f.e2e_latency_ms_mean,
            f.samples_committed,
            f.samples_sent,
            f.batching_latency_ms_mean,
            self.sustained_tps,
            f.committed_txs,
            self.sent_txs,
            f.committed_height,
            f.committed_blocks,
            f.timeouts,
            self.client_misses,
            self.cpu_percent,
            self.cpu_us_per_tx.map_or_else(|| "–".to_string(), |us| format!("{us:.1} µs")),
            deepest_queues(&f.queue_peaks),
            self.folder.as_ref().map(|p| format!("\nkept {}", p.display())).unwrap_or_default()
        ) + &self.render_extra()
    }

    /// The stores' sizes and what happened to a killed replica.
    fn render_extra(&self) -> String {
        let mib: Vec<String> =
            self.store_bytes.iter().map(|b| format!("{:.1}", *b as f64 / 1_048_576.0)).collect();
        let mut text = format!("\nstores on disk, MiB: {}", mib.join(", "));
        if let Some(kill) = &self.kill {
            let caught_up =
                kill.caught_up_s.map_or("did not catch up".to_string(), |s| format!("caught up in {s:.0} s"));
            text += &format!(
                "\nreplica {} killed at height {}, down {:.0} s, restarted {} blocks behind, {caught_up}; e2e p50 {:.1} ms before, {:.1} ms while away or behind, {:.1} ms after",
                kill.node,
                kill.height_at_kill,
                kill.down_s,
                kill.others_height_at_restart.saturating_sub(kill.height_at_kill),
                kill.e2e_p50_ms_before.0,
                kill.e2e_p50_ms_while_away.0,
                kill.e2e_p50_ms_after.0
            );
        }
        text
    }
}

/// The three channels that backed up most, e.g. `to_store 12, network_to_mempool 3`.
fn deepest_queues(peaks: &std::collections::BTreeMap<String, u64>) -> String {
    let mut peaks: Vec<(&String, &u64)> = peaks.iter().collect();
    peaks.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top: Vec<String> = peaks.iter().take(3).map(|(name, peak)| format!("{name} {peak}")).collect();
    if top.is_empty() {
        "none".to_string()
    } else {
        top.join(", ")
    }
}
