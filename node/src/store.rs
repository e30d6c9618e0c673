//! The on-disk [`StoreBackend`]: two redb databases per replica.
//!
//! - `safety.redb` takes the writes the store actor acknowledges ([`StoreBackend::write`] and
//!   [`StoreBackend::write_many`]): the consensus safety state. Each call is one redb transaction
//!   with the default durability (`Immediate`: fsync before `commit` returns), so an
//!   acknowledged write survives a crash or a power cut. This is what the persist-before-send
//!   rule relies on. The file stays tiny, so its fsync is cheap.
//! - `store.redb` takes the writes nobody waits for ([`StoreBackend::write_behind`]): blocks
//!   and batches, tens of megabytes a second under load. A writer thread of its own commits them
//!   off the store actor's path, so the safety state never waits for a batch to reach the disk:
//!   one fsynced transaction per [`BEHIND_COMMIT_INTERVAL`] (or per [`BEHIND_COMMIT_BYTES`]),
//!   whatever arrived meanwhile. Until its transaction is committed a write is served to reads
//!   from memory. A crash loses at most the writes of the last interval; a restarted replica
//!   fetches missing blocks and batches from its peers. A clean shutdown (dropping the store)
//!   commits everything first.
//!
//! The two files were one before, every write fsynced with the others: at 50,000 tx/s each
//! round's safety-state sync then also flushed the batches written since the last one. Only the
//! safety state belongs on that path. The writer then committed as soon as anything was queued,
//! a few hundred small transactions a second per replica: each rewrites redb's tree path and
//! flushes the disk, which cost half a core across a 4-replica testbed and slowed every safety
//! sync queued behind those flushes. Committing on an interval makes them few and large (see
//! BENCHMARKS.md for what each step bought).

use hotstuff_core::store::{Key, StoreBackend, StoreError, Value};
use redb::{Database, TableDefinition};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The single table of each file: the core's keys (`consensus/state`, `block/…`, `batch/…`, `commit/…`) to
/// values.
const TABLE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("hotstuff");

/// redb's page cache for the blocks and batches (its default is 1 GiB, too much for several
/// replicas on one machine).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// redb's page cache for the safety state (one small value).
const SAFETY_CACHE_BYTES: usize = 1024 * 1024;

/// The blocks-and-batches database file inside a replica's store directory.
pub const STORE_FILE: &str = "store.redb";

/// The safety-state database file inside a replica's store directory.
pub const SAFETY_FILE: &str = "safety.redb";

/// Groups of writes queued for the writer thread before [`StoreBackend::write_behind`] blocks
/// (backpressure: a disk slower than the traffic slows the store actor instead of growing memory
/// without bound). The thread takes groups off the queue while it gathers a transaction, so the
/// queue only fills while a commit is being written.
const BEHIND_QUEUE_GROUPS: usize = 256;

/// How long the writer thread gathers writes into one transaction, from the first write it
/// takes: what a crash may lose of the blocks and batches, and what bounds the writes held in
/// memory.
pub const BEHIND_COMMIT_INTERVAL: Duration = Duration::from_millis(50);

/// The most bytes the writer thread gathers into one transaction before committing it early.
const BEHIND_COMMIT_BYTES: usize = 16 * 1024 * 1024;

/// A value written behind, or `None` for a deletion (pruned history).
type PendingValue = Option<Arc<Value>>;

/// A write handed to the writer thread: its sequence number (so the thread removes from
/// `pending` only the value it wrote, not a newer one for the same key), key and value.
type BehindWrite = (u64, Key, PendingValue);

/// The state the store shares with its writer thread.
#[derive(Debug, Default)]
struct Behind {
    /// Writes not yet committed, served to reads: key → (sequence number, value, or `None` for
    /// a deletion).
    pending: Mutex<BTreeMap<Key, (u64, PendingValue)>>,
    /// The writer thread's failure, if it failed; every later call returns it.
    failure: Mutex<Option<String>>,
}

