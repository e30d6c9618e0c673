//! Virtual time: the simulator's clock, its event queue, and the sleep futures actors await.

use crate::runtime::Runtime;
use crate::time::Time;
use crate::types::NodeId;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A pending wake-up of one sleeping actor.
#[derive(Debug, Default)]
pub(crate) struct WakeSlot {
    waker: RefCell<Option<Waker>>,
    /// The sleep future was dropped (its timer was re-armed or its replica crashed): skip it.
    pub(crate) cancelled: Cell<bool>,
}

impl WakeSlot {
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// A frame travelling between two replicas.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) id: u64,
    pub(crate) from: NodeId,
    pub(crate) bytes: Arc<[u8]>,
}

/// What happens at a point of virtual time.
#[derive(Debug)]
pub(crate) enum Scheduled {
    Wake(Rc<WakeSlot>),
    Deliver(Delivery),
    ClientTick,
}

/// The queue key: time first, then insertion order, so ties resolve the same way every run.
pub(crate) type QueueKey = (Time, u64);

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) now: Cell<Time>,
    next_seq: Cell<u64>,
    pub(crate) queue: RefCell<BTreeMap<QueueKey, (usize, Scheduled)>>,
    /// Armed mid-step crashes: instance -> consensus actions it still performs.
    pub(crate) crash_after: RefCell<BTreeMap<usize, u32>>,
    /// Instances whose consensus actor stopped at a crash point in this step.
    pub(crate) crashed: RefCell<Vec<usize>>,
}

impl Shared {
    /// Queues `what` for the replica instance `instance` (see `Simulation`: a node has one
    /// instance, or two when it has a Twin).
    pub(crate) fn schedule(&self, at: Time, instance: usize, what: Scheduled) -> QueueKey {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        let key = (at, seq);
        self.queue.borrow_mut().insert(key, (instance, what));
        key
    }
}

/// The [`Runtime`] of one simulated replica.
#[derive(Clone, Debug)]
pub struct SimRuntime {
    pub(crate) instance: usize,
    pub(crate) shared: Rc<Shared>,
}

impl Runtime for SimRuntime {
    type Sleep = SimSleep;

    fn now(&self) -> Time {
        self.shared.now.get()
    }

    fn sleep_until(&self, deadline: Time) -> SimSleep {
        SimSleep { runtime: self.clone(), deadline, slot: None }
    }

    fn crash_point(&self) -> bool {
        let mut armed = self.shared.crash_after.borrow_mut();
        let Some(left) = armed.get_mut(&self.instance) else { return false };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return false;
        }
        armed.remove(&self.instance);
        self.shared.crashed.borrow_mut().push(self.instance);
        true
    }
}

/// Completes when virtual time reaches its deadline.
#[derive(Debug)]
pub struct SimSleep {
    runtime: SimRuntime,
    deadline: Time,
    slot: Option<Rc<WakeSlot>>,
}

impl Future for SimSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.runtime.now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.slot {
            Some(slot) => *slot.waker.borrow_mut() = Some(cx.waker().clone()),
            None => {
                let slot = Rc::new(WakeSlot {
                    waker: RefCell::new(Some(cx.waker().clone())),
                    cancelled: Cell::new(false),
                });
                self.runtime.shared.schedule(
                    self.deadline,
                    self.runtime.instance,
                    Scheduled::Wake(slot.clone()),
                );
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for SimSleep {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.cancelled.set(true);
        }
    }
}
