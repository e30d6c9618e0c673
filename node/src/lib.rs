//! # hotstuff-node
//!
//! The native host of `hotstuff-core`: the core's actors run unchanged on tokio, with
//!
//! - a wall clock ([`runtime::TokioRuntime`]: milliseconds since the replica started),
//! - a crash-safe store ([`store::RedbStore`]: the safety state fsynced before it is
//!   acknowledged, blocks and batches committed behind by a writer thread),
//! - a TCP transport (length-delimited frames, one outbound connection per peer with reconnect
//!   and backoff, a listener for peers and one for client transactions).
//!
//! [`Replica::start`] boots a replica the way the simulator does: it reads the persisted safety
//! state from the store (if any), builds the state machines, wires the actors and spawns them.
//! The `hotstuff` binary (`hotstuff keys`, `hotstuff run`) and the integration tests share this
//! library.
//!
//! ```text
//! hotstuff keys --filename node0.json          # one per replica; prints the public key
//! hotstuff run --keys node0.json --committee committee.json --store db0 [--parameters p.json] [-v]
//! hotstuff client --target 127.0.0.1:17100 --rate 1000 --size 512 [--duration 30]
//! ```
//!
//! The file formats are in [`config`].
//!
//! ## Trust on the wire
//!
//! Peer connections are authenticated, not encrypted. The accepting replica sends a random
//! challenge; the connecting replica answers with its id and its ed25519 signature over the
//! challenge, both ids and a domain tag. A connection whose hello does not verify against the
//! committee key of the id it claims is closed before any frame is read, so every frame is
//! attributed to the member that really sent it (the sender the core sees, and the one a
//! rejection is logged against). A recorded hello is useless on another connection or at
//! another replica (the challenge and the ids differ). The connecting side does not authenticate
//! the acceptor: whoever listens at a member's address receives its frames, which are signed
//! consensus and mempool messages anyway. Traffic is in clear text; TLS would hide it.

#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod metrics;
mod net;
pub mod replica;
pub mod runtime;
pub mod store;
pub mod testbed;

pub use config::{CommitteeConfig, ConfigError, KeyFile, NodeEntry};
pub use net::PEER_QUEUE_FRAMES;
pub use replica::{Listeners, Replica, ReplicaConfig, ReplicaHandle, StartError, StartOptions, Status};
