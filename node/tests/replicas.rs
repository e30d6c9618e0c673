//! Four replicas in one process, over loopback TCP, each with its own store on disk.

mod common;

use hotstuff_core::Parameters;
use hotstuff_node::client::{self, ClientConfig};
use hotstuff_node::Replica;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_commit_over_tcp_survive_a_stopped_one_and_recover_it_from_its_store() {
    common::init_logs();
    // A shorter round timeout than the default keeps the phase with a replica down short.
    let parameters = Parameters { round_timeout_ms: 500, ..Parameters::default() };
    let mut committee = common::start(4, parameters).await;
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

    committee.stop_all().await;
}
