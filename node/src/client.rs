//! A load generator: sends transactions to one replica's transactions port at a fixed rate.
//!
//! Transactions go out in bursts, [`BURSTS_PER_SECOND`] times a second, as length-delimited
//! frames. The first transaction of each burst is a *sample*: its first byte is 0 and the next
//! eight are a sample counter, so a benchmark can follow it to its commit and measure end-to-end
//! latency (the scheme asonnino/hotstuff's client uses). The others start with 1 and carry a
//! running counter, which keeps every transaction distinct. When a burst takes longer than its
//! slot, the client cannot keep the rate: that is counted as a *miss* and reported.

use futures::SinkExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{interval, Instant, MissedTickBehavior};
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

/// Bursts per second. asonnino/hotstuff's client sends 20 (one every 50 ms); at 100 the load is
/// smoother (the four clients of a testbed do not hit their replicas with 50 ms of transactions
/// at once) and there are five times as many samples.
pub const BURSTS_PER_SECOND: u64 = 100;

/// The smallest transaction: a kind byte and an eight-byte counter.
pub const TRANSACTION_SIZE_MIN: usize = 9;

/// How long to keep trying to connect (replicas of a testbed may start after their clients).
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// What to send, and where.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The replica's transactions address.
    pub target: SocketAddr,
    /// Transactions per second.
    pub rate: u64,
    /// Bytes per transaction (at least [`TRANSACTION_SIZE_MIN`]).
    pub size: usize,
    /// How long to send; `None` until stopped.
    pub duration: Option<Duration>,
}

/// What a client did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// Transactions sent.
    pub sent: u64,
    /// Of which samples.
    pub samples: u64,
    /// Bursts that overran their slot (the rate could not be kept).
    pub misses: u64,
    /// Each sample's number and when it was sent (wall clock, µs since the Unix epoch).
    pub sample_times: Vec<(u64, u64)>,
    /// How long it sent.
    pub elapsed: Duration,
}

/// Why a client stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad arguments.
    #[error("{0}")]
    Config(String),
    /// The replica could not be reached.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The address tried.
        target: SocketAddr,
        /// The last error.
        source: std::io::Error,
    },
    /// The connection failed while sending.
    #[error("sending to {target} failed: {source}")]
    Send {
        /// The replica.
        target: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Sends until the duration ends or `stop` completes; returns what was sent.
pub async fn run(
    config: &ClientConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<ClientReport, ClientError> {
    if config.size < TRANSACTION_SIZE_MIN || config.size > hotstuff_core::mempool::TRANSACTION_SIZE_MAX {
        return Err(ClientError::Config(format!(
            "--size must be between {TRANSACTION_SIZE_MIN} and {} bytes",
            hotstuff_core::mempool::TRANSACTION_SIZE_MAX
        )));
    }
    if config.rate == 0 {
        return Err(ClientError::Config("--rate must be positive".to_string()));
    }
    let stream = connect(config.target).await?;
    let mut frames = FramedWrite::new(stream, LengthDelimitedCodec::new());

    // Below BURSTS_PER_SECOND tx/s, one transaction per slot, slots further apart.
    let bursts_per_second = BURSTS_PER_SECOND.min(config.rate);
    let slot = Duration::from_micros(1_000_000 / bursts_per_second);
    // Burst k carries the transactions due by the end of slot k, so a rate that does not divide
    // evenly into bursts is still kept exactly over each second.
    let due = |slots: u64| slots * config.rate / bursts_per_second;
    let mut slots = 0u64;
    let mut ticks = interval(slot);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut report = ClientReport::default();
    let mut counter = 0u64;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        if config.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let slot_start = Instant::now();
        let burst = due(slots + 1) - due(slots);
        slots += 1;
        report.sample_times.push((report.samples, crate::metrics::now_us()));
        for i in 0..burst {
            let mut transaction = vec![0u8; config.size];
            if i == 0 {
                transaction[1..9].copy_from_slice(&report.samples.to_le_bytes());
                report.samples += 1;
            } else {
                transaction[0] = 1;
                transaction[1..9].copy_from_slice(&counter.to_le_bytes());
            }
            counter += 1;
            frames
                .feed(bytes::Bytes::from(transaction))
                .await
                .map_err(|source| ClientError::Send { target: config.target, source })?;
        }
        SinkExt::<bytes::Bytes>::flush(&mut frames)
            .await
            .map_err(|source| ClientError::Send { target: config.target, source })?;
        report.sent += burst;
        if slot_start.elapsed() > slot {
            report.misses += 1;
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn connect(target: SocketAddr) -> Result<TcpStream, ClientError> {
    let deadline = Instant::now() + CONNECT_PATIENCE;
    loop {
        match TcpStream::connect(target).await {
            Ok(stream) => {
                // Small frames: do not wait to coalesce them.
                stream.set_nodelay(true).map_err(|source| ClientError::Connect { target, source })?;
                return Ok(stream);
            }
            Err(source) if Instant::now() >= deadline => return Err(ClientError::Connect { target, source }),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
