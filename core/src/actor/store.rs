//! The store actor: serves [`StoreCommand`]s from one backend, in order.

use super::CountedReceiver;
use crate::store::{Key, StoreBackend, StoreCommand};
use futures::channel::oneshot;
use futures::{FutureExt as _, StreamExt as _};
use std::collections::BTreeMap;

/// The most writes made durable together. Bounds the latency of the first write of a group and
/// the size of one disk transaction.
const WRITE_GROUP_MAX: usize = 64;

/// Owns the backend; keeps the waiters of notify-reads.
#[derive(Debug)]
pub struct StoreActor<S: StoreBackend> {
    backend: S,
    rx_commands: CountedReceiver<StoreCommand>,
    waiting: BTreeMap<Key, Vec<oneshot::Sender<Vec<u8>>>>,
}

impl<S: StoreBackend> StoreActor<S> {
    pub(crate) fn new(backend: S, rx_commands: CountedReceiver<StoreCommand>) -> Self {
        Self { backend, rx_commands, waiting: BTreeMap::new() }
    }

    /// Runs until every sender is gone. Panics on a backend failure: a replica that cannot
    /// persist must not go on (its next vote could contradict a lost one).
    pub async fn run(mut self) {
        while let Some(command) = self.rx_commands.next().await {
            let StoreCommand::Write { key, value, ack } = command else {
                self.serve(command);
                continue;
            };
            // Group commit: the writes already queued behind this one go to the backend with it,
            // the acknowledged ones in one durable call (one fsync on disk), the others written
            // behind. Under load the safety state then waits for one small sync, not for the
            // batches queued ahead of it.
            let mut writes = vec![(key, value)];
            let mut acks = vec![ack];
            let mut after = None;
            while writes.len() < WRITE_GROUP_MAX {
                match self.rx_commands.next().now_or_never() {
                    Some(Some(StoreCommand::Write { key, value, ack })) => {
                        writes.push((key, value));
                        acks.push(ack);
                    }
                    Some(Some(other)) => {
                        after = Some(other);
                        break;
                    }
                    // Nothing queued (or the channel closed: the outer loop sees that next).
                    Some(None) | None => break,
                }
            }
            self.commit(writes, acks);
            // A read queued behind the writes is served after them, so it sees them.
            if let Some(command) = after {
                self.serve(command);
            }
        }
    }

    /// Hands `writes` to the backend: those with an ack in one durable call, the others written
    /// behind. Then wakes the notify-reads waiting for them and answers the acks.
    fn commit(&mut self, writes: Vec<(Key, Vec<u8>)>, acks: Vec<Option<oneshot::Sender<()>>>) {
        // The values the waiting notify-reads get (copied only for a key someone waits for).
        let mut notify = Vec::new();
        for (key, value) in &writes {
            if let Some(waiters) = self.waiting.remove(key) {
                notify.extend(waiters.into_iter().map(|waiter| (waiter, value.clone())));
            }
        }
        let (mut durable, mut behind) = (Vec::new(), Vec::new());
        let mut answers = Vec::new();
        for (write, ack) in writes.into_iter().zip(acks) {
            match ack {
                Some(ack) => {
                    durable.push(write);
                    answers.push(ack);
                }
                None => behind.push(write),
            }
        }
        if !behind.is_empty() {
            self.backend.write_behind(behind).unwrap_or_else(|e| panic!("{e}"));
        }
        if !durable.is_empty() {
            self.backend.write_many(&durable).unwrap_or_else(|e| panic!("{e}"));
        }
        for (waiter, value) in notify {
            // The reader may have given up; nothing to do then.
            let _ = waiter.send(value);
        }
        for ack in answers {
            let _ = ack.send(());
        }
    }