/// A replica's store: the safety database, the blocks-and-batches database and its writer
/// thread.
#[derive(Debug)]
pub struct RedbStore {
    safety: Database,
    safety_path: PathBuf,
    bulk: Arc<Database>,
    path: PathBuf,
    behind: Arc<Behind>,
    next_seq: u64,
    /// Keys of the safety file deleted since its last transaction: removed in the next one (a
    /// deletion is never waited for, so it rides on the next sync instead of paying its own),
    /// and hidden from reads until then.
    safety_deletes: std::collections::BTreeSet<Key>,
    /// `None` once dropped (the thread then commits what is queued and ends).
    to_writer: Option<SyncSender<Vec<BehindWrite>>>,
    writer: Option<JoinHandle<()>>,
}

impl RedbStore {
    /// Opens (or creates) `dir/safety.redb` and `dir/store.redb`, creating `dir` if needed, and
    /// starts the writer thread. Fails if another process (or another replica in this process)
    /// has them open.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create store directory {}: {e}", dir.display())))?;
        let safety_path = dir.join(SAFETY_FILE);
        let safety = open_database(&safety_path, SAFETY_CACHE_BYTES)?;
        let path = dir.join(STORE_FILE);
        let bulk = Arc::new(open_database(&path, CACHE_BYTES)?);
        let behind = Arc::new(Behind::default());
        let (to_writer, queue) = std::sync::mpsc::sync_channel(BEHIND_QUEUE_GROUPS);
        let writer = {
            let (bulk, behind, path) = (bulk.clone(), behind.clone(), path.clone());
            std::thread::Builder::new()
                .name("store writer".into())
                .spawn(move || write_behind_loop(&bulk, &behind, &path, &queue))
                .map_err(|e| StoreError(format!("cannot start the store writer thread: {e}")))?
        };
        Ok(Self {
            safety,
            safety_path,
            bulk,
            path,
            behind,
            next_seq: 0,
            safety_deletes: std::collections::BTreeSet::new(),
            to_writer: Some(to_writer),
            writer: Some(writer),
        })
    }

    /// The blocks-and-batches database file (the store's name in logs).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer thread's failure, if any.
    fn check_writer(&self) -> Result<(), StoreError> {
        match &*self.behind.failure.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(failure) => Err(StoreError(failure.clone())),
            None => Ok(()),
        }
    }
}

/// Opens or creates one database file and its table.
fn open_database(path: &Path, cache_bytes: usize) -> Result<Database, StoreError> {
    let error = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", path.display()));
    let db = Database::builder()
        .set_cache_size(cache_bytes)
        .create_with_file_format_v3(true)
        .create(path)
        .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
    // Create the table up front, so reads never meet a missing table.
    let txn = db.begin_write().map_err(|e| error(&e))?;
    txn.open_table(TABLE).map_err(|e| error(&e))?;
    txn.commit().map_err(|e| error(&e))?;
    Ok(db)
}

/// One durable redb transaction (one fsync) for all the entries: a value of `None` removes
/// the key.
fn commit_entries<'a>(
    db: &Database,
    path: &Path,
    entries: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
) -> Result<(), StoreError> {
    let error = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", path.display()));
    let txn = db.begin_write().map_err(|e| error(&e))?;
    {
        let mut table = txn.open_table(TABLE).map_err(|e| error(&e))?;
        for (key, value) in entries {
            match value {
                Some(value) => drop(table.insert(key, value).map_err(|e| error(&e))?),
                None => drop(table.remove(key).map_err(|e| error(&e))?),
            }
        }
    }
    txn.commit().map_err(|e| error(&e))
}

