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

/// The key of the commit index entry at `height`: the digest of the block committed there. The
/// consensus actor writes it (behind) as each commit is delivered; peers catching up read ranges
/// of it (`ChainRequest`). Big-endian, so the keys sort by height.
pub fn commit_key(height: crate::types::Height) -> Key {
    [b"commit/".as_slice(), &height.to_be_bytes()].concat()
}

/// The key of the durable record of the batches committed at `height`: a ring of
/// [`COMMITTED_BATCHES_WINDOW`] slots (`height % window`), so the record stays the same size
/// however long the replica runs. The consensus actor writes it durably as each commit with
/// payload is delivered, in the same group as the `Persist` that records the commit (blocks and
/// the commit index are written behind, and a crash of the process may lose their last second
/// on disk: a natively restarted replica could not read its recent commits back from them).
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
/// [`crate::consensus::reputation::remembered_blocks`]). Both are written behind, so the newest
/// may be missing after a crash: only the run of heights that ends at the first gap from the
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
}

impl StoreBackend for MemStore {
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        Ok(self.map.get(key).cloned())
    }
}

impl<B: StoreBackend + ?Sized> StoreBackend for Box<B> {
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        (**self).write(key, value)
    }

    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        (**self).read(key)
    }
}
