//! Actor shells: each subsystem of a replica is an async loop over bounded `futures` channels.
//!
//! ```text
//!                 transactions
//!   client ──────────────────────► MEMPOOL ──── batch digests, payload ready ────┐
//!                                   ▲   │                                         ▼
//!                fetch payload,     │   │ batches,                           CONSENSUS ◄── timer (round,
//!                committed ─────────┘   │ batch requests                      │   ▲  ▲      propose, sync)
//!                                       ▼                                     │   │  └── store (acks,
//!   peers ◄──────────────────────── NETWORK ◄──── proposals, votes, timeouts ─┘   │       reads)
//!   peers ────────── frames ──────► NETWORK ──── decoded messages ────────────────┘
//! ```
//!
//! An actor owns one state machine (or one I/O resource). Its loop receives one input, stamps it
//! with the runtime's `now`, calls `handle`, and routes each action to an outbox, in order. **No
//! protocol decision lives in an actor**: every `if` about the protocol is in `consensus` or
//! `mempool`. The one thing a shell enforces is the ordering contract: a `Persist` is written and
//! acknowledged by the store before the next action is routed.
//!
//! Channel ends are named `tx_<from>_to_<to>` / `rx_<from>_to_<to>`; every channel is bounded,
//! with its capacity a named constant below. [`wire`] builds one replica's whole set; the host
//! spawns the actors and keeps the [`HostEnds`]. The channels between actors count their depth
//! into a per-replica table ([`depth`], [`Actors::depths`]) so that displays can show the queues.

mod consensus;
pub mod depth;
mod mempool;
mod network;
mod store;
mod timer;

pub use consensus::ConsensusActor;
pub use depth::{Channel, ChannelDepth, ChannelDepths, CountedReceiver, CountedSender, SharedDepths};
pub use mempool::MempoolActor;
pub use network::{NetworkActor, Outbound};
pub use store::StoreActor;
pub use timer::TimerActor;

use crate::codec::WireMessage;
use crate::committee::Committee;
use crate::consensus::{self as cons, Consensus, ConsensusCore};
use crate::event::Observed;
use crate::mempool::{self as mem, Mempool, Transaction};
use crate::messages::{Block, ConsensusMessage};
use crate::runtime::Runtime;
use crate::store::{StoreBackend, StoreCommand};
use crate::types::NodeId;
use futures::channel::mpsc;
use std::sync::Arc;

/// Peer messages waiting for consensus. Large enough to absorb a burst of `n` votes and timeouts
/// for a few rounds even at n = 64; when full, the network actor waits (backpressure).
pub const CAPACITY_NETWORK_TO_CONSENSUS: usize = 1_000;
/// Peer messages waiting for the mempool (batches are large; keep fewer).
pub const CAPACITY_NETWORK_TO_MEMPOOL: usize = 1_000;
/// Messages consensus or the mempool want sent.
pub const CAPACITY_TO_NETWORK: usize = 1_000;
/// Frames received from the host's transport, not yet decoded.
pub const CAPACITY_HOST_TO_NETWORK: usize = 10_000;
/// Encoded frames waiting for the host's transport.
pub const CAPACITY_NETWORK_TO_HOST: usize = 10_000;
/// Client transactions waiting for the mempool; when full, clients see backpressure.
pub const CAPACITY_CLIENT_TO_MEMPOOL: usize = 10_000;
/// Batch digests and payload answers for consensus.
pub const CAPACITY_MEMPOOL_TO_CONSENSUS: usize = 1_000;
/// Payload fetches and commits for the mempool.
pub const CAPACITY_CONSENSUS_TO_MEMPOOL: usize = 1_000;
/// Timer requests (one live deadline per slot, so a few suffice).
pub const CAPACITY_TO_TIMER: usize = 100;
/// Timer firings.
pub const CAPACITY_TIMER_TO_OWNER: usize = 100;
/// Store commands.
pub const CAPACITY_TO_STORE: usize = 1_000;
/// Observed events for the host.
pub const CAPACITY_OBSERVER: usize = 10_000;
/// Committed blocks for the application.
pub const CAPACITY_COMMITS: usize = 1_000;

