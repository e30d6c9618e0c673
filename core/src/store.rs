//! The store: a command vocabulary (write, read, notify-read) served by the store actor, and the
//! backends behind it.
//!
//! Consensus and mempool never touch a store directly; they emit actions, and their actor shells
//! turn those into [`StoreCommand`]s answered over oneshot channels. A backend is a plain
//! synchronous key-value map: [`MemStore`] here (simulator, page, tests), an embedded database in
//! the native node. Store failures are not recoverable protocol errors: a replica that cannot
//! persist its safety state must stop (the actor panics with the backend's error).

use crate::types::Digest;
use futures::channel::oneshot;
use std::collections::BTreeMap;
use std::fmt;

/// A key in the store.
pub type Key = Vec<u8>;
/// A value in the store.
pub type Value = Vec<u8>;

/// The key of the consensus persistent state.
pub const STATE_KEY: &[u8] = b"consensus/state";

/// The key of a block.
pub fn block_key(digest: &Digest) -> Key {
    [b"block/".as_slice(), &digest.0].concat()
}

/// The prefix of the commit index keys ([`commit_key`]).
pub const COMMIT_PREFIX: &[u8] = b"commit/";

/// The key of the commit index entry at `height`: the digest of the block committed there. The
/// consensus actor writes it durably (with the safety state, in the same group as the `Persist`
/// that records the commit or an earlier one) as each commit is delivered, so the index never
/// has a gap below the recovered commit: it is the stream an application reads, by height, with
/// its own cursor ([`read_commits`]). Peers catching up read ranges of it (`ChainRequest`).
/// Big-endian, so the keys sort by height.
pub fn commit_key(height: crate::types::Height) -> Key {
    [COMMIT_PREFIX, &height.to_be_bytes()].concat()
}

/// The height of a commit index key, if `key` is one.
fn commit_height(key: &[u8]) -> Option<crate::types::Height> {
    let bytes = key.strip_prefix(COMMIT_PREFIX)?;
    Some(crate::types::Height::from_be_bytes(bytes.try_into().ok()?))
}

/// One entry of the commit stream: the block committed at `height`, and the block itself if this
/// store still holds it (blocks are written behind: a crash may lose the newest from disk, and
/// the replica fetches them again from its peers only if it needs them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitEntry {
    /// The committed height.
    pub height: crate::types::Height,
    /// The block committed there.
    pub digest: Digest,
    /// The block, if stored.
    pub block: Option<crate::messages::Block>,
}

/// The commit stream from `from` on, at most `count` entries, in height order: what an
/// application reads, remembering the height it got to (its cursor) and asking for the next one
/// after a restart (of itself or of the replica). Each height is there exactly once, and never
/// changes. It starts at the lowest height the store still holds at or above `from` (heights
/// below [`first_commit`] were pruned, see [`prune_committed`]) and stops at the first gap: the
/// end of the index, or a stretch this replica skipped by installing a checkpoint (it never
/// committed those heights itself; the next call from after the gap goes on).
pub fn read_commits(
    backend: &impl StoreBackend,
    from: crate::types::Height,
    count: usize,
) -> Result<Vec<CommitEntry>, StoreError> {
    let mut entries = Vec::new();
    let Some(first) = first_commit(backend, from)? else { return Ok(entries) };
    for height in first..first.saturating_add(count as u64) {
        let Some(value) = backend.read(&commit_key(height))? else { break };
        let digest = Digest(<[u8; 32]>::try_from(value.as_slice()).map_err(|_| corrupt(height))?);
        let block = match backend.read(&block_key(&digest))? {
            Some(bytes) => Some(
                crate::codec::decode_value::<crate::messages::Block>(&bytes).map_err(|_| corrupt(height))?,
            ),
            None => None,
        };
        entries.push(CommitEntry { height, digest, block });
    }
    Ok(entries)
}

/// The lowest height at or above `from` in the commit index, if any.
pub fn first_commit(
    backend: &impl StoreBackend,
    from: crate::types::Height,
) -> Result<Option<crate::types::Height>, StoreError> {
    Ok(backend.next_entry(&commit_key(from))?.and_then(|(key, _)| commit_height(&key)))
}

fn corrupt(height: crate::types::Height) -> StoreError {
    StoreError(format!("the commit index entry at height {height} (or its block) does not decode"))
}

