//! The consensus state machine: 2-chain HotStuff (DiemBFT v4 / Jolteon), sans-IO.
//!
//! # The protocol in one screen
//!
//! Each round has one leader: round-robin by default, or drawn from the committed history so
//! that crashed replicas are rarely chosen ([`reputation`]). In round `r`:
//!
//! 1. The leader of `r` proposes a block that extends the highest certified block it knows: the
//!    block carries that **QC**, and a **TC** for `r - 1` if round `r - 1` timed out.
//! 2. Each replica checks the block, waits until its mempool holds the block's payload, applies
//!    the **voting rule** ([`safety`]) and sends its vote to the leader of `r + 1`.
//! 3. The leader of `r + 1` gathers `n - f` votes into a QC for the block, enters `r + 1` and
//!    proposes the next block carrying that QC. Everyone else learns the QC from that proposal.
//! 4. **Commit rule**: when a QC certifies a block `b1` whose parent `b0` is from the round just
//!    before, `b0` and all its ancestors are committed.
//! 5. **Pacemaker**: if round `r` makes no progress before its timer expires, a replica stops
//!    voting in `r` and broadcasts a timeout carrying its high QC. `n - f` timeouts form a TC that
//!    moves everyone to `r + 1`. `f + 1` timeouts for a round prove an honest replica gave up on it,
//!    so a replica that sees them joins the timeout (this keeps replicas' rounds together after a
//!    partition). The round timeout is the base while commits come and grows by a fifth for each
//!    round since the last commit beyond the first three, up to 1.2⁶ ≈ 3 times the base (DiemBFT
//!    v4 / Aptos): a lost message or a crashed leader costs a round at the base timeout, and a
//!    committee that cannot commit (a partition) waits up to three times as long. Links lose
//!    messages: a replica whose round has not moved `resend_ms` after it proposed, voted or
//!    timed out in it sends the same message again ([`Timer::Resend`]).
//!
//! Two more checks keep the ledger clean, whatever a Byzantine leader does. **A batch commits
//! once**: a replica does not vote for a block that carries a batch its chain already carries (an
//! uncommitted ancestor, or a block committed in the last [`COMMITTED_BATCHES_WINDOW`] heights,
//! which a restarted replica reads back from its store). The payload of such a block is
//! available everywhere, so waiting for it would not stop the vote. And **one block per leader
//! and round** is processed: a second is refused as equivocation (its certificates still count),
//! so one leader cannot fill memory with the blocks of one round.
//!
//! Missing ancestors are fetched from peers: one block at a time when a few are missing
//! (`SyncRequest`, walking back from the block that needs them), and in ranges of the committed
//! chain when the replica is far behind (`ChainRequest`, walking forward from its own last commit:
//! see [`CHAIN_SYNC_GAP`]). Peers keep `retain_heights` of committed history in their stores
//! ([`Action::Prune`]); a replica further behind than that is served their oldest range, above
//! its next height, and installs a **checkpoint**: if the range is one chain and the commit rule
//! commits one of its blocks from inside it (for 2-chain, a certified block whose certified
//! child is in the next round), the range's first block is committed too, whoever served it
//! (the certificates are signed by quorums), and becomes the replica's last commit. It never
//! holds the heights between, nor the batches they committed (a leader replaying one of those
//! gets its vote; the others within the window refuse it), and it drops its pending batches
//! (some may have committed in the gap). Only the round's leader gets a vote, whichever way its
//! block arrived: the newest block of a range is certified by nothing.
//!
//! A leader with no payload waits up to `max_block_delay_ms` before proposing an empty block,
//! unless an uncommitted block with payload needs one more QC to commit, so an idle committee
//! does not spin.
//!
//! # Driving contract
//!
//! Call [`Consensus::handle`] with the current time and one [`Input`]; it returns [`Action`]s.
//! The host **executes the actions in order**. In particular, a [`Action::Persist`] must be durable
//! before any later action is performed. Where the state machine places them:
//!
//! - **Before every send but the proposal**, when the safety state changed: a vote or timeout
//!   never leaves before the state that forbids contradicting it is durable, so a replica that
//!   crashes and restarts from its store can never vote twice in a round. A vote for ourselves
//!   (we lead the next round) is persisted before we count it, because the QC we propose carries
//!   it.
//! - **Not before a proposal.** A proposal carries no vote of ours that is not durable yet, and
//!   nothing in it rests on our own state being on disk: a leader that crashes between sending
//!   it and the next `Persist` may, after restarting, propose again in that round, and the voting
//!   rule makes that harmless (each replica votes once per round, so at most one of the two blocks
//!   can gather a QC; asonnino/hotstuff and Aptos's safety rules do not persist before proposing
//!   either). Syncing first would put a disk flush between a QC and the next proposal: on the
//!   critical path of every round.
//! - **Commits are delivered at least once, by height.** A block decided committed is handed
//!   out as [`Action::Commit`] at once, before the `Persist` that records it (which comes with the
//!   vote's `Persist` when a vote is imminent, otherwise at the end of the step: a voter syncs once
//!   per round, not once for the commit and once more for its vote). A replica that crashes in
//!   between restarts from the older commit, decides those blocks again and hands them out again:
//!   the application keys commits by height and skips the heights it has. (Handing them out
//!   only after the `Persist` loses them instead: a crash between the two left the application
//!   with a gap, found by the sweep's crashes during steps.) The decision itself is final either
//!   way: the commit rule, not our disk, makes a block committed.
//!
//! At the end of every step a changed state is persisted unless a vote is imminent (its
//! `Persist` comes with the vote).
//! Time must not go backwards between calls. Timers are identified by [`Timer`]: setting a timer
//! of a kind replaces the previous one of that kind; a stale firing is ignored by the state machine.

mod aggregator;
pub mod reputation;
pub(crate) mod safety;

use crate::budget::ServeBudget;
use crate::committee::Committee;
use crate::crypto::KeyPair;
use crate::error::Error;
use crate::event::{Awaited, BlockInfo, Event, LeaderChoice, NoVoteReason, Resent, RoundReason};
use crate::messages::{
    Block, ConsensusMessage, QuorumCert, Timeout, TimeoutCert, Vote, CHAIN_BLOCKS_MAX,
    CHAIN_RESPONSE_BYTES_MAX,
};
use crate::params::Parameters;
use crate::time::Time;
use crate::types::{Digest, Height, NodeId, Round};
use aggregator::Aggregator;
use reputation::Reputation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How far ahead of our round a vote or timeout may be and still be kept. Anything further is
/// refused: it bounds the memory a Byzantine peer can make us spend on future rounds. A replica
/// that is really this far behind catches up through the QCs in proposals and timeouts instead.
pub const FUTURE_ROUNDS_MAX: Round = 1_000;

/// The most blocks kept while their ancestors are being fetched. When the buffer is full, the
/// orphan of the lowest round leaves to make room: the newest blocks are the ones worth linking.
/// One author's blocks take at most `1/(n − f)` of it (see `Consensus::orphans_per_author_max`).
pub const ORPHAN_BLOCKS_MAX: usize = 1_000;

/// A block this many heights above our last commit whose parent we lack means we are far behind:
/// walking back one block per round trip would take as many round trips as we are behind, and
/// park every block on the way. Instead the replica asks a peer for the committed chain above its
/// own last commit, [`CHAIN_BLOCKS_MAX`] blocks per round trip, links each range as it comes
/// (committing as it goes, so memory stays bounded by garbage collection) and asks for the next,
/// until it is within this gap of the block that told it how far behind it was. The last few
/// blocks, above the peers' own commits, come by the walk back. Healthy replicas see a gap of
/// about 3 (a 2-chain commit trails the newest proposal by two blocks).
pub const CHAIN_SYNC_GAP: Height = 8;

/// How far above the highest height a replica has seen (less `retain_heights`) the first block
/// of a checkpoint range may be: the commits a peer made since that height reached us. See
/// `Consensus::install_checkpoint`.
pub const CHECKPOINT_SLACK: Height = 2 * CHAIN_BLOCKS_MAX as Height;

/// How many heights of committed batches a replica remembers, to refuse a block that carries
/// one of them again (a batch commits once: see [`NoVoteReason::RepeatsBatch`]). A restarted
/// replica reads them back from the store. A batch committed further below than this is not
/// recognised: a Byzantine leader replaying one that old gets honest votes (batches do not
/// expire yet; see the README's open problems). Memory: at most `BLOCK_PAYLOAD_MAX` digests a
/// height, so up to about 800,000 digests (some 70 MB) if every block is full, and a few MB at
/// the default `max_block_batches` of 256. The store keeps the same window, durably, in a ring
/// of this many slots ([`crate::store::committed_batches_key`]).
pub const COMMITTED_BATCHES_WINDOW: Height = 200;

/// Each missing block is asked of this many peers in turn (cycling through the committee) before
/// the replica gives up on it and drops the blocks waiting for it; a later proposal that needs
/// it will ask again.
const SYNC_ATTEMPTS_MAX: u16 = 10;

/// How many rounds past its last commit a replica still runs at the base round timeout (one
/// more under 3-chain). A healthy 2-chain replica in round `r` has committed the block of round
/// `r − 2`; one failed round (a lost message, a crashed leader) makes that `r − 3`.
const BACKOFF_GRACE_ROUNDS: Round = 3;

/// The most times the round timeout grows by a fifth: 1.2⁶ ≈ 3 times the base, as Aptos's
/// `round_timeout_backoff_max_exponent` (`round_timeout_ms_max` may cap it lower). Rounds can
/// advance by QCs without commits (a Byzantine leader certifying blocks that never get a
/// certified child in the next round), so an unbounded growth would let f Byzantine replicas
/// stretch every honest round to the cap.
const BACKOFF_STEPS_MAX: Round = 6;

