//! # hotstuff-core
//!
//! A runtime-agnostic implementation of **2-chain HotStuff** (the variant of DiemBFT v4, Jolteon
//! and asonnino/hotstuff), written to be read, run in a browser, and tested to destruction.
//!
//! ## Layers
//!
//! 1. **Sans-IO state machines** — [`consensus::Consensus`] and [`mempool::Mempool`]. Each has
//!    one entry point, `handle(now, input) -> Vec<Action>`. They read no clock (time is the `now`
//!    argument, a [`Time`] in milliseconds), draw no randomness (keys and every simulated choice
//!    derive from a seed), and perform no I/O: sending, persisting and arming timers are
//!    *actions* the caller carries out. The protocol itself is explained in the
//!    [`consensus`] module docs; the safety rules live alone in `consensus/safety.rs`.
//! 2. **Actor shells** — [`actor`]: one async loop per subsystem (consensus, mempool, network,
//!    store, timer) over bounded `futures` channels. A shell receives one input, calls `handle`,
//!    routes each action to an outbox. No protocol decision lives in a shell.
//! 3. **Hosts** — whoever spawns the actors and supplies a [`runtime::Runtime`] (clock and
//!    sleep), a transport for the network actor's frames, and a [`store::StoreBackend`]. The
//!    deterministic simulator in [`sim`] is the host for tests and the browser page; the
//!    `hotstuff-node` crate is the native host (tokio, TCP, disk).
//!
//! ## Driving a state machine by hand
//!
//! The contract: call `handle` with a non-decreasing `now` and one input; execute the returned
//! actions **in order**; a `Persist` must be durable before any later send (that is what keeps a
//! replica from voting twice across a crash). Here the leader of round 1 starts with nothing to
//! propose, waits the max block delay, then proposes an empty block:
//!
//! ```
//! use hotstuff_core::consensus::{Action, Consensus, Input, Timer};
//! use hotstuff_core::{Committee, ConsensusMessage, KeyPair, NodeId, Parameters, Time};
//!
//! let committee = Committee::from_seed(42, 4); // n = 4 tolerates f = 1
//! let leader = NodeId(1); // rounds are led round-robin: round 1 by node 1
//! let mut replica = Consensus::new(leader, committee, KeyPair::from_seed(42, 1), Parameters::default(), None);
//!
//! // Start: round 1 begins; no payload, so the proposal is deferred to a timer.
//! let actions = replica.handle(Time(0), Input::Start);
//! let deadline = actions.iter().find_map(|a| match a {
//!     Action::SetTimer { timer: Timer::Propose(1), deadline } => Some(*deadline),
//!     _ => None,
//! }).expect("the leader waits for payload");
//!
//! // The host fires the timer at its deadline: the leader broadcasts its block.
//! let actions = replica.handle(deadline, Input::Timer(Timer::Propose(1)));
//! let proposal = actions.iter().find_map(|a| match a {
//!     Action::Broadcast { message: ConsensusMessage::Propose(block) } => Some(block.clone()),
//!     _ => None,
//! }).expect("a proposal");
//! assert_eq!((proposal.round, proposal.height), (1, 1));
//! ```
//!
//! ## Running a whole committee
//!
//! ```
//! use hotstuff_core::sim::{SimConfig, Simulation};
//! let mut sim = Simulation::new(SimConfig { nodes: 4, seed: 1, ..SimConfig::default() });
//! sim.run_until(|s| s.min_committed_height() >= 10, 60_000).expect("no invariant breaks");
//! println!("trace digest {}", sim.trace_digest());
//! ```
//!
//! ## Errors and panics
//!
//! Bad or Byzantine input is an [`Error`]: observed as
//! [`Event::MessageRejected`](event::Event::MessageRejected) and dropped. A broken internal
//! invariant is an `assert!`: continuing would risk safety.

#![deny(missing_docs)]

pub mod actor;
pub mod budget;
pub mod codec;
pub mod committee;
pub mod consensus;
pub mod crypto;
pub mod error;
pub mod event;
pub mod mempool;
pub mod messages;
pub mod params;
pub mod runtime;
pub mod sim;
pub mod store;
pub mod time;
pub mod types;

pub use committee::{Committee, Member};
pub use consensus::{Consensus, PersistentState};
pub use crypto::{KeyPair, PublicKey, Signature};
pub use error::Error;
pub use event::{Event, LeaderChoice, Observed};
pub use messages::{Block, ConsensusMessage, QuorumCert, Timeout, TimeoutCert, Vote};
pub use params::{CommitRule, LeaderElection, Parameters};
pub use time::Time;
pub use types::{Digest, Height, NodeId, Round};