/// What a restarted replica's mempool must know of the batches of its committed blocks
/// ([`committed_batches`], [`crate::Mempool::recovering`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommittedBatches {
    /// The committed blocks whose batches this store lacks, as `(height, author, missing
    /// batches)` in height order: the backfill still to do.
    pub missing: Vec<(crate::types::Height, crate::types::NodeId, Vec<Digest>)>,
    /// The committed batches it holds, oldest first: a copy of one arriving late (an answer to a
    /// request sent before the crash) is not news to offer consensus, which would propose it
    /// again.
    pub stored: Vec<Digest>,
}

/// The batches of the blocks in the commit index, split into those this store lacks and those
/// it holds: the newest `limit` heights of the former, the newest
/// [`crate::mempool::STORED_DIGESTS_MAX`] of the latter. A replica commits blocks without their
/// batches when it catches up by ranges or installs a checkpoint; the mempool then fetches the
/// batches and stores them (the backfill), so the store itself records what is still missing,
/// and a crash in the middle loses nothing. It walks the commit index (at most `retain_heights`
/// entries) and reads each block; a block not on disk (written behind, lost in a crash) is
/// skipped, its batches unknown here. Both hosts call it at boot.
pub fn committed_batches(backend: &impl StoreBackend, limit: usize) -> Result<CommittedBatches, StoreError> {
    // The newest of each: the mempool gives up the oldest heights first, and remembers only the
    // newest stored digests.
    let stored_max = crate::mempool::STORED_DIGESTS_MAX;
    let (mut missing, mut stored) = (std::collections::VecDeque::new(), std::collections::VecDeque::new());
    let mut cursor = commit_key(0);
    while let Some((key, value)) = backend.next_entry(&cursor)? {
        let Some(height) = commit_height(&key) else { break };
        cursor = commit_key(height + 1);
        let Ok(digest) = <[u8; 32]>::try_from(value.as_slice()) else { return Err(corrupt(height)) };
        let Some(bytes) = backend.read(&block_key(&Digest(digest)))? else { continue };
        let block: crate::messages::Block =
            crate::codec::decode_value(&bytes).map_err(|_| corrupt(height))?;
        let mut lacking = Vec::new();
        for batch in &block.payload {
            if backend.contains(&batch_key(batch))? {
                stored.push_back(*batch);
                if stored.len() > stored_max {
                    stored.pop_front();
                }
            } else {
                lacking.push(*batch);
            }
        }
        if !lacking.is_empty() {
            missing.push_back((height, block.author, lacking));
            if missing.len() > limit {
                missing.pop_front();
            }
        }
    }
    Ok(CommittedBatches { missing: missing.into(), stored: stored.into() })
}

/// Forgets the committed history below `below`: each commit index entry under it, the block it
/// names and that block's batches (a batch commits once, so no later block needs them). Returns
/// how many heights went. The consensus state machine decides `below` (its last commit minus
/// `Parameters::retain_heights`, see `Action::Prune`); the store actor calls this. It walks the
/// index from its lowest entry, so an earlier prune a crash interrupted is finished here, and a
/// stretch the replica never held costs nothing.
pub fn prune_committed(
    backend: &mut impl StoreBackend,
    below: crate::types::Height,
) -> Result<usize, StoreError> {
    let mut pruned = 0;
    let mut keys = Vec::new();
    // A cursor, not the prefix each time: a backend may hide deleted keys only lazily (redb's
    // safety file until its next transaction), and skipping them again would be quadratic.
    let mut cursor = commit_key(0);
    while let Some((key, value)) = backend.next_entry(&cursor)? {
        let Some(height) = commit_height(&key).filter(|height| *height < below) else { break };
        cursor = commit_key(height + 1);
        if let Ok(digest) = <[u8; 32]>::try_from(value.as_slice()) {
            let digest = Digest(digest);
            if let Some(bytes) = backend.read(&block_key(&digest))? {
                if let Ok(block) = crate::codec::decode_value::<crate::messages::Block>(&bytes) {
                    keys.extend(block.payload.iter().map(batch_key));
                }
                keys.push(block_key(&digest));
            }
        }
        keys.push(key);
        backend.delete(std::mem::take(&mut keys))?;
        pruned += 1;
    }
    Ok(pruned)
}

