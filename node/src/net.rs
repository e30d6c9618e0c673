//! The TCP transport: length-delimited frames, one outbound connection per peer, and listeners for
//! peers and clients.
//!
//! - **Outbound**: a task per peer owns a bounded queue and one connection, which it (re)opens
//!   with exponential backoff. The first frame on a connection is the *hello*: the sender's
//!   `NodeId` as two little-endian bytes. TCP is unauthenticated and so is the hello; that is
//!   acceptable here because every consensus message is signed and verified by the core (see
//!   the crate docs for what a lying hello can and cannot do).
//! - **Routing**: [`route_outbound`] drains the network actor's frames into the per-peer queues;
//!   a full queue drops the frame (logged, rate-limited): the protocol recovers lost messages
//!   through timeouts and sync, and a slow peer must not stall the replica.
//! - **Inbound**: [`serve_peers`] accepts connections, reads the hello, then feeds every frame as
//!   `(sender, bytes)` to the network actor, which decodes it (undecodable frames are observed
//!   and dropped there). A full actor inbox pushes back on the TCP connection.
//! - **Clients**: [`serve_clients`] reads length-delimited frames, one transaction each, into the
//!   mempool.

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt as _};
use hotstuff_core::actor::Outbound;
use hotstuff_core::codec::FRAME_BYTES_MAX;
use hotstuff_core::mempool::{Transaction, TRANSACTION_SIZE_MAX};
use hotstuff_core::NodeId;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tracing::{debug, info, warn};

/// Frames waiting for one peer's connection. A peer that is down or slow fills it; further frames
/// to it are dropped until it drains.
pub const PEER_QUEUE_FRAMES: usize = 1_000;
/// First reconnection delay; doubles on each failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest delay between two connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A connection that lasted this long resets the backoff when it ends.
const STABLE_CONNECTION: Duration = Duration::from_secs(1);
/// A connection attempt that takes longer is abandoned (and retried after the backoff).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A peer that connects must say who it is within this time.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames written before an explicit flush, so one syscall carries a burst.
const FLUSH_EVERY_FRAMES: usize = 64;
/// At most one "queue full" warning per peer per this interval.
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

fn codec(max_frame_length: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(max_frame_length).new_codec()
}

/// The hello frame: who is connecting.
fn hello(me: NodeId) -> Bytes {
    Bytes::copy_from_slice(&me.0.to_le_bytes())
}

/// Parses a hello: exactly two bytes naming a committee member other than ourselves.
fn parse_hello(frame: &[u8], committee_size: usize, me: NodeId) -> Result<NodeId, String> {
    let bytes: [u8; 2] = frame.try_into().map_err(|_| format!("a hello is 2 bytes, not {}", frame.len()))?;
    let id = NodeId(u16::from_le_bytes(bytes));
    if id.index() >= committee_size {
        return Err(format!("{id} is not a committee member"));
    }
    if id == me {
        return Err(format!("{id} is this replica"));
    }
    Ok(id)
}

