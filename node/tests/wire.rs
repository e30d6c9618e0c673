//! Hostile input over TCP. A raw client connects to a running replica's peer port, proves to be
//! a member (the tests hold the committee's keys), and sends frames no honest replica sends. Each must be dropped without harm: the
//! replica counts it as rejected (`Status::rejected_messages`), keeps its other connections, and
//! the committee keeps committing. A frame beyond the size limit cannot be skipped safely, so it
//! closes its connection (and only that one).

mod common;

use common::Committee;
use hotstuff_core::codec::{self, WireMessage, FRAME_BYTES_MAX};
use hotstuff_core::{
    Block, ConsensusMessage, Digest, KeyPair, NodeId, Parameters, QuorumCert, Timeout, Vote,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The replica under attack.
const TARGET: usize = 0;

fn parameters() -> Parameters {
    Parameters { round_timeout_ms: 500, ..Parameters::default() }
}

/// A length-delimited frame as the transport writes it: a 4-byte big-endian length, then the body.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

fn consensus(message: ConsensusMessage) -> Vec<u8> {
    codec::encode(&WireMessage::Consensus(message))
}

/// A TCP client that speaks the transport's framing but none of its manners.
struct RawPeer {
    stream: TcpStream,
    /// The replica's challenge, which a hello must sign.
    challenge: Vec<u8>,
}

impl RawPeer {
    /// Connects and reads the replica's challenge, without saying hello yet.
    async fn open(to: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(to).await.unwrap();
        let mut length = [0u8; 4];
        stream.read_exact(&mut length).await.unwrap();
        let mut challenge = vec![0u8; u32::from_be_bytes(length) as usize];
        stream.read_exact(&mut challenge).await.unwrap();
        assert_eq!(challenge.len(), 32, "a challenge is 32 random bytes");
        Self { stream, challenge }
    }

    /// Connects and proves to be member `id` with its key, as a replica does.
    async fn connect(to: SocketAddr, target: NodeId, id: NodeId, keys: &KeyPair) -> Self {
        let mut peer = Self::open(to).await;
        let hello = hello(keys, id, target, &peer.challenge);
        peer.send(&hello).await;
        peer
    }

    async fn send(&mut self, body: &[u8]) {
        self.stream.write_all(&frame(body)).await.expect("the replica keeps the connection open");
    }

    /// The replica writes nothing after its challenge, so a read that completes means it closed
    /// (or reset) the connection.
    async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut byte = [0u8; 1];
        match timeout(wait, self.stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => true,
            Ok(Ok(_)) => panic!("the replica wrote to an inbound peer connection after its challenge"),
            Err(_) => false,
        }
    }
}

/// Builds a hello for a connection's challenge.
type HelloFor<'a> = Box<dyn Fn(&[u8]) -> Vec<u8> + 'a>;

/// A hello as `net.rs` builds it: the id (2 bytes, little-endian), then the signature over
/// (domain tag, challenge, both ids). Written out here so the test checks the wire format.
fn hello(keys: &KeyPair, from: NodeId, to: NodeId, challenge: &[u8]) -> Vec<u8> {
    let statement = Digest::of_parts(&[
        b"hotstuff-scope peer hello v1",
        challenge,
        &from.0.to_le_bytes(),
        &to.0.to_le_bytes(),
    ]);
    [&from.0.to_le_bytes()[..], &keys.sign(&statement).to_bytes()].concat()
}