/// The bound of a channel, from the constants above.
pub fn capacity(channel: Channel) -> usize {
    match channel {
        Channel::ClientToMempool => CAPACITY_CLIENT_TO_MEMPOOL,
        Channel::HostToNetwork => CAPACITY_HOST_TO_NETWORK,
        Channel::NetworkToHost => CAPACITY_NETWORK_TO_HOST,
        Channel::NetworkToConsensus => CAPACITY_NETWORK_TO_CONSENSUS,
        Channel::NetworkToMempool => CAPACITY_NETWORK_TO_MEMPOOL,
        Channel::ConsensusToNetwork | Channel::MempoolToNetwork => CAPACITY_TO_NETWORK,
        Channel::MempoolToConsensus => CAPACITY_MEMPOOL_TO_CONSENSUS,
        Channel::ConsensusToMempool => CAPACITY_CONSENSUS_TO_MEMPOOL,
        Channel::ConsensusToTimer | Channel::MempoolToTimer => CAPACITY_TO_TIMER,
        Channel::TimerToConsensus | Channel::TimerToMempool => CAPACITY_TIMER_TO_OWNER,
        Channel::ToStore => CAPACITY_TO_STORE,
    }
}

/// Who a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// One peer.
    One(NodeId),
    /// Every other member.
    AllOthers,
}

/// What the consensus actor tells the mempool actor.
pub type ConsensusToMempool = mem::Input;

/// What the mempool actor tells the consensus actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MempoolToConsensus {
    /// A batch ready to propose.
    BatchReady(crate::Digest),
    /// A block's payload is here.
    PayloadReady(crate::Digest),
}

/// The ends of a replica's channels that the host holds.
#[derive(Debug)]
pub struct HostEnds {
    /// Client transactions in.
    pub tx_client_to_mempool: mpsc::Sender<Transaction>,
    /// Frames from peers in: `(sender, bytes)`.
    pub tx_host_to_network: mpsc::Sender<(NodeId, Arc<[u8]>)>,
    /// Frames to peers out.
    pub rx_network_to_host: mpsc::Receiver<Outbound>,
    /// Observed events out.
    pub rx_observer: mpsc::Receiver<Observed>,
    /// Committed blocks out, in commit order.
    pub rx_commits: mpsc::Receiver<Block>,
}

/// One replica's actors, ready to be spawned (each `run` is a future).
#[derive(Debug)]
pub struct Actors<R: Runtime, S: StoreBackend, C: ConsensusCore = Consensus> {
    /// The consensus actor.
    pub consensus: ConsensusActor<R, C>,
    /// The mempool actor.
    pub mempool: MempoolActor<R>,
    /// The consensus timer.
    pub consensus_timer: TimerActor<R, cons::Timer>,
    /// The mempool timer.
    pub mempool_timer: TimerActor<R, mem::Timer>,
    /// The network actor (codec and dispatch; the host owns the transport).
    pub network: NetworkActor<R>,
    /// The store actor.
    pub store: StoreActor<S>,
    /// The depth of the channels between these actors (shared with them; read it any time).
    pub depths: SharedDepths,
}