/// The first entry at or above `from` in a database file whose key `skip` does not hide.
fn next_in_file(
    db: &Database,
    path: &Path,
    from: &[u8],
    skip: impl Fn(&[u8]) -> bool,
) -> Result<Option<(Key, Value)>, StoreError> {
    let error = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", path.display()));
    let txn = db.begin_read().map_err(|e| error(&e))?;
    let table = txn.open_table(TABLE).map_err(|e| error(&e))?;
    for entry in table.range(from..).map_err(|e| error(&e))? {
        let (key, value) = entry.map_err(|e| error(&e))?;
        if !skip(key.value()) {
            return Ok(Some((key.value().to_vec(), value.value().to_vec())));
        }
    }
    Ok(None)
}

/// Reads one key from a database file.
fn read_entry(db: &Database, path: &Path, key: &[u8]) -> Result<Option<Value>, StoreError> {
    look_up(db, path, key, |value| value.to_vec())
}

/// Looks `key` up in one read transaction and maps the value found in place (a copy of it, or
/// only whether there is one).
fn look_up<T>(
    db: &Database,
    path: &Path,
    key: &[u8],
    map: impl FnOnce(&[u8]) -> T,
) -> Result<Option<T>, StoreError> {
    let error = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", path.display()));
    let txn = db.begin_read().map_err(|e| error(&e))?;
    let table = txn.open_table(TABLE).map_err(|e| error(&e))?;
    let value = table.get(key).map_err(|e| error(&e))?;
    Ok(value.map(|v| map(v.value())))
}

/// The writer thread: gathers the queued groups for [`BEHIND_COMMIT_INTERVAL`] (or up to
/// [`BEHIND_COMMIT_BYTES`]) and commits them in one transaction, until the store is dropped and
/// the queue is empty. On a failure it records it and stops; the store then fails every call,
/// and the store actor stops the replica.
fn write_behind_loop(bulk: &Database, behind: &Behind, path: &Path, queue: &Receiver<Vec<BehindWrite>>) {
    let size = |group: &[BehindWrite]| {
        group.iter().map(|(_, key, value)| key.len() + value.as_ref().map_or(0, |v| v.len())).sum::<usize>()
    };
    while let Ok(first) = queue.recv() {
        let deadline = Instant::now() + BEHIND_COMMIT_INTERVAL;
        let mut bytes = size(&first);
        let mut writes = first;
        while bytes < BEHIND_COMMIT_BYTES {
            match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(more) => {
                    bytes += size(&more);
                    writes.extend(more);
                }
                // Time is up, or the store is closing: commit what we have.
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let entries =
            writes.iter().map(|(_, key, value)| (key.as_slice(), value.as_deref().map(Vec::as_slice)));
        if let Err(e) = commit_entries(bulk, path, entries) {
            *behind.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.0);
            return;
        }
        // Committed: reads find these in the file now. A newer value for the same key (a later
        // sequence number) stays pending until its own group is committed.
        let mut pending = behind.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (seq, key, _) in &writes {
            if pending.get(key).is_some_and(|(pending_seq, _)| pending_seq == seq) {
                pending.remove(key);
            }
        }
    }
}

