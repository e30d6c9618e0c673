//! The consensus actor: the shell around [`Consensus`].

use super::{deliver, CountedReceiver, CountedSender, MempoolToConsensus, Recipient};
use crate::codec::{self, WireMessage};
use crate::consensus::{Action, Consensus, ConsensusCore, Input, Timer};
use crate::event::{Event, Observed};
use crate::mempool;
use crate::messages::{Block, ConsensusMessage, CHAIN_RESPONSE_BYTES_MAX};
use crate::runtime::Runtime;
use crate::store::{self, StoreCommand};
use crate::time::Time;
use crate::types::{Digest, Height, NodeId};
use futures::channel::{mpsc, oneshot};
use futures::StreamExt as _;

/// Receives timer firings, mempool answers and peer messages; routes consensus actions. `C` is
/// the state machine: the honest [`Consensus`] unless a simulator test swaps in a Byzantine one.
#[derive(Debug)]
pub struct ConsensusActor<R: Runtime, C: ConsensusCore = Consensus> {
    pub(super) id: NodeId,
    pub(super) core: C,
    pub(super) runtime: R,
    pub(super) rx_timer_to_consensus: CountedReceiver<Timer>,
    pub(super) rx_mempool_to_consensus: CountedReceiver<MempoolToConsensus>,
    pub(super) rx_network_to_consensus: CountedReceiver<(NodeId, ConsensusMessage)>,
    pub(super) tx_consensus_to_network: CountedSender<(Recipient, WireMessage)>,
    pub(super) tx_consensus_to_timer: CountedSender<(Timer, Time)>,
    pub(super) tx_consensus_to_mempool: CountedSender<mempool::Input>,
    pub(super) tx_consensus_to_store: CountedSender<StoreCommand>,
    pub(super) tx_observer: mpsc::Sender<Observed>,
    pub(super) tx_commits: mpsc::Sender<Block>,
}

impl<R: Runtime, C: ConsensusCore> ConsensusActor<R, C> {
    /// Starts the state machine, then serves inputs until the replica shuts down.
    pub async fn run(mut self) {
        let mut input = Some(Input::Start);
        while let Some(next) = input.take() {
            let actions = self.core.handle(self.runtime.now(), next);
            for action in actions {
                if !self.route(action).await || self.runtime.crash_point() {
                    return;
                }
            }
            // Priority: timers (they carry deadlines), then the mempool (it unblocks votes),
            // then peers. A flood of peer messages cannot starve a timeout.
            input = futures::select_biased! {
                timer = self.rx_timer_to_consensus.next() => timer.map(Input::Timer),
                answer = self.rx_mempool_to_consensus.next() => answer.map(|a| match a {
                    MempoolToConsensus::BatchReady(d) => Input::BatchReady(d),
                    MempoolToConsensus::PayloadReady(d) => Input::PayloadReady(d),
                }),
                message = self.rx_network_to_consensus.next() => message.map(|(from, message)| Input::Message { from, message }),
            };
        }
    }

