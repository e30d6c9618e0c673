//! Benchmark metrics: what a replica records, and how a benchmark turns the records of a whole
//! committee (and its clients) into throughput and latency figures.
//!
//! A replica started with `--metrics FILE` appends one JSON object per line to `FILE` ([`Record`]):
//! the batches its mempool seals (with the sample transactions each carries), the blocks it
//! proposes, the blocks it commits (with their batch digests) and its round timeouts, each stamped
//! with the wall clock in microseconds since the Unix epoch, so that the records of processes on
//! one machine share a time line. Lines are flushed as they are written: a replica killed with
//! `kill -9` loses none that it finished.
//!
//! [`Ledger`] joins the records of all replicas with the clients' sample send times. The figures
//! follow asonnino/hotstuff's definitions, so the two can be compared:
//!
//! - **consensus latency**: for each committed batch, from the proposal of the block that carried
//!   it to that block's first commit at any replica; the mean.
//! - **consensus throughput**: transactions in committed batches, divided by the time from the first
//!   proposal to the last commit (of blocks that carry batches; each block's first commit).
//! - **end-to-end latency**: for each sample transaction, from the client's send to the first
//!   commit of the batch that carried it; p50, p99 and mean.
//! - **end-to-end throughput**: committed transactions divided by the time from the clients' first
//!   send to the last commit.
//! - **sustained throughput**: committed transactions divided by the clients' sending window: if
//!   the committee keeps up, this is the offered rate.
//! - **timeouts**: local round timeouts, summed over replicas (0 in a fault-free run).

use hotstuff_core::{Block, Digest, Height, Round};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// One line of a replica's metrics file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum Record {
    /// The mempool sealed a batch of its own clients' transactions.
    Sealed {
        /// Wall clock, µs since the Unix epoch.
        t_us: u64,
        /// The batch digest (hex).
        batch: String,
        /// Transactions in it.
        txs: u32,
        /// Its size in bytes.
        bytes: u32,
        /// The sample numbers of the sample transactions in it.
        samples: Vec<u64>,
    },
    /// This replica, as leader, proposed a block.
    Proposed {
        /// Wall clock, µs since the Unix epoch.
        t_us: u64,
        /// Its round.
        round: Round,
        /// The block digest (hex).
        block: String,
    },
    /// This replica committed a block.
    Committed {
        /// Wall clock, µs since the Unix epoch.
        t_us: u64,
        /// Its height.
        height: Height,
        /// Its round.
        round: Round,
        /// The block digest (hex).
        block: String,
        /// The batch digests it carries (hex).
        batches: Vec<String>,
    },
    /// This replica's round timer expired (or it joined others' timeouts).
    Timeout {
        /// Wall clock, µs since the Unix epoch.
        t_us: u64,
        /// The round.
        round: Round,
    },
    /// The most items that waited at once in each of the replica's actor channels since the
    /// previous such record (channels that stayed empty are left out). Where a replica's time
    /// goes: a channel that backs up names the actor that cannot keep up.
    Queues {
        /// Wall clock, µs since the Unix epoch.
        t_us: u64,
        /// Channel name (`network_to_consensus`, `to_store`, ...) to its peak depth.
        peaks: BTreeMap<String, u64>,
    },
}

/// The wall clock in µs since the Unix epoch (0 if the clock is before 1970).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A digest as the metrics file writes it: all 32 bytes in hex.
pub fn digest_hex(digest: &Digest) -> String {
    hex::encode(digest.0)
}

impl Record {
    /// The record of a committed block, stamped now.
    pub fn committed(block: &Block) -> Self {
        Self::Committed {
            t_us: now_us(),
            height: block.height,
            round: block.round,
            block: digest_hex(&block.digest()),
            batches: block.payload.iter().map(digest_hex).collect(),
        }
    }
}

/// Appends records to a replica's metrics file, one flushed line each. Cheap to clone; the
/// replica's observer and commit tasks share one.
#[derive(Clone, Debug)]
pub struct MetricsWriter {
    file: Arc<Mutex<File>>,
}

