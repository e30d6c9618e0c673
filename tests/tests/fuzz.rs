//! Hostile bytes and hostile messages never panic a replica.
//!
//! Property tests (proptest): arbitrary bytes, and valid frames with random mutations, go
//! through the wire decoder; whatever decodes is fed to a running replica's consensus and mempool
//! state machines. Every outcome must be a value (accepted, or rejected with an `Error`), never a
//! panic. Default: 256 cases per property; a soak run sets `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=100000 cargo test --release -p hotstuff-tests --test fuzz`.

use hotstuff_core::codec::{self, WireMessage};
use hotstuff_core::consensus::{Consensus, Input};
use hotstuff_core::mempool::{self, Batch, Mempool, MempoolMessage};
use hotstuff_core::{
    Block, Committee, ConsensusMessage, Digest, KeyPair, NodeId, Parameters, QuorumCert, Signature, Time,
    Timeout, TimeoutCert, Vote,
};
use proptest::prelude::*;

const SEED: u64 = 1;

fn committee() -> Committee {
    Committee::from_seed(SEED, 4)
}

fn keys(i: u16) -> KeyPair {
    KeyPair::from_seed(SEED, i)
}

/// A few valid messages of every kind, as the starting points of mutation.
fn valid_messages() -> Vec<WireMessage> {
    let b1 = Block::new(&keys(1), NodeId(1), 1, QuorumCert::genesis(), None, vec![Digest([7; 32])]);
    let votes: Vec<Vote> = (0..3).map(|i| Vote::new(&keys(i), NodeId(i), &b1)).collect();
    let qc = QuorumCert {
        block: b1.digest(),
        round: 1,
        height: 1,
        votes: votes.iter().map(|v| (v.author, v.signature)).collect(),
    };
    let timeouts: Vec<Timeout> = (0..3).map(|i| Timeout::new(&keys(i), NodeId(i), 2, qc.clone())).collect();
    let tc = TimeoutCert {
        round: 2,
        timeouts: timeouts.iter().map(|t| (t.author, t.signature, t.high_qc.round)).collect(),
        high_qc: Box::new(qc.clone()),
    };
    let b3 = Block::new(&keys(3), NodeId(3), 3, qc.clone(), Some(tc.clone()), vec![]);
    vec![
        WireMessage::Consensus(ConsensusMessage::Propose(b1.clone())),
        WireMessage::Consensus(ConsensusMessage::Propose(b3)),
        WireMessage::Consensus(ConsensusMessage::Vote(votes[0].clone())),
        WireMessage::Consensus(ConsensusMessage::Timeout(timeouts[0].clone())),
        WireMessage::Consensus(ConsensusMessage::Tc(tc)),
        WireMessage::Consensus(ConsensusMessage::SyncRequest { digest: b1.digest() }),
        WireMessage::Consensus(ConsensusMessage::SyncResponse(b1.clone())),
        WireMessage::Consensus(ConsensusMessage::ChainRequest { above: 0, max: 64 }),
        WireMessage::Consensus(ConsensusMessage::ChainResponse(vec![b1])),
        WireMessage::Mempool(MempoolMessage::Batch(Batch {
            author: NodeId(2),
            transactions: vec![vec![1, 2, 3]],
        })),
        WireMessage::Mempool(MempoolMessage::BatchRequest { digests: vec![Digest([7; 32])] }),
    ]
}

/// Feeds a decoded message to a started replica (node 0), consensus and mempool alike.
fn feed(message: WireMessage, from: u16) {
    let mut consensus = Consensus::new(NodeId(0), committee(), keys(0), Parameters::default(), None);
    let mut mempool = Mempool::new(NodeId(0), committee(), Parameters::default());
    consensus.handle(Time(0), Input::Start);
    let from = NodeId(from);
    match message {
        WireMessage::Consensus(message) => {
            consensus.handle(Time(5), Input::Message { from, message });
        }
        WireMessage::Mempool(message) => {
            mempool.handle(Time(5), mempool::Input::Message { from, message });
        }
    }
}