/// The key of the durable record of the batches committed at `height`: a ring of
/// [`COMMITTED_BATCHES_WINDOW`] slots (`height % window`), so the record stays the same size
/// however long the replica runs. The consensus actor writes it durably as each commit with
/// payload is delivered, in the same group as the `Persist` that records the commit (blocks are
/// written behind, and a crash of the process may lose their last second on disk: a natively
/// restarted replica could not read its recent commits back from them).
/// The value is `(height, batch digests)`.
///
/// [`COMMITTED_BATCHES_WINDOW`]: crate::consensus::COMMITTED_BATCHES_WINDOW
pub fn committed_batches_key(height: crate::types::Height) -> Key {
    let slot = height % crate::consensus::COMMITTED_BATCHES_WINDOW;
    [b"committed-batches/".as_slice(), &slot.to_be_bytes()].concat()
}

/// The batches committed in the window below and at `committed_height`, as
/// `(height, digests)` oldest first, read back from the ring of [`committed_batches_key`] for a
/// replica that restarts ([`crate::Consensus::remembering_committed`]). Both hosts call it with
/// their backend's read. Slots holding an older height (or nothing) are skipped. (A crash
/// between the record of a commit and the `Persist` that records it leaves a record above the
/// recovered commit; it took the slot of the window's oldest height, which is then missing.)
pub fn recent_commits<E>(
    committed_height: crate::types::Height,
    mut read: impl FnMut(&[u8]) -> Result<Option<Value>, E>,
) -> Result<Vec<(crate::types::Height, Vec<Digest>)>, E> {
    let window = crate::consensus::COMMITTED_BATCHES_WINDOW;
    let floor = committed_height.saturating_sub(window);
    let mut commits = Vec::new();
    for height in (floor + 1)..=committed_height {
        let Some(bytes) = read(&committed_batches_key(height))? else { continue };
        match crate::codec::decode_value::<(crate::types::Height, Vec<Digest>)>(&bytes) {
            Ok((at, digests)) if at == height => commits.push((at, digests)),
            _ => {}
        }
    }
    Ok(commits)
}

/// The blocks committed at the `count` heights up to and including `committed_height`, oldest
/// first, read back through the commit index ([`commit_key`], [`block_key`]) for a replica that
/// restarts under leader reputation ([`crate::Consensus::remembering_chain`]; how many:
/// [`crate::consensus::reputation::remembered_blocks`]). Blocks are written behind, so the
/// newest may be missing after a crash: only the run of heights that ends at the first gap from the
/// top is returned, and an empty list if `committed_height` itself is missing (the replica then
/// rebuilds its history as it commits).
pub fn recent_chain<E>(
    committed_height: crate::types::Height,
    count: crate::types::Height,
    mut read: impl FnMut(&[u8]) -> Result<Option<Value>, E>,
) -> Result<Vec<crate::messages::Block>, E> {
    let mut blocks = Vec::new();
    let floor = committed_height.saturating_sub(count);
    for height in ((floor + 1)..=committed_height).rev() {
        let digest = read(&commit_key(height))?.and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok());
        let Some(digest) = digest else { break };
        let Some(bytes) = read(&block_key(&Digest(digest)))? else { break };
        // Our own store: a block that does not decode, or is not the one indexed, ends the run.
        match crate::codec::decode_value::<crate::messages::Block>(&bytes) {
            Ok(block) if block.height == height && block.digest() == Digest(digest) => blocks.push(block),
            _ => break,
        }
    }
    blocks.reverse();
    Ok(blocks)
}

/// The key of a batch.
pub fn batch_key(digest: &Digest) -> Key {
    [b"batch/".as_slice(), &digest.0].concat()
}

/// A request to the store actor.
#[derive(Debug)]
pub enum StoreCommand {
    /// Write `value` under `key`. With an `ack`, the write is durable when the ack is answered
    /// (the persist-before-send rule waits for it); without, it is visible to later reads at once
    /// and made durable at the backend's pace ([`StoreBackend::write_behind`]).
    Write {
        /// Key.
        key: Key,
        /// Value.
        value: Value,
        /// Durability acknowledgement.
        ack: Option<oneshot::Sender<()>>,
    },
    /// Read `key` now.
    Read {
        /// Key.
        key: Key,
        /// The value, if present.
        reply: oneshot::Sender<Option<Value>>,
    },
    /// Answer when `key` has a value (at once if it has one already).
    NotifyRead {
        /// Key.
        key: Key,
        /// The value, once present.
        reply: oneshot::Sender<Value>,
    },
    /// Forget the committed history below this height ([`prune_committed`]).
    Prune {
        /// The lowest height kept.
        below: crate::types::Height,
    },
}

