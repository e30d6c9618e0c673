//! The network actor: encodes outgoing messages into frames for the host's transport, and
//! decodes incoming frames for consensus and the mempool. Undecodable frames are observed and
//! dropped. The transport itself (simulated links, TCP) belongs to the host.

use super::{deliver, CountedReceiver, CountedSender, Recipient};
use crate::codec::{self, WireMessage};
use crate::event::{Event, Observed};
use crate::mempool::MempoolMessage;
use crate::messages::ConsensusMessage;
use crate::runtime::Runtime;
use crate::types::NodeId;
use futures::channel::mpsc;
use futures::StreamExt as _;
use std::sync::Arc;

/// A frame for the host to carry to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// The peer.
    pub to: NodeId,
    /// The encoded [`WireMessage`] (shared between the copies of a broadcast).
    pub bytes: Arc<[u8]>,
}

/// Codec and dispatch between the replica and its transport.
#[derive(Debug)]
pub struct NetworkActor<R: Runtime> {
    pub(super) id: NodeId,
    pub(super) committee_size: usize,
    pub(super) runtime: R,
    pub(super) rx_host_to_network: CountedReceiver<(NodeId, Arc<[u8]>)>,
    pub(super) rx_consensus_to_network: CountedReceiver<(Recipient, WireMessage)>,
    pub(super) rx_mempool_to_network: CountedReceiver<(Recipient, WireMessage)>,
    pub(super) tx_network_to_host: CountedSender<Outbound>,
    pub(super) tx_network_to_consensus: CountedSender<(NodeId, ConsensusMessage)>,
    pub(super) tx_network_to_mempool: CountedSender<(NodeId, MempoolMessage)>,
    pub(super) tx_observer: mpsc::Sender<Observed>,
}

impl<R: Runtime> NetworkActor<R> {
    /// Runs until the replica shuts down.
    pub async fn run(mut self) {
        loop {
            // Outgoing consensus traffic first: votes and proposals are on the critical path.
            let alive = futures::select_biased! {
                out = self.rx_consensus_to_network.next() => match out {
                    Some((to, message)) => self.send(to, &message).await,
                    None => false,
                },
                out = self.rx_mempool_to_network.next() => match out {
                    Some((to, message)) => self.send(to, &message).await,
                    None => false,
                },
                frame = self.rx_host_to_network.next() => match frame {
                    Some((from, bytes)) => self.receive(from, &bytes).await,
                    None => false,
                },
            };
            if !alive {
                return;
            }
        }
    }

    async fn send(&mut self, to: Recipient, message: &WireMessage) -> bool {
        let bytes: Arc<[u8]> = codec::encode(message).into();
        match to {
            Recipient::One(peer) => deliver(&mut self.tx_network_to_host, Outbound { to: peer, bytes }).await,
            Recipient::AllOthers => {
                for peer in (0..self.committee_size as u16).map(NodeId).filter(|p| *p != self.id) {
                    if !deliver(&mut self.tx_network_to_host, Outbound { to: peer, bytes: bytes.clone() })
                        .await
                    {
                        return false;
                    }
                }
                true
            }
        }
    }

    async fn receive(&mut self, from: NodeId, bytes: &[u8]) -> bool {
        match codec::decode(bytes) {
            Ok(WireMessage::Consensus(message)) => {
                deliver(&mut self.tx_network_to_consensus, (from, message)).await
            }
            Ok(WireMessage::Mempool(message)) => {
                deliver(&mut self.tx_network_to_mempool, (from, message)).await
            }
            Err(error) => {
                let event = Event::rejected(from, "frame", &error);
                let observed = Observed { time: self.runtime.now(), node: self.id, event };
                deliver(&mut self.tx_observer, observed).await
            }
        }
    }
}