impl StoreBackend for RedbStore {
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write_many(&[(key.to_vec(), value.to_vec())])
    }

    /// One transaction on the safety file, which also carries the deletions since the last one.
    fn write_many(&mut self, items: &[(Key, Value)]) -> Result<(), StoreError> {
        let deletes = std::mem::take(&mut self.safety_deletes);
        let entries = deletes
            .iter()
            .map(|key| (key.as_slice(), None))
            .chain(items.iter().map(|(key, value)| (key.as_slice(), Some(value.as_slice()))));
        commit_entries(&self.safety, &self.safety_path, entries)
    }

    fn write_behind(&mut self, items: Vec<(Key, Value)>) -> Result<(), StoreError> {
        self.check_writer()?;
        let mut group = Vec::with_capacity(items.len());
        {
            let mut pending = self.behind.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, value) in items {
                self.next_seq += 1;
                let value = Some(Arc::new(value));
                pending.insert(key.clone(), (self.next_seq, value.clone()));
                group.push((self.next_seq, key, value));
            }
        }
        let to_writer = self.to_writer.as_ref().expect("the sender lives as long as the store");
        to_writer.send(group).map_err(|_| {
            self.check_writer().err().unwrap_or_else(|| StoreError("the store writer thread is gone".into()))
        })
    }

    /// The safety file first (its keys are never written behind), then the writes not yet
    /// committed, then the blocks-and-batches file.
    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.check_writer()?;
        if self.safety_deletes.contains(key) {
            return Ok(None);
        }
        if let Some(value) = read_entry(&self.safety, &self.safety_path, key)? {
            return Ok(Some(value));
        }
        let pending = self.behind.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, value)) = pending.get(key) {
            return Ok(value.as_deref().cloned());
        }
        drop(pending);
        read_entry(&self.bulk, &self.path, key)
    }

    /// As [`Self::read`], without copying the value out of the file.
    fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        self.check_writer()?;
        if self.safety_deletes.contains(key) {
            return Ok(false);
        }
        if look_up(&self.safety, &self.safety_path, key, |_| ())?.is_some() {
            return Ok(true);
        }
        let pending = self.behind.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, value)) = pending.get(key) {
            return Ok(value.is_some());
        }
        drop(pending);
        Ok(look_up(&self.bulk, &self.path, key, |_| ())?.is_some())
    }

    /// A key of the safety file is deleted with its next transaction; every key also behind,
    /// like the writes of blocks and batches (hidden from reads at once by a pending deletion;
    /// a key that is in neither file costs a tombstone, removed with the writer's next commit).
    fn delete(&mut self, keys: Vec<Key>) -> Result<(), StoreError> {
        self.check_writer()?;
        let error = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", self.safety_path.display()));
        let mut group = Vec::with_capacity(keys.len());
        {
            // One read transaction for all the keys (a height's batches can be thousands).
            let txn = self.safety.begin_read().map_err(|e| error(&e))?;
            let table = txn.open_table(TABLE).map_err(|e| error(&e))?;
            for key in keys {
                if table.get(key.as_slice()).map_err(|e| error(&e))?.is_some() {
                    self.safety_deletes.insert(key.clone());
                }
                self.next_seq += 1;
                group.push((self.next_seq, key, None));
            }
        }
        if group.is_empty() {
            return Ok(());
        }
        {
            let mut pending = self.behind.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (seq, key, _) in &group {
                pending.insert(key.clone(), (*seq, None));
            }
        }
        let to_writer = self.to_writer.as_ref().expect("the sender lives as long as the store");
        to_writer.send(group).map_err(|_| {
            self.check_writer().err().unwrap_or_else(|| StoreError("the store writer thread is gone".into()))
        })
    }

    /// The lowest of: the safety file's next key (less those deleted), the next pending write,
    /// and the bulk file's next key (less those a pending write replaces or deletes).
    fn next_entry(&self, from: &[u8]) -> Result<Option<(Key, Value)>, StoreError> {
        self.check_writer()?;
        let safety =
            next_in_file(&self.safety, &self.safety_path, from, |key| self.safety_deletes.contains(key))?;
        let pending = self.behind.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let queued = pending
            .range(from.to_vec()..)
            .find_map(|(key, (_, value))| Some((key.clone(), value.as_deref()?.clone())));
        // A key with a pending write or deletion: the pending one is the newer.
        let bulk = next_in_file(&self.bulk, &self.path, from, |key| pending.contains_key(key))?;
        drop(pending);
        Ok([safety, queued, bulk].into_iter().flatten().min_by(|a, b| a.0.cmp(&b.0)))
    }
}

