//! The store actor: serves [`StoreCommand`]s from one backend, in order.

use crate::store::{Key, StoreBackend, StoreCommand};
use futures::channel::{mpsc, oneshot};
use futures::StreamExt as _;
use std::collections::BTreeMap;

/// Owns the backend; keeps the waiters of notify-reads.
#[derive(Debug)]
pub struct StoreActor<S: StoreBackend> {
    backend: S,
    rx_commands: mpsc::Receiver<StoreCommand>,
    waiting: BTreeMap<Key, Vec<oneshot::Sender<Vec<u8>>>>,
}

impl<S: StoreBackend> StoreActor<S> {
    pub(crate) fn new(backend: S, rx_commands: mpsc::Receiver<StoreCommand>) -> Self {
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