    /// Serves one command on its own.
    fn serve(&mut self, command: StoreCommand) {
        match command {
            StoreCommand::Write { key, value, ack } => self.commit(vec![(key, value)], vec![ack]),
            StoreCommand::Read { key, reply } => {
                let value = self.backend.read(&key).unwrap_or_else(|e| panic!("{e}"));
                let _ = reply.send(value);
            }
            StoreCommand::NotifyRead { key, reply } => {
                match self.backend.read(&key).unwrap_or_else(|e| panic!("{e}")) {
                    Some(value) => {
                        let _ = reply.send(value);
                    }
                    None => self.waiting.entry(key).or_default().push(reply),
                }
            }
            StoreCommand::Prune { below } => {
                crate::store::prune_committed(&mut self.backend, below).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreActor;
    use crate::actor::{depth, Channel, ChannelDepths};
    use crate::store::{MemStore, StoreBackend, StoreCommand, StoreError};
    use futures::channel::oneshot;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt as _;
    use futures::FutureExt as _;
    use futures::SinkExt as _;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn write_is_acknowledged_then_readable_and_notify_read_waits_for_the_write() {
        let mut pool = LocalPool::new();
        let depths = ChannelDepths::shared();
        let (mut tx, rx) = depth::counted_channel(&depths, Channel::ToStore);
        pool.spawner().spawn_local(StoreActor::new(MemStore::new(), rx).run()).unwrap();

        // A notify-read for a key nobody wrote yet stays pending...
        let (notify_tx, mut notified) = oneshot::channel();
        pool.run_until(tx.send(StoreCommand::NotifyRead { key: b"k".to_vec(), reply: notify_tx })).unwrap();
        pool.run_until_stalled();
        assert_eq!(notified.try_recv().unwrap(), None, "nothing written yet");

        // ...until the write, which is acknowledged and wakes the reader.
        let (ack_tx, ack) = oneshot::channel();
        let write = StoreCommand::Write { key: b"k".to_vec(), value: b"v".to_vec(), ack: Some(ack_tx) };
        pool.run_until(tx.send(write)).unwrap();
        pool.run_until(ack).expect("write acknowledged");
        assert_eq!(pool.run_until(notified).unwrap(), b"v".to_vec());

        let (read_tx, read) = oneshot::channel();
        pool.run_until(tx.send(StoreCommand::Read { key: b"k".to_vec(), reply: read_tx })).unwrap();
        assert_eq!(pool.run_until(read).unwrap(), Some(b"v".to_vec()));
        let (read_tx, read) = oneshot::channel();
        pool.run_until(tx.send(StoreCommand::Read { key: b"missing".to_vec(), reply: read_tx })).unwrap();
        assert_eq!(pool.run_until(read).unwrap(), None);
    }

    /// A backend that records the size of each group of writes it is given: durable groups in
    /// `groups`, groups written behind in `behind`.
    #[derive(Default)]
    struct Recording {
        inner: MemStore,
        groups: Rc<RefCell<Vec<usize>>>,
        behind: Rc<RefCell<Vec<usize>>>,
    }

    impl StoreBackend for Recording {
        fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
            self.write_many(&[(key.to_vec(), value.to_vec())])
        }
        fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.read(key)
        }
        fn write_many(&mut self, items: &[(Vec<u8>, Vec<u8>)]) -> Result<(), StoreError> {
            self.groups.borrow_mut().push(items.len());
            items.iter().try_for_each(|(k, v)| self.inner.write(k, v))
        }
        fn write_behind(&mut self, items: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
            self.behind.borrow_mut().push(items.len());
            items.iter().try_for_each(|(k, v)| self.inner.write(k, v))
        }
        fn delete(&mut self, keys: Vec<Vec<u8>>) -> Result<(), StoreError> {
            self.inner.delete(keys)
        }
        fn next_entry(&self, from: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
            self.inner.next_entry(from)
        }
    }

    #[test]
    fn writes_queued_together_are_made_durable_in_one_group_and_a_read_behind_them_sees_them() {
        let depths = ChannelDepths::shared();
        let (mut tx, rx) = depth::counted_channel(&depths, Channel::ToStore);
        let backend = Recording::default();
        let groups = backend.groups.clone();
        // Queue three writes and a read before the actor runs.
        let mut acks = Vec::new();
        let (read_tx, read) = oneshot::channel();
        futures::executor::block_on(async {
            for value in [b"1", b"2", b"3"] {
                let (ack_tx, ack) = oneshot::channel();
                acks.push(ack);
                let write =
                    StoreCommand::Write { key: b"k".to_vec(), value: value.to_vec(), ack: Some(ack_tx) };
                tx.send(write).await.unwrap();
            }
            tx.send(StoreCommand::Read { key: b"k".to_vec(), reply: read_tx }).await.unwrap();
        });
        drop(tx);
        futures::executor::block_on(StoreActor::new(backend, rx).run());
        assert_eq!(*groups.borrow(), vec![3], "one group of three writes");
        for ack in acks {
            assert_eq!(ack.now_or_never(), Some(Ok(())), "every write of the group is acknowledged");
        }
        assert_eq!(read.now_or_never(), Some(Ok(Some(b"3".to_vec()))), "the read sees the last write");
    }

    #[test]
    fn unacknowledged_writes_go_behind_and_only_acknowledged_ones_are_written_durably() {
        let depths = ChannelDepths::shared();
        let (mut tx, rx) = depth::counted_channel(&depths, Channel::ToStore);
        let backend = Recording::default();
        let (groups, behind) = (backend.groups.clone(), backend.behind.clone());
        let (ack_tx, ack) = oneshot::channel();
        let (notify_tx, notified) = oneshot::channel();
        let (read_tx, read) = oneshot::channel();
        futures::executor::block_on(async {
            tx.send(StoreCommand::NotifyRead { key: b"batch".to_vec(), reply: notify_tx }).await.unwrap();
            for key in [b"block".as_slice(), b"batch"] {
                let write = StoreCommand::Write { key: key.to_vec(), value: b"v".to_vec(), ack: None };
                tx.send(write).await.unwrap();
            }
            let state =
                StoreCommand::Write { key: b"state".to_vec(), value: b"s".to_vec(), ack: Some(ack_tx) };
            tx.send(state).await.unwrap();
            tx.send(StoreCommand::Read { key: b"block".to_vec(), reply: read_tx }).await.unwrap();
        });
        drop(tx);
        futures::executor::block_on(StoreActor::new(backend, rx).run());
        assert_eq!(*behind.borrow(), vec![2], "the block and the batch, written behind together");
        assert_eq!(*groups.borrow(), vec![1], "only the safety state is written durably");
        assert_eq!(ack.now_or_never(), Some(Ok(())), "the durable write is acknowledged");
        assert_eq!(notified.now_or_never(), Some(Ok(b"v".to_vec())), "a write behind wakes its notify-read");
        assert_eq!(read.now_or_never(), Some(Ok(Some(b"v".to_vec()))), "and is visible to a later read");
    }
}
