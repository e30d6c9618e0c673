//! The on-disk [`StoreBackend`]: one redb database per replica.
//!
//! Every [`StoreBackend::write`] (and every group of writes the store actor hands over at once,
//! [`StoreBackend::write_many`]) is one committed redb transaction with the default durability
//! (`Immediate`: fsync before `commit` returns), so a write the store actor has acknowledged
//! survives a crash or power cut. This is what the persist-before-send rule relies
//! on. Reads see every committed write.

use hotstuff_core::store::{Key, StoreBackend, StoreError, Value};
use redb::{Database, TableDefinition};
use std::path::{Path, PathBuf};

/// The single table: the core's keys (`consensus/state`, `block/…`, `batch/…`) to values.
const TABLE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("hotstuff");

/// redb's page cache (its default is 1 GiB, too much for several replicas on one machine).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The database file inside a replica's store directory.
pub const STORE_FILE: &str = "store.redb";

/// A redb database file.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) `dir/store.redb`, creating `dir` if needed. Fails if another process
    /// (or another replica in this process) has it open.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create store directory {}: {e}", dir.display())))?;
        let path = dir.join(STORE_FILE);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_file_format_v3(true)
            .create(&path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        let store = Self { db, path };
        // Create the table up front, so reads never meet a missing table.
        let txn = store.db.begin_write().map_err(|e| store.error(e))?;
        txn.open_table(TABLE).map_err(|e| store.error(e))?;
        txn.commit().map_err(|e| store.error(e))?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One redb transaction (one fsync) for all the entries.
    fn write_entries<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        {
            let mut table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
            for (key, value) in entries {
                table.insert(key, value).map_err(|e| self.error(e))?;
            }
        }
        txn.commit().map_err(|e| self.error(e))
    }

    fn error(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError(format!("{}: {error}", self.path.display()))
    }
}

impl StoreBackend for RedbStore {
    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write_entries(std::iter::once((key, value)))
    }

    fn write_many(&mut self, items: &[(Key, Value)]) -> Result<(), StoreError> {
        self.write_entries(items.iter().map(|(key, value)| (key.as_slice(), value.as_slice())))
    }

    fn read(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
        let value = table.get(key).map_err(|e| self.error(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::RedbStore;
    use hotstuff_core::store::StoreBackend as _;

    #[test]
    fn writes_survive_reopening_and_a_second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = RedbStore::open(dir.path()).unwrap();
            assert_eq!(store.read(b"k").unwrap(), None);
            store.write(b"k", b"v1").unwrap();
            store.write(b"k", b"v2").unwrap();
            assert_eq!(store.read(b"k").unwrap(), Some(b"v2".to_vec()));
            assert!(RedbStore::open(dir.path()).is_err(), "the file is locked while open");
        }
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.read(b"k").unwrap(), Some(b"v2".to_vec()));
    }
}