/// Keeps one peer's connection and writes its queued frames. Ends when the queue's sender (the
/// router) is gone.
pub(crate) async fn send_to_peer(
    me: NodeId,
    peer: NodeId,
    address: SocketAddr,
    mut queue: tokio::sync::mpsc::Receiver<Arc<[u8]>>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut failures: u64 = 0;
    loop {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            outcome => {
                let why = match outcome {
                    Ok(Err(error)) => error.to_string(),
                    _ => "timed out".to_string(),
                };
                failures += 1;
                // The first failure is news; the retries while a peer is down are not.
                if failures == 1 {
                    info!(%peer, %address, "cannot connect to peer: {why}; retrying with backoff");
                } else {
                    debug!(%peer, %address, failures, "cannot connect to peer: {why}");
                }
                if queue.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        // Votes and timeouts are small and latency-bound.
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%peer, "cannot set TCP_NODELAY: {error}");
        }
        let (mut reader, writer) = stream.into_split();
        let mut frames = FramedWrite::new(writer, codec(FRAME_BYTES_MAX));
        if let Err(error) = frames.send(hello(me)).await {
            debug!(%peer, %address, "hello failed: {error}");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        info!(%peer, %address, "connected to peer");
        let connected_at = Instant::now();
        failures = 0;
        // The peer never writes on this connection, so a completed read means it closed (or
        // reset) the connection: notice at once rather than on the next write.
        let mut probe = [0u8; 1];
        loop {
            let frame = tokio::select! {
                frame = queue.recv() => frame,
                _ = reader.read(&mut probe) => {
                    info!(%peer, "peer closed the connection; reconnecting");
                    break;
                }
            };
            let Some(frame) = frame else { return };
            let mut written = frames.feed(Bytes::from_owner(frame)).await;
            let mut burst = 1;
            while written.is_ok() && burst < FLUSH_EVERY_FRAMES {
                let Ok(frame) = queue.try_recv() else { break };
                written = frames.feed(Bytes::from_owner(frame)).await;
                burst += 1;
            }
            if let Err(error) = written.and(SinkExt::<Bytes>::flush(&mut frames).await) {
                // The frames of this burst are lost; the protocol retransmits what matters.
                info!(%peer, "connection to peer lost ({error}); reconnecting");
                break;
            }
        }
        // A connection that held for a while earns a fresh start; one that a peer closes at once
        // (say, because it refuses our hello) must not turn into a busy reconnect loop.
        if connected_at.elapsed() >= STABLE_CONNECTION {
            backoff = BACKOFF_MIN;
        } else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// How many frames to one peer were dropped, and when that was last reported.
#[derive(Debug, Default)]
struct Drops {
    total: u64,
    reported: u64,
    last_report: Option<Instant>,
}

/// Moves the network actor's frames into the per-peer queues (`peers[i]` is `None` for this
/// replica itself). Ends when the network actor is gone.
pub(crate) async fn route_outbound(
    mut rx_network_to_host: mpsc::Receiver<Outbound>,
    peers: Vec<Option<tokio::sync::mpsc::Sender<Arc<[u8]>>>>,
) {
    let mut drops: Vec<Drops> = peers.iter().map(|_| Drops::default()).collect();
    while let Some(Outbound { to, bytes }) = rx_network_to_host.next().await {
        let Some(queue) = peers.get(to.index()).and_then(Option::as_ref) else {
            // The core never sends to itself or outside the committee; tolerate it if it does.
            warn!(%to, "frame for a node that is not a peer; dropped");
            continue;
        };
        match queue.try_send(bytes) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                let drops = &mut drops[to.index()];
                drops.total += 1;
                let now = Instant::now();
                if drops.last_report.is_none_or(|at| now.duration_since(at) >= DROP_WARNING_INTERVAL) {
                    warn!(
                        peer = %to,
                        dropped = drops.total - drops.reported,
                        dropped_total = drops.total,
                        "queue to peer full ({PEER_QUEUE_FRAMES} frames): dropping frames"
                    );
                    drops.reported = drops.total;
                    drops.last_report = Some(now);
                }
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// Accepts peer connections; each reads a hello, then frames for the network actor. Connection
/// tasks live in this task's [`JoinSet`], so ending this task closes them all.
pub(crate) async fn serve_peers(
    listener: TcpListener,
    me: NodeId,
    committee_size: usize,
    tx_host_to_network: mpsc::Sender<(NodeId, Arc<[u8]>)>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, address)) => {
                    let tx = tx_host_to_network.clone();
                    connections.spawn(receive_from_peer(stream, address, me, committee_size, tx));
                }
                Err(error) => {
                    warn!("accepting a peer connection failed: {error}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn receive_from_peer(
    stream: TcpStream,
    address: SocketAddr,
    me: NodeId,
    committee_size: usize,
    mut tx_host_to_network: mpsc::Sender<(NodeId, Arc<[u8]>)>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%address, "cannot set TCP_NODELAY: {error}");
    }
    let mut frames = FramedRead::new(stream, codec(FRAME_BYTES_MAX));
    let from = match tokio::time::timeout(HELLO_TIMEOUT, frames.next()).await {
        Ok(Some(Ok(frame))) => match parse_hello(&frame, committee_size, me) {
            Ok(from) => from,
            Err(why) => {
                warn!(%address, "bad hello from a connecting peer: {why}; closing");
                return;
            }
        },
        Ok(Some(Err(error))) => {
            warn!(%address, "bad hello from a connecting peer: {error}; closing");
            return;
        }
        Ok(None) => return,
        Err(_) => {
            warn!(%address, "no hello from a connecting peer within {HELLO_TIMEOUT:?}; closing");
            return;
        }
    };
    debug!(peer = %from, %address, "peer connected");
    while let Some(frame) = frames.next().await {
        match frame {
            Ok(frame) => {
                let bytes: Arc<[u8]> = Arc::from(&frame[..]);
                if tx_host_to_network.send((from, bytes)).await.is_err() {
                    return; // The replica is shutting down.
                }
            }
            Err(error) => {
                // An oversized frame or a broken connection: the stream cannot be trusted past it.
                warn!(peer = %from, %address, "closing peer connection: {error}");
                return;
            }
        }
    }
    debug!(peer = %from, %address, "peer disconnected");
}

/// Accepts client connections; each frame is one transaction for the mempool.
pub(crate) async fn serve_clients(listener: TcpListener, tx_client_to_mempool: mpsc::Sender<Transaction>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, address)) => {
                    connections.spawn(receive_from_client(stream, address, tx_client_to_mempool.clone()));
                }
                Err(error) => {
                    warn!("accepting a client connection failed: {error}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn receive_from_client(
    stream: TcpStream,
    address: SocketAddr,
    mut tx_client_to_mempool: mpsc::Sender<Transaction>,
) {
    debug!(%address, "client connected");
    // The mempool refuses larger transactions anyway; refusing the frame bounds what we buffer.
    let mut frames = FramedRead::new(stream, codec(TRANSACTION_SIZE_MAX));
    while let Some(frame) = frames.next().await {
        match frame {
            Ok(transaction) => {
                if tx_client_to_mempool.send(transaction.to_vec()).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                warn!(%address, "closing client connection: {error}");
                return;
            }
        }
    }
    debug!(%address, "client disconnected");
}

#[cfg(test)]
mod tests {
    use super::{hello, parse_hello};
    use hotstuff_core::NodeId;

    #[test]
    fn a_hello_names_a_peer_in_the_committee() {
        assert_eq!(parse_hello(&hello(NodeId(3)), 4, NodeId(0)), Ok(NodeId(3)));
        assert!(parse_hello(&hello(NodeId(4)), 4, NodeId(0)).is_err(), "not a member");
        assert!(parse_hello(&hello(NodeId(0)), 4, NodeId(0)).is_err(), "ourselves");
        assert!(parse_hello(&[1, 0, 0], 4, NodeId(0)).is_err(), "wrong length");
        assert!(parse_hello(&[], 4, NodeId(0)).is_err(), "empty");
    }
}