/// An input to the consensus state machine.
// An input is built once and moved straight into `handle`: boxing the message variant would
// allocate per message to save stack space that is never held for long.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The host started the replica: arm the first round.
    Start,
    /// A message from a peer (`from` is the transport's idea of the sender).
    Message {
        /// Sender.
        from: NodeId,
        /// The message.
        message: ConsensusMessage,
    },
    /// A timer set by an earlier [`Action::SetTimer`] fired.
    Timer(Timer),
    /// The mempool holds a new batch that can be proposed.
    BatchReady(Digest),
    /// The mempool now holds every batch of the block with this digest.
    PayloadReady(Digest),
}

/// Consensus timers. Each variant is one slot: setting it again replaces the earlier deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// The round timer of the given round.
    Round(Round),
    /// The leader's deadline for proposing without payload in the given round.
    Propose(Round),
    /// Re-ask other peers for blocks still missing.
    SyncRetry,
    /// The round has not moved for `resend_ms`: send again what this replica sent in it.
    Resend(Round),
}

impl Timer {
    /// The slot this timer occupies (one pending deadline per slot).
    pub fn slot(&self) -> u8 {
        match self {
            Self::Round(_) => 0,
            Self::Propose(_) => 1,
            Self::SyncRetry => 2,
            Self::Resend(_) => 3,
        }
    }
}

/// What the host must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send to one peer.
    Send {
        /// Recipient.
        to: NodeId,
        /// Message.
        message: ConsensusMessage,
    },
    /// Send to every other member.
    Broadcast {
        /// Message.
        message: ConsensusMessage,
    },
    /// Arm (or re-arm) a timer; fire it back as [`Input::Timer`].
    SetTimer {
        /// Which timer.
        timer: Timer,
        /// When.
        deadline: Time,
    },
    /// Durably store the safety state before performing any later action.
    Persist(PersistentState),
    /// Store a block (for serving peers that sync, and for recovery).
    StoreBlock(Block),
    /// Ask the mempool to make the block's batches available, then reply with
    /// [`Input::PayloadReady`].
    FetchPayload {
        /// The block.
        block: Digest,
        /// Its batch digests.
        payload: Vec<Digest>,
        /// Its author, who certainly has the batches.
        author: NodeId,
    },
    /// The block is final. Sent to the mempool (to release its batches) and to the application.
    /// At least once: before the `Persist` that records it, so a replica that crashes in between
    /// hands it out again after restarting (same block, same height).
    Commit(Block),
    /// A peer asked for a block no longer in memory: read it from the store and, if found, send
    /// it as a `SyncResponse`.
    ServeFromStore {
        /// The block.
        digest: Digest,
        /// The peer.
        to: NodeId,
    },
    /// A peer asked for committed blocks no longer in memory: read the commit index
    /// (`store::commit_key`) at heights `above + 1 ..= above + max` and the blocks it names, stop
    /// at the first gap or at [`CHAIN_RESPONSE_BYTES_MAX`], and send what was found, oldest first,
    /// as a `ChainResponse` (an empty one if nothing was).
    ServeChainFromStore {
        /// The peer's committed height.
        above: Height,
        /// How many blocks at most.
        max: u16,
        /// The peer.
        to: NodeId,
    },
    /// Forget the committed history below this height in the store: the commit index, blocks
    /// and batches (`store::prune_committed`). Emitted after each commit, at the last commit
    /// minus `Parameters::retain_heights`.
    Prune {
        /// The lowest height kept.
        below: Height,
    },
    /// Something worth telling observers.
    Observe(Event),
}

/// Everything a replica must remember across a crash to stay safe (and to resume quickly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentState {
    /// The current round.
    pub round: Round,
    /// The last round voted or timed out in; never vote at or below it again.
    pub last_voted_round: Round,
    /// The last round this replica proposed in; never propose twice in a round. (Persisted
    /// just after the proposal leaves: see the module docs for why a crash in between is
    /// harmless.)
    pub last_proposed_round: Round,
    /// The preferred (locked) round.
    pub locked_round: Round,
    /// The highest QC known.
    pub high_qc: QuorumCert,
    /// The last committed block.
    pub committed: Block,
    /// The highest TC known. A leader that entered its round by this TC needs it to propose
    /// (its block must carry it): without it, a leader restarted in such a round could not
    /// propose and the round would time out.
    pub high_tc: Option<TimeoutCert>,
}

impl PersistentState {
    /// The state of a replica that has never run.
    pub fn genesis() -> Self {
        Self {
            round: 0,
            last_voted_round: 0,
            last_proposed_round: 0,
            locked_round: 0,
            high_qc: QuorumCert::genesis(),
            committed: Block::genesis(),
            high_tc: None,
        }
    }
}

/// A read-only view of a replica, for the page and for tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusView {
    /// Current round.
    pub round: Round,
    /// The current round's leader.
    pub leader: NodeId,
    /// Last round voted or timed out in.
    pub last_voted_round: Round,
    /// Preferred (locked) round.
    pub locked_round: Round,
    /// The high QC's round.
    pub high_qc_round: Round,
    /// The high QC's block.
    pub high_qc_block: Digest,
    /// The last committed block.
    pub committed: Digest,
    /// Its round.
    pub committed_round: Round,
    /// Its height.
    pub committed_height: Height,
    /// Consecutive timed-out rounds (reset by a QC; the round timeout itself follows the rounds
    /// since the last commit).
    pub consecutive_timeouts: u32,
    /// Batches waiting to be proposed.
    pub pending_batches: usize,
    /// Blocks held in memory.
    pub blocks_in_memory: usize,
    /// Blocks of the current round waiting for their payload before a vote.
    pub blocks_awaiting_payload: usize,
}

/// What the consensus actor drives: one input in, actions out. The honest [`Consensus`] is the
/// implementation in this module. The simulator's Byzantine replicas are others
/// (`sim::byzantine`), written as wrappers *around* the honest one, so that no flag for
/// misbehaviour ever lives in honest code.
pub trait ConsensusCore: std::fmt::Debug {
    /// See [`Consensus::handle`].
    fn handle(&mut self, now: Time, input: Input) -> Vec<Action>;
}

impl ConsensusCore for Consensus {
    fn handle(&mut self, now: Time, input: Input) -> Vec<Action> {
        Self::handle(self, now, input)
    }
}

/// A catch-up by ranges under way.
#[derive(Clone, Debug)]
struct ChainSync {
    /// The highest block height seen that we are catching up to.
    target: Height,
    /// The peer asked first in the current series of attempts, and the one asked now.
    first_peer: NodeId,
    peer: NodeId,
    /// Peers asked in turn since the last useful answer.
    attempts: u16,
    /// When the current peer was asked.
    asked_at: Time,
}

/// A replica's consensus state machine. See the module docs for the protocol and the contract.
#[derive(Debug)]
pub struct Consensus {
    id: NodeId,
    committee: Committee,
    keys: KeyPair,
    params: Parameters,
    now: Time,
    actions: Vec<Action>,

    // --- Persisted (see `PersistentState`). `dirty` means "changed since the last Persist".
    round: Round,
    last_voted_round: Round,
    last_proposed_round: Round,
    locked_round: Round,
    high_qc: QuorumCert,
    committed: Block,
    high_tc: Option<TimeoutCert>,
    /// `committed.digest()`, kept because it is read on every input and hashing is not free.
    committed_digest: Digest,
    dirty: bool,
    recovered: bool,

    // --- Volatile.
    /// Blocks whose ancestry reaches the committed block, by digest (includes the committed one).
    blocks: BTreeMap<Digest, Block>,
    /// Blocks waiting for a missing parent, keyed by that parent.
    orphans: BTreeMap<Digest, Vec<(Digest, Block)>>,
    orphan_count: usize,
    /// Blocks being fetched: digest -> (peer first asked, attempts so far).
    sync_requests: BTreeMap<Digest, (NodeId, u16)>,
    /// The catch-up by ranges under way, if we are far behind (see [`CHAIN_SYNC_GAP`]).
    chain_sync: Option<ChainSync>,
    /// The height of the checkpoint this replica installed, if it did since it started: it
    /// holds no committed history below (0: from genesis, as far as it knows).
    history_from: Height,
    /// Blocks waiting for the mempool to confirm their payload: only of the current round (a
    /// vote can only be for it), so entering a round drops the others. The mempool may never
    /// answer (it gives up on payload no peer serves).
    awaiting_payload: BTreeMap<Digest, Block>,
    /// What each peer may still ask of us (blocks served; see [`crate::budget`]).
    serve_budget: ServeBudget,
    /// The first proposal processed for each round (its leader's), from the garbage-collection
    /// horizon up: a leader's second block in a round is refused, so a Byzantine leader cannot
    /// fill memory with the blocks of one round. (A block certified by others still comes in
    /// by digest, through sync.)
    proposals: BTreeMap<Round, Digest>,
    aggregator: Aggregator,
    round_started_at: Time,
    consecutive_timeouts: u32,
    /// The last round this replica broadcast a timeout for.
    timeout_sent_round: Round,
    /// What this replica sent in the current round, to send again while the round stalls
    /// ([`Timer::Resend`]): its proposal, its vote (and to whom), its timeout.
    sent_in_round: SentInRound,
    /// Batches ready to propose, in arrival order (sequence number -> digest) and the reverse.
    pending: BTreeMap<u64, Digest>,
    pending_index: BTreeMap<Digest, u64>,
    pending_seq: u64,
    /// Batches already in some block, with the block's round (so they are not proposed again).
    included: BTreeMap<Digest, Round>,
    /// Batches of the blocks committed in the last [`COMMITTED_BATCHES_WINDOW`] heights, with
    /// the height that carried each, and the same by height (to forget the oldest). A block
    /// that carries one of them again gets no vote (see [`Self::repeated_batch`]).
    committed_batches: BTreeMap<Digest, Height>,
    committed_batches_by_height: BTreeMap<Height, Vec<Digest>>,
    /// The committed history leaders are drawn from, under [`crate::LeaderElection::Reputation`].
    reputation: Option<Reputation>,
}

