//! The store actor: serves [`StoreCommand`]s from one backend, in order.

use super::CountedReceiver;
use crate::store::{Key, StoreBackend, StoreCommand};
use futures::channel::oneshot;
use futures::StreamExt as _;
use std::collections::BTreeMap;

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
            match command {
                StoreCommand::Write { key, value, ack } => {
                    self.backend.write(&key, &value).unwrap_or_else(|e| panic!("{e}"));
                    if let Some(waiters) = self.waiting.remove(&key) {
                        for waiter in waiters {
                            // The reader may have given up; nothing to do then.
                            let _ = waiter.send(value.clone());
                        }
                    }
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                }
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
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreActor;
    use crate::actor::{depth, Channel, ChannelDepths};
    use crate::store::{MemStore, StoreCommand};
    use futures::channel::oneshot;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt as _;
    use futures::SinkExt as _;

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
}
