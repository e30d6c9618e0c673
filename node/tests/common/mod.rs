//! Shared by the in-process integration tests: a committee of replicas on ephemeral loopback
//! ports, each with its own store, and waiting on their statuses.

#![allow(dead_code, unreachable_pub)] // Each test file uses a different part of it.

use hotstuff_core::{KeyPair, Parameters};
use hotstuff_node::{CommitteeConfig, Listeners, NodeEntry, Replica, ReplicaConfig, ReplicaHandle, Status};
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Generous: an idle committee commits about 9 blocks per second, and with one replica down
/// about one block per second (each missing leader costs two timed-out rounds).
pub const BUDGET: Duration = Duration::from_secs(30);

/// The seed of the test committees' keys (`KeyPair::from_seed(SEED, i)`).
pub const SEED: u64 = 11;

pub struct Committee {
    pub keys: Vec<KeyPair>,
    pub config: CommitteeConfig,
    /// Each replica's configuration (to restart it on the same store and addresses).
    pub configs: Vec<ReplicaConfig>,
    pub replicas: Vec<Option<ReplicaHandle>>,
    _stores: Vec<tempfile::TempDir>,
}

/// Binds every replica's listeners on ephemeral loopback ports first, so the committee file can
/// name the ports, then starts them all.
pub async fn start(n: u16, parameters: Parameters) -> Committee {
    let keys: Vec<KeyPair> = (0..n).map(|i| KeyPair::from_seed(SEED, i)).collect();
    let mut listeners = Vec::new();
    let mut nodes = Vec::new();
    for key in &keys {
        let local = "127.0.0.1:0".parse().unwrap();
        let bound = Listeners::bind(local, local).await.unwrap();
        nodes.push(NodeEntry {
            name: key.public(),
            address: bound.peers_addr().unwrap(),
            transactions: bound.transactions_addr().unwrap(),
        });
        listeners.push(bound);
    }
    let config = CommitteeConfig { nodes };
    let mut configs = Vec::new();
    let mut replicas = Vec::new();
    let mut stores = Vec::new();
    for (key, bound) in keys.iter().zip(listeners) {
        let store = tempfile::tempdir().unwrap();
        let replica_config = ReplicaConfig {
            keys: key.clone(),
            committee: config.clone(),
            parameters: parameters.clone(),
            store_dir: store.path().join("db"),
        };
        replicas.push(Some(Replica::start_on(replica_config.clone(), bound).await.unwrap()));
        configs.push(replica_config);
        stores.push(store);
    }
    Committee { keys, config, configs, replicas, _stores: stores }
}

impl Committee {
    pub fn statuses(&self) -> Vec<Option<Status>> {
        self.replicas.iter().map(|r| r.as_ref().map(ReplicaHandle::status)).collect()
    }

    pub fn status(&self, i: usize) -> Status {
        self.replicas[i].as_ref().expect("running").status()
    }

    pub fn max_height(&self) -> u64 {
        self.statuses().iter().flatten().map(|s| s.committed_height).max().unwrap_or(0)
    }

    /// Waits until every running replica satisfies `done`, or panics with their statuses.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Status) -> bool) {
        let started = Instant::now();
        let deadline = started + BUDGET;
        loop {
            let statuses = self.statuses();
            if statuses.iter().flatten().all(&done) {
                let heights: Vec<_> = statuses.iter().map(|s| s.map(|s| s.committed_height)).collect();
                eprintln!("{what}: {:?}; heights {heights:?}", started.elapsed());
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not reached within {BUDGET:?}: {statuses:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until replica `i` satisfies `done`, or panics with its status.
    pub async fn wait_for(&self, i: usize, what: &str, done: impl Fn(&Status) -> bool) {
        let deadline = Instant::now() + BUDGET;
        loop {
            let status = self.status(i);
            if done(&status) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not reached within {BUDGET:?}: {status:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every replica still running commits `blocks` more blocks than the highest height now:
    /// the committee is live.
    pub async fn still_commits(&self, what: &str, blocks: u64) {
        let target = self.max_height() + blocks;
        self.wait_until(what, |s| s.committed_height >= target).await;
    }

    /// Shuts replica `i` down (its store stays, for a restart from `configs[i]`).
    pub async fn stop(&mut self, i: usize) {
        let replica = self.replicas[i].take().expect("running");
        timeout(Duration::from_secs(10), replica.shutdown()).await.expect("shutdown completes");
    }

    pub async fn stop_all(&mut self) {
        for replica in self.replicas.iter_mut().filter_map(Option::take) {
            timeout(Duration::from_secs(10), replica.shutdown()).await.expect("shutdown completes");
        }
    }
}

/// `RUST_LOG=debug cargo test -p hotstuff-node --test <name> -- --nocapture` shows the logs.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