/// A backend failure (I/O error, corruption). Fatal for the replica.
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store failure: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// A synchronous key-value backend.
pub trait StoreBackend {
    /// Writes durably: when this returns, the value survives a crash.
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Reads a value.
    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError>;
    /// Whether `key` has a value. A backend that can answer without copying the value (a batch
    /// is up to half a megabyte) should.
    fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.read(key)?.is_some())
    }
    /// Writes several values durably, in order (a later value for the same key wins). A backend
    /// that can make them durable together (one transaction, one fsync) should: the store actor
    /// groups the writes that queue up while it is busy, so one disk sync covers them all.
    fn write_many(&mut self, items: &[(Key, Value)]) -> Result<(), StoreError> {
        items.iter().try_for_each(|(key, value)| self.write(key, value))
    }
    /// Writes nobody waits for (blocks and batches: nothing is sent on the strength of them
    /// being on disk). They must be visible to reads as soon as this returns; a backend may make
    /// them durable later, off the caller's path, so a crash can lose the most recent ones (a
    /// restarted replica fetches what it lacks from its peers). The default writes them durably
    /// at once.
    ///
    /// The core writes every key one way only: its safety state acknowledged ([`Self::write_many`]),
    /// blocks and batches behind. A backend may rely on that.
    fn write_behind(&mut self, items: Vec<(Key, Value)>) -> Result<(), StoreError> {
        self.write_many(&items)
    }
    /// Removes `keys` (pruned history): gone for reads as soon as this returns; a backend may
    /// reclaim the space later, and a crash may bring the newest deletions back (a later prune
    /// removes them again).
    fn delete(&mut self, keys: Vec<Key>) -> Result<(), StoreError>;
    /// The entry with the lowest key at or above `from`, if any (the commit index is walked
    /// with it: its keys sort by height).
    fn next_entry(&self, from: &[u8]) -> Result<Option<(Key, Value)>, StoreError>;
}

/// An in-memory backend with deterministic (sorted) iteration order. "Durable" here means it
/// survives the simulated crash of its replica: the simulator keeps the map when it drops the
/// replica's actors.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    map: BTreeMap<Key, Value>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Reads a value without going through the actor (for hosts at boot, and for tests).
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.map.get(key)
    }

    /// How many keys start with `prefix` (`b"block/"`, [`COMMIT_PREFIX`], …): what a replica
    /// holds of each kind.
    pub fn count_prefix(&self, prefix: &[u8]) -> usize {
        self.map.range(prefix.to_vec()..).take_while(|(key, _)| key.starts_with(prefix)).count()
    }
}

impl StoreBackend for MemStore {
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        Ok(self.map.get(key).cloned())
    }

    fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.map.contains_key(key))
    }

    fn delete(&mut self, keys: Vec<Key>) -> Result<(), StoreError> {
        for key in keys {
            self.map.remove(&key);
        }
        Ok(())
    }

    fn next_entry(&self, from: &[u8]) -> Result<Option<(Key, Value)>, StoreError> {
        Ok(self.map.range(from.to_vec()..).next().map(|(k, v)| (k.clone(), v.clone())))
    }
}