fn arbitrary_qc() -> impl Strategy<Value = QuorumCert> {
    (any::<[u8; 32]>(), any::<u64>(), any::<u64>(), prop::collection::vec((0u16..6, any::<[u8; 32]>()), 0..6))
        .prop_map(|(block, round, height, votes)| QuorumCert {
            block: Digest(block),
            round,
            height,
            votes: votes
                .into_iter()
                .map(|(id, seed)| (NodeId(id), keys(id % 4).sign(&Digest(seed))))
                .collect(),
        })
}

/// Structurally arbitrary consensus messages: any rounds and heights (including the extremes),
/// unknown signers, wrong signatures, certificates of any size.
fn arbitrary_consensus_message() -> impl Strategy<Value = ConsensusMessage> {
    let round = prop_oneof![0u64..20, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()];
    prop_oneof![
        (0u16..6, round.clone(), arbitrary_qc(), prop::collection::vec(any::<[u8; 32]>(), 0..4)).prop_map(
            |(author, round, qc, payload)| {
                let mut block = Block::new(&keys(author % 4), NodeId(author), round.max(1), qc, None, vec![]);
                block.payload = payload.into_iter().map(Digest).collect();
                ConsensusMessage::Propose(block)
            }
        ),
        (0u16..6, round.clone(), any::<u64>(), any::<[u8; 32]>()).prop_map(
            |(author, round, height, block)| {
                ConsensusMessage::Vote(Vote {
                    block: Digest(block),
                    round,
                    height,
                    author: NodeId(author),
                    signature: Signature::ZERO,
                })
            }
        ),
        (0u16..6, round.clone(), arbitrary_qc()).prop_map(|(author, round, high_qc)| {
            ConsensusMessage::Timeout(Timeout::new(&keys(author % 4), NodeId(author), round, high_qc))
        }),
        (round, prop::collection::vec((0u16..6, any::<u64>()), 0..6), arbitrary_qc()).prop_map(
            |(round, timeouts, high_qc)| {
                ConsensusMessage::Tc(TimeoutCert {
                    round,
                    timeouts: timeouts
                        .into_iter()
                        .map(|(id, hqc)| (NodeId(id), Signature::ZERO, hqc))
                        .collect(),
                    high_qc: Box::new(high_qc),
                })
            }
        ),
        any::<[u8; 32]>().prop_map(|d| ConsensusMessage::SyncRequest { digest: Digest(d) }),
        (any::<u64>(), any::<u16>()).prop_map(|(above, max)| ConsensusMessage::ChainRequest { above, max }),
    ]
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(message) = codec::decode(&bytes) {
            feed(message, 1);
        }
    }

    #[test]
    fn mutated_valid_frames_decode_or_fail_cleanly_and_never_panic_a_replica(
        which in 0usize..9,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        from in 0u16..5,
    ) {
        let mut bytes = codec::encode(&valid_messages()[which]);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if let Ok(message) = codec::decode(&bytes) {
            feed(message, from);
        }
    }

    #[test]
    fn arbitrary_consensus_messages_never_panic_a_replica(message in arbitrary_consensus_message(), from in 0u16..6) {
        // Round-trips through the codec too: what a replica can be sent, it can decode.
        let wire = WireMessage::Consensus(message);
        let decoded = codec::decode(&codec::encode(&wire));
        prop_assert_eq!(decoded, Ok(wire.clone()));
        feed(wire, from);
    }
}

#[test]
fn valid_messages_of_every_kind_round_trip_through_the_codec() {
    for message in valid_messages() {
        assert_eq!(codec::decode(&codec::encode(&message)), Ok(message));
    }
}

#[test]
fn oversized_and_trailing_garbage_frames_are_refused() {
    let mut bytes = codec::encode(&valid_messages()[2]);
    bytes.push(0);
    assert!(matches!(codec::decode(&bytes), Err(hotstuff_core::Error::Decode(_))));
    let huge = vec![0u8; codec::FRAME_BYTES_MAX + 1];
    assert!(matches!(codec::decode(&huge), Err(hotstuff_core::Error::FrameTooLarge { .. })));
}