    /// Performs one action. Returns `false` when the replica is shutting down.
    async fn route(&mut self, action: Action) -> bool {
        match action {
            Action::Send { to, message } => {
                deliver(
                    &mut self.tx_consensus_to_network,
                    (Recipient::One(to), WireMessage::Consensus(message)),
                )
                .await
            }
            Action::Broadcast { message } => {
                deliver(
                    &mut self.tx_consensus_to_network,
                    (Recipient::AllOthers, WireMessage::Consensus(message)),
                )
                .await
            }
            Action::SetTimer { timer, deadline } => {
                deliver(&mut self.tx_consensus_to_timer, (timer, deadline)).await
            }
            Action::Persist(state) => {
                // Persist before send: wait for the store's acknowledgement before routing the
                // next action, which may be a vote.
                let (ack, acked) = oneshot::channel();
                let write = StoreCommand::Write {
                    key: store::STATE_KEY.to_vec(),
                    value: codec::encode_value(&state),
                    ack: Some(ack),
                };
                deliver(&mut self.tx_consensus_to_store, write).await && acked.await.is_ok()
            }
            Action::StoreBlock(block) => {
                let write = StoreCommand::Write {
                    key: store::block_key(&block.digest()),
                    value: codec::encode_value(&block),
                    ack: None,
                };
                deliver(&mut self.tx_consensus_to_store, write).await
            }
            Action::FetchPayload { block, payload, author } => {
                deliver(
                    &mut self.tx_consensus_to_mempool,
                    mempool::Input::FetchPayload { block, payload, author },
                )
                .await
            }
            Action::Commit(block) => {
                // The commit index (the application's stream, and what peers catching up read:
                // `ServeChainFromStore`), and the batches it committed in the window's ring (a
                // restarted replica must know them: `store::committed_batches_key`). Both
                // acknowledged, so they go with the durable writes, before or with the `Persist`
                // that records the commit (it follows in this step, most often in the same
                // group): the index then has no gap below the commit a restart recovers.
                // Nobody waits for the acks.
                let payload = block.payload.clone();
                let mut writes = vec![(store::commit_key(block.height), block.digest().0.to_vec())];
                if !payload.is_empty() {
                    let record = codec::encode_value(&(block.height, &payload));
                    writes.push((store::committed_batches_key(block.height), record));
                }
                for (key, value) in writes {
                    let (ack, _) = oneshot::channel();
                    let write = StoreCommand::Write { key, value, ack: Some(ack) };
                    if !deliver(&mut self.tx_consensus_to_store, write).await {
                        return false;
                    }
                }
                let committed =
                    mempool::Input::Committed { height: block.height, author: block.author, payload };
                deliver(&mut self.tx_consensus_to_mempool, committed).await
                    && deliver(&mut self.tx_commits, block).await
            }
            Action::Prune { below } => {
                deliver(&mut self.tx_consensus_to_store, StoreCommand::Prune { below }).await
            }
            Action::ServeChainFromStore { above, max, to } => {
                self.serve_chain_from_store(above, max, to).await
            }
            Action::ServeFromStore { digest, to } => {
                let (reply, value) = oneshot::channel();
                let read = StoreCommand::Read { key: store::block_key(&digest), reply };
                if !deliver(&mut self.tx_consensus_to_store, read).await {
                    return false;
                }
                match value.await {
                    Ok(Some(bytes)) => match codec::decode_value::<Block>(&bytes) {
                        Ok(block) => {
                            let message = WireMessage::Consensus(ConsensusMessage::SyncResponse(block));
                            self.observe(Event::SyncServed { digest, to }).await
                                && deliver(&mut self.tx_consensus_to_network, (Recipient::One(to), message))
                                    .await
                        }
                        // Our own store returned garbage: the disk is corrupt.
                        Err(error) => panic!("stored block {digest} does not decode: {error}"),
                    },
                    Ok(None) => true,
                    Err(_) => false,
                }
            }
            Action::Observe(event) => self.observe(event).await,
        }
    }

    /// Reads `store` for `key`. `None` when the replica is shutting down.
    async fn read(&mut self, key: store::Key) -> Option<Option<Vec<u8>>> {
        let (reply, value) = oneshot::channel();
        if !deliver(&mut self.tx_consensus_to_store, StoreCommand::Read { key, reply }).await {
            return None;
        }
        value.await.ok()
    }

    /// See [`Action::ServeChainFromStore`]. Returns `false` when the replica is shutting down.
    async fn serve_chain_from_store(&mut self, above: Height, max: u16, to: NodeId) -> bool {
        let mut blocks = Vec::new();
        let mut bytes = 0;
        for height in (above + 1)..=(above + u64::from(max)) {
            let Some(entry) = self.read(store::commit_key(height)).await else { return false };
            let Some(digest) = entry.and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok()) else { break };
            let Some(stored) = self.read(store::block_key(&Digest(digest))).await else { return false };
            let Some(encoded) = stored else { break };
            bytes += encoded.len();
            if bytes > CHAIN_RESPONSE_BYTES_MAX && !blocks.is_empty() {
                break;
            }
            match codec::decode_value::<Block>(&encoded) {
                Ok(block) => blocks.push(block),
                // Our own store returned garbage: the disk is corrupt.
                Err(error) => panic!("stored block {} does not decode: {error}", Digest(digest)),
            }
        }
        let event = Event::ChainServed { above, blocks: blocks.len() as u32, to };
        let message = WireMessage::Consensus(ConsensusMessage::ChainResponse(blocks));
        self.observe(event).await
            && deliver(&mut self.tx_consensus_to_network, (Recipient::One(to), message)).await
    }

    async fn observe(&mut self, event: Event) -> bool {
        let observed = Observed { time: self.runtime.now(), node: self.id, event };
        deliver(&mut self.tx_observer, observed).await
    }
}