impl Drop for RedbStore {
    /// Commits every write still queued, then closes the files.
    fn drop(&mut self) {
        drop(self.to_writer.take());
        if let Some(writer) = self.writer.take() {
            // A panicking writer thread has nothing left to commit; its failure was reported.
            let _ = writer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RedbStore, SAFETY_FILE, STORE_FILE};
    use hotstuff_core::store::StoreBackend as _;

    #[test]
    fn acknowledged_writes_survive_reopening_and_a_second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = RedbStore::open(dir.path()).unwrap();
            assert_eq!(store.read(b"k").unwrap(), None);
            store.write(b"k", b"v1").unwrap();
            store.write_many(&[(b"k".to_vec(), b"v2".to_vec())]).unwrap();
            assert_eq!(store.read(b"k").unwrap(), Some(b"v2".to_vec()));
            assert!(RedbStore::open(dir.path()).is_err(), "the files are locked while open");
        }
        assert!(dir.path().join(SAFETY_FILE).exists() && dir.path().join(STORE_FILE).exists());
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.read(b"k").unwrap(), Some(b"v2".to_vec()));
    }

    #[test]
    fn writes_behind_are_readable_at_once_and_a_clean_close_commits_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let key = |i: u32| format!("batch/{i}").into_bytes();
        {
            let mut store = RedbStore::open(dir.path()).unwrap();
            for round in 0..50u32 {
                let group = (0..20).map(|i| (key(round * 20 + i), vec![round as u8; 1000])).collect();
                store.write_behind(group).unwrap();
                // Visible at once, whether or not the writer thread has committed it yet.
                assert_eq!(store.read(&key(round * 20)).unwrap(), Some(vec![round as u8; 1000]));
            }
            // A newer value for a key wins over the older one, committed or not.
            store.write_behind(vec![(key(0), b"newer".to_vec())]).unwrap();
            assert_eq!(store.read(&key(0)).unwrap(), Some(b"newer".to_vec()));
        }
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.read(&key(0)).unwrap(), Some(b"newer".to_vec()));
        for i in 1..1000 {
            assert_eq!(store.read(&key(i)).unwrap(), Some(vec![(i / 20) as u8; 1000]), "key {i}");
        }
    }

    /// Pruning deletes keys of both files: the commit index from the safety file (with its next
    /// transaction), blocks and batches behind. Deleted keys are gone for reads and for the walk
    /// at once, and after reopening.
    #[test]
    fn deleted_keys_are_gone_at_once_for_reads_and_walks_and_stay_gone_after_reopening() {
        use hotstuff_core::store::{commit_key, COMMIT_PREFIX};
        let dir = tempfile::tempdir().unwrap();
        let entry = |store: &RedbStore, from: &[u8]| store.next_entry(from).unwrap().map(|(k, _)| k);
        {
            let mut store = RedbStore::open(dir.path()).unwrap();
            store.write_many(&[(commit_key(1), b"a".to_vec()), (commit_key(2), b"b".to_vec())]).unwrap();
            store
                .write_behind(vec![
                    (b"block/a".to_vec(), b"A".to_vec()),
                    (b"block/b".to_vec(), b"B".to_vec()),
                ])
                .unwrap();
            assert_eq!(entry(&store, COMMIT_PREFIX), Some(commit_key(1)));
            assert_eq!(entry(&store, b"block/"), Some(b"block/a".to_vec()));
            store.delete(vec![commit_key(1), b"block/a".to_vec()]).unwrap();
            assert_eq!(store.read(&commit_key(1)).unwrap(), None);
            assert_eq!(store.read(b"block/a").unwrap(), None);
            assert_eq!(
                entry(&store, COMMIT_PREFIX),
                Some(commit_key(2)),
                "the walk skips a pending deletion"
            );
            assert_eq!(entry(&store, b"block/"), Some(b"block/b".to_vec()));
            // The next safety transaction carries the deletion.
            store.write(b"consensus/state", b"s").unwrap();
            assert_eq!(store.read(&commit_key(2)).unwrap(), Some(b"b".to_vec()));
        }
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.read(&commit_key(1)).unwrap(), None);
        assert_eq!(store.read(b"block/a").unwrap(), None);
        assert_eq!(entry(&store, COMMIT_PREFIX), Some(commit_key(2)));
        assert_eq!(store.read(b"block/b").unwrap(), Some(b"B".to_vec()));
    }
}
