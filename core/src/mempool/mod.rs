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
//! missing ones after `payload_wait_ms` (first the block's author, then others, every
//! `sync_retry_ms`), answering once
//! they arrive. That is what makes a QC a proof that the payload is available. Committed batches
//! are released from memory (the store keeps them, to serve peers that lag behind).
//!
//! A replica can also commit blocks whose batches it never saw: blocks it caught up on by ranges
//! of the committed chain, or by a checkpoint, without voting for them. [`Input::Committed`]
//! tells the mempool each commit; the batches of it that are not here are **backfilled**: asked
//! of peers, a bounded window at a time ([`BACKFILL_IN_FLIGHT_MAX`]), in height order, and stored,
//! so the application's commit stream (read from the store by height) has their transactions.
//! The record of what is missing is the store itself: a restarted replica's host reads it back
//! with [`crate::store::committed_batches`] and hands it to [`Mempool::recovering`].
//!
//! Everything a peer can make us keep is bounded (see the `*_MAX` constants): batches in memory,
//! blocks waiting for batches, the digests served per request, and how long a block's batches are
//! fetched before the block is given up.
//!
//! The driving contract is the same as consensus's: call [`Mempool::handle`] with the time and one
//! input, execute the returned actions in order.

use crate::budget::ServeBudget;
use crate::committee::Committee;
use crate::error::Error;
use crate::event::{Event, SealReason};
use crate::params::Parameters;
use crate::time::Time;
use crate::types::{Digest, Height, NodeId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[cfg(test)]
mod tests;

/// The largest client transaction accepted; a larger one is dropped. Transactions are opaque to
/// HotStuff, and one huge transaction would make a batch (and every message carrying it) huge.
/// This is independent of `batch_size_bytes`, which is a sealing threshold, not a hard cap: a
/// batch is sealed as soon as it reaches the threshold, so it exceeds it by less than one
/// transaction, and a transaction larger than the threshold (but within this limit) simply
/// travels in a batch of its own. Tying the limit to `batch_size_bytes` instead would silently
/// drop every transaction of a host that configures small batches.
pub const TRANSACTION_SIZE_MAX: usize = 64 * 1024;

/// The most transactions in one batch: reaching it seals the batch as full. Byte size alone does
/// not bound the count, because empty transactions weigh nothing.
pub const BATCH_TRANSACTIONS_MAX: usize = 100_000;

/// The most batches held in memory (all of them uncommitted: committed batches leave memory).
/// A batch a peer broadcasts unasked is dropped when memory is full; that costs nothing for
/// safety or liveness, because our consensus then simply does not propose it (its author's does)
/// and, if a block needs it, we fetch it like any missing batch. Our own batches and batches we
/// asked for are always kept; to make room for them the oldest batch leaves memory (it stays in
/// the store). At the default 500 kB batches this caps memory at about 500 MB; batches normally
/// commit long before that many pile up (a block carries up to `max_block_batches`).
pub const BATCHES_IN_MEMORY_MAX: usize = 1_000;

/// The most digests remembered of batches that left memory (committed or evicted) but are in the
/// store. They let [`Input::FetchPayload`] count those batches as available without fetching
/// them again. Forgetting the oldest is harmless: such a batch would just be fetched again.
/// 32 bytes each, so a few megabytes at most.
pub const STORED_DIGESTS_MAX: usize = 100_000;

/// A *sample* transaction, if this is one: its first byte is 0 and the next eight are its sample
/// number (little endian).
///
/// Transactions are opaque to consensus; this convention (asonnino/hotstuff's) exists only so a
/// benchmark can follow a few transactions from the client to their commit. The mempool reports
/// the samples each batch carries ([`Event::BatchSealed`]), which the benchmark joins with the
/// batch's commit; it has no other effect.
pub fn sample_id(transaction: &[u8]) -> Option<u64> {
    match transaction {
        [0, id @ ..] if id.len() >= 8 => {
            Some(u64::from_le_bytes(id[..8].try_into().expect("eight bytes were just checked")))
        }
        _ => None,
    }
}

/// The most blocks waiting for batches. Consensus only asks for blocks of its current round, so
/// a handful wait at a time; the bound matters only against proposals whose payload never comes
/// (it caps the missing set at this many times `BLOCK_PAYLOAD_MAX` digests). When full, the
/// oldest waiting block is dropped: its round is long over.
pub const AWAITING_BLOCKS_MAX: usize = 64;

/// How many rounds of asking for a block's missing batches before the block is given up (each
/// round asks every other member about once, the author about every other attempt: see
/// `fetch_peer`). If no peer could serve a batch after that many rounds of asking, the batch most
/// likely does not exist (a Byzantine leader proposed a made-up digest), and the block's round
/// has long timed out anyway. Without a limit, such a block would make an idle replica ask
/// peers forever.
pub const FETCH_ROUNDS_MAX: u32 = 3;

/// The most digests one [`MempoolMessage::BatchRequest`] carries, and the most a request is
/// answered for: it bounds the work (and the outgoing traffic) one request can cause. It equals
/// the most batches a block may carry, so one block's batches fit in one request.
pub const BATCH_REQUEST_DIGESTS_MAX: usize = crate::messages::BLOCK_PAYLOAD_MAX;

/// The most committed heights whose missing batches are remembered for backfill. Commits come
/// from consensus (each proven by a QC), not from what a peer sends, so this is reached only by a
/// replica caught up by ranges across more heights than peers keep batches for (the store's
/// `retain_heights`, 10,000 by default): the oldest heights are given up first, and no peer still
/// holds their batches anyway.
pub const BACKFILL_HEIGHTS_MAX: usize = 100_000;

/// The most missing committed batches remembered for backfill, over all heights (a block may
/// carry up to 4,096 batches, so heights alone do not bound it): the oldest heights are given up
/// first. 32 bytes a digest in each of two tables: about 64 MB at most.
pub const BACKFILL_BATCHES_MAX: usize = 1_000_000;

/// The most committed batches asked for at once by the backfill. It bounds what is on its way to
/// us (at most this many batches: 16 MB at the default 500 kB batch size) and what one round trip
/// asks of the peers (spread over them in turn). It is also the backfill's pace: one window per
/// round trip. Measured natively (four replicas on two cores, 50,000 tx/s, a replica back after
/// 40 s with about 80,000 small batches to fetch): at 64 the committee committed at about a tenth
/// of its rate for 20 s while it backfilled, at 16 about a sixth for 12 s, at 32 about a fifth
/// for 16 s; in the simulator (50 ms round trips) 20,000 batches take about 45 s at 32. Serving
/// them competes with consensus for the peers' store and mempool actors (issue 15's separate
/// lane for consensus would remove most of that).
pub const BACKFILL_IN_FLIGHT_MAX: usize = 32;

/// How many rounds of asking every other member for a committed batch before giving it up. A
/// batch of a committed block certainly existed (a quorum voted for the block only once it had
/// the batches), so only pruning makes it unavailable: peers keep `retain_heights` heights, and
/// heights below that are given up at once (see `on_committed`). At n = 4 and the default
/// `sync_retry_ms` this is 18 s of asking.
pub const BACKFILL_ROUNDS_MAX: u32 = 20;

/// A client transaction: opaque bytes.
pub type Transaction = Vec<u8>;

/// A batch of transactions from one replica's clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The replica that sealed it.
    pub author: NodeId,
    /// The transactions, in arrival order.
    #[serde(with = "transaction_bytes")]
    pub transactions: Vec<Transaction>,
}

