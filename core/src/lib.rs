//! # hotstuff-core
//!
//! placeholder docs (rewritten below once the modules settle)

#![deny(missing_docs)]

pub mod actor;
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
pub use event::{Event, Observed};
pub use messages::{Block, ConsensusMessage, QuorumCert, Timeout, TimeoutCert, Vote};
pub use params::{CommitRule, Parameters};
pub use time::Time;
pub use types::{Digest, Height, NodeId, Round};
