//! One native replica: the core's actors on tokio, with TCP, redb and a wall clock.

use crate::config::CommitteeConfig;
use crate::metrics::{self, MetricsWriter, Record};
use crate::net;
use crate::runtime::TokioRuntime;
use crate::store::RedbStore;
use futures::channel::mpsc;
use futures::{FutureExt as _, StreamExt as _};
use hotstuff_core::actor::{self, HostEnds};
use hotstuff_core::codec;
use hotstuff_core::mempool::{self, Mempool};
use hotstuff_core::store::{recent_chain, recent_commits, StoreBackend as _, StoreError, STATE_KEY};
use hotstuff_core::{Block, Consensus, Event, Height, KeyPair, NodeId, Observed, Parameters, Round};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, error, info, Instrument as _};

/// What a replica needs to start.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// Its key pair; its public key must be in the committee.
    pub keys: KeyPair,
    /// The committee, with every member's addresses.
    pub committee: CommitteeConfig,
    /// Protocol parameters (the same at every replica).
    pub parameters: Parameters,
    /// The directory of its store (created if missing).
    pub store_dir: PathBuf,
}

/// A replica could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The key's public key is not in the committee.
    #[error("this key ({0}) is not a member of the committee")]
    NotInCommittee(String),
    /// The parameters cannot work.
    #[error("invalid parameters: {0}")]
    Parameters(String),
    /// The committee file is inconsistent.
    #[error("invalid committee: {0}")]
    Committee(String),
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The persisted safety state does not decode: the store is corrupt or from another version.
    /// Starting fresh instead could make this replica vote twice in a round, so it refuses.
    #[error("the persisted consensus state in {path} does not decode ({reason}); refusing to start")]
    CorruptState {
        /// The database file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// The metrics file could not be created.
    #[error("cannot create the metrics file {path}: {source}")]
    Metrics {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The two sockets a replica listens on: one for peers, one for clients.
#[derive(Debug)]
pub struct Listeners {
    peers: TcpListener,
    transactions: TcpListener,
}

impl Listeners {
    /// Binds both. Port 0 picks a free port (tests); read it back with [`Listeners::peers_addr`].
    pub async fn bind(peers: SocketAddr, transactions: SocketAddr) -> Result<Self, StartError> {
        let bind = |address| async move {
            TcpListener::bind(address).await.map_err(|source| StartError::Bind { address, source })
        };
        Ok(Self { peers: bind(peers).await?, transactions: bind(transactions).await? })
    }

    /// The bound peer address.
    pub fn peers_addr(&self) -> std::io::Result<SocketAddr> {
        self.peers.local_addr()
    }

    /// The bound transactions address.
    pub fn transactions_addr(&self) -> std::io::Result<SocketAddr> {
        self.transactions.local_addr()
    }
}

/// What a running replica has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The round it is in.
    pub round: Round,
    /// Height of its last committed block (restored from the store after a restart).
    pub committed_height: Height,
    /// Blocks committed since it started.
    pub committed_blocks: u64,
    /// Batch digests in those blocks.
    pub committed_batches: u64,
    /// Messages and frames refused since it started (undecodable, unknown signer, bad
    /// signature, …; `Event::MessageRejected`), so tests and operators can see hostile input.
    pub rejected_messages: u64,
}

/// Optional instruments of a replica (none by default).
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Append benchmark records to this file ([`crate::metrics`]).
    pub metrics: Option<PathBuf>,
}

/// The native replica.
#[derive(Debug)]
pub struct Replica;

impl Replica {
    /// Starts a replica listening on its addresses from the committee file.
    pub async fn start(config: ReplicaConfig) -> Result<ReplicaHandle, StartError> {
        Self::start_with(config, StartOptions::default()).await
    }

    /// [`Replica::start`] with instruments.
    pub async fn start_with(
        config: ReplicaConfig,
        options: StartOptions,
    ) -> Result<ReplicaHandle, StartError> {
        let me = config.committee.id_of(&config.keys.public());
        let me = me.ok_or_else(|| StartError::NotInCommittee(config.keys.public().to_hex()))?;
        let entry = config.committee.node(me).expect("id_of returned a member");
        let listeners = Listeners::bind(entry.address, entry.transactions).await?;
        Self::start_on_with(config, listeners, options).await
    }

