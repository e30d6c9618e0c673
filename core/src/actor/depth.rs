//! Channel depths: how many items wait in each channel between a replica's actors.
//!
//! `futures` channels do not expose their length, so the actor shells count for them. Every
//! channel that [`super::wire`] builds between two actors is a [`CountedSender`] /
//! [`CountedReceiver`] pair sharing one cell of a per-replica [`ChannelDepths`] table: the sender
//! adds one *before* handing an item to the channel, the receiver takes one away after taking an
//! item out. Counting before the hand-over means the figure is never below the true depth, even
//! when sender and receiver run on different threads (the native node runs these actors on
//! tokio; the table is atomics behind an `Arc`, so it stays `Send + Sync`). An item that waits
//! for room in a full channel is counted as queued.
//!
//! The wrappers only count: they delegate every poll to the channel, so wake-ups, ordering and
//! backpressure are unchanged, and so are the simulator's runs and trace digests.
//!
//! Channels with the host at one end ([`super::HostEnds`]) keep their plain `futures` types,
//! because hosts (the simulator, `node/`) hold those ends. Only their actor side is counted, so
//! for them the table knows the number of items that went through but not the depth.
//!
//! In the simulator, actors compute in zero virtual time and the simulator runs them until they
//! all wait after every event, so between two steps the queues are usually empty again. What a
//! display can show there is the **peak** (the deepest a queue got since it last looked, see
//! [`ChannelDepths::snapshot`]) and the **total** (items through so far). On a real node the
//! current depth is the live backlog.

use futures::channel::mpsc;
use futures::stream::FusedStream;
use futures::{Sink, Stream};
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// One channel of a replica, by the actors at its ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Client transactions into the mempool (host end: counted on receipt, no depth).
    ClientToMempool,
    /// Frames from peers into the network actor (host end: counted on receipt, no depth).
    HostToNetwork,
    /// Encoded frames out to the host's transport (host end: counted on sending, no depth).
    NetworkToHost,
    /// Decoded consensus messages from peers.
    NetworkToConsensus,
    /// Decoded mempool messages (batches, batch requests) from peers.
    NetworkToMempool,
    /// Proposals, votes, timeouts and sync traffic to send.
    ConsensusToNetwork,
    /// Batches and batch requests to send.
    MempoolToNetwork,
    /// Batch digests ready to propose, payloads now available.
    MempoolToConsensus,
    /// Payload fetches and committed payloads.
    ConsensusToMempool,
    /// Consensus timer requests (round, propose, sync deadlines).
    ConsensusToTimer,
    /// Consensus timers firing.
    TimerToConsensus,
    /// Mempool timer requests (batch sealing, re-requests).
    MempoolToTimer,
    /// Mempool timers firing.
    TimerToMempool,
    /// Store commands from consensus and the mempool (one queue, two senders).
    ToStore,
}

impl Channel {
    /// Every channel, in table order.
    pub const ALL: [Self; 14] = [
        Self::ClientToMempool,
        Self::HostToNetwork,
        Self::NetworkToHost,
        Self::NetworkToConsensus,
        Self::NetworkToMempool,
        Self::ConsensusToNetwork,
        Self::MempoolToNetwork,
        Self::MempoolToConsensus,
        Self::ConsensusToMempool,
        Self::ConsensusToTimer,
        Self::TimerToConsensus,
        Self::MempoolToTimer,
        Self::TimerToMempool,
        Self::ToStore,
    ];

    /// The sending and the receiving end, as actor names (`client` and `peers` are the host).
    pub fn ends(self) -> (&'static str, &'static str) {
        match self {
            Self::ClientToMempool => ("client", "mempool"),
            Self::HostToNetwork => ("peers", "network"),
            Self::NetworkToHost => ("network", "peers"),
            Self::NetworkToConsensus => ("network", "consensus"),
            Self::NetworkToMempool => ("network", "mempool"),
            Self::ConsensusToNetwork => ("consensus", "network"),
            Self::MempoolToNetwork => ("mempool", "network"),
            Self::MempoolToConsensus => ("mempool", "consensus"),
            Self::ConsensusToMempool => ("consensus", "mempool"),
            Self::ConsensusToTimer => ("consensus", "consensus timer"),
            Self::TimerToConsensus => ("consensus timer", "consensus"),
            Self::MempoolToTimer => ("mempool", "mempool timer"),
            Self::TimerToMempool => ("mempool timer", "mempool"),
            Self::ToStore => ("consensus, mempool", "store"),
        }
    }