impl MetricsWriter {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(Self { file: Arc::new(Mutex::new(File::create(path)?)) })
    }

    /// Writes one record as one line. A failed write is logged and otherwise ignored: metrics
    /// must never stop a replica.
    pub fn write(&self, record: &Record) {
        let mut line = serde_json::to_vec(record).expect("records always serialise");
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(error) = file.write_all(&line) {
            tracing::warn!(%error, "cannot write a metrics record");
        }
    }
}

/// Reads a metrics file as it grows: each call returns the complete lines written since the last.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Follows `path` from its start (it need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Self { path, offset: 0, partial: Vec::new() }
    }

    /// The records completed since the last call. A line that does not parse is skipped with a
    /// warning on stderr (it cannot come from a replica of this version).
    pub fn read_new(&mut self) -> io::Result<Vec<Record>> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        file.seek(io::SeekFrom::Start(self.offset))?;
        let mut bytes = std::mem::take(&mut self.partial);
        let read = file.read_to_end(&mut bytes)?;
        self.offset += read as u64;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(complete);
        let mut records = Vec::new();
        for line in bytes.split(|b| *b == b'\n').filter(|line| !line.is_empty()) {
            match serde_json::from_slice(line) {
                Ok(record) => records.push(record),
                Err(error) => {
                    eprintln!("warning: {}: skipping a bad metrics line: {error}", self.path.display())
                }
            }
        }
        Ok(records)
    }
}

/// A block as the ledger knows it.
#[derive(Clone, Copy, Debug, Default)]
struct BlockTimes {
    proposed: Option<u64>,
    committed: Option<u64>,
    carries_batches: bool,
}

/// A committed batch as the ledger knows it.
#[derive(Clone, Copy, Debug, Default)]
struct BatchInfo {
    /// Transactions, once its seal record is seen.
    txs: Option<u32>,
    /// When its author sealed it (µs).
    sealed: Option<u64>,
    /// First commit at any replica (µs), and the block that carried it.
    committed: Option<(u64, usize)>,
}

/// Joins the metrics records of every replica (and the clients' sample send times) into the
/// figures of a run. Feed it records as they arrive ([`Ledger::ingest`]); ask for the figures at
/// any time ([`Ledger::summary`]).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Block digest → its index in `blocks`.
    block_index: BTreeMap<String, usize>,
    /// Per block: proposal time (µs), first commit time (µs), and whether it carries batches.
    blocks: Vec<BlockTimes>,
    batches: BTreeMap<String, BatchInfo>,
    /// (replica, sample number) → the batch that carried it.
    sample_batch: BTreeMap<(usize, u64), String>,
    /// (replica, sample number) → when its client sent it (µs).
    sample_sent: BTreeMap<(usize, u64), u64>,
    committed_height: Height,
    /// Each replica's highest committed height (by index).
    heights: Vec<Height>,
    committed_txs: u64,
    timeouts: u64,
    queue_peaks: BTreeMap<String, u64>,
}