    /// Starts a replica on already-bound listeners (tests bind port 0 first, then write the
    /// committee from the ports they got).
    pub async fn start_on(config: ReplicaConfig, listeners: Listeners) -> Result<ReplicaHandle, StartError> {
        Self::start_on_with(config, listeners, StartOptions::default()).await
    }

    /// [`Replica::start_on`] with instruments.
    pub async fn start_on_with(
        config: ReplicaConfig,
        listeners: Listeners,
        options: StartOptions,
    ) -> Result<ReplicaHandle, StartError> {
        let ReplicaConfig { keys, committee: committee_config, parameters, store_dir } = config;
        committee_config.validate().map_err(StartError::Committee)?;
        parameters.validate().map_err(|e| StartError::Parameters(e.to_string()))?;
        let me = committee_config
            .id_of(&keys.public())
            .ok_or_else(|| StartError::NotInCommittee(keys.public().to_hex()))?;
        let committee = committee_config.committee();
        let span = tracing::info_span!("replica", node = me.0);

        // Recovery, exactly as the simulator boots a replica: the safety state, if any.
        let store = RedbStore::open(&store_dir)?;
        let recovered = match store.read(STATE_KEY)? {
            Some(bytes) => Some(codec::decode_state(&bytes).map_err(|e| StartError::CorruptState {
                path: store.path().to_path_buf(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        span.in_scope(|| match &recovered {
            Some(state) => {
                info!(round = state.round, store = %store.path().display(), "recovering from the store")
            }
            None => info!(store = %store.path().display(), "fresh replica: no state in the store"),
        });

        // The transport signs its hellos with the replica's key (see `net`).
        let hello_keys = Arc::new(keys.clone());
        // And the batches committed just before, so that none commits again.
        // And the blocks committed just before, for the leader reputation's history (read
        // even under round-robin, where `remembering_chain` ignores them: a few reads at start).
        let (recent, chain) = match &recovered {
            Some(state) => {
                let count = hotstuff_core::consensus::reputation::remembered_blocks(committee.size());
                (
                    recent_commits(state.committed.height, |key| store.read(key))?,
                    recent_chain(state.committed.height, count, |key| store.read(key))?,
                )
            }
            None => (Vec::new(), Vec::new()),
        };
        let consensus = Consensus::new(me, committee.clone(), keys, parameters.clone(), recovered)
            .remembering_committed(recent)
            .remembering_chain(chain);
        // The batches of its committed blocks: those still to fetch (blocks committed without
        // them, caught up by ranges), those it holds.
        let committed = hotstuff_core::store::committed_batches(&store, mempool::BACKFILL_HEIGHTS_MAX)?;
        if !committed.missing.is_empty() {
            let heights = committed.missing.len();
            span.in_scope(|| info!(heights, "committed blocks whose batches are still to fetch"));
        }
        let mempool = Mempool::new(me, committee.clone(), parameters).recovering(committed);
        let runtime = TokioRuntime::new();
        let (host, actors) = actor::wire(me, &committee, consensus, mempool, store, runtime);
        let HostEnds {
            tx_client_to_mempool,
            tx_host_to_network,
            rx_network_to_host,
            rx_observer,
            rx_commits,
        } = host;

        let peers_addr = listeners.peers_addr().map_err(|source| StartError::Bind {
            address: committee_config.nodes[me.index()].address,
            source,
        })?;
        let transactions_addr = listeners.transactions_addr().map_err(|source| StartError::Bind {
            address: committee_config.nodes[me.index()].transactions,
            source,
        })?;

        let mut tasks = JoinSet::new();
        let mut spawn = |name: &'static str, future: futures::future::BoxFuture<'static, ()>| {
            tasks.spawn(future.instrument(span.clone()).map(move |()| name));
        };
        spawn("consensus actor", actors.consensus.run().boxed());
        spawn("mempool actor", actors.mempool.run().boxed());
        spawn("consensus timer actor", actors.consensus_timer.run().boxed());
        spawn("mempool timer actor", actors.mempool_timer.run().boxed());
        spawn("network actor", actors.network.run().boxed());

        // Outbound: a queue and a connection task per peer, fed by one router.
        let mut queues = Vec::with_capacity(committee.size());
        for (i, node) in committee_config.nodes.iter().enumerate() {
            let peer = NodeId(i as u16);
            if peer == me {
                queues.push(None);
                continue;
            }
            let (tx, rx) = tokio::sync::mpsc::channel(net::PEER_QUEUE_FRAMES);
            queues.push(Some(tx));
            spawn("peer sender", net::send_to_peer(me, hello_keys.clone(), peer, node.address, rx).boxed());
        }
        let members = committee_config.nodes.iter().map(|node| node.name).collect();
        spawn("outbound router", net::route_outbound(rx_network_to_host, queues).boxed());
        spawn("peer listener", net::serve_peers(listeners.peers, me, members, tx_host_to_network).boxed());
        spawn("client listener", net::serve_clients(listeners.transactions, tx_client_to_mempool).boxed());

        let metrics = match &options.metrics {
            Some(path) => Some(
                MetricsWriter::create(path)
                    .map_err(|e| StartError::Metrics { path: path.clone(), source: e })?,
            ),
            None => None,
        };
        let (status_tx, status) = watch::channel(Status::default());
        let status_tx = Arc::new(status_tx);
        if let Some(metrics) = metrics.clone() {
            spawn("queue sampler", sample_queues(actors.depths.clone(), metrics).boxed());
        }
        spawn("observer", log_observed(rx_observer, status_tx.clone(), metrics.clone()).boxed());
        spawn("commit log", log_commits(rx_commits, status_tx, metrics).boxed());

        // The store backend blocks (each write waits for fsync), so its actor gets a thread of
        // its own instead of stalling a tokio worker. It ends once consensus and mempool are gone.
        let store_actor = actors.store;
        let store_span = span.clone();
        tasks.spawn_blocking(move || {
            let _entered = store_span.enter();
            futures::executor::block_on(store_actor.run());
            "store actor"
        });

        span.in_scope(|| info!(%peers_addr, %transactions_addr, "replica started"));
        Ok(ReplicaHandle { id: me, peers_addr, transactions_addr, status, tasks })
    }
}

/// A running replica. Dropping it stops the replica's tasks too; [`ReplicaHandle::shutdown`]
/// also waits until they are gone and the store is closed.
pub struct ReplicaHandle {
    id: NodeId,
    peers_addr: SocketAddr,
    transactions_addr: SocketAddr,
    status: watch::Receiver<Status>,
    tasks: JoinSet<&'static str>,
}

impl fmt::Debug for ReplicaHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaHandle")
            .field("id", &self.id)
            .field("peers_addr", &self.peers_addr)
            .field("transactions_addr", &self.transactions_addr)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl ReplicaHandle {
    /// The replica's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Where it listens for peers.
    pub fn peers_addr(&self) -> SocketAddr {
        self.peers_addr
    }

    /// Where it listens for client transactions.
    pub fn transactions_addr(&self) -> SocketAddr {
        self.transactions_addr
    }

    /// Its progress now.
    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// A receiver that sees every status change (e.g. to wait for a height).
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Completes if one of the replica's tasks stops on its own, which only happens on a fatal
    /// error (for example a store failure, which panics its actor). Returns what stopped and why.
    pub async fn failed(&mut self) -> String {
        match self.tasks.join_next().await {
            Some(Ok(name)) => format!("the {name} stopped"),
            Some(Err(error)) if error.is_panic() => {
                let panic = error.into_panic();
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "unknown panic".to_string());
                format!("a task panicked: {message}")
            }
            Some(Err(error)) => format!("a task was cancelled: {error}"),
            None => futures::future::pending().await,
        }
    }

    /// Stops every task, closes the sockets, and waits until the store is closed (after this, a
    /// new replica may open the same store directory).
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        info!(node = self.id.0, "replica stopped");
    }
}

/// Logs observed events: proposals, timeouts, TCs and recovery at info, the rest at debug; keeps
/// the round in the status.
async fn log_observed(
    mut rx_observer: mpsc::Receiver<Observed>,
    status: Arc<watch::Sender<Status>>,
    metrics: Option<MetricsWriter>,
) {
    struct Narrate<'a>(&'a Observed);
    impl fmt::Display for Narrate<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0.narrate())
        }
    }
    while let Some(observed) = rx_observer.next().await {
        if let Some(metrics) = &metrics {
            record_metrics(metrics, &observed.event);
        }
        let text = Narrate(&observed);
        let time = observed.time.as_ms();
        match &observed.event {
            Event::RoundEntered { round, .. } => {
                let round = *round;
                status.send_if_modified(|s| {
                    let changed = s.round != round;
                    s.round = round;
                    changed
                });
                debug!(time, "{text}");
            }
            Event::Recovered { committed_height, .. } => {
                let height = *committed_height;
                status.send_modify(|s| s.committed_height = s.committed_height.max(height));
                info!(time, "{text}");
            }
            Event::ProposalSent { .. } | Event::TimeoutSent { .. } | Event::TcFormed { .. } => {
                info!(time, "{text}");
            }
            Event::ConflictingCommit { .. } => error!(time, "{text}"),
            Event::MessageRejected { .. } => {
                status.send_modify(|s| s.rejected_messages += 1);
                debug!(time, "{text}");
            }
            // Committed blocks are logged from the commit stream (with their batch count).
            _ => debug!(time, "{text}"),
        }
    }
}