    /// Where the count is taken: both ends (depth known), or only the actor's end of a host
    /// channel (`Some(true)`: on sending, `Some(false)`: on receipt; the depth is unknown).
    fn host_end(self) -> Option<bool> {
        match self {
            Self::ClientToMempool | Self::HostToNetwork => Some(false),
            Self::NetworkToHost => Some(true),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default)]
struct Cell {
    depth: AtomicU64,
    peak: AtomicU64,
    total: AtomicU64,
}

/// One replica's channel counters (shared by its actors; see the module docs).
#[derive(Debug, Default)]
pub struct ChannelDepths {
    cells: [Cell; Channel::ALL.len()],
}

/// A shared handle on a replica's [`ChannelDepths`].
pub type SharedDepths = Arc<ChannelDepths>;

/// One channel's counters at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDepth {
    /// Which channel.
    pub channel: Channel,
    /// Sending actor.
    pub from: String,
    /// Receiving actor.
    pub to: String,
    /// Items waiting now (`None` for a host channel, whose host end is not counted).
    pub depth: Option<u64>,
    /// The most items waiting at once since the previous snapshot that reset it.
    pub peak: Option<u64>,
    /// Items through the channel so far.
    pub total: u64,
    /// The channel's bound (see the `CAPACITY_*` constants).
    pub capacity: usize,
}

impl ChannelDepths {
    /// A fresh, shared table.
    pub fn shared() -> SharedDepths {
        Arc::new(Self::default())
    }

    /// Every channel's counters. With `reset_peaks`, each peak restarts from the current depth,
    /// so the next snapshot's peak covers only what happened in between (a display calls it
    /// once per frame).
    pub fn snapshot(&self, reset_peaks: bool) -> Vec<ChannelDepth> {
        Channel::ALL
            .iter()
            .map(|&channel| {
                let cell = &self.cells[channel.index()];
                let depth = cell.depth.load(Ordering::Relaxed);
                let peak = if reset_peaks {
                    cell.peak.swap(depth, Ordering::Relaxed)
                } else {
                    cell.peak.load(Ordering::Relaxed)
                }
                .max(depth);
                let counted = channel.host_end().is_none();
                let (from, to) = channel.ends();
                ChannelDepth {
                    channel,
                    from: from.to_string(),
                    to: to.to_string(),
                    depth: counted.then_some(depth),
                    peak: counted.then_some(peak),
                    total: cell.total.load(Ordering::Relaxed),
                    capacity: super::capacity(channel),
                }
            })
            .collect()
    }

    /// The items waiting in one channel now (0 for a host channel).
    pub fn depth(&self, channel: Channel) -> u64 {
        self.cells[channel.index()].depth.load(Ordering::Relaxed)
    }

    fn sending(&self, channel: Channel) {
        let cell = &self.cells[channel.index()];
        match channel.host_end() {
            None => {
                let depth = cell.depth.fetch_add(1, Ordering::Relaxed) + 1;
                cell.peak.fetch_max(depth, Ordering::Relaxed);
                cell.total.fetch_add(1, Ordering::Relaxed);
            }
            Some(true) => {
                cell.total.fetch_add(1, Ordering::Relaxed);
            }
            Some(false) => {}
        }
    }

    /// Undoes [`Self::sending`] for an item the channel refused (its receiver is gone).
    fn refused(&self, channel: Channel) {
        let cell = &self.cells[channel.index()];
        if channel.host_end() != Some(false) {
            cell.total.fetch_sub(1, Ordering::Relaxed);
        }
        if channel.host_end().is_none() {
            cell.depth.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn received(&self, channel: Channel) {
        let cell = &self.cells[channel.index()];
        match channel.host_end() {
            None => {
                cell.depth.fetch_sub(1, Ordering::Relaxed);
            }
            Some(false) => {
                cell.total.fetch_add(1, Ordering::Relaxed);
            }
            Some(true) => {}
        }
    }
}

/// A bounded channel whose ends count into `depths` as `channel`.
pub fn counted_channel<T>(depths: &SharedDepths, channel: Channel) -> (CountedSender<T>, CountedReceiver<T>) {
    let (tx, rx) = mpsc::channel(super::capacity(channel));
    (counted_sender(tx, depths, channel), counted_receiver(rx, depths, channel))
}

pub(super) fn counted_sender<T>(
    inner: mpsc::Sender<T>,
    depths: &SharedDepths,
    channel: Channel,
) -> CountedSender<T> {
    CountedSender { inner, depths: depths.clone(), channel }
}

pub(super) fn counted_receiver<T>(
    inner: mpsc::Receiver<T>,
    depths: &SharedDepths,
    channel: Channel,
) -> CountedReceiver<T> {
    CountedReceiver { inner, depths: depths.clone(), channel }
}

/// The sending end of a counted channel: an `mpsc::Sender` that counts what it hands over.
#[derive(Debug)]
pub struct CountedSender<T> {
    inner: mpsc::Sender<T>,
    depths: SharedDepths,
    channel: Channel,
}

impl<T> Clone for CountedSender<T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), depths: self.depths.clone(), channel: self.channel }
    }
}

