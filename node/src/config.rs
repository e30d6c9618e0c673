//! Configuration files: a replica's key file, the committee file and the parameters file. All
//! are JSON. Errors name the file, and serde's message names the field with its line and column.
//!
//! Key file (`hotstuff keys --filename node.json`; keep it private):
//!
//! ```json
//! { "name": "<public key, 64 hex characters>", "secret": "<secret key, 64 hex characters>" }
//! ```
//!
//! Committee file. Node `i` (its `NodeId`, which also decides the rounds it leads) is the `i`-th
//! entry. `address` carries all replica-to-replica traffic (consensus and mempool messages share
//! one connection per peer); `transactions` is where clients send transactions.
//!
//! ```json
//! { "nodes": [
//!     { "name": "<public key hex>", "address": "127.0.0.1:7000", "transactions": "127.0.0.1:7100" },
//!     …
//! ] }
//! ```
//!
//! Parameters file: [`Parameters`] as JSON; every field is optional (defaults apply) and an
//! unknown field is an error. Example: `{ "round_timeout_ms": 2000, "commit_rule": "ThreeChain" }`.

use hotstuff_core::{Committee, KeyPair, Member, NodeId, Parameters, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape (serde names the field, line and column).
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The content is well-formed but wrong.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A replica's key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The public key (the node's name in the committee file), hex.
    pub name: String,
    /// The 32 secret bytes, hex.
    pub secret: String,
}

impl KeyFile {
    /// The file for a key pair.
    pub fn new(keys: &KeyPair) -> Self {
        Self { name: keys.public().to_hex(), secret: hex::encode(keys.secret()) }
    }

    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> Result<KeyPair, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(KeyPair::from_secret(secret))
    }

    /// Writes the file; refuses to overwrite an existing one (a replica that loses its key
    /// cannot rejoin its committee). On Unix only the owner may read it.
    pub fn write_new(&self, path: &Path) -> Result<(), ConfigError> {
        use std::io::Write as _;
        let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => ConfigError::Invalid {
                path: path.to_path_buf(),
                reason: "already exists; refusing to overwrite a key file".to_string(),
            },
            _ => io(error),
        })?;
        // Serialising two strings cannot fail.
        let text = serde_json::to_string_pretty(self).expect("key file serialises");
        file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a key file and checks that its name matches its secret.
    pub fn load(path: &Path) -> Result<KeyPair, ConfigError> {
        let file: Self = read_json(path)?;
        let invalid = |reason: String| ConfigError::Invalid { path: path.to_path_buf(), reason };
        let secret: [u8; 32] = hex::decode(&file.secret)
            .map_err(|e| e.to_string())
            .and_then(|b| b.try_into().map_err(|_| "must be 32 bytes (64 hex characters)".to_string()))
            .map_err(|e| invalid(format!("field `secret`: {e}")))?;
        let keys = KeyPair::from_secret(secret);
        let name = PublicKey::from_hex(&file.name).map_err(|e| invalid(format!("field `name`: {e}")))?;
        if name != keys.public() {
            return Err(invalid("field `name` is not the public key of field `secret`".to_string()));
        }
        Ok(keys)
    }
}

/// One committee member's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// Its public key, hex.
    #[serde(with = "hex_public_key")]
    pub name: PublicKey,
    /// Where it listens for its peers (consensus and mempool traffic).
    pub address: SocketAddr,
    /// Where it listens for client transactions.
    pub transactions: SocketAddr,
}

/// The committee file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeConfig {
    /// Members in `NodeId` order.
    pub nodes: Vec<NodeEntry>,
}

impl CommitteeConfig {
    /// Reads and checks a committee file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = read_json(path)?;
        config.validate().map_err(|reason| ConfigError::Invalid { path: path.to_path_buf(), reason })?;
        Ok(config)
    }

    /// Writes the file (pretty JSON).
    pub fn write(&self, path: &Path) -> Result<(), ConfigError> {
        // Plain data always serialises.
        let text = serde_json::to_string_pretty(self).expect("committee serialises");
        std::fs::write(path, text + "\n")
            .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })
    }

    /// Refuses an empty committee, a repeated name, and an address used twice.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() || self.nodes.len() > usize::from(u16::MAX) {
            return Err(format!(
                "field `nodes`: a committee has 1..=65535 members, not {}",
                self.nodes.len()
            ));
        }
        let mut names = BTreeMap::new();
        let mut addresses = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(first) = names.insert(node.name, i) {
                return Err(format!("nodes[{i}].name repeats nodes[{first}].name"));
            }
            for (field, address) in [("address", node.address), ("transactions", node.transactions)] {
                if address.port() == 0 {
                    return Err(format!("nodes[{i}].{field}: port 0 is not an address peers can reach"));
                }
                if let Some(first) = addresses.insert(address, format!("nodes[{i}].{field}")) {
                    return Err(format!("nodes[{i}].{field} ({address}) is already used by {first}"));
                }
            }
        }
        Ok(())
    }

    /// The core's committee.
    pub fn committee(&self) -> Committee {
        let members = self.nodes.iter().map(|n| Member { public_key: n.name }).collect();
        // Names parsed as valid points and the size was validated.
        Committee::new(members).expect("validated committee")
    }

    /// The id of the member with this public key.
    pub fn id_of(&self, name: &PublicKey) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == *name).map(|i| NodeId(i as u16))
    }

    /// A member's entry.
    pub fn node(&self, id: NodeId) -> Option<&NodeEntry> {
        self.nodes.get(id.index())
    }
}