/// See [`Consensus::resend`].
#[derive(Clone, Debug, Default)]
struct SentInRound {
    /// The round all of the below are of; the resend timer is armed for it.
    round: Round,
    proposal: Option<Block>,
    vote: Option<(NodeId, Vote)>,
    timeout: Option<Timeout>,
}

impl Consensus {
    /// A replica. `recovered` is the state read back from the store after a restart (or `None`
    /// for a fresh replica).
    pub fn new(
        id: NodeId,
        committee: Committee,
        keys: KeyPair,
        params: Parameters,
        recovered: Option<PersistentState>,
    ) -> Self {
        assert!(committee.contains(id), "{id} is not in the committee");
        assert_eq!(committee.public_key(id), Some(&keys.public()), "key does not match committee entry");
        params.validate().expect("parameters are validated by the host before start");
        let was_recovered = recovered.is_some();
        let state = recovered.unwrap_or_else(PersistentState::genesis);
        // Paired with `check_invariants` on the write side: what was persisted must still hold.
        assert!(
            state.high_qc.round < state.round || state.round == 0,
            "recovered high QC {} is not from before the recovered round {}",
            state.high_qc.round,
            state.round
        );
        assert!(state.committed.round <= state.high_qc.round, "recovered commit is not certified");
        let committed_digest = state.committed.digest();
        let committed_payload = (state.committed.height, state.committed.payload.clone());
        let mut blocks = BTreeMap::new();
        blocks.insert(committed_digest, state.committed.clone());
        Self {
            id,
            keys,
            now: Time::ZERO,
            actions: Vec::new(),
            round: state.round,
            last_voted_round: state.last_voted_round,
            last_proposed_round: state.last_proposed_round,
            locked_round: state.locked_round,
            high_qc: state.high_qc,
            committed: state.committed,
            committed_digest,
            dirty: false,
            recovered: was_recovered,
            blocks,
            orphans: BTreeMap::new(),
            orphan_count: 0,
            sync_requests: BTreeMap::new(),
            chain_sync: None,
            history_from: 0,
            awaiting_payload: BTreeMap::new(),
            serve_budget: ServeBudget::new(crate::budget::BLOCKS_SERVED),
            proposals: BTreeMap::new(),
            aggregator: Aggregator::default(),
            high_tc: state.high_tc,
            round_started_at: Time::ZERO,
            consecutive_timeouts: 0,
            timeout_sent_round: 0,
            sent_in_round: SentInRound::default(),
            pending: BTreeMap::new(),
            pending_index: BTreeMap::new(),
            pending_seq: 0,
            included: BTreeMap::new(),
            committed_batches: BTreeMap::new(),
            committed_batches_by_height: BTreeMap::new(),
            reputation: (params.leader_election == crate::LeaderElection::Reputation)
                .then(|| Reputation::new(&committee)),
            committee,
            params,
        }
        .remembering_committed(std::iter::once(committed_payload))
        .remembering_chain(std::iter::empty())
    }

    /// Hands a recovered replica the batches committed just below its recovered commit, by
    /// height (as [`crate::store::recent_commits`] reads them back from the store), so that it
    /// knows them: without them, a restarted leader would propose a batch committed just before
    /// its crash once more (its mempool cannot tell), and a restarted voter would vote for a
    /// block that does. Heights outside the window, or above the recovered commit, are ignored.
    pub fn remembering_committed(mut self, commits: impl IntoIterator<Item = (Height, Vec<Digest>)>) -> Self {
        for (height, payload) in commits {
            if height <= self.committed.height {
                self.remember_committed(height, &payload);
            }
        }
        self
    }

    /// Hands a recovered replica the blocks committed just below and at its recovered commit,
    /// oldest first (as [`crate::store::recent_chain`] reads them back), for the leader
    /// reputation's history: without them a restarted replica would fall back to round-robin
    /// while the others do not, and disagree on leaders until it has committed a whole window
    /// again. Anything not ending at the recovered commit is left out (the history then holds
    /// only the recovered commit, and fills as the replica commits). Ignored under round-robin.
    pub fn remembering_chain(mut self, blocks: impl IntoIterator<Item = Block>) -> Self {
        let Some(reputation) = self.reputation.as_mut() else { return self };
        *reputation = Reputation::new(&self.committee);
        for block in blocks {
            if block.height < self.committed.height {
                reputation.committed(&block);
            }
        }
        if self.committed.height > 0 {
            reputation.committed(&self.committed);
        }
        self
    }

    /// The leader of `round`, as this replica sees it: the leader schedule's if it names one,
    /// else by the [`crate::LeaderElection`] of the parameters (under reputation, a replica that
    /// cannot know the leader yet uses round-robin: see [`reputation`]).
    pub fn leader(&self, round: Round) -> NodeId {
        self.leader_choice(round).0
    }

    /// The leader of `round` and how this replica chose it (what the narration says).
    pub fn leader_choice(&self, round: Round) -> (NodeId, LeaderChoice) {
        if let Some(leader) = self.committee.scheduled_leader(round) {
            return (leader, LeaderChoice::Scheduled);
        }
        match &self.reputation {
            None => (self.committee.leader(round), LeaderChoice::InTurn),
            Some(reputation) => match reputation.leader(&self.committee, round) {
                Some(leader) => (leader, LeaderChoice::Reputation),
                None => (self.committee.leader(round), LeaderChoice::InTurnUntilHistory),
            },
        }
    }

    /// Records the batches committed at `height`, forgetting those more than the window below
    /// the commit.
    fn remember_committed(&mut self, height: Height, payload: &[Digest]) {
        let floor = self.committed.height.saturating_sub(COMMITTED_BATCHES_WINDOW);
        if height <= floor || payload.is_empty() {
            return;
        }
        for batch in payload {
            // The highest height that carried it (only a replay from beyond the window, or an
            // incomplete window, puts a batch at two heights).
            let at = self.committed_batches.entry(*batch).or_insert(height);
            *at = (*at).max(height);
        }
        self.committed_batches_by_height.entry(height).or_default().extend(payload.iter().copied());
        while let Some(entry) = self.committed_batches_by_height.first_entry() {
            if *entry.key() > floor {
                break;
            }
            for batch in entry.remove() {
                if self.committed_batches.get(&batch).is_some_and(|height| *height <= floor) {
                    self.committed_batches.remove(&batch);
                }
            }
        }
    }

    /// A batch of `block` that its chain already carries, with the height that carried it: a
    /// block committed in the window, or an uncommitted ancestor (we hold every block between
    /// a block we vote on and our commit, or we would not have linked it).
    fn repeated_batch(&self, block: &Block) -> Option<(Digest, Height)> {
        if block.payload.is_empty() {
            return None;
        }
        let committed = block.payload.iter().find_map(|b| self.committed_batches.get(b).map(|h| (*b, *h)));
        if committed.is_some() {
            return committed;
        }
        let carried: BTreeSet<&Digest> = block.payload.iter().collect();
        let mut cursor = block.parent();
        while let Some(ancestor) = self.blocks.get(&cursor) {
            if ancestor.height <= self.committed.height {
                break;
            }
            if let Some(batch) = ancestor.payload.iter().find(|b| carried.contains(b)) {
                return Some((*batch, ancestor.height));
            }
            cursor = ancestor.parent();
        }
        None
    }

