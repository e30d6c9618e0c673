//! Four replicas in one process, over loopback TCP, each with its own store on disk.

use hotstuff_core::{KeyPair, Parameters};
use hotstuff_node::client::{self, ClientConfig};
use hotstuff_node::{CommitteeConfig, Listeners, NodeEntry, Replica, ReplicaConfig, ReplicaHandle, Status};
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Generous: an idle committee commits about 9 blocks per second, and with one replica down
/// about one block per second (each missing leader costs two timed-out rounds).
const BUDGET: Duration = Duration::from_secs(30);

struct Committee {
    configs: Vec<ReplicaConfig>,
    replicas: Vec<Option<ReplicaHandle>>,
    _stores: Vec<tempfile::TempDir>,
}

/// Binds every replica's listeners on ephemeral loopback ports first, so the committee file can
/// name the ports, then starts them all.
async fn start(n: u16, parameters: Parameters) -> Committee {
    let keys: Vec<KeyPair> = (0..n).map(|i| KeyPair::from_seed(7, i)).collect();
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
    let committee = CommitteeConfig { nodes };
    let mut configs = Vec::new();
    let mut replicas = Vec::new();
    let mut stores = Vec::new();
    for (key, bound) in keys.into_iter().zip(listeners) {
        let store = tempfile::tempdir().unwrap();
        let config = ReplicaConfig {
            keys: key,
            committee: committee.clone(),
            parameters: parameters.clone(),
            store_dir: store.path().join("db"),
        };
        replicas.push(Some(Replica::start_on(config.clone(), bound).await.unwrap()));
        configs.push(config);
        stores.push(store);
    }
    Committee { configs, replicas, _stores: stores }
}

impl Committee {
    fn statuses(&self) -> Vec<Option<Status>> {
        self.replicas.iter().map(|r| r.as_ref().map(ReplicaHandle::status)).collect()
    }

    fn max_height(&self) -> u64 {
        self.statuses().iter().flatten().map(|s| s.committed_height).max().unwrap_or(0)
    }

    /// Waits until every running replica satisfies `done`, or panics with their statuses.
    async fn wait_until(&self, what: &str, done: impl Fn(&Status) -> bool) {
        let started = Instant::now();
        let deadline = started + BUDGET;
        loop {
            let statuses = self.statuses();
            if statuses.iter().flatten().all(&done) {
                eprintln!("{what}: {:?}; heights {:?}", started.elapsed(), heights(&statuses));
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not reached within {BUDGET:?}: {statuses:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(&mut self, i: usize) {
        let replica = self.replicas[i].take().expect("running");
        timeout(Duration::from_secs(10), replica.shutdown()).await.expect("shutdown completes");
    }
}

fn heights(statuses: &[Option<Status>]) -> Vec<Option<u64>> {
    statuses.iter().map(|s| s.map(|s| s.committed_height)).collect()
}

/// `RUST_LOG=info cargo test -p hotstuff-node --test replicas -- --nocapture` shows the logs.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_commit_over_tcp_survive_a_stopped_one_and_recover_it_from_its_store() {
    init_logs();
    // A shorter round timeout than the default keeps the phase with a replica down short.
    let parameters = Parameters { round_timeout_ms: 500, ..Parameters::default() };
    let mut committee = start(4, parameters).await;
    committee.wait_until("all four commit 10 blocks", |s| s.committed_height >= 10).await;

    // Clients (`hotstuff client`'s library): each replica gets transactions on its transactions
    // port; they travel in batches between the mempools and end up in committed blocks.
    for replica in committee.replicas.iter().flatten() {
        let config = ClientConfig {
            target: replica.transactions_addr(),
            rate: 200,
            size: 64,
            duration: Some(Duration::from_millis(500)),
        };
        let report = client::run(&config, std::future::pending()).await.expect("client runs");
        assert!(report.sent >= 80 && report.samples >= 8, "{report:?}");
    }
    committee.wait_until("batches commit", |s| s.committed_batches >= 1).await;

    // Stop the highest-numbered replica (f = 1): the other three still form a quorum.
    committee.stop(3).await;
    let target = committee.max_height() + 10;
    committee.wait_until("the other three commit 10 more blocks", |s| s.committed_height >= target).await;

    // Restart it on the same store and addresses: it recovers its safety state and catches up.
    let restarted = Replica::start(committee.configs[3].clone()).await.expect("restart on the same store");
    committee.replicas[3] = Some(restarted);
    let target = committee.max_height() + 5;
    committee
        .wait_until("all four, the restarted one too, commit 5 more", |s| s.committed_height >= target)
        .await;

    for i in 0..committee.replicas.len() {
        committee.stop(i).await;
    }
}
