//! The mempool state machine, sans-IO.
//!
//! Clients send transactions to a replica's mempool. The mempool packs them into **batches**,
//! sealed when they reach `batch_size_bytes` or `max_batch_delay_ms` after their first
//! transaction, broadcasts each batch to the other mempools and hands its **digest** to
//! consensus, which proposes digests only (the payload travels once, outside the critical path;
//! this is the design asonnino/hotstuff uses and Narwhal grew from).
//!
//! Every replica's mempool stores the batches it receives and also announces them to its own
//! consensus, so any leader can propose any batch. Before voting for a block, consensus asks the
//! mempool for the block's batches ([`Input::FetchPayload`]); the mempool answers
//! [`Action::PayloadReady`] at once if it holds them all, and otherwise asks peers for the
//! missing ones (first the block's author, then others, every `sync_retry_ms`), answering once
//! they arrive. That is what makes a QC a proof that the payload is available. Committed batches
//! are released from memory (the store keeps them, to serve peers that lag behind).
//!
//! The driving contract is the same as consensus's: call [`Mempool::handle`] with the time and one
//! input, execute the returned actions in order.

use crate::committee::Committee;
use crate::event::Event;
use crate::params::Parameters;
use crate::time::Time;
use crate::types::{Digest, NodeId};
use serde::{Deserialize, Serialize};

/// A client transaction: opaque bytes.
pub type Transaction = Vec<u8>;

/// A batch of transactions from one replica's clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The replica that sealed it.
    pub author: NodeId,
    /// The transactions, in arrival order.
    pub transactions: Vec<Transaction>,
}

impl Batch {
    /// The batch's name: a hash of its author and transactions.
    pub fn digest(&self) -> Digest {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.transactions.len() + 2);
        let author = self.author.0.to_le_bytes();
        parts.push(b"batch");
        parts.push(&author);
        parts.extend(self.transactions.iter().map(Vec::as_slice));
        Digest::of_parts(&parts)
    }

    /// Total transaction bytes.
    pub fn size_bytes(&self) -> usize {
        self.transactions.iter().map(Vec::len).sum()
    }
}

/// What mempools say to each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MempoolMessage {
    /// A sealed batch (broadcast by its author, or sent in answer to a request).
    Batch(Batch),
    /// "Send me these batches."
    BatchRequest {
        /// The batches wanted.
        digests: Vec<Digest>,
        /// Who asks.
        requester: NodeId,
    },
}

impl MempoolMessage {
    /// A short name of the message kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Batch(_) => "batch",
            Self::BatchRequest { .. } => "batch-request",
        }
    }
}

/// Mempool timers; each variant is one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// Seal the current batch (max batch delay reached). Carries the batch's sequence number so
    /// that a firing for an already-sealed batch is ignored.
    Seal(u64),
    /// Re-ask peers for batches still missing.
    FetchRetry,
}

impl Timer {
    /// The slot this timer occupies.
    pub fn slot(&self) -> u8 {
        match self {
            Self::Seal(_) => 0,
            Self::FetchRetry => 1,
        }
    }
}

/// An input to the mempool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A client transaction.
    Transaction(Transaction),
    /// A message from a peer mempool.
    Message {
        /// Sender.
        from: NodeId,
        /// Message.
        message: MempoolMessage,
    },
    /// A timer fired.
    Timer(Timer),
    /// Consensus needs a block's batches before voting (from `consensus::Action::FetchPayload`).
    FetchPayload {
        /// The block.
        block: Digest,
        /// Its batches.
        payload: Vec<Digest>,
        /// Its author.
        author: NodeId,
    },
    /// A block committed: its batches can leave memory.
    Committed {
        /// The committed block's batches.
        payload: Vec<Digest>,
    },
}

/// What the host must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send to one peer mempool.
    Send {
        /// Recipient.
        to: NodeId,
        /// Message.
        message: MempoolMessage,
    },
    /// Send to every other mempool.
    Broadcast {
        /// Message.
        message: MempoolMessage,
    },
    /// Arm (or re-arm) a timer.
    SetTimer {
        /// Which.
        timer: Timer,
        /// When.
        deadline: Time,
    },
    /// Store a batch (so it survives in memory GC and restarts, and can be served to peers).
    StoreBatch(Batch),
    /// Tell consensus a batch can be proposed (`consensus::Input::BatchReady`).
    BatchReady(Digest),
    /// Tell consensus a block's payload is all here (`consensus::Input::PayloadReady`).
    PayloadReady(Digest),
    /// Peers asked for batches no longer in memory: read them from the store and send those
    /// found as `MempoolMessage::Batch` to `to`.
    ServeFromStore {
        /// The batches.
        digests: Vec<Digest>,
        /// The peer.
        to: NodeId,
    },
    /// Something worth telling observers.
    Observe(Event),
}

/// A snapshot for displays and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MempoolView {
    /// Transactions in the batch being filled.
    pub open_batch_transactions: usize,
    /// Batches held in memory.
    pub batches_in_memory: usize,
    /// Blocks waiting for batches.
    pub blocks_awaiting_payload: usize,
    /// Batches being fetched from peers.
    pub batches_missing: usize,
}

/// A replica's mempool state machine.
#[derive(Debug)]
pub struct Mempool {
    id: NodeId,
    committee: Committee,
    params: Parameters,
}

impl Mempool {
    /// A fresh mempool.
    pub fn new(id: NodeId, committee: Committee, params: Parameters) -> Self {
        Self { id, committee, params }
    }

    /// Feeds one input; returns what the host must do, in order.
    pub fn handle(&mut self, _now: Time, _input: Input) -> Vec<Action> {
        let _ = (&self.id, &self.committee, &self.params);
        Vec::new()
    }

    /// A snapshot for displays and tests.
    pub fn view(&self) -> MempoolView {
        MempoolView::default()
    }
}