    /// Feeds one input; returns what the host must do, in order.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Action> {
        assert!(now >= self.now, "time went backwards: {now} < {}", self.now);
        self.now = now;
        match input {
            Input::Start => self.on_start(),
            Input::Message { from, message } => self.on_message(from, message),
            Input::Timer(timer) => self.on_timer(timer),
            Input::BatchReady(digest) => self.on_batch_ready(digest),
            Input::PayloadReady(block) => self.on_payload_ready(block),
        }
        if !self.vote_imminent() {
            self.flush_persist();
        }
        self.check_invariants();
        std::mem::take(&mut self.actions)
    }

    /// A snapshot for displays and tests.
    pub fn view(&self) -> ConsensusView {
        ConsensusView {
            round: self.round,
            leader: self.leader(self.round),
            last_voted_round: self.last_voted_round,
            locked_round: self.locked_round,
            high_qc_round: self.high_qc.round,
            high_qc_block: self.high_qc.block,
            committed: self.committed_digest,
            committed_round: self.committed.round,
            committed_height: self.committed.height,
            consecutive_timeouts: self.consecutive_timeouts,
            pending_batches: self.pending.len(),
            blocks_in_memory: self.blocks.len(),
            blocks_awaiting_payload: self.awaiting_payload.len(),
        }
    }

    /// The current persistent state.
    pub fn persistent_state(&self) -> PersistentState {
        PersistentState {
            round: self.round,
            last_voted_round: self.last_voted_round,
            last_proposed_round: self.last_proposed_round,
            locked_round: self.locked_round,
            high_qc: self.high_qc.clone(),
            committed: self.committed.clone(),
            high_tc: self.high_tc.clone(),
        }
    }

    /// This replica's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// A block held in memory.
    pub fn block(&self, digest: &Digest) -> Option<&Block> {
        self.blocks.get(digest)
    }

    // ---------------------------------------------------------------------------------------
    // Output helpers. Every externally visible action goes through `emit_visible`, which puts a
    // Persist in front of it when the safety state changed: that is the persist-before-send rule.

    fn observe(&mut self, event: Event) {
        self.actions.push(Action::Observe(event));
    }

    fn flush_persist(&mut self) {
        if self.dirty {
            self.dirty = false;
            let state = self.persistent_state();
            self.actions.push(Action::Persist(state));
        }
    }

    /// Are we waiting for the payload of a block of our round that we may still vote for? Then
    /// the step's changes are persisted with that vote, in one sync.
    fn vote_imminent(&self) -> bool {
        self.awaiting_payload.values().any(|b| b.round == self.round && b.round > self.last_voted_round)
    }

    fn emit_visible(&mut self, action: Action) {
        self.flush_persist();
        self.actions.push(action);
    }

    fn send(&mut self, to: NodeId, message: ConsensusMessage) {
        debug_assert_ne!(to, self.id, "messages to self are handled in place");
        self.emit_visible(Action::Send { to, message });
    }

    fn broadcast(&mut self, message: ConsensusMessage) {
        self.emit_visible(Action::Broadcast { message });
    }

    fn set_timer(&mut self, timer: Timer, deadline: Time) {
        self.actions.push(Action::SetTimer { timer, deadline });
    }

    fn reject(&mut self, from: NodeId, kind: &str, error: &Error) {
        self.observe(Event::rejected(from, kind, error));
    }

    // ---------------------------------------------------------------------------------------
    // Inputs.

    fn on_start(&mut self) {
        if self.recovered {
            self.observe(Event::Recovered {
                round: self.round,
                last_voted_round: self.last_voted_round,
                committed_height: self.committed.height,
            });
        }
        // A fresh replica starts in round 1; a recovered one resumes its round.
        let round = self.round.max(1);
        self.round = round;
        self.dirty = true;
        self.enter_round(RoundReason::Start);
    }

    fn on_message(&mut self, from: NodeId, message: ConsensusMessage) {
        let kind = message.kind();
        if let ConsensusMessage::ChainResponse(_) = &message {
            // Up to 64 blocks of signatures to check: refuse what we did not ask for first.
            if let Err(error) = self.expecting_chain_from(from) {
                self.reject(from, kind, &error);
                return;
            }
        }
        if let Err(error) = message.verify(&self.committee) {
            self.reject(from, kind, &error);
            return;
        }
        match message {
            ConsensusMessage::Propose(block) => self.on_proposal(from, block),
            ConsensusMessage::Vote(vote) => self.on_vote(from, vote),
            ConsensusMessage::Timeout(timeout) => self.on_timeout(from, timeout),
            ConsensusMessage::Tc(tc) => self.process_tc(&tc),
            ConsensusMessage::SyncRequest { digest } => self.on_sync_request(from, digest),
            ConsensusMessage::SyncResponse(block) => self.on_sync_response(from, block),
            ConsensusMessage::ChainRequest { above, max } => self.on_chain_request(from, above, max),
            ConsensusMessage::ChainResponse(blocks) => self.on_chain_response(from, blocks),
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Round(round) if round == self.round => self.local_timeout(),
            Timer::Propose(round) if round == self.round => self.propose(),
            Timer::SyncRetry => self.retry_sync(),
            Timer::Resend(round) if round == self.round => self.resend(),
            // A timer for a round we have left: stale, ignore.
            Timer::Round(_) | Timer::Propose(_) | Timer::Resend(_) => {}
        }
    }

    fn on_batch_ready(&mut self, digest: Digest) {
        if self.included.contains_key(&digest)
            || self.pending_index.contains_key(&digest)
            || self.committed_batches.contains_key(&digest)
        {
            return;
        }
        self.pending_seq += 1;
        self.pending.insert(self.pending_seq, digest);
        self.pending_index.insert(digest, self.pending_seq);
        // A leader holding back an empty proposal can propose now.
        self.try_propose();
    }

    fn on_payload_ready(&mut self, block: Digest) {
        if let Some(block) = self.awaiting_payload.remove(&block) {
            self.vote(&block);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Rounds and the pacemaker.

    /// The round timeout: the base while the replica commits, then a fifth longer for each
    /// round without a commit beyond [`BACKOFF_GRACE_ROUNDS`], at most [`BACKOFF_STEPS_MAX`]
    /// times and at most `round_timeout_ms_max` (DiemBFT v4 / Aptos: `base × 1.2^min(k, 6)`,
    /// `k` counted from the last commit).
    ///
    /// Why from the last commit and not from consecutive timeouts: with a crashed replica (or a
    /// lossy link) rounds fail one or two at a time between certified ones, and doubling per
    /// timed-out round made every such pair cost three base timeouts (1 s, then 2 s) even while
    /// the committee kept committing; and right after a crash, before reputation leaves the
    /// crashed replica out, a run of failed turns backed the committee off to the cap (10 s
    /// rounds). Counting rounds since the last commit costs nothing while commits come, and
    /// still lengthens rounds when they stop (a partition, too short a base for the network).
    /// Integer arithmetic: the same on every host.
    fn round_timeout_ms(&self) -> u64 {
        let grace =
            BACKOFF_GRACE_ROUNDS + Round::from(self.params.commit_rule == crate::CommitRule::ThreeChain);
        let steps =
            self.round.saturating_sub(self.committed.round).saturating_sub(grace).min(BACKOFF_STEPS_MAX);
        let max = self.params.round_timeout_ms_max;
        let mut timeout = self.params.round_timeout_ms;
        for _ in 0..steps {
            if timeout >= max {
                break;
            }
            timeout = timeout.saturating_add(timeout.div_ceil(5));
        }
        timeout.min(max)
    }

    fn advance_round(&mut self, round: Round, reason: RoundReason) {
        if round <= self.round {
            return;
        }
        if let RoundReason::Qc { .. } = reason {
            // Progress: the count of timed-out rounds in a row starts over.
            self.consecutive_timeouts = 0;
        }
        self.round = round;
        self.dirty = true;
        self.enter_round(reason);
    }

    fn enter_round(&mut self, reason: RoundReason) {
        self.round_started_at = self.now;
        let timeout_ms = self.round_timeout_ms();
        let (leader, chosen) = self.leader_choice(self.round);
        self.observe(Event::RoundEntered { round: self.round, leader, chosen, reason, timeout_ms });
        let round = self.round;
        self.awaiting_payload.retain(|_, block| block.round >= round);
        self.set_timer(Timer::Round(self.round), self.now.plus_ms(timeout_ms));
        // Votes for the previous round still matter (they form the QC that leads into this one).
        self.aggregator.prune_below(self.round.saturating_sub(1));
        self.try_propose();
    }

    /// What we sent in the current round, arming the resend timer on the first send of a round.
    fn sent_in_round(&mut self) -> &mut SentInRound {
        if self.sent_in_round.round != self.round {
            self.sent_in_round = SentInRound { round: self.round, ..SentInRound::default() };
            self.set_timer(Timer::Resend(self.round), self.now.plus_ms(self.params.resend_ms));
        }
        &mut self.sent_in_round
    }

    /// The round has not moved for `resend_ms` since we first sent something in it: send it
    /// all again, and again after as long, until the round moves. With exactly a quorum up,
    /// one lost proposal or vote fails a round; the copy is the same signed message, so it
    /// changes nothing a replica decided (a vote or timeout stays the one of the round, a
    /// replica that has a block ignores it again). Already durable: no `Persist` first.
    fn resend(&mut self) {
        let round = self.round;
        debug_assert_eq!(self.sent_in_round.round, round);
        let stalled_ms = self.now.ms_since(self.round_started_at);
        let sent = self.sent_in_round.clone();
        if let Some(block) = sent.proposal {
            self.observe(Event::Resent { round, what: Resent::Proposal, to: None, stalled_ms });
            self.broadcast(ConsensusMessage::Propose(block));
        }
        if let Some((to, vote)) = sent.vote {
            self.observe(Event::Resent { round, what: Resent::Vote, to: Some(to), stalled_ms });
            self.send(to, ConsensusMessage::Vote(vote));
        }
        if let Some(timeout) = sent.timeout {
            self.resend_timeout(timeout);
        }
        self.set_timer(Timer::Resend(round), self.now.plus_ms(self.params.resend_ms));
    }

    /// Our timeout of the current round, again (the same signed message).
    fn resend_timeout(&mut self, timeout: Timeout) {
        let stalled_ms = self.now.ms_since(self.round_started_at);
        self.observe(Event::Resent { round: self.round, what: Resent::Timeout, to: None, stalled_ms });
        self.broadcast(ConsensusMessage::Timeout(timeout));
    }

    /// The round timer expired: give up on the round.
    fn local_timeout(&mut self) {
        // Say what the round was waiting for: a vote sent means the next leader's block (with the
        // QC) did not come; none, that no block to vote for came.
        let collector = self.leader(self.round + 1);
        // The vote is sent to the collector, or (when that is this replica) added here.
        let voted = (self.sent_in_round.round == self.round && self.sent_in_round.vote.is_some())
            || (collector == self.id && self.aggregator.holds_vote(self.round, self.id));
        let awaited = if voted && collector == self.id {
            Awaited::Votes { held: self.aggregator.votes_for(self.round) as u32 }
        } else if voted {
            Awaited::Qc { collector }
        } else {
            Awaited::Proposal { leader: self.leader(self.round) }
        };
        self.observe(Event::RoundStalled {
            round: self.round,
            awaited,
            timeouts: self.aggregator.timeouts_for(self.round) as u32,
            needed: self.committee.quorum_threshold() as u32,
        });
        match self.sent_in_round.timeout.clone().filter(|t| t.round == self.round) {
            // Still no progress in a round we already gave up on (no side of a partition has a
            // quorum of timeouts): the same timeout again, in case copies were lost. It is one
            // timed-out round, not another.
            Some(timeout) => self.resend_timeout(timeout),
            None => {
                self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
                self.send_timeout(self.round, false);
            }
        }
        // Keep re-sending until the round moves on, in case timeouts were lost.
        let deadline = self.now.plus_ms(self.round_timeout_ms());
        self.set_timer(Timer::Round(self.round), deadline);
    }

    /// Broadcast a timeout for `round` (our current round). From now on we never vote in it.
    /// `joined`: prompted by `f + 1` other timeouts rather than our own timer.
    fn send_timeout(&mut self, round: Round, joined: bool) {
        debug_assert_eq!(round, self.round);
        if self.last_voted_round < round {
            self.last_voted_round = round;
            self.dirty = true;
        }
        self.timeout_sent_round = round;
        let timeout = Timeout::new(&self.keys, self.id, round, self.high_qc.clone());
        // Observed once sent (after its `Persist`): a crash between the two sends nothing and
        // reports nothing.
        self.broadcast(ConsensusMessage::Timeout(timeout.clone()));
        self.observe(Event::TimeoutSent {
            round,
            high_qc_round: self.high_qc.round,
            consecutive: self.consecutive_timeouts,
            joined,
        });
        self.sent_in_round().timeout = Some(timeout.clone());
        self.add_timeout(&timeout);
    }

    fn on_timeout(&mut self, from: NodeId, timeout: Timeout) {
        self.observe(Event::TimeoutReceived { from, round: timeout.round });
        self.process_qc(&timeout.high_qc);
        if timeout.round < self.round {
            // The sender is behind: if a TC moved us past its round, hand it over.
            if let Some(tc) = self.high_tc.clone().filter(|tc| tc.round >= timeout.round) {
                if timeout.author != self.id {
                    self.send(timeout.author, ConsensusMessage::Tc(tc));
                }
            }
            return;
        }
        if timeout.round > self.round + FUTURE_ROUNDS_MAX {
            self.reject(from, "timeout", &Error::RoundTooFarAhead { round: timeout.round, ours: self.round });
            return;
        }
        self.add_timeout(&timeout);
    }

    fn add_timeout(&mut self, timeout: &Timeout) {
        let progress = self.aggregator.add_timeout(&self.committee, timeout);
        if let Some(tc) = progress.tc {
            self.observe(Event::TcFormed { tc: tc.clone() });
            self.broadcast(ConsensusMessage::Tc(tc.clone()));
            self.process_tc(&tc);
            return;
        }
        // f + 1 timeouts: at least one honest replica gave up on this round; join it so that a
        // TC can form even if our own timer is far from expiring.
        let join = progress.count >= self.committee.validity_threshold()
            && timeout.round >= self.round
            && self.timeout_sent_round < timeout.round;
        if join {
            self.advance_round(timeout.round, RoundReason::TimeoutsJoined { count: progress.count as u32 });
            if self.round == timeout.round {
                // Joining counts as timing out.
                self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
                self.send_timeout(timeout.round, true);
            }
        }
    }

    fn process_tc(&mut self, tc: &TimeoutCert) {
        // The TC's QC first: a leader that learns of the TC second-hand must extend it.
        self.process_qc(&tc.high_qc);
        if self.high_tc.as_ref().is_none_or(|high| high.round < tc.round) {
            self.high_tc = Some(tc.clone());
            self.dirty = true;
        }
        self.advance_round(tc.round + 1, RoundReason::Tc { tc_round: tc.round });
    }

    // ---------------------------------------------------------------------------------------
    // Certificates, the lock and the commit rule.

    fn process_qc(&mut self, qc: &QuorumCert) {
        if qc.round > self.high_qc.round {
            self.high_qc = qc.clone();
            self.dirty = true;
            self.observe(Event::HighQcUpdated { round: qc.round, block: qc.block });
        }
        self.update_lock(qc);
        self.try_commit(qc);
        self.advance_round(qc.round + 1, RoundReason::Qc { qc_round: qc.round });
    }

    /// The lock is the round of the parent of the highest certified block (for 3-chain the
    /// voting rule reads it; for 2-chain it is shown but the TC rule replaces it).
    fn update_lock(&mut self, qc: &QuorumCert) {
        let Some(certified) = self.blocks.get(&qc.block) else { return };
        let candidate = match self.params.commit_rule {
            crate::CommitRule::TwoChain | crate::CommitRule::UnsafeOneChain => qc.round,
            crate::CommitRule::ThreeChain => certified.qc.round,
        };
        if candidate > self.locked_round {
            self.locked_round = candidate;
            self.dirty = true;
            self.observe(Event::LockUpdated { locked_round: candidate });
        }
    }

    /// Applies the commit rule to the chain that `qc` certifies, if we hold that chain.
    fn try_commit(&mut self, qc: &QuorumCert) {
        let depth = safety::chain_depth(self.params.commit_rule);
        let mut chain: Vec<&Block> = Vec::with_capacity(depth);
        let mut cursor = qc.block;
        while chain.len() < depth {
            let Some(block) = self.blocks.get(&cursor) else { return };
            chain.push(block);
            cursor = block.parent();
        }
        let Some(head) = safety::committed_by(self.params.commit_rule, &chain) else { return };
        if head.round <= self.committed.round {
            return;
        }
        let rounds: Vec<Round> = chain.iter().rev().map(|b| b.round).collect();
        let head = head.clone();
        self.commit(head, rounds);
    }

    /// Commits `head` and every uncommitted ancestor, oldest first.
    fn commit(&mut self, head: Block, chain: Vec<Round>) {
        let mut to_commit = vec![head];
        loop {
            let parent = to_commit.last().map(Block::parent).expect("non-empty");
            if parent == self.committed_digest {
                break;
            }
            match self.blocks.get(&parent) {
                Some(block) if block.round > self.committed.round => to_commit.push(block.clone()),
                _ => {
                    // The certified chain does not extend what we committed. With at most f
                    // Byzantine replicas this cannot happen; with more it can, and committing
                    // would fork. Refuse and say so: the simulator's agreement checker decides.
                    let info = BlockInfo::from(&to_commit[0]);
                    self.observe(Event::ConflictingCommit {
                        block: info,
                        committed_height: self.committed.height,
                    });
                    return;
                }
            }
        }
        for block in to_commit.into_iter().rev() {
            assert_eq!(block.parent(), self.committed_digest, "commits extend the committed chain");
            assert_eq!(block.height, self.committed.height + 1, "commits are at consecutive heights");
            self.committed_digest = block.digest();
            self.committed = block.clone();
            self.dirty = true;
            // Delivered at once, before the `Persist` that records it (see the module docs): a
            // replica that crashes in between decides it again after restarting.
            self.observe(Event::BlockCommitted { block: BlockInfo::from(&block), chain: chain.clone() });
            self.remember_committed(block.height, &block.payload);
            if let Some(reputation) = self.reputation.as_mut() {
                reputation.committed(&block);
            }
            self.actions.push(Action::Commit(block));
        }
        self.recover_abandoned();
        self.garbage_collect();
        self.prune();
    }

    /// Asks the store to forget the history below `retain_heights` under the last commit.
    fn prune(&mut self) {
        let kept = self.params.retain_heights;
        if self.committed.height > kept {
            self.actions.push(Action::Prune { below: self.committed.height - kept + 1 });
        }
    }

    /// The lowest height the store still holds (after the last prune, or since the checkpoint
    /// we installed): a peer asking for less is served from here, and installs a checkpoint.
    fn retained_from(&self) -> Height {
        (self.committed.height.saturating_sub(self.params.retain_heights) + 1).max(self.history_from)
    }

    /// Blocks that can no longer be committed give their batches back. A block off the committed
    /// chain at or below the committed height is abandoned (a round that timed out, a fork):
    /// nothing extending it can commit any more. It leaves memory, and its batches that no block
    /// still in memory carries (committed or not) go back to `pending`, so some leader proposes
    /// them again. Without this, a view change would silently drop the transactions of the
    /// abandoned proposal. (The committed blocks that could share a batch with it are at most as
    /// high, so still in memory when it is found: no batch is proposed again after it committed.)
    fn recover_abandoned(&mut self) {
        let mut chain = BTreeSet::new();
        let mut cursor = self.committed_digest;
        while let Some(block) = self.blocks.get(&cursor) {
            chain.insert(cursor);
            cursor = block.parent();
        }
        let height = self.committed.height;
        let abandoned: Vec<Digest> = self
            .blocks
            .iter()
            .filter(|(digest, block)| block.height <= height && !chain.contains(*digest))
            .map(|(digest, _)| *digest)
            .collect();
        if abandoned.is_empty() {
            return;
        }
        let abandoned: Vec<Block> = abandoned.iter().filter_map(|d| self.blocks.remove(d)).collect();
        // Batches still carried by a block that may commit (or did): those stay where they are.
        let carried: BTreeSet<Digest> =
            self.blocks.values().flat_map(|block| block.payload.iter().copied()).collect();
        for block in abandoned {
            let mut returned = 0;
            for batch in &block.payload {
                // A batch committed in another block (which may have left memory) stays out.
                if !carried.contains(batch)
                    && self.included.remove(batch).is_some()
                    && !self.committed_batches.contains_key(batch)
                {
                    self.pending_seq += 1;
                    self.pending.insert(self.pending_seq, *batch);
                    self.pending_index.insert(*batch, self.pending_seq);
                    returned += 1;
                }
            }
            self.observe(Event::BlockAbandoned {
                block: block.digest(),
                round: block.round,
                batches_returned: returned,
            });
        }
    }

    /// Blocks of rounds below this are history: dropped from memory, never linked again.
    fn gc_horizon(&self) -> Round {
        self.committed.round.saturating_sub(self.params.gc_depth_rounds)
    }

    /// Drops history more than `gc_depth_rounds` below the last commit.
    fn garbage_collect(&mut self) {
        let horizon = self.gc_horizon();
        let committed = self.committed_digest;
        self.blocks.retain(|digest, block| block.round >= horizon || *digest == committed);
        self.included.retain(|_, round| *round >= horizon);
        self.proposals.retain(|round, _| *round >= horizon);
        let before = self.orphan_count;
        self.orphans.retain(|_, children| {
            children.retain(|(_, block)| block.round > horizon);
            !children.is_empty()
        });
        self.orphan_count = self.orphans.values().map(Vec::len).sum();
        debug_assert!(self.orphan_count <= before);
    }

    // ---------------------------------------------------------------------------------------
    // Proposals.

    /// Does the chain below our high QC hold uncommitted payload? Then the next block must not
    /// wait: one more certified block commits it.
    fn uncommitted_payload(&self) -> bool {
        let mut cursor = self.high_qc.block;
        while let Some(block) = self.blocks.get(&cursor) {
            if block.round <= self.committed.round {
                return false;
            }
            if !block.payload.is_empty() {
                return true;
            }
            cursor = block.parent();
        }
        // We do not hold the chain (still syncing): propose rather than risk stalling it.
        cursor != self.committed_digest
    }

    /// Proposes now if we lead this round, have not proposed in it, and are justified to; with
    /// nothing to carry, wait until the max block delay first.
    fn try_propose(&mut self) {
        if self.leads_unproposed_round() && !self.blocks.contains_key(&self.high_qc.block) {
            // We hold the QC but not the block it certifies: the votes (or a TC) beat the
            // proposal here, or we are catching up. Fetch it from a voter; `link` proposes once
            // it is here. If it is not here by the max block delay (at once while catching up,
            // when it may take seconds), propose an empty block extending the QC: without the
            // chain we cannot tell which batches it already carries, but the round need not
            // time out.
            let qc = &self.high_qc;
            if let Some(voter) = qc.votes.iter().map(|(id, _)| *id).find(|id| *id != self.id) {
                self.request_block(qc.block, voter);
            }
            if self.may_propose() {
                let deadline = match self.chain_sync {
                    Some(_) => self.now,
                    None => self.round_started_at.plus_ms(self.params.max_block_delay_ms),
                };
                if self.now < deadline {
                    self.set_timer(Timer::Propose(self.round), deadline);
                    self.observe(Event::ProposalDeferred { round: self.round, until: deadline });
                } else {
                    self.propose();
                }
            }
            return;
        }
        if !self.may_propose() {
            return;
        }
        if self.pending.is_empty() && !self.uncommitted_payload() {
            let deadline = self.round_started_at.plus_ms(self.params.max_block_delay_ms);
            if self.now < deadline {
                self.set_timer(Timer::Propose(self.round), deadline);
                self.observe(Event::ProposalDeferred { round: self.round, until: deadline });
                return;
            }
        }
        self.propose();
    }

    fn may_propose(&self) -> bool {
        let justified = self.high_qc.round + 1 == self.round
            || self.high_tc.as_ref().is_some_and(|tc| tc.round + 1 == self.round);
        self.leads_unproposed_round() && justified
    }

    /// We lead this round and have not proposed in it yet.
    fn leads_unproposed_round(&self) -> bool {
        self.leader(self.round) == self.id && self.last_proposed_round < self.round
    }

    fn propose(&mut self) {
        if !self.may_propose() {
            return;
        }
        // Without the block our high QC certifies, the block is empty (see `try_propose`).
        let holds_parent = self.blocks.contains_key(&self.high_qc.block);
        let mut payload = Vec::new();
        while holds_parent && payload.len() < self.params.max_block_batches {
            let Some((_, digest)) = self.pending.pop_first() else { break };
            self.pending_index.remove(&digest);
            payload.push(digest);
        }
        let tc = self
            .high_tc
            .clone()
            .filter(|tc| tc.round + 1 == self.round && self.high_qc.round + 1 != self.round);
        let block = Block::new(&self.keys, self.id, self.round, self.high_qc.clone(), tc, payload);
        self.last_proposed_round = self.round;
        self.dirty = true;
        self.observe(Event::ProposalSent { block: BlockInfo::from(&block) });
        // The one send not held back by a `Persist` (see the module docs): the state it changed
        // is persisted with our own vote for the block, which follows at once.
        self.actions.push(Action::Broadcast { message: ConsensusMessage::Propose(block.clone()) });
        self.sent_in_round().proposal = Some(block.clone());
        self.accept_block(self.id, block);
    }

    fn on_proposal(&mut self, from: NodeId, block: Block) {
        if block.author != self.leader(block.round) {
            // Its certificates first: they are verified and as good as any, whoever sent them,
            // and a commit they complete can change who leads the block's round under
            // reputation (the proposer may know one more commit than we do).
            self.process_qc(&block.qc);
            if let Some(tc) = &block.tc {
                self.process_tc(tc);
            }
            let expected = self.leader(block.round);
            if block.author != expected {
                let error = Error::WrongLeader { round: block.round, expected, got: block.author };
                self.reject(from, "proposal", &error);
                // Still, the block it extends is certified: fetch it if we lack it, so that a
                // replica that disagrees on the leader (behind, or restarted with a partial
                // history) commits, learns the history and agrees again.
                // (Only for a QC above our last commit: an old QC in a cheap block would make
                // us ask peers again for history we hold or no longer need.)
                let fresh =
                    block.qc.round > self.committed.round && block.round <= self.round + FUTURE_ROUNDS_MAX;
                if fresh && !self.blocks.contains_key(&block.parent()) {
                    if block.height > self.committed.height + CHAIN_SYNC_GAP {
                        self.catch_up(block.height, from);
                    } else {
                        self.request_block(block.parent(), from);
                    }
                }
                return;
            }
        }
        let digest = block.digest();
        if self.blocks.contains_key(&digest) || self.awaiting_payload.contains_key(&digest) {
            return;
        }
        // Verified, so signed by the round's leader: a second block of the round equivocates.
        let equivocates = self.proposals.get(&block.round).is_some_and(|first| *first != digest);
        if equivocates {
            let error = Error::Equivocation { author: block.author, round: block.round };
            self.reject(from, "proposal", &error);
        } else {
            // (Bounded: rounds from the horizon to `FUTURE_ROUNDS_MAX` ahead.)
            if block.round >= self.gc_horizon() && block.round <= self.round + FUTURE_ROUNDS_MAX {
                self.proposals.entry(block.round).or_insert(digest);
            }
            self.observe(Event::ProposalReceived { from, block: BlockInfo::from(&block) });
        }
        // An equivocating block stays out, but its certificates are verified and as good as any.
        self.process_qc(&block.qc);
        if let Some(tc) = &block.tc {
            self.process_tc(tc);
        }
        if !equivocates {
            self.accept_block(from, block);
        }
    }

    /// Links a verified block into the tree, or parks it until its ancestors arrive.
    fn accept_block(&mut self, from: NodeId, block: Block) {
        let parent = block.parent();
        if self.blocks.contains_key(&parent) {
            self.link(block);
            return;
        }
        if block.qc.round <= self.committed.round {
            // Its parent is at or below our last commit and is not the committed block: the
            // block is on an abandoned fork (or below our history). Nothing to do with it.
            return;
        }
        let digest = block.digest();
        // A replayed orphan must not take a second place in the bounded buffer.
        if self.orphans.get(&parent).is_some_and(|siblings| siblings.iter().any(|(d, _)| *d == digest)) {
            return;
        }
        if !self.make_room_for_orphan(&block) {
            return;
        }
        let height = block.height;
        self.orphans.entry(parent).or_default().push((digest, block));
        self.orphan_count += 1;
        let ask = if from == self.id { self.leader(self.round) } else { from };
        if height > self.committed.height + CHAIN_SYNC_GAP {
            // Far behind: fetch the committed chain forward instead of walking back to it.
            self.catch_up(height, ask);
        } else {
            self.request_block(parent, ask);
        }
    }

    /// The orphans one author may hold: `1/(n − f)` of the buffer, so f Byzantine authors
    /// flooding it with blocks of far rounds (which the oldest-round eviction would keep) hold
    /// less than half of it, while an honest walk back (each author about `1/n` of a chain)
    /// never meets the cap.
    fn orphans_per_author_max(&self) -> usize {
        let n = self.committee.size();
        (ORPHAN_BLOCKS_MAX / (n - self.committee.max_faulty())).max(1)
    }

    /// Whether `block` may be parked: its author's share of the buffer, then the buffer.
    fn make_room_for_orphan(&mut self, block: &Block) -> bool {
        let theirs = || self.orphans.values().flatten().filter(|(_, b)| b.author == block.author);
        if theirs().count() >= self.orphans_per_author_max() {
            // Its own oldest makes room, if it is not newer than this one.
            let oldest = theirs().map(|(d, b)| (b.round, b.parent(), *d)).min();
            match oldest.filter(|(r, _, _)| *r <= block.round) {
                Some((_, parent, digest)) => self.drop_orphan(parent, digest),
                None => return false,
            }
        }
        self.orphan_count < ORPHAN_BLOCKS_MAX || self.evict_oldest_orphan(block.round)
    }

    fn drop_orphan(&mut self, parent: Digest, digest: Digest) {
        let children = self.orphans.get_mut(&parent).expect("an orphan is filed under its parent");
        children.retain(|(d, _)| *d != digest);
        if children.is_empty() {
            self.orphans.remove(&parent);
        }
        self.orphan_count -= 1;
    }

    /// Makes room in a full orphan buffer for a block of round `round` by dropping the orphan of
    /// the lowest round, if it is not higher (newer blocks are worth more: they lead back to the
    /// chain). Returns whether there is room now. A walk back one block at a time still cannot
    /// get further than the buffer (each parent is older than every block parked for it); being
    /// that far behind is what the catch-up by ranges is for.
    fn evict_oldest_orphan(&mut self, round: Round) -> bool {
        let oldest = self
            .orphans
            .iter()
            .flat_map(|(parent, children)| children.iter().map(move |(d, b)| (b.round, *parent, *d)))
            .min();
        let Some((_, parent, digest)) = oldest.filter(|(r, _, _)| *r <= round) else {
            return false;
        };
        self.drop_orphan(parent, digest);
        true
    }

    /// Adds a block whose parent we hold, then every parked descendant, and votes if due.
    fn link(&mut self, block: Block) {
        let mut ready = vec![block];
        while let Some(block) = ready.pop() {
            let digest = block.digest();
            if self.blocks.contains_key(&digest)
                || block.height <= self.committed.height
                || block.round < self.gc_horizon()
            {
                // Held already; or at or below our commit without being our committed block,
                // so it can never commit (the blocks that could are held); or history that
                // garbage collection has dropped (a range of the committed chain can bring
                // blocks that its own first blocks have just committed and collected). Linking
                // such a block would bring its batches back after they were forgotten: it would
                // look abandoned and hand them out to be proposed again.
                continue;
            }
            for batch in &block.payload {
                self.included.insert(*batch, block.round);
                if let Some(seq) = self.pending_index.remove(batch) {
                    self.pending.remove(&seq);
                }
            }
            self.blocks.insert(digest, block.clone());
            // However it came (proposal or sync), it needs fetching no more.
            self.sync_requests.remove(&digest);
            self.actions.push(Action::StoreBlock(block.clone()));
            // Now that the block's parent chain is here, its QC may lock or commit.
            self.update_lock(&block.qc);
            self.try_commit(&block.qc);
            if let Some(children) = self.orphans.remove(&digest) {
                self.orphan_count -= children.len();
                ready.extend(children.into_iter().map(|(_, child)| child));
            }
            if digest == self.high_qc.block {
                // The block our high QC certifies arrived after the QC: a leader waiting for it
                // proposes now (see `try_propose`).
                self.try_propose();
            }
            if block.round == self.round {
                self.prepare_vote(block);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Voting.

    fn prepare_vote(&mut self, block: Block) {
        if let Some((batch, carried_at)) = self.repeated_batch(&block) {
            // Checked before the payload is fetched: the batch is most likely here (it was
            // carried before), so availability would not stop the vote.
            let reason = NoVoteReason::RepeatsBatch { batch, carried_at };
            self.observe(Event::VoteWithheld { block: block.digest(), round: block.round, reason });
            return;
        }
        if block.payload.is_empty() || block.author == self.id {
            // Our own proposal's batches came from our own mempool.
            self.vote(&block);
            return;
        }
        let digest = block.digest();
        self.observe(Event::PayloadAwaited { block: digest, batches: block.payload.len() as u32 });
        self.actions.push(Action::FetchPayload {
            block: digest,
            payload: block.payload.clone(),
            author: block.author,
        });
        self.awaiting_payload.insert(digest, block);
    }

    fn vote(&mut self, block: &Block) {
        let voter = safety::VoterState {
            round: self.round,
            last_voted_round: self.last_voted_round,
            locked_round: self.locked_round,
        };
        let digest = block.digest();
        let expected = self.leader(block.round);
        let rule = if block.author == expected {
            safety::vote_rule(self.params.commit_rule, voter, block)
        } else {
            // Blocks reach the vote by other ways than a proposal (a range of the chain, a
            // synced parent): whatever the way, only the round's leader gets a vote.
            Err(NoVoteReason::NotTheLeader { expected })
        };
        match rule {
            Err(reason) => {
                self.observe(Event::VoteWithheld { block: digest, round: block.round, reason });
            }
            Ok(rule) => {
                self.last_voted_round = block.round;
                self.dirty = true;
                let vote = Vote::new(&self.keys, self.id, block);
                let next_leader = self.leader(block.round + 1);
                // Observed once sent (or, for our own next round, once durable and about to be
                // counted): a crash before that sends nothing and reports nothing.
                let sent = Event::VoteSent { block: digest, round: block.round, to: next_leader, rule };
                if next_leader == self.id {
                    // Durable before we count it: the QC we are about to propose carries it.
                    self.flush_persist();
                    self.observe(sent);
                    self.add_vote(self.id, &vote);
                } else {
                    self.send(next_leader, ConsensusMessage::Vote(vote.clone()));
                    self.observe(sent);
                    self.sent_in_round().vote = Some((next_leader, vote));
                }
            }
        }
    }

    fn on_vote(&mut self, from: NodeId, vote: Vote) {
        if self.leader(vote.round + 1) != self.id || vote.round + 1 < self.round {
            // Misrouted, or too late to matter.
            return;
        }
        if vote.round > self.round + FUTURE_ROUNDS_MAX {
            self.reject(from, "vote", &Error::RoundTooFarAhead { round: vote.round, ours: self.round });
            return;
        }
        self.observe(Event::VoteReceived { from: vote.author, block: vote.block, round: vote.round });
        self.add_vote(from, &vote);
    }

    fn add_vote(&mut self, from: NodeId, vote: &Vote) {
        match self.aggregator.add_vote(&self.committee, vote) {
            Err(error) => self.reject(from, "vote", &error),
            Ok(None) => {}
            Ok(Some(qc)) => {
                self.observe(Event::QcFormed { qc: qc.clone() });
                self.process_qc(&qc);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Synchronisation of missing blocks.

    fn request_block(&mut self, digest: Digest, peer: NodeId) {
        if self.sync_requests.contains_key(&digest) {
            return;
        }
        let peer = if peer == self.id { self.next_peer(peer, 1) } else { peer };
        if self.sync_requests.is_empty() && self.chain_sync.is_none() {
            self.set_timer(Timer::SyncRetry, self.now.plus_ms(self.params.sync_retry_ms));
        }
        self.sync_requests.insert(digest, (peer, 0));
        self.observe(Event::SyncRequested { digest, to: peer });
        self.send(peer, ConsensusMessage::SyncRequest { digest });
    }

    /// The peer `step` places after `peer` in committee order, skipping ourselves.
    fn next_peer(&self, peer: NodeId, step: u16) -> NodeId {
        let n = self.committee.size() as u64;
        let mut candidate = peer;
        for _ in 0..step {
            candidate = NodeId(((u64::from(candidate.0) + 1) % n) as u16);
            if candidate == self.id {
                candidate = NodeId(((u64::from(candidate.0) + 1) % n) as u16);
            }
        }
        candidate
    }

    fn retry_sync(&mut self) {
        self.retry_chain_sync();
        let requests: Vec<(Digest, NodeId, u16)> =
            self.sync_requests.iter().map(|(digest, (peer, attempts))| (*digest, *peer, *attempts)).collect();
        for (digest, first_peer, attempts) in requests {
            let attempts = attempts.saturating_add(1);
            if attempts >= SYNC_ATTEMPTS_MAX {
                self.sync_requests.remove(&digest);
                if let Some(children) = self.orphans.remove(&digest) {
                    self.orphan_count -= children.len();
                }
                continue;
            }
            self.sync_requests.insert(digest, (first_peer, attempts));
            let peer = self.next_peer(first_peer, attempts);
            self.observe(Event::SyncRequested { digest, to: peer });
            self.send(peer, ConsensusMessage::SyncRequest { digest });
        }
        if !self.sync_requests.is_empty() || self.chain_sync.is_some() {
            self.set_timer(Timer::SyncRetry, self.now.plus_ms(self.params.sync_retry_ms));
        }
    }

    /// Answers to `requester`: the sender the transport authenticated, never a name in the
    /// message (a request naming someone else would make us send blocks to a third party).
    fn on_sync_request(&mut self, requester: NodeId, digest: Digest) {
        if requester == self.id {
            return;
        }
        if let Err(error) = self.serve_budget.spend(requester, self.now, 1) {
            self.reject(requester, "sync-request", &error);
            return;
        }
        match self.blocks.get(&digest) {
            Some(block) => {
                let block = block.clone();
                self.observe(Event::SyncServed { digest, to: requester });
                self.send(requester, ConsensusMessage::SyncResponse(block));
            }
            None => self.emit_visible(Action::ServeFromStore { digest, to: requester }),
        }
    }

    fn on_sync_response(&mut self, from: NodeId, block: Block) {
        let digest = block.digest();
        if self.sync_requests.remove(&digest).is_none() {
            if !self.blocks.contains_key(&digest) {
                self.reject(from, "sync-response", &Error::Unsolicited(digest));
            }
            return;
        }
        self.process_qc(&block.qc);
        if let Some(tc) = &block.tc {
            self.process_tc(tc);
        }
        self.accept_block(from, block);
    }

    // ---------------------------------------------------------------------------------------
    // Catch-up by ranges of the committed chain (see `CHAIN_SYNC_GAP`).

    /// We saw a block at `height` and are far below it: start (or extend) a catch-up, asking
    /// `peer` first.
    fn catch_up(&mut self, height: Height, peer: NodeId) {
        if let Some(sync) = &mut self.chain_sync {
            sync.target = sync.target.max(height);
            return;
        }
        let peer = if peer == self.id { self.next_peer(peer, 1) } else { peer };
        if self.sync_requests.is_empty() {
            self.set_timer(Timer::SyncRetry, self.now.plus_ms(self.params.sync_retry_ms));
        }
        self.chain_sync =
            Some(ChainSync { target: height, first_peer: peer, attempts: 0, peer, asked_at: self.now });
        self.request_chain();
    }

    /// Asks the current peer of the catch-up for the next range above our last commit.
    fn request_chain(&mut self) {
        let above = self.committed.height;
        let Some(sync) = &mut self.chain_sync else { return };
        sync.asked_at = self.now;
        let to = sync.peer;
        self.observe(Event::ChainRequested { above, to });
        self.send(to, ConsensusMessage::ChainRequest { above, max: CHAIN_BLOCKS_MAX });
    }

    /// The catch-up's peer did not answer in time (or had nothing): ask the next one, or give up
    /// after [`SYNC_ATTEMPTS_MAX`] (a later block far ahead starts a new catch-up).
    fn next_chain_peer(&mut self) {
        let Some(sync) = &mut self.chain_sync else { return };
        sync.attempts = sync.attempts.saturating_add(1);
        let (first_peer, attempts) = (sync.first_peer, sync.attempts);
        if attempts >= SYNC_ATTEMPTS_MAX {
            self.finish_catch_up();
            return;
        }
        let peer = self.next_peer(first_peer, attempts);
        if let Some(sync) = &mut self.chain_sync {
            sync.peer = peer;
        }
        self.request_chain();
    }

    fn retry_chain_sync(&mut self) {
        let overdue = self
            .chain_sync
            .as_ref()
            .is_some_and(|sync| self.now >= sync.asked_at.plus_ms(self.params.sync_retry_ms));
        if overdue {
            self.next_chain_peer();
        }
    }

    /// The catch-up is over (we are within the gap, or no peer helped): the blocks parked while
    /// it ran walk back to what we now hold, one missing parent each.
    fn finish_catch_up(&mut self) {
        let Some(sync) = self.chain_sync.take() else { return };
        // Only the bottoms of the parked chains: a parent that is itself parked comes with them.
        let parked: BTreeSet<Digest> =
            self.orphans.values().flat_map(|children| children.iter().map(|(d, _)| *d)).collect();
        let missing: Vec<Digest> = self
            .orphans
            .keys()
            .filter(|parent| !self.blocks.contains_key(*parent) && !parked.contains(*parent))
            .copied()
            .collect();
        for (i, parent) in missing.into_iter().enumerate() {
            let peer = self.next_peer(sync.peer, i as u16);
            self.request_block(parent, peer);
        }
    }

    /// Serves committed blocks above `above` to `requester` (the authenticated sender): from
    /// memory when the range starts there, otherwise from the store's commit index.
    fn on_chain_request(&mut self, requester: NodeId, above: Height, max: u16) {
        if requester == self.id {
            return;
        }
        if let Err(error) = self.serve_budget.spend(requester, self.now, u64::from(max.max(1))) {
            self.reject(requester, "chain-request", &error);
            return;
        }
        // Below what the store keeps, the range starts where it does: the requester installs
        // its oldest block as a checkpoint.
        let above = above.max(self.retained_from() - 1);
        if above >= self.committed.height {
            // Nothing to give: say so at once, so the requester asks someone else.
            self.observe(Event::ChainServed { above, blocks: 0, to: requester });
            self.send(requester, ConsensusMessage::ChainResponse(Vec::new()));
            return;
        }
        let last = self.committed.height.min(above + u64::from(max));
        // The committed chain in memory, newest first, down to the first height asked.
        let mut chain = Vec::new();
        let mut cursor = self.committed_digest;
        while let Some(block) = self.blocks.get(&cursor) {
            if block.height <= above {
                break;
            }
            if block.height <= last {
                chain.push(block);
            }
            cursor = block.parent();
        }
        if chain.last().is_none_or(|oldest| oldest.height != above + 1) {
            // The range starts below what memory holds.
            self.emit_visible(Action::ServeChainFromStore { above, max, to: requester });
            return;
        }
        let mut blocks = Vec::with_capacity(chain.len());
        let mut bytes = 0;
        for block in chain.into_iter().rev() {
            bytes += crate::codec::encode_value(block).len();
            if bytes > CHAIN_RESPONSE_BYTES_MAX && !blocks.is_empty() {
                break;
            }
            blocks.push(block.clone());
        }
        self.observe(Event::ChainServed { above, blocks: blocks.len() as u32, to: requester });
        self.send(requester, ConsensusMessage::ChainResponse(blocks));
    }

    /// Links a range of the committed chain from the catch-up's peer, then asks for the next.
    /// Is a chain response from `from` one we asked for?
    fn expecting_chain_from(&self, from: NodeId) -> Result<(), Error> {
        match &self.chain_sync {
            None => Err(Error::MalformedChain("no chain request is outstanding")),
            Some(sync) if sync.peer != from => Err(Error::MalformedChain("not from the peer asked")),
            Some(_) => Ok(()),
        }
    }

    /// Only reached for a response `on_message` found was asked for (`expecting_chain_from`).
    fn on_chain_response(&mut self, from: NodeId, blocks: Vec<Block>) {
        // Blocks at or below our commit (we may have committed some since asking) are skipped;
        // the first new one must be the next height and extend our last commit, or the range is
        // no use to us (and a block off our committed chain at a committed height could only
        // hand batches back to be proposed again).
        let committed = self.committed.height;
        let fresh: Vec<Block> = blocks.into_iter().filter(|b| b.height > committed).collect();
        let Some(first) = fresh.first() else {
            self.next_chain_peer();
            return;
        };
        let extends = first.height == committed + 1 && first.parent() == self.committed_digest;
        let refused = if extends {
            None
        } else if first.height > committed + 1 {
            self.install_checkpoint(from, &fresh).err()
        } else {
            Some("the first new block does not extend our last commit")
        };
        if let Some(why) = refused {
            self.reject(from, "chain-response", &Error::MalformedChain(why));
            self.next_chain_peer();
            return;
        }
        let newest = fresh.last().expect("non-empty").clone();
        let linked_from = self.committed.height;
        for block in fresh.into_iter().filter(|block| block.height > linked_from) {
            // Each block's QC certifies its parent: linking it applies the lock and the commit
            // rule to that QC, so the range commits as it links.
            self.link(block);
        }
        // The newest QC and TC may move our round on (older ones cannot).
        self.process_qc(&newest.qc);
        if let Some(tc) = &newest.tc {
            self.process_tc(tc);
        }
        let gained = self.committed.height - committed;
        let far =
            self.chain_sync.as_ref().is_some_and(|sync| sync.target > self.committed.height + CHAIN_SYNC_GAP);
        if !far {
            self.finish_catch_up();
        } else if gained >= u64::from(CHAIN_BLOCKS_MAX / 2) {
            // A useful range: ask the same peer for the next one. (Spreading the ranges over
            // peers would share the load, but a crashed peer in the rotation costs a retry
            // delay each time round: with one of three peers down, catching up 10,000 blocks
            // took 49 s instead of 9.)
            if let Some(sync) = &mut self.chain_sync {
                (sync.attempts, sync.first_peer) = (0, from);
            }
            self.request_chain();
        } else {
            // Far behind and this peer had little to give (it is behind too, or it is
            // withholding): it counts as a failed attempt, and the next peer is asked.
            self.next_chain_peer();
        }
    }

    /// A range that starts above our next height: the peer no longer keeps the blocks we lack.
    /// If the range is one chain (each block's QC certifies the one before) and the commit rule
    /// commits one of its blocks from inside the range, its first block is committed too (an
    /// ancestor of a committed block), whatever the peer is: the QCs are signed by quorums. We
    /// take it as our last commit and link the rest from it. What is lost, and said in the
    /// docs: the heights between (never delivered here), the batches they committed (a leader
    /// replaying one of those gets this replica's vote; the others refuse it), and our pending
    /// batches (dropped: some may have committed in the gap, and proposing one again would fail
    /// each of our rounds). Returns why not, if it installed none.
    fn install_checkpoint(&mut self, from: NodeId, range: &[Block]) -> Result<(), &'static str> {
        let linked = range
            .windows(2)
            .all(|pair| pair[1].parent() == pair[0].digest() && pair[1].height == pair[0].height + 1);
        let Some(base) = range.first().filter(|base| linked && base.round > self.committed.round) else {
            return Err("a range above our next height that is not one chain above our last commit");
        };
        // An honest peer starts a range above what we asked only where it pruned: at its own
        // last commit less `retain_heights`, which is at most the highest height we have seen
        // (the block that told us we were behind, and what came since), give or take the
        // commits of a round trip. (The committee shares its parameters, so the peer's
        // `retain_heights` is ours.) A Byzantine peer serving a proven range nearer the tip
        // would make us skip history the others still keep: refused, and the next peer is asked.
        let tip = self.chain_sync.as_ref().map_or(0, |sync| sync.target).max(self.high_qc.height);
        if base.height + self.params.retain_heights > tip + 1 + CHECKPOINT_SLACK {
            return Err("a range that starts nearer the tip than peers prune to");
        }
        // The commit rule on each certified block of the range (the last one has no QC here).
        let depth = safety::chain_depth(self.params.commit_rule);
        let proven = (depth.saturating_sub(1)..range.len().saturating_sub(1)).rev().find_map(|top| {
            let chain: Vec<&Block> = range[top + 1 - depth..=top].iter().rev().collect();
            let head = safety::committed_by(self.params.commit_rule, &chain)?;
            // The rounds of the deciding chain, oldest first (as `commit` reports them).
            Some((head.height, chain.iter().rev().map(|b| b.round).collect::<Vec<Round>>()))
        });
        let Some((proven_by, chain)) = proven else {
            return Err("a range above our next height that does not prove its first block committed");
        };
        let base = base.clone();
        self.observe(Event::CheckpointInstalled {
            from_height: self.committed.height,
            height: base.height,
            round: base.round,
            proven_by,
            from,
        });
        // Everything we hold at or below the checkpoint is history now, committed in the gap
        // or abandoned: it leaves without handing its batches back (some of them committed in
        // the gap, which we cannot tell), and so do our pending batches.
        self.blocks.retain(|_, block| block.height > base.height);
        self.included = self.blocks.values().flat_map(|b| b.payload.iter().map(|d| (*d, b.round))).collect();
        self.included.extend(base.payload.iter().map(|d| (*d, base.round)));
        self.pending.clear();
        self.pending_index.clear();
        self.committed_digest = base.digest();
        self.committed = base.clone();
        self.history_from = base.height;
        self.blocks.insert(base.digest(), base.clone());
        self.dirty = true;
        if let Some(reputation) = self.reputation.as_mut() {
            // A gap in the history: it rebuilds its window from here (round-robin meanwhile).
            reputation.committed(&base);
        }
        self.observe(Event::BlockCommitted { block: BlockInfo::from(&base), chain });
        self.remember_committed(base.height, &base.payload);
        // Stored, like every block we link: peers catching up are served it from the store.
        self.actions.push(Action::StoreBlock(base.clone()));
        self.actions.push(Action::Commit(base));
        self.garbage_collect();
        self.prune();
        Ok(())
    }

    // ---------------------------------------------------------------------------------------

    /// Internal invariants, checked after every input. A failure is a bug in this file.
    fn check_invariants(&self) {
        assert!(self.high_qc.round < self.round || self.round == 0, "the high QC is from a past round");
        assert!(self.committed.round <= self.high_qc.round, "commits are certified");
        assert!(self.last_proposed_round <= self.round, "never propose ahead of our round");
        assert!(self.blocks.contains_key(&self.committed_digest), "the committed block stays in memory");
        debug_assert_eq!(self.pending.len(), self.pending_index.len());
        debug_assert_eq!(self.orphan_count, self.orphans.values().map(Vec::len).sum::<usize>());
    }
}

#[cfg(test)]
mod tests;
