//! Ed25519 keys and signatures (ed25519-dalek 2.x).
//!
//! Ed25519 signing is deterministic (RFC 8032), so signing inside `handle` does not break replay.
//! In the simulator and the page every key is derived from `(seed, node index)`, so the core needs
//! no operating-system randomness; only the native `hotstuff keys` command draws a random key.
//! Certificates are checked with dalek's batch verification, which is itself deterministic.

use crate::types::Digest;
use core::fmt;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeSet;

/// An ed25519 public key (32 bytes, compressed Edwards point).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", hex::encode(&self.0[..4]))
    }
}

impl PublicKey {
    /// The key as base64-free hex, as written in committee files.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses a 64-character hex key.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text).map_err(|e| e.to_string())?;
        let array: [u8; 32] =
            bytes.try_into().map_err(|_| "a public key is 32 bytes (64 hex characters)".to_string())?;
        VerifyingKey::from_bytes(&array).map_err(|e| e.to_string())?;
        Ok(Self(array))
    }

    /// Checks a signature over `statement` by this key, outside any committee (the native
    /// transport authenticates its hello with it). False if the key is not a valid point.
    pub fn verify(&self, statement: &Digest, signature: &Signature) -> bool {
        Verifier::new(self).is_ok_and(|verifier| verifier.verify(statement, signature))
    }
}

/// An ed25519 signature, kept as two 32-byte halves so that serde handles it without helpers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Signature {
    r: [u8; 32],
    s: [u8; 32],
}

impl Signature {
    /// An all-zero signature: what genesis carries, and never valid.
    pub const ZERO: Self = Self { r: [0; 32], s: [0; 32] };

    fn to_dalek(self) -> ed25519_dalek::Signature {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&self.r);
        bytes[32..].copy_from_slice(&self.s);
        ed25519_dalek::Signature::from_bytes(&bytes)
    }

    fn from_dalek(signature: &ed25519_dalek::Signature) -> Self {
        let bytes = signature.to_bytes();
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Self { r, s }
    }

    /// The 64 bytes (`R` then `s`), for a transport that frames its own messages.
    pub fn to_bytes(self) -> [u8; 64] {
        self.to_dalek().to_bytes()
    }

    /// A signature from its 64 bytes (any bytes; verification decides whether they are valid).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Self::from_dalek(&ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// Returns a copy with one bit flipped: a forged signature, for tests and the page.
    pub fn corrupted(mut self) -> Self {
        self.s[0] ^= 1;
        self
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}", hex::encode(&self.r[..4]))
    }
}

/// A node's signing key.
pub struct KeyPair {
    signing: SigningKey,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({:?})", self.public())
    }
}

impl Clone for KeyPair {
    fn clone(&self) -> Self {
        Self { signing: SigningKey::from_bytes(&self.signing.to_bytes()) }
    }
}

impl KeyPair {
    /// The key of node `index` in a committee derived from `seed`: the simulator and the page
    /// build whole committees this way, so the same seed gives the same keys everywhere.
    pub fn from_seed(seed: u64, index: u16) -> Self {
        let secret = Digest::of_parts(&[b"hotstuff-scope key", &seed.to_le_bytes(), &index.to_le_bytes()]);
        Self::from_secret(secret.0)
    }

    /// A key from its 32 secret bytes (as stored in a native key file).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self { signing: SigningKey::from_bytes(&secret) }
    }

    /// The 32 secret bytes, for writing a key file.
    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs a statement digest.
    pub fn sign(&self, statement: &Digest) -> Signature {
        Signature::from_dalek(&self.signing.sign(&statement.0))
    }
}

/// A decompressed public key, ready for verification (decompression is done once per committee).
#[derive(Clone, Debug)]
pub(crate) struct Verifier {
    key: VerifyingKey,
}

impl Verifier {
    pub(crate) fn new(public: &PublicKey) -> Result<Self, ed25519_dalek::SignatureError> {
        Ok(Self { key: VerifyingKey::from_bytes(&public.0)? })
    }

    pub(crate) fn verify(&self, statement: &Digest, signature: &Signature) -> bool {
        let memo_key = memo::key(&self.key, statement, signature);
        if memo::contains(memo_key) {
            return true;
        }
        let valid = self.key.verify(&statement.0, &signature.to_dalek()).is_ok();
        if valid {
            memo::insert(memo_key);
        }
        valid
    }
}

/// Verifies many `(statement, signature, key)` triples at once. Returns `true` only if all hold.
pub(crate) fn verify_batch(statements: &[Digest], signatures: &[Signature], keys: &[&Verifier]) -> bool {
    debug_assert!(statements.len() == signatures.len() && signatures.len() == keys.len());
    let mut pending = Vec::with_capacity(statements.len());
    for i in 0..statements.len() {
        let memo_key = memo::key(&keys[i].key, &statements[i], &signatures[i]);
        if !memo::contains(memo_key) {
            pending.push((i, memo_key));
        }
    }
    if pending.is_empty() {
        return true;
    }
    let messages: Vec<&[u8]> = pending.iter().map(|(i, _)| statements[*i].0.as_slice()).collect();
    let dalek_signatures: Vec<ed25519_dalek::Signature> =
        pending.iter().map(|(i, _)| signatures[*i].to_dalek()).collect();
    let dalek_keys: Vec<VerifyingKey> = pending.iter().map(|(i, _)| keys[*i].key).collect();
    let valid = ed25519_dalek::verify_batch(&messages, &dalek_signatures, &dalek_keys).is_ok();
    if valid {
        pending.iter().for_each(|(_, memo_key)| memo::insert(*memo_key));
    }
    valid
}

/// Turns the verification memo of this thread on or off (off by default).
///
/// The simulator runs a whole committee in one thread, so every replica verifies the very same
/// signatures: each proposal `n - 1` times, each QC `n - 1` times more. Verification is a pure
/// function of `(key, statement, signature)`, so remembering the triples that verified
/// successfully changes no outcome, only the cost: each distinct signature is still verified once,
/// for real, and a forged one (never remembered) is always checked and always fails. The
/// simulator enables the memo (see `SimConfig::verification_memo`); a native replica, alone in its
/// process, has nothing to share and leaves it off.
pub fn set_verification_memo(enabled: bool) {
    memo::MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        match (enabled, memo.is_some()) {
            (true, false) => *memo = Some(BTreeSet::new()),
            (false, true) => *memo = None,
            _ => {}
        }
    });
}

mod memo {
    use super::{Digest, RefCell, Signature, VerifyingKey};
    use std::collections::BTreeSet;

    /// Entries kept before the memo starts over (about 3 MB). Forgetting only costs re-verifying.
    const ENTRIES_MAX: usize = 100_000;

    thread_local! {
        pub(super) static MEMO: RefCell<Option<BTreeSet<[u8; 32]>>> = const { RefCell::new(None) };
    }

    pub(super) fn key(key: &VerifyingKey, statement: &Digest, signature: &Signature) -> [u8; 32] {
        Digest::of_parts(&[key.as_bytes(), &statement.0, &signature.r, &signature.s]).0
    }

    pub(super) fn contains(key: [u8; 32]) -> bool {
        MEMO.with(|memo| memo.borrow().as_ref().is_some_and(|set| set.contains(&key)))
    }

    pub(super) fn insert(key: [u8; 32]) {
        MEMO.with(|memo| {
            if let Some(set) = memo.borrow_mut().as_mut() {
                if set.len() >= ENTRIES_MAX {
                    set.clear();
                }
                set.insert(key);
            }
        });
    }
}
