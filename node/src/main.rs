//! `hotstuff`: the native face of hotstuff-scope.
//!
//! - `hotstuff sim`: the deterministic simulator, headless;
//! - `hotstuff keys`: a fresh key pair for a replica;
//! - `hotstuff run`: a replica over TCP with its store on disk;
//! - `hotstuff client`: transactions at a fixed rate to one replica;
//! - `hotstuff local`: a committee of replica processes and their clients on loopback;
//! - `hotstuff bench`: `local` for a fixed time, printing the figures as JSON.

mod sim;

use clap::{Args, Parser, Subcommand};
use hotstuff_node::config::{self, CommitteeConfig, ConfigError, KeyFile};
use hotstuff_node::{Replica, ReplicaConfig, StartError, StartOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "hotstuff", version, about = "HotStuff BFT consensus: simulator and replica")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole committee in the deterministic simulator until every live node commits B blocks.
    Sim(sim::SimArgs),
    /// Write a fresh ed25519 key pair (from the operating system's randomness) to a new file.
    Keys(KeysArgs),
    /// Run one replica over TCP, with its store on disk.
    Run(RunArgs),
    /// Send transactions to one replica at a fixed rate (with samples for latency measurement).
    Client(ClientArgs),
    /// Start a committee of replica processes and one client per live replica on loopback, show
    /// progress, and print throughput and latency at the end (until Ctrl-C without --duration).
    Local(LocalArgs),
    /// `local` for a fixed duration (20 s by default), printing one JSON object of figures.
    Bench(LocalArgs),
    /// Read the commit stream of a stopped replica's store, by height: one line (or JSON object)
    /// per committed block. An application keeps the last height it read and asks for the next.
    Commits(CommitsArgs),
}

#[derive(Debug, Args)]
struct CommitsArgs {
    /// The replica's store directory (the replica must not be running: the store is locked).
    #[arg(long)]
    store: PathBuf,
    /// The first height wanted (the store may have pruned lower ones: it starts at its lowest).
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// At most this many blocks.
    #[arg(long, default_value_t = u64::MAX)]
    count: u64,
    /// One JSON object per line: height, digest, round, author, batches, missing_batches (null
    /// if the block itself was lost from disk in a crash; the index entry is durable, the block
    /// is not).
    #[arg(long)]
    json: bool,
    /// Also read each block's batches: the transactions (hex) in the JSON, their count in the
    /// text. A batch still missing (a block committed by catch-up, its batches being fetched:
    /// `missing_batches` > 0) contributes none.
    #[arg(long)]
    transactions: bool,
}

#[derive(Debug, Args)]
struct LocalArgs {
    /// Committee size.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Replicas not booted (the last ones); at most f keeps the committee live.
    #[arg(long, default_value_t = 0)]
    faults: usize,
    /// Transactions per second, all clients together (0: no clients, to measure an idle committee).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Bytes per transaction.
    #[arg(long, default_value_t = 512)]
    tx_size: usize,
    /// Seconds the clients send.
    #[arg(long)]
    duration: Option<u64>,
    /// Protocol parameters (JSON); defaults if omitted.
    #[arg(long)]
    parameters: Option<PathBuf>,
    /// Keep the testbed's folder (keys, stores, logs, metrics) and print its path.
    #[arg(long)]
    keep: bool,
    /// Print the figures as one JSON object (no progress lines).
    #[arg(long)]
    json: bool,
    /// Kill this replica with SIGKILL (`kill -9`) during the run, and restart it on its store
    /// later (it gets no client); the summary says how long it took to catch up.
    #[arg(long)]
    kill_node: Option<usize>,
    /// Seconds into the run to kill it.
    #[arg(long, default_value_t = 10)]
    kill_at: u64,
    /// Seconds it stays down.
    #[arg(long, default_value_t = 60)]
    down_for: u64,
}