impl<T> Sink<T> for CountedSender<T> {
    type Error = mpsc::SendError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        // Count first: the receiver, maybe on another thread, may take it at once.
        self.depths.sending(self.channel);
        let sent = Pin::new(&mut self.inner).start_send(item);
        if sent.is_err() {
            self.depths.refused(self.channel);
        }
        sent
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// The receiving end of a counted channel: an `mpsc::Receiver` that counts what it takes out.
#[derive(Debug)]
pub struct CountedReceiver<T> {
    inner: mpsc::Receiver<T>,
    depths: SharedDepths,
    channel: Channel,
}

impl<T> Stream for CountedReceiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(_)) = &next {
            self.depths.received(self.channel);
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> FusedStream for CountedReceiver<T> {
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}

#[cfg(test)]
mod tests {
    use super::{counted_channel, Channel, ChannelDepths};
    use futures::executor::block_on;
    use futures::{SinkExt as _, StreamExt as _};

    fn find(depths: &ChannelDepths, channel: Channel, reset: bool) -> super::ChannelDepth {
        depths.snapshot(reset).into_iter().find(|d| d.channel == channel).expect("every channel is listed")
    }

    #[test]
    fn depth_goes_up_when_items_are_queued_and_down_when_they_are_consumed() {
        let depths = ChannelDepths::shared();
        let (mut tx, mut rx) = counted_channel::<u32>(&depths, Channel::NetworkToConsensus);
        for i in 0..3 {
            block_on(tx.send(i)).unwrap();
        }
        let three = find(&depths, Channel::NetworkToConsensus, false);
        assert_eq!((three.depth, three.peak, three.total), (Some(3), Some(3), 3));

        assert_eq!(block_on(rx.next()), Some(0));
        assert_eq!(block_on(rx.next()), Some(1));
        let one = find(&depths, Channel::NetworkToConsensus, true);
        assert_eq!((one.depth, one.peak, one.total), (Some(1), Some(3), 3), "the peak remembers 3");
        let after_reset = find(&depths, Channel::NetworkToConsensus, false);
        assert_eq!(after_reset.peak, Some(1), "a reset peak restarts from the current depth");

        assert_eq!(block_on(rx.next()), Some(2));
        assert_eq!(depths.depth(Channel::NetworkToConsensus), 0);
        assert_eq!(depths.depth(Channel::ToStore), 0, "other channels are untouched");
    }

    #[test]
    fn a_refused_item_is_not_counted() {
        let depths = ChannelDepths::shared();
        let (mut tx, rx) = counted_channel::<u32>(&depths, Channel::ToStore);
        drop(rx);
        assert!(block_on(tx.send(7)).is_err());
        let store = find(&depths, Channel::ToStore, false);
        assert_eq!((store.depth, store.total), (Some(0), 0));
    }

    #[test]
    fn host_channels_count_items_through_but_report_no_depth() {
        let depths = ChannelDepths::shared();
        let (mut tx, mut rx) = counted_channel::<u32>(&depths, Channel::HostToNetwork);
        block_on(tx.send(1)).unwrap();
        assert_eq!(find(&depths, Channel::HostToNetwork, false).total, 0, "counted on receipt");
        block_on(rx.next()).unwrap();
        let host = find(&depths, Channel::HostToNetwork, false);
        assert_eq!((host.depth, host.peak, host.total), (None, None, 1));
    }
}

#[cfg(test)]
mod sim_tests {
    use super::Channel;
    use crate::sim::{SimConfig, Simulation};

    /// In a running committee, every channel between actors carries traffic, and each is
    /// drained again once the simulator has let the actors run after an event. (One node is
    /// crashed so that round timers fire too: in a fault-free run they are always re-armed first.)
    #[test]
    fn a_simulated_replica_reports_traffic_through_every_actor_channel() {
        let mut sim = Simulation::new(SimConfig { nodes: 4, seed: 3, ..SimConfig::default() });
        sim.crash(crate::NodeId(1));
        sim.run_for(5_000).unwrap();
        let depths = sim.channel_depths(0, true);
        assert_eq!(depths.len(), Channel::ALL.len());
        for d in &depths {
            assert!(d.total > 0, "{:?} carried nothing: {depths:#?}", d.channel);
            if let Some(depth) = d.depth {
                assert_eq!(depth, 0, "{:?} is drained between steps", d.channel);
                assert!(d.peak.unwrap() >= 1, "{:?} held an item at some point", d.channel);
            }
        }
    }
}