/// Reads a parameters file and validates it.
pub fn load_parameters(path: &Path) -> Result<Parameters, ConfigError> {
    let parameters: Parameters = read_json(path)?;
    parameters
        .validate()
        .map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok(parameters)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })
}

mod hex_public_key {
    use hotstuff_core::PublicKey;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(key: &PublicKey, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&key.to_hex())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PublicKey, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_hex(&text).map_err(|e| serde::de::Error::custom(format!("bad public key: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::{CommitteeConfig, ConfigError, KeyFile, NodeEntry};
    use hotstuff_core::KeyPair;
    use std::path::Path;

    fn committee(n: u16) -> CommitteeConfig {
        let nodes = (0..n)
            .map(|i| NodeEntry {
                name: KeyPair::from_seed(1, i).public(),
                address: format!("127.0.0.1:{}", 7000 + i).parse().unwrap(),
                transactions: format!("127.0.0.1:{}", 7100 + i).parse().unwrap(),
            })
            .collect();
        CommitteeConfig { nodes }
    }

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn key_files_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        let keys = KeyFile::generate().unwrap();
        KeyFile::new(&keys).write_new(&path).unwrap();
        assert_eq!(KeyFile::load(&path).unwrap().public(), keys.public());
        assert!(matches!(KeyFile::new(&keys).write_new(&path), Err(ConfigError::Invalid { .. })));
        assert_ne!(KeyFile::generate().unwrap().public(), keys.public(), "fresh randomness each time");
    }

    #[test]
    fn a_key_file_whose_name_is_not_its_secrets_public_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = KeyFile::new(&KeyPair::from_seed(1, 0));
        file.name = KeyPair::from_seed(1, 1).public().to_hex();
        let path = write(dir.path(), "k.json", &serde_json::to_string(&file).unwrap());
        let error = KeyFile::load(&path).unwrap_err().to_string();
        assert!(error.contains("k.json") && error.contains("`name`"), "{error}");
    }

    #[test]
    fn committee_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("committee.json");
        committee(4).write(&path).unwrap();
        let loaded = CommitteeConfig::load(&path).unwrap();
        assert_eq!(loaded, committee(4));
        assert_eq!(loaded.committee().size(), 4);
        assert_eq!(loaded.id_of(&KeyPair::from_seed(1, 2).public()), Some(hotstuff_core::NodeId(2)));
    }

    #[test]
    fn bad_committee_files_name_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let missing = write(
            dir.path(),
            "missing.json",
            r#"{ "nodes": [ { "name": "00", "address": "127.0.0.1:1" } ] }"#,
        );
        let error = CommitteeConfig::load(&missing).unwrap_err().to_string();
        assert!(error.contains("missing.json") && error.contains("bad public key"), "{error}");

        let mut c = committee(2);
        let text = serde_json::to_string(&c).unwrap().replace("transactions", "transaction");
        let path = write(dir.path(), "typo.json", &text);
        let error = CommitteeConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("typo.json") && error.contains("transaction"), "{error}");

        c.nodes[1].address = c.nodes[0].address;
        let path = write(dir.path(), "dup.json", &serde_json::to_string(&c).unwrap());
        let error = CommitteeConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("dup.json") && error.contains("nodes[1].address"), "{error}");
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "p.json", r#"{ "round_timeout_ms": 2000, "round_timout_ms_max": 1 }"#);
        let error = super::load_parameters(&path).unwrap_err().to_string();
        assert!(error.contains("p.json") && error.contains("round_timout_ms_max"), "{error}");
        let path = write(dir.path(), "q.json", r#"{ "max_block_delay_ms": 5000 }"#);
        let error = super::load_parameters(&path).unwrap_err().to_string();
        assert!(error.contains("q.json") && error.contains("max_block_delay_ms"), "{error}");
        let path = write(dir.path(), "r.json", r#"{ "commit_rule": "ThreeChain" }"#);
        assert_eq!(super::load_parameters(&path).unwrap().commit_rule, hotstuff_core::CommitRule::ThreeChain);
    }
}