#[derive(Debug, Args)]
struct ClientArgs {
    /// The replica's transactions address (`transactions` in the committee file).
    #[arg(long)]
    target: std::net::SocketAddr,
    /// Transactions per second.
    #[arg(long)]
    rate: u64,
    /// Bytes per transaction.
    #[arg(long, default_value_t = 512)]
    size: usize,
    /// Seconds to send; until Ctrl-C if omitted.
    #[arg(long)]
    duration: Option<u64>,
}

#[derive(Debug, Args)]
struct KeysArgs {
    /// The key file to create (refuses to overwrite one).
    #[arg(long)]
    filename: PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// This replica's key file (from `hotstuff keys`).
    #[arg(long)]
    keys: PathBuf,
    /// The committee file: every member's name and addresses.
    #[arg(long)]
    committee: PathBuf,
    /// The directory of this replica's store (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// Protocol parameters (JSON); defaults if omitted.
    #[arg(long)]
    parameters: Option<PathBuf>,
    /// Append benchmark records (JSON lines) to this file; see the `metrics` module.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// More logging: -v for every event (debug), -vv for trace. `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot draw a key from the operating system: {0}")]
    Random(getrandom::Error),
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(std::io::Error),
    #[error("replica failed: {0}")]
    Replica(String),
    #[error(transparent)]
    Client(#[from] hotstuff_node::client::ClientError),
    #[error(transparent)]
    Testbed(#[from] hotstuff_node::testbed::TestbedError),
    #[error(transparent)]
    Store(#[from] hotstuff_core::store::StoreError),
    #[error("cannot find this program's path: {0}")]
    Executable(std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sim(args) => return sim::run(&args),
        Command::Keys(args) => keys(&args),
        Command::Run(args) => run(&args),
        Command::Client(args) => client(&args),
        Command::Local(args) => local(&args, false),
        Command::Bench(args) => local(&args, true),
        Command::Commits(args) => commits(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the commit stream from `--from`, in pages (the index may be long).
fn commits(args: &CommitsArgs) -> Result<(), CliError> {
    use hotstuff_core::store::StoreBackend as _;
    use std::io::Write as _;
    if !args.store.join(hotstuff_node::store::SAFETY_FILE).exists() {
        return Err(CliError::Store(hotstuff_core::store::StoreError(format!(
            "{} holds no replica store",
            args.store.display()
        ))));
    }
    let store = hotstuff_node::store::RedbStore::open(&args.store)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut from, mut left) = (args.from, args.count);
    while left > 0 {
        let page = hotstuff_core::store::read_commits(&store, from, left.min(1_000) as usize)?;
        let Some(last) = page.last() else { break };
        from = last.height + 1;
        left -= page.len() as u64;
        for entry in &page {
            let block = entry.block.as_ref();
            let payload = block.map_or(&[][..], |b| b.payload.as_slice());
            let mut missing = 0;
            let mut transactions = Vec::new();
            for digest in payload {
                let key = hotstuff_core::store::batch_key(digest);
                if args.transactions {
                    match store.read(&key)? {
                        Some(bytes) => {
                            let batch: hotstuff_core::mempool::Batch =
                                hotstuff_core::codec::decode_value(&bytes).map_err(|e| {
                                    CliError::Store(hotstuff_core::store::StoreError(format!(
                                        "batch {digest} at height {}: {e}",
                                        entry.height
                                    )))
                                })?;
                            transactions.extend(batch.transactions);
                        }
                        None => missing += 1,
                    }
                } else if !store.contains(&key)? {
                    missing += 1;
                }
            }
            let line = if args.json {
                let mut line = serde_json::json!({
                    "height": entry.height,
                    "digest": entry.digest.hex(),
                    "round": block.map(|b| b.round),
                    "author": block.map(|b| b.author.0),
                    "batches": block.map(|b| b.payload.iter().map(hotstuff_core::Digest::hex).collect::<Vec<_>>()),
                    "missing_batches": block.map(|_| missing),
                });
                if args.transactions {
                    line["transactions"] = transactions.iter().map(hex::encode).collect();
                }
                line.to_string()
            } else {
                match block {
                    Some(b) => {
                        let mut line = format!(
                            "height={} digest={} round={} author={} batches={} missing_batches={missing}",
                            entry.height,
                            entry.digest.hex(),
                            b.round,
                            b.author.0,
                            b.payload.len()
                        );
                        if args.transactions {
                            line.push_str(&format!(" transactions={}", transactions.len()));
                        }
                        line
                    }
                    None => {
                        format!("height={} digest={} (block not on disk)", entry.height, entry.digest.hex())
                    }
                }
            };
            // A closed pipe (`| head`) ends the listing, not with an error.
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
        }
    }
    let _ = out.flush();
    Ok(())
}

fn keys(args: &KeysArgs) -> Result<(), CliError> {
    let keys = KeyFile::generate().map_err(CliError::Random)?;
    KeyFile::new(&keys).write_new(&args.filename)?;
    println!("{}", keys.public().to_hex());
    Ok(())
}

fn run(args: &RunArgs) -> Result<(), CliError> {
    let level = match args.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let config = ReplicaConfig {
        keys: KeyFile::load(&args.keys)?,
        committee: CommitteeConfig::load(&args.committee)?,
        parameters: match &args.parameters {
            Some(path) => config::load_parameters(path)?,
            None => hotstuff_core::Parameters::default(),
        },
        store_dir: args.store.clone(),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let options = StartOptions { metrics: args.metrics.clone() };
        let mut replica = Replica::start_with(config, options).await?;
        let outcome = tokio::select! {
            signal = shutdown_signal() => signal.map_err(CliError::Signal),
            why = replica.failed() => Err(CliError::Replica(why)),
        };
        tracing::info!("shutting down");
        replica.shutdown().await;
        outcome
    })
}

fn client(args: &ClientArgs) -> Result<(), CliError> {
    use hotstuff_node::client::{self, ClientConfig};
    let config = ClientConfig {
        target: args.target,
        rate: args.rate,
        size: args.size,
        duration: args.duration.map(std::time::Duration::from_secs),
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Runtime)?;
    let report = runtime.block_on(client::run(&config, async {
        // If the signal cannot be awaited, run for the duration only.
        if shutdown_signal().await.is_err() {
            std::future::pending::<()>().await;
        }
    }))?;
    let seconds = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "sent {} transactions ({} samples) of {} B to {} in {:.1} s: {:.0} tx/s; the rate was missed {} times",
        report.sent,
        report.samples,
        args.size,
        args.target,
        seconds,
        report.sent as f64 / seconds,
        report.misses
    );
    if report.misses > 0 {
        eprintln!("warning: this client could not keep {} tx/s; use more clients or a lower rate", args.rate);
    }
    Ok(())
}

fn local(args: &LocalArgs, bench: bool) -> Result<(), CliError> {
    use hotstuff_node::testbed::{self, TestbedConfig};
    let json = args.json || bench;
    let config = TestbedConfig {
        binary: std::env::current_exe().map_err(CliError::Executable)?,
        nodes: args.nodes,
        faults: args.faults,
        rate: args.rate,
        tx_size: args.tx_size,
        duration: args.duration.or(bench.then_some(20)).map(std::time::Duration::from_secs),
        parameters: match &args.parameters {
            Some(path) => config::load_parameters(path)?,
            None => hotstuff_core::Parameters::default(),
        },
        keep: args.keep,
        progress: !json,
        kill: args.kill_node.map(|node| testbed::KillPlan {
            node,
            at: std::time::Duration::from_secs(args.kill_at),
            down: std::time::Duration::from_secs(args.down_for),
        }),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::Runtime)?;
    let summary = runtime.block_on(testbed::run(&config, async {
        if shutdown_signal().await.is_err() {
            std::future::pending::<()>().await;
        }
    }))?;
    if json {
        println!("{}", serde_json::to_string(&summary).expect("the summary serialises"));
    } else {
        println!("{}", summary.render());
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix (what `kill` sends).
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
