//! Small value types shared by every module: node ids, rounds, heights and digests.

use core::fmt;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A committee member, identified by its index in the [`crate::Committee`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u16);

impl NodeId {
    /// The index as a `usize`, for indexing committee tables.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A consensus round (a "view"). Each round has one leader; round 0 is genesis.
pub type Round = u64;

/// The height of a block in the chain: genesis is 0 and a block is one above its parent.
pub type Height = u64;

/// A SHA-256 digest. Blocks, batches and signed statements are named by their digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Hashes a sequence of byte strings, each prefixed by its length so that concatenations are
    /// unambiguous (`["ab","c"]` and `["a","bc"]` hash differently).
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }

    /// Hashes one byte string.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The first four bytes in hex: enough to tell blocks apart in a log or on the page.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// All 32 bytes in hex (for records that must name a block exactly).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.short())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.short())
    }
}
