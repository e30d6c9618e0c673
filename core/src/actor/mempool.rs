//! The mempool actor: the shell around [`Mempool`].

use super::{deliver, CountedReceiver, CountedSender, MempoolToConsensus, Recipient};
use crate::codec::{self, WireMessage};
use crate::event::{Event, Observed};
use crate::mempool::{Action, Batch, Input, Mempool, MempoolMessage, Timer, Transaction};
use crate::runtime::Runtime;
use crate::store::{self, StoreCommand};
use crate::time::Time;
use crate::types::NodeId;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt as _;

/// Receives transactions, peer batches, consensus requests and timers; routes mempool actions.
#[derive(Debug)]
pub struct MempoolActor<R: Runtime> {
    pub(super) id: NodeId,
    pub(super) core: Mempool,
    pub(super) runtime: R,
    pub(super) rx_timer_to_mempool: CountedReceiver<Timer>,
    pub(super) rx_consensus_to_mempool: CountedReceiver<Input>,
    pub(super) rx_network_to_mempool: CountedReceiver<(NodeId, MempoolMessage)>,
    pub(super) rx_client_to_mempool: CountedReceiver<Transaction>,
    pub(super) tx_mempool_to_network: CountedSender<(Recipient, WireMessage)>,
    pub(super) tx_mempool_to_timer: CountedSender<(Timer, Time)>,
    pub(super) tx_mempool_to_consensus: CountedSender<MempoolToConsensus>,
    pub(super) tx_mempool_to_store: CountedSender<StoreCommand>,
    pub(super) tx_observer: mpsc::Sender<Observed>,
}

impl<R: Runtime> MempoolActor<R> {
    /// Serves inputs until the replica shuts down.
    pub async fn run(mut self) {
        loop {
            // Priority: timers, consensus (a vote may wait on us), peers, then clients last so
            // that client load turns into backpressure rather than delaying consensus.
            let input = futures::select_biased! {
                timer = self.rx_timer_to_mempool.next() => timer.map(Input::Timer),
                request = self.rx_consensus_to_mempool.next() => request,
                message = self.rx_network_to_mempool.next() => message.map(|(from, message)| Input::Message { from, message }),
                transaction = self.rx_client_to_mempool.next() => transaction.map(Input::Transaction),
            };
            let Some(input) = input else { return };
            let actions = self.core.handle(self.runtime.now(), input);
            for action in actions {
                if !self.route(action).await {
                    return;
                }
            }
        }
    }

    async fn route(&mut self, action: Action) -> bool {
        match action {
            Action::Send { to, message } => {
                deliver(&mut self.tx_mempool_to_network, (Recipient::One(to), WireMessage::Mempool(message)))
                    .await
            }
            Action::Broadcast { message } => {
                deliver(
                    &mut self.tx_mempool_to_network,
                    (Recipient::AllOthers, WireMessage::Mempool(message)),
                )
                .await
            }
            Action::SetTimer { timer, deadline } => {
                deliver(&mut self.tx_mempool_to_timer, (timer, deadline)).await
            }
            Action::StoreBatch { digest, batch } => {
                let write = StoreCommand::Write {
                    key: store::batch_key(&digest),
                    value: codec::encode_value(&batch),
                    ack: None,
                };
                deliver(&mut self.tx_mempool_to_store, write).await
            }
            Action::BatchReady(digest) => {
                deliver(&mut self.tx_mempool_to_consensus, MempoolToConsensus::BatchReady(digest)).await
            }
            Action::PayloadReady(block) => {
                deliver(&mut self.tx_mempool_to_consensus, MempoolToConsensus::PayloadReady(block)).await
            }
            Action::ServeFromStore { digests, to } => {
                for digest in digests {
                    let (reply, value) = oneshot::channel();
                    let read = StoreCommand::Read { key: store::batch_key(&digest), reply };
                    if !deliver(&mut self.tx_mempool_to_store, read).await {
                        return false;
                    }
                    let Ok(found) = value.await else { return false };
                    let Some(bytes) = found else { continue };
                    // Our own store returned garbage: the disk is corrupt.
                    let batch: Batch =
                        codec::decode_value(&bytes).unwrap_or_else(|e| panic!("stored batch {digest}: {e}"));
                    let message = WireMessage::Mempool(MempoolMessage::Batch(batch));
                    if !deliver(&mut self.tx_mempool_to_network, (Recipient::One(to), message)).await {
                        return false;
                    }
                }
                true
            }
            Action::Observe(event) => self.observe(event).await,
        }
    }

    async fn observe(&mut self, event: Event) -> bool {
        let observed = Observed { time: self.runtime.now(), node: self.id, event };
        deliver(&mut self.tx_observer, observed).await
    }
}