impl<B: StoreBackend + ?Sized> StoreBackend for Box<B> {
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        (**self).write(key, value)
    }

    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        (**self).read(key)
    }

    fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        (**self).contains(key)
    }

    fn write_many(&mut self, items: &[(Key, Value)]) -> Result<(), StoreError> {
        (**self).write_many(items)
    }

    fn write_behind(&mut self, items: Vec<(Key, Value)>) -> Result<(), StoreError> {
        (**self).write_behind(items)
    }

    fn delete(&mut self, keys: Vec<Key>) -> Result<(), StoreError> {
        (**self).delete(keys)
    }

    fn next_entry(&self, from: &[u8]) -> Result<Option<(Key, Value)>, StoreError> {
        (**self).next_entry(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Block;

    /// A chain of `count` blocks on genesis, each committed in the index with one batch.
    fn committed_chain(store: &mut MemStore, count: u64) -> Vec<Block> {
        let keys = crate::KeyPair::from_seed(1, 0);
        let mut blocks = Vec::new();
        let mut qc = crate::QuorumCert::genesis();
        for height in 1..=count {
            let batch = Digest::of(&height.to_le_bytes());
            let block = Block::new(&keys, crate::NodeId(0), height, qc.clone(), None, vec![batch]);
            store.write(&block_key(&block.digest()), &crate::codec::encode_value(&block)).unwrap();
            store.write(&batch_key(&batch), b"transactions").unwrap();
            store.write(&commit_key(height), &block.digest().0).unwrap();
            qc = crate::QuorumCert { block: block.digest(), round: height, height, votes: Vec::new() };
            blocks.push(block);
        }
        blocks
    }

    #[test]
    fn pruning_forgets_the_index_blocks_and_batches_below_the_height_and_keeps_the_rest() {
        let mut store = MemStore::new();
        let blocks = committed_chain(&mut store, 10);
        assert_eq!(prune_committed(&mut store, 4).unwrap(), 3);
        assert_eq!(store.count_prefix(COMMIT_PREFIX), 7);
        assert_eq!(store.count_prefix(b"block/"), 7);
        assert_eq!(store.count_prefix(b"batch/"), 7);
        assert!(store.get(&block_key(&blocks[2].digest())).is_none());
        assert!(store.get(&block_key(&blocks[3].digest())).is_some());
        // Again at the same height: nothing left to do.
        assert_eq!(prune_committed(&mut store, 4).unwrap(), 0);
    }

    #[test]
    fn the_batches_to_backfill_are_those_of_committed_blocks_the_store_lacks_and_the_others_are_known_stored()
    {
        let mut store = MemStore::new();
        let blocks = committed_chain(&mut store, 6);
        let all: Vec<Digest> = blocks.iter().map(|block| block.payload[0]).collect();
        assert_eq!(
            committed_batches(&store, 100).unwrap(),
            CommittedBatches { missing: vec![], stored: all.clone() }
        );
        // Heights 2 and 5 were committed without their batches (caught up by ranges), and the
        // block of height 4 was lost from disk: its batches are unknown here.
        store.delete(vec![batch_key(&blocks[1].payload[0]), batch_key(&blocks[4].payload[0])]).unwrap();
        store.delete(vec![batch_key(&blocks[3].payload[0]), block_key(&blocks[3].digest())]).unwrap();
        let batches = committed_batches(&store, 100).unwrap();
        assert_eq!(
            batches.missing,
            vec![
                (2, crate::NodeId(0), blocks[1].payload.clone()),
                (5, crate::NodeId(0), blocks[4].payload.clone())
            ]
        );
        assert_eq!(batches.stored, vec![all[0], all[2], all[5]]);
        assert_eq!(
            committed_batches(&store, 1).unwrap().missing,
            batches.missing[1..],
            "the newest `limit` heights"
        );
    }

    #[test]
    fn the_commit_stream_starts_at_the_lowest_height_kept_and_stops_at_the_first_gap() {
        let mut store = MemStore::new();
        let blocks = committed_chain(&mut store, 10);
        prune_committed(&mut store, 4).unwrap();
        // A gap at 8 (a checkpoint skipped it, say).
        store.delete(vec![commit_key(8)]).unwrap();
        let entries = read_commits(&store, 1, 100).unwrap();
        let heights: Vec<u64> = entries.iter().map(|e| e.height).collect();
        assert_eq!(heights, vec![4, 5, 6, 7]);
        assert_eq!(entries[0].digest, blocks[3].digest());
        assert_eq!(entries[0].block.as_ref(), Some(&blocks[3]));
        let after_gap: Vec<u64> = read_commits(&store, 8, 100).unwrap().iter().map(|e| e.height).collect();
        assert_eq!(after_gap, vec![9, 10]);
        assert_eq!(read_commits(&store, 5, 2).unwrap().len(), 2, "at most `count`");
        assert!(read_commits(&store, 11, 100).unwrap().is_empty());
    }
}