/// Logs committed blocks and counts them in the status.
async fn log_commits(
    mut rx_commits: mpsc::Receiver<Block>,
    status: Arc<watch::Sender<Status>>,
    metrics: Option<MetricsWriter>,
) {
    while let Some(block) = rx_commits.next().await {
        if let Some(metrics) = &metrics {
            metrics.write(&Record::committed(&block));
        }
        info!(
            height = block.height,
            round = block.round,
            batches = block.payload.len(),
            digest = %block.digest(),
            "committed"
        );
        status.send_modify(|s| {
            s.committed_height = s.committed_height.max(block.height);
            s.committed_blocks += 1;
            s.committed_batches += block.payload.len() as u64;
        });
    }
}

/// The benchmark's records of an observed event (commits come from the commit stream, which
/// carries the batch digests).
fn record_metrics(metrics: &MetricsWriter, event: &Event) {
    let t_us = metrics::now_us();
    match event {
        Event::BatchSealed { digest, transactions, bytes, samples, .. } => metrics.write(&Record::Sealed {
            t_us,
            batch: metrics::digest_hex(digest),
            txs: *transactions,
            bytes: *bytes,
            samples: samples.clone(),
        }),
        Event::ProposalSent { block } => metrics.write(&Record::Proposed {
            t_us,
            round: block.round,
            block: metrics::digest_hex(&block.digest),
        }),
        Event::TimeoutSent { round, .. } => metrics.write(&Record::Timeout { t_us, round: *round }),
        _ => {}
    }
}

/// How often the channel peaks are recorded.
const QUEUE_SAMPLE_PERIOD: std::time::Duration = std::time::Duration::from_millis(500);

/// Records the peak depth of every actor channel, every [`QUEUE_SAMPLE_PERIOD`].
async fn sample_queues(depths: actor::SharedDepths, metrics: MetricsWriter) {
    let mut ticks = tokio::time::interval(QUEUE_SAMPLE_PERIOD);
    loop {
        ticks.tick().await;
        let peaks: std::collections::BTreeMap<String, u64> = depths
            .snapshot(true)
            .into_iter()
            .filter_map(|c| {
                let name = serde_json::to_value(c.channel).ok()?.as_str()?.to_string();
                c.peak.filter(|p| *p > 0).map(|p| (name, p))
            })
            .collect();
        if !peaks.is_empty() {
            metrics.write(&Record::Queues { t_us: metrics::now_us(), peaks });
        }
    }
}