/// Transactions as byte strings, not as sequences of numbers: serde's default for a `Vec<u8>`
/// visits it one byte at a time, which made encoding and decoding batches a tenth of a loaded
/// replica's CPU. postcard writes both forms identically (a length, then the bytes), so the wire
/// format is unchanged.
mod transaction_bytes {
    use super::Transaction;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        transactions: &[Transaction],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(transactions.iter().map(|t| serde_bytes::Bytes::new(t)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Transaction>, D::Error> {
        let transactions = Vec::<serde_bytes::ByteBuf>::deserialize(deserializer)?;
        Ok(transactions.into_iter().map(serde_bytes::ByteBuf::into_vec).collect())
    }
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
    /// "Send me these batches." Answered to the sender the transport authenticated (a
    /// `requester` named in the message would let anyone make a replica send its batches, up to
    /// half a megabyte each, to a third party).
    BatchRequest {
        /// The batches wanted.
        digests: Vec<Digest>,
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
    /// Re-ask peers for committed batches still missing (the backfill).
    Backfill,
}

impl Timer {
    /// The slot this timer occupies.
    pub fn slot(&self) -> u8 {
        match self {
            Self::Seal(_) => 0,
            Self::FetchRetry => 1,
            Self::Backfill => 2,
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
    /// A block committed: its batches can leave memory, and those not here are backfilled.
    Committed {
        /// The committed block's height.
        height: Height,
        /// Its author (asked first for its batches).
        author: NodeId,
        /// Its batches.
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
    /// Its digest comes along so the host does not hash the batch a second time.
    StoreBatch {
        /// The batch digest (its store key).
        digest: Digest,
        /// The batch.
        batch: Batch,
    },
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
    /// Batches of committed blocks still to be fetched (the backfill).
    #[serde(default)]
    pub batches_backfilling: usize,
}

/// The batch being filled.
#[derive(Debug)]
struct OpenBatch {
    /// Its sequence number, carried by its [`Timer::Seal`].
    seq: u64,
    /// When its first transaction arrived.
    opened_at: Time,
    transactions: Vec<Transaction>,
    bytes: usize,
}

/// A batch held in memory.
#[derive(Debug)]
struct Held {
    /// Insertion order, to find the oldest batch when memory is full.
    age: u64,
    batch: Batch,
}

/// A block whose batches are not all here yet.
#[derive(Debug)]
struct AwaitingBlock {
    /// Its author: certainly holds the batches (if honest), so it is asked first.
    author: NodeId,
    /// The batches still missing (never empty: a block is released when it empties).
    missing: BTreeSet<Digest>,
    /// Requests sent so far; attempt `k` goes to the `k`-th peer of the rotation.
    attempts: u32,
    /// When the next request is due.
    next_attempt_at: Time,
    /// Registration order, to find the oldest waiting block when the table is full.
    registered: u64,
}

/// A committed batch asked of a peer and not yet here.
#[derive(Debug)]
struct Asked {
    /// Its height (the key of its entry in `Backfill::heights`).
    height: Height,
    /// Requests sent so far.
    attempts: u32,
    /// Its place in the rotation of peers: the next request goes to `fetch_peer(…, turn)`.
    /// Batches asked together start at successive turns, so one window is spread over peers.
    turn: u32,
    /// When it is asked again.
    due: Time,
}

/// The batches of committed blocks this replica lacks (see the module docs).
#[derive(Debug, Default)]
struct Backfill {
    /// By committed height: the block's author and its batches still missing (never empty).
    heights: BTreeMap<Height, (NodeId, BTreeSet<Digest>)>,
    /// Each missing committed batch, with its height.
    index: BTreeMap<Digest, Height>,
    /// The batches asked for (at most [`BACKFILL_IN_FLIGHT_MAX`]).
    asked: BTreeMap<Digest, Asked>,
    /// The deadline of the armed `Backfill` timer, if one is armed.
    timer: Option<Time>,
    /// Committed batches given up (bounded, oldest forgotten first): an answer that arrives
    /// later is stored, never offered to consensus, which would propose it again (it may be far
    /// below the window in which consensus recognises committed batches).
    given_up: BTreeSet<Digest>,
    given_up_order: VecDeque<Digest>,
}

/// A replica's mempool state machine. See the module docs for the behaviour and the contract.
#[derive(Debug)]
pub struct Mempool {
    id: NodeId,
    committee: Committee,
    params: Parameters,
    now: Time,
    actions: Vec<Action>,
    /// What each peer may still ask of us (batches served; see [`crate::budget`]).
    serve_budget: ServeBudget,

    /// The batch being filled, if any transaction arrived since the last seal.
    open: Option<OpenBatch>,
    /// Sequence number of the last batch opened.
    batch_seq: u64,

    /// Uncommitted batches held in memory, and the same by age.
    batches: BTreeMap<Digest, Held>,
    by_age: BTreeMap<u64, Digest>,
    age_seq: u64,
    /// Batches that left memory but are in the store (bounded; oldest forgotten first).
    stored: BTreeSet<Digest>,
    stored_order: VecDeque<Digest>,

    /// Blocks waiting for batches, by block digest.
    awaiting: BTreeMap<Digest, AwaitingBlock>,
    awaiting_seq: u64,
    /// The missing set: each missing batch with the blocks waiting for it (never empty).
    missing: BTreeMap<Digest, BTreeSet<Digest>>,
    /// The deadline of the armed `FetchRetry` timer, if one is armed.
    fetch_timer: Option<Time>,
    /// Batches of committed blocks to fetch.
    backfill: Backfill,
}

impl Mempool {
    /// A fresh mempool.
    pub fn new(id: NodeId, committee: Committee, params: Parameters) -> Self {
        assert!(committee.contains(id), "{id} is not in the committee");
        Self {
            id,
            committee,
            params,
            now: Time::ZERO,
            serve_budget: ServeBudget::new(crate::budget::BATCHES_SERVED),
            actions: Vec::new(),
            open: None,
            batch_seq: 0,
            batches: BTreeMap::new(),
            by_age: BTreeMap::new(),
            age_seq: 0,
            stored: BTreeSet::new(),
            stored_order: VecDeque::new(),
            awaiting: BTreeMap::new(),
            awaiting_seq: 0,
            missing: BTreeMap::new(),
            fetch_timer: None,
            backfill: Backfill::default(),
        }
    }

    /// The same mempool, restarted on a store that holds `committed` (read at boot with
    /// [`crate::store::committed_batches`]): the batches of committed blocks the store lacks are
    /// backfilled, asked for from the first input on; those it holds are known to be stored, so
    /// a late copy of one (an answer to a request sent before the crash) is neither offered to
    /// consensus, which would propose it again, nor fetched again for a block.
    pub fn recovering(mut self, committed: crate::store::CommittedBatches) -> Self {
        for digest in committed.stored {
            self.remember_stored(digest);
        }
        for (height, author, batches) in committed.missing {
            self.remember_missing_committed(height, author, batches);
        }
        self
    }

    /// Feeds one input; returns what the host must do, in order.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Action> {
        assert!(now >= self.now, "time went backwards: {now} < {}", self.now);
        self.now = now;
        match input {
            Input::Transaction(transaction) => self.on_transaction(transaction),
            Input::Message { from, message: MempoolMessage::Batch(batch) } => self.on_batch(from, batch),
            Input::Message { from, message: MempoolMessage::BatchRequest { digests } } => {
                self.on_batch_request(digests, from)
            }
            Input::Timer(Timer::Seal(seq)) => self.on_seal_timer(seq),
            Input::Timer(Timer::FetchRetry) => self.on_fetch_retry(),
            Input::Timer(Timer::Backfill) => self.on_backfill_timer(),
            Input::FetchPayload { block, payload, author } => self.on_fetch_payload(block, payload, author),
            Input::Committed { height, author, payload } => self.on_committed(height, author, payload),
        }
        // Batches to backfill and none asked for: only right after `recovering` at a restart.
        if self.backfill.timer.is_none() && !self.backfill.heights.is_empty() {
            self.ask_backfill();
        }
        self.check_invariants();
        std::mem::take(&mut self.actions)
    }

    /// A snapshot for displays and tests.
    pub fn view(&self) -> MempoolView {
        MempoolView {
            open_batch_transactions: self.open.as_ref().map_or(0, |open| open.transactions.len()),
            batches_in_memory: self.batches.len(),
            blocks_awaiting_payload: self.awaiting.len(),
            batches_missing: self.missing.len(),
            batches_backfilling: self.backfill.index.len(),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Output helpers.

    fn observe(&mut self, event: Event) {
        self.actions.push(Action::Observe(event));
    }

    fn send(&mut self, to: NodeId, message: MempoolMessage) {
        debug_assert_ne!(to, self.id, "a mempool never talks to itself");
        self.actions.push(Action::Send { to, message });
    }

    fn set_timer(&mut self, timer: Timer, deadline: Time) {
        self.actions.push(Action::SetTimer { timer, deadline });
    }

    // ---------------------------------------------------------------------------------------
    // Batching our clients' transactions.

    fn on_transaction(&mut self, transaction: Transaction) {
        if transaction.len() > TRANSACTION_SIZE_MAX {
            return;
        }
        // The host may hand us a transaction before the overdue seal timer it has not delivered
        // yet: seal first, so that no batch waits longer than the max batch delay for a timer.
        let overdue = self
            .open
            .as_ref()
            .is_some_and(|open| self.now >= open.opened_at.plus_ms(self.params.max_batch_delay_ms));
        if overdue {
            self.seal(SealReason::Timer);
        }
        if self.open.is_none() {
            self.batch_seq += 1;
            self.open = Some(OpenBatch {
                seq: self.batch_seq,
                opened_at: self.now,
                transactions: Vec::new(),
                bytes: 0,
            });
            self.set_timer(Timer::Seal(self.batch_seq), self.now.plus_ms(self.params.max_batch_delay_ms));
        }
        let open = self.open.as_mut().expect("a batch was opened above");
        open.bytes += transaction.len();
        open.transactions.push(transaction);
        if open.bytes >= self.params.batch_size_bytes || open.transactions.len() >= BATCH_TRANSACTIONS_MAX {
            self.seal(SealReason::Full);
        }
    }

    fn on_seal_timer(&mut self, seq: u64) {
        // A timer for a batch already sealed (because it filled up) is stale.
        if self.open.as_ref().is_some_and(|open| open.seq == seq) {
            self.seal(SealReason::Timer);
        }
    }

    /// Seals the open batch: store it, send it to every peer, offer it to our consensus.
    fn seal(&mut self, reason: SealReason) {
        let Some(open) = self.open.take() else { return };
        let transactions = u32::try_from(open.transactions.len()).unwrap_or(u32::MAX);
        let bytes = u32::try_from(open.bytes).unwrap_or(u32::MAX);
        let samples = open.transactions.iter().filter_map(|t| sample_id(t)).collect();
        let batch = Batch { author: self.id, transactions: open.transactions };
        let digest = batch.digest();
        self.actions.push(Action::StoreBatch { digest, batch: batch.clone() });
        self.actions.push(Action::Broadcast { message: MempoolMessage::Batch(batch.clone()) });
        self.actions.push(Action::BatchReady(digest));
        self.observe(Event::BatchSealed { digest, transactions, bytes, samples, reason });
        self.hold(digest, batch);
        // Only a replay of identical transactions can make a missing batch ours, but if it does,
        // the blocks waiting for it can go, and a backfill for it is done.
        self.release(digest);
        self.backfilled(digest);
    }

    // ---------------------------------------------------------------------------------------
    // Memory.

    /// Whether the batch is available here: in memory, or known to be in the store.
    fn holds(&self, digest: &Digest) -> bool {
        self.batches.contains_key(digest) || self.stored.contains(digest)
    }

    /// Keeps a batch in memory, making room by moving the oldest batch out to the store.
    fn hold(&mut self, digest: Digest, batch: Batch) {
        if self.batches.contains_key(&digest) {
            return;
        }
        while self.batches.len() >= BATCHES_IN_MEMORY_MAX {
            let Some((_, oldest)) = self.by_age.pop_first() else { break };
            self.batches.remove(&oldest);
            self.remember_stored(oldest);
        }
        self.age_seq += 1;
        self.by_age.insert(self.age_seq, digest);
        self.batches.insert(digest, Held { age: self.age_seq, batch });
    }

    /// Moves a batch out of memory; it stays in the store.
    fn release_memory(&mut self, digest: &Digest) {
        if let Some(held) = self.batches.remove(digest) {
            self.by_age.remove(&held.age);
            self.remember_stored(*digest);
        }
    }

    fn remember_stored(&mut self, digest: Digest) {
        if !self.stored.insert(digest) {
            return;
        }
        self.stored_order.push_back(digest);
        if self.stored_order.len() > STORED_DIGESTS_MAX {
            if let Some(forgotten) = self.stored_order.pop_front() {
                self.stored.remove(&forgotten);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Peers' batches.

    fn on_batch(&mut self, from: NodeId, batch: Batch) {
        let digest = batch.digest();
        if self.holds(&digest) {
            return;
        }
        let backfilled = self.backfill.index.contains_key(&digest) || self.backfill.given_up.remove(&digest);
        let requested = backfilled || self.missing.contains_key(&digest);
        if !requested {
            if !self.committee.contains(batch.author) {
                self.observe(Event::rejected(from, "batch", &Error::UnknownSigner(batch.author)));
                return;
            }
            if self.batches.len() >= BATCHES_IN_MEMORY_MAX {
                // Memory is full of uncommitted batches: drop this unasked one (see the constant).
                return;
            }
        }
        let author = batch.author;
        if backfilled {
            // Committed already: stored for the commit stream, not held for a vote or a proposal.
            self.actions.push(Action::StoreBatch { digest, batch });
            self.remember_stored(digest);
            self.observe(Event::BatchReceived { digest, author });
            self.backfilled(digest);
            self.release(digest);
            return;
        }
        self.actions.push(Action::StoreBatch { digest, batch: batch.clone() });
        self.hold(digest, batch);
        self.observe(Event::BatchReceived { digest, author });
        if requested {
            // It was fetched for a block we are about to vote on: that block is already
            // proposed, so offering the batch to our consensus would only propose it twice.
            self.release(digest);
        } else {
            self.actions.push(Action::BatchReady(digest));
        }
    }

    /// A missing batch arrived: release every block that now has all its batches.
    fn release(&mut self, digest: Digest) {
        let Some(blocks) = self.missing.remove(&digest) else { return };
        for block in blocks {
            let Some(waiting) = self.awaiting.get_mut(&block) else { continue };
            waiting.missing.remove(&digest);
            if waiting.missing.is_empty() {
                self.awaiting.remove(&block);
                self.actions.push(Action::PayloadReady(block));
            }
        }
    }

    fn on_batch_request(&mut self, digests: Vec<Digest>, requester: NodeId) {
        if requester == self.id || !self.committee.contains(requester) {
            return;
        }
        let cost = digests.len().min(BATCH_REQUEST_DIGESTS_MAX) as u64;
        if let Err(error) = self.serve_budget.spend(requester, self.now, cost) {
            self.observe(Event::rejected(requester, "batch-request", &error));
            return;
        }
        let mut seen = BTreeSet::new();
        let mut from_store = Vec::new();
        for digest in digests.into_iter().take(BATCH_REQUEST_DIGESTS_MAX) {
            if !seen.insert(digest) {
                continue;
            }
            match self.batches.get(&digest) {
                Some(held) => {
                    let batch = held.batch.clone();
                    self.send(requester, MempoolMessage::Batch(batch));
                }
                None => from_store.push(digest),
            }
        }
        if !from_store.is_empty() {
            self.actions.push(Action::ServeFromStore { digests: from_store, to: requester });
        }
    }

    // ---------------------------------------------------------------------------------------
    // Fetching the batches of a block before consensus votes for it.

    fn on_fetch_payload(&mut self, block: Digest, payload: Vec<Digest>, author: NodeId) {
        if self.awaiting.contains_key(&block) {
            return;
        }
        let missing: BTreeSet<Digest> = payload.into_iter().filter(|digest| !self.holds(digest)).collect();
        if missing.is_empty() {
            self.actions.push(Action::PayloadReady(block));
            return;
        }
        if self.awaiting.len() >= AWAITING_BLOCKS_MAX {
            let oldest = self.awaiting.iter().min_by_key(|(_, waiting)| waiting.registered).map(|(d, _)| *d);
            if let Some(oldest) = oldest {
                self.abandon(oldest);
            }
        }
        for digest in &missing {
            self.missing.entry(*digest).or_default().insert(block);
        }
        // Not asked at once: the author broadcast its batches before proposing, so they are
        // most likely in flight. Ask only if they are still missing after `payload_wait_ms`.
        let due = self.now.plus_ms(self.params.payload_wait_ms);
        self.awaiting_seq += 1;
        let registered = self.awaiting_seq;
        self.awaiting
            .insert(block, AwaitingBlock { author, missing, attempts: 0, next_attempt_at: due, registered });
        // A timer armed for a retry (`sync_retry_ms` away) may be later than `due`: bring it
        // forward. Its firing re-arms for whatever is due next.
        if self.fetch_timer.is_none_or(|armed| armed > due) {
            self.arm_fetch_timer(due);
        }
    }

    fn arm_fetch_timer(&mut self, deadline: Time) {
        self.fetch_timer = Some(deadline);
        self.set_timer(Timer::FetchRetry, deadline);
    }

    fn on_fetch_retry(&mut self) {
        self.fetch_timer = None;
        let peers = self.committee.size().saturating_sub(1);
        let attempts_max = FETCH_ROUNDS_MAX.saturating_mul(u32::try_from(peers).unwrap_or(u32::MAX));
        let retry = self.now.plus_ms(self.params.sync_retry_ms);
        // Group by peer so each peer gets one request, and ask for each batch once.
        let mut asks: BTreeMap<NodeId, BTreeSet<Digest>> = BTreeMap::new();
        let mut asked: BTreeSet<Digest> = BTreeSet::new();
        let mut given_up = Vec::new();
        for (block, waiting) in &mut self.awaiting {
            if waiting.next_attempt_at > self.now {
                continue;
            }
            if waiting.attempts >= attempts_max {
                given_up.push(*block);
                continue;
            }
            let peer = fetch_peer(&self.committee, self.id, waiting.author, waiting.attempts);
            waiting.attempts += 1;
            waiting.next_attempt_at = retry;
            for digest in &waiting.missing {
                if asked.insert(*digest) {
                    asks.entry(peer).or_default().insert(*digest);
                }
            }
        }
        for block in given_up {
            self.abandon(block);
        }
        for (peer, digests) in asks {
            let digests: Vec<Digest> = digests.into_iter().collect();
            for chunk in digests.chunks(BATCH_REQUEST_DIGESTS_MAX) {
                self.send(peer, MempoolMessage::BatchRequest { digests: chunk.to_vec() });
                self.observe(Event::BatchesRequested { digests: chunk.to_vec(), to: peer });
            }
        }
        if let Some(next) = self.awaiting.values().map(|waiting| waiting.next_attempt_at).min() {
            self.arm_fetch_timer(next);
        }
    }

    /// Stops waiting for a block (no `PayloadReady` will come for it).
    fn abandon(&mut self, block: Digest) {
        let Some(waiting) = self.awaiting.remove(&block) else { return };
        for digest in waiting.missing {
            if let Some(blocks) = self.missing.get_mut(&digest) {
                blocks.remove(&block);
                if blocks.is_empty() {
                    self.missing.remove(&digest);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Commits.

    fn on_committed(&mut self, height: Height, author: NodeId, payload: Vec<Digest>) {
        let mut lacking = Vec::new();
        for digest in payload {
            if !self.holds(&digest) {
                lacking.push(digest);
            }
            self.release_memory(&digest);
            // A block waiting on a committed batch no longer needs our vote: either it is the
            // committed block itself, or it re-proposes a committed batch, which no honest leader
            // does. Stop fetching for it.
            if let Some(blocks) = self.missing.get(&digest).cloned() {
                for block in blocks {
                    self.abandon(block);
                }
            }
        }
        // Peers keep `retain_heights` heights: what is below that, no one can serve any more.
        let floor = height.saturating_sub(self.params.retain_heights);
        while let Some((&oldest, _)) = self.backfill.heights.first_key_value().filter(|(h, _)| **h <= floor) {
            self.give_up_backfill(oldest);
        }
        if !lacking.is_empty() {
            self.remember_missing_committed(height, author, lacking);
            self.ask_backfill();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Backfill: the batches of blocks committed without them (see the module docs).

    fn remember_missing_committed(&mut self, height: Height, author: NodeId, batches: Vec<Digest>) {
        let fresh: BTreeSet<Digest> =
            batches.into_iter().filter(|digest| !self.backfill.index.contains_key(digest)).collect();
        if fresh.is_empty() || self.backfill.heights.contains_key(&height) {
            return;
        }
        while self.backfill.heights.len() >= BACKFILL_HEIGHTS_MAX
            || self.backfill.index.len() + fresh.len() > BACKFILL_BATCHES_MAX
        {
            let Some((&oldest, _)) = self.backfill.heights.first_key_value() else { break };
            self.give_up_backfill(oldest);
        }
        let fresh: BTreeSet<Digest> = fresh.into_iter().take(BACKFILL_BATCHES_MAX).collect();
        for digest in &fresh {
            self.backfill.index.insert(*digest, height);
        }
        self.backfill.heights.insert(height, (author, fresh));
    }

    /// Asks again for the committed batches whose request is overdue, then for new ones up to
    /// the window, lowest heights first; gives up the heights asked of every peer
    /// [`BACKFILL_ROUNDS_MAX`] times.
    fn ask_backfill(&mut self) {
        let peers = self.committee.size().saturating_sub(1);
        if peers == 0 {
            return;
        }
        let attempts_max = BACKFILL_ROUNDS_MAX.saturating_mul(u32::try_from(peers).unwrap_or(u32::MAX));
        let due = self.now.plus_ms(self.params.sync_retry_ms);
        let mut asks: BTreeMap<NodeId, Vec<Digest>> = BTreeMap::new();
        let mut given_up = BTreeSet::new();
        for (digest, asked) in &mut self.backfill.asked {
            if asked.due > self.now {
                continue;
            }
            if asked.attempts >= attempts_max {
                given_up.insert(asked.height);
                continue;
            }
            let author = self.backfill.heights.get(&asked.height).map_or(self.id, |(author, _)| *author);
            asks.entry(fetch_peer(&self.committee, self.id, author, asked.turn)).or_default().push(*digest);
            asked.attempts += 1;
            asked.turn = asked.turn.wrapping_add(1);
            asked.due = due;
        }
        for height in given_up {
            self.give_up_backfill(height);
        }
        // New ones, in height order. The lowest heights are asked first, so the window holds
        // (nearly) the lowest missing batches and this walk stops after a few entries.
        let room = BACKFILL_IN_FLIGHT_MAX.saturating_sub(self.backfill.asked.len());
        let mut fresh = Vec::new();
        'heights: for (height, (author, digests)) in &self.backfill.heights {
            for digest in digests {
                if fresh.len() >= room {
                    break 'heights;
                }
                if !self.backfill.asked.contains_key(digest) {
                    fresh.push((*digest, *height, *author));
                }
            }
        }
        for (i, (digest, height, author)) in fresh.into_iter().enumerate() {
            // Spread over the peers: the author for every other batch, the others in turn.
            let turn = u32::try_from(i).unwrap_or(u32::MAX);
            asks.entry(fetch_peer(&self.committee, self.id, author, turn)).or_default().push(digest);
            self.backfill
                .asked
                .insert(digest, Asked { height, attempts: 1, turn: turn.wrapping_add(1), due });
        }
        for (peer, digests) in asks {
            for chunk in digests.chunks(BATCH_REQUEST_DIGESTS_MAX) {
                self.send(peer, MempoolMessage::BatchRequest { digests: chunk.to_vec() });
                self.observe(Event::CommittedBatchesRequested { digests: chunk.to_vec(), to: peer });
            }
        }
        let next = self.backfill.asked.values().map(|asked| asked.due).min();
        if let Some(next) = next {
            // An earlier armed deadline just fires for nothing and re-arms for this one.
            if self.backfill.timer.is_none_or(|armed| armed > next) {
                self.backfill.timer = Some(next);
                self.set_timer(Timer::Backfill, next);
            }
        }
    }

    fn on_backfill_timer(&mut self) {
        self.backfill.timer = None;
        self.ask_backfill();
    }

    /// A committed batch arrived: its height may be complete, and the window has room.
    fn backfilled(&mut self, digest: Digest) {
        let Some(height) = self.backfill.index.remove(&digest) else { return };
        self.backfill.asked.remove(&digest);
        if let Some((_, digests)) = self.backfill.heights.get_mut(&height) {
            digests.remove(&digest);
            if digests.is_empty() {
                self.backfill.heights.remove(&height);
            }
        }
        self.ask_backfill();
    }

    /// Stops fetching the batches of a committed height: no peer served them.
    fn give_up_backfill(&mut self, height: Height) {
        let Some((_, digests)) = self.backfill.heights.remove(&height) else { return };
        for digest in &digests {
            self.backfill.index.remove(digest);
            self.backfill.asked.remove(digest);
            if self.backfill.given_up.insert(*digest) {
                self.backfill.given_up_order.push_back(*digest);
            }
        }
        while self.backfill.given_up_order.len() > STORED_DIGESTS_MAX {
            if let Some(forgotten) = self.backfill.given_up_order.pop_front() {
                self.backfill.given_up.remove(&forgotten);
            }
        }
        self.observe(Event::CommittedBatchesGivenUp { height, batches: digests.len() as u32 });
    }

    // ---------------------------------------------------------------------------------------

    /// Internal invariants, checked after every input. A failure is a bug in this file.
    fn check_invariants(&self) {
        assert!(self.open.as_ref().is_none_or(|open| !open.transactions.is_empty()), "no empty open batch");
        assert!(self.batches.len() <= BATCHES_IN_MEMORY_MAX, "memory is bounded");
        assert!(self.awaiting.len() <= AWAITING_BLOCKS_MAX, "waiting blocks are bounded");
        assert!(self.awaiting.is_empty() || self.fetch_timer.is_some(), "a waiting block has a retry armed");
        debug_assert_eq!(self.batches.len(), self.by_age.len());
        debug_assert_eq!(self.stored.len(), self.stored_order.len());
        debug_assert!(self.stored.len() <= STORED_DIGESTS_MAX);
        debug_assert_eq!(
            self.awaiting.values().map(|waiting| waiting.missing.len()).sum::<usize>(),
            self.missing.values().map(BTreeSet::len).sum::<usize>(),
            "the missing set indexes exactly the waiting blocks' missing batches"
        );
        debug_assert!(self.missing.values().all(|blocks| !blocks.is_empty()));
        debug_assert!(self.missing.keys().all(|digest| !self.holds(digest)), "a held batch is not missing");
        let backfill = &self.backfill;
        assert!(backfill.heights.len() <= BACKFILL_HEIGHTS_MAX, "the backfill is bounded");
        assert!(backfill.index.len() <= BACKFILL_BATCHES_MAX, "the backfill is bounded in batches");
        debug_assert!(backfill.given_up.len() <= STORED_DIGESTS_MAX);
        assert!(backfill.asked.len() <= BACKFILL_IN_FLIGHT_MAX, "the backfill's window is bounded");
        assert!(backfill.asked.is_empty() || backfill.timer.is_some(), "an asked batch has a retry armed");
        debug_assert_eq!(
            backfill.index.len(),
            backfill.heights.values().map(|(_, digests)| digests.len()).sum::<usize>(),
            "the backfill index names exactly the missing committed batches"
        );
        debug_assert!(backfill.asked.iter().all(|(d, a)| backfill.index.get(d) == Some(&a.height)));
    }
}

/// The peer asked on attempt `attempt` for a block by `author`: the author on even attempts, the
/// other members in committee order on odd ones, round and round, never ourselves.
fn fetch_peer(committee: &Committee, us: NodeId, author: NodeId, attempt: u32) -> NodeId {
    let n = committee.size();
    debug_assert!(n >= 2, "a lone replica has no one to ask");
    let next = |id: NodeId| NodeId(((id.index() + 1) % n) as u16);
    let skip_us = |id: NodeId| if id == us { next(id) } else { id };
    let start = if committee.contains(author) { author } else { NodeId(0) };
    // Every other attempt goes to the author, who proposed the block and so holds its batches
    // (unless Byzantine); the others cycle through the rest of the committee, some of whom may
    // be down or lack the batch too. (Cycling through everyone in turn let a replica spend a
    // second on crashed peers while its round timed out.)
    if attempt % 2 == 0 && start != us {
        return start;
    }
    let mut peer = skip_us(next(start));
    for _ in 0..((attempt / 2) as usize % (n - 1)) {
        peer = skip_us(next(peer));
    }
    if peer == start && n > 2 {
        peer = skip_us(next(peer));
    }
    peer
}
