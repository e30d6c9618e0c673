//! The wire format: every message between replicas is one [`WireMessage`], encoded with postcard
//! (a compact, deterministic serde format that works the same on native and wasm).
//!
//! Decoding enforces [`FRAME_BYTES_MAX`] and returns a typed [`Error`]; bad bytes from a peer are
//! dropped by the network actor, never a panic.

use crate::consensus::PersistentState;
use crate::error::Error;
use crate::mempool::MempoolMessage;
use crate::messages::ConsensusMessage;
use serde::{Deserialize, Serialize};

/// The largest frame accepted. A default batch is 500 KB and a full block of digests about
/// 130 KB; 4 MiB leaves room while bounding what one peer can make us allocate.
pub const FRAME_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Everything that crosses the network, tagged by the subsystem that handles it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireMessage {
    /// For the consensus actor.
    Consensus(ConsensusMessage),
    /// For the mempool actor.
    Mempool(MempoolMessage),
}

impl WireMessage {
    /// A short name of the kind, for logs and the page.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Consensus(m) => m.kind(),
            Self::Mempool(m) => m.kind(),
        }
    }

    /// The round a consensus message is about (0 for mempool messages).
    pub fn round(&self) -> crate::Round {
        match self {
            Self::Consensus(m) => m.round(),
            Self::Mempool(_) => 0,
        }
    }
}

/// Encodes a message into a frame body.
pub fn encode(message: &WireMessage) -> Vec<u8> {
    // Serialising plain data into a Vec cannot fail.
    postcard::to_allocvec(message).expect("messages always encode")
}

/// Decodes a frame body, refusing oversized frames and trailing garbage.
pub fn decode(bytes: &[u8]) -> Result<WireMessage, Error> {
    if bytes.len() > FRAME_BYTES_MAX {
        return Err(Error::FrameTooLarge { size: bytes.len(), limit: FRAME_BYTES_MAX });
    }
    let (message, rest) =
        postcard::take_from_bytes::<WireMessage>(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Decode(format!("{} trailing bytes", rest.len())));
    }
    Ok(message)
}

/// Encodes any stored value (persistent state, blocks, batches).
pub fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("stored values always encode")
}

/// Decodes a stored value.
pub fn decode_value<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode(e.to_string()))
}

/// Decodes the persisted consensus state.
pub fn decode_state(bytes: &[u8]) -> Result<PersistentState, Error> {
    decode_value(bytes)
}
