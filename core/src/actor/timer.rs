//! The timer actor: one pending deadline per timer slot; fires each timer back to its owner.

use super::{CountedReceiver, CountedSender};
use crate::runtime::Runtime;
use crate::time::Time;
use futures::{FutureExt as _, StreamExt as _};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A timer kind with slots (consensus and mempool timers both are).
pub trait TimerSlot: Copy + Debug + 'static {
    /// The slot; a new deadline replaces the pending one in the same slot.
    fn slot(&self) -> u8;
}

impl TimerSlot for crate::consensus::Timer {
    fn slot(&self) -> u8 {
        Self::slot(self)
    }
}

impl TimerSlot for crate::mempool::Timer {
    fn slot(&self) -> u8 {
        Self::slot(self)
    }
}

/// Holds deadlines and sleeps until the earliest.
#[derive(Debug)]
pub struct TimerActor<R: Runtime, T: TimerSlot> {
    runtime: R,
    rx_requests: CountedReceiver<(T, Time)>,
    tx_fired: CountedSender<T>,
    pending: BTreeMap<u8, (Time, T)>,
}

impl<R: Runtime, T: TimerSlot> TimerActor<R, T> {
    pub(crate) fn new(
        runtime: R,
        rx_requests: CountedReceiver<(T, Time)>,
        tx_fired: CountedSender<T>,
    ) -> Self {
        Self { runtime, rx_requests, tx_fired, pending: BTreeMap::new() }
    }

    /// Runs until the owner drops its request channel.
    pub async fn run(mut self) {
        loop {
            let earliest = self.pending.values().map(|(deadline, _)| *deadline).min();
            let sleep = match earliest {
                Some(deadline) => self.runtime.sleep_until(deadline).left_future(),
                None => futures::future::pending().right_future(),
            };
            // Requests first: a re-arm that arrives at the same instant replaces the old deadline
            // before it can fire.
            futures::select_biased! {
                request = self.rx_requests.next() => match request {
                    Some((timer, deadline)) => {
                        self.pending.insert(timer.slot(), (deadline, timer));
                    }
                    None => return,
                },
                () = sleep.fuse() => {
                    let now = self.runtime.now();
                    let due: Vec<u8> = self.pending.iter().filter(|(_, (d, _))| *d <= now).map(|(s, _)| *s).collect();
                    for slot in due {
                        let (_, timer) = self.pending.remove(&slot).expect("slot listed as due");
                        if !super::deliver(&mut self.tx_fired, timer).await {
                            return;
                        }
                    }
                }
            }
        }
    }
}
