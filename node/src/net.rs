//! The TCP transport: length-delimited frames, one outbound connection per peer, and listeners for
//! peers and clients.
//!
//! - **Outbound**: a task per peer owns a bounded queue and one connection, which it (re)opens
//!   with exponential backoff.
//! - **Handshake**: the accepting replica sends a *challenge* (32 random bytes); the connecting
//!   one answers with a *hello*: its `NodeId` (two little-endian bytes) and its ed25519
//!   signature over [`hello_statement`] (a domain tag, the challenge, both ids). The acceptor
//!   checks it against the committee's key for that id and closes the connection otherwise, so
//!   a peer cannot claim another member's id, and a recorded hello is worth nothing on another
//!   connection or at another replica. Only then are frames read, and attributed to that id.
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
use hotstuff_core::{Digest, KeyPair, NodeId, PublicKey, Signature};
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
/// A peer that connects must prove who it is within this time (and a replica that connects must
/// receive its challenge within it).
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Random bytes in a challenge: enough that one never repeats.
pub(crate) const CHALLENGE_BYTES: usize = 32;
/// A hello: the id, then the signature.
const HELLO_BYTES: usize = 2 + 64;
/// What a hello's signature is about, so that it can never be mistaken for a consensus
/// signature (those are over other tags) or for another protocol's.
const HELLO_DOMAIN: &[u8] = b"hotstuff-scope peer hello v1";
/// Frames written before an explicit flush, so one syscall carries a burst.
const FLUSH_EVERY_FRAMES: usize = 64;
/// At most one "queue full" warning per peer per this interval.
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

fn codec(max_frame_length: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(max_frame_length).new_codec()
}

/// What the connecting replica `from` signs to prove its identity to `to`, which sent
/// `challenge`. Both ids are in it, so the hello is good for one connection to one replica only.
pub(crate) fn hello_statement(challenge: &[u8], from: NodeId, to: NodeId) -> Digest {
    Digest::of_parts(&[HELLO_DOMAIN, challenge, &from.0.to_le_bytes(), &to.0.to_le_bytes()])
}

/// A fresh challenge from the operating system's randomness.
fn challenge() -> Result<[u8; CHALLENGE_BYTES], getrandom::Error> {
    let mut challenge = [0u8; CHALLENGE_BYTES];
    getrandom::fill(&mut challenge)?;
    Ok(challenge)
}

/// The hello frame: who is connecting, signed over the acceptor's challenge.
pub(crate) fn hello(keys: &KeyPair, me: NodeId, to: NodeId, challenge: &[u8]) -> Bytes {
    let signature = keys.sign(&hello_statement(challenge, me, to));
    let mut frame = Vec::with_capacity(HELLO_BYTES);
    frame.extend_from_slice(&me.0.to_le_bytes());
    frame.extend_from_slice(&signature.to_bytes());
    Bytes::from(frame)
}

/// Checks a hello: a committee member other than ourselves, whose key signed our challenge.
fn parse_hello(frame: &[u8], members: &[PublicKey], me: NodeId, challenge: &[u8]) -> Result<NodeId, String> {
    let frame: &[u8; HELLO_BYTES] =
        frame.try_into().map_err(|_| format!("a hello is {HELLO_BYTES} bytes, not {}", frame.len()))?;
    let id = NodeId(u16::from_le_bytes([frame[0], frame[1]]));
    let Some(key) = members.get(id.index()) else {
        return Err(format!("{id} is not a committee member"));
    };
    if id == me {
        return Err(format!("{id} is this replica"));
    }
    let signature = Signature::from_bytes(frame[2..].try_into().expect("64 bytes"));
    if !key.verify(&hello_statement(challenge, id, me), &signature) {
        return Err(format!("the signature is not {id}'s over this connection's challenge"));
    }
    Ok(id)
}