/// The figures of a run (see the module documentation for their definitions). Times in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Transactions in committed batches.
    pub committed_txs: u64,
    /// Highest committed height at any replica.
    pub committed_height: Height,
    /// Distinct committed blocks.
    pub committed_blocks: u64,
    /// Committed transactions per second, first proposal to last commit.
    pub consensus_tps: f64,
    /// Mean proposal-to-commit latency of committed batches.
    pub consensus_latency_ms: f64,
    /// Committed transactions per second, first client send to last commit.
    pub e2e_tps: f64,
    /// Median send-to-commit latency of sample transactions.
    pub e2e_latency_ms_p50: f64,
    /// 99th percentile of the same.
    pub e2e_latency_ms_p99: f64,
    /// Mean of the same.
    pub e2e_latency_ms_mean: f64,
    /// Of which, on average, from the send to the seal of the sample's batch (the time a
    /// transaction spends reaching its mempool and waiting for its batch to fill or time out).
    pub batching_latency_ms_mean: f64,
    /// Sample transactions sent, and how many of them were seen committed.
    pub samples_sent: u64,
    /// See `samples_sent`.
    pub samples_committed: u64,
    /// Local round timeouts, summed over replicas.
    pub timeouts: u64,
    /// For each actor channel, the most items that waited in it at once at any replica.
    pub queue_peaks: BTreeMap<String, u64>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn block(&mut self, digest: &str) -> usize {
        if let Some(index) = self.block_index.get(digest) {
            return *index;
        }
        self.blocks.push(BlockTimes::default());
        self.block_index.insert(digest.to_string(), self.blocks.len() - 1);
        self.blocks.len() - 1
    }

    /// Takes one record written by replica `replica`. Returns the transactions that this record
    /// commits for the first time (for live progress).
    pub fn ingest(&mut self, replica: usize, record: Record) -> u64 {
        match record {
            Record::Sealed { t_us, batch, txs, samples, .. } => {
                for sample in samples {
                    self.sample_batch.insert((replica, sample), batch.clone());
                }
                let info = self.batches.entry(batch).or_default();
                info.txs = Some(txs);
                info.sealed = Some(t_us);
                // A batch may commit before its author's seal record is read.
                if info.committed.is_some() {
                    self.committed_txs += u64::from(txs);
                    return u64::from(txs);
                }
                0
            }
            Record::Proposed { t_us, block, .. } => {
                let index = self.block(&block);
                let proposed = &mut self.blocks[index].proposed;
                *proposed = Some(proposed.map_or(t_us, |p| p.min(t_us)));
                0
            }
            Record::Committed { t_us, height, block, batches, .. } => {
                self.committed_height = self.committed_height.max(height);
                if self.heights.len() <= replica {
                    self.heights.resize(replica + 1, 0);
                }
                self.heights[replica] = self.heights[replica].max(height);
                let index = self.block(&block);
                let times = &mut self.blocks[index];
                times.committed = Some(times.committed.map_or(t_us, |c| c.min(t_us)));
                times.carries_batches = !batches.is_empty();
                let mut new_txs = 0;
                for batch in batches {
                    let info = self.batches.entry(batch).or_default();
                    match &mut info.committed {
                        None => {
                            info.committed = Some((t_us, index));
                            let txs = u64::from(info.txs.unwrap_or(0));
                            self.committed_txs += txs;
                            new_txs += txs;
                        }
                        // Replicas read later may have committed it earlier.
                        Some(first) if t_us < first.0 => *first = (t_us, index),
                        Some(_) => {}
                    }
                }
                new_txs
            }
            Record::Timeout { .. } => {
                self.timeouts += 1;
                0
            }
            Record::Queues { peaks, .. } => {
                for (channel, peak) in peaks {
                    let max = self.queue_peaks.entry(channel).or_default();
                    *max = (*max).max(peak);
                }
                0
            }
        }
    }

    /// Takes the send times of a client's samples; the client sent to replica `replica`.
    pub fn samples_sent(&mut self, replica: usize, sent: impl IntoIterator<Item = (u64, u64)>) {
        for (sample, t_us) in sent {
            self.sample_sent.insert((replica, sample), t_us);
        }
    }

    /// Highest committed height at any replica so far.
    pub fn committed_height(&self) -> Height {
        self.committed_height
    }

    /// Replica `replica`'s highest committed height so far.
    pub fn height_of(&self, replica: usize) -> Height {
        self.heights.get(replica).copied().unwrap_or(0)
    }

    /// The median send-to-commit latency (ms) of the samples sent in `[from_us, to_us)`, and
    /// how many there were.
    pub fn e2e_p50_between(&self, from_us: u64, to_us: u64) -> (f64, usize) {
        let mut e2e: Vec<f64> = self
            .sample_sent
            .iter()
            .filter(|(_, sent)| (from_us..to_us).contains(*sent))
            .filter_map(|(key, sent)| {
                let (committed, _) = self.batches.get(self.sample_batch.get(key)?)?.committed?;
                Some(committed.saturating_sub(*sent) as f64 / 1e3)
            })
            .collect();
        e2e.sort_by(f64::total_cmp);
        (percentile(&e2e, 50.0), e2e.len())
    }

    /// Local round timeouts so far.
    pub fn timeouts(&self) -> u64 {
        self.timeouts
    }

    /// The figures; `first_send_us` is the clients' first send (µs), if any client ran.
    ///
    /// Throughput windows end at the last commit of a block that carries batches, and the
    /// consensus window starts at the first proposal of such a block: the empty blocks a leader
    /// proposes (every `max_block_delay_ms`) before the clients start and after they stop would
    /// otherwise dilute the rate.
    pub fn summary(&self, first_send_us: Option<u64>) -> Figures {
        let loaded = || self.blocks.iter().filter(|b| b.carries_batches);
        let first_proposal = loaded().filter_map(|b| b.proposed).min();
        let last_commit = loaded().filter_map(|b| b.committed).max();
        let per_second = |txs: u64, from: Option<u64>, to: Option<u64>| match (from, to) {
            (Some(from), Some(to)) if to > from => txs as f64 * 1e6 / (to - from) as f64,
            _ => 0.0,
        };
        let consensus: Vec<f64> = self
            .batches
            .values()
            .filter_map(|batch| {
                let (_, block) = batch.committed?;
                let times = self.blocks[block];
                Some(times.committed?.saturating_sub(times.proposed?) as f64 / 1e3)
            })
            .collect();
        let mut e2e: Vec<f64> = self
            .sample_sent
            .iter()
            .filter_map(|(key, sent)| {
                let batch = self.sample_batch.get(key)?;
                let (committed, _) = self.batches.get(batch)?.committed?;
                Some(committed.saturating_sub(*sent) as f64 / 1e3)
            })
            .collect();
        e2e.sort_by(f64::total_cmp);
        let batching: Vec<f64> = self
            .sample_sent
            .iter()
            .filter_map(|(key, sent)| {
                let sealed = self.batches.get(self.sample_batch.get(key)?)?.sealed?;
                Some(sealed.saturating_sub(*sent) as f64 / 1e3)
            })
            .collect();
        Figures {
            committed_txs: self.committed_txs,
            committed_height: self.committed_height,
            committed_blocks: self.blocks.iter().filter(|b| b.committed.is_some()).count() as u64,
            consensus_tps: per_second(self.committed_txs, first_proposal, last_commit),
            consensus_latency_ms: mean(&consensus),
            e2e_tps: per_second(self.committed_txs, first_send_us, last_commit),
            e2e_latency_ms_p50: percentile(&e2e, 50.0),
            e2e_latency_ms_p99: percentile(&e2e, 99.0),
            e2e_latency_ms_mean: mean(&e2e),
            batching_latency_ms_mean: mean(&batching),
            samples_sent: self.sample_sent.len() as u64,
            samples_committed: e2e.len() as u64,
            timeouts: self.timeouts,
            queue_peaks: self.queue_peaks.clone(),
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(t_us: u64, batch: &str, txs: u32, samples: &[u64]) -> Record {
        Record::Sealed { t_us, batch: batch.into(), txs, bytes: txs * 512, samples: samples.to_vec() }
    }

    fn proposed(t_us: u64, block: &str) -> Record {
        Record::Proposed { t_us, round: 1, block: block.into() }
    }

    fn committed(t_us: u64, height: Height, block: &str, batches: &[&str]) -> Record {
        Record::Committed {
            t_us,
            height,
            round: height,
            block: block.into(),
            batches: batches.iter().map(|b| (*b).to_string()).collect(),
        }
    }

    #[test]
    fn records_round_trip_through_a_growing_file_and_a_torn_last_line_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let writer = MetricsWriter::create(&path).unwrap();
        let mut tail = Tail::new(path.clone());
        writer.write(&sealed(1, "aa", 3, &[7]));
        assert_eq!(tail.read_new().unwrap(), vec![sealed(1, "aa", 3, &[7])]);
        // Half a line: not returned until it is complete.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"e\":\"timeout\",")
            .unwrap();
        assert_eq!(tail.read_new().unwrap(), vec![]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"\"t_us\":5,\"round\":9}\n")
            .unwrap();
        assert_eq!(tail.read_new().unwrap(), vec![Record::Timeout { t_us: 5, round: 9 }]);
    }

    #[test]
    fn latency_is_measured_to_the_first_commit_at_any_replica_and_each_batch_counts_once() {
        let mut ledger = Ledger::new();
        // Replica 0 seals batch "a" (100 tx, samples 0 and 1) and proposes block "B" carrying it.
        ledger.samples_sent(0, [(0, 1_000), (1, 3_000), (2, 4_000)]);
        ledger.ingest(0, sealed(5_000, "a", 100, &[0, 1]));
        // Empty blocks before and after the load do not stretch the throughput windows.
        ledger.ingest(2, proposed(500, "E1"));
        ledger.ingest(2, committed(900, 1, "E1", &[]));
        ledger.ingest(0, proposed(6_000, "B"));
        ledger.ingest(3, committed(90_000, 3, "E2", &[]));
        // Replica 1 commits B at 16 ms, replica 0 at 18 ms: the first commit counts, once.
        assert_eq!(ledger.ingest(0, committed(18_000, 2, "B", &["a"])), 100);
        assert_eq!(ledger.ingest(1, committed(16_000, 2, "B", &["a"])), 0);
        let figures = ledger.summary(Some(1_000));
        assert_eq!(figures.committed_txs, 100);
        assert_eq!(figures.committed_blocks, 3);
        assert_eq!(figures.committed_height, 3);
        assert_eq!(figures.consensus_latency_ms, 10.0, "proposal at 6 ms, first commit at 16 ms");
        // Samples: 16 - 1 = 15 ms and 16 - 3 = 13 ms; sample 2 never sealed, so not counted.
        assert_eq!((figures.samples_sent, figures.samples_committed), (3, 2));
        assert_eq!(figures.e2e_latency_ms_p50, 13.0);
        assert_eq!(figures.e2e_latency_ms_p99, 15.0);
        assert_eq!(figures.e2e_latency_ms_mean, 14.0);
        assert_eq!(figures.batching_latency_ms_mean, 3.0, "sealed at 5 ms: 4 ms and 2 ms after the sends");
        // 100 tx from B's proposal (6 ms) to its first commit (16 ms); end to end from the first
        // send (1 ms).
        assert!((figures.consensus_tps - 100.0 / 0.010).abs() < 1e-6, "{figures:?}");
        assert!((figures.e2e_tps - 100.0 / 0.015).abs() < 1e-6, "{figures:?}");
    }

    #[test]
    fn a_batch_committed_before_its_seal_record_is_read_still_counts_its_transactions() {
        // (Here replica 1 committed at 10 µs, replica 0 sealed at 5 µs but is read second.)
        let mut ledger = Ledger::new();
        assert_eq!(ledger.ingest(1, committed(10, 1, "B", &["a"])), 0, "size not known yet");
        assert_eq!(ledger.ingest(0, sealed(5, "a", 40, &[])), 40);
        ledger.ingest(2, Record::Timeout { t_us: 11, round: 3 });
        let queues = |peak: u64| Record::Queues { t_us: 12, peaks: [("to_store".to_string(), peak)].into() };
        ledger.ingest(1, queues(7));
        ledger.ingest(2, queues(3));
        let figures = ledger.summary(None);
        assert_eq!((figures.committed_txs, figures.timeouts, figures.e2e_tps), (40, 1, 0.0));
        assert_eq!(figures.queue_peaks, [("to_store".to_string(), 7)].into(), "the worst replica's peak");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[4.0], 99.0), 4.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