/// Sends one hostile frame and waits until the target has counted it as rejected.
async fn send_and_expect_rejection(committee: &Committee, peer: &mut RawPeer, what: &str, body: &[u8]) {
    let before = committee.status(TARGET).rejected_messages;
    peer.send(body).await;
    committee.wait_for(TARGET, what, |s| s.rejected_messages > before).await;
    eprintln!("rejected: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_forged_messages_are_rejected_and_the_committee_keeps_committing() {
    common::init_logs();
    let mut committee = common::start(4, parameters()).await;
    committee.wait_until("all four commit 3 blocks", |s| s.committed_height >= 3).await;
    let target = committee.replicas[TARGET].as_ref().unwrap().peers_addr();
    let committee_keys = committee.config.committee();
    let outsider = KeyPair::from_seed(common::SEED + 1, 0);
    let member = NodeId(1);
    let member_keys = &committee.keys[member.index()];
    let genesis = QuorumCert::genesis();
    let far_round = 1_000_000;

    // One connection carries every frame: a dropped message must not cost the connection.
    let mut peer = RawPeer::connect(target, NodeId(TARGET as u16), member, member_keys).await;

    // (a) Frames that do not decode: garbage, an unknown message tag, a valid message with
    // trailing bytes, a truncated message, an empty frame.
    let timeout_message =
        consensus(ConsensusMessage::Timeout(Timeout::new(member_keys, member, 7, genesis.clone())));
    let mut trailing = timeout_message.clone();
    trailing.push(0);
    for (what, body) in [
        ("garbage", vec![0xff; 100]),
        ("unknown tag", vec![9, 0, 0]),
        ("trailing bytes", trailing),
        ("truncated", timeout_message[..timeout_message.len() / 2].to_vec()),
        ("empty frame", Vec::new()),
    ] {
        send_and_expect_rejection(&committee, &mut peer, what, &body).await;
    }

    // (c) Well-formed messages from outside the committee: an author id beyond the committee,
    // and an outsider's key signing as a member.
    let leader = committee_keys.leader(1);
    let outsider_block = Block::new(&outsider, leader, 1, genesis.clone(), None, Vec::new());
    for (what, message) in [
        (
            "timeout by a non-member id",
            ConsensusMessage::Timeout(Timeout::new(&outsider, NodeId(9), far_round, genesis.clone())),
        ),
        ("vote by a non-member id", ConsensusMessage::Vote(Vote::new(&outsider, NodeId(9), &outsider_block))),
        (
            "proposal by a non-member id",
            ConsensusMessage::Propose(Block::new(&outsider, NodeId(9), 1, genesis.clone(), None, Vec::new())),
        ),
        ("proposal signed by an outsider as the leader", ConsensusMessage::Propose(outsider_block.clone())),
        (
            "vote signed by an outsider as a member",
            ConsensusMessage::Vote(Vote::new(&outsider, member, &outsider_block)),
        ),
        (
            "timeout signed by an outsider as a member",
            ConsensusMessage::Timeout(Timeout::new(&outsider, member, far_round, genesis.clone())),
        ),
    ] {
        send_and_expect_rejection(&committee, &mut peer, what, &consensus(message)).await;
    }

    // (d) A member's messages with a corrupted signature. A timeout for a far round would, if
    // accepted, count towards a TC there; a proposal would be voted for.
    let mut timeout = Timeout::new(member_keys, member, far_round, genesis.clone());
    timeout.signature = timeout.signature.corrupted();
    let leader_keys = &committee.keys[leader.index()];
    let mut block = Block::new(leader_keys, leader, 1, genesis.clone(), None, Vec::new());
    block.signature = block.signature.corrupted();
    let mut vote = Vote::new(member_keys, member, &block);
    vote.signature = vote.signature.corrupted();
    for (what, message) in [
        ("member's timeout with a bad signature", ConsensusMessage::Timeout(timeout)),
        ("leader's proposal with a bad signature", ConsensusMessage::Propose(block)),
        ("member's vote with a bad signature", ConsensusMessage::Vote(vote)),
    ] {
        send_and_expect_rejection(&committee, &mut peer, what, &consensus(message)).await;
    }

    assert!(!peer.closed_within(Duration::from_millis(200)).await, "rejections keep the connection");
    committee.still_commits("all four commit 5 more blocks after the hostile frames", 5).await;
    let status = committee.status(TARGET);
    assert!(status.rejected_messages >= 14, "{status:?}");
    committee.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_or_a_hello_that_proves_no_other_member_closes_only_its_own_connection() {
    common::init_logs();
    let mut committee = common::start(4, parameters()).await;
    committee.wait_until("all four commit 3 blocks", |s| s.committed_height >= 3).await;
    let target = committee.replicas[TARGET].as_ref().unwrap().peers_addr();

    // A frame of exactly the limit is read whole (and rejected as undecodable): the limit is
    // inclusive and the connection survives.
    let mut peer = RawPeer::connect(target, NodeId(0), NodeId(2), &committee.keys[2]).await;
    let before = committee.status(TARGET).rejected_messages;
    peer.send(&vec![0xee; FRAME_BYTES_MAX]).await;
    committee.wait_for(TARGET, "a frame at the limit is rejected", |s| s.rejected_messages > before).await;
    assert!(
        !peer.closed_within(Duration::from_millis(200)).await,
        "a frame at the limit keeps the connection"
    );

    // One byte more: the replica refuses to buffer it and closes the connection. Only the
    // header and a little of the body are sent; the replica must not wait for the rest.
    let mut oversized = u32::try_from(FRAME_BYTES_MAX + 1).unwrap().to_be_bytes().to_vec();
    oversized.extend_from_slice(&[0xee; 1024]);
    peer.stream.write_all(&oversized).await.unwrap();
    assert!(peer.closed_within(Duration::from_secs(5)).await, "an oversized frame closes its connection");

    // A length header claiming 4 GiB, as the first frame (the hello).
    let mut huge_hello = RawPeer::open(target).await;
    huge_hello.stream.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert!(
        huge_hello.closed_within(Duration::from_secs(5)).await,
        "an oversized hello closes its connection"
    );

    // Hellos that do not prove to be another member.
    let me = NodeId(0);
    let outsider = KeyPair::from_seed(common::SEED + 1, 0);
    let keys = &committee.keys;
    let hellos: [(&str, HelloFor); 8] = [
        ("the old, unsigned hello", Box::new(|_| 1u16.to_le_bytes().to_vec())),
        ("an empty hello", Box::new(|_| Vec::new())),
        ("member 1's key claiming member 2's id", Box::new(|c| hello(&keys[1], NodeId(2), me, c))),
        ("an outsider's key claiming member 2's id", Box::new(|c| hello(&outsider, NodeId(2), me, c))),
        ("an outsider under an id beyond the committee", Box::new(|c| hello(&outsider, NodeId(4), me, c))),
        ("a hello naming the replica itself", Box::new(|c| hello(&keys[0], me, me, c))),
        ("a hello signed for another replica", Box::new(|c| hello(&keys[1], NodeId(1), NodeId(2), c))),
        ("a hello over another challenge (a replay)", Box::new(|_| hello(&keys[1], NodeId(1), me, &[0; 32]))),
    ];
    for (what, make_hello) in hellos {
        let mut peer = RawPeer::open(target).await;
        let hello = make_hello(&peer.challenge);
        peer.send(&hello).await;
        assert!(peer.closed_within(Duration::from_secs(5)).await, "{what} closes its connection");
    }

    committee.still_commits("all four commit 5 more blocks after the closed connections", 5).await;
    let mut peer = RawPeer::connect(target, NodeId(0), NodeId(3), &committee.keys[3]).await;
    let before = committee.status(TARGET).rejected_messages;
    peer.send(&[0xff; 8]).await;
    committee.wait_for(TARGET, "a new connection is still served", |s| s.rejected_messages > before).await;
    committee.stop_all().await;
}