/// Builds the channels between a replica's actors.
pub fn wire<R: Runtime, S: StoreBackend, C: ConsensusCore>(
    id: NodeId,
    committee: &Committee,
    consensus: C,
    mempool: Mempool,
    store: S,
    runtime: R,
) -> (HostEnds, Actors<R, S, C>) {
    use depth::{counted_channel, counted_receiver, counted_sender};
    let depths = ChannelDepths::shared();
    // Host channels: the host's end stays a plain `mpsc` end (hosts hold it); the actor's end
    // counts the items through.
    let (tx_client_to_mempool, rx_client_to_mempool) = mpsc::channel(CAPACITY_CLIENT_TO_MEMPOOL);
    let rx_client_to_mempool = counted_receiver(rx_client_to_mempool, &depths, Channel::ClientToMempool);
    let (tx_host_to_network, rx_host_to_network) = mpsc::channel(CAPACITY_HOST_TO_NETWORK);
    let rx_host_to_network = counted_receiver(rx_host_to_network, &depths, Channel::HostToNetwork);
    let (tx_network_to_host, rx_network_to_host) = mpsc::channel(CAPACITY_NETWORK_TO_HOST);
    let tx_network_to_host = counted_sender(tx_network_to_host, &depths, Channel::NetworkToHost);
    // Channels between actors: both ends count, so the depth is known.
    let (tx_network_to_consensus, rx_network_to_consensus) =
        counted_channel::<(NodeId, ConsensusMessage)>(&depths, Channel::NetworkToConsensus);
    let (tx_network_to_mempool, rx_network_to_mempool) = counted_channel(&depths, Channel::NetworkToMempool);
    let (tx_consensus_to_network, rx_consensus_to_network) =
        counted_channel::<(Recipient, WireMessage)>(&depths, Channel::ConsensusToNetwork);
    let (tx_mempool_to_network, rx_mempool_to_network) = counted_channel(&depths, Channel::MempoolToNetwork);
    let (tx_mempool_to_consensus, rx_mempool_to_consensus) =
        counted_channel(&depths, Channel::MempoolToConsensus);
    let (tx_consensus_to_mempool, rx_consensus_to_mempool) =
        counted_channel(&depths, Channel::ConsensusToMempool);
    let (tx_consensus_to_timer, rx_consensus_to_timer) = counted_channel(&depths, Channel::ConsensusToTimer);
    let (tx_timer_to_consensus, rx_timer_to_consensus) = counted_channel(&depths, Channel::TimerToConsensus);
    let (tx_mempool_to_timer, rx_mempool_to_timer) = counted_channel(&depths, Channel::MempoolToTimer);
    let (tx_timer_to_mempool, rx_timer_to_mempool) = counted_channel(&depths, Channel::TimerToMempool);
    let (tx_to_store, rx_to_store) = counted_channel::<StoreCommand>(&depths, Channel::ToStore);
    let (tx_observer, rx_observer) = mpsc::channel(CAPACITY_OBSERVER);
    let (tx_commits, rx_commits) = mpsc::channel(CAPACITY_COMMITS);

    let actors = Actors {
        consensus: ConsensusActor {
            id,
            core: consensus,
            runtime: runtime.clone(),
            rx_timer_to_consensus,
            rx_mempool_to_consensus,
            rx_network_to_consensus,
            tx_consensus_to_network,
            tx_consensus_to_timer,
            tx_consensus_to_mempool,
            tx_consensus_to_store: tx_to_store.clone(),
            tx_observer: tx_observer.clone(),
            tx_commits,
        },
        mempool: MempoolActor {
            id,
            core: mempool,
            runtime: runtime.clone(),
            rx_timer_to_mempool,
            rx_consensus_to_mempool,
            rx_network_to_mempool,
            rx_client_to_mempool,
            tx_mempool_to_network,
            tx_mempool_to_timer,
            tx_mempool_to_consensus,
            tx_mempool_to_store: tx_to_store,
            tx_observer: tx_observer.clone(),
        },
        consensus_timer: TimerActor::new(runtime.clone(), rx_consensus_to_timer, tx_timer_to_consensus),
        mempool_timer: TimerActor::new(runtime.clone(), rx_mempool_to_timer, tx_timer_to_mempool),
        network: NetworkActor {
            id,
            committee_size: committee.size(),
            runtime,
            rx_host_to_network,
            rx_consensus_to_network,
            rx_mempool_to_network,
            tx_network_to_host,
            tx_network_to_consensus,
            tx_network_to_mempool,
            tx_observer,
        },
        store: StoreActor::new(store, rx_to_store),
        depths,
    };
    let host =
        HostEnds { tx_client_to_mempool, tx_host_to_network, rx_network_to_host, rx_observer, rx_commits };
    (host, actors)
}

/// Sends on a channel whose receiver may be gone because the replica is shutting down (or, in
/// the simulator, crashing). Returns `false` then, so the caller's loop can end. Generic over the
/// sink so that plain host channels and counted actor channels go the same way.
async fn deliver<T, S: futures::Sink<T> + Unpin>(tx: &mut S, item: T) -> bool {
    use futures::SinkExt as _;
    tx.send(item).await.is_ok()
}