/// Keeps one peer's connection and writes its queued frames. Ends when the queue's sender (the
/// router) is gone.
pub(crate) async fn send_to_peer(
    me: NodeId,
    keys: Arc<KeyPair>,
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
        let (reader, writer) = stream.into_split();
        let mut frames = FramedWrite::new(writer, codec(FRAME_BYTES_MAX));
        // The peer speaks first: its challenge, which our hello signs.
        let mut incoming = FramedRead::new(reader, codec(CHALLENGE_BYTES));
        let handshake = match tokio::time::timeout(HELLO_TIMEOUT, incoming.next()).await {
            Ok(Some(Ok(challenge))) if challenge.len() == CHALLENGE_BYTES => {
                frames.send(hello(&keys, me, peer, &challenge)).await.map_err(|e| e.to_string())
            }
            Ok(Some(Ok(challenge))) => Err(format!("a challenge of {} bytes", challenge.len())),
            Ok(Some(Err(error))) => Err(error.to_string()),
            Ok(None) => Err("closed before its challenge".to_string()),
            Err(_) => Err(format!("no challenge within {HELLO_TIMEOUT:?}")),
        };
        if let Err(error) = handshake {
            debug!(%peer, %address, "handshake failed: {error}");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        // Nothing follows the challenge, so the framed reader has buffered nothing more.
        let mut reader = incoming.into_inner();
        info!(%peer, %address, "connected to peer");
        let connected_at = Instant::now();
        failures = 0;
        // The peer writes nothing after its challenge, so a completed read means it closed (or
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

/// Accepts peer connections; each runs the handshake, then reads frames for the network actor.
/// `members[i]` is member `i`'s public key. Connection tasks live in this task's [`JoinSet`], so
/// ending this task closes them all.
pub(crate) async fn serve_peers(
    listener: TcpListener,
    me: NodeId,
    members: Arc<[PublicKey]>,
    tx_host_to_network: mpsc::Sender<(NodeId, Arc<[u8]>)>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, address)) => {
                    let tx = tx_host_to_network.clone();
                    connections.spawn(receive_from_peer(stream, address, me, members.clone(), tx));
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
    members: Arc<[PublicKey]>,
    mut tx_host_to_network: mpsc::Sender<(NodeId, Arc<[u8]>)>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%address, "cannot set TCP_NODELAY: {error}");
    }
    let challenge = match challenge() {
        Ok(challenge) => challenge,
        Err(error) => {
            warn!(%address, "cannot draw a challenge for a connecting peer: {error}; closing");
            return;
        }
    };
    let (reader, writer) = stream.into_split();
    // Kept until the connection ends: dropping the write half would tell the peer we closed.
    let mut writer = FramedWrite::new(writer, codec(CHALLENGE_BYTES));
    let mut frames = FramedRead::new(reader, codec(FRAME_BYTES_MAX));
    let hello = async {
        writer
            .send(Bytes::copy_from_slice(&challenge))
            .await
            .map_err(|e| format!("challenge not sent: {e}"))?;
        match frames.next().await {
            Some(Ok(frame)) => parse_hello(&frame, &members, me, &challenge),
            Some(Err(error)) => Err(error.to_string()),
            None => Err("closed before its hello".to_string()),
        }
    };
    let from = match tokio::time::timeout(HELLO_TIMEOUT, hello).await {
        Ok(Ok(from)) => from,
        Ok(Err(why)) => {
            warn!(%address, "bad hello from a connecting peer: {why}; closing");
            return;
        }
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
    use super::{hello, parse_hello, CHALLENGE_BYTES};
    use hotstuff_core::{KeyPair, NodeId, PublicKey};

    fn keys() -> (Vec<KeyPair>, Vec<PublicKey>) {
        let keys: Vec<KeyPair> = (0..4).map(|i| KeyPair::from_seed(5, i)).collect();
        let members = keys.iter().map(KeyPair::public).collect();
        (keys, members)
    }

    #[test]
    fn a_hello_signed_by_a_member_over_the_challenge_names_that_member() {
        let (keys, members) = keys();
        let challenge = [7u8; CHALLENGE_BYTES];
        let me = NodeId(0);
        let frame = hello(&keys[3], NodeId(3), me, &challenge);
        assert_eq!(parse_hello(&frame, &members, me, &challenge), Ok(NodeId(3)));
    }

    #[test]
    fn a_hello_claiming_another_members_id_is_refused() {
        let (keys, members) = keys();
        let challenge = [7u8; CHALLENGE_BYTES];
        let me = NodeId(0);
        // Member 2's key, or an outsider's, signing as member 3.
        for liar in [&keys[2], &KeyPair::from_seed(6, 0)] {
            let frame = hello(liar, NodeId(3), me, &challenge);
            let error = parse_hello(&frame, &members, me, &challenge).unwrap_err();
            assert!(error.contains("signature"), "{error}");
        }
    }

    #[test]
    fn a_hello_is_good_for_one_challenge_and_one_replica_only() {
        let (keys, members) = keys();
        let challenge = [7u8; CHALLENGE_BYTES];
        let frame = hello(&keys[3], NodeId(3), NodeId(0), &challenge);
        assert!(parse_hello(&frame, &members, NodeId(0), &[8u8; CHALLENGE_BYTES]).is_err(), "replayed");
        assert!(parse_hello(&frame, &members, NodeId(1), &challenge).is_err(), "to another replica");
    }

    #[test]
    fn a_hello_from_a_non_member_itself_or_of_the_wrong_size_is_refused() {
        let (keys, members) = keys();
        let challenge = [7u8; CHALLENGE_BYTES];
        let me = NodeId(0);
        let outsider = hello(&KeyPair::from_seed(6, 0), NodeId(4), me, &challenge);
        assert!(parse_hello(&outsider, &members, me, &challenge)
            .unwrap_err()
            .contains("not a committee member"));
        let itself = hello(&keys[0], me, me, &challenge);
        assert!(parse_hello(&itself, &members, me, &challenge).unwrap_err().contains("this replica"));
        let good = hello(&keys[3], NodeId(3), me, &challenge);
        assert!(parse_hello(&good[..2], &members, me, &challenge).is_err(), "the old, unsigned hello");
        assert!(parse_hello(&[], &members, me, &challenge).is_err(), "empty");
        assert!(parse_hello(&[&good[..], &[0]].concat(), &members, me, &challenge).is_err(), "too long");
    }
}
